//! Relay leases (one relay per subscriber queue across processes), indexes that fit the
//! relay's and retention's queries, and the archive of delivered rows.
//!
//! Partial indexes are written as SQL: SQLite and PostgreSQL both have them, with the same
//! syntax, and sea-query's index builder does not express the `WHERE`.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

const UP: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS cleave_relay_leases (
        subscriber VARCHAR(255) NOT NULL PRIMARY KEY,
        holder VARCHAR(255) NOT NULL,
        expires_at_ms BIGINT NOT NULL
    )",
    // The relay reads one subscriber's pending rows in id order.
    "CREATE INDEX IF NOT EXISTS idx_cleave_outbox_pending ON cleave_outbox (subscriber, id) WHERE status = 'pending'",
    "CREATE INDEX IF NOT EXISTS idx_cleave_outbox_failed ON cleave_outbox (id) WHERE status = 'failed'",
    // Retention finds delivered rows by age.
    "CREATE INDEX IF NOT EXISTS idx_cleave_outbox_delivered ON cleave_outbox (delivered_at_ms) WHERE status = 'delivered'",
    "CREATE INDEX IF NOT EXISTS idx_cleave_inbox_applied ON cleave_inbox (applied_at_ms)",
    // Replaced by the partial indexes: it indexed every row by status and time, so a pass over
    // a long outbox read and discarded the delivered rows.
    "DROP INDEX IF EXISTS idx_cleave_outbox_due",
    "CREATE TABLE IF NOT EXISTS cleave_outbox_archive (
        id BIGINT NOT NULL PRIMARY KEY,
        event_id VARCHAR(36) NOT NULL,
        event_name VARCHAR(255) NOT NULL,
        publisher VARCHAR(255) NOT NULL,
        subscriber VARCHAR(255) NOT NULL,
        payload TEXT NOT NULL,
        published_at_ms BIGINT NOT NULL,
        status VARCHAR(16) NOT NULL,
        attempts INTEGER NOT NULL,
        next_attempt_at_ms BIGINT NOT NULL,
        last_error TEXT NULL,
        delivered_at_ms BIGINT NULL,
        traceparent VARCHAR(64) NULL
    )",
];

const DOWN: &[&str] = &[
    "DROP TABLE IF EXISTS cleave_outbox_archive",
    "CREATE INDEX IF NOT EXISTS idx_cleave_outbox_due ON cleave_outbox (status, next_attempt_at_ms)",
    "DROP INDEX IF EXISTS idx_cleave_inbox_applied",
    "DROP INDEX IF EXISTS idx_cleave_outbox_delivered",
    "DROP INDEX IF EXISTS idx_cleave_outbox_failed",
    "DROP INDEX IF EXISTS idx_cleave_outbox_pending",
    "DROP TABLE IF EXISTS cleave_relay_leases",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for sql in UP {
            manager.get_connection().execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for sql in DOWN {
            manager.get_connection().execute_unprepared(sql).await?;
        }
        Ok(())
    }
}
