//! The `inventory` module: stock levels and all-or-nothing reservations.
//!
//! Answers `inventory.reserve_stock` and `inventory.release_reservation`, and serves the stock
//! routes. Owns `inventory_stock`, `inventory_reservations` and `inventory_reservation_lines`.

use inventory_api::{ReleaseReservation, ReserveStock};

mod reservations;
mod routes;
mod stock;

cleave::module! {
    api: inventory_api,
    summary: "Stock levels and all-or-nothing reservations.",
    migrations: inventory_migrations::Migrator,
    sends: [],
    handles: {
        ReserveStock => reservations::Reserve::new,
        ReleaseReservation => reservations::Release::new,
    },
    subscribes: {},
    state: [routes::InventoryState::new],
    routes: [routes::set_stock, routes::get_stock],
}
