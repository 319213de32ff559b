//! The catalog on its own: its request handler and its routes, on a real SQLite database.

use actix_web::{App, test};
use catalog_api::{CatalogError, GetPrices};
use cleave::CallError;
use cleave::testing::Harness;
use serde_json::{Value, json};

macro_rules! catalog_service {
    ($app:expr) => {
        test::init_service(App::new().configure(|c| $app.runtime.configure_http(c))).await
    };
}

#[actix_web::test]
async fn products_are_created_read_and_priced() {
    let app = Harness::new().module(&catalog::MODULE).start().await;
    let service = catalog_service!(app);

    let created = test::TestRequest::post()
        .uri("/api/catalog/products")
        .set_json(json!({"sku": "BOOK-1", "name": "Rust in Action", "price_cents": 3999}))
        .send_request(&service)
        .await;
    assert_eq!(created.status(), 201);
    let body: Value = test::read_body_json(created).await;
    assert_eq!(
        body,
        json!({"sku": "BOOK-1", "name": "Rust in Action", "price_cents": 3999})
    );

    let read = test::TestRequest::get()
        .uri("/api/catalog/products/BOOK-1")
        .send_request(&service)
        .await;
    assert_eq!(read.status(), 200);

    {
        let prices = app
            .bus()
            .call(GetPrices {
                skus: vec!["BOOK-1".into(), "BOOK-1".into()],
            })
            .await
            .unwrap();
        assert_eq!(prices.products.len(), 1, "duplicates answered once");
        assert_eq!(prices.products[0].price_cents, 3999);
    }

    match app
        .bus()
        .call(GetPrices {
            skus: vec!["BOOK-1".into(), "NOPE".into()],
        })
        .await
    {
        Err(CallError::Domain(CatalogError::UnknownSkus { skus })) => assert_eq!(skus, ["NOPE"]),
        other => panic!("expected unknown SKUs, got {other:?}"),
    }
}

#[actix_web::test]
async fn bad_product_input_is_refused_with_a_clear_error() {
    let app = Harness::new().module(&catalog::MODULE).start().await;
    let service = catalog_service!(app);
    let post = |body: &str| {
        test::TestRequest::post()
            .uri("/api/catalog/products")
            .insert_header(("content-type", "application/json"))
            .set_payload(body.to_string())
    };
    let cases = [
        ("{not json", 400, "malformed_json"),
        (r#"{"sku": "A"}"#, 422, "invalid_body"),
        (
            r#"{"sku": "A", "name": "x", "price_cents": "ten"}"#,
            422,
            "invalid_body",
        ),
        (
            r#"{"sku": "bad sku", "name": "x", "price_cents": 1}"#,
            422,
            "invalid_sku",
        ),
        (
            r#"{"sku": "A", "name": "  ", "price_cents": 1}"#,
            422,
            "invalid_name",
        ),
        (
            r#"{"sku": "A", "name": "x", "price_cents": -1}"#,
            422,
            "invalid_price",
        ),
        (
            r#"{"sku": "A", "name": "x", "price_cents": 1000000000001}"#,
            422,
            "invalid_price",
        ),
        (
            r#"{"sku": "A\u0000", "name": "x", "price_cents": 1}"#,
            422,
            "invalid_sku",
        ),
        (
            r#"{"sku": "A", "name": "a\u0000b", "price_cents": 1}"#,
            422,
            "invalid_name",
        ),
    ];
    for (body, status, code) in cases {
        let response = post(body).send_request(&service).await;
        assert_eq!(response.status(), status, "{body}");
        let error: Value = test::read_body_json(response).await;
        assert_eq!(error["error"], code, "{body}: {error}");
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    // Nothing was stored by any of them.
    let read = test::TestRequest::get()
        .uri("/api/catalog/products/A")
        .send_request(&service)
        .await;
    assert_eq!(read.status(), 404);

    let ok = post(r#"{"sku": "A", "name": "x", "price_cents": 1}"#)
        .send_request(&service)
        .await;
    assert_eq!(ok.status(), 201);
    let again = post(r#"{"sku": "A", "name": "y", "price_cents": 2}"#)
        .send_request(&service)
        .await;
    assert_eq!(again.status(), 409);
    let error: Value = test::read_body_json(again).await;
    assert_eq!(error["error"], "sku_exists");

    let no_type = test::TestRequest::post()
        .uri("/api/catalog/products")
        .set_payload(r#"{"sku": "B", "name": "x", "price_cents": 1}"#)
        .send_request(&service)
        .await;
    assert_eq!(no_type.status(), 415);
}
