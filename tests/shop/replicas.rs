//! An extracted module in several replicas: callers balance over them, events reach exactly
//! one, and a replica killed under load loses and doubles nothing. Real binaries, with the
//! replicas sharing their module's PostgreSQL database.

use std::time::{Duration, Instant};

use crate::postgres::fresh_database;
use crate::support::{ShopProcess, TestShop, free_address};
use crate::topology::TOKEN;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_billing_replicas_one_killed_under_load_lose_and_double_nothing() {
    let (Some(main_db), Some(billing_db)) = (fresh_database().await, fresh_database().await) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let main_internal = free_address();
    let main_url = format!("http://{main_internal}");
    let billing_env = [
        ("SHOP_MODULES", "billing"),
        ("SHOP_REMOTE__ORDERS", main_url.as_str()),
        ("SHOP_REMOTE__NOTIFICATIONS", main_url.as_str()),
        ("SHOP_INTERNAL_TOKEN", TOKEN),
        ("SHOP_OUTBOX__LEASE_MS", "1500"),
        ("SHOP_EXTRACT__BREAKER_OPEN_MS", "300"),
    ];
    let (mut billing, billing_urls) =
        ShopProcess::replicas(dir.path(), &billing_db, 2, &billing_env);
    let rest = crate::topology::all_but("billing");
    let main = ShopProcess::start_on(
        dir.path(),
        &main_db,
        "127.0.0.1:0",
        &main_internal,
        &[
            ("SHOP_MODULES", rest.as_str()),
            ("SHOP_REMOTE__BILLING", billing_urls.as_str()),
            ("SHOP_INTERNAL_TOKEN", TOKEN),
            ("SHOP_OUTBOX__LEASE_MS", "1500"),
            ("SHOP_EXTRACT__BREAKER_OPEN_MS", "300"),
        ],
    );
    let survivor = billing[1].as_ref().unwrap().base.clone();
    let shop = TestShop::routed(main.base.clone(), vec![("/api/billing".into(), survivor)]);
    shop.stock_product("SOAP", 450, 100_000).await;

    let started = Instant::now();
    let total = 80;
    let mut accepted = Vec::new();
    for i in 0..total {
        let customer = format!("r{i}");
        let (status, body) = shop.try_order(&customer, &[("SOAP", 1)]).await;
        assert_eq!(status, 201, "{body}");
        accepted.push((body["id"].as_str().unwrap().to_string(), customer));
        if i == total / 2 {
            billing[0].take().unwrap().kill9();
        }
        let due = started + Duration::from_millis(62 * (i as u64 + 1));
        tokio::time::sleep(due.saturating_duration_since(Instant::now())).await;
    }
    shop.assert_settled_once(&accepted).await;
    // Receipts (a call that needs billing) keep working through the remaining replica.
    let (status, receipt) = shop
        .get(&format!("/api/orders/{}/receipt", accepted[0].0))
        .await;
    assert_eq!(status, 200, "{receipt}");
    drop(billing);
}
