//! The same scenarios and crash test on PostgreSQL, each test in a database of its own.
//!
//! The server comes from `CLEAVE_TEST_POSTGRES_URL` (an admin URL; `scripts/postgres.sh` sets
//! one up). Without it these tests print why and pass locally, and fail when `CI` is set.

use sea_orm::{ConnectionTrait, Database};

use crate::crash::kill_between_commit_and_delivery;
use crate::scenarios;
use crate::support::{Mode, spawn_app_on};

/// A new, empty database on the test server, or `None` (locally) when there is no server.
pub(crate) async fn fresh_database() -> Option<String> {
    let Ok(admin) = std::env::var("CLEAVE_TEST_POSTGRES_URL") else {
        if std::env::var_os("CI").is_some() {
            panic!(
                "CI is set but CLEAVE_TEST_POSTGRES_URL is not: the PostgreSQL suite cannot run"
            );
        }
        eprintln!(
            "skipping: CLEAVE_TEST_POSTGRES_URL is not set (scripts/postgres.sh sets one up)"
        );
        return None;
    };
    let name = format!("cleave_test_{}", uuid::Uuid::new_v4().simple());
    let db = Database::connect(admin.as_str())
        .await
        .expect("connect to the PostgreSQL test server");
    db.execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create a test database");
    db.close().await.ok();
    let (server, _) = admin
        .rsplit_once('/')
        .expect("an admin URL ends in /<database>");
    Some(format!("{server}/{name}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenarios_pass_on_postgres() {
    let Some(database) = fresh_database().await else {
        return;
    };
    let shop = spawn_app_on(Mode::Serialized, Some(database)).await;
    scenarios::order_reaches_paid(&shop).await;
    scenarios::unknown_sku_is_refused(&shop).await;
    scenarios::short_stock_reserves_nothing(&shop).await;
    scenarios::concurrent_orders_never_oversell(&shop).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_loses_no_event_on_postgres() {
    let Some(database) = fresh_database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    kill_between_commit_and_delivery(dir.path(), &database).await;
}

/// The relay's transactions (`write_first`) do not wait for the pool the requests have
/// exhausted: they have connections of their own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_does_not_wait_for_the_requests_pool_on_postgres() {
    let Some(database) = fresh_database().await else {
        return;
    };
    let options = cleave::DatabaseOptions {
        postgres_connections: 2,
        lock_timeout_ms: 1_000,
        ..Default::default()
    };
    let db = cleave::Database::connect(&database, &options)
        .await
        .unwrap();
    let held = [db.write().await.unwrap(), db.write().await.unwrap()];
    let waited = std::time::Instant::now();
    let blocked = db.write().await;
    assert!(
        blocked.is_err(),
        "a third request writer waits for one of the pool's two connections and times out"
    );
    assert!(waited.elapsed() >= std::time::Duration::from_millis(900));
    let first = tokio::time::timeout(std::time::Duration::from_secs(5), db.write_first())
        .await
        .expect("write_first does not wait for the exhausted pool")
        .unwrap();
    first.execute_unprepared("SELECT 1").await.unwrap();
    first.commit().await.unwrap();
    for tx in held {
        tx.rollback().await.unwrap();
    }
    db.close().await;
}

/// The relay reads due rows through the partial index of pending rows even in the generic plan
/// PostgreSQL switches a prepared statement to after five executions. With the status bound
/// as a parameter, that plan walked the primary key over every delivered row: 4771 buffer
/// reads per pass after about 5000 orders posted to the shop (`wrk -c16`, `pg_stat_statements`),
/// against 52 with the status in the statement's text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_reads_due_rows_through_the_pending_index_on_postgres() {
    let Some(database) = fresh_database().await else {
        return;
    };
    let db = cleave::Database::connect(&database, &cleave::DatabaseOptions::default())
        .await
        .unwrap();
    cleave::migrate::migrate(&db, &[]).await.unwrap();
    let plan = cleave::testing::relay_due_plan(&db, 20_000).await.unwrap();
    assert!(
        plan.contains("idx_cleave_outbox_pending"),
        "the generic plan of the due rows does not read the pending index:\n{plan}"
    );
    db.close().await;
}
