//! The inventory on its own: reservations and stock routes on a real SQLite database.

use actix_web::{App, test};
use cleave::CallError;
use cleave::testing::Harness;
use inventory_api::{InventoryError, ReleaseReservation, ReserveStock, StockLine};
use serde_json::{Value, json};
use uuid::Uuid;

fn line(sku: &str, quantity: u32) -> StockLine {
    StockLine {
        sku: sku.into(),
        quantity,
    }
}

#[actix_web::test]
async fn reservations_are_all_or_nothing_idempotent_and_releasable() {
    let app = Harness::new().module(&inventory::MODULE).start().await;
    let service = test::init_service(App::new().configure(|c| app.runtime.configure_http(c))).await;
    for (sku, quantity) in [("A", 5), ("B", 1)] {
        let r = test::TestRequest::put()
            .uri(&format!("/api/inventory/stock/{sku}"))
            .set_json(json!({ "quantity": quantity }))
            .send_request(&service)
            .await;
        assert_eq!(r.status(), 200);
    }
    let stock = |sku: &'static str| {
        let service = &service;
        async move {
            let r = test::TestRequest::get()
                .uri(&format!("/api/inventory/stock/{sku}"))
                .send_request(service)
                .await;
            let body: Value = test::read_body_json(r).await;
            (
                body["reserved"].as_i64().unwrap(),
                body["available"].as_i64().unwrap(),
            )
        }
    };

    // B is short: nothing at all is reserved, not even A's line.
    let short = app
        .bus()
        .call(ReserveStock {
            reservation_id: Uuid::now_v7(),
            lines: vec![line("A", 2), line("B", 2)],
        })
        .await;
    match short {
        Err(CallError::Domain(InventoryError::InsufficientStock {
            sku,
            requested,
            available,
        })) => assert_eq!((sku.as_str(), requested, available), ("B", 2, 1)),
        other => panic!("expected insufficient stock, got {other:?}"),
    }
    assert_eq!(stock("A").await, (0, 5));

    // Reserved once even when sent twice.
    let id = Uuid::now_v7();
    for _ in 0..2 {
        app.bus()
            .call(ReserveStock {
                reservation_id: id,
                lines: vec![line("A", 2), line("B", 1)],
            })
            .await
            .unwrap();
    }
    assert_eq!(stock("A").await, (2, 3));
    assert_eq!(stock("B").await, (1, 0));

    // Stock cannot be set below what is reserved.
    let below = test::TestRequest::put()
        .uri("/api/inventory/stock/A")
        .set_json(json!({"quantity": 1}))
        .send_request(&service)
        .await;
    assert_eq!(below.status(), 409);

    // Released once, then a no-op.
    let first = app
        .bus()
        .call(ReleaseReservation { reservation_id: id })
        .await
        .unwrap();
    let second = app
        .bus()
        .call(ReleaseReservation { reservation_id: id })
        .await
        .unwrap();
    assert!(first.released && !second.released);
    assert_eq!(stock("A").await, (0, 5));
    assert_eq!(stock("B").await, (0, 1));
}

#[actix_web::test]
async fn invalid_reservations_and_stock_input_are_refused() {
    let app = Harness::new().module(&inventory::MODULE).start().await;
    for lines in [vec![], vec![line("A", 0)], vec![line("A", 1), line("A", 1)]] {
        let result = app
            .bus()
            .call(ReserveStock {
                reservation_id: Uuid::now_v7(),
                lines,
            })
            .await;
        assert!(
            matches!(
                result,
                Err(CallError::Domain(InventoryError::InvalidReservation { .. }))
            ),
            "{result:?}"
        );
    }
    let service = test::init_service(App::new().configure(|c| app.runtime.configure_http(c))).await;
    let too_long = format!("/api/inventory/stock/{}", "x".repeat(65));
    let cases = [
        (
            "/api/inventory/stock/A",
            r#"{"quantity": -1}"#,
            422,
            "invalid_body",
        ),
        (
            "/api/inventory/stock/A",
            r#"{"quantity": "many"}"#,
            422,
            "invalid_body",
        ),
        (
            "/api/inventory/stock/A",
            r#"{"qty": 1}"#,
            422,
            "invalid_body",
        ),
        ("/api/inventory/stock/A", "[", 400, "malformed_json"),
        (too_long.as_str(), r#"{"quantity": 1}"#, 422, "invalid_sku"),
    ];
    for (uri, body, status, code) in cases {
        let r = test::TestRequest::put()
            .uri(uri)
            .insert_header(("content-type", "application/json"))
            .set_payload(body)
            .send_request(&service)
            .await;
        assert_eq!(r.status(), status, "{body}");
        let error: Value = test::read_body_json(r).await;
        assert_eq!(error["error"], code, "{body}");
    }
    let missing = test::TestRequest::get()
        .uri("/api/inventory/stock/A")
        .send_request(&service)
        .await;
    assert_eq!(missing.status(), 404, "no bad input stored anything");
}
