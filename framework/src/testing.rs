//! Test support for module crates: a real SQLite database in a temporary directory, the module
//! under test, and its neighbours replaced by stubs on the bus.
//!
//! Stubs stand in for other modules only; the module under test runs with its real handlers,
//! tables, outbox and inbox.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use cleave_contract::{Contract, Event, Request, Version, owner_of};

use crate::bus::{Bus, Failure, Handler, RoutingBuilder};
use crate::config::{AppName, OutboxConfig};
use crate::db::{Database, DatabaseOptions};
use crate::events::EventRoutes;
use crate::module::{
    Background, ModuleDescriptor, RegisterError, Registrar, Runtime, RuntimeSettings, Wiring,
};
use crate::transport::{Applied, DeliveryFailure, EventEnvelope, EventRoute};

/// The application name test runtimes run under.
pub const TEST_APP: AppName = AppName::new("test");

/// Builds a [`TestApp`].
pub struct Harness {
    modules: Vec<&'static ModuleDescriptor>,
    wiring: Wiring,
    serialize: bool,
    relay: bool,
    sections: std::collections::BTreeMap<String, figment::value::Dict>,
}

impl Default for Harness {
    fn default() -> Self {
        Harness {
            modules: Vec::new(),
            wiring: Wiring::default(),
            serialize: false,
            relay: true,
            sections: Default::default(),
        }
    }
}

struct StubHandler<F>(F);

#[async_trait]
impl<R, F, Fut> Handler<R> for StubHandler<F>
where
    R: Request,
    F: Fn(R) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<R::Response, R::Error>> + Send + 'static,
{
    async fn handle(&self, request: R) -> Result<R::Response, Failure<R::Error>> {
        (self.0)(request).await.map_err(Failure::Domain)
    }
}

/// The events a stub subscriber received, in delivery order.
pub struct Recorder<E> {
    events: Arc<Mutex<Vec<E>>>,
}

impl<E: Clone> Recorder<E> {
    /// A copy of what was received so far.
    pub fn events(&self) -> Vec<E> {
        self.events.lock().expect("recorder lock").clone()
    }
}

struct RecordingRoute<E> {
    events: Arc<Mutex<Vec<E>>>,
}

#[async_trait]
impl<E: Event> EventRoute for RecordingRoute<E> {
    async fn deliver(&self, envelope: &EventEnvelope) -> Result<Applied, DeliveryFailure> {
        let event: E = crate::transport::decode_raw(&envelope.payload)
            .map_err(|e| DeliveryFailure::BadPayload(e.to_string()))?;
        self.events.lock().expect("recorder lock").push(event);
        Ok(Applied::Now)
    }
}

impl Harness {
    /// An empty harness.
    pub fn new() -> Self {
        Self::default()
    }

    /// Hosts `module` with its real handlers and tables.
    pub fn module(mut self, module: &'static ModuleDescriptor) -> Self {
        self.modules.push(module);
        self
    }

    /// Routes local calls through the wire codec.
    pub fn serialize_messages(mut self, on: bool) -> Self {
        self.serialize = on;
        self
    }

    /// Leaves the outbox relay off, so published events stay pending.
    pub fn without_relay(mut self) -> Self {
        self.relay = false;
        self
    }

    /// Answers request `R` with `answer` instead of the module that owns it.
    pub fn stub<R, F, Fut>(mut self, answer: F) -> Self
    where
        R: Request,
        F: Fn(R) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R::Response, R::Error>> + Send + 'static,
    {
        self.wiring
            .requests
            .local_handler::<R>(owner_of(R::NAME), Arc::new(StubHandler(answer)));
        self
    }

    /// Adds routes of its own making, e.g. a remote module.
    pub fn routing(mut self, add: impl FnOnce(&mut RoutingBuilder)) -> Self {
        add(&mut self.wiring.requests);
        self
    }

    /// Delivers `event` to `subscriber` through `route` (a module hosted elsewhere, e.g. a
    /// `cleave_extract::RemoteModule`), with the relay, as a placement would.
    pub fn subscriber_route(
        mut self,
        event: &str,
        subscriber: &str,
        route: Arc<dyn EventRoute>,
    ) -> Self {
        self.wiring.events.subscriber(event, subscriber, route);
        self
    }

    /// Gives the hosted module `module` these settings, as `[module.<module>]` would.
    pub fn module_settings(mut self, module: &str, settings: serde_json::Value) -> Self {
        let value = figment::value::Value::serialize(settings).expect("settings serialize");
        let dict = value.into_dict().expect("module settings are a table");
        self.sections.insert(module.to_string(), dict);
        self
    }

