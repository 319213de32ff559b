//! Creates `books_titles` (copies of each title, and how many are on the shelf) and
//! `books_lendings` (which copy went out for which loan).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum BooksTitles {
    Table,
    Isbn,
    Title,
    Copies,
    Available,
    CreatedAt,
}

#[derive(DeriveIden)]
enum BooksLendings {
    Table,
    LoanId,
    Isbn,
    TakenAt,
    ReturnedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(BooksTitles::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(BooksTitles::Isbn)
                            .string_len(13)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(BooksTitles::Title)
                            .string_len(300)
                            .not_null(),
                    )
                    .col(ColumnDef::new(BooksTitles::Copies).big_integer().not_null())
                    .col(
                        ColumnDef::new(BooksTitles::Available)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(BooksTitles::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(BooksLendings::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(BooksLendings::LoanId)
                            .string_len(36)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(BooksLendings::Isbn)
                            .string_len(13)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(BooksLendings::TakenAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(BooksLendings::ReturnedAt).timestamp_with_time_zone())
                    .foreign_key(
                        ForeignKey::create()
                            .from(BooksLendings::Table, BooksLendings::Isbn)
                            .to(BooksTitles::Table, BooksTitles::Isbn),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(BooksLendings::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(BooksTitles::Table).to_owned())
            .await
    }
}
