//! The `billing` module: an invoice and a (simulated) payment for every placed order.
//!
//! Subscribes to `orders.order_placed`; in the same transaction that applies it, records the
//! invoice and the payment and publishes `billing.payment_captured`. Answers
//! `billing.get_invoice`. Owns `billing_invoices` and `billing_payments`.

use actix_web::http::Method;
use billing_api::GetInvoice;
use cleave::{ModuleDescriptor, RegisterError, Registrar};
use orders_api::OrderPlaced;

mod charge;
mod get_invoice;
mod invoice;
mod routes;

/// The billing module's registration.
pub static MODULE: ModuleDescriptor = ModuleDescriptor {
    name: billing_api::MODULE,
    contract: &billing_api::CONTRACT,
    summary: "Invoices and (simulated) payments for placed orders.",
    may_call: &[],
    sends: &[],
    routes: &["GET /api/billing/invoices"],
    openapi,
    migrate: cleave::migrate_with::<billing_migrations::Migrator>,
    register,
};

cleave::register_module!(MODULE);

#[derive(utoipa::OpenApi)]
#[openapi(paths(routes::list_invoices))]
struct BillingApi;

fn openapi() -> utoipa::openapi::OpenApi {
    <BillingApi as utoipa::OpenApi>::openapi()
}

fn register(r: &mut Registrar<'_>) -> Result<(), RegisterError> {
    let context = r.context().clone();
    r.handle::<GetInvoice>(get_invoice::GetInvoiceHandler {
        db: context.db.clone(),
    })
    .subscribe::<OrderPlaced>(charge::ChargeOrder {
        events: context.events,
    })
    .data(routes::BillingState { db: context.db })
    .route(Method::GET, "/api/billing/invoices", routes::list_invoices);
    Ok(())
}
