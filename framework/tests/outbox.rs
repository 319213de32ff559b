//! The outbox, inbox and relay against a real SQLite database: atomic with the publisher's
//! transaction, delivered after commit, retried, parked as failed, resubmitted, applied once
//! per subscriber even when delivered again, served by one relay at a time when several share
//! the database, and trimmed by retention.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use cleave::outbox;
use cleave::relay::OutboxRelay;
use cleave::testing::{
    Harness, TestApp, eventually, fixture_contract, fixture_module, register_nothing,
    test_outbox_config,
};
use cleave::{
    Contract, Delivered, Event, HandlerError, ModuleDescriptor, OutboxConfig, RegisterError,
    Registrar, Subscriber, Tx,
};
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::Expr;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Pinged {
    n: u32,
}

impl Event for Pinged {
    const NAME: &'static str = "pinger.pinged";
}

static APPLIED: AtomicUsize = AtomicUsize::new(0);
/// While non-zero, the subscriber fails this many more times.
static FAILURES_LEFT: AtomicUsize = AtomicUsize::new(0);

struct CountPings;

#[async_trait]
impl Subscriber<Pinged> for CountPings {
    async fn on_event(&self, _tx: &Tx, _event: Delivered<Pinged>) -> Result<(), HandlerError> {
        if FAILURES_LEFT
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err("the subscriber is having a bad day".into());
        }
        APPLIED.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

fn register_counter(r: &mut Registrar<'_>) -> Result<(), RegisterError> {
    r.subscribe::<Pinged>(CountPings);
    Ok(())
}

static PINGER_CONTRACT: Contract = fixture_contract("pinger", &[], &[Pinged::NAME], &[]);
static PINGER: ModuleDescriptor =
    fixture_module(&PINGER_CONTRACT, "publishes pings", register_nothing);

static COUNTER_CONTRACT: Contract = fixture_contract("counter", &[], &[], &[Pinged::NAME]);
static COUNTER: ModuleDescriptor = ModuleDescriptor {
    subscribes: &[Pinged::NAME],
    ..fixture_module(&COUNTER_CONTRACT, "counts pings", register_counter)
};

/// The same subscriber name, applying pings without touching the counters of the first test
/// (tests of one binary may run in threads of one process).
struct IgnorePings;

#[async_trait]
impl Subscriber<Pinged> for IgnorePings {
    async fn on_event(&self, _tx: &Tx, _event: Delivered<Pinged>) -> Result<(), HandlerError> {
        Ok(())
    }
}

fn register_quiet(r: &mut Registrar<'_>) -> Result<(), RegisterError> {
    r.subscribe::<Pinged>(IgnorePings);
    Ok(())
}

static QUIET: ModuleDescriptor = ModuleDescriptor {
    register: register_quiet,
    ..COUNTER
};

async fn app_with(subscriber: &'static ModuleDescriptor) -> TestApp {
    Harness::new()
        .module(&PINGER)
        .module(subscriber)
        .without_relay()
        .start()
        .await
}

async fn app() -> TestApp {
    app_with(&QUIET).await
}

async fn publish(app: &TestApp, n: u32) {
    let events = app
        .runtime
        .publisher_of("pinger")
        .expect("pinger is hosted");
    let tx = app.db().write().await.unwrap();
    events.publish(&tx, &Pinged { n }).await.unwrap();
    tx.commit().await.unwrap();
}

fn relay(app: &TestApp, config: OutboxConfig) -> OutboxRelay {
    OutboxRelay::new(
        app.db().clone(),
        app.events().clone(),
        config,
        app.bus().metrics().clone(),
    )
}

// One test body: these steps share the static counters, so they run in sequence.
#[tokio::test]
async fn outbox_is_transactional_retried_and_applied_once() {
    let app = app_with(&COUNTER).await;
    let events = app
        .runtime
        .publisher_of("pinger")
        .expect("pinger is hosted");
    let db = app.db().clone();

    // Rolled back: the event never existed, and the relay is not woken.
    let signal = db.queue_signal("counter");
    let woken = || futures::FutureExt::now_or_never(signal.notified()).is_some();
    let tx = db.write().await.unwrap();
    events.publish(&tx, &Pinged { n: 1 }).await.unwrap();
    tx.rollback().await.unwrap();
    assert!(
        outbox::list(db.read(), &[outbox::PENDING])
            .await
            .unwrap()
            .is_empty()
    );
    assert!(!woken());

    // Committed: one pending delivery per subscriber, the relay is told at once, nothing
    // applied before it runs.
    publish(&app, 2).await;
    assert!(woken(), "the commit woke the relay");
    let pending = outbox::list(db.read(), &[outbox::PENDING]).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].subscriber, "counter");
    assert_eq!(APPLIED.load(Ordering::SeqCst), 0);

    // Two failures, then success: retried with backoff until applied.
    FAILURES_LEFT.store(2, Ordering::SeqCst);
    let running = relay(&app, test_outbox_config()).spawn();
    eventually("the ping is applied", Duration::from_secs(10), || async {
        APPLIED.load(Ordering::SeqCst) == 1
    })
    .await;
    eventually("the delivery is marked", Duration::from_secs(5), || async {
        outbox::counts(db.read()).await.unwrap().pending == 0
    })
    .await;
    running.stop().await;

    // Delivered again (as after a crash between the subscriber's commit and the relay's
    // bookkeeping): the inbox makes it a no-op, counted as a duplicate.
    let tx = db.write().await.unwrap();
    outbox::entry::Entity::update_many()
        .col_expr(outbox::entry::Column::Status, Expr::value(outbox::PENDING))
        .exec(&tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let running = relay(&app, test_outbox_config()).spawn();
    eventually(
        "the redelivery is acknowledged",
        Duration::from_secs(5),
        || async { outbox::counts(db.read()).await.unwrap().pending == 0 },
    )
    .await;
    running.stop().await;
    assert_eq!(
        APPLIED.load(Ordering::SeqCst),
        1,
        "applied once despite two deliveries"
    );
    let metrics = app.bus().metrics().render();
    assert!(
        metrics.contains(r#"cleave_event_deliveries_total{subscriber="counter",location="local",outcome="duplicate"} 1"#),
        "{metrics}"
    );

    // A subscriber that keeps failing: the delivery is parked as failed, then resubmitted.
    let config = OutboxConfig {
        max_attempts: 3,
        ..test_outbox_config()
    };
    FAILURES_LEFT.store(3, Ordering::SeqCst);
    publish(&app, 3).await;
    let running = relay(&app, config.clone()).spawn();
    eventually(
        "the delivery fails for good",
        Duration::from_secs(10),
        || async { outbox::counts(db.read()).await.unwrap().failed == 1 },
    )
    .await;
    let failed = outbox::list(db.read(), &[outbox::FAILED]).await.unwrap();
    assert_eq!(failed[0].attempts, 3);
    assert!(failed[0].last_error.as_deref().unwrap().contains("bad day"));
    assert_eq!(APPLIED.load(Ordering::SeqCst), 1);

    assert_eq!(outbox::resubmit_failed(&db, &[]).await.unwrap(), 1);
    eventually(
        "the resubmitted delivery is applied",
        Duration::from_secs(10),
        || async { APPLIED.load(Ordering::SeqCst) == 2 },
    )
    .await;
    running.stop().await;
}

/// How many times each relay delivered, from the lease holders' point of view: the metric of
/// deliveries per outcome, summed over the relays sharing one registry.
fn deliveries(app: &TestApp, outcome: &str) -> u64 {
    let text = app.bus().metrics().render();
    let prefix = format!(
        r#"cleave_event_deliveries_total{{subscriber="counter",location="local",outcome="{outcome}"}} "#
    );
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map_or(0, |n| n.trim().parse().unwrap())
}

#[tokio::test]
async fn relays_sharing_a_database_deliver_each_event_once_and_take_over_a_dead_one() {
    let app = app().await;
    let db = app.db().clone();
    let config = OutboxConfig {
        lease_ms: 1_000,
        batch_size: 10,
        ..test_outbox_config()
    };
    for n in 0..60 {
        publish(&app, n).await;
    }
    // Two relays on one database, as two processes would be.
    let first = relay(&app, config.clone());
    let second = relay(&app, config.clone());
    let (a, b) = (first.clone().spawn(), second.clone().spawn());
    eventually("every ping is applied", Duration::from_secs(20), || async {
        outbox::counts(db.read()).await.unwrap().pending == 0
            && deliveries(&app, "applied") + deliveries(&app, "duplicate") >= 60
    })
    .await;
    assert_eq!(deliveries(&app, "applied"), 60);
    assert_eq!(deliveries(&app, "duplicate"), 0, "no redundant delivery");
    a.stop().await;
    b.stop().await;

    // A relay that holds the lease and dies without giving it up (its task is gone, the
    // lease stays): nobody delivers until the lease lapses, then another relay does.
    let dead = relay(&app, config.clone());
    assert_eq!(dead.pass("counter").await.unwrap(), 0, "nothing due yet");
    publish(&app, 100).await;
    assert_eq!(dead.pass("counter").await.unwrap(), 1, "takes the lease");
    publish(&app, 101).await;
    let started = std::time::Instant::now();
    let heir = relay(&app, config.clone());
    assert_eq!(heir.pass("counter").await.unwrap(), 0, "the lease is held");
    let running = heir.spawn();
    eventually("the heir delivers", Duration::from_secs(10), || async {
        outbox::counts(db.read()).await.unwrap().pending == 0
    })
    .await;
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "not before the lease lapsed: {:?}",
        started.elapsed()
    );
    running.stop().await;
    assert_eq!(deliveries(&app, "duplicate"), 0);
}

