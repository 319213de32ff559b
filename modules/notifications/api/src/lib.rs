//! Contract of the `notifications` module.
//!
//! Notifications only listens (to `orders.order_placed` and `billing.payment_captured`) and
//! serves its own public route; no other module sends it anything, so its contract holds no
//! message types. The crate exists so that the day another module needs to ask it something,
//! the place for that message is already there, and so that every binary knows where its
//! events must go.

#![warn(missing_docs)]

cleave_contract::contract! {
    module: "notifications",
    version: (1, 0),
    requests: {},
    events: {},
}
