//! Billing on its own: `orders.order_placed` delivered by hand (twice), `PaymentCaptured`
//! recorded on behalf of orders.

use std::time::Duration;

use actix_web::{App, test};
use billing_api::{BillingError, GetInvoice, PaymentCaptured};
use cleave::CallError;
use cleave::testing::{Harness, envelope, eventually};
use orders_api::{OrderLine, OrderPlaced};
use serde_json::Value;
use uuid::Uuid;

#[actix_web::test]
async fn a_placed_order_is_invoiced_and_paid_once() {
    let (harness, captured) = Harness::new()
        .module(&billing::MODULE)
        .record::<PaymentCaptured>("orders");
    let app = harness.start().await;
    let order_id = Uuid::now_v7();
    let placed = envelope(
        "orders",
        &OrderPlaced {
            order_id,
            customer: "ada".into(),
            lines: vec![OrderLine {
                sku: "BOOK".into(),
                quantity: 2,
                unit_price_cents: 1000,
            }],
            total_cents: 2000,
        },
    );
    for _ in 0..2 {
        app.events().deliver("billing", &placed).await.unwrap();
    }
    eventually(
        "orders hears of the payment",
        Duration::from_secs(5),
        || async { !captured.events().is_empty() },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let events = captured.events();
    assert_eq!(events.len(), 1, "one payment event for two deliveries");
    assert_eq!(events[0].order_id, order_id);
    assert_eq!(events[0].amount_cents, 2000);

    // Other modules ask for the invoice over the bus.
    let invoice = app.bus().call(GetInvoice { order_id }).await.unwrap();
    assert_eq!(invoice.order_id, order_id);
    assert_eq!((invoice.amount_cents, invoice.paid_cents), (2000, 2000));
    assert_eq!(invoice.invoice_id, events[0].invoice_id);
    assert_eq!(invoice.status, "paid");
    let unknown = Uuid::now_v7();
    match app.bus().call(GetInvoice { order_id: unknown }).await {
        Err(CallError::Domain(BillingError::NotInvoiced { order_id })) => {
            assert_eq!(order_id, unknown)
        }
        other => panic!("expected NotInvoiced, got {other:?}"),
    }

    let service = test::init_service(App::new().configure(|c| app.runtime.configure_http(c))).await;
    let r = test::TestRequest::get()
        .uri(&format!("/api/billing/invoices?order_id={order_id}"))
        .send_request(&service)
        .await;
    assert_eq!(r.status(), 200);
    let body: Value = test::read_body_json(r).await;
    let invoices = body["invoices"].as_array().unwrap();
    assert_eq!(invoices.len(), 1);
    assert_eq!(invoices[0]["amount_cents"], 2000);
    assert_eq!(invoices[0]["payments"].as_array().unwrap().len(), 1);

    for (uri, code) in [
        ("/api/billing/invoices", "invalid_query"),
        ("/api/billing/invoices?order_id=nope", "invalid_query"),
    ] {
        let r = test::TestRequest::get()
            .uri(uri)
            .send_request(&service)
            .await;
        assert_eq!(r.status(), 400, "{uri}");
        let error: Value = test::read_body_json(r).await;
        assert_eq!(error["error"], code);
    }
}
