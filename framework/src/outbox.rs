//! The transactional outbox and the inbox.
//!
//! Publishing writes one `cleave_outbox` row per subscriber inside the publisher's transaction.
//! After commit the relay delivers due rows, marks them delivered, and on failure schedules a
//! retry with exponential backoff until `max_attempts`, after which the row is `failed` and
//! waits for an operator (the `events resubmit` command). A row is marked delivered only after the
//! subscriber committed, so a crash in between redelivers it; the subscriber's inbox
//! (`cleave_inbox`, keyed by subscriber and event id) turns that redelivery into a no-op.

use sea_orm::entity::prelude::*;
use sea_orm::sea_query::{Expr, OnConflict, Query};
use sea_orm::{ActiveValue::Set, PaginatorTrait, QueryOrder, QuerySelect};
use serde::Serialize;

use crate::config::OutboxConfig;
use crate::transport::{DeliveryFailure, EventEnvelope};

/// Status of a delivery that still has to happen.
pub const PENDING: &str = "pending";
/// Status of a delivery the subscriber acknowledged.
pub const DELIVERED: &str = "delivered";
/// Status of a delivery that ran out of attempts; it waits for a resubmit.
pub const FAILED: &str = "failed";

/// `cleave_outbox.status = '<status>'`, with the status written into the statement's text rather
/// than bound ([`crate::db::eq_literal`]): the relay's and retention's partial indexes (`…
/// WHERE status = 'pending'`, and the same for `failed` and `delivered`) are used only when the
/// planner sees the value (ADR 11).
pub(crate) fn status_is(status: &'static str) -> Expr {
    debug_assert!([PENDING, DELIVERED, FAILED].contains(&status));
    crate::db::eq_literal(entry::Column::Status, status)
}

/// Milliseconds since the Unix epoch, the time unit of the outbox (portable across databases).
pub fn now_ms() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
}

/// The `cleave_outbox` table: one row per (event, subscriber).
pub mod entry {
    use sea_orm::entity::prelude::*;

    /// One delivery of one event to one subscriber.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "cleave_outbox")]
    pub struct Model {
        /// Insertion order; deliveries are attempted in this order.
        #[sea_orm(primary_key)]
        pub id: i64,
        /// The event id (a UUID, as text).
        pub event_id: String,
        /// The event's wire name.
        pub event_name: String,
        /// The publishing module.
        pub publisher: String,
        /// The receiving module.
        pub subscriber: String,
        /// The JSON-encoded event.
        pub payload: String,
        /// Commit time of the publisher, ms since the epoch.
        pub published_at_ms: i64,
        /// `pending`, `delivered` or `failed`.
        pub status: String,
        /// Delivery attempts made so far.
        pub attempts: i32,
        /// Earliest time of the next attempt, ms since the epoch.
        pub next_attempt_at_ms: i64,
        /// Why the last attempt failed.
        pub last_error: Option<String>,
        /// When the subscriber acknowledged it, ms since the epoch.
        pub delivered_at_ms: Option<i64>,
        /// W3C trace context of the publishing work.
        pub traceparent: Option<String>,
    }

    /// No relations: the outbox refers to modules by name only.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The `cleave_inbox` table: which subscriber already applied which event.
pub mod inbox {
    use sea_orm::entity::prelude::*;

