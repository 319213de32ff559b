//! Orders on its own: catalog and inventory are stubs on the bus, billing is a recorder, a
//! stub for receipts and a hand-delivered event. The orders handlers, tables, outbox and inbox are real.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use actix_web::{App, test};
use billing_api::{BillingError, GetInvoice, Invoice, PaymentCaptured};
use catalog_api::{CatalogError, GetPrices, PricedProduct, Prices};
use cleave::testing::{Harness, Recorder, TestApp, envelope, eventually};
use inventory_api::{InventoryError, ReleaseReservation, Released, ReserveStock, Reserved};
use orders_api::OrderPlaced;
use serde_json::{Value, json};
use uuid::Uuid;

/// Catalog stub: `BOOK` costs 1000, `PEN` 250, anything else is unknown.
async fn prices(request: GetPrices) -> Result<Prices, CatalogError> {
    let mut products = Vec::new();
    let mut unknown = Vec::new();
    for sku in request.skus {
        match sku.as_str() {
            "BOOK" => products.push(PricedProduct {
                sku,
                name: "Book".into(),
                price_cents: 1000,
            }),
            "PEN" => products.push(PricedProduct {
                sku,
                name: "Pen".into(),
                price_cents: 250,
            }),
            _ => unknown.push(sku),
        }
    }
    if unknown.is_empty() {
        Ok(Prices { products })
    } else {
        Err(CatalogError::UnknownSkus { skus: unknown })
    }
}

struct Shop {
    app: TestApp,
    placed: Recorder<OrderPlaced>,
    reservations: Arc<AtomicUsize>,
    /// Whether the billing stub has an invoice for every order.
    billed: Arc<AtomicBool>,
}

/// Inventory stub: at most 3 units of anything; counts successful reservations.
async fn shop(serialize: bool) -> Shop {
    let reservations = Arc::new(AtomicUsize::new(0));
    let counter = reservations.clone();
    let billed = Arc::new(AtomicBool::new(false));
    let invoiced = billed.clone();
    let (harness, placed) = Harness::new()
        .module(&orders::MODULE)
        .serialize_messages(serialize)
        .stub::<GetPrices, _, _>(prices)
        .stub::<ReserveStock, _, _>(move |request: ReserveStock| {
            let counter = counter.clone();
            async move {
                for l in &request.lines {
                    if l.quantity > 3 {
                        return Err(InventoryError::InsufficientStock {
                            sku: l.sku.clone(),
                            requested: l.quantity,
                            available: 3,
                        });
                    }
                }
                counter.fetch_add(1, Ordering::SeqCst);
                Ok(Reserved {
                    reservation_id: request.reservation_id,
                })
            }
        })
        .stub::<ReleaseReservation, _, _>(|_: ReleaseReservation| async {
            Ok(Released { released: true })
        })
        .stub::<GetInvoice, _, _>(move |request: GetInvoice| {
            let invoiced = invoiced.load(Ordering::SeqCst);
            async move {
                if !invoiced {
                    return Err(BillingError::NotInvoiced {
                        order_id: request.order_id,
                    });
                }
                Ok(Invoice {
                    invoice_id: Uuid::nil(),
                    order_id: request.order_id,
                    amount_cents: 2250,
                    paid_cents: 2250,
                    status: "paid".into(),
                })
            }
        })
        .record::<OrderPlaced>("billing");
    Shop {
        app: harness.start().await,
        placed,
        reservations,
        billed,
    }
}

