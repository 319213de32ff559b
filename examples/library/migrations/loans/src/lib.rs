//! Migrations of the `loans` module's tables (all prefixed `loans_`), tracked in
//! `seaql_migrations_loans` so the module's schema evolves on its own.

use sea_orm_migration::prelude::*;

mod m20261201_000001_create_loans;

/// The `loans` module's migration set.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(m20261201_000001_create_loans::Migration)]
    }

    fn migration_table_name() -> DynIden {
        "seaql_migrations_loans".into_iden()
    }
}
