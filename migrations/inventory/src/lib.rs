//! Migrations of the `inventory` module's tables (all prefixed `inventory_`), tracked in
//! `seaql_migrations_inventory` so the module's schema evolves on its own.

use sea_orm_migration::prelude::*;

mod m20261126_000001_create_tables;
mod m20261201_000001_reservation_lifecycle;

/// The `inventory` module's migration set.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261126_000001_create_tables::Migration),
            Box::new(m20261201_000001_reservation_lifecycle::Migration),
        ]
    }

    fn migration_table_name() -> DynIden {
        "seaql_migrations_inventory".into_iden()
    }
}
