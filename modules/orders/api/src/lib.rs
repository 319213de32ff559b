//! Contract of the `orders` module: the events of an order's life.

#![warn(missing_docs)]

use cleave_contract::{Contract, Event, Version};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The module's name, the prefix of its messages.
pub const MODULE: &str = "orders";

/// One line of a placed order, priced when it was placed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OrderLine {
    /// Stock keeping unit.
    pub sku: String,
    /// Units ordered.
    pub quantity: u32,
    /// Unit price in cents at the time of the order.
    pub unit_price_cents: i64,
}

/// An order was accepted: its prices are fixed and its stock is reserved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OrderPlaced {
    /// The order.
    pub order_id: Uuid,
    /// Who ordered.
    pub customer: String,
    /// What was ordered.
    pub lines: Vec<OrderLine>,
    /// Sum of the lines, in cents.
    pub total_cents: i64,
}

impl Event for OrderPlaced {
    const NAME: &'static str = "orders.order_placed";
}

/// The orders module's public surface.
pub const CONTRACT: Contract = Contract {
    module: MODULE,
    version: Version { major: 1, minor: 0 },
    handles: &[],
    publishes: &[OrderPlaced::NAME],
    // Named by string: an api crate does not depend on another module's api crate.
    subscribes: &["billing.payment_captured"],
};

/// The published contract: JSON Schema of every message, for implementing `orders` in another
/// language. Written to `docs/contracts/orders.json` and served on the internal listener.
pub fn json_schema() -> serde_json::Value {
    cleave_contract::schema::document(
        &CONTRACT,
        vec![],
        vec![cleave_contract::schema::event::<OrderPlaced>()],
    )
}