    /// Subscribes a stub module called `subscriber` to `E` and records what it receives.
    pub fn record<E: Event>(self, subscriber: &str) -> (Self, Recorder<E>) {
        let events = Arc::new(Mutex::new(Vec::new()));
        let route = Arc::new(RecordingRoute {
            events: events.clone(),
        });
        (
            self.subscriber_route(E::NAME, subscriber, route),
            Recorder { events },
        )
    }

    /// Creates the database, migrates, registers and starts the relay.
    pub async fn start(self) -> TestApp {
        let dir = tempfile::tempdir().expect("temporary directory");
        let url = format!("sqlite://{}/test.db?mode=rwc", dir.path().display());
        let db = Database::connect(&url, &DatabaseOptions::default())
            .await
            .expect("connect to test database");
        crate::migrate::migrate(&db, &self.modules)
            .await
            .expect("migrate test database");
        // Only the hosted modules' contracts: stubs and recorders stand in for the others.
        let contracts: Vec<_> = self.modules.iter().map(|m| m.contract).collect();
        let settings = RuntimeSettings {
            app: TEST_APP,
            module_sections: self.sections,
        };
        let runtime = Runtime::build(
            db,
            Bus::new(self.serialize),
            &self.modules,
            self.wiring,
            &contracts,
            &settings,
        )
        .unwrap_or_else(|e| panic!("test runtime does not start:\n{e}"));
        let config = test_outbox_config();
        let background = runtime.start(&OutboxConfig {
            relay: self.relay,
            ..config
        });
        TestApp {
            runtime,
            background: Some(background),
            _dir: dir,
        }
    }
}

/// A descriptor's `register` for a module that registers nothing.
pub fn register_nothing(_: &mut Registrar<'_>) -> Result<(), RegisterError> {
    Ok(())
}

/// The contract, at version 1.0, of a test or benchmark module. Give it a `static` of its own
/// (a contract cannot be a temporary of another static).
pub const fn fixture_contract(
    module: &'static str,
    handles: &'static [&'static str],
    publishes: &'static [&'static str],
    subscribes: &'static [&'static str],
) -> Contract {
    Contract::new(module, Version::new(1, 0), handles, publishes, subscribes)
}

