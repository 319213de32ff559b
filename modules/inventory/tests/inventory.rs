//! The inventory on its own: reservations and stock routes on a real SQLite database.

use actix_web::{App, test};
use catalog_api::{CatalogError, GetPrices, PricedProduct, Prices};
use cleave::CallError;
use cleave::testing::Harness;
use inventory_api::{InventoryError, ReleaseReservation, ReserveStock, StockLine};
use serde_json::{Value, json};
use uuid::Uuid;

/// The inventory with a stub catalog that knows every product but those whose SKU starts
/// with `GHOST`.
fn harness() -> Harness {
    Harness::new()
        .module(&inventory::MODULE)
        .stub(|request: GetPrices| async move {
            let unknown: Vec<String> = request
                .skus
                .iter()
                .filter(|sku| sku.starts_with("GHOST"))
                .cloned()
                .collect();
            if !unknown.is_empty() {
                return Err(CatalogError::UnknownSkus { skus: unknown });
            }
            Ok(Prices {
                products: request
                    .skus
                    .into_iter()
                    .map(|sku| PricedProduct {
                        sku,
                        name: "x".into(),
                        price_cents: 1,
                    })
                    .collect(),
            })
        })
}

fn line(sku: &str, quantity: u32) -> StockLine {
    StockLine {
        sku: sku.into(),
        quantity,
    }
}

#[actix_web::test]
async fn reservations_are_all_or_nothing_idempotent_and_releasable() {
    let app = harness().start().await;
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
    let app = harness().start().await;
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
        // What fuzzing once got stored: SKUs the catalog's own rule refuses…
        (
            "/api/inventory/stock/a%00b",
            r#"{"quantity": 1}"#,
            422,
            "invalid_sku",
        ),
        (
            "/api/inventory/stock/..%2Fx",
            r#"{"quantity": 1}"#,
            422,
            "invalid_sku",
        ),
        (
            "/api/inventory/stock/%252F",
            r#"{"quantity": 1}"#,
            422,
            "invalid_sku",
        ),
        // …and SKUs of no product.
        (
            "/api/inventory/stock/GHOST-1",
            r#"{"quantity": 1}"#,
            404,
            "unknown_product",
        ),
    ];
    for (uri, body, status, code) in cases {
        let r = test::TestRequest::put()
            .uri(uri)
            .insert_header(("content-type", "application/json"))
            .set_payload(body)
            .send_request(&service)
            .await;
        assert_eq!(r.status(), status, "{uri} {body}");
        let error: Value = test::read_body_json(r).await;
        assert_eq!(error["error"], code, "{uri} {body}");
    }
    let missing = test::TestRequest::get()
        .uri("/api/inventory/stock/A")
        .send_request(&service)
        .await;
    assert_eq!(missing.status(), 404, "no bad input stored anything");
}

/// A reservation through its order's life: confirmed by `orders.order_placed`, sold by
/// `orders.order_paid` (units leave `on_hand`), and given back when no order confirms it in time.
#[actix_web::test]
async fn reservations_are_confirmed_sold_or_lapse() {
    use cleave::testing::{envelope, eventually};
    use orders_api::{OrderLine, OrderPaid, OrderPlaced};

    let app = harness()
        .module_settings(
            "inventory",
            json!({"reservation_ttl_s": 0, "sweep_every_s": 1}),
        )
        .start()
        .await;
    let service = test::init_service(App::new().configure(|c| app.runtime.configure_http(c))).await;
    let r = test::TestRequest::put()
        .uri("/api/inventory/stock/A")
        .set_json(json!({ "quantity": 10 }))
        .send_request(&service)
        .await;
    assert_eq!(r.status(), 200);
    let stock = || async {
        let r = test::TestRequest::get()
            .uri("/api/inventory/stock/A")
            .send_request(&service)
            .await;
        let body: Value = test::read_body_json(r).await;
        (
            body["on_hand"].as_i64().unwrap(),
            body["reserved"].as_i64().unwrap(),
        )
    };
    let placed = |order_id: Uuid, quantity: u32| {
        envelope(
            "orders",
            &OrderPlaced {
                order_id,
                customer: "ada".into(),
                lines: vec![OrderLine {
                    sku: "A".into(),
                    quantity,
                    unit_price_cents: 100,
                }],
                total_cents: 100 * i64::from(quantity),
            },
        )
    };

    // Two reservations; only the first one's order is stored.
    let (stored, abandoned) = (Uuid::now_v7(), Uuid::now_v7());
    for (id, quantity) in [(stored, 2), (abandoned, 3)] {
        app.bus()
            .call(ReserveStock {
                reservation_id: id,
                lines: vec![line("A", quantity)],
            })
            .await
            .unwrap();
    }
    let confirm = placed(stored, 2);
    for _ in 0..2 {
        app.events().deliver("inventory", &confirm).await.unwrap();
    }
    assert_eq!(stock().await, (10, 5));

    // The abandoned one lapses (time to live 0 here) and gives its stock back; the
    // confirmed one stays.
    eventually(
        "the lapsed reservation is released",
        std::time::Duration::from_secs(10),
        || async { stock().await == (10, 2) },
    )
    .await;

    // Paid: its units are sold, once.
    let paid = envelope(
        "orders",
        &OrderPaid {
            order_id: stored,
            customer: "ada".into(),
        },
    );
    for _ in 0..2 {
        app.events().deliver("inventory", &paid).await.unwrap();
    }
    assert_eq!(stock().await, (8, 0));
    // A sold reservation cannot be released any more.
    let released = app
        .bus()
        .call(ReleaseReservation {
            reservation_id: stored,
        })
        .await
        .unwrap();
    assert!(!released.released);
    assert_eq!(stock().await, (8, 0));

    // The order of a reservation that had already lapsed is stored after all: its stock is
    // held again.
    app.events()
        .deliver("inventory", &placed(abandoned, 3))
        .await
        .unwrap();
    assert_eq!(stock().await, (8, 3));
}
