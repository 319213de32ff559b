//! The database of a process: SQLite by default, PostgreSQL by URL, with one way to write.
//!
//! Modules read through [`Database::read`] and write through [`Database::write`], which opens
//! a [`Tx`]. On SQLite every write transaction of the process goes through **one writer
//! connection** (`BEGIN IMMEDIATE`, so it holds the write lock from its first statement),
//! and reads go through a pool of read-only connections beside it: writers queue in the
//! process instead of sleeping in SQLite's busy handler, and the writer keeps its page cache
//! (ADR 10). On PostgreSQL both are the same pool. Every SQLite connection gets its pragmas
//! when it is opened (WAL, `synchronous`, `busy_timeout`, `foreign_keys`, `temp_store`), not
//! once through a pool.
//!
//! A [`Tx`] knows whether an event was published into it; committing it tells the outbox
//! relay at once, so publishers never wake the relay by hand.

use std::collections::HashMap;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use sea_orm::sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sea_orm::sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, ExecResult,
    QueryResult, SqliteTransactionMode, SqlxPostgresConnector, SqlxSqliteConnector, Statement,
    TransactionOptions, TransactionTrait,
};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

/// How SQLite makes a commit durable (`PRAGMA synchronous`, in WAL mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SqliteDurability {
    /// `synchronous = NORMAL`: a commit survives a crash of the process (it is in the WAL,
    /// written to the operating system); a power cut or an OS crash may lose the last
    /// commits, never half of one. What most production SQLite setups use.
    #[default]
    Normal,
    /// `synchronous = FULL`: every commit waits for the WAL to reach the disk, so it also
    /// survives a power cut; one `fsync` per commit.
    Full,
}

/// Connection settings of the database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseOptions {
    /// SQLite: how durable a commit is (`normal` or `full`).
    pub sqlite_synchronous: SqliteDurability,
    /// SQLite: read-only connections beside the one writer.
    pub sqlite_readers: u32,
    /// How long a connection waits for a lock held by another process (SQLite
    /// `busy_timeout`), and a writer for the writer connection.
    pub lock_timeout_ms: u64,
    /// PostgreSQL: connections in the pool.
    pub postgres_connections: u32,
}

impl Default for DatabaseOptions {
    fn default() -> Self {
        DatabaseOptions {
            sqlite_synchronous: SqliteDurability::Normal,
            sqlite_readers: 4,
            lock_timeout_ms: 10_000,
            postgres_connections: 16,
        }
    }
}

struct Inner {
    writer: DatabaseConnection,
    reader: DatabaseConnection,
    backend: DbBackend,
    sqlite_file: Option<PathBuf>,
    /// One signal per subscriber queue, notified when a transaction that wrote deliveries for
    /// that subscriber commits.
    signals: Mutex<HashMap<String, Arc<Notify>>>,
    /// SQLite: the turnstile of [`Database::write`]: one writer at a time waits for the
    /// writer connection, the others wait here, so a delivery loop
    /// ([`Database::write_first`]) is never more than one transaction behind in its queue.
    turnstile: Option<tokio::sync::Semaphore>,
    /// PostgreSQL: a few connections of the delivery loops' own, so they never wait behind
    /// the request writers for one of the pool's.
    first: Option<DatabaseConnection>,
    /// How long a writer waits for its turn and its connection.
    lock_timeout: Duration,
}

/// The database of a process. Cheap to clone.
#[derive(Clone)]
pub struct Database {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("backend", &self.inner.backend)
            .finish_non_exhaustive()
    }
}

/// The backend a database URL names: `sqlite:` or `postgres:`/`postgresql:`; none for any
/// other scheme.
pub fn backend_of(url: &str) -> Option<DbBackend> {
    if url.starts_with("sqlite:") {
        Some(DbBackend::Sqlite)
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Some(DbBackend::Postgres)
    } else {
        None
    }
}

