//! Contract of the `notifications` module.
//!
//! Notifications only listens (to `orders.order_placed` and `billing.payment_captured`) and
//! serves its own public route; no other module sends it anything, so its contract holds
//! nothing but its name. The crate exists so that the day another module needs to ask it
//! something, the place for that message is already there.

#![warn(missing_docs)]

/// The module's name.
pub const MODULE: &str = "notifications";