#[tokio::test]
async fn retention_removes_old_delivered_rows_and_inbox_entries_only() {
    let app = app().await;
    let db = app.db().clone();
    for n in 0..5 {
        publish(&app, n).await;
    }
    let running = relay(&app, test_outbox_config()).spawn();
    eventually("delivered", Duration::from_secs(10), || async {
        outbox::counts(db.read()).await.unwrap().pending == 0
    })
    .await;
    running.stop().await;
    publish(&app, 99).await; // stays pending: no relay runs now
    let config = OutboxConfig {
        retain_delivered_s: 60,
        retain_inbox_s: 120,
        ..test_outbox_config()
    };
    let now = outbox::now_ms();
    let nothing = cleave::retention::purge(&db, &config, now).await.unwrap();
    assert_eq!(nothing, cleave::retention::Purged::default(), "too young");
    let later = cleave::retention::purge(&db, &config, now + 90_000)
        .await
        .unwrap();
    assert_eq!(later.outbox, 5);
    assert_eq!(later.inbox, 0, "inbox entries are kept longer");
    let much_later = cleave::retention::purge(&db, &config, now + 200_000)
        .await
        .unwrap();
    assert_eq!(much_later.inbox, 5);
    assert_eq!(
        outbox::counts(db.read()).await.unwrap().pending,
        1,
        "pending rows are never removed"
    );
    let archive = OutboxConfig {
        retention: cleave::config::Retention::Archive,
        ..config
    };
    let running = relay(&app, test_outbox_config()).spawn();
    eventually("delivered", Duration::from_secs(10), || async {
        outbox::counts(db.read()).await.unwrap().pending == 0
    })
    .await;
    running.stop().await;
    let archived = cleave::retention::purge(&db, &archive, outbox::now_ms() + 90_000)
        .await
        .unwrap();
    assert_eq!(archived.outbox, 1);
    let kept: i64 = db
        .read()
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Sqlite,
            "SELECT COUNT(*) FROM cleave_outbox_archive",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index(0)
        .unwrap();
    assert_eq!(kept, 1);
}

/// The relay reads due rows through the partial index of pending rows, not by walking the
/// primary key over every delivered row: the pending status is in the statement's text.
#[tokio::test]
async fn the_relay_reads_due_rows_through_the_pending_index() {
    let app = app().await;
    let plan = cleave::testing::relay_due_plan(app.db(), 2_000)
        .await
        .unwrap();
    assert!(
        plan.contains("idx_cleave_outbox_pending"),
        "the due rows' plan does not read the pending index:\n{plan}"
    );
}