    /// One applied event.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "cleave_inbox")]
    pub struct Model {
        /// The module that applied the event.
        #[sea_orm(primary_key, auto_increment = false)]
        pub subscriber: String,
        /// The event id (a UUID, as text).
        #[sea_orm(primary_key, auto_increment = false)]
        pub event_id: String,
        /// When it was applied, ms since the epoch.
        pub applied_at_ms: i64,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

impl entry::Model {
    /// The event this row delivers.
    pub fn envelope(&self) -> Result<EventEnvelope, DeliveryFailure> {
        Ok(EventEnvelope {
            id: self.event_id.parse().map_err(|e| {
                DeliveryFailure::BadPayload(format!("event id `{}`: {e}", self.event_id))
            })?,
            name: self.event_name.clone(),
            publisher: self.publisher.clone(),
            published_at_ms: self.published_at_ms,
            // Checked to be one JSON value, not parsed into one: the subscriber decodes it.
            payload: serde_json::value::RawValue::from_string(self.payload.clone())
                .map_err(|e| DeliveryFailure::BadPayload(format!("stored payload: {e}")))?,
            traceparent: self.traceparent.clone(),
        })
    }
}

/// Writes one pending delivery per subscriber, inside the publisher's transaction.
///
/// One statement written out here rather than built by sea-orm's `insert_many`, which for
/// every publish merged the rows' column sets, cloned each value and rendered the statement
/// from a tree: about a fifth of an event's cost to publish (README, "Where the CPU goes").
/// The text depends only on the backend and the number of subscribers.
pub(crate) async fn enqueue(
    txn: &impl ConnectionTrait,
    envelope: &EventEnvelope,
    subscribers: &[String],
) -> Result<(), DbErr> {
    if subscribers.is_empty() {
        return Ok(());
    }
    let backend = txn.get_database_backend();
    let payload = envelope.payload.get();
    let event_id = envelope.id.to_string();
    let mut values: Vec<sea_orm::Value> = Vec::with_capacity(subscribers.len() * ENQUEUED.len());
    for subscriber in subscribers {
        values.extend([
            event_id.as_str().into(),
            envelope.name.as_str().into(),
            envelope.publisher.as_str().into(),
            subscriber.as_str().into(),
            payload.into(),
            envelope.published_at_ms.into(),
            envelope.published_at_ms.into(),
            envelope.traceparent.as_deref().into(),
        ]);
    }
    let sql = enqueue_sql(backend, subscribers.len());
    txn.execute_raw(sea_orm::Statement::from_sql_and_values(
        backend, sql, values,
    ))
    .await?;
    Ok(())
}

/// The columns [`enqueue`] binds, in order; `status` and `attempts` are written into its text.
const ENQUEUED: [&str; 8] = [
    "event_id",
    "event_name",
    "publisher",
    "subscriber",
    "payload",
    "published_at_ms",
    "next_attempt_at_ms",
    "traceparent",
];

/// `INSERT INTO cleave_outbox (…) VALUES (…), …` for `rows` pending deliveries.
fn enqueue_sql(backend: sea_orm::DbBackend, rows: usize) -> String {
    use std::fmt::Write as _;
    let mut sql = format!(
        "INSERT INTO cleave_outbox ({}, status, attempts) VALUES ",
        ENQUEUED.join(", ")
    );
    let mut n = 0;
    for row in 0..rows {
        sql.push_str(if row == 0 { "(" } else { ", (" });
        for _ in ENQUEUED {
            n += 1;
            let _ = match backend {
                sea_orm::DbBackend::Postgres => write!(sql, "${n}, "),
                _ => write!(sql, "?, "),
            };
        }
        let _ = write!(sql, "'{PENDING}', 0)");
    }
    sql
}

/// Sets aside an event that `subscriber` (hosted with this database) refused `attempts` times,
/// as a failed delivery of this database's outbox: `events list --failed` shows it and
/// `events resubmit` hands it to the subscriber again through the relay. For a transport that
/// cannot keep refused events itself (the broker's consumers). Setting the same event aside
/// twice (a replica died before it acknowledged the broker) keeps one row.
pub async fn park_failed(
    db: &crate::db::Database,
    envelope: &EventEnvelope,
    subscriber: &str,
    attempts: u32,
    error: &str,
) -> Result<(), DbErr> {
    let tx = db.write().await?;
    let known = entry::Entity::find()
        .filter(entry::Column::EventId.eq(envelope.id.to_string()))
        .filter(entry::Column::Subscriber.eq(subscriber))
        .count(&tx)
        .await?;
    if known == 0 {
        let now = now_ms();
        entry::ActiveModel {
            event_id: Set(envelope.id.to_string()),
            event_name: Set(envelope.name.clone()),
            publisher: Set(envelope.publisher.clone()),
            subscriber: Set(subscriber.to_string()),
            payload: Set(envelope.payload.get().to_owned()),
            published_at_ms: Set(envelope.published_at_ms),
            status: Set(FAILED.to_string()),
            attempts: Set(i32::try_from(attempts).unwrap_or(i32::MAX)),
            next_attempt_at_ms: Set(now),
            last_error: Set(Some(error.to_string())),
            delivered_at_ms: Set(None),
            traceparent: Set(envelope.traceparent.clone()),
            ..Default::default()
        }
        .insert(&tx)
        .await?;
    }
    tx.commit().await
}

/// Records that `subscriber` applies `event_id` now; `false` if it already had.
pub(crate) async fn record_in_inbox(
    txn: &impl ConnectionTrait,
    subscriber: &str,
    event_id: Uuid,
) -> Result<bool, DbErr> {
    let event_id = event_id.to_string();
    Ok(!record_batch_in_inbox(txn, &[(subscriber, &event_id)])
        .await?
        .is_empty())
}

/// Records in the inbox, in one statement, that each `(subscriber, event id)` of a relay batch
/// (ids as the outbox stores them) is being applied; returns the ones that were not there
/// (the others were applied before).
///
/// The list is padded to a power of two by repeating its last entry (a repeat conflicts with
/// itself and is skipped), so the statement's text takes one of a few shapes and stays in the
/// connection's prepared-statement cache, as the relay's marks do.
pub(crate) async fn record_batch_in_inbox(
    txn: &impl ConnectionTrait,
    entries: &[(&str, &str)],
) -> Result<std::collections::HashSet<(String, String)>, DbErr> {
    let mut new = std::collections::HashSet::new();
    let Some(&last) = entries.last() else {
        return Ok(new);
    };
    let now = now_ms();
    let mut insert = Query::insert();
    insert.into_table(inbox::Entity).columns([
        inbox::Column::Subscriber,
        inbox::Column::EventId,
        inbox::Column::AppliedAtMs,
    ]);
    let padding = std::iter::repeat_n(last, entries.len().next_power_of_two() - entries.len());
    for (subscriber, event_id) in entries.iter().copied().chain(padding) {
        insert.values_panic([subscriber.into(), event_id.into(), now.into()]);
    }
    insert
        .on_conflict(
            OnConflict::columns([inbox::Column::Subscriber, inbox::Column::EventId])
                .do_nothing()
                .to_owned(),
        )
        .returning(Query::returning().columns([inbox::Column::Subscriber, inbox::Column::EventId]));
    for row in txn.query_all(&insert).await? {
        new.insert((
            row.try_get::<String>("", "subscriber")?,
            row.try_get::<String>("", "event_id")?,
        ));
    }
    Ok(new)
}

/// Delay before attempt number `attempts + 1`, given `attempts` failed ones.
pub fn backoff_ms(config: &OutboxConfig, attempts: u32) -> u64 {
    // Computed by hand rather than with a retry crate: the schedule is stored in the database
    // (next_attempt_at_ms) so it survives restarts, and all that is needed is this formula.
    let exponent = attempts.saturating_sub(1).min(30);
    config
        .backoff_initial_ms
        .saturating_mul(1u64 << exponent)
        .min(config.backoff_max_ms)
}

/// A delivery as an operator sees it.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryView {
    /// Outbox row id (what `resubmit` takes).
    pub id: i64,
    /// Event id.
    pub event_id: String,
    /// Event wire name.
    pub event: String,
    /// Publishing module.
    pub publisher: String,
    /// Receiving module.
    pub subscriber: String,
    /// `pending` or `failed` (or `delivered`).
    pub status: String,
    /// Attempts made.
    pub attempts: i32,
    /// Next attempt, ms since the epoch.
    pub next_attempt_at_ms: i64,
    /// Last failure.
    pub last_error: Option<String>,
}

/// Deliveries with one of `statuses`, oldest first.
pub async fn list(db: &DatabaseConnection, statuses: &[&str]) -> Result<Vec<DeliveryView>, DbErr> {
    let rows = entry::Entity::find()
        .filter(entry::Column::Status.is_in(statuses.iter().copied()))
        .order_by_asc(entry::Column::Id)
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| DeliveryView {
            id: r.id,
            event_id: r.event_id,
            event: r.event_name,
            publisher: r.publisher,
            subscriber: r.subscriber,
            status: r.status,
            attempts: r.attempts,
            next_attempt_at_ms: r.next_attempt_at_ms,
            last_error: r.last_error,
        })
        .collect())
}

