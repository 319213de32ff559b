//! The `orders` module: places orders and follows them until they are paid.
//!
//! Placing an order asks `catalog` for prices and `inventory` for a reservation over the bus,
//! then stores the order and publishes `orders.order_placed` in one transaction. It marks the
//! order paid when `billing.payment_captured` arrives, and asks `billing` for the invoice of
//! a receipt. Owns `orders_orders` and `orders_lines`.

use billing_api::{GetInvoice, PaymentCaptured};
use catalog_api::GetPrices;
use inventory_api::{ReleaseReservation, ReserveStock};

mod order;
mod paid;
mod place;
mod routes;

cleave::module! {
    api: orders_api,
    summary: "Places orders and follows them until they are paid.",
    migrations: orders_migrations::Migrator,
    sends: [GetPrices, ReserveStock, ReleaseReservation, GetInvoice],
    handles: {},
    subscribes: { PaymentCaptured => paid::MarkPaid::new },
    state: [place::PlaceOrder::new],
    routes: [routes::place_order, routes::get_order, routes::get_receipt],
}
