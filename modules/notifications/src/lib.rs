//! The `notifications` module: records what a customer would be told, and when.
//!
//! Subscribes to `orders.order_placed` and `billing.payment_captured`; serves the list per
//! customer. Owns `notifications_messages`. Sending e-mail is out of scope: the record is the
//! effect.

use billing_api::PaymentCaptured;
use orders_api::OrderPlaced;

mod message;
mod record;
mod routes;

cleave::module! {
    api: notifications_api,
    summary: "Records what a customer would be told, and when.",
    migrations: notifications_migrations::Migrator,
    sends: [],
    handles: {},
    subscribes: {
        OrderPlaced => record::Record::new,
        PaymentCaptured => record::Record::new,
    },
    state: [routes::NotificationsState::new],
    routes: [routes::list_notifications],
}
