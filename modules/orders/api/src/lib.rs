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

/// An order was accepted: its prices are fixed and its stock is reserved (under the order's id
/// as reservation id).
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

/// An order was paid: what it reserved is now sold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OrderPaid {
    /// The order (also the id of the stock reservation orders made for it).
    pub order_id: Uuid,
    /// Who ordered.
    pub customer: String,
}

cleave_contract::contract! {
    module: "orders",
    // 1.1 added `orders.order_paid`.
    version: (1, 1),
    requests: {
    },
    events: {
        OrderPlaced: "orders.order_placed";
        OrderPaid: "orders.order_paid";
    },
}
