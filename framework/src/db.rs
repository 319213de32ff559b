//! Database connection and migrations: SQLite by default, PostgreSQL by URL.

use std::time::Duration;

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr};
use sea_orm_migration::MigratorTrait;

use crate::module::ModuleDescriptor;

/// Opens the database at `url`, creating a SQLite file (and its directory) when needed.
///
/// SQLite runs in WAL mode so readers do not block the writer; every connection waits for a
/// busy database rather than failing at once.
pub async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    let url = normalize_sqlite_url(url)?;
    let mut options = ConnectOptions::new(url.clone());
    options
        .sqlx_logging(false)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(30));
    if url.starts_with("sqlite:") {
        options.max_connections(8).min_connections(1);
    } else {
        options.max_connections(16);
    }
    let db = Database::connect(options).await?;
    if db.get_database_backend() == DbBackend::Sqlite {
        db.execute_unprepared("PRAGMA journal_mode=WAL;").await?;
        db.execute_unprepared("PRAGMA busy_timeout=10000;").await?;
    }
    Ok(db)
}

/// Adds `mode=rwc` to a file SQLite URL so the file is created on first use, and creates the
/// file's directory.
fn normalize_sqlite_url(url: &str) -> Result<String, DbErr> {
    let Some(rest) = url.strip_prefix("sqlite:") else {
        return Ok(url.to_string());
    };
    let rest = rest.trim_start_matches("//");
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() || path == ":memory:" || query.contains("mode=memory") {
        return Ok(url.to_string());
    }
    if let Some(parent) = std::path::Path::new(path).parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent).map_err(|e| {
            DbErr::Custom(format!(
                "cannot create directory `{}`: {e}",
                parent.display()
            ))
        })?;
    }
    if query.contains("mode=") {
        Ok(url.to_string())
    } else if query.is_empty() {
        Ok(format!("sqlite://{path}?mode=rwc"))
    } else {
        Ok(format!("sqlite://{path}?{query}&mode=rwc"))
    }
}

/// Applies the framework's migrations, then each module's own set (each with its own tracking
/// table), in module-name order.
pub async fn migrate(
    db: &DatabaseConnection,
    modules: &[&'static ModuleDescriptor],
) -> Result<(), DbErr> {
    cleave_migrations::Migrator::up(db, None).await?;
    for module in modules {
        (module.migrate)(db).await.map_err(|e| {
            DbErr::Custom(format!(
                "migrations of module `{}` failed: {e}",
                module.name
            ))
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_get_create_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/shop.db");
        let url = format!("sqlite://{}", path.display());
        assert_eq!(
            normalize_sqlite_url(&url).unwrap(),
            format!("sqlite://{}?mode=rwc", path.display())
        );
        assert!(path.parent().unwrap().is_dir());
        assert_eq!(
            normalize_sqlite_url("sqlite://x.db?mode=ro").unwrap(),
            "sqlite://x.db?mode=ro"
        );
        assert_eq!(
            normalize_sqlite_url("postgres://u@h/db").unwrap(),
            "postgres://u@h/db"
        );
    }
}
