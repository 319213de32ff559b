//! The outbox relay: delivers committed events to their subscribers, in batches, one relay
//! instance per subscriber at a time.
//!
//! Each subscriber's deliveries are a queue (its `pending` outbox rows in id order) served by
//! one task. Any number of processes may share a database; each subscriber's queue is served
//! by whichever of them holds its **lease** (`cleave_relay_leases`), renewed on every pass and
//! taken over by another process when its holder stops renewing it (killed, partitioned)
//! within `outbox.lease_ms`. So a row is delivered by one relay at a time, and a subscriber
//! sees its events in the order they were committed, except that a failed delivery is retried
//! after the ones behind it (ADR 11).
//!
//! A pass takes a bounded batch. For a subscriber hosted in this process, the batch is applied
//! in **one transaction**: the lease renewal, every event's inbox row (all recorded in one
//! statement) and effects, and the delivered marks commit together, so a crash leaves either
//! all of it or none (should one event fail, the batch is rolled back and applied again with a
//! savepoint per event, so the failure stays with its event and the others are delivered). For
//! a remote subscriber the events go over the network one by one and the marks commit after.
//! The relay wakes when a transaction that published events commits, and polls now and then
//! for retries and for events committed by other processes.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use sea_orm::entity::prelude::*;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{DbBackend, QueryOrder, QuerySelect, QueryTrait, Statement};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::config::OutboxConfig;
use crate::db::{Database, Tx};
use crate::events::EventRoutes;
use crate::metrics::{LOCAL, Metrics, REMOTE};
use crate::outbox::{self, DELIVERED, FAILED, PENDING, entry, now_ms};
use crate::trace::{TraceContext, in_trace};
use crate::transport::{Applied, DeliveryFailure, EventEnvelope};

/// The `cleave_relay_leases` table: which relay serves which subscriber's queue, until when.
pub mod lease {
    use sea_orm::entity::prelude::*;

    /// A subscriber's queue and the relay that serves it.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "cleave_relay_leases")]
    pub struct Model {
        /// The subscribing module whose deliveries this lease covers.
        #[sea_orm(primary_key, auto_increment = false)]
        pub subscriber: String,
        /// The relay instance holding it.
        pub holder: String,
        /// When it lapses unless renewed, ms since the epoch.
        pub expires_at_ms: i64,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Whether the relay on `backend` delivers to all of a process's own subscribers in one pass
/// (SQLite: they share its one writer's transactions) rather than one pass each (PostgreSQL).
/// Every subscriber in another process has a pass of its own either way. `plan` prices an
/// extraction's crossings by it (ADR 14).
pub fn shares_local_pass(backend: DbBackend) -> bool {
    backend == DbBackend::Sqlite
}

/// The outcome of one delivery attempt, as the relay records it.
type Outcome = Result<Applied, DeliveryFailure>;

/// Delivers the outbox of one database through the event routes of one process.
#[derive(Clone)]
pub struct OutboxRelay {
    db: Database,
    routes: EventRoutes,
    config: OutboxConfig,
    metrics: Metrics,
    holder: String,
}

/// Stops a running relay.
pub struct RelayHandle {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl RelayHandle {
    /// Asks every queue to stop after the pass in progress, waits for them, and gives up their
    /// leases so another process takes over at once.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

impl OutboxRelay {
    /// A relay over `db`, delivering through `routes` and counting into `metrics`.
    pub fn new(db: Database, routes: EventRoutes, config: OutboxConfig, metrics: Metrics) -> Self {
        OutboxRelay {
            db,
            routes,
            config,
            metrics,
            holder: format!("relay-{}-{}", std::process::id(), Uuid::new_v4().simple()),
        }
    }

