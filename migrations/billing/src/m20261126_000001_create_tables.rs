//! Creates `billing_invoices` and `billing_payments`.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum BillingInvoices {
    Table,
    Id,
    OrderId,
    Customer,
    AmountCents,
    Status,
    CreatedAt,
}

#[derive(DeriveIden)]
enum BillingPayments {
    Table,
    Id,
    InvoiceId,
    AmountCents,
    CapturedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(BillingInvoices::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(BillingInvoices::Id)
                            .string_len(36)
                            .not_null()
                            .primary_key(),
                    )
                    // One invoice per order, whatever happens to event delivery.
                    .col(
                        ColumnDef::new(BillingInvoices::OrderId)
                            .string_len(36)
                            .not_null()
                            .unique_key(),
                    )
                    .col(
                        ColumnDef::new(BillingInvoices::Customer)
                            .string_len(200)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(BillingInvoices::AmountCents)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(BillingInvoices::Status)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(BillingInvoices::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(BillingPayments::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(BillingPayments::Id)
                            .string_len(36)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(BillingPayments::InvoiceId)
                            .string_len(36)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(BillingPayments::AmountCents)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(BillingPayments::CapturedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(BillingPayments::Table, BillingPayments::InvoiceId)
                            .to(BillingInvoices::Table, BillingInvoices::Id),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(BillingPayments::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(BillingInvoices::Table).to_owned())
            .await
    }
}
