//! Migrations of the `members` module's tables (all prefixed `members_`), tracked in
//! `seaql_migrations_members` so the module's schema evolves on its own.

use sea_orm_migration::prelude::*;

mod m20261201_000001_create_members;

/// The `members` module's migration set.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(m20261201_000001_create_members::Migration)]
    }

    fn migration_table_name() -> DynIden {
        "seaql_migrations_members".into_iden()
    }
}