    /// This relay instance's name in the lease table.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// Serves every subscriber's queue on the tokio runtime until the handle stops it: one task
    /// per subscriber in another process; for the subscribers hosted in this process, one task
    /// on SQLite (their deliveries share the one writer's transactions) and one each on
    /// PostgreSQL (their transactions run side by side).
    pub fn spawn(self) -> RelayHandle {
        let (stop, stopped) = watch::channel(false);
        let (local, remote): (Vec<String>, Vec<String>) = self
            .routes
            .subscribers()
            .into_iter()
            .partition(|s| self.routes.local(s).is_some());
        let mut groups: Vec<Vec<String>> = remote.into_iter().map(|s| vec![s]).collect();
        if shares_local_pass(self.db.backend()) {
            // One writer: the local queues' deliveries share its transactions.
            if !local.is_empty() {
                groups.push(local);
            }
        } else {
            // Concurrent writers: each local queue delivers beside the others.
            groups.extend(local.into_iter().map(|s| vec![s]));
        }
        let tasks = groups
            .into_iter()
            .map(|group| {
                let relay = self.clone();
                let stopped = stopped.clone();
                tokio::spawn(async move { relay.serve(group, stopped).await })
            })
            .collect();
        RelayHandle { stop, tasks }
    }

    async fn serve(self, group: Vec<String>, mut stopped: watch::Receiver<bool>) {
        let poll = Duration::from_millis(Ord::max(self.config.poll_interval_ms, 1));
        let signal = Arc::new(Notify::new());
        for subscriber in &group {
            self.db.set_queue_signal(subscriber, signal.clone());
        }
        // Woken by a commit of this process, the relay knows rows are due; after a poll it looks
        // first, cheaply, before taking the writer.
        let mut woken = false;
        let mut behind = false;
        loop {
            if *stopped.borrow() {
                break;
            }
            let more = match self.pass_with(&group, !woken, behind).await {
                Ok(attempted) => attempted >= self.batch_size(),
                Err(e) => {
                    tracing::warn!(subscribers = ?group, error = %e, "outbox relay pass failed");
                    false
                }
            };
            // A full batch: more rows are due than a batch takes, so the next pass does not
            // queue behind the request writers (`Database::write_first`). Otherwise it does,
            // and the rows that come in meanwhile make its batch.
            behind = more;
            if more {
                woken = true;
                continue;
            }
            woken = tokio::select! {
                _ = signal.notified() => true,
                _ = tokio::time::sleep(poll) => false,
                _ = stopped.changed() => false,
            };
        }
        if let Err(e) = self.release(&group).await {
            tracing::warn!(subscribers = ?group, error = %e, "could not give up the relay leases");
        }
    }

    fn batch_size(&self) -> usize {
        usize::try_from(self.config.batch_size.clamp(1, 10_000)).unwrap_or(100)
    }

    /// Delivers one batch of `subscriber`'s due rows if this relay holds (or can take) its
    /// lease; returns how many deliveries were attempted.
    pub async fn pass(&self, subscriber: &str) -> Result<usize, DbErr> {
        self.pass_with(&[subscriber.to_string()], true, false).await
    }

    async fn pass_with(
        &self,
        group: &[String],
        look_first: bool,
        behind: bool,
    ) -> Result<usize, DbErr> {
        // A cheap look first, on a read connection, unless a commit just said rows are due:
        // a poll usually finds nothing.
        if look_first && due(self.db.read(), group, 1).await?.is_empty() {
            return Ok(0);
        }
        match group {
            [subscriber] if self.routes.local(subscriber).is_none() => {
                self.deliver_remote(subscriber, behind).await
            }
            _ => self.deliver_local(group, behind).await,
        }
    }

    /// A write transaction for a pass: queued behind the request writers, unless the relay is
    /// behind (its last batch was full).
    async fn begin(&self, behind: bool) -> Result<Tx, DbErr> {
        if behind {
            self.db.write_first().await
        } else {
            self.db.write().await
        }
    }

    /// Applies one due row to its subscriber (hosted here) inside `tx`. With `recorded`, the
    /// batch has recorded its inbox rows already and `recorded` holds the new ones: the row's
    /// is taken out, so a repeat of the row in the same batch counts as applied before.
    async fn apply(
        &self,
        tx: &Tx,
        row: &entry::Model,
        recorded: Option<&mut HashSet<(String, String)>>,
    ) -> Outcome {
        let Some(local) = self.routes.local(&row.subscriber) else {
            return Err(DeliveryFailure::Unavailable(format!(
                "subscriber `{}` is not hosted here",
                row.subscriber
            )));
        };
        let envelope = row.envelope()?;
        let new = recorded.map(|new| new.remove(&(row.subscriber.clone(), row.event_id.clone())));
        traced(
            row,
            &envelope,
            LOCAL,
            local.apply_recorded(tx, &envelope, new),
        )
        .await
    }

