//! Creates `orders_orders` and `orders_lines`.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum OrdersOrders {
    Table,
    Id,
    Customer,
    Status,
    TotalCents,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum OrdersLines {
    Table,
    OrderId,
    Sku,
    Quantity,
    UnitPriceCents,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(OrdersOrders::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(OrdersOrders::Id)
                            .string_len(36)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(OrdersOrders::Customer)
                            .string_len(200)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(OrdersOrders::Status)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(OrdersOrders::TotalCents)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(OrdersOrders::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(OrdersOrders::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(OrdersLines::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(OrdersLines::OrderId)
                            .string_len(36)
                            .not_null(),
                    )
                    .col(ColumnDef::new(OrdersLines::Sku).string_len(64).not_null())
                    .col(
                        ColumnDef::new(OrdersLines::Quantity)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(OrdersLines::UnitPriceCents)
                            .big_integer()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(OrdersLines::OrderId)
                            .col(OrdersLines::Sku),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(OrdersLines::Table, OrdersLines::OrderId)
                            .to(OrdersOrders::Table, OrdersOrders::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(OrdersLines::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(OrdersOrders::Table).to_owned())
            .await
    }
}
