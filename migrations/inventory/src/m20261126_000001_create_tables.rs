//! Creates `inventory_stock`, `inventory_reservations` and `inventory_reservation_lines`.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum InventoryStock {
    Table,
    Sku,
    OnHand,
    Reserved,
}

#[derive(DeriveIden)]
enum InventoryReservations {
    Table,
    Id,
    CreatedAt,
}

#[derive(DeriveIden)]
enum InventoryReservationLines {
    Table,
    ReservationId,
    Sku,
    Quantity,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(InventoryStock::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(InventoryStock::Sku)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(InventoryStock::OnHand)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(InventoryStock::Reserved)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .check(Expr::col(InventoryStock::Reserved).gte(0))
                    .check(
                        Expr::col(InventoryStock::Reserved).lte(Expr::col(InventoryStock::OnHand)),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(InventoryReservations::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(InventoryReservations::Id)
                            .string_len(36)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(InventoryReservations::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(InventoryReservationLines::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(InventoryReservationLines::ReservationId)
                            .string_len(36)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(InventoryReservationLines::Sku)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(InventoryReservationLines::Quantity)
                            .big_integer()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(InventoryReservationLines::ReservationId)
                            .col(InventoryReservationLines::Sku),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(
                                InventoryReservationLines::Table,
                                InventoryReservationLines::ReservationId,
                            )
                            .to(InventoryReservations::Table, InventoryReservations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            InventoryReservationLines::Table.into_iden(),
            InventoryReservations::Table.into_iden(),
            InventoryStock::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
