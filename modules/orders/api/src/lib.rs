//! Contract of the `orders` module: the events of an order's life.

#![warn(missing_docs)]

use cleave_contract::value::StringRule;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

cleave_contract::string_value! {
    /// Who orders: 1 to 200 characters, no control characters, not only spaces. Leading and
    /// trailing spaces are dropped when an order is stored. The one customer rule of orders and
    /// of every module that looks customers up (notifications).
    pub struct Customer = StringRule::new(
        "a customer",
        "no control characters and at least one character other than a space",
        1,
        200,
        r"^[^\x00-\x1f\x7f]*[^\x00-\x20\x7f][^\x00-\x1f\x7f]*$",
        "ada",
    );
}

impl Customer {
    /// The customer as stored and published: without leading and trailing spaces.
    pub fn stored(&self) -> &str {
        self.as_str().trim_matches(' ')
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customer_rules() {
        assert_eq!(Customer::try_from(" ada ").unwrap().stored(), "ada");
        for bad in ["", " ", "a\0", "a\nb", &"c".repeat(201)] {
            assert!(Customer::try_from(bad).is_err(), "{bad:?}");
        }
    }
}
