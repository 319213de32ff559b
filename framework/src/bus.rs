//! The message bus: typed request/response between modules, and the routing table behind it.
//!
//! A call goes one of three ways, chosen when the runtime is built and invisible to the caller:
//! to a local handler by moving the value (no serialization); to a local handler through the
//! JSON wire codec (the serializing mode, which proves a module can be extracted); or to a
//! [`RequestTransport`] that crosses the network (provided by `cleave-extract`).

use std::any::{Any, TypeId};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Instant;

use async_trait::async_trait;
use cleave_contract::{CallError, Request, owner_of};
use rustc_hash::FxHashMap;
use tokio::sync::Notify;
use tracing::Instrument;

use crate::events::{EventEnvelope, EventRoute};
use crate::metrics::{CallMetrics, LOCAL, Metrics, REMOTE};

/// A boxed, sendable future, as stored in descriptors and routing tables.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Serves one request type. Implemented by a module's private handler types.
#[async_trait]
pub trait Handler<R: Request>: Send + Sync + 'static {
    /// Answers the request with its response, the module's domain error, or an internal
    /// failure (which the caller sees as the module being unavailable).
    async fn handle(&self, request: R) -> Result<R::Response, Failure<R::Error>>;
}

/// Why a handler did not answer with a response.
#[derive(Debug)]
pub enum Failure<E> {
    /// The module's business answer, part of the contract.
    Domain(E),
    /// Something broke inside the module (its database, a bug); not part of the contract.
    Internal(String),
}

impl<E> From<sea_orm::DbErr> for Failure<E> {
    fn from(error: sea_orm::DbErr) -> Self {
        Failure::Internal(format!("database: {error}"))
    }
}

fn internal_failure<E>(module: &str, reason: String) -> CallError<E> {
    tracing::error!(module, reason = %reason, "handler failed");
    CallError::Unavailable {
        module: module.to_string(),
        reason: format!("internal error: {reason}"),
    }
}

/// The encoded answer of a handler reached through the wire codec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireReply {
    /// The JSON-encoded response.
    Ok(Vec<u8>),
    /// The JSON-encoded domain error.
    Domain(Vec<u8>),
}

/// Why a message could not be delivered or answered; the transport-level half of
/// [`CallError`], also used for event deliveries.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryFailure {
    /// The receiving side could not be reached or is not serving.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// No answer within the deadline (milliseconds); the message may still have been applied.
    #[error("timed out after {0} ms")]
    Timeout(u64),
    /// The message could not be encoded or decoded.
    #[error("bad payload: {0}")]
    BadPayload(String),
    /// The receiver ran and refused the message (an event subscriber returned an error).
    #[error("rejected by receiver: {0}")]
    Rejected(String),
    /// Sender and receiver were built against incompatible contract versions.
    #[error("incompatible contract: {0}")]
    Incompatible(String),
}

impl DeliveryFailure {
    /// Whether the receiver was (probably) not reached or not working, as opposed to having
    /// refused this particular message: outages are waited out, refusals use up attempts.
    pub fn is_outage(&self) -> bool {
        matches!(
            self,
            DeliveryFailure::Unavailable(_) | DeliveryFailure::Timeout(_)
        )
    }
}

/// What a transport needs to know about the request it carries, besides its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outgoing<'a> {
    /// The request's wire name.
    pub name: &'a str,
    /// Whether the contract allows sending it again after a lost answer.
    pub idempotent: bool,
}

/// Sends an encoded request somewhere and brings back the encoded answer.
///
/// The bus uses a local implementation for the serializing mode; `cleave-extract` implements it
/// over HTTP. Implementations map every failure to a [`DeliveryFailure`], never panic.
#[async_trait]
pub trait RequestTransport: Send + Sync + 'static {
    /// The module that answers, for error messages and metrics.
    fn module(&self) -> &str;
    /// Delivers `body` (the JSON-encoded request described by `request`) and returns the
    /// answer.
    async fn send(
        &self,
        request: Outgoing<'_>,
        body: Vec<u8>,
    ) -> Result<WireReply, DeliveryFailure>;
}

struct TypedHandler<R: Request>(Arc<dyn Handler<R>>);

/// Serves a local handler through the wire codec: decode, handle, encode.
struct LocalWire<R: Request> {
    module: &'static str,
    handler: Arc<dyn Handler<R>>,
}