impl Database {
    /// Opens the database at `url`: `sqlite://path` (the file and its directory are created
    /// when missing), `sqlite::memory:`, or `postgres://user:pass@host/db`.
    pub async fn connect(url: &str, options: &DatabaseOptions) -> Result<Database, DbErr> {
        let lock_timeout = Duration::from_millis(options.lock_timeout_ms.max(1_000));
        let (writer, reader, backend, sqlite_file, first) = match backend_of(url) {
            Some(DbBackend::Sqlite) => {
                let (writer, reader, file) = connect_sqlite(url, options).await?;
                (writer, reader, DbBackend::Sqlite, file, None)
            }
            Some(DbBackend::Postgres) => {
                let connect = PgConnectOptions::from_str(url).map_err(sqlx_error)?;
                let pool = |size: u32| {
                    PgPoolOptions::new()
                        .max_connections(size)
                        .acquire_timeout(lock_timeout)
                        .connect_with(connect.clone())
                };
                let db = pool(options.postgres_connections.max(2))
                    .await
                    .map_err(sqlx_error)?;
                // A quarter as many for the delivery loops (one per subscriber queue at most).
                let first = pool((options.postgres_connections / 4).max(2))
                    .await
                    .map_err(sqlx_error)?;
                let db = SqlxPostgresConnector::from_sqlx_postgres_pool(db);
                let first = SqlxPostgresConnector::from_sqlx_postgres_pool(first);
                (db.clone(), db, DbBackend::Postgres, None, Some(first))
            }
            _ => {
                return Err(DbErr::Custom(format!(
                    "unsupported database URL `{url}`: use sqlite://PATH or postgres://USER:PASS@HOST/DB"
                )));
            }
        };
        Ok(Database {
            inner: Arc::new(Inner {
                writer,
                reader,
                backend,
                sqlite_file,
                signals: Mutex::default(),
                turnstile: (backend == DbBackend::Sqlite).then(|| tokio::sync::Semaphore::new(1)),
                first,
                lock_timeout,
            }),
        })
    }

    /// The connection pool for reads. On SQLite its connections are read-only: a write
    /// through it fails at once, because writes go through [`Database::write`].
    pub fn read(&self) -> &DatabaseConnection {
        &self.inner.reader
    }

    /// Opens a write transaction. On SQLite it waits for the process's one writer connection
    /// and begins `IMMEDIATE`; on PostgreSQL it is a transaction of the pool.
    ///
    /// The event relay does not queue behind these transactions ([`Database::write_first`]):
    /// on SQLite, writers wait for the writer connection one at a time, the others before
    /// that queue, so the relay gets every other turn while it has work, however many
    /// requests are writing (ADR 10); events are delivered as fast as orders come instead of
    /// piling up in the outbox under load.
    ///
    /// Do not call other modules while holding it: on SQLite a local callee that writes
    /// would wait for the writer this transaction holds.
    pub async fn write(&self) -> Result<Tx, DbErr> {
        let Some(turnstile) = &self.inner.turnstile else {
            return self.begin(&self.inner.writer).await;
        };
        // Held until the transaction has begun: then the next writer may queue for the writer.
        let _turn = tokio::time::timeout(self.inner.lock_timeout, turnstile.acquire())
            .await
            .map_err(|_| {
                explain_writer_timeout(
                    DbErr::Custom(format!(
                        "timed out after {} ms waiting for the writer",
                        self.inner.lock_timeout.as_millis()
                    )),
                    self.inner.backend,
                )
            })?;
        self.begin(&self.inner.writer).await
    }

    /// Opens a write transaction without waiting behind the writers of [`Database::write`]:
    /// on SQLite at most one of them is ahead in the writer connection's queue, on PostgreSQL
    /// it takes a connection of a small pool of its own. For the loops that deliver events
    /// (the outbox relay, a broker consumer): every waiting request's effects depend on them.
    pub async fn write_first(&self) -> Result<Tx, DbErr> {
        self.begin(self.inner.first.as_ref().unwrap_or(&self.inner.writer))
            .await
    }

