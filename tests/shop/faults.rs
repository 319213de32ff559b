//! Faults between processes: a module's process stops mid-flow and comes back.

use std::time::{Duration, Instant};

use cleave::outbox;

use crate::support::Mode;
use crate::topology::Topology;

async fn deliveries(database: &str, status: &str) -> Vec<outbox::DeliveryView> {
    let db = crate::support::open_db(database).await;
    let rows = outbox::list(db.read(), &[status]).await.unwrap();
    db.close().await;
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn billing_stopped_mid_flow_loses_and_duplicates_nothing() {
    let mut topology = Topology::extracting("billing", Mode::InProcess).await;
    let shop = topology.shop();
    shop.stock_product("BOOK", 1200, 50).await;
    let first = shop.place_order("before", &[("BOOK", 1)]).await;
    shop.wait_paid(&first).await;

    topology.stop("billing").await;
    // Orders need only local modules: they keep being accepted while billing is down.
    let mut during = Vec::new();
    for i in 0..4 {
        let customer = format!("during{i}");
        during.push((shop.place_order(&customer, &[("BOOK", 1)]).await, customer));
    }
    for (id, _) in &during {
        assert_eq!(shop.order_status(id).await, "placed");
    }
    // Their events for billing wait in the outbox; none was given up on.
    let main = topology.database_of("orders");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let waiting = deliveries(&main, outbox::PENDING).await;
        let for_billing = waiting.iter().filter(|d| d.subscriber == "billing").count();
        if for_billing == during.len() && waiting.iter().any(|d| d.attempts > 0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "deliveries to billing: {waiting:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    topology.restart("billing").await;
    for (id, customer) in during
        .iter()
        .chain([(first.clone(), "before".to_string())].iter())
    {
        shop.wait_paid(id).await;
        let invoices = shop.invoices(id).await;
        assert_eq!(invoices.len(), 1, "order {id}: {invoices:?}");
        assert_eq!(invoices[0]["payments"].as_array().unwrap().len(), 1);
        let deadline = Instant::now() + Duration::from_secs(10);
        while shop.notifications(customer).await.len() < 2 {
            assert!(Instant::now() < deadline, "{customer} not told twice");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    for (_, customer) in &during {
        assert_eq!(shop.notifications(customer).await.len(), 2, "{customer}");
    }
    for module in ["orders", "billing"] {
        let database = topology.database_of(module);
        assert!(
            deliveries(&database, outbox::FAILED).await.is_empty(),
            "{module}"
        );
        assert!(
            deliveries(&database, outbox::PENDING).await.is_empty(),
            "{module}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_module_is_a_fast_503_behind_a_breaker_then_recovers() {
    let mut topology = Topology::extracting("catalog", Mode::InProcess).await;
    let shop = topology.shop();
    shop.stock_product("MUG", 700, 10).await;
    topology.stop("catalog").await;

    let mut messages = Vec::new();
    for _ in 0..4 {
        let started = Instant::now();
        let (status, body) = shop.try_order("dana", &[("MUG", 1)]).await;
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["error"], "unavailable");
        // Bounded by the 1 s timeout, not hanging (connection refused fails sooner still).
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        messages.push(body["message"].as_str().unwrap().to_string());
    }
    assert!(messages[0].contains("catalog"), "{messages:?}");
    assert!(
        messages.iter().any(|m| m.contains("circuit open")),
        "the breaker opens after repeated failures: {messages:?}"
    );
    let (_, stock) = shop.get("/api/inventory/stock/MUG").await;
    assert_eq!(stock["reserved"], 0, "a refused order reserves nothing");

    topology.restart("catalog").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = shop.try_order("dana", &[("MUG", 1)]).await;
        if status == 201 {
            shop.wait_paid(body["id"].as_str().unwrap()).await;
            break;
        }
        assert_eq!(status, 503, "{body}");
        assert!(Instant::now() < deadline, "catalog never came back: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One order is one trace, across the HTTP hop to billing and back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_order_is_one_trace_across_processes() {
    let topology = Topology::extracting("billing", Mode::InProcess).await;
    let shop = topology.shop();
    shop.stock_product("BOOK", 1200, 5).await;
    let trace = cleave::trace::TraceContext::new_root();
    let response = shop
        .client
        .post(shop.url("/api/orders"))
        .header("traceparent", trace.header())
        .json(&serde_json::json!({"customer": "tia", "lines": [{"sku": "BOOK", "quantity": 1}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    let answered = response.headers()["traceparent"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(answered.contains(&trace.trace_id), "{answered}");
    let body: serde_json::Value = response.json().await.unwrap();
    shop.wait_paid(body["id"].as_str().unwrap()).await;

    // OrderPlaced (published in the orders process) and PaymentCaptured (published by billing
    // while applying OrderPlaced, in the other process) both belong to the order's trace.
    for (module, event) in [
        ("orders", "orders.order_placed"),
        ("billing", "billing.payment_captured"),
    ] {
        let db = crate::support::open_db(&topology.database_of(module)).await;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        let rows = outbox::entry::Entity::find()
            .filter(outbox::entry::Column::EventName.eq(event))
            .all(db.read())
            .await
            .unwrap();
        assert!(!rows.is_empty(), "{event}");
        for row in rows {
            let parent = row.traceparent.unwrap_or_default();
            assert!(parent.contains(&trace.trace_id), "{event}: {parent}");
        }
    }
}

/// `/ready` tells a load balancer (and a person) whether the process can work: it turns 503,
/// naming the remote module, while that module's process is down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_reports_a_remote_module_that_is_down() {
    let mut topology = Topology::extracting("billing", Mode::InProcess).await;
    let shop = topology.shop();
    let (status, body) = shop.get("/ready").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ready");
    assert_eq!(body["checks"]["database"]["ok"], true);
    assert_eq!(body["checks"]["remote_modules"]["billing"]["ok"], true);

    topology.stop("billing").await;
    let (status, body) = shop.get("/ready").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "not_ready");
    assert_eq!(body["checks"]["remote_modules"]["billing"]["ok"], false);
    let (status, _) = shop.get("/health").await;
    assert_eq!(status, 200, "alive though not ready");
}