#[async_trait]
impl<R: Request> RequestTransport for LocalWire<R> {
    fn module(&self) -> &str {
        self.module
    }

    async fn send(
        &self,
        request: Outgoing<'_>,
        body: Vec<u8>,
    ) -> Result<WireReply, DeliveryFailure> {
        if request.name != R::NAME {
            return Err(DeliveryFailure::BadPayload(format!(
                "handler for `{}` received `{}`",
                R::NAME,
                request.name
            )));
        }
        let decoded: R = serde_json::from_slice(&body).map_err(|e| {
            DeliveryFailure::BadPayload(format!("cannot decode request `{}`: {e}", R::NAME))
        })?;
        let encode_failed = |e: serde_json::Error| {
            DeliveryFailure::BadPayload(format!("cannot encode answer to `{}`: {e}", R::NAME))
        };
        match self.handler.handle(decoded).await {
            Ok(response) => Ok(WireReply::Ok(
                serde_json::to_vec(&response).map_err(encode_failed)?,
            )),
            Err(Failure::Domain(error)) => Ok(WireReply::Domain(
                serde_json::to_vec(&error).map_err(encode_failed)?,
            )),
            Err(Failure::Internal(reason)) => Err(DeliveryFailure::Unavailable(format!(
                "internal error: {reason}"
            ))),
        }
    }
}

#[derive(Clone)]
struct LocalRoute {
    module: &'static str,
    type_id: TypeId,
    typed: Arc<dyn Any + Send + Sync>,
    wire: Arc<dyn RequestTransport>,
}

#[derive(Clone)]
enum RequestRoute {
    Local(LocalRoute),
    Remote(Arc<dyn RequestTransport>),
}

/// Where each message goes; built once at start-up, then read-only.
#[derive(Default)]
pub struct RoutingBuilder {
    requests: BTreeMap<String, RequestRoute>,
    remote_modules: BTreeMap<String, Arc<dyn RequestTransport>>,
    subscribers: BTreeMap<String, Vec<String>>,
    event_routes: BTreeMap<String, Arc<dyn EventRoute>>,
    errors: Vec<String>,
}

impl RoutingBuilder {
    /// Routes `R` to a handler in this process.
    pub fn local_handler<R: Request>(
        &mut self,
        module: &'static str,
        handler: Arc<dyn Handler<R>>,
    ) {
        if self.requests.contains_key(R::NAME) {
            self.errors.push(format!(
                "request `{}` is handled twice (second time by `{module}`)",
                R::NAME
            ));
            return;
        }
        let route = LocalRoute {
            module,
            type_id: TypeId::of::<R>(),
            typed: Arc::new(TypedHandler::<R>(handler.clone())),
            wire: Arc::new(LocalWire::<R> { module, handler }),
        };
        self.requests
            .insert(R::NAME.to_string(), RequestRoute::Local(route));
    }

    /// Routes every request of `module` (names `"<module>.*"`) that is not handled in this
    /// process to `transport`.
    pub fn remote_module(&mut self, module: &str, transport: Arc<dyn RequestTransport>) {
        if self
            .remote_modules
            .insert(module.to_string(), transport)
            .is_some()
        {
            self.errors
                .push(format!("module `{module}` has two remote routes"));
        }
    }

    /// Whether requests of `module` go to another process.
    pub fn is_remote(&self, module: &str) -> bool {
        self.remote_modules.contains_key(module)
    }

    /// Whether events for `subscriber` have a route (local or remote).
    pub fn reaches_subscriber(&self, subscriber: &str) -> bool {
        self.event_routes.contains_key(subscriber)
    }

    /// Routes the request called `request` to a transport (a remote module).
    pub fn remote_handler(&mut self, request: &str, transport: Arc<dyn RequestTransport>) {
        if self.requests.contains_key(request) {
            self.errors.push(format!(
                "request `{request}` has a remote route but is also handled in this process"
            ));
            return;
        }
        self.requests
            .insert(request.to_string(), RequestRoute::Remote(transport));
    }

    /// Declares that `subscriber` receives every `event`, delivered through `route`.
    pub fn subscriber(&mut self, event: &str, subscriber: &str, route: Arc<dyn EventRoute>) {
        let list = self.subscribers.entry(event.to_string()).or_default();
        if !list.iter().any(|s| s == subscriber) {
            list.push(subscriber.to_string());
        }
        self.event_routes.insert(subscriber.to_string(), route);
    }

