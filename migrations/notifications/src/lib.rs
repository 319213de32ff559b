//! Migrations of the `notifications` module's tables (all prefixed `notifications_`), tracked in
//! `seaql_migrations_notifications` so the module's schema evolves on its own.

use sea_orm_migration::prelude::*;

mod m20261126_000001_create_tables;

/// The `notifications` module's migration set.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(m20261126_000001_create_tables::Migration)]
    }

    fn migration_table_name() -> DynIden {
        "seaql_migrations_notifications".into_iden()
    }
}
