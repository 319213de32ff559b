//! Events between processes through NATS JetStream (ADR 15), instead of HTTP pushes.
//!
//! - **Publishing.** Every subscriber hosted in another process is reached through one shared
//!   outbox queue, [`QUEUE`]: the relay delivers each committed event once to it, and
//!   [`Broker`]'s route publishes it to the subject `<namespace>.<event name>` of the stream
//!   `<NAMESPACE>_<PUBLISHER>`, with the event id as `Nats-Msg-Id` (JetStream drops a second
//!   copy within the stream's duplicate window). The outbox row is marked delivered only after
//!   JetStream acknowledged that it stored the event; while the broker is unreachable the rows
//!   wait in the outbox, retried at the relay's backoff, and nothing else stops.
//! - **Subscribing.** Each module hosted here that subscribes to events of a module hosted
//!   elsewhere reads them from the durable consumer named after it on the publisher's stream,
//!   one consumer shared by all its replicas (JetStream hands each message to one of them). An
//!   event is applied through the module's inbox in one transaction and acknowledged after it
//!   commits; a replica that dies before acknowledging leaves the event to be redelivered,
//!   after `events.ack_wait_ms`, to another, whose inbox recognises it if it had been applied.
//!   An outage (the database) is retried at the relay's backoff for as long as it lasts; an
//!   event the subscriber refuses `outbox.max_attempts` times is set aside in the subscriber's
//!   outbox as failed (`events list --failed`, `events resubmit`) and acknowledged.
//! - **Retention.** Streams keep a message until every consumer of the stream acknowledged it
//!   (interest retention), and at most `events.stream_max_age_s`. Both sides create the stream
//!   and the consumers they know of before they use them, so no event is published before its
//!   subscribers' consumers exist.
//!
//! The message body is the event envelope, the same JSON as the internal listener's event
//! endpoint takes, with the publisher's `cleave-contract` header.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer::pull, stream};
use async_nats::{HeaderMap, connection::State};
use async_trait::async_trait;
use cleave::config::{EventsConfig, OutboxConfig};
use cleave::events::LocalEventRoute;
use cleave::metrics::BROKER;
use cleave::trace::{TraceContext, in_trace};
use cleave::transport::{Applied, DeliveryFailure, EventEnvelope, EventRoute};
use cleave::{Contract, Database, Metrics};
use futures_util::StreamExt;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::wire;

/// The outbox queue of every event that leaves through the broker.
pub const QUEUE: &str = "@broker";

