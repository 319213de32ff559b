//! The internal endpoints refuse what they should, clearly, and stay up.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::Mode;
use crate::topology::{TOKEN, Topology, modules};

/// Path, token, contract header, body, expected status and error code.
type Case<'a> = (
    &'a str,
    Option<&'a str>,
    Option<&'a str>,
    Vec<u8>,
    StatusCode,
    &'a str,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_endpoints_check_token_destination_version_size_and_body() {
    let topology = Topology::extracting("catalog", Mode::InProcess).await;
    let shop = topology.shop();
    shop.stock_product("PEN", 150, 5).await;
    let base = topology.internal_url_of("catalog");
    let client = reqwest::Client::new();
    let post = |path: &str, token: Option<&str>, contract: Option<&str>, body: Vec<u8>| {
        let mut request = client
            .post(format!("{base}{path}"))
            .header("content-type", "application/json")
            .body(body);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        if let Some(contract) = contract {
            request = request.header("cleave-contract", contract);
        }
        async move {
            let response = request.send().await.expect("the internal listener answers");
            let status = response.status();
            let outcome = response
                .headers()
                .get("cleave-outcome")
                .map(|v| v.to_str().unwrap().to_string());
            let body: Value = response.json().await.unwrap_or(Value::Null);
            (status, outcome, body)
        }
    };
    let prices = "/_cleave/v1/requests/catalog.get_prices";
    let good = br#"{"skus": ["PEN"]}"#.to_vec();

    let (status, _, body) = post(prices, Some(TOKEN), Some("catalog/1.0"), good.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["products"][0]["price_cents"], 150);

    let (status, outcome, body) = post(
        prices,
        Some(TOKEN),
        Some("catalog/1.0"),
        br#"{"skus": ["NOPE"]}"#.to_vec(),
    )
    .await;
    assert_eq!(
        (status, outcome.as_deref()),
        (StatusCode::OK, Some("domain-error"))
    );
    assert_eq!(body["code"], "unknown_skus");

    let huge = format!(r#"{{"skus": ["{}"]}}"#, "x".repeat(2 * 1024 * 1024)).into_bytes();
    let cases: Vec<Case<'_>> = vec![
        (
            prices,
            None,
            Some("catalog/1.0"),
            good.clone(),
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        ),
        (
            prices,
            Some("wrong"),
            Some("catalog/1.0"),
            good.clone(),
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        ),
        (
            "/_cleave/v1/requests/catalog.nothing",
            Some(TOKEN),
            Some("catalog/1.0"),
            good.clone(),
            StatusCode::NOT_FOUND,
            "unknown_request",
        ),
        (
            "/_cleave/v1/requests/orders.anything",
            Some(TOKEN),
            Some("orders/1.0"),
            good.clone(),
            StatusCode::NOT_FOUND,
            "unknown_request",
        ),
        (
            prices,
            Some(TOKEN),
            None,
            good.clone(),
            StatusCode::BAD_REQUEST,
            "missing_contract",
        ),
        (
            prices,
            Some(TOKEN),
            Some("catalog/2.0"),
            good.clone(),
            StatusCode::CONFLICT,
            "incompatible_contract",
        ),
        (
            prices,
            Some(TOKEN),
            Some("catalog/1.0"),
            b"{not json".to_vec(),
            StatusCode::BAD_REQUEST,
            "bad_payload",
        ),
        (
            prices,
            Some(TOKEN),
            Some("catalog/1.0"),
            br#"{"sku": 1}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "bad_payload",
        ),
        (
            prices,
            Some(TOKEN),
            Some("catalog/1.0"),
            huge,
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
        (
            "/_cleave/v1/events/catalog",
            Some(TOKEN),
            Some("orders/1.0"),
            b"{}".to_vec(),
            StatusCode::NOT_FOUND,
            "unknown_subscriber",
        ),
        (
            "/_cleave/v1/events/notifications",
            Some(TOKEN),
            Some("orders/1.0"),
            b"{}".to_vec(),
            StatusCode::NOT_FOUND,
            "unknown_subscriber",
        ),
    ];
    for (path, token, contract, body, status, code) in cases {
        let (got, _, error) = post(path, token, contract, body).await;
        assert_documented(path, got, &error);
        assert_eq!(got, status, "{path} {token:?} {contract:?}: {error}");
        assert_eq!(error["error"], code, "{path}: {error}");
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
    }

    // A request comes only from a module that declares it sends it.
    let from = |sender: &str| {
        client
            .post(format!("{base}{prices}"))
            .header("authorization", format!("Bearer {TOKEN}"))
            .header("cleave-contract", "catalog/1.0")
            .header("cleave-sender", sender.to_string())
            .header("content-type", "application/json")
            .body(good.clone())
            .send()
    };
    let answer = from("orders").await.unwrap();
    assert_eq!(
        answer.status(),
        StatusCode::OK,
        "orders sends catalog.get_prices"
    );
    let answer = from("notifications").await.unwrap();
    let status = answer.status();
    let error: Value = answer.json().await.unwrap();
    assert_documented(prices, status, &error);
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(error["error"], "forbidden_sender");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("`notifications` does not declare that it sends `catalog.get_prices`"),
        "{error}"
    );
    let answer = from("Not A Module").await.unwrap();
    let status = answer.status();
    assert_documented(prices, status, &answer.json().await.unwrap());
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // A known path asked with another method: 405 with what it allows.
    let answer = client.get(format!("{base}{prices}")).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(answer.headers()["allow"], "POST");

    // Event intake on the process that hosts notifications.
    let events = topology.internal_url_of("notifications");
    let envelope = |publisher: &str| {
        json!({
            "id": "01900000-0000-7000-8000-000000000001",
            "name": "orders.order_placed",
            "publisher": publisher,
            "published_at_ms": 0,
            "payload": {"order_id": "01900000-0000-7000-8000-000000000002", "customer": "zed", "lines": [], "total_cents": 5}
        })
    };
    let send_from = |sender: Option<&str>, contract: &'static str, body: Value| {
        let mut request = client
            .post(format!("{events}/_cleave/v1/events/notifications"))
            .header("authorization", format!("Bearer {TOKEN}"))
            .header("cleave-contract", contract)
            .json(&body);
        if let Some(sender) = sender {
            request = request.header("cleave-sender", sender);
        }
        async move {
            let response = request.send().await.unwrap();
            (
                response.status(),
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let send_event =
        |contract: &'static str, body: Value| send_from(Some("orders"), contract, body);
    let (status, body) = send_event("orders/9.0", envelope("orders")).await;
    assert_documented("/_cleave/v1/events/notifications", status, &body);
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, body) = send_event("orders/1.0", json!({"id": 1})).await;
    assert_documented("/_cleave/v1/events/notifications", status, &body);
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // An event comes from its publisher only: not from another module speaking for it, not
    // from a module that names itself but does not publish it, not from a tool.
    let forged = [
        (
            Some("billing"),
            "billing/1.1",
            envelope("orders"),
            "sent by `billing`",
        ),
        (
            Some("billing"),
            "billing/1.1",
            envelope("billing"),
            "does not publish",
        ),
        (None, "orders/1.0", envelope("orders"), "sent by `external`"),
    ];
    for (sender, contract, body, says) in forged {
        let (status, error) = send_from(sender, contract, body).await;
        assert_documented("/_cleave/v1/events/notifications", status, &error);
        assert_eq!(status, StatusCode::FORBIDDEN, "{sender:?}: {error}");
        assert_eq!(error["error"], "forbidden_sender", "{error}");
        let message = error["message"].as_str().unwrap();
        assert!(message.contains(says), "{message}");
    }
    assert!(
        shop.notifications("zed").await.is_empty(),
        "nothing refused was applied"
    );

    let mut answers = Vec::new();
    for _ in 0..2 {
        let (status, body) = send_event("orders/1.0", envelope("orders")).await;
        assert_documented("/_cleave/v1/events/notifications", status, &body);
        assert_eq!(status, StatusCode::OK, "{body}");
        answers.push(body["status"].clone());
    }
    assert_eq!(
        answers,
        [json!("applied"), json!("duplicate")],
        "a duplicate is acknowledged, and says so"
    );
    assert_eq!(shop.notifications("zed").await.len(), 1, "applied once");

    // Still serving after all of that.
    let (status, _) = shop.get("/api/catalog/products/PEN").await;
    assert_eq!(status, 200);
}

