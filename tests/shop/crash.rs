//! Crashes: the real `shop` binary is killed with SIGKILL between accepting orders and
//! delivering their events, then restarted on the same database. Every accepted order must end
//! paid with exactly one invoice and one payment, and each customer told exactly twice.

use std::time::Duration;

use crate::support::{ShopProcess, TestShop, shop_command, sqlite_in};

/// Asserts the effects of an accepted order, once it is paid.
async fn assert_settled_once(shop: &TestShop, id: &str) {
    shop.wait_paid(id).await;
    let invoices = shop.invoices(id).await;
    assert_eq!(invoices.len(), 1, "order {id}: {invoices:?}");
    assert_eq!(
        invoices[0]["payments"].as_array().unwrap().len(),
        1,
        "order {id}: {invoices:?}"
    );
}

/// Waits until the customer has been told `n` things, then checks it stays at `n`.
async fn assert_told(shop: &TestShop, customer: &str, n: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while shop.notifications(customer).await.len() < n {
        assert!(
            std::time::Instant::now() < deadline,
            "{customer} was not told {n} things"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(shop.notifications(customer).await.len(), n, "{customer}");
}

fn pending_deliveries(dir: &std::path::Path, database: &str) -> Vec<serde_json::Value> {
    let out = shop_command(dir)
        .args(["events", "--database", database, "list", "--json"])
        .output()
        .expect("run shop events");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("shop events --json prints JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_pending_at_a_kill_are_delivered_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    kill_between_commit_and_delivery(dir.path(), &sqlite_in(dir.path())).await;
}

/// Accepts an order with the relay off, kills the process, restarts it with the relay on.
pub(crate) async fn kill_between_commit_and_delivery(dir: &std::path::Path, database: &str) {
    let database = database.to_string();

    // The relay is off, so the kill is sure to fall between commit and delivery.
    let process = ShopProcess::start(dir, &database, &[("SHOP_OUTBOX__RELAY", "false")]);
    let shop = TestShop::at(process.base.clone());
    shop.stock_product("BOOK", 1500, 5).await;
    let id = shop.place_order("ada", &[("BOOK", 2)]).await;

    let pending = pending_deliveries(dir, &database);
    let mut subscribers: Vec<&str> = pending
        .iter()
        .map(|d| d["subscriber"].as_str().unwrap())
        .collect();
    subscribers.sort();
    assert_eq!(
        subscribers,
        ["billing", "inventory", "notifications"],
        "{pending:?}"
    );
    process.kill9();

    let process = ShopProcess::start(dir, &database, &[]);
    let shop = TestShop::at(process.base.clone());
    assert_settled_once(&shop, &id).await;
    assert_told(&shop, "ada", 2).await;
    drop(process);
    assert!(pending_deliveries(dir, &database).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_kills_during_delivery_lose_and_duplicate_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let database = sqlite_in(dir.path());
    let mut orders = Vec::new();
    for round in 0..3u64 {
        let process = ShopProcess::start(dir.path(), &database, &[]);
        let shop = TestShop::at(process.base.clone());
        if round == 0 {
            shop.stock_product("PEN", 200, 1_000).await;
        }
        for i in 0..4 {
            let customer = format!("c{round}-{i}");
            orders.push((shop.place_order(&customer, &[("PEN", 1)]).await, customer));
        }
        // Kill while the relay is (probably) mid-delivery; a different moment each round.
        tokio::time::sleep(Duration::from_millis(round * 7)).await;
        process.kill9();
    }
    let process = ShopProcess::start(dir.path(), &database, &[]);
    let shop = TestShop::at(process.base.clone());
    for (id, customer) in &orders {
        assert_settled_once(&shop, id).await;
        assert_told(&shop, customer, 2).await;
    }
}
