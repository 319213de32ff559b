//! Creates `notifications_messages`.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum NotificationsMessages {
    Table,
    Id,
    Customer,
    Kind,
    OrderId,
    Text,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(NotificationsMessages::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(NotificationsMessages::Id)
                            .string_len(36)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(NotificationsMessages::Customer)
                            .string_len(200)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(NotificationsMessages::Kind)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(NotificationsMessages::OrderId)
                            .string_len(36)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(NotificationsMessages::Text)
                            .text()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(NotificationsMessages::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_notifications_messages_customer")
                    .table(NotificationsMessages::Table)
                    .col(NotificationsMessages::Customer)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(NotificationsMessages::Table).to_owned())
            .await
    }
}
