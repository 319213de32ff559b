//! The `catalog` module: products and their prices.
//!
//! Answers `catalog.get_prices` for other modules and serves the product routes. Owns the
//! `catalog_products` table. Everything but the registration is private.

use actix_web::http::Method;
use catalog_api::GetPrices;
use cleave::{ModuleDescriptor, RegisterError, Registrar};

mod get_prices;
mod product;
mod routes;

/// The catalog's registration.
pub static MODULE: ModuleDescriptor = ModuleDescriptor {
    name: catalog_api::MODULE,
    contract: &catalog_api::CONTRACT,
    summary: "Products and their prices.",
    may_call: &[],
    sends: &[],
    routes: &[
        "POST /api/catalog/products",
        "GET /api/catalog/products/{sku}",
    ],
    openapi,
    migrate: cleave::migrate_with::<catalog_migrations::Migrator>,
    register,
};

cleave::register_module!(MODULE);

#[derive(utoipa::OpenApi)]
#[openapi(paths(routes::create_product, routes::get_product))]
struct CatalogApi;

fn openapi() -> utoipa::openapi::OpenApi {
    <CatalogApi as utoipa::OpenApi>::openapi()
}

fn register(r: &mut Registrar<'_>) -> Result<(), RegisterError> {
    let db = r.context().db.clone();
    r.handle::<GetPrices>(get_prices::GetPricesHandler { db: db.clone() })
        .data(routes::CatalogState { db })
        .route(
            Method::POST,
            "/api/catalog/products",
            routes::create_product,
        )
        .route(
            Method::GET,
            "/api/catalog/products/{sku}",
            routes::get_product,
        );
    Ok(())
}
