//! Contract of the `orders` module: the events of an order's life.

#![warn(missing_docs)]

use serde::{Deserialize, Serialize};
use uuid::Uuid;

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

cleave_contract::contract! {
    module: "orders",
    version: (1, 0),
    requests: {
    },
    events: {
        OrderPlaced: "orders.order_placed";
    },
}