    /// A batch for subscribers of this process: leases, effects, inbox rows and marks in one
    /// transaction, the rows of every queue whose lease it holds in commit order.
    async fn deliver_local(&self, group: &[String], behind: bool) -> Result<usize, DbErr> {
        let tx = self.begin(behind).await?;
        let held = self.hold_leases(&tx, group).await?;
        if held.is_empty() {
            tx.rollback().await?;
            return Ok(0);
        }
        let rows = due(&tx, &held, self.batch_size()).await?;
        // The batch's inbox rows in one statement: what it did not insert was applied before.
        let keys: Vec<(&str, &str)> = rows
            .iter()
            .map(|r| (r.subscriber.as_str(), r.event_id.as_str()))
            .collect();
        let mut new = outbox::record_batch_in_inbox(&tx, &keys).await?;
        let mut outcomes = Vec::with_capacity(rows.len());
        let mut failure = None;
        for (i, row) in rows.iter().enumerate() {
            match self.apply(&tx, row, Some(&mut new)).await {
                Ok(applied) => outcomes.push(Ok(applied)),
                Err(e) => {
                    failure = Some((i, e));
                    break;
                }
            }
        }
        let Some((failed_at, error)) = failure else {
            self.record(&tx, &rows, &outcomes).await?;
            tx.commit().await?;
            self.count(&rows, LOCAL, &outcomes);
            return Ok(rows.len());
        };
        // One event failed, and its work is mixed with the others' in this transaction: undo
        // it all, then apply the batch again with a savepoint per event, recording the failed
        // event's failure without running it a second time.
        tx.rollback().await?;
        let tx = self.begin(behind).await?;
        let still = self.hold_leases(&tx, &held).await?;
        if still.len() != held.len() {
            tx.rollback().await?;
            return Ok(0);
        }
        let mut error = Some(error);
        let mut outcomes = Vec::with_capacity(rows.len());
        for (i, row) in rows.iter().enumerate() {
            if i == failed_at
                && let Some(error) = error.take()
            {
                outcomes.push(Err(error));
                continue;
            }
            let savepoint = tx.savepoint().await?;
            let outcome = self.apply(&savepoint, row, None).await;
            match &outcome {
                Ok(_) => savepoint.commit().await?,
                Err(_) => savepoint.rollback().await?,
            }
            outcomes.push(outcome);
        }
        self.record(&tx, &rows, &outcomes).await?;
        tx.commit().await?;
        self.count(&rows, LOCAL, &outcomes);
        Ok(rows.len())
    }

    /// A batch for a subscriber in another process: lease, deliveries over its route, then the
    /// marks (if the lease is still ours).
    async fn deliver_remote(&self, subscriber: &str, behind: bool) -> Result<usize, DbErr> {
        let Some(route) = self.routes.route(subscriber) else {
            return Ok(0);
        };
        let group = [subscriber.to_string()];
        let tx = self.begin(behind).await?;
        let held = self.hold_leases(&tx, &group).await?;
        tx.commit().await?;
        if held.is_empty() {
            return Ok(0);
        }
        let rows = due(self.db.read(), &group, self.batch_size()).await?;
        let mut outcomes = Vec::with_capacity(rows.len());
        for row in &rows {
            let outcome = match row.envelope() {
                Ok(envelope) => traced(row, &envelope, REMOTE, route.deliver(&envelope)).await,
                Err(e) => Err(e),
            };
            outcomes.push(outcome);
        }
        let tx = self.begin(behind).await?;
        if self.hold_leases(&tx, &group).await?.is_empty() {
            // Another relay took the queue over meanwhile: it will deliver these again, and
            // the subscriber's inbox will recognise them.
            tx.rollback().await?;
            tracing::warn!(
                subscriber,
                "lost the relay lease during a batch; the new holder redelivers it"
            );
            return Ok(rows.len());
        }
        self.record(&tx, &rows, &outcomes).await?;
        tx.commit().await?;
        self.count(&rows, REMOTE, &outcomes);
        Ok(rows.len())
    }

