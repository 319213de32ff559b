//! Events: where each event goes ([`EventRoutes`]), the publishing side (into the outbox,
//! inside the caller's transaction) and the receiving side (a subscriber applied once per event
//! through the inbox).

use std::collections::{BTreeMap, HashMap};
use std::marker::PhantomData;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use cleave_contract::Event;
use uuid::Uuid;

use crate::db::{Database, Tx};
use crate::outbox;
use crate::transport::{Applied, DeliveryFailure, EventEnvelope, EventRoute};

/// A decoded event handed to a subscriber, with its envelope's metadata.
#[derive(Debug, Clone)]
pub struct Delivered<E> {
    /// The event id (stable across redeliveries).
    pub id: Uuid,
    /// The publishing module.
    pub publisher: String,
    /// Commit time of the publishing transaction, milliseconds since the Unix epoch.
    pub published_at_ms: i64,
    /// The event.
    pub event: E,
}

/// What a subscriber returns when it cannot apply an event; nothing it did is kept and the
/// delivery is retried later. A [`sea_orm::DbErr`] (returned with `?`, or as the source of the
/// subscriber's own error) counts as an outage: retried with backoff for as long as it lasts
/// (503 `unavailable` over the wire), except a violated constraint (unique, foreign key), which
/// refuses the event like any other error: retried up to
/// `outbox.max_attempts` times, then set aside as failed for an operator (422 `rejected`).
pub type HandlerError = Box<dyn std::error::Error + Send + Sync>;

/// Applies one event type to a module's state.
///
/// It runs inside a transaction the framework opened and commits: the inbox row that marks the
/// event as applied is written in the same transaction, so the effect happens once even when
/// the event is delivered again after a crash. Events the subscriber publishes in reaction go
/// through the same transaction.
#[async_trait]
pub trait Subscriber<E: Event>: Send + Sync + 'static {
    /// Applies `event` using `tx`; an error rolls everything back and schedules a retry.
    async fn on_event(&self, tx: &Tx, event: Delivered<E>) -> Result<(), HandlerError>;
}

/// A subscriber with its event type erased, as the local route keeps it.
#[async_trait]
pub(crate) trait ErasedSubscriber: Send + Sync {
    async fn apply(&self, tx: &Tx, envelope: &EventEnvelope) -> Result<(), DeliveryFailure>;
}

pub(crate) struct TypedSubscriber<E, S> {
    subscriber: S,
    _event: PhantomData<fn() -> E>,
}

impl<E, S> TypedSubscriber<E, S> {
    pub(crate) fn new(subscriber: S) -> Self {
        TypedSubscriber {
            subscriber,
            _event: PhantomData,
        }
    }
}

#[async_trait]
impl<E: Event, S: Subscriber<E>> ErasedSubscriber for TypedSubscriber<E, S> {
    async fn apply(&self, tx: &Tx, envelope: &EventEnvelope) -> Result<(), DeliveryFailure> {
        let event: E = crate::transport::decode_raw(&envelope.payload).map_err(|e| {
            DeliveryFailure::BadPayload(format!("cannot decode event `{}`: {e}", E::NAME))
        })?;
        let delivered = Delivered {
            id: envelope.id,
            publisher: envelope.publisher.clone(),
            published_at_ms: envelope.published_at_ms,
            event,
        };
        self.subscriber
            .on_event(tx, delivered)
            .await
            .map_err(handler_failure)
    }
}

/// What a subscriber's error means for the delivery: a database error anywhere in its source
/// chain is an outage (the event waits and is retried without counting an attempt, so a
/// database restart does not park events as failed), unless it is a constraint the event
/// violates (unique, foreign key), which no retry mends; anything else refuses this event.
fn handler_failure(error: HandlerError) -> DeliveryFailure {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error.as_ref());
    while let Some(e) = cause {
        if let Some(db) = e.downcast_ref::<sea_orm::DbErr>() {
            return match db.sql_err() {
                Some(violated) => DeliveryFailure::Rejected(format!("{error} ({violated})")),
                None => DeliveryFailure::Unavailable(format!("database: {error}")),
            };
        }
        cause = e.source();
    }
    DeliveryFailure::Rejected(error.to_string())
}