/// Why a broker cannot be used as configured.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// The namespace cannot be part of subjects and stream names.
    #[error(
        "`events.namespace` `{0}` must be 1 to 64 letters, digits, `_` or `-` (it prefixes subjects and stream names)"
    )]
    Namespace(String),
    /// The broker URL is not one NATS understands.
    #[error("`events.broker` `{url}`: {reason}")]
    Url {
        /// The URL as configured.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// A connection to NATS JetStream, and what this process publishes and consumes through it.
#[derive(Clone)]
pub struct Broker {
    inner: Arc<Inner>,
}

struct Inner {
    client: async_nats::Client,
    js: jetstream::Context,
    namespace: String,
    config: EventsConfig,
    /// Each known module's subscriptions (event names), from its linked declaration or its
    /// published contract.
    subscriptions: BTreeMap<String, Vec<String>>,
    /// The contracts of every module the binary knows (publishers' events and versions).
    known: Vec<&'static Contract>,
    /// Modules hosted in this process.
    hosted: BTreeSet<String>,
    /// Streams (by publisher) whose stream and consumers this process has made sure of.
    ready: Mutex<HashSet<String>>,
}

impl Broker {
    /// Connects to the broker at `url` (in the background: a broker that is down at start-up
    /// does not stop the process; publishing waits in the outbox until it is reachable).
    ///
    /// `subscriptions` are every known module's subscribed events; `hosted` the modules of
    /// this process; `namespace` the subjects' prefix (`events.namespace`, or the app's name).
    pub async fn connect(
        url: &str,
        namespace: &str,
        config: &EventsConfig,
        known: &[&'static Contract],
        subscriptions: BTreeMap<String, Vec<String>>,
        hosted: BTreeSet<String>,
    ) -> Result<Broker, BrokerError> {
        if namespace.is_empty()
            || namespace.len() > 64
            || !namespace
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(BrokerError::Namespace(namespace.to_string()));
        }
        let client = async_nats::ConnectOptions::new()
            .name(format!("cleave {namespace}"))
            .retry_on_initial_connect()
            .connection_timeout(Duration::from_secs(2))
            .connect(url)
            .await
            .map_err(|e| BrokerError::Url {
                url: redact(url),
                reason: e.to_string(),
            })?;
        let js = jetstream::ContextBuilder::new()
            .timeout(Duration::from_millis(config.publish_timeout_ms.max(1)))
            .build(client.clone());
        Ok(Broker {
            inner: Arc::new(Inner {
                client,
                js,
                namespace: namespace.to_string(),
                config: config.clone(),
                subscriptions,
                known: known.to_vec(),
                hosted,
                ready: Mutex::new(HashSet::new()),
            }),
        })
    }

    /// Whether the connection to the broker is up.
    pub fn connected(&self) -> bool {
        self.inner.client.connection_state() == State::Connected
    }

    /// The subject `event` is published on.
    pub fn subject(&self, event: &str) -> String {
        format!("{}.{event}", self.inner.namespace)
    }

    /// The stream of `publisher`'s events.
    pub fn stream_name(&self, publisher: &str) -> String {
        format!("{}_{publisher}", self.inner.namespace).to_ascii_uppercase()
    }

    /// The subscribers hosted elsewhere that take events of `publisher` from the broker, and
    /// which of them each wants.
    fn remote_subscribers_of(&self, publisher: &str) -> Vec<String> {
        let Some(contract) = self.inner.known.iter().find(|c| c.module == publisher) else {
            return Vec::new();
        };
        self.inner
            .subscriptions
            .iter()
            .filter(|(m, _)| !self.inner.hosted.contains(m.as_str()))
            .filter(|(_, events)| {
                events
                    .iter()
                    .any(|e| contract.publishes.contains(&e.as_str()))
            })
            .map(|(m, _)| m.clone())
            .collect()
    }

    /// The publishers hosted elsewhere whose events `subscriber` (hosted here) subscribes to.
    fn remote_publishers_for(&self, subscriber: &str) -> Vec<&'static Contract> {
        let Some(events) = self.inner.subscriptions.get(subscriber) else {
            return Vec::new();
        };
        self.inner
            .known
            .iter()
            .copied()
            .filter(|c| !self.inner.hosted.contains(c.module))
            .filter(|c| events.iter().any(|e| c.publishes.contains(&e.as_str())))
            .collect()
    }

    fn stream_config(&self, publisher: &str) -> stream::Config {
        stream::Config {
            name: self.stream_name(publisher),
            description: Some(format!(
                "Events of module `{publisher}` ({})",
                self.inner.namespace
            )),
            subjects: vec![format!("{}.{publisher}.>", self.inner.namespace)],
            retention: stream::RetentionPolicy::Interest,
            storage: stream::StorageType::File,
            max_age: Duration::from_secs(self.inner.config.stream_max_age_s),
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        }
    }

    fn consumer_config(&self, publisher: &str, subscriber: &str) -> pull::Config {
        pull::Config {
            durable_name: Some(subscriber.to_string()),
            description: Some(format!("Module `{subscriber}`, all its replicas")),
            filter_subject: format!("{}.{publisher}.>", self.inner.namespace),
            deliver_policy: jetstream::consumer::DeliverPolicy::All,
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            ack_wait: Duration::from_millis(self.inner.config.ack_wait_ms.max(1)),
            // Redelivered until applied; refusals are counted by the subscriber, which sets
            // the event aside in its outbox when they run out.
            max_deliver: -1,
            max_ack_pending: 1_000,
            ..Default::default()
        }
    }

    /// Makes sure `publisher`'s stream exists, with a consumer for each of `subscribers`.
    async fn ensure(
        &self,
        publisher: &str,
        subscribers: &[String],
    ) -> Result<stream::Stream, String> {
        let stream = self
            .inner
            .js
            .get_or_create_stream(self.stream_config(publisher))
            .await
            .map_err(|e| format!("stream {}: {e}", self.stream_name(publisher)))?;
        for subscriber in subscribers {
            stream
                .get_or_create_consumer(subscriber, self.consumer_config(publisher, subscriber))
                .await
                .map_err(|e| {
                    format!(
                        "consumer {subscriber} on {}: {e}",
                        self.stream_name(publisher)
                    )
                })?;
        }
        Ok(stream)
    }

    /// The route of the outbox queue [`QUEUE`]: publishes each event to JetStream.
    pub fn route(&self, headers: BTreeMap<String, String>) -> Arc<dyn EventRoute> {
        Arc::new(BrokerRoute {
            broker: self.clone(),
            contract_headers: headers,
        })
    }

    /// Starts taking events from the broker for every module hosted here that subscribes to
    /// events of a module hosted elsewhere, through `local(module)`; stopped by the handle.
    pub fn consume(
        &self,
        routes: &cleave::EventRoutes,
        db: &Database,
        outbox: &OutboxConfig,
        metrics: &Metrics,
    ) -> ConsumerHandle {
        let (stop, stopped) = watch::channel(false);
        let mut tasks = Vec::new();
        for subscriber in &self.inner.hosted {
            let Some(local) = routes.local(subscriber) else {
                continue;
            };
            for publisher in self.remote_publishers_for(subscriber) {
                let consumer = Consumer {
                    broker: self.clone(),
                    publisher,
                    subscriber: subscriber.clone(),
                    local: local.clone(),
                    db: db.clone(),
                    outbox: outbox.clone(),
                    metrics: metrics.clone(),
                };
                let stopped = stopped.clone();
                tasks.push(tokio::spawn(consumer.run(stopped)));
            }
        }
        ConsumerHandle { stop, tasks }
    }
}

