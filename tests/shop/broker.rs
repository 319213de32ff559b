//! Events through NATS JetStream (`events.broker`, ADR 15), with a real `nats-server` (the
//! Debian package; scripts/test.sh installs it): the broker stopped mid-run loses nothing (orders
//! keep being accepted, their events wait in the outbox and flow when it is back), and a
//! billing replica killed mid-run leaves its events to the other; every order is invoiced,
//! paid and told once, checked through the public API.

use std::time::{Duration, Instant};

use cleave::testing::NatsServer;

use crate::postgres::fresh_database;
use crate::support::{ShopProcess, TestShop, free_address, metric_sum, sqlite_in};
use crate::topology::TOKEN;

/// Events the process at `base` published to the broker (its `@broker` outbox queue).
pub(crate) async fn published_to_broker(base: &str) -> f64 {
    metric_sum(
        base,
        "cleave_event_deliveries_total",
        &[("subscriber", "@broker"), ("outcome", "applied")],
    )
    .await
}

/// Events `subscriber`, in the process at `base`, took from the broker and applied.
pub(crate) async fn taken_from_broker(base: &str, subscriber: &str) -> f64 {
    metric_sum(
        base,
        "cleave_event_deliveries_total",
        &[
            ("subscriber", subscriber),
            ("location", "broker"),
            ("outcome", "applied"),
        ],
    )
    .await
}

/// Settings every process of these tests shares: the broker, quick retries.
fn broker_env(url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("SHOP_EVENTS__BROKER", url.to_string()),
        ("SHOP_EVENTS__ACK_WAIT_MS", "1500".into()),
        ("SHOP_OUTBOX__BACKOFF_MAX_MS", "300".into()),
        ("SHOP_INTERNAL_TOKEN", TOKEN.into()),
    ]
}

