//! Retention: delivered outbox rows, old inbox entries and old idempotency keys are removed in
//! batches by a background task, so the tables stay bounded however long a process runs.
//!
//! Pending and failed deliveries are never touched: a failed one waits for an operator's
//! `events resubmit`. Inbox entries are the subscriber's memory of what it applied; they are
//! kept `outbox.retain_inbox_s` (a week by default), which must exceed the longest time after
//! which an event could be delivered again.

use std::time::Duration;

use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{ConnectionTrait, DbErr};

use crate::config::{OutboxConfig, Retention};
use crate::db::Database;
use crate::outbox::{DELIVERED, now_ms};

/// Rows removed per statement (and per transaction), so retention never holds the writer for
/// long.
const BATCH: u64 = 1_000;

/// What one retention pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    /// Delivered outbox rows deleted (or archived).
    pub outbox: u64,
    /// Inbox entries deleted.
    pub inbox: u64,
    /// Stored answers of idempotency keys deleted.
    pub idempotency: u64,
}

/// Runs [`purge`] every `retention_interval_s` until aborted.
pub(crate) fn spawn(db: Database, config: OutboxConfig) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if config.retention == Retention::Keep {
            return;
        }
        let mut every = tokio::time::interval(Duration::from_secs(Ord::max(
            config.retention_interval_s,
            1,
        )));
        loop {
            every.tick().await;
            match purge(&db, &config, now_ms()).await {
                Ok(p) if p.outbox + p.inbox + p.idempotency > 0 => {
                    tracing::debug!(
                        outbox = p.outbox,
                        inbox = p.inbox,
                        idempotency = p.idempotency,
                        "retention removed rows"
                    )
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "retention pass failed"),
            }
        }
    })
}

/// Removes what retention allows at time `now_ms`: delivered outbox rows older than
/// `retain_delivered_s` (moved to `cleave_outbox_archive` first with `retention = "archive"`)
/// and inbox entries older than `retain_inbox_s`.
pub async fn purge(db: &Database, config: &OutboxConfig, now_ms: i64) -> Result<Purged, DbErr> {
    let mut purged = Purged::default();
    if config.retention == Retention::Keep {
        return Ok(purged);
    }
    let seconds = |s: u64| i64::try_from(s.saturating_mul(1_000)).unwrap_or(i64::MAX);
    let delivered_before = now_ms.saturating_sub(seconds(config.retain_delivered_s));
    let applied_before = now_ms.saturating_sub(seconds(config.retain_inbox_s));
    loop {
        let ids = Query::select()
            .column(Alias::new("id"))
            .from(Alias::new("cleave_outbox"))
            .and_where(crate::outbox::status_is(DELIVERED))
            .and_where(Expr::col(Alias::new("delivered_at_ms")).lt(delivered_before))
            .order_by(Alias::new("id"), sea_orm::sea_query::Order::Asc)
            .limit(BATCH)
            .to_owned();
        let tx = db.write().await?;
        if config.retention == Retention::Archive {
            let columns = [
                "id",
                "event_id",
                "event_name",
                "publisher",
                "subscriber",
                "payload",
                "published_at_ms",
                "status",
                "attempts",
                "next_attempt_at_ms",
                "last_error",
                "delivered_at_ms",
                "traceparent",
            ];
            let mut select = Query::select();
            for c in columns {
                select.column(Alias::new(c));
            }
            select
                .from(Alias::new("cleave_outbox"))
                .and_where(Expr::col(Alias::new("id")).in_subquery(ids.clone()));
            let insert = Query::insert()
                .into_table(Alias::new("cleave_outbox_archive"))
                .columns(columns.map(Alias::new))
                .select_from(select)
                .map_err(|e| DbErr::Custom(e.to_string()))?
                .to_owned();
            tx.execute(&insert).await?;
        }
        let delete = Query::delete()
            .from_table(Alias::new("cleave_outbox"))
            .and_where(Expr::col(Alias::new("id")).in_subquery(ids))
            .to_owned();
        let removed = tx.execute(&delete).await?.rows_affected();
        tx.commit().await?;
        purged.outbox += removed;
        if removed < BATCH {
            break;
        }
    }
    loop {
        let old = Query::select()
            .column(Alias::new("event_id"))
            .from(Alias::new("cleave_inbox"))
            .and_where(Expr::col(Alias::new("applied_at_ms")).lt(applied_before))
            .limit(BATCH)
            .to_owned();
        let delete = Query::delete()
            .from_table(Alias::new("cleave_inbox"))
            .and_where(Expr::col(Alias::new("event_id")).in_subquery(old))
            .and_where(Expr::col(Alias::new("applied_at_ms")).lt(applied_before))
            .to_owned();
        let tx = db.write().await?;
        let removed = tx.execute(&delete).await?.rows_affected();
        tx.commit().await?;
        purged.inbox += removed;
        if removed < BATCH {
            break;
        }
    }
    purged.idempotency = crate::idempotency::purge(
        db,
        now_ms.saturating_sub(seconds(config.retain_idempotency_s)),
    )
    .await?;
    Ok(purged)
}