    async fn begin(&self, connection: &DatabaseConnection) -> Result<Tx, DbErr> {
        let txn = match self.inner.backend {
            DbBackend::Sqlite => {
                connection
                    .begin_with_options(TransactionOptions {
                        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                        ..Default::default()
                    })
                    .await
            }
            _ => connection.begin().await,
        }
        .map_err(|e| explain_writer_timeout(e, self.inner.backend))?;
        Ok(Tx {
            txn,
            published: Arc::default(),
            signal: Some(self.clone()),
        })
    }

    /// The writer connection itself, for the framework's own maintenance (migrations).
    pub(crate) fn writer(&self) -> &DatabaseConnection {
        &self.inner.writer
    }

    /// SQLite or PostgreSQL.
    pub fn backend(&self) -> DbBackend {
        self.inner.backend
    }

    /// The SQLite file, when the database is one.
    pub fn sqlite_file(&self) -> Option<&std::path::Path> {
        self.inner.sqlite_file.as_deref()
    }

    /// The signal of `subscriber`'s queue: notified when a transaction that wrote deliveries
    /// for it commits (a notification made while nobody waits is kept for the next wait). The
    /// relay serving that queue waits on it.
    pub fn queue_signal(&self, subscriber: &str) -> Arc<Notify> {
        self.inner
            .signals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(subscriber.to_string())
            .or_default()
            .clone()
    }

    /// Makes `signal` the signal of `subscriber`'s queue (a relay serving several queues with
    /// one task waits on one signal).
    pub fn set_queue_signal(&self, subscriber: &str, signal: Arc<Notify>) {
        self.inner
            .signals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(subscriber.to_string(), signal);
    }

    /// Notifies the queues of `subscribers`.
    pub fn signal_queues<'a>(&self, subscribers: impl IntoIterator<Item = &'a str>) {
        let signals = self.inner.signals.lock().unwrap_or_else(|e| e.into_inner());
        for subscriber in subscribers {
            if let Some(signal) = signals.get(subscriber) {
                signal.notify_one();
            }
        }
    }

    /// Notifies every queue (after an operator resubmitted deliveries, say).
    pub fn signal_all_queues(&self) {
        for signal in self
            .inner
            .signals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
        {
            signal.notify_one();
        }
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), DbErr> {
        self.inner.reader.ping().await
    }

    /// Closes every connection.
    pub async fn close(&self) {
        if let Some(first) = &self.inner.first {
            let _ = first.clone().close().await;
        }
        let _ = self.inner.reader.clone().close().await;
        let _ = self.inner.writer.clone().close().await;
    }
}

fn sqlx_error(e: sea_orm::sqlx::Error) -> DbErr {
    DbErr::Custom(e.to_string())
}

fn explain_writer_timeout(error: DbErr, backend: DbBackend) -> DbErr {
    let text = error.to_string();
    if backend == DbBackend::Sqlite && text.contains("timed out") {
        DbErr::Custom(format!(
            "{text}: no write transaction could start; the writer connection stayed busy (is a module calling another module while it holds a write transaction?)"
        ))
    } else {
        error
    }
}

/// The pool settings every SQLite pool starts from. A connection is a library handle in this
/// process, not a socket a peer or the network can close, so the pool does not ping it before
/// lending it out (sqlx's default, `test_before_acquire`): that ping is a round trip to the
/// connection's thread on every transaction, and on the writer it sits on the path every other
/// writer waits behind (ADR 10).
///
/// Each new connection also gets [`plan_once`].
fn sqlite_pool() -> SqlitePoolOptions {
    SqlitePoolOptions::new()
        .test_before_acquire(false)
        .after_connect(|conn, _| Box::pin(async move { plan_once(conn).await }))
}

