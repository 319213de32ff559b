//! Contract of the `billing` module: what it tells others about payments.

#![warn(missing_docs)]

use cleave_contract::{Contract, Event, Version};
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

/// The billing module's public surface.
pub const CONTRACT: Contract = Contract {
    module: MODULE,
    version: Version { major: 1, minor: 0 },
    handles: &[],
    publishes: &[PaymentCaptured::NAME],
    // Named by string: an api crate does not depend on another module's api crate.
    subscribes: &["orders.order_placed"],
};

/// The published contract: JSON Schema of every message, for implementing `billing` in another
/// language. Written to `docs/contracts/billing.json` and served on the internal listener.
pub fn json_schema() -> serde_json::Value {
    cleave_contract::schema::document(
        &CONTRACT,
        vec![],
        vec![cleave_contract::schema::event::<PaymentCaptured>()],
    )
}