    /// Whether some route answers `request`.
    pub fn serves(&self, request: &str) -> bool {
        self.requests.contains_key(request) || self.remote_modules.contains_key(owner_of(request))
    }

    pub(crate) fn take_errors(&mut self) -> Vec<String> {
        std::mem::take(&mut self.errors)
    }
}

/// A local handler with the metric handles of its calls, registered when the bus is sealed so
/// that a call records its metrics without looking them up by label.
struct TypedRoute {
    handler: Arc<dyn Any + Send + Sync>,
    metrics: Arc<CallMetrics>,
}

struct Routing {
    /// Local handlers by request type, for in-process dispatch without hashing the name.
    typed: FxHashMap<TypeId, TypedRoute>,
    /// Metric handles of the calls that go through the wire codec (serializing mode, remote
    /// modules), by request name; filled at seal time for the names known then, and on first
    /// use for requests routed to a remote module by its name prefix.
    wire_metrics: RwLock<FxHashMap<String, Arc<CallMetrics>>>,
    requests: HashMap<String, RequestRoute>,
    remote_modules: HashMap<String, Arc<dyn RequestTransport>>,
    subscribers: HashMap<String, Vec<String>>,
    event_routes: HashMap<String, Arc<dyn EventRoute>>,
}

struct BusInner {
    serialize: bool,
    metrics: Metrics,
    routing: OnceLock<Routing>,
    outbox_wake: Notify,
}

/// The handle modules use to call each other. Cheap to clone.
///
/// A bus is created before the modules are registered (so handlers can keep a clone) and
/// sealed with its routing table when the runtime is built; a call before that fails with
/// [`CallError::Unavailable`].
#[derive(Clone)]
pub struct Bus {
    inner: Arc<BusInner>,
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bus")
            .field("serialize", &self.inner.serialize)
            .field("sealed", &self.inner.routing.get().is_some())
            .finish()
    }
}

impl Bus {
    /// A bus that is not yet routed. With `serialize`, every local request, response and
    /// domain error goes through the JSON wire codec.
    pub fn new(serialize: bool) -> Self {
        Bus {
            inner: Arc::new(BusInner {
                serialize,
                metrics: Metrics::new(),
                routing: OnceLock::new(),
                outbox_wake: Notify::new(),
            }),
        }
    }

    /// Whether local calls go through the wire codec.
    pub fn serializes(&self) -> bool {
        self.inner.serialize
    }

    /// The metrics of this bus's calls, and of the process that owns it.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Installs the routing table; it can be installed once. Registers the metric handles of
    /// every route it knows by name.
    pub(crate) fn seal(&self, builder: RoutingBuilder) -> Result<(), String> {
        let metrics = &self.inner.metrics;
        let mut typed = FxHashMap::default();
        let mut wire_metrics = FxHashMap::default();
        for (name, route) in &builder.requests {
            match route {
                RequestRoute::Local(local) => {
                    let handles = metrics.call(local.module, name, LOCAL);
                    typed.insert(
                        local.type_id,
                        TypedRoute {
                            handler: local.typed.clone(),
                            metrics: handles.clone(),
                        },
                    );
                    wire_metrics.insert(name.clone(), handles);
                }
                RequestRoute::Remote(transport) => {
                    wire_metrics
                        .insert(name.clone(), metrics.call(transport.module(), name, REMOTE));
                }
            }
        }
        let routing = Routing {
            typed,
            wire_metrics: RwLock::new(wire_metrics),
            requests: builder.requests.into_iter().collect(),
            remote_modules: builder.remote_modules.into_iter().collect(),
            subscribers: builder.subscribers.into_iter().collect(),
            event_routes: builder.event_routes.into_iter().collect(),
        };
        self.inner
            .routing
            .set(routing)
            .map_err(|_| "the bus is already routed".to_string())
    }

    fn routing(&self) -> Option<&Routing> {
        self.inner.routing.get()
    }

