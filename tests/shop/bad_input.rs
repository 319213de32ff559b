//! Bad input on every public route, through the real server: a 4xx with
//! `{"error": code, "message": text}`, nothing stored, and the process still serving.

use serde_json::{Value, json};

use crate::support::{Mode, TestShop, spawn_app};

/// One malformed request and the answer it must get.
struct Case {
    route: &'static str,
    method: &'static str,
    path: &'static str,
    body: Option<&'static str>,
    status: u16,
    code: &'static str,
}

const fn case(
    route: &'static str,
    path: &'static str,
    body: Option<&'static str>,
    status: u16,
    code: &'static str,
) -> Case {
    let method = if route.as_bytes()[0] == b'G' {
        "GET"
    } else if route.as_bytes()[1] == b'U' {
        "PUT"
    } else {
        "POST"
    };
    Case {
        route,
        method,
        path,
        body,
        status,
        code,
    }
}

const CASES: &[Case] = &[
    case(
        "POST /api/catalog/products",
        "/api/catalog/products",
        Some("{\"sku\": "),
        400,
        "malformed_json",
    ),
    case(
        "POST /api/catalog/products",
        "/api/catalog/products",
        Some(r#"{"sku": "X1", "name": "x", "price_cents": -5}"#),
        422,
        "invalid_price",
    ),
    case(
        "POST /api/catalog/products",
        "/api/catalog/products",
        Some(r#"{"sku": "X1"}"#),
        422,
        "invalid_body",
    ),
    case(
        "GET /api/catalog/products/{sku}",
        "/api/catalog/products/NOPE",
        None,
        404,
        "product_not_found",
    ),
    case(
        "PUT /api/inventory/stock/{sku}",
        "/api/inventory/stock/X1",
        Some(r#"{"quantity": -3}"#),
        422,
        "invalid_body",
    ),
    case(
        "PUT /api/inventory/stock/{sku}",
        "/api/inventory/stock/X1",
        Some("quantity=3"),
        400,
        "malformed_json",
    ),
    // Stock only for a product the catalog knows, under a SKU its rule accepts (fuzzing once
    // stored stock for NUL, `../x` and `%2F`, and for SKUs of no product).
    case(
        "PUT /api/inventory/stock/{sku}",
        "/api/inventory/stock/NOPE",
        Some(r#"{"quantity": 3}"#),
        404,
        "unknown_product",
    ),
    case(
        "PUT /api/inventory/stock/{sku}",
        "/api/inventory/stock/a%00b",
        Some(r#"{"quantity": 3}"#),
        422,
        "invalid_sku",
    ),
    case(
        "PUT /api/inventory/stock/{sku}",
        "/api/inventory/stock/..%2Fx",
        Some(r#"{"quantity": 3}"#),
        422,
        "invalid_sku",
    ),
    case(
        "GET /api/inventory/stock/{sku}",
        "/api/inventory/stock/NOPE",
        None,
        404,
        "stock_not_found",
    ),
    case(
        "POST /api/orders",
        "/api/orders",
        Some(r#"{"customer": "ada", "lines": [{"sku": "NOPE", "quantity": 1}]}"#),
        404,
        "unknown_sku",
    ),
    case(
        "POST /api/orders",
        "/api/orders",
        Some(r#"{"customer": "ada", "lines": [{"sku": "KNOWN", "quantity": 99}]}"#),
        409,
        "insufficient_stock",
    ),
    case(
        "POST /api/orders",
        "/api/orders",
        Some(r#"{"customer": "ada", "lines": [{"sku": "../x", "quantity": 1}]}"#),
        422,
        "invalid_sku",
    ),
    case(
        "POST /api/orders",
        "/api/orders",
        Some(r#"{"customer": " ", "lines": [{"sku": "KNOWN", "quantity": 1}]}"#),
        422,
        "invalid_customer",
    ),
    case(
        "POST /api/orders",
        "/api/orders",
        Some(r#"{"customer": "ada", "lines": []}"#),
        422,
        "invalid_lines",
    ),
    case(
        "POST /api/orders",
        "/api/orders",
        Some(r#"{"customer": "ada", "lines": "many"}"#),
        422,
        "invalid_body",
    ),
    case(
        "POST /api/orders",
        "/api/orders",
        Some("not json"),
        400,
        "malformed_json",
    ),
    case(
        "GET /api/orders/{id}",
        "/api/orders/123",
        None,
        400,
        "invalid_path",
    ),
    case(
        "GET /api/orders/{id}",
        "/api/orders/01900000-0000-7000-8000-000000000000",
        None,
        404,
        "order_not_found",
    ),
    case(
        "GET /api/orders/{id}/receipt",
        "/api/orders/123/receipt",
        None,
        400,
        "invalid_path",
    ),
    case(
        "GET /api/orders/{id}/receipt",
        "/api/orders/01900000-0000-7000-8000-000000000000/receipt",
        None,
        404,
        "order_not_found",
    ),
    case(
        "GET /api/billing/invoices",
        "/api/billing/invoices",
        None,
        400,
        "invalid_query",
    ),
    case(
        "GET /api/billing/invoices",
        "/api/billing/invoices?order_id=12",
        None,
        400,
        "invalid_query",
    ),
    case(
        "GET /api/notifications",
        "/api/notifications",
        None,
        400,
        "invalid_query",
    ),
];

async fn send(shop: &TestShop, c: &Case) -> (u16, Value) {
    let url = format!("{}{}", shop.base, c.path);
    let request = match c.method {
        "GET" => shop.client.get(url),
        "PUT" => shop.client.put(url),
        _ => shop.client.post(url),
    };
    let request = match c.body {
        Some(body) => request
            .header("content-type", "application/json")
            .body(body),
        None => request,
    };
    let response = request.send().await.expect("the shop answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_public_route_refuses_bad_input_clearly_and_stores_nothing() {
    let shop = spawn_app(Mode::InProcess).await;
    shop.stock_product("KNOWN", 100, 1).await;

    for c in CASES {
        let (status, body) = send(&shop, c).await;
        assert_eq!(status, c.status, "{} {}: {body}", c.method, c.path);
        assert_eq!(body["error"], c.code, "{} {}: {body}", c.method, c.path);
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{} {}: no message in {body}",
            c.method,
            c.path
        );
    }

    // Too large a body is refused before it is read in full.
    let huge = format!(
        r#"{{"customer": "{}", "lines": [{{"sku": "KNOWN", "quantity": 1}}]}}"#,
        "a".repeat(70 * 1024)
    );
    let response = shop
        .client
        .post(format!("{}/api/orders", shop.base))
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 413);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "payload_too_large");

    // Nothing was stored by the refused requests, and the process is still serving.
    let (status, _) = shop.get("/api/catalog/products/X1").await;
    assert_eq!(status, 404);
    for sku in ["NOPE", "X1"] {
        let (status, _) = shop.get(&format!("/api/inventory/stock/{sku}")).await;
        assert_eq!(status, 404, "stock of {sku} was stored");
    }
    let (_, stock) = shop.get("/api/inventory/stock/KNOWN").await;
    assert_eq!(stock["reserved"], 0);
    assert!(shop.notifications("ada").await.is_empty());
    let (status, _) = shop.get("/health").await;
    assert_eq!(status, 200);
    let (status, body) = shop.post("/api/nowhere", json!({})).await;
    assert_eq!((status, body["error"].as_str()), (404, Some("no_route")));

    // Messages quote input cut short, in the application's words, not the web framework's.
    let (status, body) = shop.get("/api/orders/not-a-uuid").await;
    assert_eq!(status, 400, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(
        !message.to_lowercase().contains("deserialize"),
        "framework wording: {message}"
    );
    let long = "A".repeat(60_000);
    let (status, body) = shop
        .post(
            "/api/catalog/products",
            json!({"sku": long, "name": "Long", "price_cents": 1}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(message.len() < 300, "{} bytes echoed back", message.len());

    // A path that exists, asked with another method: 405 naming the methods it answers.
    for (method, path, allowed) in [
        ("DELETE", "/api/orders", "POST"),
        ("PATCH", "/api/catalog/products/X1", "GET"),
        ("POST", "/api/openapi.json", "GET"),
    ] {
        let response = shop
            .client
            .request(method.parse().unwrap(), format!("{}{path}", shop.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 405, "{method} {path}");
        let allow = response.headers()["allow"].to_str().unwrap().to_string();
        assert!(allow.contains(allowed), "{method} {path}: Allow {allow}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "method_not_allowed", "{body}");
    }
}

#[test]
fn every_declared_route_has_a_bad_input_case() {
    for module in cleave::modules() {
        for route in module.routes() {
            assert!(
                CASES.iter().any(|c| c.route == route),
                "route `{route}` of module `{}` has no bad-input case",
                module.name()
            );
        }
    }
}

/// The OpenAPI document served by the shop lists every public route with its method.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_public_route_is_in_the_openapi_document() {
    let shop = spawn_app(Mode::InProcess).await;
    let (status, document) = shop.get("/api/openapi.json").await;
    assert_eq!(status, 200);
    assert!(
        document["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.")),
        "{document}"
    );
    let paths = document["paths"].as_object().expect("paths");
    let mut routes: Vec<String> = vec!["GET /health".into(), "GET /ready".into()];
    for module in cleave::modules() {
        routes.extend(module.routes());
    }
    for route in routes {
        let (method, path) = route.split_once(' ').unwrap();
        let entry = paths
            .get(path)
            .unwrap_or_else(|| panic!("`{route}` is missing from /api/openapi.json"));
        assert!(
            entry.get(method.to_lowercase()).is_some(),
            "`{route}`: the document has {path} but not {method}"
        );
    }
    // Errors are documented with the one error shape.
    let schemas = document["components"]["schemas"]
        .as_object()
        .expect("schemas");
    assert!(
        schemas.contains_key("ErrorBody"),
        "{:?}",
        schemas.keys().collect::<Vec<_>>()
    );
    // Every limit the server enforces is stated, from the rule that enforces it.
    let sku = catalog_api::Sku::rule();
    let stock = &document["paths"]["/api/inventory/stock/{sku}"]["put"];
    assert_eq!(stock["parameters"][0]["required"], true, "{stock}");
    assert_eq!(stock["parameters"][0]["schema"]["pattern"], sku.pattern);
    assert_eq!(stock["parameters"][0]["schema"]["maxLength"], 64);
    let product = &schemas["NewProduct"]["properties"];
    assert_eq!(product["sku"]["pattern"], sku.pattern, "{product}");
    assert_eq!(product["name"]["maxLength"], 200, "{product}");
    assert_eq!(product["price_cents"]["maximum"], 1_000_000_000_000_i64);
    assert_eq!(schemas["NewOrder"]["properties"]["lines"]["maxItems"], 100);
    assert_eq!(schemas["NewOrder"]["properties"]["lines"]["minItems"], 1);
    assert_eq!(
        schemas["NewOrder"]["properties"]["customer"]["pattern"],
        orders_api::Customer::rule().pattern
    );
    let quantity = &schemas["NewLine"]["properties"]["quantity"];
    assert_eq!(
        (&quantity["minimum"], &quantity["maximum"]),
        (&1.into(), &10_000.into())
    );
    assert_eq!(
        schemas["SetStock"]["properties"]["quantity"]["maximum"],
        u32::MAX
    );
    let key = &document["paths"]["/api/orders"]["post"]["parameters"][0];
    assert_eq!(
        (&key["name"], &key["schema"]["maxLength"]),
        (&"Idempotency-Key".into(), &255.into())
    );
    // Every status the edge answers: the body statuses on every route with a body, 405 by path.
    for (path, method) in [
        ("/api/orders", "post"),
        ("/api/catalog/products", "post"),
        ("/api/inventory/stock/{sku}", "put"),
    ] {
        let responses = &document["paths"][path][method]["responses"];
        for status in ["400", "408", "413", "415", "422"] {
            assert!(
                responses.get(status).is_some(),
                "{method} {path} does not state {status}: {responses}"
            );
        }
    }
    for (path, item) in paths {
        let said = item["description"].as_str().unwrap_or_default();
        assert!(said.contains("405"), "{path} does not state 405: {item}");
    }
    for (path, method, status) in [
        ("/api/inventory/stock/{sku}", "put", "404"),
        ("/api/inventory/stock/{sku}", "put", "503"),
        ("/api/orders", "post", "503"),
        ("/api/orders", "post", "502"),
    ] {
        assert!(
            document["paths"][path][method]["responses"]
                .get(status)
                .is_some(),
            "{method} {path} does not state {status}"
        );
    }
}

/// Sends the head of a request announcing `length` body bytes and only the first few, then
/// reads what the server answers (and how long it took).
async fn stalled_body(port: u16, path: &str, length: usize) -> (String, std::time::Duration) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nauthorization: Bearer x\r\ncleave-contract: catalog/1.0\r\ncontent-length: {length}\r\n\r\n{{\"cust"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 4096];
    let read = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read(&mut answer))
        .await
        .expect("the server answers a stalled body instead of waiting for it")
        .unwrap();
    (
        String::from_utf8_lossy(&answer[..read]).into_owned(),
        started.elapsed(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_stops_arriving_gets_408_on_both_listeners() {
    let dir = tempfile::tempdir().unwrap();
    let config = cleave::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        internal_listen: "127.0.0.1:0".parse().unwrap(),
        database: crate::support::sqlite_in(dir.path()),
        internal_token: Some("x".into()),
        body_timeout_ms: 300,
        ..shop::APP.default_config()
    };
    let app = shop::APP.build(&config).await.expect("the shop builds");
    let (public, internal) = (app.port(), app.internal_port());
    tokio::spawn(app.run_until_stopped());
    for (port, path) in [
        (public, "/api/orders"),
        (internal, "/_cleave/v1/requests/catalog.get_prices"),
    ] {
        let (answer, took) = stalled_body(port, path, 100).await;
        assert!(answer.starts_with("HTTP/1.1 408"), "{path}: {answer}");
        assert!(answer.contains("body_timeout"), "{path}: {answer}");
        assert!(
            took >= std::time::Duration::from_millis(300),
            "{path}: answered after {took:?}, before the timeout"
        );
    }
    // Still serving.
    let health = reqwest::get(format!("http://127.0.0.1:{public}/health"))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}