/// Turns on SQLite's query planner stability guarantee (`SQLITE_DBCONFIG_ENABLE_QPSG`) on
/// `conn`: a statement is planned once, when it is prepared, whatever values are bound to it
/// later (ADR 10).
///
/// Without it, SQLite (3.51, as bundled) marks a statement to be compiled again each time
/// certain parameters are bound, so that the plan may use their values: a `LIMIT ?` (every
/// sea-orm `.one()` and `.limit(n)` binds its limit), a value compared with a column that a
/// partial index's `WHERE` names, a `LIKE ?` pattern. Every execution of such a statement then
/// parses and plans it anew, which for the relay's read of due rows cost about 190 000
/// instructions, ten times the statement's own work, and the statement cache saved nothing.
/// With the guarantee, a partial index serves only statements that spell its condition out
/// ([`eq_literal`]), as on PostgreSQL, whose generic plans ignore bound values too.
async fn plan_once(conn: &mut SqliteConnection) -> Result<(), sea_orm::sqlx::Error> {
    let mut handle = conn.lock_handle().await?;
    let rc = enable_qpsg(handle.as_raw_handle());
    if rc == libsqlite3_sys::SQLITE_OK {
        Ok(())
    } else {
        Err(sea_orm::sqlx::Error::Configuration(
            format!("SQLite refused the query planner stability guarantee (error {rc})").into(),
        ))
    }
}

/// `sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_QPSG, 1, NULL)`; SQLite's result code. The one
/// call into SQLite's C interface that sqlx has no setting for.
#[allow(unsafe_code)]
fn enable_qpsg(db: std::ptr::NonNull<libsqlite3_sys::sqlite3>) -> std::os::raw::c_int {
    // SAFETY: `db` is an open connection handle, locked by the caller's `LockedSqliteHandle`, so
    // sqlx's worker thread makes no call on it meanwhile. SQLITE_DBCONFIG_ENABLE_QPSG takes an
    // `int` (1: on) and an `int*` for the resulting setting, which may be NULL.
    unsafe {
        libsqlite3_sys::sqlite3_db_config(
            db.as_ptr(),
            libsqlite3_sys::SQLITE_DBCONFIG_ENABLE_QPSG,
            1 as std::os::raw::c_int,
            std::ptr::null_mut::<std::os::raw::c_int>(),
        )
    }
}

/// Opens the writer and the readers of a SQLite database.
async fn connect_sqlite(
    url: &str,
    options: &DatabaseOptions,
) -> Result<(DatabaseConnection, DatabaseConnection, Option<PathBuf>), DbErr> {
    let (url, file) = normalize_sqlite_url(url)?;
    let base = SqliteConnectOptions::from_str(&url)
        .map_err(sqlx_error)?
        // Every module's statements go through the one writer: room for all of them, so none is
        // prepared again (sqlx keeps 100 by default).
        .statement_cache_capacity(1_000)
        .create_if_missing(true)
        .busy_timeout(Duration::from_millis(options.lock_timeout_ms))
        .foreign_keys(true)
        // Statement journals (the pages a statement inside a transaction may have to undo) in
        // memory, not in a temporary file: a multi-row or foreign-key-checked write otherwise
        // costs a `pwrite` per page it touches. They only ever undo a failed statement of a live
        // transaction, which a crash undoes through the WAL anyway, so nothing durable moves.
        .pragma("temp_store", "memory")
        .synchronous(match options.sqlite_synchronous {
            SqliteDurability::Normal => SqliteSynchronous::Normal,
            SqliteDurability::Full => SqliteSynchronous::Full,
        });
    let Some(file) = file else {
        // In memory: one connection, which both reads and writes (each connection to
        // `:memory:` is a database of its own).
        let pool = sqlite_pool()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(base)
            .await
            .map_err(sqlx_error)?;
        let db = SqlxSqliteConnector::from_sqlx_sqlite_pool(pool);
        return Ok((db.clone(), db, None));
    };
    let base = base.journal_mode(SqliteJournalMode::Wal);
    // Switching a fresh file to WAL takes an exclusive lock, and SQLite answers `database is
    // locked` at once (without the busy handler) when another process is doing the same: several
    // processes starting together on a new file retry here, within the lock timeout.
    let deadline = std::time::Instant::now() + Duration::from_millis(options.lock_timeout_ms);
    let writer = loop {
        let opened = sqlite_pool()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .acquire_timeout(Duration::from_millis(options.lock_timeout_ms.max(1_000)))
            .connect_with(base.clone())
            .await;
        match opened {
            Err(e) if is_locked(&e) && std::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(10 + fastrand::u64(..40))).await;
            }
            other => break other.map_err(sqlx_error)?,
        }
    };
    let reader = sqlite_pool()
        .max_connections(options.sqlite_readers.max(1))
        .min_connections(1)
        .acquire_timeout(Duration::from_millis(options.lock_timeout_ms.max(1_000)))
        .connect_with(base.pragma("query_only", "ON"))
        .await
        .map_err(sqlx_error)?;
    Ok((
        SqlxSqliteConnector::from_sqlx_sqlite_pool(writer),
        SqlxSqliteConnector::from_sqlx_sqlite_pool(reader),
        Some(file),
    ))
}

