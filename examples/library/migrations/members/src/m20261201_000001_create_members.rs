//! Creates `members_members`: who may borrow, their limit, and the loans they hold.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum MembersMembers {
    Table,
    Id,
    Name,
    Email,
    LoanLimit,
    Suspended,
    ActiveLoans,
    LoansTotal,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(MembersMembers::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(MembersMembers::Id)
                            .string_len(36)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(MembersMembers::Name)
                            .string_len(200)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(MembersMembers::Email)
                            .string_len(254)
                            .not_null()
                            .unique_key(),
                    )
                    .col(
                        ColumnDef::new(MembersMembers::LoanLimit)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(MembersMembers::Suspended)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(
                        ColumnDef::new(MembersMembers::ActiveLoans)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .col(
                        ColumnDef::new(MembersMembers::LoansTotal)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .col(
                        ColumnDef::new(MembersMembers::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(MembersMembers::Table).to_owned())
            .await
    }
}