/// The generated OpenAPI document of the internal endpoints documents `status` for `POST
/// path` and, for an error, its code under that status. Paths of messages nobody handles are
/// not in the document: they can only be 404 `unknown_request` / `unknown_subscriber`.
fn assert_documented(path: &str, status: StatusCode, body: &Value) {
    static SPEC: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    let spec = SPEC.get_or_init(|| {
        serde_json::from_str(&cleave_app::wire_spec_file(&shop::APP)).expect("the spec is JSON")
    });
    let Some(operation) = spec["paths"].get(path).map(|p| &p["post"]) else {
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        assert!(
            ["unknown_request", "unknown_subscriber"].contains(&body["error"].as_str().unwrap()),
            "{path}: {body}"
        );
        return;
    };
    let answer = &operation["responses"][status.as_str()];
    assert!(
        answer.is_object(),
        "POST {path} answered {status}, which the wire spec does not document: {body}"
    );
    if !status.is_success() {
        let codes = &answer["content"]["application/json"]["schema"]["allOf"][1]["properties"]["error"]
            ["enum"];
        assert!(
            codes.as_array().unwrap().contains(&body["error"]),
            "POST {path} answered {status} {}, not among the documented {codes}",
            body["error"]
        );
    }
}

/// `GET url` on an internal listener, with `token` as bearer token if given.
async fn get_internal(url: &str, token: Option<&str>) -> (StatusCode, Value) {
    let mut request = reqwest::Client::new().get(url);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let response = request.send().await.expect("the internal listener answers");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_structure_endpoint_shows_where_each_module_runs() {
    let topology = Topology::extracting("billing", Mode::InProcess).await;
    let shop = topology.shop();
    let main = topology.internal_url_of("orders");
    let url = format!("{main}/_cleave/modules");
    assert_eq!(get_internal(&url, None).await.0, StatusCode::UNAUTHORIZED);

    shop.stock_product("PEN", 150, 5).await;
    let id = shop.place_order("uma", &[("PEN", 1)]).await;
    shop.wait_paid(&id).await;
    let (status, body) = get_internal(&url, Some(TOKEN)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let listed = body["modules"].as_array().unwrap();
    let names: Vec<&str> = listed.iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(names, modules());
    let billing = &listed[0];
    assert_eq!(billing["location"], "remote");
    assert_eq!(billing["url"], topology.internal_url_of("billing"));
    assert_eq!(billing["contract_version"], "1.1");
    let orders = listed.iter().find(|m| m["name"] == "orders").unwrap();
    assert_eq!(orders["location"], "local");
    assert_eq!(orders["outbox"], json!({"pending": 0, "failed": 0}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_internal_listener_publishes_the_hosted_contracts() {
    let topology = Topology::extracting("billing", Mode::InProcess).await;
    let billing = topology.internal_url_of("billing");
    let url = format!("{billing}/_cleave/contracts");
    assert_eq!(get_internal(&url, None).await.0, StatusCode::UNAUTHORIZED);
    let (status, body) = get_internal(&url, Some(TOKEN)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let contracts = body["contracts"].as_object().unwrap();
    assert_eq!(
        contracts.keys().collect::<Vec<_>>(),
        ["billing"],
        "only what this process hosts"
    );
    assert_eq!(
        contracts["billing"],
        cleave_app::published_contract(
            cleave::modules()
                .into_iter()
                .find(|m| m.name() == "billing")
                .unwrap()
        )
    );
}
