//! Contract of the `notifications` module.
//!
//! Notifications only listens (to `orders.order_placed` and `billing.payment_captured`) and
//! serves its own public route; no other module sends it anything, so its contract holds no
//! message types, only what it subscribes to. The crate exists so that the day another module
//! needs to ask it something, the place for that message is already there.

#![warn(missing_docs)]

/// The module's name.
pub const MODULE: &str = "notifications";

use cleave_contract::{Contract, Version};

/// The notifications module's public surface.
pub const CONTRACT: Contract = Contract {
    module: MODULE,
    version: Version { major: 1, minor: 0 },
    handles: &[],
    publishes: &[],
    subscribes: &["orders.order_placed", "billing.payment_captured"],
};

/// The published contract: JSON Schema of every message, for implementing `notifications` in another
/// language. Written to `docs/contracts/notifications.json` and served on the internal listener.
pub fn json_schema() -> serde_json::Value {
    cleave_contract::schema::document(&CONTRACT, vec![], vec![])
}