/// The descriptor of a test or benchmark module: named after its contract, no routes, no
/// tables, no calls or subscriptions (add `sends` and `subscribes` with struct update syntax).
pub const fn fixture_module(
    contract: &'static Contract,
    summary: &'static str,
    register: fn(&mut Registrar<'_>) -> Result<(), RegisterError>,
) -> ModuleDescriptor {
    ModuleDescriptor {
        contract,
        summary,
        sends: &[],
        subscribes: &[],
        openapi: crate::http::no_routes,
        migrate: crate::module::no_migrations,
        register,
    }
}

/// Outbox settings for tests: quick polling and retries.
pub fn test_outbox_config() -> OutboxConfig {
    OutboxConfig {
        poll_interval_ms: 20,
        backoff_initial_ms: 20,
        backoff_max_ms: 200,
        ..OutboxConfig::default()
    }
}

/// A running test runtime; its database is deleted when it is dropped.
pub struct TestApp {
    /// The runtime under test.
    pub runtime: Runtime,
    background: Option<Background>,
    _dir: tempfile::TempDir,
}

impl TestApp {
    /// The bus, to call the module under test.
    pub fn bus(&self) -> &Bus {
        self.runtime.bus()
    }

    /// The database, for assertions on the module's own tables.
    pub fn db(&self) -> &Database {
        self.runtime.db()
    }

    /// Where events go, to hand an event to the module under test.
    pub fn events(&self) -> &EventRoutes {
        self.runtime.events()
    }

    /// Stops the relay and the modules' tasks.
    pub async fn stop_relay(&mut self) {
        if let Some(background) = self.background.take() {
            background.stop().await;
        }
    }
}

/// Polls `check` until it returns true, panicking with `what` after `timeout`.
///
/// The scenario style for asynchronous effects: stimulate, then wait for the state.
pub async fn eventually<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if check().await {
            return;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The plan by which the database would run the relay's read of due rows, over an outbox of
/// `delivered` delivered rows and a few pending ones (subscriber `s`), as the relay's prepared
/// statement runs it: on PostgreSQL the generic plan, which a prepared statement switches to
/// after five executions; on SQLite what `EXPLAIN QUERY PLAN` answers for the bound statement.
/// The plan names the index it reads (`idx_cleave_outbox_pending` is the one meant for it).
pub async fn relay_due_plan(db: &Database, delivered: u32) -> Result<String, sea_orm::DbErr> {
    use sea_orm::sea_query::{PostgresQueryBuilder, QueryBuilder};
    use sea_orm::{ActiveValue::Set, ConnectionTrait, DbBackend, EntityTrait, Statement};

    use crate::outbox::entry;

    let tx = db.write().await?;
    let rows: Vec<(u32, &str)> = (0..delivered)
        .map(|n| (n, crate::outbox::DELIVERED))
        .chain((delivered..delivered + 3).map(|n| (n, crate::outbox::PENDING)))
        .collect();
    for chunk in rows.chunks(100) {
        entry::Entity::insert_many(chunk.iter().map(|&(n, status)| entry::ActiveModel {
            event_id: Set(format!("e{n}")),
            event_name: Set("p.e".into()),
            publisher: Set("p".into()),
            subscriber: Set("s".into()),
            payload: Set("{}".into()),
            published_at_ms: Set(0),
            status: Set(status.into()),
            attempts: Set(0),
            next_attempt_at_ms: Set(0),
            ..Default::default()
        }))
        .exec_without_returning(&tx)
        .await?;
    }
    tx.execute_unprepared("ANALYZE").await?;
    let statement = crate::relay::due_statement(db.backend(), &["s".to_string()], 100);
    let plan = if db.backend() == DbBackend::Postgres {
        let args: Vec<String> = statement
            .values
            .iter()
            .flat_map(|values| values.0.iter())
            .map(|v| PostgresQueryBuilder.value_to_string(v))
            .collect();
        tx.execute_unprepared(&format!("PREPARE cleave_due_plan AS {}", statement.sql))
            .await?;
        tx.execute_unprepared("SET LOCAL plan_cache_mode = force_generic_plan")
            .await?;
        let rows = tx
            .query_all_raw(Statement::from_string(
                DbBackend::Postgres,
                format!("EXPLAIN EXECUTE cleave_due_plan({})", args.join(", ")),
            ))
            .await?;
        tx.execute_unprepared("DEALLOCATE cleave_due_plan").await?;
        rows.iter()
            .map(|r| r.try_get_by_index::<String>(0))
            .collect::<Result<Vec<_>, _>>()?
    } else {
        let rows = tx
            .query_all_raw(Statement {
                sql: format!("EXPLAIN QUERY PLAN {}", statement.sql),
                ..statement
            })
            .await?;
        rows.iter()
            .map(|r| r.try_get::<String>("", "detail"))
            .collect::<Result<Vec<_>, _>>()?
    };
    tx.rollback().await?;
    Ok(plan.join("\n"))
}

/// Wraps `event` as module `publisher` would publish it, for delivering it straight to a
/// subscriber with [`EventRoutes::deliver`].
pub fn envelope<E: Event>(publisher: &str, event: &E) -> EventEnvelope {
    EventEnvelope {
        id: uuid::Uuid::now_v7(),
        name: E::NAME.to_string(),
        publisher: publisher.to_string(),
        published_at_ms: crate::outbox::now_ms(),
        payload: serde_json::value::to_raw_value(event).expect("event encodes"),
        traceparent: None,
    }
}

/// A `nats-server` with JetStream on a loopback port, its store in a directory of its own.
pub struct NatsServer {
    binary: std::path::PathBuf,
    port: u16,
    store: std::path::PathBuf,
    child: Option<std::process::Child>,
}

impl NatsServer {
    /// Starts one, or `None` (with the reason printed) when there is no `nats-server` and CI is
    /// not set; with CI set, a missing server fails the test.
    pub fn start(dir: &std::path::Path) -> Option<NatsServer> {
        let Some(binary) = nats_server_binary() else {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set but there is no nats-server (install the Debian package `nats-server`)"
            );
            eprintln!("skipping: no nats-server on PATH (apt-get install nats-server)");
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let mut nats = NatsServer {
            binary,
            port,
            store: dir.join("jetstream"),
            child: None,
        };
        nats.resume();
        Some(nats)
    }

    /// The server's process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(std::process::Child::id)
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills the server (SIGKILL: whatever it stored on disk stays).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGKILL (what `Child::kill` sends on Unix): a crash, not a shutdown.
            child.kill().expect("kill nats-server");
            child.wait().expect("reap nats-server");
        }
    }

    /// Deletes the server's store while it is stopped: it comes back knowing no stream, as a
    /// broker without persistent storage would.
    pub fn wipe(&mut self) {
        assert!(
            self.child.is_none(),
            "stop nats-server before wiping its store"
        );
        if self.store.exists() {
            std::fs::remove_dir_all(&self.store).expect("delete the JetStream store");
        }
    }

    /// Starts the server again on the same port and store, and waits until it listens.
    pub fn resume(&mut self) {
        assert!(self.child.is_none(), "nats-server is already running");
        let child = std::process::Command::new(&self.binary)
            .args([
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-sd",
            ])
            .arg(&self.store)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start nats-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The `nats-server` binary: on `PATH`, or where Debian installs it (`/usr/sbin`).
pub fn nats_server_binary() -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/usr/local/sbin".into()])
        .map(|dir| dir.join("nats-server"))
        .find(|candidate| candidate.is_file())
}
