//! A reservation's state (`held` until its order is stored, `confirmed`, `sold`) and when a
//! held one lapses, so that stock held for an order that never got stored is given back.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum InventoryReservations {
    Table,
    State,
    ExpiresAtMs,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Reservations made before this migration belong to stored orders.
        manager
            .alter_table(
                Table::alter()
                    .table(InventoryReservations::Table)
                    .add_column(
                        ColumnDef::new(InventoryReservations::State)
                            .string_len(16)
                            .not_null()
                            .default("confirmed"),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(InventoryReservations::Table)
                    .add_column(
                        ColumnDef::new(InventoryReservations::ExpiresAtMs)
                            .big_integer()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX IF NOT EXISTS idx_inventory_reservations_held ON inventory_reservations (expires_at_ms) WHERE state = 'held'",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP INDEX IF EXISTS idx_inventory_reservations_held")
            .await?;
        for column in [
            InventoryReservations::ExpiresAtMs,
            InventoryReservations::State,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(InventoryReservations::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