    /// Takes or renews the leases of the queues of `subscribers` inside `tx`, in one statement;
    /// returns the subscribers whose lease this relay holds (not those another relay holds and
    /// has not let lapse).
    async fn hold_leases(&self, tx: &Tx, subscribers: &[String]) -> Result<Vec<String>, DbErr> {
        let now = now_ms();
        let until = now.saturating_add(i64::try_from(self.config.lease_ms).unwrap_or(i64::MAX));
        let mut insert = Query::insert();
        insert.into_table(lease::Entity).columns([
            lease::Column::Subscriber,
            lease::Column::Holder,
            lease::Column::ExpiresAtMs,
        ]);
        for subscriber in subscribers {
            insert.values_panic([
                subscriber.as_str().into(),
                self.holder.as_str().into(),
                until.into(),
            ]);
        }
        insert
            .on_conflict(
                OnConflict::column(lease::Column::Subscriber)
                    .update_columns([lease::Column::Holder, lease::Column::ExpiresAtMs])
                    .action_and_where(
                        Expr::col((lease::Entity, lease::Column::Holder))
                            .eq(self.holder.as_str())
                            .or(Expr::col((lease::Entity, lease::Column::ExpiresAtMs)).lt(now)),
                    )
                    .to_owned(),
            )
            .returning_col(lease::Column::Subscriber);
        let rows = tx.query_all(&insert).await?;
        let mut held = Vec::with_capacity(rows.len());
        for row in rows {
            held.push(row.try_get::<String>("", "subscriber")?);
        }
        Ok(held)
    }

    /// Gives up the leases this relay holds on `subscribers`.
    async fn release(&self, subscribers: &[String]) -> Result<(), DbErr> {
        let tx = self.db.write_first().await?;
        lease::Entity::update_many()
            .col_expr(lease::Column::ExpiresAtMs, Expr::value(0))
            .filter(lease::Column::Subscriber.is_in(subscribers.iter().map(String::as_str)))
            .filter(lease::Column::Holder.eq(self.holder.as_str()))
            .exec(&tx)
            .await?;
        tx.commit().await
    }

    /// Writes what happened to each row: delivered rows in one statement, failures one by one
    /// with their retry time.
    async fn record(
        &self,
        tx: &Tx,
        rows: &[entry::Model],
        outcomes: &[Outcome],
    ) -> Result<(), DbErr> {
        let now = now_ms();
        let mut delivered: Vec<i64> = rows
            .iter()
            .zip(outcomes)
            .filter(|(_, o)| o.is_ok())
            .map(|(r, _)| r.id)
            .collect();
        if let Some(&last) = delivered.last() {
            // Padded to a power of two with a repeated id, so the statement's text takes one of a
            // few shapes: every distinct text is a statement the connection prepares and keeps
            // in its cache, and one per batch size would crowd the cache out.
            delivered.resize(delivered.len().next_power_of_two(), last);
            entry::Entity::update_many()
                .col_expr(entry::Column::Status, Expr::value(DELIVERED))
                .col_expr(entry::Column::DeliveredAtMs, Expr::value(now))
                .col_expr(
                    entry::Column::Attempts,
                    Expr::col(entry::Column::Attempts).add(1),
                )
                .col_expr(
                    entry::Column::LastError,
                    Expr::value(Option::<String>::None),
                )
                .filter(entry::Column::Id.is_in(delivered))
                .filter(outbox::status_is(PENDING))
                .exec(tx)
                .await?;
        }
        for (row, outcome) in rows.iter().zip(outcomes) {
            let Err(failure) = outcome else { continue };
            let attempts = row.attempts.saturating_add(1);
            // An unreachable subscriber is waited out (at the capped backoff) however long it
            // is down; only refusals of this very event use up the attempt budget.
            let exhausted = !failure.is_outage() && attempts as u32 >= self.config.max_attempts;
            let status = if exhausted { FAILED } else { PENDING };
            let next = now
                + i64::try_from(outbox::backoff_ms(&self.config, attempts as u32))
                    .unwrap_or(i64::MAX);
            tracing::warn!(
                event = %row.event_id,
                name = %row.event_name,
                subscriber = %row.subscriber,
                attempts,
                status,
                error = %failure,
                "event delivery failed"
            );
            entry::Entity::update_many()
                .col_expr(entry::Column::Status, Expr::value(status))
                .col_expr(entry::Column::Attempts, Expr::value(attempts))
                .col_expr(entry::Column::NextAttemptAtMs, Expr::value(next))
                .col_expr(entry::Column::LastError, Expr::value(failure.to_string()))
                .filter(entry::Column::Id.eq(row.id))
                .filter(outbox::status_is(PENDING))
                .exec(tx)
                .await?;
        }
        Ok(())
    }

