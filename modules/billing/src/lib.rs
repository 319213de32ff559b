//! The `billing` module: an invoice and a (simulated) payment for every placed order.
//!
//! Subscribes to `orders.order_placed`; in the same transaction that applies it, records the
//! invoice and the payment and publishes `billing.payment_captured`. Answers
//! `billing.get_invoice`. Owns `billing_invoices` and `billing_payments`.

use billing_api::GetInvoice;
use orders_api::OrderPlaced;

mod charge;
mod get_invoice;
mod invoice;
mod routes;

cleave::module! {
    api: billing_api,
    summary: "Invoices and (simulated) payments for placed orders.",
    migrations: billing_migrations::Migrator,
    sends: [],
    handles: { GetInvoice => get_invoice::GetInvoiceHandler::new },
    subscribes: { OrderPlaced => charge::ChargeOrder::new },
    state: [routes::BillingState::new],
    routes: [routes::list_invoices],
}
