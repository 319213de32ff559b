//! The `inventory` module: stock levels and all-or-nothing reservations.
//!
//! Answers `inventory.reserve_stock` and `inventory.release_reservation`, and serves the stock
//! routes. Owns `inventory_stock`, `inventory_reservations` and `inventory_reservation_lines`.

use actix_web::http::Method;
use cleave::{ModuleDescriptor, RegisterError, Registrar};
use inventory_api::{ReleaseReservation, ReserveStock};

mod reservations;
mod routes;
mod stock;

/// The inventory's registration.
pub static MODULE: ModuleDescriptor = ModuleDescriptor {
    name: inventory_api::MODULE,
    contract: &inventory_api::CONTRACT,
    summary: "Stock levels and all-or-nothing reservations.",
    may_call: &[],
    sends: &[],
    routes: &[
        "PUT /api/inventory/stock/{sku}",
        "GET /api/inventory/stock/{sku}",
    ],
    openapi,
    migrate: cleave::migrate_with::<inventory_migrations::Migrator>,
    register,
};

cleave::register_module!(MODULE);

#[derive(utoipa::OpenApi)]
#[openapi(paths(routes::set_stock, routes::get_stock))]
struct InventoryApi;

fn openapi() -> utoipa::openapi::OpenApi {
    <InventoryApi as utoipa::OpenApi>::openapi()
}

fn register(r: &mut Registrar<'_>) -> Result<(), RegisterError> {
    let db = r.context().db.clone();
    r.handle::<ReserveStock>(reservations::Reserve { db: db.clone() })
        .handle::<ReleaseReservation>(reservations::Release { db: db.clone() })
        .data(routes::InventoryState { db })
        .route(Method::PUT, "/api/inventory/stock/{sku}", routes::set_stock)
        .route(Method::GET, "/api/inventory/stock/{sku}", routes::get_stock);
    Ok(())
}