    /// Sends a request to whichever module serves it and waits for the answer.
    ///
    /// In-process this moves the value to the handler; in serializing mode or when the module
    /// is remote it goes through the JSON wire codec. Delivery failures are reported apart
    /// from the module's own domain error.
    pub async fn call<R: Request>(&self, request: R) -> Result<R::Response, CallError<R::Error>> {
        let Some(routing) = self.routing() else {
            return Err(CallError::Unavailable {
                module: owner_of(R::NAME).to_string(),
                reason: "the bus is not started yet".to_string(),
            });
        };
        if !self.inner.serialize
            && let Some(route) = routing.typed.get(&TypeId::of::<R>())
            && let Some(typed) = route.handler.downcast_ref::<TypedHandler<R>>()
        {
            // The hot path: one hash of a type id, one downcast, the handler's own future, and
            // the metric handles registered at seal time. Two clock reads and a histogram
            // sample cost about as much as the rest of the call, so only one call in
            // `LOCAL_TIMING_SAMPLE` of each request is timed; every call is counted. The span is
            // at debug level: while nothing wants it (no OTLP export) one level check skips it.
            let answer = typed.0.handle(request);
            let started = route.metrics.count().then(Instant::now);
            let answer = if tracing::level_enabled!(tracing::Level::DEBUG) {
                answer.instrument(call_span(R::NAME, LOCAL)).await
            } else {
                answer.await
            };
            let (result, error_kind) = match answer {
                Ok(response) => (Ok(response), None),
                Err(Failure::Domain(error)) => (Err(CallError::Domain(error)), Some("domain")),
                Err(Failure::Internal(reason)) => (
                    Err(internal_failure(owner_of(R::NAME), reason)),
                    Some("unavailable"),
                ),
            };
            route
                .metrics
                .finish(started.map(|s| s.elapsed()), error_kind);
            return result;
        }
        let (route, location) = match routing.requests.get(R::NAME) {
            Some(RequestRoute::Local(_)) => (None, LOCAL),
            Some(RequestRoute::Remote(transport)) => (Some(transport.clone()), REMOTE),
            None => match routing.remote_modules.get(owner_of(R::NAME)) {
                Some(transport) => (Some(transport.clone()), REMOTE),
                None => return Err(CallError::NoRoute { request: R::NAME }),
            },
        };
        let metrics = routing.wire_metrics_of(
            &self.inner.metrics,
            R::NAME,
            route.as_ref().map_or(owner_of(R::NAME), |t| t.module()),
            location,
        );
        // Every call that crosses the codec or the network is timed: it costs far more than
        // the clock.
        metrics.count();
        let started = Instant::now();
        let result = self
            .call_wire::<R>(routing, route, request)
            .instrument(call_span(R::NAME, location))
            .await;
        metrics.finish(
            Some(started.elapsed()),
            result
                .as_ref()
                .err()
                .map(|e: &CallError<R::Error>| e.kind()),
        );
        result
    }

    /// The calls that go through the wire codec: local in serializing mode, or remote.
    async fn call_wire<R: Request>(
        &self,
        routing: &Routing,
        remote: Option<Arc<dyn RequestTransport>>,
        request: R,
    ) -> Result<R::Response, CallError<R::Error>> {
        if let Some(transport) = remote {
            return call_over_wire::<R>(transport.as_ref(), request).await;
        }
        match routing.requests.get(R::NAME) {
            None => Err(CallError::NoRoute { request: R::NAME }),
            // The type-id lookup above found no handler for `R`, yet one is registered under
            // its name: a different type claims the same wire name.
            Some(RequestRoute::Local(local)) if !self.inner.serialize => {
                Err(CallError::BadPayload {
                    request: R::NAME,
                    message: format!(
                        "the handler in `{}` serves a different type under this name",
                        local.module
                    ),
                })
            }
            Some(RequestRoute::Local(local)) => {
                let wire = local.wire.clone();
                call_over_wire::<R>(wire.as_ref(), request).await
            }
            Some(RequestRoute::Remote(transport)) => {
                let transport = transport.clone();
                call_over_wire::<R>(transport.as_ref(), request).await
            }
        }
    }

    /// The wire-codec entry point of a request handled in this process, for serving it to
    /// other processes.
    pub fn local_wire_handler(&self, request: &str) -> Option<Arc<dyn RequestTransport>> {
        match self.routing()?.requests.get(request)? {
            RequestRoute::Local(local) => Some(local.wire.clone()),
            RequestRoute::Remote(_) => None,
        }
    }

