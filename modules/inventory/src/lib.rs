//! The `inventory` module: stock levels and all-or-nothing reservations, through an order's
//! life.
//!
//! Answers `inventory.reserve_stock` and `inventory.release_reservation`, and serves the stock
//! routes; stock is set only for a product the catalog knows (asked with `catalog.get_prices`). A reservation is `held` until the order that made it is stored (`orders.order_placed`
//! confirms it), `confirmed` until the order is paid (`orders.order_paid` turns it into sold
//! stock: units leave `on_hand`), and a held reservation no order confirms lapses after
//! `reservation_ttl_s` and gives its stock back, so a crash between reserving and storing the
//! order leaks nothing. Owns `inventory_stock`, `inventory_reservations` and
//! `inventory_reservation_lines`.

use catalog_api::GetPrices;
use inventory_api::{ReleaseReservation, ReserveStock};
use orders_api::{OrderPaid, OrderPlaced};
use serde::Deserialize;

mod lifecycle;
mod reservations;
mod routes;
mod stock;

/// The inventory's settings, `[module.inventory]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InventoryConfig {
    /// How long a reservation waits for its order to be stored before its stock is given
    /// back. Longer than any delay between reserving and storing an order, and than an
    /// outage during which `orders.order_placed` cannot reach the inventory.
    pub reservation_ttl_s: u64,
    /// How often lapsed reservations are looked for.
    pub sweep_every_s: u64,
}

impl Default for InventoryConfig {
    fn default() -> Self {
        InventoryConfig {
            reservation_ttl_s: 15 * 60,
            sweep_every_s: 30,
        }
    }
}

cleave::module! {
    api: inventory_api,
    summary: "Stock levels and all-or-nothing reservations, held until the order is stored and sold when it is paid.",
    migrations: inventory_migrations::Migrator,
    config: InventoryConfig,
    sends: [GetPrices],
    handles: {
        ReserveStock => reservations::Reserve::new,
        ReleaseReservation => reservations::Release::new,
    },
    subscribes: {
        OrderPlaced => lifecycle::Confirm::new,
        OrderPaid => lifecycle::Sell::new,
    },
    state: [routes::InventoryState::new],
    routes: [routes::set_stock, routes::get_stock],
    tasks: [lifecycle::expire_held_reservations],
}