    fn count(&self, rows: &[entry::Model], location: &'static str, outcomes: &[Outcome]) {
        let mut tally: BTreeMap<(&str, &'static str), u64> = BTreeMap::new();
        for (row, outcome) in rows.iter().zip(outcomes) {
            let kind = match outcome {
                Ok(Applied::Now) => "applied",
                Ok(Applied::Before) => "duplicate",
                Err(f) if f.is_outage() => "unavailable",
                Err(_) => "refused",
            };
            *tally.entry((row.subscriber.as_str(), kind)).or_default() += 1;
        }
        for ((subscriber, outcome), n) in tally {
            self.metrics
                .event_deliveries(subscriber, location, outcome, n);
        }
    }
}

/// Up to `limit` pending rows of the queues of `subscribers` that are due, oldest first.
async fn due(
    db: &impl ConnectionTrait,
    subscribers: &[String],
    limit: usize,
) -> Result<Vec<entry::Model>, DbErr> {
    due_query(subscribers, limit).all(db).await
}

fn due_query(subscribers: &[String], limit: usize) -> sea_orm::Select<entry::Entity> {
    // The status is in the text, so the plan reads the pending index (`outbox::status_is`).
    let mut query = entry::Entity::find().filter(outbox::status_is(PENDING));
    query = match subscribers {
        [one] => query.filter(entry::Column::Subscriber.eq(one.as_str())),
        many => query.filter(entry::Column::Subscriber.is_in(many.iter().map(String::as_str))),
    };
    query
        .filter(entry::Column::NextAttemptAtMs.lte(now_ms()))
        .order_by_asc(entry::Column::Id)
        .limit(limit as u64)
}

/// The statement with which a pass reads the due rows of `subscribers`, as the relay sends it:
/// for tests that check the database's plan for it.
#[doc(hidden)]
pub fn due_statement(backend: DbBackend, subscribers: &[String], limit: usize) -> Statement {
    due_query(subscribers, limit).build(backend)
}

/// Runs one delivery in the trace of the work that published the event, in an
/// `event_delivery` span ([`delivery_span`]).
async fn traced<F>(
    row: &entry::Model,
    envelope: &EventEnvelope,
    location: &'static str,
    work: F,
) -> Outcome
where
    F: std::future::Future<Output = Outcome>,
{
    let context = TraceContext::continue_or_start(envelope.traceparent.as_deref());
    let span = delivery_span(&row.event_name, &row.subscriber, location, &context);
    in_trace(context, work.instrument(span)).await
}

/// The span of one event delivery, by the relay or a broker's consumer. Debug level, target
/// `cleave::relay`, like the bus's call span (ADR 7): the default log filter (`info`) leaves it
/// off, and the default telemetry filter turns it on for export. Formatting its fields for the
/// log layer cost about 10 000 instructions per delivery, six deliveries per order of the shop.
/// To see deliveries' context (event, subscriber, `trace_id`) in log lines, log
/// `cleave::relay=debug`.
pub fn delivery_span(
    event: &str,
    subscriber: &str,
    location: &'static str,
    context: &TraceContext,
) -> tracing::Span {
    let span = tracing::debug_span!(
        target: "cleave::relay",
        "event_delivery",
        event = %event,
        subscriber = %subscriber,
        location,
        trace_id = %context.trace_id,
    );
    crate::trace::link_span(&span, context);
    span
}