    /// Where requests of `module` go when it is remote.
    pub fn remote_module(&self, module: &str) -> Option<Arc<dyn RequestTransport>> {
        self.routing()?.remote_modules.get(module).cloned()
    }

    /// The modules that receive `event`, in registration order.
    pub fn subscribers_of(&self, event: &str) -> Vec<String> {
        self.routing()
            .and_then(|r| r.subscribers.get(event))
            .cloned()
            .unwrap_or_default()
    }

    /// How events reach `subscriber`.
    pub fn event_route(&self, subscriber: &str) -> Option<Arc<dyn EventRoute>> {
        self.routing()?.event_routes.get(subscriber).cloned()
    }

    /// Tells the outbox relay that new events were committed.
    pub fn wake_outbox(&self) {
        self.inner.outbox_wake.notify_one();
    }

    /// Waits until [`Bus::wake_outbox`] is called.
    pub async fn outbox_woken(&self) {
        self.inner.outbox_wake.notified().await;
    }

    /// Delivers an event to `subscriber` now, through the subscriber's route.
    pub async fn deliver_event(
        &self,
        subscriber: &str,
        envelope: &EventEnvelope,
    ) -> Result<(), DeliveryFailure> {
        match self.event_route(subscriber) {
            Some(route) => route.deliver(envelope).await,
            None => Err(DeliveryFailure::Unavailable(format!(
                "no route to subscriber `{subscriber}` in this process"
            ))),
        }
    }
}

/// The span of one bus call. Debug level, target `cleave::bus`: the log filter leaves it off,
/// and the telemetry filter turns it on for export (see `TelemetryConfig::filter`).
#[inline]
fn call_span(message: &'static str, location: &'static str) -> tracing::Span {
    tracing::debug_span!(
        target: "cleave::bus",
        "bus_call",
        module = owner_of(message),
        message,
        location
    )
}

impl Routing {
    /// The metric handles of `message` called through the wire codec, registered on first use
    /// when the seal did not know the name (requests routed by their module's prefix).
    fn wire_metrics_of(
        &self,
        metrics: &Metrics,
        message: &'static str,
        module: &str,
        location: &'static str,
    ) -> Arc<CallMetrics> {
        if let Some(known) = self
            .wire_metrics
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(message)
        {
            return known.clone();
        }
        self.wire_metrics
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .entry(message.to_string())
            .or_insert_with(|| metrics.call(module, message, location))
            .clone()
    }
}

