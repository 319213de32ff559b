//! Creates `loans_loans`: one row per loan, `borrowed` until it is `returned`.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum LoansLoans {
    Table,
    Id,
    MemberId,
    Isbn,
    Title,
    Status,
    DueOn,
    BorrowedAt,
    ReturnedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(LoansLoans::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(LoansLoans::Id)
                            .string_len(36)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(LoansLoans::MemberId)
                            .string_len(36)
                            .not_null(),
                    )
                    .col(ColumnDef::new(LoansLoans::Isbn).string_len(13).not_null())
                    .col(ColumnDef::new(LoansLoans::Title).string_len(300).not_null())
                    .col(ColumnDef::new(LoansLoans::Status).string_len(16).not_null())
                    .col(ColumnDef::new(LoansLoans::DueOn).date().not_null())
                    .col(
                        ColumnDef::new(LoansLoans::BorrowedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(LoansLoans::ReturnedAt).timestamp_with_time_zone())
                    .to_owned(),
            )
            .await?;
        // A member's open loans are counted on every borrow.
        manager
            .create_index(
                Index::create()
                    .name("loans_loans_member_status")
                    .table(LoansLoans::Table)
                    .col(LoansLoans::MemberId)
                    .col(LoansLoans::Status)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(LoansLoans::Table).to_owned())
            .await
    }
}