/// Hides a password in a broker URL for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://…@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

/// Publishes events to JetStream for the relay.
struct BrokerRoute {
    broker: Broker,
    /// The `cleave-contract` header of each hosted publisher.
    contract_headers: BTreeMap<String, String>,
}

#[async_trait]
impl EventRoute for BrokerRoute {
    async fn deliver(&self, envelope: &EventEnvelope) -> Result<Applied, DeliveryFailure> {
        let broker = &self.broker;
        // Fail at once while disconnected: the client would buffer the message and the relay
        // would wait out the publish deadline for every row of the batch.
        if !broker.connected() {
            return Err(DeliveryFailure::Unavailable(
                "the event broker is not connected".into(),
            ));
        }
        let publisher = envelope.publisher.as_str();
        let ready = broker
            .inner
            .ready
            .lock()
            .is_ok_and(|r| r.contains(publisher));
        if !ready {
            broker
                .ensure(publisher, &broker.remote_subscribers_of(publisher))
                .await
                .map_err(DeliveryFailure::Unavailable)?;
            if let Ok(mut r) = broker.inner.ready.lock() {
                r.insert(publisher.to_string());
            }
        }
        let body = serde_json::to_vec(envelope)
            .map_err(|e| DeliveryFailure::BadPayload(format!("cannot encode the event: {e}")))?;
        let mut headers = HeaderMap::new();
        if let Some(contract) = self.contract_headers.get(publisher) {
            headers.insert(wire::CONTRACT_HEADER, contract.as_str());
        }
        if let Some(traceparent) = &envelope.traceparent {
            headers.insert("traceparent", traceparent.as_str());
        }
        let message = jetstream::message::PublishMessage::build()
            .payload(body.into())
            .headers(headers)
            .message_id(envelope.id.to_string());
        let stored = match broker
            .inner
            .js
            .send_publish(broker.subject(&envelope.name), message)
            .await
        {
            Ok(ack) => ack.await.map_err(|e| {
                DeliveryFailure::Unavailable(format!("the broker did not confirm the event: {e}"))
            }),
            Err(e) => Err(DeliveryFailure::Unavailable(format!(
                "publish to the broker: {e}"
            ))),
        };
        if stored.is_err() {
            // The stream may be gone (a broker restarted without its store): make sure of it and
            // of its consumers again before the next attempt.
            if let Ok(mut r) = broker.inner.ready.lock() {
                r.remove(publisher);
            }
        }
        stored?;
        Ok(Applied::Now)
    }
}

