//! Contract of the `billing` module: what it tells others about payments.

#![warn(missing_docs)]

use serde::{Deserialize, Serialize};
use uuid::Uuid;

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

cleave_contract::contract! {
    module: "billing",
    // 1.1 added `billing.get_invoice`.
    version: (1, 1),
    requests: {
        GetInvoice: "billing.get_invoice" -> Invoice, BillingError, idempotent;
    },
    events: {
        PaymentCaptured: "billing.payment_captured";
    },
}
