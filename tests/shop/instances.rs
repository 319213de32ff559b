//! Several processes of the same placement on one database, as production runs them: they all
//! start at once on a fresh database, share the outbox without delivering an event twice, take
//! over the queues of one that is killed, and never refuse valid orders because of a deadlock.
//! Real binaries on PostgreSQL (and SQLite where it applies).

use std::time::{Duration, Instant};

use crate::postgres::fresh_database;
use crate::support::{ShopProcess, TestShop, metric_sum, shop_command, spawn_app_on, sqlite_in};

/// Three `shop migrate` at the same instant on a fresh database: all succeed.
async fn migrate_three_at_once(database: &str) {
    let dir = tempfile::tempdir().unwrap();
    let children: Vec<_> = (0..3)
        .map(|_| {
            shop_command(dir.path())
                .args(["migrate", "--database", database])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("start shop migrate")
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "a concurrent migration failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_starting_at_once_on_a_fresh_database_all_come_up() {
    let dir = tempfile::tempdir().unwrap();
    migrate_three_at_once(&sqlite_in(dir.path())).await;
    if let Some(database) = fresh_database().await {
        migrate_three_at_once(&database).await;
    }
}

/// Orders `[A, B]` and `[B, A]` at the same time lock the same rows in opposite orders unless
/// the inventory locks them in one order; none of them may be refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crossing_orders_on_postgres_are_never_refused() {
    let Some(database) = fresh_database().await else {
        return;
    };
    let shop = spawn_app_on(crate::support::Mode::InProcess, Some(database)).await;
    shop.stock_product("A", 100, 10_000).await;
    shop.stock_product("B", 100, 10_000).await;
    for round in 0..20 {
        let (first, second) = (format!("ab{round}"), format!("ba{round}"));
        let ab = shop.try_order(&first, &[("A", 1), ("B", 1)]);
        let ba = shop.try_order(&second, &[("B", 1), ("A", 1)]);
        let ((s1, b1), (s2, b2)) = tokio::join!(ab, ba);
        assert_eq!((s1, s2), (201, 201), "round {round}: {b1} {b2}");
    }
}

/// `n` processes of the monolith on one PostgreSQL database, orders at ~16/s spread over them;
/// with `kill`, the last one is SIGKILLed halfway. Every accepted order ends paid once and told
/// twice, and the relays' redundant deliveries stay under 1 %.
async fn instances_share_the_outbox(n: usize, kill: bool) {
    let Some(database) = fresh_database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let env = [("SHOP_OUTBOX__LEASE_MS", "1500")];
    let mut processes: Vec<Option<ShopProcess>> = (0..n)
        .map(|_| Some(ShopProcess::start(dir.path(), &database, &env)))
        .collect();
    let bases: Vec<String> = processes
        .iter()
        .map(|p| p.as_ref().unwrap().base.clone())
        .collect();
    let shops: Vec<TestShop> = bases.iter().cloned().map(TestShop::at).collect();
    shops[0].stock_product("TEA", 350, 100_000).await;

    let mut accepted = Vec::new();
    let mut killed_counts = (0.0, 0.0);
    let started = Instant::now();
    let total = 80;
    for i in 0..total {
        let alive: Vec<usize> = (0..n).filter(|k| processes[*k].is_some()).collect();
        let target = alive[i % alive.len()];
        let customer = format!("c{i}");
        let (status, body) = shops[target].try_order(&customer, &[("TEA", 1)]).await;
        assert_eq!(status, 201, "{body}");
        accepted.push((body["id"].as_str().unwrap().to_string(), customer));
        if kill && i == total / 2 {
            let last = n - 1;
            let base = &bases[last];
            killed_counts = (
                metric_sum(
                    base,
                    "cleave_event_deliveries_total",
                    &[("outcome", "applied")],
                )
                .await,
                metric_sum(
                    base,
                    "cleave_event_deliveries_total",
                    &[("outcome", "duplicate")],
                )
                .await,
            );
            processes[last].take().unwrap().kill9();
        }
        // About 16 orders a second.
        let due = started + Duration::from_millis(62 * (i as u64 + 1));
        tokio::time::sleep(due.saturating_duration_since(Instant::now())).await;
    }
    let reader = &shops[0];
    reader.assert_settled_once(&accepted).await;
    // Every delivery applied exactly once: one inbox entry per event and subscriber.
    let db = crate::support::open_db(&database).await;
    let entries = cleave::outbox::inbox_entries(db.read()).await.unwrap();
    db.close().await;
    // Six deliveries per order: placed to billing, inventory, notifications; paid to orders,
    // notifications; order paid to inventory.
    assert_eq!(entries, 6 * total as u64, "inbox entries");
    // Redundant deliveries, as the relays counted them (the killed one's until its last
    // scrape).
    let (mut applied, mut duplicate) = killed_counts;
    for (k, base) in bases.iter().enumerate() {
        if processes[k].is_some() {
            applied += metric_sum(
                base,
                "cleave_event_deliveries_total",
                &[("outcome", "applied")],
            )
            .await;
            duplicate += metric_sum(
                base,
                "cleave_event_deliveries_total",
                &[("outcome", "duplicate")],
            )
            .await;
        }
    }
    let redundant = duplicate / entries as f64;
    eprintln!(
        "{n} instances{}: {applied} deliveries applied, {duplicate} redundant ({:.2} %)",
        if kill { ", one killed" } else { "" },
        redundant * 100.0
    );
    assert!(redundant <= 0.01, "{duplicate} redundant of {applied}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_deliver_each_event_once() {
    instances_share_the_outbox(2, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_one_killed_lose_and_double_nothing() {
    instances_share_the_outbox(3, true).await;
}
