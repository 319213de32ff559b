//! Creates the outbox (one row per event and subscriber) and the inbox (applied events).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum CleaveOutbox {
    Table,
    Id,
    EventId,
    EventName,
    Publisher,
    Subscriber,
    Payload,
    PublishedAtMs,
    Status,
    Attempts,
    NextAttemptAtMs,
    LastError,
    DeliveredAtMs,
}

#[derive(DeriveIden)]
enum CleaveInbox {
    Table,
    Subscriber,
    EventId,
    AppliedAtMs,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(CleaveOutbox::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(CleaveOutbox::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(CleaveOutbox::EventId)
                            .string_len(36)
                            .not_null(),
                    )
                    .col(ColumnDef::new(CleaveOutbox::EventName).string().not_null())
                    .col(ColumnDef::new(CleaveOutbox::Publisher).string().not_null())
                    .col(ColumnDef::new(CleaveOutbox::Subscriber).string().not_null())
                    .col(ColumnDef::new(CleaveOutbox::Payload).text().not_null())
                    .col(
                        ColumnDef::new(CleaveOutbox::PublishedAtMs)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(CleaveOutbox::Status)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(CleaveOutbox::Attempts)
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .col(
                        ColumnDef::new(CleaveOutbox::NextAttemptAtMs)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(CleaveOutbox::LastError).text().null())
                    .col(
                        ColumnDef::new(CleaveOutbox::DeliveredAtMs)
                            .big_integer()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_cleave_outbox_due")
                    .table(CleaveOutbox::Table)
                    .col(CleaveOutbox::Status)
                    .col(CleaveOutbox::NextAttemptAtMs)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_cleave_outbox_event_subscriber")
                    .table(CleaveOutbox::Table)
                    .col(CleaveOutbox::EventId)
                    .col(CleaveOutbox::Subscriber)
                    .unique()
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CleaveInbox::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(CleaveInbox::Subscriber).string().not_null())
                    .col(
                        ColumnDef::new(CleaveInbox::EventId)
                            .string_len(36)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(CleaveInbox::AppliedAtMs)
                            .big_integer()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(CleaveInbox::Subscriber)
                            .col(CleaveInbox::EventId),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(CleaveInbox::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(CleaveOutbox::Table).to_owned())
            .await
    }
}