/// The route to a subscriber hosted in this process: inbox check, handler, commit.
pub struct LocalEventRoute {
    module: &'static str,
    db: Database,
    handlers: HashMap<String, Arc<dyn ErasedSubscriber>>,
    metrics: Option<crate::Metrics>,
}

impl LocalEventRoute {
    pub(crate) fn new(
        module: &'static str,
        db: Database,
        handlers: HashMap<String, Arc<dyn ErasedSubscriber>>,
    ) -> Self {
        LocalEventRoute {
            module,
            db,
            handlers,
            metrics: None,
        }
    }

    /// Counts each applied event, and the bus requests and events its handler causes, in
    /// `metrics` (what an event fans out to, for predicting extractions).
    pub(crate) fn with_metrics(mut self, metrics: crate::Metrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Applies `envelope` inside `tx` (usually a savepoint of a larger transaction): records
    /// it in the inbox and runs the subscriber, or does nothing if it was applied before.
    pub async fn apply_in(
        &self,
        tx: &Tx,
        envelope: &EventEnvelope,
    ) -> Result<Applied, DeliveryFailure> {
        self.apply_recorded(tx, envelope, None).await
    }

    /// Like [`LocalEventRoute::apply_in`]; with `recorded`, the caller has already recorded
    /// the inbox row (the relay records a batch's rows in one statement), and `recorded` says
    /// whether it was new.
    pub(crate) async fn apply_recorded(
        &self,
        tx: &Tx,
        envelope: &EventEnvelope,
        recorded: Option<bool>,
    ) -> Result<Applied, DeliveryFailure> {
        let handler = self.handlers.get(&envelope.name).ok_or_else(|| {
            DeliveryFailure::BadPayload(format!(
                "module `{}` does not subscribe to `{}`",
                self.module, envelope.name
            ))
        })?;
        // The inbox row goes first: it tells whether this subscriber already applied the event.
        let new = match recorded {
            Some(new) => new,
            None => outbox::record_in_inbox(tx, self.module, envelope.id)
                .await
                .map_err(database_failure)?,
        };
        if !new {
            tracing::debug!(event = %envelope.id, subscriber = self.module, "already applied");
            return Ok(Applied::Before);
        }
        let (applied, caused) = crate::traffic::scope(handler.apply(tx, envelope)).await;
        applied?;
        if let Some(metrics) = &self.metrics {
            metrics.event_applied(self.module, &envelope.name, &caused);
        }
        Ok(Applied::Now)
    }

    /// The subscribing module.
    pub fn module(&self) -> &'static str {
        self.module
    }
}

fn database_failure(e: sea_orm::DbErr) -> DeliveryFailure {
    DeliveryFailure::Unavailable(format!("database: {e}"))
}

#[async_trait]
impl EventRoute for LocalEventRoute {
    async fn deliver(&self, envelope: &EventEnvelope) -> Result<Applied, DeliveryFailure> {
        let tx = self.db.write().await.map_err(database_failure)?;
        // On error the transaction is dropped, which rolls back the handler's work and the
        // inbox row together.
        let applied = self.apply_in(&tx, envelope).await?;
        match applied {
            Applied::Now => tx.commit().await.map_err(database_failure)?,
            Applied::Before => tx.rollback().await.map_err(database_failure)?,
        }
        Ok(applied)
    }
}

#[derive(Default)]
struct Table {
    subscribers: HashMap<String, Vec<String>>,
    routes: HashMap<String, Arc<dyn EventRoute>>,
    local: HashMap<String, Arc<LocalEventRoute>>,
}

/// Where events go: the subscribers of each event, and the route to each subscriber. Built
/// while the runtime starts, sealed, then read-only. Cheap to clone.
#[derive(Clone, Default)]
pub struct EventRoutes {
    table: Arc<OnceLock<Table>>,
}

impl std::fmt::Debug for EventRoutes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventRoutes")
            .field("sealed", &self.table.get().is_some())
            .finish()
    }
}

