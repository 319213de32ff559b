//! The `catalog` module: products and their prices.
//!
//! Answers `catalog.get_prices` for other modules and serves the product routes. Owns the
//! `catalog_products` table. Everything but the registration is private.

use catalog_api::GetPrices;

mod get_prices;
mod product;
mod routes;

cleave::module! {
    api: catalog_api,
    summary: "Products and their prices.",
    migrations: catalog_migrations::Migrator,
    sends: [],
    handles: { GetPrices => get_prices::GetPricesHandler::new },
    subscribes: {},
    state: [routes::CatalogState::new],
    routes: [routes::create_product, routes::get_product],
}
