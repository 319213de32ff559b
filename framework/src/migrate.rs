//! Migrations: the framework's tables, then each hosted module's own set, safe when several
//! processes start at once on a fresh database.
//!
//! Every process migrates on start. Two processes doing it at the same instant would both
//! create the same tables and tracking rows, and one would fail; so migrations run under a
//! lock every process takes first: a PostgreSQL advisory lock (held by a transaction for the
//! duration), or on SQLite an exclusive lock on a file next to the database.

use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement, TransactionTrait};
use sea_orm_migration::MigratorTrait;

use crate::db::Database;
use crate::module::ModuleDescriptor;

/// The key of the PostgreSQL advisory lock migrations run under (`"cleave"` in ASCII).
const ADVISORY_LOCK_KEY: i64 = 0x636c_6561_7665;

/// Applies the framework's migrations, then each module's own set (each with its own tracking
/// table), in module-name order, under the migration lock.
pub async fn migrate(db: &Database, modules: &[&'static ModuleDescriptor]) -> Result<(), DbErr> {
    match db.backend() {
        DbBackend::Postgres => {
            // A transaction-scoped advisory lock on one connection of the pool; the
            // migrations run on the others and the lock goes with the commit.
            let lock = db.writer().begin().await?;
            lock.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT pg_advisory_xact_lock($1)",
                [ADVISORY_LOCK_KEY.into()],
            ))
            .await?;
            let outcome = run(db, modules).await;
            lock.commit().await?;
            outcome
        }
        _ => {
            let _lock = match db.sqlite_file() {
                Some(file) => Some(FileLock::acquire(file).await?),
                None => None,
            };
            run(db, modules).await
        }
    }
}

async fn run(db: &Database, modules: &[&'static ModuleDescriptor]) -> Result<(), DbErr> {
    cleave_migrations::Migrator::up(db.writer(), None).await?;
    for module in modules {
        (module.migrate)(db.writer()).await.map_err(|e| {
            DbErr::Custom(format!(
                "migrations of module `{}` failed: {e}",
                module.name()
            ))
        })?;
    }
    Ok(())
}

/// An exclusive lock on `<database file>-migrate.lock`, released when dropped (or when the
/// process dies: the operating system releases it).
struct FileLock {
    _file: std::fs::File,
}

impl FileLock {
    async fn acquire(database: &std::path::Path) -> Result<FileLock, DbErr> {
        let mut path = database.as_os_str().to_owned();
        path.push("-migrate.lock");
        let path = std::path::PathBuf::from(path);
        tokio::task::spawn_blocking(move || {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .map_err(|e| {
                    DbErr::Custom(format!(
                        "cannot open the lock file `{}`: {e}",
                        path.display()
                    ))
                })?;
            file.lock()
                .map_err(|e| DbErr::Custom(format!("cannot lock `{}`: {e}", path.display())))?;
            Ok(FileLock { _file: file })
        })
        .await
        .map_err(|e| DbErr::Custom(format!("the migration lock task failed: {e}")))?
    }
}