/// Whether opening failed because another connection held the file's lock (SQLITE_BUSY).
fn is_locked(error: &sea_orm::sqlx::Error) -> bool {
    match error {
        sea_orm::sqlx::Error::Database(e) => {
            e.code().is_some_and(|c| c == "5" || c == "517") || e.message().contains("locked")
        }
        _ => false,
    }
}

/// Adds `mode=rwc` to a file SQLite URL so the file is created on first use, creates the
/// file's directory, and returns the file's path (none for an in-memory database).
fn normalize_sqlite_url(url: &str) -> Result<(String, Option<PathBuf>), DbErr> {
    let Some(rest) = url.strip_prefix("sqlite:") else {
        return Ok((url.to_string(), None));
    };
    let rest = rest.trim_start_matches("//");
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() || path == ":memory:" || query.contains("mode=memory") {
        return Ok((url.to_string(), None));
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
    let normalized = if query.contains("mode=") {
        url.to_string()
    } else if query.is_empty() {
        format!("sqlite://{path}?mode=rwc")
    } else {
        format!("sqlite://{path}?{query}&mode=rwc")
    };
    Ok((normalized, Some(PathBuf::from(path))))
}

/// Whether `error` is a conflict between concurrent transactions that running the same
/// transaction again may not meet: a PostgreSQL deadlock (`40P01`) or serialization failure
/// (`40001`), or SQLite's busy or locked database (another process held the write lock past
/// `busy_timeout`).
pub fn is_transient(error: &DbErr) -> bool {
    use sea_orm::RuntimeErr;
    let runtime = match error {
        DbErr::Exec(e) | DbErr::Query(e) | DbErr::Conn(e) => e,
        _ => return false,
    };
    let RuntimeErr::SqlxError(e) = runtime else {
        return false;
    };
    let sea_orm::sqlx::Error::Database(e) = &**e else {
        return false;
    };
    let code = e.code().unwrap_or_default();
    matches!(
        &*code,
        // PostgreSQL: deadlock detected, serialization failure.
        "40P01" | "40001"
        // SQLite: SQLITE_BUSY and its extended codes, SQLITE_LOCKED.
        | "5" | "6" | "261" | "262" | "517"
    ) || e.message().contains("database is locked")
}

/// How often [`retry_transient`] tries before giving up.
pub const TRANSIENT_ATTEMPTS: u32 = 5;

/// Runs `attempt` (a whole transaction: open, work, commit) again when it fails with a
/// transient conflict ([`is_transient`]), at most [`TRANSIENT_ATTEMPTS`] times with a short
/// randomized pause, so that two transactions that deadlocked both end up done instead of one
/// being refused. Any other error, or the last one, is returned as is.
pub async fn retry_transient<T, F, Fut>(mut attempt: F) -> Result<T, DbErr>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, DbErr>>,
{
    let mut tries = 1;
    loop {
        match attempt().await {
            Err(e) if tries < TRANSIENT_ATTEMPTS && is_transient(&e) => {
                tracing::debug!(error = %e, tries, "transient conflict; trying the transaction again");
                let pause = fastrand::u64(1..=10) * u64::from(tries);
                tokio::time::sleep(Duration::from_millis(pause)).await;
                tries += 1;
            }
            outcome => return outcome,
        }
    }
}

/// `column = 'value'`, with the value written into the statement's text instead of bound as a
/// parameter. Use it where a **partial index** names the column in its `WHERE` (`… WHERE
/// state = 'held'`), for a value the code knows when it is written (a state, a status):
///
/// - SQLite, on seeing a bound value compared with a column a partial index's `WHERE` names,
///   marks the statement to be compiled again each time that value is bound, so that the
///   plan may use the index for the value at hand. Every execution then parses and plans the
///   statement anew: about 190 000 instructions for an `UPDATE` of the shop's, where the cached
///   statement runs in a tenth of that (ADR 10).
/// - PostgreSQL switches a prepared statement to a generic plan after five executions, which
///   cannot use a partial index for a bound value; the pass then walks every row (ADR 11).
///
/// With the value in the text, both plan once, with the index. A single quote in `value` is
/// doubled, so the literal stays one string.
pub fn eq_literal<C: sea_orm::ColumnTrait>(
    column: C,
    value: &'static str,
) -> sea_orm::sea_query::Expr {
    sea_orm::sea_query::ExprTrait::eq(
        sea_orm::sea_query::Expr::col(column.as_column_ref()),
        sea_orm::sea_query::Expr::cust(format!("'{}'", value.replace('\'', "''"))),
    )
}

/// A write transaction. Use it wherever sea-orm takes a connection (`.insert(&tx)`,
/// `.exec(&tx)`); [`Tx::commit`] makes the work durable and, if events were published into it,
/// tells the outbox relay. Dropping it without committing rolls it back.
pub struct Tx {
    txn: DatabaseTransaction,
    /// The subscribers that got deliveries in this transaction; shared by a transaction and its
    /// savepoints.
    published: Arc<Mutex<Vec<String>>>,
    /// The database to signal on commit; `None` for savepoints (the outer transaction
    /// signals).
    signal: Option<Database>,
}

impl std::fmt::Debug for Tx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tx")
            .field(
                "published",
                &self.published.lock().map(|p| p.len()).unwrap_or(0),
            )
            .finish_non_exhaustive()
    }
}