/// Stops the consumers.
pub struct ConsumerHandle {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl ConsumerHandle {
    /// Asks every consumer to stop after the event in progress, and waits for them.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// One subscriber's consumer on one publisher's stream, in this replica.
struct Consumer {
    broker: Broker,
    publisher: &'static Contract,
    subscriber: String,
    local: Arc<LocalEventRoute>,
    db: Database,
    outbox: OutboxConfig,
    metrics: Metrics,
}

impl Consumer {
    async fn run(self, mut stopped: watch::Receiver<bool>) {
        let mut failures = 0u32;
        while !*stopped.borrow() {
            match self.serve(&mut stopped).await {
                Ok(()) => failures = 0,
                Err(e) => {
                    failures = failures.saturating_add(1);
                    tracing::warn!(
                        subscriber = %self.subscriber,
                        publisher = self.publisher.module,
                        error = %e,
                        "taking events from the broker failed; trying again"
                    );
                }
            }
            let pause = Duration::from_millis(cleave::outbox::backoff_ms(&self.outbox, failures));
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = stopped.changed() => {}
            }
        }
    }

    /// Takes and applies messages until stopped or the message stream fails.
    async fn serve(&self, stopped: &mut watch::Receiver<bool>) -> Result<(), String> {
        let broker = &self.broker;
        let stream = broker
            .ensure(
                self.publisher.module,
                std::slice::from_ref(&self.subscriber),
            )
            .await?;
        let consumer: jetstream::consumer::Consumer<pull::Config> = stream
            .get_consumer(&self.subscriber)
            .await
            .map_err(|e| e.to_string())?;
        let batch = usize::try_from(broker.inner.config.fetch_batch.clamp(1, 10_000)).unwrap_or(64);
        let mut messages = consumer
            .stream()
            .max_messages_per_batch(batch)
            .heartbeat(Duration::from_secs(5))
            .expires(Duration::from_secs(30))
            .messages()
            .await
            .map_err(|e| e.to_string())?;
        tracing::info!(
            subscriber = %self.subscriber,
            stream = %broker.stream_name(self.publisher.module),
            "taking events from the broker"
        );
        loop {
            let next = tokio::select! {
                next = messages.next() => next,
                _ = stopped.changed() => return Ok(()),
            };
            match next {
                None => return Err("the broker ended the message stream".into()),
                Some(Err(e)) => return Err(e.to_string()),
                Some(Ok(message)) => self.handle(message).await,
            }
        }
    }

    /// Applies one message and tells the broker what became of it.
    async fn handle(&self, message: jetstream::Message) {
        let delivered = message
            .info()
            .map(|i| u32::try_from(i.delivered).unwrap_or(u32::MAX))
            .unwrap_or(1);
        let envelope = match self.envelope(&message) {
            Ok(envelope) => envelope,
            Err(refusal) => {
                // Nothing to apply or to keep: the message is not an event of this publisher.
                tracing::error!(
                    subscriber = %self.subscriber,
                    subject = %message.subject,
                    error = %refusal,
                    "dropping a message that is not an event of its stream"
                );
                self.metrics
                    .event_deliveries(&self.subscriber, BROKER, "refused", 1);
                acknowledge(&message, AckKind::Term).await;
                return;
            }
        };
        if !self.local_subscribes(&envelope.name) {
            // Another event of the same publisher, which this module does not take.
            acknowledge(&message, AckKind::Ack).await;
            return;
        }
        let context = TraceContext::continue_or_start(envelope.traceparent.as_deref());
        let span = cleave::relay::delivery_span(&envelope.name, &self.subscriber, BROKER, &context);
        let outcome = in_trace(context, self.local.deliver(&envelope).instrument(span)).await;
        match outcome {
            Ok(applied) => {
                acknowledge(&message, AckKind::Ack).await;
                let kind = match applied {
                    Applied::Now => "applied",
                    Applied::Before => "duplicate",
                };
                self.metrics
                    .event_deliveries(&self.subscriber, BROKER, kind, 1);
            }
            Err(failure) if failure.is_outage() => {
                tracing::warn!(event = %envelope.id, subscriber = %self.subscriber, error = %failure, "event delivery failed; the broker redelivers it");
                self.retry_later(&message, delivered).await;
                self.metrics
                    .event_deliveries(&self.subscriber, BROKER, "unavailable", 1);
            }
            Err(failure) => {
                self.metrics
                    .event_deliveries(&self.subscriber, BROKER, "refused", 1);
                if delivered >= self.outbox.max_attempts {
                    tracing::warn!(event = %envelope.id, subscriber = %self.subscriber, attempts = delivered, error = %failure, "event refused too often; set aside as failed");
                    match cleave::outbox::park_failed(
                        &self.db,
                        &envelope,
                        &self.subscriber,
                        delivered,
                        &failure.to_string(),
                    )
                    .await
                    {
                        Ok(()) => acknowledge(&message, AckKind::Ack).await,
                        Err(e) => {
                            tracing::warn!(event = %envelope.id, error = %e, "cannot set the event aside; the broker redelivers it");
                            self.retry_later(&message, delivered).await;
                        }
                    }
                } else {
                    tracing::warn!(event = %envelope.id, subscriber = %self.subscriber, attempts = delivered, error = %failure, "event refused; the broker redelivers it");
                    self.retry_later(&message, delivered).await;
                }
            }
        }
    }

