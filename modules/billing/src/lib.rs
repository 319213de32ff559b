//! The `billing` module: an invoice and a (simulated) payment for every placed order.
//!
//! Subscribes to `orders.order_placed`; in the same transaction that applies it, records the
//! invoice and the payment and publishes `billing.payment_captured`. Answers
//! `billing.get_invoice`. Owns `billing_invoices` and `billing_payments`.

use billing_api::GetInvoice;
use orders_api::OrderPlaced;

use serde::Deserialize;

mod charge;
mod get_invoice;
mod invoice;
mod routes;

/// Billing's settings, `[module.billing]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BillingConfig {
    /// How long the simulated payment gateway takes to capture a payment, in milliseconds
    /// (0: at once). For measuring how billing scales with replicas when its work waits on a
    /// slow neighbour: the capture waits inside the transaction that applies the order.
    pub gateway_latency_ms: u64,
}

cleave::module! {
    api: billing_api,
    summary: "Invoices and (simulated) payments for placed orders.",
    migrations: billing_migrations::Migrator,
    config: BillingConfig,
    sends: [],
    handles: { GetInvoice => get_invoice::GetInvoiceHandler::new },
    subscribes: { OrderPlaced => charge::ChargeOrder::new },
    state: [routes::BillingState::new],
    routes: [routes::list_invoices],
}
