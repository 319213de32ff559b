//! Events: the publishing side (into the outbox, inside the caller's transaction) and the
//! receiving side (a subscriber applied once per event through the inbox).

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;

use async_trait::async_trait;
use cleave_contract::Event;
use sea_orm::{DatabaseConnection, DatabaseTransaction, TransactionTrait};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::bus::{Bus, DeliveryFailure};
use crate::outbox;

/// An event as stored in the outbox and sent over the wire: its identity, origin and JSON body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventEnvelope {
    /// Unique per published event; the inbox key that makes delivery idempotent.
    pub id: Uuid,
    /// The event's stable wire name.
    pub name: String,
    /// The module that published it.
    pub publisher: String,
    /// When it was committed, in milliseconds since the Unix epoch.
    pub published_at_ms: i64,
    /// The event itself, JSON-encoded.
    pub payload: serde_json::Value,
    /// W3C trace context of the work that published it, so its effects join the same trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
}

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

/// What a subscriber returns when it cannot apply an event; the delivery is retried later.
pub type HandlerError = Box<dyn std::error::Error + Send + Sync>;

/// Applies one event type to a module's state.
///
/// It runs inside a transaction the framework opened and commits: the inbox row that marks the
/// event as applied is written in the same transaction, so the effect happens once even when
/// the event is delivered again after a crash. Events the subscriber publishes in reaction go
/// through the same transaction.
#[async_trait]
pub trait Subscriber<E: Event>: Send + Sync + 'static {
    /// Applies `event` using `txn`; an error rolls everything back and schedules a retry.
    async fn on_event(
        &self,
        txn: &DatabaseTransaction,
        event: Delivered<E>,
    ) -> Result<(), HandlerError>;
}

/// Delivers events to one subscribing module, wherever it runs.
#[async_trait]
pub trait EventRoute: Send + Sync + 'static {
    /// Delivers `envelope`; `Ok` means the subscriber applied it now or had applied it before.
    async fn deliver(&self, envelope: &EventEnvelope) -> Result<(), DeliveryFailure>;
}

#[async_trait]
pub(crate) trait ErasedSubscriber: Send + Sync {
    async fn apply(
        &self,
        txn: &DatabaseTransaction,
        envelope: &EventEnvelope,
    ) -> Result<(), DeliveryFailure>;
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
    async fn apply(
        &self,
        txn: &DatabaseTransaction,
        envelope: &EventEnvelope,
    ) -> Result<(), DeliveryFailure> {
        let event: E = serde_json::from_value(envelope.payload.clone()).map_err(|e| {
            DeliveryFailure::BadPayload(format!("cannot decode event `{}`: {e}", E::NAME))
        })?;
        let delivered = Delivered {
            id: envelope.id,
            publisher: envelope.publisher.clone(),
            published_at_ms: envelope.published_at_ms,
            event,
        };
        self.subscriber
            .on_event(txn, delivered)
            .await
            .map_err(|e| DeliveryFailure::Rejected(e.to_string()))
    }
}

/// The route to a subscriber hosted in this process: inbox check, handler, commit.
pub struct LocalEventRoute {
    module: &'static str,
    db: DatabaseConnection,
    bus: Bus,
    handlers: HashMap<String, Arc<dyn ErasedSubscriber>>,
}

impl LocalEventRoute {
    pub(crate) fn new(
        module: &'static str,
        db: DatabaseConnection,
        bus: Bus,
        handlers: HashMap<String, Arc<dyn ErasedSubscriber>>,
    ) -> Self {
        LocalEventRoute {
            module,
            db,
            bus,
            handlers,
        }
    }
}

#[async_trait]
impl EventRoute for LocalEventRoute {
    async fn deliver(&self, envelope: &EventEnvelope) -> Result<(), DeliveryFailure> {
        let handler = self.handlers.get(&envelope.name).ok_or_else(|| {
            DeliveryFailure::BadPayload(format!(
                "module `{}` does not subscribe to `{}`",
                self.module, envelope.name
            ))
        })?;
        let db_failure = |e: sea_orm::DbErr| DeliveryFailure::Unavailable(format!("database: {e}"));
        let txn = self.db.begin().await.map_err(db_failure)?;
        // The inbox row goes first: it takes the write lock at once (no read-then-upgrade
        // conflicts on SQLite) and tells whether this subscriber already applied the event.
        if !outbox::record_in_inbox(&txn, self.module, envelope.id)
            .await
            .map_err(db_failure)?
        {
            txn.rollback().await.map_err(db_failure)?;
            tracing::debug!(event = %envelope.id, subscriber = self.module, "already applied");
            return Ok(());
        }
        // On error the transaction is dropped, which rolls back the handler's work and the
        // inbox row together.
        handler.apply(&txn, envelope).await?;
        txn.commit().await.map_err(db_failure)?;
        // The subscriber may have published events of its own in that transaction.
        self.bus.wake_outbox();
        Ok(())
    }
}

/// Why an event could not be published.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The module publishes an event its descriptor does not declare.
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

/// Publishes a module's events into the outbox. Each module gets its own from its context.
#[derive(Clone, Debug)]
pub struct Publisher {
    module: &'static str,
    publishes: &'static [&'static str],
    bus: Bus,
}

impl Publisher {
    pub(crate) fn new(module: &'static str, publishes: &'static [&'static str], bus: Bus) -> Self {
        Publisher {
            module,
            publishes,
            bus,
        }
    }

    /// Writes `event` to the outbox inside `txn`, one delivery per subscriber.
    ///
    /// Nothing is sent before `txn` commits; if it rolls back, the event never existed. Call
    /// [`Publisher::wake`] after committing to have it delivered without waiting for the
    /// relay's next poll.
    pub async fn publish<E: Event>(
        &self,
        txn: &DatabaseTransaction,
        event: &E,
    ) -> Result<Uuid, PublishError> {
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
            payload: serde_json::to_value(event)?,
            traceparent: crate::trace::outgoing_header(),
        };
        let subscribers = self.bus.subscribers_of(E::NAME);
        outbox::enqueue(txn, &envelope, &subscribers).await?;
        Ok(envelope.id)
    }

    /// Wakes the outbox relay after the publishing transaction committed.
    pub fn wake(&self) {
        self.bus.wake_outbox();
    }
}