/// Collects the subscribers and their routes before they are sealed into [`EventRoutes`].
#[derive(Default)]
pub struct EventRoutesBuilder {
    subscribers: BTreeMap<String, Vec<String>>,
    routes: BTreeMap<String, Arc<dyn EventRoute>>,
    local: BTreeMap<String, Arc<LocalEventRoute>>,
    behind_queues: std::collections::BTreeSet<String>,
}

impl EventRoutesBuilder {
    /// Declares that `subscriber` receives every `event`, delivered through `route`.
    pub fn subscriber(&mut self, event: &str, subscriber: &str, route: Arc<dyn EventRoute>) {
        let list = self.subscribers.entry(event.to_string()).or_default();
        if !list.iter().any(|s| s == subscriber) {
            list.push(subscriber.to_string());
        }
        self.routes.insert(subscriber.to_string(), route);
    }

    /// Declares that `subscriber` receives every `event` through a **shared queue** named
    /// `queue` (a broker): the outbox holds one delivery per event for the queue, however many
    /// subscribers are behind it, and `route` hands it on. Queue names start with `@`, so they
    /// cannot be taken for a module.
    pub fn shared(
        &mut self,
        event: &str,
        subscriber: &str,
        queue: &str,
        route: Arc<dyn EventRoute>,
    ) {
        debug_assert!(queue.starts_with('@'), "queue names start with `@`");
        let list = self.subscribers.entry(event.to_string()).or_default();
        if !list.iter().any(|s| s == queue) {
            list.push(queue.to_string());
        }
        self.routes.insert(queue.to_string(), route);
        self.behind_queues.insert(subscriber.to_string());
    }

    /// Declares a subscriber hosted in this process.
    pub(crate) fn local(&mut self, event: &str, route: Arc<LocalEventRoute>) {
        let module = route.module();
        self.subscriber(event, module, route.clone());
        self.local.insert(module.to_string(), route);
    }

    /// Whether events for `subscriber` have a route (local, remote or a shared queue).
    pub fn reaches(&self, subscriber: &str) -> bool {
        self.routes.contains_key(subscriber) || self.behind_queues.contains(subscriber)
    }
}

impl EventRoutes {
    /// Installs the routes; they can be installed once.
    pub fn seal(&self, builder: EventRoutesBuilder) -> Result<(), String> {
        self.table
            .set(Table {
                subscribers: builder.subscribers.into_iter().collect(),
                routes: builder.routes.into_iter().collect(),
                local: builder.local.into_iter().collect(),
            })
            .map_err(|_| "the event routes are already sealed".to_string())
    }

    /// Where deliveries of `event` go, in registration order: the modules that receive it,
    /// except that the subscribers behind a shared queue are the queue's one name.
    pub fn subscribers_of(&self, event: &str) -> &[String] {
        self.table
            .get()
            .and_then(|t| t.subscribers.get(event))
            .map_or(&[], Vec::as_slice)
    }

    /// Every module (or shared queue) events are delivered to, sorted.
    pub fn subscribers(&self) -> Vec<String> {
        let mut all: Vec<String> = self
            .table
            .get()
            .map(|t| t.routes.keys().cloned().collect())
            .unwrap_or_default();
        all.sort();
        all
    }

    /// How events reach `subscriber`.
    pub fn route(&self, subscriber: &str) -> Option<Arc<dyn EventRoute>> {
        self.table.get()?.routes.get(subscriber).cloned()
    }

    /// The route of `subscriber` when it is hosted in this process.
    pub fn local(&self, subscriber: &str) -> Option<Arc<LocalEventRoute>> {
        self.table.get()?.local.get(subscriber).cloned()
    }

    /// Delivers an event to `subscriber` now, through the subscriber's route.
    pub async fn deliver(
        &self,
        subscriber: &str,
        envelope: &EventEnvelope,
    ) -> Result<Applied, DeliveryFailure> {
        match self.route(subscriber) {
            Some(route) => route.deliver(envelope).await,
            None => Err(DeliveryFailure::Unavailable(format!(
                "no route to subscriber `{subscriber}` in this process"
            ))),
        }
    }
}

