//! Migrations of the `books` module's tables (all prefixed `books_`), tracked in
//! `seaql_migrations_books` so the module's schema evolves on its own.

use sea_orm_migration::prelude::*;

mod m20261201_000001_create_books;

/// The `books` module's migration set.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(m20261201_000001_create_books::Migration)]
    }

    fn migration_table_name() -> DynIden {
        "seaql_migrations_books".into_iden()
    }
}