async fn call_over_wire<R: Request>(
    transport: &dyn RequestTransport,
    request: R,
) -> Result<R::Response, CallError<R::Error>> {
    let bad_payload = |message: String| CallError::BadPayload {
        request: R::NAME,
        message,
    };
    let body = serde_json::to_vec(&request)
        .map_err(|e| bad_payload(format!("cannot encode request: {e}")))?;
    let outgoing = Outgoing {
        name: R::NAME,
        idempotent: R::IDEMPOTENT,
    };
    match transport.send(outgoing, body).await {
        Ok(WireReply::Ok(bytes)) => serde_json::from_slice(&bytes)
            .map_err(|e| bad_payload(format!("cannot decode response: {e}"))),
        Ok(WireReply::Domain(bytes)) => Err(CallError::Domain(
            serde_json::from_slice(&bytes)
                .map_err(|e| bad_payload(format!("cannot decode domain error: {e}")))?,
        )),
        Err(DeliveryFailure::Timeout(after_ms)) => Err(CallError::Timeout {
            module: transport.module().to_string(),
            request: R::NAME,
            after_ms,
        }),
        Err(DeliveryFailure::BadPayload(message)) => Err(bad_payload(message)),
        Err(DeliveryFailure::Incompatible(message)) => Err(CallError::Incompatible {
            module: transport.module().to_string(),
            message,
        }),
        Err(DeliveryFailure::Unavailable(reason)) | Err(DeliveryFailure::Rejected(reason)) => {
            Err(CallError::Unavailable {
                module: transport.module().to_string(),
                reason,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use serde::{Deserialize, Serialize};

    use super::*;

    #[derive(Debug, Serialize, Deserialize)]
    struct Double {
        value: i64,
    }

    #[derive(Debug, Serialize, Deserialize, PartialEq, thiserror::Error)]
    #[error("negative input {0}")]
    struct Negative(i64);

    impl Request for Double {
        const NAME: &'static str = "math.double";
        type Response = i64;
        type Error = Negative;
    }

    /// Counts how often it runs, so tests can tell in-process calls from codec calls apart by
    /// what reaches the handler, not by timing.
    struct Doubler {
        calls: Arc<AtomicUsize>,
    }

    #[async_trait]
    impl Handler<Double> for Doubler {
        async fn handle(&self, request: Double) -> Result<i64, Failure<Negative>> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if request.value < 0 {
                return Err(Failure::Domain(Negative(request.value)));
            }
            if request.value == 13 {
                return Err(Failure::Internal("unlucky".into()));
            }
            Ok(request.value * 2)
        }
    }

    fn routed_bus(serialize: bool) -> (Bus, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let bus = Bus::new(serialize);
        let mut routing = RoutingBuilder::default();
        routing.local_handler::<Double>(
            "math",
            Arc::new(Doubler {
                calls: calls.clone(),
            }),
        );
        bus.seal(routing).unwrap();
        (bus, calls)
    }

    #[tokio::test]
    async fn local_call_returns_response_and_domain_error_in_both_modes() {
        for serialize in [false, true] {
            let (bus, calls) = routed_bus(serialize);
            assert_eq!(bus.call(Double { value: 21 }).await.unwrap(), 42);
            match bus.call(Double { value: -1 }).await {
                Err(CallError::Domain(Negative(-1))) => {}
                other => panic!("expected domain error, got {other:?}"),
            }
            match bus.call(Double { value: 13 }).await {
                Err(CallError::Unavailable { module, reason }) => {
                    assert_eq!(module, "math");
                    assert!(reason.contains("unlucky"), "{reason}");
                }
                other => panic!("expected unavailable, got {other:?}"),
            }
            assert_eq!(calls.load(Ordering::SeqCst), 3);
        }
    }

    #[tokio::test]
    async fn unrouted_and_unsealed_calls_fail_as_delivery_errors() {
        let bus = Bus::new(false);
        match bus.call(Double { value: 1 }).await {
            Err(CallError::Unavailable { module, .. }) => assert_eq!(module, "math"),
            other => panic!("expected unavailable, got {other:?}"),
        }
        bus.seal(RoutingBuilder::default()).unwrap();
        match bus.call(Double { value: 1 }).await {
            Err(CallError::NoRoute { request }) => assert_eq!(request, "math.double"),
            other => panic!("expected no route, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_request_cannot_be_handled_twice() {
        let mut routing = RoutingBuilder::default();
        let calls = Arc::new(AtomicUsize::new(0));
        routing.local_handler::<Double>(
            "math",
            Arc::new(Doubler {
                calls: calls.clone(),
            }),
        );
        routing.local_handler::<Double>("other", Arc::new(Doubler { calls }));
        let errors = routing.take_errors();
        assert_eq!(errors.len(), 1);
        assert!(errors[0].contains("math.double"), "{errors:?}");
    }

    struct Garbling;

    #[async_trait]
    impl RequestTransport for Garbling {
        fn module(&self) -> &str {
            "math"
        }
        async fn send(&self, _: Outgoing<'_>, _: Vec<u8>) -> Result<WireReply, DeliveryFailure> {
            Ok(WireReply::Ok(b"\"not a number\"".to_vec()))
        }
    }

    struct Slow;

    #[async_trait]
    impl RequestTransport for Slow {
        fn module(&self) -> &str {
            "math"
        }
        async fn send(&self, _: Outgoing<'_>, _: Vec<u8>) -> Result<WireReply, DeliveryFailure> {
            Err(DeliveryFailure::Timeout(250))
        }
    }

    #[tokio::test]
    async fn transport_failures_become_typed_call_errors() {
        for (transport, kind) in [
            (
                Arc::new(Garbling) as Arc<dyn RequestTransport>,
                "bad_payload",
            ),
            (Arc::new(Slow) as Arc<dyn RequestTransport>, "timeout"),
        ] {
            let bus = Bus::new(false);
            let mut routing = RoutingBuilder::default();
            routing.remote_module("math", transport);
            bus.seal(routing).unwrap();
            let err = bus.call(Double { value: 1 }).await.unwrap_err();
            assert_eq!(err.kind(), kind, "{err}");
        }
    }
}
