//! The kill loop: the real binary SIGKILLed at random moments, mid-request included, over and
//! over, while a client keeps placing orders and sends every unanswered one again with the same
//! `Idempotency-Key`. Afterwards, through the API and the databases: every accepted order paid
//! once and told twice, no order placed twice, no reservation left held, no stock left reserved.
//! Once with the monolith killed, once with an extracted billing killed.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::watch;

use crate::support::{ShopProcess, TestShop, count, free_address, sqlite_in};
use crate::topology::TOKEN;

/// Kills per part; two parts.
const KILLS: usize = 15;

/// What the client got: the accepted orders, by id and customer.
type Accepted = Vec<(String, String)>;

/// Places orders one after the other at `base` (which changes when the process is restarted),
/// each with its own key, sending an unanswered one again with the same key until it is
/// answered, until told to stop.
async fn keep_ordering(
    mut base: watch::Receiver<String>,
    mut stop: watch::Receiver<bool>,
) -> Accepted {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let mut accepted = Vec::new();
    for n in 0.. {
        if *stop.borrow_and_update() {
            break;
        }
        let customer = format!("k{n}");
        let key = format!("kill-loop-{n}");
        let body = json!({"customer": customer, "lines": [{"sku": "KILN", "quantity": 1}]});
        loop {
            let url = format!("{}/api/orders", *base.borrow_and_update());
            let sent = client
                .post(&url)
                .header("idempotency-key", &key)
                .json(&body)
                .send()
                .await;
            match sent {
                Ok(r) if r.status() == 201 => {
                    let answer: Value = r.json().await.unwrap();
                    accepted.push((answer["id"].as_str().unwrap().to_string(), customer));
                    break;
                }
                Ok(r) if r.status().is_server_error() => {
                    // The process is starting or stopping; the key makes trying again safe.
                }
                Ok(r) => panic!("order refused: {} {}", r.status(), r.text().await.unwrap()),
                Err(_) => {
                    // No answer: the process died with the request in flight (or before).
                    tokio::select! {
                        _ = base.changed() => {}
                        _ = tokio::time::sleep(Duration::from_millis(20)) => {}
                    }
                }
            }
        }
        let _ = stop.has_changed();
    }
    accepted
}

fn settings() -> Vec<(&'static str, &'static str)> {
    vec![
        ("SHOP_MODULE__INVENTORY__RESERVATION_TTL_S", "2"),
        ("SHOP_MODULE__INVENTORY__SWEEP_EVERY_S", "1"),
        ("SHOP_INTERNAL_TOKEN", TOKEN),
    ]
}

/// Every accepted order paid once, told twice, stored once; nothing held or reserved.
async fn check(shop: &TestShop, accepted: &Accepted, shop_db: &str, initial_stock: i64) {
    assert!(
        accepted.len() >= KILLS,
        "too few orders: {}",
        accepted.len()
    );
    eprintln!("{KILLS} kills, {} orders accepted", accepted.len());
    shop.assert_settled_once(accepted).await;
    let orders = count(shop_db, "SELECT COUNT(*) FROM orders_orders").await;
    assert_eq!(
        orders,
        accepted.len() as i64,
        "an order answered once is stored once"
    );
    // Every order is paid, so everything it reserved is sold; whatever was reserved for an
    // order that never got stored has lapsed and been given back.
    let sold = accepted.len() as i64;
    shop.wait_stock("KILN", initial_stock - sold, 0).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let held = count(
            shop_db,
            "SELECT COUNT(*) FROM inventory_reservations WHERE state = 'held'",
        )
        .await;
        if held == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{held} reservations still held");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    shop.wait_stock("KILN", initial_stock - sold, 0).await;
}

async fn restart_delay() {
    tokio::time::sleep(Duration::from_millis(fastrand::u64(50..400))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_monolith_killed_over_and_over_loses_and_doubles_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let database = sqlite_in(dir.path());
    let env = settings();
    let mut process = ShopProcess::start(dir.path(), &database, &env);
    let initial = 100_000;
    TestShop::at(process.base.clone())
        .stock_product("KILN", 300, initial as u32)
        .await;
    let (base_tx, base_rx) = watch::channel(process.base.clone());
    let (stop_tx, stop_rx) = watch::channel(false);
    let orders = tokio::spawn(keep_ordering(base_rx, stop_rx));
    for _ in 0..KILLS {
        restart_delay().await;
        process.kill9();
        process = ShopProcess::start(dir.path(), &database, &env);
        base_tx.send_replace(process.base.clone());
    }
    restart_delay().await;
    stop_tx.send_replace(true);
    let accepted = tokio::time::timeout(Duration::from_secs(60), orders)
        .await
        .expect("the client finishes")
        .unwrap();
    let shop = TestShop::at(process.base.clone());
    check(&shop, &accepted, &database, initial).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_extracted_billing_killed_over_and_over_loses_and_doubles_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let main_db = sqlite_in(dir.path());
    let billing_dir = tempfile::tempdir().unwrap();
    let billing_db = sqlite_in(billing_dir.path());
    let (main_internal, billing_internal) = (free_address(), free_address());
    let main_url = format!("http://{main_internal}");
    let billing_url = format!("http://{billing_internal}");
    let mut billing_env = settings();
    billing_env.extend([
        ("SHOP_MODULES", "billing"),
        ("SHOP_REMOTE__ORDERS", main_url.as_str()),
        ("SHOP_REMOTE__NOTIFICATIONS", main_url.as_str()),
    ]);
    let rest = crate::topology::all_but("billing");
    let mut main_env = settings();
    main_env.extend([
        ("SHOP_MODULES", rest.as_str()),
        ("SHOP_REMOTE__BILLING", billing_url.as_str()),
        ("SHOP_EXTRACT__BREAKER_OPEN_MS", "200"),
    ]);
    let start_billing = || {
        ShopProcess::start_on(
            billing_dir.path(),
            &billing_db,
            "127.0.0.1:0",
            &billing_internal,
            &billing_env,
        )
    };
    let main = ShopProcess::start_on(
        dir.path(),
        &main_db,
        "127.0.0.1:0",
        &main_internal,
        &main_env,
    );
    let mut billing = start_billing();
    let initial = 100_000;
    TestShop::at(main.base.clone())
        .stock_product("KILN", 300, initial as u32)
        .await;
    let (_base_tx, base_rx) = watch::channel(main.base.clone());
    let (stop_tx, stop_rx) = watch::channel(false);
    let orders = tokio::spawn(keep_ordering(base_rx, stop_rx));
    for _ in 0..KILLS {
        restart_delay().await;
        billing.kill9();
        billing = start_billing();
    }
    restart_delay().await;
    stop_tx.send_replace(true);
    let accepted = tokio::time::timeout(Duration::from_secs(60), orders)
        .await
        .expect("the client finishes")
        .unwrap();
    let shop = TestShop::routed(
        main.base.clone(),
        vec![("/api/billing".to_string(), billing.base.clone())],
    );
    check(&shop, &accepted, &main_db, initial).await;
}