#[actix_web::test]
async fn an_order_is_priced_reserved_published_and_then_paid() {
    for serialize in [false, true] {
        let shop = shop(serialize).await;
        let service =
            test::init_service(App::new().configure(|c| shop.app.runtime.configure_http(c))).await;
        let created = test::TestRequest::post()
            .uri("/api/orders")
            .set_json(json!({"customer": "ada", "lines": [{"sku": "BOOK", "quantity": 2}, {"sku": "PEN", "quantity": 1}]}))
            .send_request(&service)
            .await;
        assert_eq!(created.status(), 201);
        let body: Value = test::read_body_json(created).await;
        assert_eq!(body["status"], "placed");
        assert_eq!(body["total_cents"], 2250);
        let id: Uuid = body["id"].as_str().unwrap().parse().unwrap();

        eventually(
            "billing receives OrderPlaced",
            Duration::from_secs(5),
            || async { !shop.placed.events().is_empty() },
        )
        .await;
        let event = &shop.placed.events()[0];
        assert_eq!(event.order_id, id);
        assert_eq!(event.customer, "ada");
        assert_eq!(event.total_cents, 2250);
        assert_eq!(event.lines.len(), 2);

        // The receipt asks billing, which has no invoice yet.
        let receipt = test::TestRequest::get()
            .uri(&format!("/api/orders/{id}/receipt"))
            .to_request();
        let answered: Value = test::call_and_read_body_json(&service, receipt).await;
        assert_eq!(answered["invoice"], Value::Null, "{answered}");

        // Billing answers; the same event delivered twice marks the order paid once.
        let captured = envelope(
            "billing",
            &PaymentCaptured {
                order_id: id,
                customer: "ada".into(),
                invoice_id: Uuid::now_v7(),
                payment_id: Uuid::now_v7(),
                amount_cents: 2250,
            },
        );
        for _ in 0..2 {
            shop.app
                .events()
                .deliver("orders", &captured)
                .await
                .unwrap();
        }
        let read = test::TestRequest::get()
            .uri(&format!("/api/orders/{id}"))
            .send_request(&service)
            .await;
        assert_eq!(read.status(), 200);
        let order: Value = test::read_body_json(read).await;
        assert_eq!(order["status"], "paid", "serialize={serialize}");
        assert_eq!(order["lines"][0]["sku"], "BOOK");
        shop.billed.store(true, Ordering::SeqCst);
        let receipt = test::TestRequest::get()
            .uri(&format!("/api/orders/{id}/receipt"))
            .to_request();
        let answered: Value = test::call_and_read_body_json(&service, receipt).await;
        assert_eq!(answered["status"], "paid");
        assert_eq!(answered["invoice"]["paid_cents"], 2250, "{answered}");
    }
}

#[actix_web::test]
async fn refused_orders_store_nothing_and_say_why() {
    let shop = shop(false).await;
    let service =
        test::init_service(App::new().configure(|c| shop.app.runtime.configure_http(c))).await;
    let long_name = "x".repeat(201);
    let cases = [
        (
            json!({"customer": "ada", "lines": [{"sku": "NOPE", "quantity": 1}]}),
            404,
            "unknown_sku",
        ),
        (
            json!({"customer": "ada", "lines": [{"sku": "BOOK", "quantity": 4}]}),
            409,
            "insufficient_stock",
        ),
        (
            json!({"customer": "ada", "lines": []}),
            422,
            "invalid_lines",
        ),
        (
            json!({"customer": " ", "lines": [{"sku": "BOOK", "quantity": 1}]}),
            422,
            "invalid_customer",
        ),
        (
            json!({"customer": long_name, "lines": [{"sku": "BOOK", "quantity": 1}]}),
            422,
            "invalid_customer",
        ),
        (
            json!({"customer": "ada", "lines": [{"sku": "BOOK", "quantity": 0}]}),
            422,
            "invalid_quantity",
        ),
        (
            // Two lines of one SKU are one line of their sum: 2 + 2 is more than the stock.
            json!({"customer": "ada", "lines": [{"sku": "BOOK", "quantity": 2}, {"sku": "BOOK", "quantity": 2}]}),
            409,
            "insufficient_stock",
        ),
        (
            json!({"customer": "ada", "lines": [{"sku": "BOOK", "quantity": -1}]}),
            422,
            "invalid_body",
        ),
        (json!({"customer": "ada"}), 422, "invalid_body"),
    ];
    for (body, status, code) in cases {
        let r = test::TestRequest::post()
            .uri("/api/orders")
            .set_json(&body)
            .send_request(&service)
            .await;
        assert_eq!(r.status(), status, "{body}");
        let error: Value = test::read_body_json(r).await;
        assert_eq!(error["error"], code, "{body}");
    }
    for (uri, status, code) in [
        ("/api/orders/not-a-uuid", 400, "invalid_path"),
        (
            "/api/orders/0190a5c2-0000-7000-8000-000000000000",
            404,
            "order_not_found",
        ),
    ] {
        let r = test::TestRequest::get()
            .uri(uri)
            .send_request(&service)
            .await;
        assert_eq!(r.status(), status, "{uri}");
        let error: Value = test::read_body_json(r).await;
        assert_eq!(error["error"], code, "{uri}");
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        shop.placed.events().is_empty(),
        "no event for a refused order"
    );
    assert_eq!(
        shop.reservations.load(Ordering::SeqCst),
        0,
        "nothing reserved"
    );
}