    /// Hands `message` back to the broker for redelivery after the relay's backoff for its
    /// `delivered`th attempt.
    async fn retry_later(&self, message: &jetstream::Message, delivered: u32) {
        let delay = cleave::outbox::backoff_ms(&self.outbox, delivered);
        acknowledge(message, AckKind::Nak(Some(Duration::from_millis(delay)))).await;
    }

    fn local_subscribes(&self, event: &str) -> bool {
        self.broker
            .inner
            .subscriptions
            .get(&self.subscriber)
            .is_some_and(|events| events.iter().any(|e| e == event))
    }

    /// The event a message carries, if it is one of this stream's publisher, with a contract
    /// version this process can read.
    fn envelope(&self, message: &jetstream::Message) -> Result<EventEnvelope, DeliveryFailure> {
        let envelope: EventEnvelope = cleave::transport::decode(&message.payload)
            .map_err(|e| DeliveryFailure::BadPayload(format!("not an event envelope: {e}")))?;
        let publisher = self.publisher;
        if envelope.publisher != publisher.module {
            return Err(DeliveryFailure::BadPayload(format!(
                "an event of `{}` on the stream of `{}`",
                envelope.publisher, publisher.module
            )));
        }
        if !publisher.publishes.contains(&envelope.name.as_str()) {
            return Err(DeliveryFailure::BadPayload(format!(
                "module `{}` does not publish `{}`",
                publisher.module, envelope.name
            )));
        }
        let header = message
            .headers
            .as_ref()
            .and_then(|h| h.get(wire::CONTRACT_HEADER))
            .map(|v| v.as_str().to_string());
        if let Some(header) = header {
            match wire::parse_contract_header(&header) {
                Some((named, theirs)) if named == publisher.module => {
                    if !publisher.version.compatible_with(&theirs) {
                        return Err(DeliveryFailure::Incompatible(format!(
                            "published against {} {theirs}, this process has {}",
                            publisher.module, publisher.version
                        )));
                    }
                }
                _ => {
                    return Err(DeliveryFailure::BadPayload(format!(
                        "bad `{}` header `{header}`",
                        wire::CONTRACT_HEADER
                    )));
                }
            }
        }
        Ok(envelope)
    }
}

async fn acknowledge(message: &jetstream::Message, kind: AckKind) {
    if let Err(e) = message.ack_with(kind).await {
        // A lost acknowledgement means a redelivery, which the inbox recognises.
        tracing::debug!(error = %e, "could not acknowledge a broker message");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_stay_out_of_messages() {
        assert_eq!(redact("nats://u:secret@nats:4222"), "nats://…@nats:4222");
        assert_eq!(redact("nats://nats:4222"), "nats://nats:4222");
    }
}