/// Why an event could not be published.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The module publishes an event its contract does not declare.
    #[error("module `{module}` publishes `{event}` but its contract does not declare it")]
    Undeclared {
        /// The publishing module.
        module: &'static str,
        /// The event's wire name.
        event: &'static str,
    },
    /// The event could not be encoded.
    #[error("cannot encode event: {0}")]
    Encode(#[from] serde_json::Error),
    /// The outbox write failed; the caller's transaction should be rolled back.
    #[error("cannot write to the outbox: {0}")]
    Database(#[from] sea_orm::DbErr),
}

/// Publishes a module's events into the outbox. Each module gets its own in its context.
#[derive(Clone, Debug)]
pub struct Publisher {
    module: &'static str,
    publishes: &'static [&'static str],
    routes: EventRoutes,
    metrics: Option<crate::Metrics>,
}

impl Publisher {
    /// The publisher of `module`, allowed to publish `publishes` (its contract's events).
    pub fn new(
        module: &'static str,
        publishes: &'static [&'static str],
        routes: EventRoutes,
    ) -> Self {
        Publisher {
            module,
            publishes,
            routes,
            metrics: None,
        }
    }

    /// Counts what it publishes in `metrics` (events and their sizes by publisher and event).
    pub fn with_metrics(mut self, metrics: crate::Metrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Writes `event` to the outbox inside `tx`, one delivery per subscriber.
    ///
    /// Nothing is sent before `tx` commits; if it rolls back, the event never existed. When it
    /// commits, the relay learns of the event at once.
    pub async fn publish<E: Event>(&self, tx: &Tx, event: &E) -> Result<Uuid, PublishError> {
        if !self.publishes.contains(&E::NAME) {
            return Err(PublishError::Undeclared {
                module: self.module,
                event: E::NAME,
            });
        }
        let envelope = EventEnvelope {
            id: Uuid::now_v7(),
            name: E::NAME.to_string(),
            publisher: self.module.to_string(),
            published_at_ms: outbox::now_ms(),
            payload: serde_json::value::to_raw_value(event)?,
            traceparent: crate::trace::outgoing_header(),
        };
        let subscribers = self.routes.subscribers_of(E::NAME);
        outbox::enqueue(tx, &envelope, subscribers).await?;
        if !subscribers.is_empty() {
            tx.mark_published(subscribers);
        }
        crate::traffic::note(crate::traffic::Kind::Event, E::NAME);
        if let Some(metrics) = &self.metrics {
            metrics.event_published(self.module, E::NAME, crate::traffic::json_size(&envelope));
        }
        Ok(envelope.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot save the invoice")]
    struct Wrapped(#[source] sea_orm::DbErr);

    #[test]
    fn database_errors_are_outages_and_others_refusals() {
        let db = || sea_orm::DbErr::Custom("connection reset".into());
        assert!(matches!(
            handler_failure(Box::new(db())),
            DeliveryFailure::Unavailable(_)
        ));
        assert!(matches!(
            handler_failure(Box::new(Wrapped(db()))),
            DeliveryFailure::Unavailable(_)
        ));
        assert!(matches!(
            handler_failure("no such customer".into()),
            DeliveryFailure::Rejected(m) if m == "no such customer"
        ));
    }

    /// A violated constraint is the event's fault, not an outage: retrying cannot mend it.
    #[tokio::test]
    async fn a_violated_constraint_refuses_the_event() {
        use sea_orm::ConnectionTrait;
        let db = sea_orm::Database::connect("sqlite::memory:").await.unwrap();
        db.execute_unprepared("CREATE TABLE t (id INTEGER PRIMARY KEY)")
            .await
            .unwrap();
        db.execute_unprepared("INSERT INTO t VALUES (1)")
            .await
            .unwrap();
        let violated = db
            .execute_unprepared("INSERT INTO t VALUES (1)")
            .await
            .unwrap_err();
        assert!(matches!(
            handler_failure(Box::new(Wrapped(violated))),
            DeliveryFailure::Rejected(m) if m.contains("Unique")
        ));
    }
}
