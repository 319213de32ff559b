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
use sea_orm::DatabaseConnection;

use crate::bus::{Bus, DeliveryFailure, Failure, Handler, RoutingBuilder};
use crate::config::OutboxConfig;
use crate::events::{EventEnvelope, EventRoute};
use crate::module::{ModuleDescriptor, Runtime};
use crate::outbox::RelayHandle;

/// Builds a [`TestApp`].
pub struct Harness {
    modules: Vec<&'static ModuleDescriptor>,
    routing: RoutingBuilder,
    serialize: bool,
    relay: bool,
}

impl Default for Harness {
    fn default() -> Self {
        Harness {
            modules: Vec::new(),
            routing: RoutingBuilder::default(),
            serialize: false,
            relay: true,
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
    async fn deliver(&self, envelope: &EventEnvelope) -> Result<(), DeliveryFailure> {
        let event: E = serde_json::from_value(envelope.payload.clone())
            .map_err(|e| DeliveryFailure::BadPayload(e.to_string()))?;
        self.events.lock().expect("recorder lock").push(event);
        Ok(())
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
        self.routing
            .local_handler::<R>(owner_of(R::NAME), Arc::new(StubHandler(answer)));
        self
    }

    /// Adds routes of its own making, e.g. a remote module.
    pub fn routing(mut self, add: impl FnOnce(&mut RoutingBuilder)) -> Self {
        add(&mut self.routing);
        self
    }

    /// Subscribes a stub module called `subscriber` to `E` and records what it receives.
    pub fn record<E: Event>(mut self, subscriber: &str) -> (Self, Recorder<E>) {
        let events = Arc::new(Mutex::new(Vec::new()));
        let route = Arc::new(RecordingRoute {
            events: events.clone(),
        });
        self.routing.subscriber(E::NAME, subscriber, route);
        (self, Recorder { events })
    }

    /// Creates the database, migrates, registers and starts the relay.
    pub async fn start(self) -> TestApp {
        let dir = tempfile::tempdir().expect("temporary directory");
        let url = format!("sqlite://{}/test.db?mode=rwc", dir.path().display());
        let db = crate::db::connect(&url)
            .await
            .expect("connect to test database");
        crate::db::migrate(&db, &self.modules)
            .await
            .expect("migrate test database");
        // Only the hosted modules' contracts: stubs and recorders stand in for the others.
        let contracts: Vec<_> = self.modules.iter().map(|m| m.contract).collect();
        let runtime = Runtime::build(
            db,
            Bus::new(self.serialize),
            &self.modules,
            self.routing,
            &contracts,
        )
        .unwrap_or_else(|e| panic!("test runtime does not start:\n{e}"));
        let relay = self
            .relay
            .then(|| runtime.spawn_relay(&test_outbox_config()));
        TestApp {
            runtime,
            relay,
            _dir: dir,
        }
    }
}

/// A descriptor's `migrate` for a module without tables (test and benchmark modules).
pub fn no_migrations(
    _: &DatabaseConnection,
) -> crate::bus::BoxFuture<'_, Result<(), sea_orm::DbErr>> {
    Box::pin(async { Ok(()) })
}

/// A descriptor's `register` for a module that registers nothing.
pub fn register_nothing(_: &mut crate::Registrar<'_>) -> Result<(), crate::RegisterError> {
    Ok(())
}

/// The contract, at version 1.0, of a test or benchmark module.
pub const fn fixture_contract(
    module: &'static str,
    handles: &'static [&'static str],
    publishes: &'static [&'static str],
    subscribes: &'static [&'static str],
) -> Contract {
    Contract {
        module,
        version: Version { major: 1, minor: 0 },
        handles,
        publishes,
        subscribes,
    }
}

/// The descriptor of a test or benchmark module: named after its contract, no routes, no
/// tables, no calls to other modules (add `may_call` and `sends` with struct update syntax).
pub const fn fixture_module(
    contract: &'static Contract,
    summary: &'static str,
    register: fn(&mut crate::Registrar<'_>) -> Result<(), crate::RegisterError>,
) -> ModuleDescriptor {
    ModuleDescriptor {
        name: contract.module,
        contract,
        summary,
        may_call: &[],
        sends: &[],
        routes: &[],
        openapi: crate::http::no_routes,
        migrate: no_migrations,
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
    relay: Option<RelayHandle>,
    _dir: tempfile::TempDir,
}

impl TestApp {
    /// The bus, to call the module under test.
    pub fn bus(&self) -> &Bus {
        self.runtime.bus()
    }

    /// The database, for assertions on the module's own tables.
    pub fn db(&self) -> &DatabaseConnection {
        self.runtime.db()
    }

    /// Stops the relay.
    pub async fn stop_relay(&mut self) {
        if let Some(relay) = self.relay.take() {
            relay.stop().await;
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

/// Wraps `event` as module `publisher` would publish it, for delivering it straight to a
/// subscriber with [`Bus::deliver_event`].
pub fn envelope<E: Event>(publisher: &str, event: &E) -> EventEnvelope {
    EventEnvelope {
        id: uuid::Uuid::now_v7(),
        name: E::NAME.to_string(),
        publisher: publisher.to_string(),
        published_at_ms: crate::outbox::now_ms(),
        payload: serde_json::to_value(event).expect("event encodes"),
        traceparent: None,
    }
}
