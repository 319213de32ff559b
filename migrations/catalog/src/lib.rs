//! Migrations of the `catalog` module's tables (all prefixed `catalog_`), tracked in
//! `seaql_migrations_catalog` so the module's schema evolves on its own.

use sea_orm_migration::prelude::*;

mod m20261126_000001_create_tables;

/// The `catalog` module's migration set.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(m20261126_000001_create_tables::Migration)]
    }

    fn migration_table_name() -> DynIden {
        "seaql_migrations_catalog".into_iden()
    }
}
