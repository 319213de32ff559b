//! Migrations of the framework's tables (`cleave_outbox`, `cleave_inbox`, `cleave_relay_leases`,
//! `cleave_outbox_archive`, `cleave_idempotency`), tracked in
//! `seaql_migrations_cleave` apart from every module's own set.

use sea_orm_migration::prelude::*;

mod m20261126_000001_outbox_inbox;
mod m20261126_000002_outbox_traceparent;
mod m20261201_000001_relay_leases_and_retention;
mod m20261201_000002_idempotency;

/// The framework's migration set.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261126_000001_outbox_inbox::Migration),
            Box::new(m20261126_000002_outbox_traceparent::Migration),
            Box::new(m20261201_000001_relay_leases_and_retention::Migration),
            Box::new(m20261201_000002_idempotency::Migration),
        ]
    }

    fn migration_table_name() -> DynIden {
        "seaql_migrations_cleave".into_iden()
    }
}
