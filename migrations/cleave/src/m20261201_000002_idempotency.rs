//! The answers of requests sent with an `Idempotency-Key`, so a retry gets the first answer.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared(
            "CREATE TABLE IF NOT EXISTS cleave_idempotency (
                scope VARCHAR(255) NOT NULL,
                idempotency_key VARCHAR(255) NOT NULL,
                request_hash VARCHAR(64) NOT NULL,
                status INTEGER NOT NULL,
                body TEXT NOT NULL,
                location TEXT NULL,
                created_at_ms BIGINT NOT NULL,
                PRIMARY KEY (scope, idempotency_key)
            )",
        )
        .await?;
        db.execute_unprepared(
            "CREATE INDEX IF NOT EXISTS idx_cleave_idempotency_created ON cleave_idempotency (created_at_ms)",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP TABLE IF EXISTS cleave_idempotency")
            .await?;
        Ok(())
    }
}
