//! Contract of the `billing` module: what it tells others about payments.

#![warn(missing_docs)]

use cleave_contract::{Contract, Event, Request, Version};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The module's name, the prefix of its messages.
pub const MODULE: &str = "billing";

/// The payment for an order was captured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PaymentCaptured {
    /// The order paid for.
    pub order_id: Uuid,
    /// Who paid.
    pub customer: String,
    /// The invoice the payment settles.
    pub invoice_id: Uuid,
    /// The payment.
    pub payment_id: Uuid,
    /// Amount captured, in cents.
    pub amount_cents: i64,
}

impl Event for PaymentCaptured {
    const NAME: &'static str = "billing.payment_captured";
}

/// Looks up the invoice of an order and what has been paid on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct GetInvoice {
    /// The order invoiced.
    pub order_id: Uuid,
}

/// An order's invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Invoice {
    /// The invoice.
    pub invoice_id: Uuid,
    /// The order it bills.
    pub order_id: Uuid,
    /// Amount billed, in cents.
    pub amount_cents: i64,
    /// Sum of the captured payments, in cents.
    pub paid_cents: i64,
    /// `paid` once the payments cover the amount.
    pub status: String,
}

/// Why billing refused a request.
#[derive(
    Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema, thiserror::Error,
)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum BillingError {
    /// The order has no invoice (yet: invoices follow `orders.order_placed` asynchronously).
    #[error("order {order_id} has no invoice")]
    NotInvoiced {
        /// The order asked about.
        order_id: Uuid,
    },
}

impl Request for GetInvoice {
    const NAME: &'static str = "billing.get_invoice";
    const IDEMPOTENT: bool = true;
    type Response = Invoice;
    type Error = BillingError;
}

/// The billing module's public surface.
pub const CONTRACT: Contract = Contract {
    module: MODULE,
    // 1.1 added `billing.get_invoice`.
    version: Version { major: 1, minor: 1 },
    handles: &[GetInvoice::NAME],
    publishes: &[PaymentCaptured::NAME],
    // Named by string: an api crate does not depend on another module's api crate.
    subscribes: &["orders.order_placed"],
};

/// The published contract: JSON Schema of every message, for implementing `billing` in another
/// language. Written to `docs/contracts/billing.json` and served on the internal listener.
pub fn json_schema() -> serde_json::Value {
    cleave_contract::schema::document(
        &CONTRACT,
        vec![cleave_contract::schema::request::<GetInvoice>()],
        vec![cleave_contract::schema::event::<PaymentCaptured>()],
    )
}
