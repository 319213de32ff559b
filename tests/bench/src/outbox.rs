//! What durable events cost: events committed through the outbox and delivered to a local
//! subscriber (inbox included), against plain inserts of the same rows, on SQLite.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use cleave::testing::{Harness, fixture_contract, fixture_module, register_nothing};
use cleave::{
    Contract, Delivered, Event, HandlerError, ModuleDescriptor, RegisterError, Registrar,
    Subscriber, Tx,
};
use sea_orm::{ConnectionTrait, Statement};
use serde::{Deserialize, Serialize};

use crate::Scale;
use crate::stats::ratio;

/// The benchmark event.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ticked {
    /// Sequence number.
    pub n: u64,
    /// Some body, about as large as an `OrderPlaced`.
    pub note: String,
}

impl Event for Ticked {
    const NAME: &'static str = "ticker.ticked";
}

struct Ignore;

#[async_trait]
impl Subscriber<Ticked> for Ignore {
    async fn on_event(&self, _: &Tx, _: Delivered<Ticked>) -> Result<(), HandlerError> {
        Ok(())
    }
}

fn register_listener(r: &mut Registrar<'_>) -> Result<(), RegisterError> {
    r.subscribe::<Ticked>(Ignore);
    Ok(())
}

static TICKER_CONTRACT: Contract = fixture_contract("ticker", &[], &[Ticked::NAME], &[]);
static TICKER: ModuleDescriptor =
    fixture_module(&TICKER_CONTRACT, "publishes ticks", register_nothing);

static LISTENER_CONTRACT: Contract = fixture_contract("listener", &[], &[], &[Ticked::NAME]);
static LISTENER: ModuleDescriptor = ModuleDescriptor {
    subscribes: &[Ticked::NAME],
    ..fixture_module(&LISTENER_CONTRACT, "hears ticks", register_listener)
};

/// Outbox figures.
#[derive(Debug, Clone, Serialize)]
pub struct OutboxFigures {
    /// Events measured.
    pub events: u64,
    /// Events committed (one transaction each) and applied by the subscriber, per second.
    pub outbox_events_per_s: f64,
    /// The same rows inserted into a plain table, one transaction each, per second.
    pub plain_inserts_per_s: f64,
    /// `outbox_events_per_s / plain_inserts_per_s`.
    pub outbox_vs_plain_inserts: f64,
}

fn tick(n: u64) -> Ticked {
    Ticked {
        n,
        note: "a tick with roughly the body of an order: two lines, a customer, a total".into(),
    }
}

/// Interleaves batches of plain inserts and of outbox events (waiting for each batch to be
/// delivered), on one SQLite file.
pub async fn outbox(scale: Scale) -> OutboxFigures {
    let app = Harness::new()
        .module(&TICKER)
        .module(&LISTENER)
        .start()
        .await;
    let db = app.db().clone();
    let events = app
        .runtime
        .publisher_of("ticker")
        .expect("ticker is hosted");
    let tx = db.write().await.expect("a write transaction");
    tx.execute_unprepared("CREATE TABLE bench_plain AS SELECT * FROM cleave_outbox WHERE 0")
        .await
        .expect("plain table");
    tx.commit().await.expect("commit");
    let (rounds, batch) = scale.pick((6, 500u64), (1, 20));
    let mut outbox_time = Duration::ZERO;
    let mut plain_time = Duration::ZERO;
    let mut n = 0;
    for _ in 0..rounds {
        let started = Instant::now();
        for _ in 0..batch {
            n += 1;
            let payload = serde_json::to_string(&tick(n)).unwrap();
            let txn = db.write().await.unwrap();
            txn.execute_raw(Statement::from_sql_and_values(
                db.backend(),
                "INSERT INTO bench_plain (event_id, event_name, publisher, subscriber, payload, published_at_ms, status, attempts, next_attempt_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    format!("00000000-0000-0000-0000-{n:012}").into(),
                    Ticked::NAME.into(),
                    "ticker".into(),
                    "listener".into(),
                    payload.into(),
                    0i64.into(),
                    "pending".into(),
                    0i32.into(),
                    0i64.into(),
                ],
            ))
            .await
            .unwrap();
            txn.commit().await.unwrap();
        }
        plain_time += started.elapsed();

        let started = Instant::now();
        for _ in 0..batch {
            n += 1;
            let txn = db.write().await.unwrap();
            events.publish(&txn, &tick(n)).await.unwrap();
            txn.commit().await.unwrap();
        }
        while cleave::outbox::counts(db.read()).await.unwrap().pending > 0 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        outbox_time += started.elapsed();
    }
    let total = rounds as u64 * batch;
    let outbox_events_per_s = total as f64 / outbox_time.as_secs_f64();
    let plain_inserts_per_s = total as f64 / plain_time.as_secs_f64();
    OutboxFigures {
        events: total,
        outbox_events_per_s: outbox_events_per_s.round(),
        plain_inserts_per_s: plain_inserts_per_s.round(),
        outbox_vs_plain_inserts: ratio(outbox_events_per_s, plain_inserts_per_s),
    }
}