impl Tx {
    /// Commits. When events were published in this transaction (or its savepoints), the
    /// relay learns of them now.
    pub async fn commit(self) -> Result<(), DbErr> {
        self.txn.commit().await?;
        if let Some(db) = &self.signal {
            let published = self.published.lock().unwrap_or_else(|e| e.into_inner());
            if !published.is_empty() {
                db.signal_queues(published.iter().map(String::as_str));
            }
        }
        Ok(())
    }

    /// Rolls back everything done in this transaction.
    pub async fn rollback(self) -> Result<(), DbErr> {
        self.txn.rollback().await
    }

    /// A savepoint inside this transaction: committing it keeps its work in the outer
    /// transaction, dropping it undoes only its own work.
    pub async fn savepoint(&self) -> Result<Tx, DbErr> {
        Ok(Tx {
            txn: self.txn.begin().await?,
            published: self.published.clone(),
            signal: None,
        })
    }

    /// Records that deliveries for `subscribers` were written to the outbox in this
    /// transaction.
    pub(crate) fn mark_published(&self, subscribers: &[String]) {
        let mut published = self.published.lock().unwrap_or_else(|e| e.into_inner());
        for subscriber in subscribers {
            if !published.contains(subscriber) {
                published.push(subscriber.clone());
            }
        }
    }
}

#[async_trait]
impl ConnectionTrait for Tx {
    fn get_database_backend(&self) -> DbBackend {
        self.txn.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.txn.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.txn.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.txn.query_one_raw(stmt).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.txn.query_all_raw(stmt).await
    }