fn with<'a>(
    base: &'a [(&'static str, String)],
    more: &[(&'static str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    base.iter()
        .map(|(k, v)| (*k, v.as_str()))
        .chain(more.iter().copied())
        .collect()
}

/// The shop with billing in a process of its own, each on its SQLite file in `dir`, events
/// through the broker at `url`; the processes (kept alive by the caller) and a client routing
/// `/api/billing` to billing's.
fn split_shop(dir: &std::path::Path, url: &str) -> (ShopProcess, ShopProcess, TestShop) {
    let (main_dir, billing_dir) = (dir.join("main"), dir.join("billing"));
    std::fs::create_dir_all(&main_dir).unwrap();
    std::fs::create_dir_all(&billing_dir).unwrap();
    let env = broker_env(url);
    // Billing sends no requests, so with a broker it needs no route to anyone: the events it
    // publishes and those it takes all travel through NATS.
    let billing_internal = free_address();
    let billing = ShopProcess::start_on(
        &billing_dir,
        &sqlite_in(&billing_dir),
        "127.0.0.1:0",
        &billing_internal,
        &with(&env, &[("SHOP_MODULES", "billing")]),
    );
    let rest = crate::topology::all_but("billing");
    let billing_url = format!("http://{billing_internal}");
    let main = ShopProcess::start(
        &main_dir,
        &sqlite_in(&main_dir),
        &with(
            &env,
            &[
                ("SHOP_MODULES", rest.as_str()),
                // Receipts call billing: requests still go over HTTP.
                ("SHOP_REMOTE__BILLING", billing_url.as_str()),
            ],
        ),
    );
    let shop = TestShop::routed(
        main.base.clone(),
        vec![("/api/billing".into(), billing.base.clone())],
    );
    (main, billing, shop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broker_stopped_mid_run_loses_and_doubles_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let Some(mut nats) = NatsServer::start(dir.path()) else {
        return;
    };
    let (main, billing, shop) = split_shop(dir.path(), &nats.url());
    shop.stock_product("SOAP", 450, 100_000).await;

    let mut accepted = Vec::new();
    let order = |i: usize| {
        let shop = &shop;
        async move {
            let customer = format!("b{i}");
            let (status, body) = shop.try_order(&customer, &[("SOAP", 1)]).await;
            assert_eq!(status, 201, "{body}");
            (body["id"].as_str().unwrap().to_string(), customer)
        }
    };
    for i in 0..10 {
        accepted.push(order(i).await);
    }
    shop.assert_settled_once(&accepted).await;

    // The broker goes away: orders are still accepted, and wait.
    nats.stop();
    let mut while_down = Vec::new();
    for i in 10..30 {
        while_down.push(order(i).await);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pending = metric_sum(&main.base, "cleave_outbox_pending", &[]).await;
    assert!(
        pending >= 1.0,
        "the events of orders placed while NATS is down wait in the outbox"
    );
    for (id, _) in &while_down {
        assert_eq!(
            shop.order_status(id).await,
            "placed",
            "order {id} paid without a broker?"
        );
    }

    nats.resume();
    accepted.extend(while_down);
    shop.assert_settled_once(&accepted).await;

    // The events went through the broker, not over HTTP.
    let published = published_to_broker(&main.base).await;
    assert!(
        published >= 30.0,
        "orders' events published to NATS: {published}"
    );
    let taken = taken_from_broker(&billing.base, "billing").await;
    assert!(taken >= 30.0, "billing took its events from NATS: {taken}");
    let pending = metric_sum(&main.base, "cleave_outbox_pending", &[]).await;
    assert_eq!(pending, 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_billing_replica_killed_mid_run_leaves_its_events_to_the_other() {
    let (Some(main_db), Some(billing_db)) = (fresh_database().await, fresh_database().await) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let Some(nats) = NatsServer::start(dir.path()) else {
        return;
    };
    let env = broker_env(&nats.url());
    let billing_env = with(&env, &[("SHOP_MODULES", "billing")]);
    let (mut billing, billing_urls) =
        ShopProcess::replicas(dir.path(), &billing_db, 2, &billing_env);
    let rest = crate::topology::all_but("billing");
    let main = ShopProcess::start(
        dir.path(),
        &main_db,
        &with(
            &env,
            &[
                ("SHOP_MODULES", rest.as_str()),
                // Receipts call billing: requests still go to its replicas over HTTP.
                ("SHOP_REMOTE__BILLING", billing_urls.as_str()),
                ("SHOP_EXTRACT__BREAKER_OPEN_MS", "300"),
            ],
        ),
    );
    let survivor = billing[1].as_ref().unwrap().base.clone();
    let shop = TestShop::routed(
        main.base.clone(),
        vec![("/api/billing".into(), survivor.clone())],
    );
    shop.stock_product("SOAP", 450, 100_000).await;

    let started = Instant::now();
    let total = 60;
    let mut accepted = Vec::new();
    let mut first_share = 0.0;
    for i in 0..total {
        let customer = format!("k{i}");
        let (status, body) = shop.try_order(&customer, &[("SOAP", 1)]).await;
        assert_eq!(status, 201, "{body}");
        accepted.push((body["id"].as_str().unwrap().to_string(), customer));
        if i == total / 2 {
            let victim = billing[0].take().unwrap();
            first_share = taken_from_broker(&victim.base, "billing").await;
            victim.kill9();
        }
        let due = started + Duration::from_millis(50 * (i as u64 + 1));
        tokio::time::sleep(due.saturating_duration_since(Instant::now())).await;
    }
    shop.assert_settled_once(&accepted).await;
    let second_share = taken_from_broker(&survivor, "billing").await;
    assert!(
        first_share >= 1.0 && second_share >= 1.0,
        "both replicas took events from the one consumer: {first_share} and {second_share}"
    );
    let (status, receipt) = shop
        .get(&format!("/api/orders/{}/receipt", accepted[0].0))
        .await;
    assert_eq!(status, 200, "{receipt}");
    drop(billing);
}

/// A broker that comes back without its store (no persistence) knows no stream: both sides
/// create the stream and the consumers again, and the events published from then on flow.
/// (What the lost store held is lost with it: give NATS a volume, as `deploy` does.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_back_without_its_store_is_set_up_again() {
    let dir = tempfile::tempdir().unwrap();
    let Some(mut nats) = NatsServer::start(dir.path()) else {
        return;
    };
    let (_main, _billing, shop) = split_shop(dir.path(), &nats.url());
    shop.stock_product("SOAP", 450, 1_000).await;
    let place = async |customer: &str| {
        let (status, body) = shop.try_order(customer, &[("SOAP", 1)]).await;
        assert_eq!(status, 201, "{body}");
        (
            body["id"].as_str().unwrap().to_string(),
            customer.to_string(),
        )
    };
    let before = vec![place("w0").await, place("w1").await];
    shop.assert_settled_once(&before).await;

    nats.stop();
    nats.wipe();
    nats.resume();
    let after = vec![place("w2").await, place("w3").await, place("w4").await];
    shop.assert_settled_once(&after).await;
}
