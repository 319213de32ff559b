//! What an operator scrapes and collects: Prometheus `/metrics` in the monolith and in an
//! extracted process, and spans exported over OTLP by the real binary to a collector in the
//! test.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

use crate::support::{Mode, ShopProcess, TestShop, client, spawn_app, sqlite_in};
use crate::topology::Topology;

/// The value of the sample `name{labels…}` in a Prometheus text page, if there is one; `labels`
/// must all be present, in any order.
fn sample(page: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    page.lines()
        .filter(|line| !line.starts_with('#'))
        .find(|line| {
            let Some(rest) = line.strip_prefix(name) else {
                return false;
            };
            (rest.starts_with('{') || rest.starts_with(' '))
                && labels
                    .iter()
                    .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")))
        })
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

async fn scrape(base: &str) -> String {
    let response = client()
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("GET /metrics");
    assert_eq!(response.status().as_u16(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    response.text().await.unwrap()
}

fn at_least(page: &str, name: &str, labels: &[(&str, &str)], min: f64) {
    let value = sample(page, name, labels)
        .unwrap_or_else(|| panic!("no sample {name}{labels:?} in\n{page}"));
    assert!(value >= min, "{name}{labels:?} = {value}, expected ≥ {min}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_monolith_reports_calls_errors_http_and_outbox_metrics() {
    let shop = spawn_app(Mode::InProcess).await;
    shop.stock_product("PEN", 250, 5).await;
    let order = shop.place_order("ada", &[("PEN", 2)]).await;
    shop.wait_paid(&order).await;
    let (status, _) = shop.try_order("ada", &[("PEN", 50)]).await;
    assert_eq!(status, 409);

    let page = scrape(&shop.base).await;
    // Labelled with the calling module: orders asks for prices and stock.
    let prices = [
        ("caller", "orders"),
        ("module", "catalog"),
        ("message", "catalog.get_prices"),
        ("location", "local"),
    ];
    at_least(&page, "cleave_bus_calls_total", &prices, 2.0);
    // In-process calls are timed one in `LOCAL_TIMING_SAMPLE` of each request, the first
    // one included: the histogram has a sample, its count need not be the number of calls.
    at_least(
        &page,
        "cleave_bus_call_duration_seconds_count",
        &prices,
        1.0,
    );
    let reserve = [
        ("caller", "orders"),
        ("module", "inventory"),
        ("message", "inventory.reserve_stock"),
        ("location", "local"),
    ];
    at_least(&page, "cleave_bus_calls_total", &reserve, 2.0);
    // The refused order is the inventory's domain answer, counted by kind.
    let domain = [reserve.as_slice(), &[("kind", "domain")]].concat();
    assert_eq!(
        sample(&page, "cleave_bus_call_errors_total", &domain),
        Some(1.0),
        "{page}"
    );
    let unavailable = [reserve.as_slice(), &[("kind", "unavailable")]].concat();
    assert_eq!(
        sample(&page, "cleave_bus_call_errors_total", &unavailable),
        Some(0.0)
    );
    // HTTP: by route pattern, not by path.
    let placed = [
        ("method", "POST"),
        ("route", "/api/orders"),
        ("status", "201"),
    ];
    assert_eq!(
        sample(&page, "cleave_http_requests_total", &placed),
        Some(1.0)
    );
    at_least(
        &page,
        "cleave_http_request_duration_seconds_count",
        &[("route", "/api/orders/{id}"), ("status", "200")],
        1.0,
    );
    at_least(
        &page,
        "cleave_http_requests_total",
        &[("route", "/api/orders"), ("status", "409")],
        1.0,
    );
    // What each route causes on the bus (for `plan`): the two orders asked for prices and stock
    // each; only the accepted one published its event.
    let caused = |kind: &'static str, message: &'static str| {
        sample(
            &page,
            "cleave_route_messages_total",
            &[
                ("method", "POST"),
                ("route", "/api/orders"),
                ("kind", kind),
                ("message", message),
            ],
        )
    };
    assert_eq!(caused("request", "catalog.get_prices"), Some(2.0), "{page}");
    assert_eq!(caused("request", "inventory.reserve_stock"), Some(2.0));
    assert_eq!(caused("event", "orders.order_placed"), Some(1.0));
    // Message sizes as they would be on the wire: the sampled first call of each edge, and
    // every published event.
    at_least(&page, "cleave_bus_request_bytes_count", &prices, 1.0);
    at_least(&page, "cleave_bus_response_bytes_sum", &prices, 10.0);
    let placed_event = [("publisher", "orders"), ("event", "orders.order_placed")];
    assert_eq!(
        sample(&page, "cleave_events_published_total", &placed_event),
        Some(1.0)
    );
    at_least(&page, "cleave_event_bytes_sum", &placed_event, 100.0);
    assert_eq!(
        sample(
            &page,
            "cleave_events_published_total",
            &[
                ("publisher", "billing"),
                ("event", "billing.payment_captured")
            ]
        ),
        Some(1.0),
        "billing's subscriber published once, outside any public request"
    );
    // ...and that is counted against the event it handled: what one event fans out to.
    let handled = [("subscriber", "billing"), ("event", "orders.order_placed")];
    assert_eq!(
        sample(&page, "cleave_events_applied_total", &handled),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &page,
            "cleave_event_messages_total",
            &[
                handled.as_slice(),
                &[("kind", "event"), ("message", "billing.payment_captured")]
            ]
            .concat()
        ),
        Some(1.0),
        "{page}"
    );
    // The outbox is counted when scraped.
    for gauge in [
        "cleave_outbox_pending",
        "cleave_outbox_failed",
        "cleave_outbox_oldest_pending_age_seconds",
    ] {
        assert!(sample(&page, gauge, &[]).is_some(), "no {gauge} in\n{page}");
    }
    assert_eq!(sample(&page, "cleave_outbox_failed", &[]), Some(0.0));
    // Every family says what it is.
    for family in [
        "cleave_bus_calls_total counter",
        "cleave_bus_call_duration_seconds histogram",
        "cleave_http_requests_total counter",
        "cleave_outbox_pending gauge",
    ] {
        assert!(
            page.contains(&format!("# TYPE {family}")),
            "{family}: {page}"
        );
        let name = family.split(' ').next().unwrap();
        assert!(page.contains(&format!("# HELP {name} ")), "{name}: {page}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_extracted_module_is_counted_as_remote_by_its_callers() {
    let topology = Topology::extracting("catalog", Mode::InProcess).await;
    let shop = topology.shop();
    shop.stock_product("INK", 120, 5).await;
    let order = shop.place_order("bob", &[("INK", 1)]).await;
    shop.wait_paid(&order).await;

    // The caller's process: orders calls catalog over the network, inventory in-process.
    let caller = scrape(&topology.public_url_of("orders")).await;
    let prices = [
        ("caller", "orders"),
        ("module", "catalog"),
        ("message", "catalog.get_prices"),
        ("location", "remote"),
    ];
    at_least(&caller, "cleave_bus_calls_total", &prices, 1.0);
    at_least(
        &caller,
        "cleave_bus_call_duration_seconds_count",
        &prices,
        1.0,
    );
    assert_eq!(
        sample(
            &caller,
            "cleave_bus_call_errors_total",
            &[prices.as_slice(), &[("kind", "unavailable")]].concat()
        ),
        Some(0.0),
        "{caller}"
    );
    // Every call over the network is measured: as many request sizes as calls.
    assert_eq!(
        sample(&caller, "cleave_bus_request_bytes_count", &prices),
        sample(&caller, "cleave_bus_calls_total", &prices),
        "{caller}"
    );
    at_least(
        &caller,
        "cleave_bus_calls_total",
        &[
            ("caller", "orders"),
            ("message", "inventory.reserve_stock"),
            ("location", "local"),
        ],
        1.0,
    );
    assert!(sample(&caller, "cleave_outbox_pending", &[]).is_some());

    // The extracted process serves /metrics on both listeners, with its own HTTP traffic.
    let catalog = scrape(&topology.public_url_of("catalog")).await;
    at_least(
        &catalog,
        "cleave_http_requests_total",
        &[
            ("method", "POST"),
            ("route", "/api/catalog/products"),
            ("status", "201"),
        ],
        1.0,
    );
    assert!(sample(&catalog, "cleave_outbox_pending", &[]).is_some());
    assert!(
        sample(&catalog, "cleave_bus_calls_total", &prices).is_none(),
        "the callee does not count its callers' calls as its own:\n{catalog}"
    );
    let internal = scrape(&topology.internal_url_of("catalog")).await;
    assert!(sample(&internal, "cleave_outbox_failed", &[]).is_some());
}

/// An OTLP/HTTP receiver that keeps every span it is sent (JSON encoding).
#[derive(Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<Value>>>,
}

impl Collector {
    fn spans(&self) -> Vec<Value> {
        self.spans.lock().unwrap().clone()
    }
}

async fn receive_traces(collector: web::Data<Collector>, body: web::Bytes) -> HttpResponse {
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return HttpResponse::BadRequest().finish();
    };
    let mut spans = collector.spans.lock().unwrap();
    for resource in request["resourceSpans"].as_array().into_iter().flatten() {
        for scope in resource["scopeSpans"].as_array().into_iter().flatten() {
            for span in scope["spans"].as_array().into_iter().flatten() {
                let mut span = span.clone();
                span["resource"] = resource["resource"].clone();
                spans.push(span);
            }
        }
    }
    HttpResponse::Ok().json(json!({}))
}

/// A span's string attribute.
fn attribute<'a>(span: &'a Value, key: &str) -> Option<&'a str> {
    span["attributes"]
        .as_array()?
        .iter()
        .find(|a| a["key"] == key)?["value"]["stringValue"]
        .as_str()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_exports_its_spans_to_an_otlp_collector() {
    let collector = Collector::default();
    let data = web::Data::new(collector.clone());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(web::PayloadConfig::new(16 * 1024 * 1024))
            .route("/v1/traces", web::post().to(receive_traces))
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    let server_handle = server.handle();
    tokio::spawn(server);

    let dir = tempfile::tempdir().unwrap();
    let process = ShopProcess::start(
        dir.path(),
        &sqlite_in(dir.path()),
        &[
            ("SHOP_TELEMETRY__OTLP_ENDPOINT", &endpoint),
            ("SHOP_TELEMETRY__SERVICE_NAME", "shop-under-test"),
            // Export every 100 ms instead of every 5 s.
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ],
    );
    let shop = TestShop::at(process.base.clone());
    shop.stock_product("MUG", 900, 3).await;
    let response = shop
        .client
        .post(shop.url("/api/orders"))
        .json(&json!({"customer": "eve", "lines": [{"sku": "MUG", "quantity": 1}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    let traceparent = response.headers()["traceparent"]
        .to_str()
        .unwrap()
        .to_string();
    let trace_id = traceparent.split('-').nth(1).unwrap().to_string();
    let order: Value = response.json().await.unwrap();
    shop.wait_paid(order["id"].as_str().unwrap()).await;

    let in_trace = |spans: &[Value], name: &str| -> Vec<Value> {
        spans
            .iter()
            .filter(|s| s["name"] == name && s["traceId"] == trace_id.as_str())
            .cloned()
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let spans = loop {
        let spans = collector.spans();
        if !in_trace(&spans, "bus_call").is_empty()
            && !in_trace(&spans, "http_request").is_empty()
            && !in_trace(&spans, "event_delivery").is_empty()
        {
            break spans;
        }
        assert!(
            Instant::now() < deadline,
            "the collector did not receive the order's spans; it has {} spans: {:#?}",
            spans.len(),
            spans
                .iter()
                .map(|s| (s["name"].clone(), s["traceId"].clone()))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    let request = &in_trace(&spans, "http_request")[0];
    assert_eq!(
        attribute(request, "route"),
        Some("/api/orders"),
        "{request}"
    );
    assert_eq!(attribute(request, "method"), Some("POST"));
    let calls = in_trace(&spans, "bus_call");
    let prices = calls
        .iter()
        .find(|s| attribute(s, "message") == Some("catalog.get_prices"))
        .unwrap_or_else(|| panic!("no bus_call span for catalog.get_prices: {calls:#?}"));
    assert_eq!(attribute(prices, "module"), Some("catalog"));
    assert_eq!(attribute(prices, "location"), Some("local"));
    assert_eq!(
        prices["parentSpanId"], request["spanId"],
        "the call is a child of the request"
    );
    assert!(
        calls
            .iter()
            .any(|s| attribute(s, "message") == Some("inventory.reserve_stock")),
        "{calls:#?}"
    );
    let deliveries = in_trace(&spans, "event_delivery");
    assert!(
        deliveries
            .iter()
            .any(|s| attribute(s, "subscriber") == Some("billing")
                && attribute(s, "event") == Some("orders.order_placed")
                && attribute(s, "location") == Some("local")),
        "{deliveries:#?}"
    );
    let service = request["resource"]["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["key"] == "service.name")
        .map(|a| a["value"]["stringValue"].clone());
    assert_eq!(service, Some(json!("shop-under-test")));

    assert!(process.terminate().success());
    server_handle.stop(false).await;
}

/// Delivered outbox rows and inbox entries are removed once older than their retention age,
/// and the gauges of `/metrics` show the tables shrinking back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_keeps_the_outbox_and_inbox_bounded() {
    let shop = crate::support::spawn_app_with(Mode::InProcess, None, |config| {
        config.outbox.retain_delivered_s = 1;
        config.outbox.retain_inbox_s = 1;
        config.outbox.retention_interval_s = 1;
    })
    .await;
    shop.stock_product("CLIP", 10, 1_000).await;
    let mut orders = Vec::new();
    for i in 0..30 {
        orders.push(shop.place_order(&format!("r{i}"), &[("CLIP", 1)]).await);
    }
    for id in &orders {
        shop.wait_paid(id).await;
    }
    let page = scrape(&shop.base).await;
    let kept = sample(&page, "cleave_outbox_delivered", &[]).unwrap_or(0.0)
        + sample(&page, "cleave_inbox_entries", &[]).unwrap_or(0.0);
    assert!(kept > 0.0, "rows are kept a while: {page}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let page = scrape(&shop.base).await;
        let delivered = sample(&page, "cleave_outbox_delivered", &[]);
        let inbox = sample(&page, "cleave_inbox_entries", &[]);
        let pending = sample(&page, "cleave_outbox_pending", &[]);
        if (delivered, inbox, pending) == (Some(0.0), Some(0.0), Some(0.0)) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "retention did not empty the tables: delivered {delivered:?}, inbox {inbox:?}, pending {pending:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // The orders themselves are untouched.
    assert_eq!(shop.order_status(&orders[0]).await, "paid");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_can_stay_on_the_internal_listener() {
    let dir = tempfile::tempdir().unwrap();
    let config = cleave::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        internal_listen: "127.0.0.1:0".parse().unwrap(),
        database: crate::support::sqlite_in(dir.path()),
        public_metrics: false,
        ..shop::APP.default_config()
    };
    let app = shop::APP.build(&config).await.expect("the shop builds");
    let (public, internal) = (app.port(), app.internal_port());
    tokio::spawn(app.run_until_stopped());
    let get = |port: u16| async move {
        reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
            .await
            .unwrap()
            .status()
    };
    assert_eq!(get(public).await, 404, "not on the public listener");
    assert_eq!(get(internal).await, 200, "on the internal one");
}
