//! The `notifications` module: records what a customer would be told, and when.
//!
//! Subscribes to `orders.order_placed` and `billing.payment_captured`; serves the list per
//! customer. Owns `notifications_messages`. Sending e-mail is out of scope: the record is the
//! effect.

use actix_web::http::Method;
use billing_api::PaymentCaptured;
use cleave::{ModuleDescriptor, RegisterError, Registrar};
use orders_api::OrderPlaced;

mod message;
mod record;
mod routes;

/// The notifications module's registration.
pub static MODULE: ModuleDescriptor = ModuleDescriptor {
    name: notifications_api::MODULE,
    contract: &notifications_api::CONTRACT,
    summary: "Records what a customer would be told, and when.",
    may_call: &[],
    sends: &[],
    routes: &["GET /api/notifications"],
    openapi,
    migrate: cleave::migrate_with::<notifications_migrations::Migrator>,
    register,
};

cleave::register_module!(MODULE);

#[derive(utoipa::OpenApi)]
#[openapi(paths(routes::list_notifications))]
struct NotificationsApi;

fn openapi() -> utoipa::openapi::OpenApi {
    <NotificationsApi as utoipa::OpenApi>::openapi()
}

fn register(r: &mut Registrar<'_>) -> Result<(), RegisterError> {
    let db = r.context().db.clone();
    r.subscribe::<OrderPlaced>(record::Record)
        .subscribe::<PaymentCaptured>(record::Record)
        .data(routes::NotificationsState { db })
        .route(
            Method::GET,
            "/api/notifications",
            routes::list_notifications,
        );
    Ok(())
}