/// Counts of deliveries by state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OutboxCounts {
    /// Waiting for delivery (including scheduled retries).
    pub pending: u64,
    /// Out of attempts.
    pub failed: u64,
    /// How long the oldest pending delivery has waited since its event was committed, ms; 0
    /// when nothing is pending.
    pub oldest_pending_age_ms: u64,
    /// Delivered rows still kept (until retention removes them).
    pub delivered: u64,
}

/// How many entries the inbox holds (every subscriber's memory of applied events, until
/// retention removes them).
pub async fn inbox_entries(db: &DatabaseConnection) -> Result<u64, DbErr> {
    inbox::Entity::find().count(db).await
}

/// How many deliveries are pending and failed, and the age of the oldest pending one.
pub async fn counts(db: &DatabaseConnection) -> Result<OutboxCounts, DbErr> {
    counts_where(db, None).await
}

/// How many deliveries of `publisher`'s events are pending and failed.
pub async fn counts_for(db: &DatabaseConnection, publisher: &str) -> Result<OutboxCounts, DbErr> {
    counts_where(db, Some(publisher)).await
}

async fn counts_where(
    db: &DatabaseConnection,
    publisher: Option<&str>,
) -> Result<OutboxCounts, DbErr> {
    let count = |status: &'static str| {
        let mut query = entry::Entity::find().filter(status_is(status));
        if let Some(publisher) = publisher {
            query = query.filter(entry::Column::Publisher.eq(publisher));
        }
        query.count(db)
    };
    let mut oldest = entry::Entity::find()
        .select_only()
        .column_as(entry::Column::PublishedAtMs.min(), "oldest")
        .filter(status_is(PENDING));
    if let Some(publisher) = publisher {
        oldest = oldest.filter(entry::Column::Publisher.eq(publisher));
    }
    let oldest: Option<Option<i64>> = oldest.into_tuple().one(db).await?;
    let oldest_pending_age_ms = oldest
        .flatten()
        .map(|published| u64::try_from(now_ms().saturating_sub(published)).unwrap_or(0))
        .unwrap_or(0);
    Ok(OutboxCounts {
        pending: count(PENDING).await?,
        failed: count(FAILED).await?,
        oldest_pending_age_ms,
        delivered: count(DELIVERED).await?,
    })
}

