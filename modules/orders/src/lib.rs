//! The `orders` module: places orders and follows them until they are paid.
//!
//! Placing an order asks `catalog` for prices and `inventory` for a reservation over the bus,
//! then stores the order and publishes `orders.order_placed` in one transaction. It marks the
//! order paid when `billing.payment_captured` arrives, and asks `billing` for the invoice of
//! a receipt. Owns `orders_orders` and `orders_lines`.

use actix_web::http::Method;
use billing_api::{GetInvoice, PaymentCaptured};
use catalog_api::GetPrices;
use cleave::{ModuleDescriptor, RegisterError, Registrar, Request};
use inventory_api::{ReleaseReservation, ReserveStock};

mod order;
mod paid;
mod place;
mod routes;

/// The orders module's registration.
pub static MODULE: ModuleDescriptor = ModuleDescriptor {
    name: orders_api::MODULE,
    contract: &orders_api::CONTRACT,
    summary: "Places orders and follows them until they are paid.",
    may_call: &[
        catalog_api::MODULE,
        inventory_api::MODULE,
        billing_api::MODULE,
    ],
    sends: &[
        GetPrices::NAME,
        ReserveStock::NAME,
        ReleaseReservation::NAME,
        GetInvoice::NAME,
    ],
    routes: &[
        "POST /api/orders",
        "GET /api/orders/{id}",
        "GET /api/orders/{id}/receipt",
    ],
    openapi,
    migrate: cleave::migrate_with::<orders_migrations::Migrator>,
    register,
};

cleave::register_module!(MODULE);

#[derive(utoipa::OpenApi)]
#[openapi(paths(routes::place_order, routes::get_order, routes::get_receipt))]
struct OrdersApi;

fn openapi() -> utoipa::openapi::OpenApi {
    <OrdersApi as utoipa::OpenApi>::openapi()
}

fn register(r: &mut Registrar<'_>) -> Result<(), RegisterError> {
    let context = r.context().clone();
    r.subscribe::<PaymentCaptured>(paid::MarkPaid)
        .data(place::PlaceOrder {
            db: context.db.clone(),
            bus: context.bus,
            events: context.events,
        })
        .route(Method::POST, "/api/orders", routes::place_order)
        .route(Method::GET, "/api/orders/{id}", routes::get_order)
        .route(Method::GET, "/api/orders/{id}/receipt", routes::get_receipt);
    Ok(())
}
