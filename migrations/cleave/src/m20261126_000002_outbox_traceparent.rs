//! Adds the publishing work's W3C trace context to each outbox row.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum CleaveOutbox {
    Table,
    Traceparent,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(CleaveOutbox::Table)
                    .add_column(
                        ColumnDef::new(CleaveOutbox::Traceparent)
                            .string_len(64)
                            .null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(CleaveOutbox::Table)
                    .drop_column(CleaveOutbox::Traceparent)
                    .to_owned(),
            )
            .await
    }
}