/// Moves failed deliveries back to pending with a fresh attempt budget; all of them when `ids`
/// is empty. Returns how many were resubmitted.
pub async fn resubmit_failed(db: &crate::db::Database, ids: &[i64]) -> Result<u64, DbErr> {
    let mut update = entry::Entity::update_many()
        .filter(status_is(FAILED))
        .col_expr(entry::Column::Status, Expr::value(PENDING))
        .col_expr(entry::Column::Attempts, Expr::value(0))
        .col_expr(entry::Column::NextAttemptAtMs, Expr::value(now_ms()));
    if !ids.is_empty() {
        update = update.filter(entry::Column::Id.is_in(ids.iter().copied()));
    }
    let tx = db.write().await?;
    let resubmitted = update.exec(&tx).await?.rows_affected;
    tx.commit().await?;
    db.signal_all_queues();
    Ok(resubmitted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let config = OutboxConfig {
            backoff_initial_ms: 100,
            backoff_max_ms: 1_000,
            ..OutboxConfig::default()
        };
        let delays: Vec<u64> = (1..=6).map(|a| backoff_ms(&config, a)).collect();
        assert_eq!(delays, vec![100, 200, 400, 800, 1_000, 1_000]);
        assert_eq!(backoff_ms(&config, u32::MAX), 1_000);
    }

    #[tokio::test]
    async fn a_batch_records_only_what_was_not_applied_before() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/inbox.db?mode=rwc", dir.path().display());
        let db = crate::db::Database::connect(&url, &crate::db::DatabaseOptions::default())
            .await
            .unwrap();
        crate::migrate::migrate(&db, &[]).await.unwrap();
        let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let tx = db.write().await.unwrap();
        assert!(record_in_inbox(&tx, "billing", a).await.unwrap());
        let (a, b, c) = (a.to_string(), b.to_string(), c.to_string());
        // `a` was applied before by billing; `b` comes twice; five entries are padded to eight.
        let new = record_batch_in_inbox(
            &tx,
            &[
                ("billing", &a),
                ("billing", &b),
                ("billing", &b),
                ("orders", &a),
                ("orders", &c),
            ],
        )
        .await
        .unwrap();
        let key = |s: &str, id: &str| (s.to_string(), id.to_string());
        let expected: std::collections::HashSet<_> =
            [key("billing", &b), key("orders", &a), key("orders", &c)].into();
        assert_eq!(new, expected);
        assert!(record_batch_in_inbox(&tx, &[]).await.unwrap().is_empty());
        tx.commit().await.unwrap();
        assert_eq!(inbox_entries(db.read()).await.unwrap(), 4);
    }

    /// The enqueue statement's text: every bound column once per row, numbered through on
    /// PostgreSQL, the status and attempts written in.
    #[test]
    fn the_enqueue_statement_binds_each_row_in_column_order() {
        let sqlite = enqueue_sql(sea_orm::DbBackend::Sqlite, 2);
        assert_eq!(sqlite.matches('?').count(), 2 * ENQUEUED.len());
        assert_eq!(sqlite.matches("'pending', 0)").count(), 2);
        let postgres = enqueue_sql(sea_orm::DbBackend::Postgres, 2);
        assert!(postgres.starts_with(
            "INSERT INTO cleave_outbox (event_id, event_name, publisher, subscriber, payload, \
             published_at_ms, next_attempt_at_ms, traceparent, status, attempts) VALUES ($1, $2,"
        ));
        assert!(postgres.ends_with("$15, $16, 'pending', 0)"), "{postgres}");
    }

    /// An enqueued event reads back as it was published, once per subscriber, pending and due.
    #[tokio::test]
    async fn an_enqueued_event_reads_back_once_per_subscriber() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/e.db", dir.path().display());
        let db = crate::db::Database::connect(&url, &crate::db::DatabaseOptions::default())
            .await
            .unwrap();
        crate::migrate::migrate(&db, &[]).await.unwrap();
        let envelope = EventEnvelope {
            id: Uuid::now_v7(),
            name: "orders.order_placed".into(),
            publisher: "orders".into(),
            published_at_ms: 42,
            payload: serde_json::value::RawValue::from_string(r#"{"it's":"x"}"#.into()).unwrap(),
            traceparent: None,
        };
        let tx = db.write().await.unwrap();
        enqueue(&tx, &envelope, &["billing".into(), "inventory".into()])
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let rows = entry::Entity::find()
            .order_by_asc(entry::Column::Id)
            .all(db.read())
            .await
            .unwrap();
        let subscribers: Vec<&str> = rows.iter().map(|r| r.subscriber.as_str()).collect();
        assert_eq!(subscribers, ["billing", "inventory"]);
        for row in &rows {
            assert_eq!(row.envelope().unwrap(), envelope);
            assert_eq!((row.status.as_str(), row.attempts), (PENDING, 0));
            assert_eq!(row.next_attempt_at_ms, 42);
            assert_eq!(
                (row.last_error.as_deref(), row.delivered_at_ms),
                (None, None)
            );
        }
    }
}