    fn support_returning(&self) -> bool {
        self.txn.support_returning()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_get_create_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/app.db");
        let url = format!("sqlite://{}", path.display());
        let (normalized, file) = normalize_sqlite_url(&url).unwrap();
        assert_eq!(normalized, format!("sqlite://{}?mode=rwc", path.display()));
        assert_eq!(file.as_deref(), Some(path.as_path()));
        assert!(path.parent().unwrap().is_dir());
        assert_eq!(
            normalize_sqlite_url("sqlite://x.db?mode=ro").unwrap().0,
            "sqlite://x.db?mode=ro"
        );
        assert_eq!(normalize_sqlite_url("sqlite::memory:").unwrap().1, None);
    }

    #[tokio::test]
    async fn every_connection_has_its_pragmas_and_readers_cannot_write() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/p.db", dir.path().display());
        let db = Database::connect(&url, &DatabaseOptions::default())
            .await
            .unwrap();
        let pragma = |conn: DatabaseConnection, name: &'static str| async move {
            let row = conn
                .query_one_raw(Statement::from_string(
                    DbBackend::Sqlite,
                    format!("PRAGMA {name}"),
                ))
                .await
                .unwrap()
                .unwrap();
            row.try_get_by_index::<i64>(0)
                .map(|v| v.to_string())
                .or_else(|_| row.try_get_by_index::<String>(0))
                .unwrap()
        };
        // Several reader connections: each has the settings, not only the first one.
        for _ in 0..3 {
            assert_eq!(pragma(db.read().clone(), "busy_timeout").await, "10000");
            assert_eq!(pragma(db.read().clone(), "foreign_keys").await, "1");
            assert_eq!(pragma(db.read().clone(), "journal_mode").await, "wal");
            assert_eq!(pragma(db.read().clone(), "temp_store").await, "2");
        }
        // Statement journals in memory (2 = MEMORY), on the writer too.
        assert_eq!(pragma(db.writer().clone(), "temp_store").await, "2");
        assert_eq!(pragma(db.writer().clone(), "synchronous").await, "1");
        assert_eq!(pragma(db.writer().clone(), "query_only").await, "0");
        let write_through_reader = db
            .read()
            .execute_unprepared("CREATE TABLE t (x INTEGER)")
            .await;
        assert!(write_through_reader.is_err());
        let tx = db.write().await.unwrap();
        tx.execute_unprepared("CREATE TABLE t (x INTEGER)")
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }

    /// Plans ignore bound values on every connection (`plan_once`): SQLite would otherwise compile
    /// a statement again for each value bound to it, and a bound state would pick the partial
    /// index, which a plan made once cannot. A literal still picks it (`eq_literal`).
    #[tokio::test]
    async fn statements_are_planned_once_whatever_is_bound() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/q.db", dir.path().display());
        let db = Database::connect(&url, &DatabaseOptions::default())
            .await
            .unwrap();
        let tx = db.write().await.unwrap();
        for sql in [
            "CREATE TABLE r (id INTEGER PRIMARY KEY, state TEXT NOT NULL)",
            "CREATE INDEX r_held ON r (id) WHERE state = 'held'",
        ] {
            tx.execute_unprepared(sql).await.unwrap();
        }
        tx.commit().await.unwrap();
        let plan = |conn: DatabaseConnection, sql: &'static str, values: Vec<sea_orm::Value>| async move {
            let rows = conn
                .query_all_raw(Statement::from_sql_and_values(
                    DbBackend::Sqlite,
                    format!("EXPLAIN QUERY PLAN {sql}"),
                    values,
                ))
                .await
                .unwrap();
            let details: Vec<String> = rows
                .iter()
                .map(|row| row.try_get::<String>("", "detail").unwrap())
                .collect();
            details.join("; ")
        };
        for conn in [db.writer().clone(), db.read().clone(), db.read().clone()] {
            let bound = plan(
                conn.clone(),
                "SELECT id FROM r WHERE state = ? ORDER BY id",
                vec!["held".into()],
            )
            .await;
            assert!(
                !bound.contains("r_held"),
                "planned for the bound value: {bound}"
            );
            let literal = plan(
                conn,
                "SELECT id FROM r WHERE state = 'held' ORDER BY id",
                vec![],
            )
            .await;
            assert!(literal.contains("r_held"), "{literal}");
        }
    }

    #[tokio::test]
    async fn a_commit_with_events_signals_their_queues_and_no_other() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/s.db", dir.path().display());
        let db = Database::connect(&url, &DatabaseOptions::default())
            .await
            .unwrap();
        let (billing, orders) = (db.queue_signal("billing"), db.queue_signal("orders"));
        let signalled = |signal: &Arc<Notify>| {
            let waiting = signal.notified();
            futures_util::FutureExt::now_or_never(waiting).is_some()
        };
        db.write().await.unwrap().commit().await.unwrap();
        assert!(!signalled(&billing));
        let tx = db.write().await.unwrap();
        let savepoint = tx.savepoint().await.unwrap();
        savepoint.mark_published(&["billing".to_string()]);
        savepoint.commit().await.unwrap();
        assert!(!signalled(&billing), "only the outer commit signals");
        tx.commit().await.unwrap();
        assert!(signalled(&billing));
        assert!(!signalled(&orders), "another queue is not woken");
        let tx = db.write().await.unwrap();
        tx.mark_published(&["orders".to_string()]);
        tx.rollback().await.unwrap();
        assert!(!signalled(&orders), "a rollback publishes nothing");
    }

    #[tokio::test]
    async fn a_delivery_loop_is_at_most_one_writer_behind() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/f.db", dir.path().display());
        let db = Database::connect(&url, &DatabaseOptions::default())
            .await
            .unwrap();
        let order = Arc::new(Mutex::new(Vec::new()));
        let took = |order: &Arc<Mutex<Vec<String>>>, who: String| {
            order.lock().unwrap().push(who);
        };
        let held = db.write().await.unwrap();
        let mut tasks = Vec::new();
        for i in 0..8 {
            let (db, order) = (db.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                let tx = db.write().await.unwrap();
                took(&order, format!("request {i}"));
                tx.commit().await.unwrap();
            }));
            // Each request writer queues before the next one comes.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let (first_db, first_order) = (db.clone(), order.clone());
        tasks.push(tokio::spawn(async move {
            let tx = first_db.write_first().await.unwrap();
            took(&first_order, "relay".to_string());
            tx.commit().await.unwrap();
        }));
        tokio::time::sleep(Duration::from_millis(20)).await;
        held.commit().await.unwrap();
        for task in tasks {
            task.await.unwrap();
        }
        let order = order.lock().unwrap().clone();
        assert_eq!(order.len(), 9, "{order:?}");
        let relay = order.iter().position(|o| o == "relay").unwrap();
        // Eight request writers were waiting when it came: it went after at most the one
        // that waited for the connection already.
        assert!(
            relay <= 1,
            "the relay waited behind {relay} writers: {order:?}"
        );
        assert_eq!(
            order[0], "request 0",
            "the writers keep their order: {order:?}"
        );
    }

    #[tokio::test]
    async fn writers_queue_for_the_one_writer_instead_of_failing() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/w.db", dir.path().display());
        let db = Database::connect(&url, &DatabaseOptions::default())
            .await
            .unwrap();
        let tx = db.write().await.unwrap();
        tx.execute_unprepared("CREATE TABLE n (x INTEGER)")
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let tasks: Vec<_> = (0..32)
            .map(|i| {
                let db = db.clone();
                tokio::spawn(async move {
                    let tx = db.write().await.unwrap();
                    tx.execute_unprepared(&format!("INSERT INTO n VALUES ({i})"))
                        .await
                        .unwrap();
                    tx.commit().await.unwrap();
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let row = db
            .read()
            .query_one_raw(Statement::from_string(
                DbBackend::Sqlite,
                "SELECT COUNT(*) FROM n",
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.try_get_by_index::<i64>(0).unwrap(), 32);
    }
}
