//! The outbox and inbox against a real SQLite database: atomic with the publisher's
//! transaction, delivered after commit, retried, parked as failed, resubmitted, and applied
//! once per subscriber even when delivered again.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use cleave::outbox::{self, OutboxRelay};
use cleave::testing::{
    Harness, eventually, fixture_contract, fixture_module, register_nothing, test_outbox_config,
};
use cleave::{
    Delivered, Event, HandlerError, ModuleDescriptor, RegisterError, Registrar, Subscriber,
};
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::Expr;
use sea_orm::{DatabaseTransaction, TransactionTrait};
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
    async fn on_event(
        &self,
        _txn: &DatabaseTransaction,
        _event: Delivered<Pinged>,
    ) -> Result<(), HandlerError> {
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

static PINGER: ModuleDescriptor = fixture_module(
    &fixture_contract("pinger", &[], &[Pinged::NAME], &[]),
    "publishes pings",
    register_nothing,
);

static COUNTER: ModuleDescriptor = fixture_module(
    &fixture_contract("counter", &[], &[], &[Pinged::NAME]),
    "counts pings",
    register_counter,
);

// One test body: these steps share the static counters, so they run in sequence.
#[tokio::test]
async fn outbox_is_transactional_retried_and_applied_once() {
    let mut app = Harness::new()
        .module(&PINGER)
        .module(&COUNTER)
        .without_relay()
        .start()
        .await;
    let events = app
        .runtime
        .publisher_of("pinger")
        .expect("pinger is hosted");
    let db = app.db().clone();

    // Rolled back: the event never existed.
    let txn = db.begin().await.unwrap();
    events.publish(&txn, &Pinged { n: 1 }).await.unwrap();
    txn.rollback().await.unwrap();
    assert!(
        outbox::list(&db, &[outbox::PENDING])
            .await
            .unwrap()
            .is_empty()
    );

    // Committed: one pending delivery per subscriber, nothing applied before the relay runs.
    let txn = db.begin().await.unwrap();
    events.publish(&txn, &Pinged { n: 2 }).await.unwrap();
    txn.commit().await.unwrap();
    let pending = outbox::list(&db, &[outbox::PENDING]).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].subscriber, "counter");
    assert_eq!(APPLIED.load(Ordering::SeqCst), 0);

    // Two failures, then success: retried with backoff until applied.
    FAILURES_LEFT.store(2, Ordering::SeqCst);
    let relay = OutboxRelay::new(db.clone(), app.bus().clone(), test_outbox_config()).spawn();
    eventually("the ping is applied", Duration::from_secs(10), || async {
        APPLIED.load(Ordering::SeqCst) == 1
    })
    .await;
    eventually("the delivery is marked", Duration::from_secs(5), || async {
        outbox::counts(&db).await.unwrap().pending == 0
    })
    .await;
    relay.stop().await;

    // Delivered again (as after a crash between the subscriber's commit and the relay's
    // bookkeeping): the inbox makes it a no-op.
    outbox::entry::Entity::update_many()
        .col_expr(outbox::entry::Column::Status, Expr::value(outbox::PENDING))
        .exec(&db)
        .await
        .unwrap();
    let relay = OutboxRelay::new(db.clone(), app.bus().clone(), test_outbox_config()).spawn();
    eventually(
        "the redelivery is acknowledged",
        Duration::from_secs(5),
        || async { outbox::counts(&db).await.unwrap().pending == 0 },
    )
    .await;
    relay.stop().await;
    assert_eq!(
        APPLIED.load(Ordering::SeqCst),
        1,
        "applied once despite two deliveries"
    );

    // A subscriber that keeps failing: the delivery is parked as failed, then resubmitted.
    let config = cleave::OutboxConfig {
        max_attempts: 3,
        ..test_outbox_config()
    };
    FAILURES_LEFT.store(3, Ordering::SeqCst);
    let txn = db.begin().await.unwrap();
    events.publish(&txn, &Pinged { n: 3 }).await.unwrap();
    txn.commit().await.unwrap();
    let relay = OutboxRelay::new(db.clone(), app.bus().clone(), config.clone()).spawn();
    eventually(
        "the delivery fails for good",
        Duration::from_secs(10),
        || async { outbox::counts(&db).await.unwrap().failed == 1 },
    )
    .await;
    let failed = outbox::list(&db, &[outbox::FAILED]).await.unwrap();
    assert_eq!(failed[0].attempts, 3);
    assert!(failed[0].last_error.as_deref().unwrap().contains("bad day"));
    assert_eq!(APPLIED.load(Ordering::SeqCst), 1);

    assert_eq!(outbox::resubmit_failed(&db, &[]).await.unwrap(), 1);
    app.bus().wake_outbox();
    eventually(
        "the resubmitted delivery is applied",
        Duration::from_secs(10),
        || async { APPLIED.load(Ordering::SeqCst) == 2 },
    )
    .await;
    relay.stop().await;
    app.stop_relay().await;
}
