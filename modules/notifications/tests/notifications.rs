//! Notifications on its own: events delivered by hand, twice each.

use actix_web::{App, test};
use billing_api::PaymentCaptured;
use cleave::testing::{Harness, envelope};
use orders_api::OrderPlaced;
use serde_json::Value;
use uuid::Uuid;

#[actix_web::test]
async fn each_event_is_recorded_once_for_its_customer() {
    let app = Harness::new().module(&notifications::MODULE).start().await;
    let order_id = Uuid::now_v7();
    let placed = envelope(
        "orders",
        &OrderPlaced {
            order_id,
            customer: "ada".into(),
            lines: vec![],
            total_cents: 2250,
        },
    );
    let paid = envelope(
        "billing",
        &PaymentCaptured {
            order_id,
            customer: "ada".into(),
            invoice_id: Uuid::now_v7(),
            payment_id: Uuid::now_v7(),
            amount_cents: 2250,
        },
    );
    for event in [&placed, &placed, &paid, &paid] {
        app.events().deliver("notifications", event).await.unwrap();
    }
    let service = test::init_service(App::new().configure(|c| app.runtime.configure_http(c))).await;
    let r = test::TestRequest::get()
        .uri("/api/notifications?customer=ada")
        .send_request(&service)
        .await;
    assert_eq!(r.status(), 200);
    let body: Value = test::read_body_json(r).await;
    let list = body["notifications"].as_array().unwrap();
    let kinds: Vec<&str> = list.iter().map(|n| n["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["orders.order_placed", "billing.payment_captured"]);
    assert!(list[0]["text"].as_str().unwrap().contains("22.50"));

    let other = test::TestRequest::get()
        .uri("/api/notifications?customer=bob")
        .send_request(&service)
        .await;
    let body: Value = test::read_body_json(other).await;
    assert!(body["notifications"].as_array().unwrap().is_empty());

    for uri in ["/api/notifications", "/api/notifications?customer=%20"] {
        let r = test::TestRequest::get()
            .uri(uri)
            .send_request(&service)
            .await;
        assert_eq!(r.status(), 400, "{uri}");
        let error: Value = test::read_body_json(r).await;
        assert_eq!(error["error"], "invalid_query");
    }
}
