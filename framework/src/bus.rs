//! The message bus: typed request/response between modules, and the routing table behind it.
//!
//! A call goes one of three ways, chosen when the runtime is built and invisible to the caller:
//! to a local handler by moving the value (no serialization); to a local handler through the
//! JSON wire codec (the serializing mode, which proves a module can be extracted); or to a
//! [`RequestTransport`] that crosses the network (provided by `cleave-extract`).
//!
//! A module calls through its [`ModuleBus`], which knows which module it serves: it only
//! accepts the requests the module declared it sends (a compile-time check, see [`Sends`]),
//! and labels the call's metrics and span with the calling module.
//!
//! The bus knows nothing of events, the outbox or HTTP: this file depends only on the contract,
//! the transport seam and the metrics.

use std::any::{Any, TypeId};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Instant;

use async_trait::async_trait;
use cleave_contract::{CallError, Request, owner_of};
use rustc_hash::FxHashMap;
use tracing::Instrument;

use crate::metrics::{CallMetrics, LOCAL, Metrics, REMOTE, Sample};
use crate::transport::{DeliveryFailure, Outgoing, RequestTransport, WireReply};

/// A boxed, sendable future, as stored in descriptors and routing tables.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The caller label of calls made from outside any module (tests, tools).
pub const EXTERNAL: &str = "external";

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

/// A module, as the bus knows it: its name. Implemented by the marker type that
/// [`module!`](macro@crate::module) generates.
pub trait Caller: Send + Sync + 'static {
    /// The module's name.
    const NAME: &'static str;
}

/// Module `Self` declared that it sends request `R` (in the `sends` list of its
/// [`module!`](macro@crate::module) declaration). [`ModuleBus::call`] requires it, so a module
/// cannot call what it did not declare: the compiler refuses.
#[diagnostic::on_unimplemented(
    message = "this module does not declare that it sends `{R}`",
    label = "`{R}` is not in the module's `sends` list",
    note = "add `{R}` to `sends: [...]` in the module's `cleave::module!` declaration (its lib.rs), and the module's api crate to its Cargo.toml if missing"
)]
pub trait Sends<R: Request>: Caller {}

fn internal_failure<E>(module: &str, reason: String) -> CallError<E> {
    tracing::error!(module, reason = %reason, "handler failed");
    CallError::Unavailable {
        module: module.to_string(),
        reason: format!("internal error: {reason}"),
    }
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
        let decoded: R = crate::transport::decode(&body).map_err(|e| {
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

/// Where each request goes; built once at start-up, then read-only.
#[derive(Default)]
pub struct RoutingBuilder {
    requests: BTreeMap<String, RequestRoute>,
    remote_modules: BTreeMap<String, Arc<dyn RequestTransport>>,
    senders: BTreeMap<String, BTreeSet<&'static str>>,
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

    /// Records that module `caller` sends `request`, so the metric handles of that edge are
    /// registered when the bus is sealed (a call then never registers anything).
    pub fn sender(&mut self, caller: &'static str, request: &str) {
        self.senders
            .entry(request.to_string())
            .or_default()
            .insert(caller);
    }

    /// Whether some route answers `request`.
    pub fn serves(&self, request: &str) -> bool {
        self.requests.contains_key(request) || self.remote_modules.contains_key(owner_of(request))
    }

    /// Problems found while routing (a request handled twice, a module with two remote routes).
    pub fn take_errors(&mut self) -> Vec<String> {
        std::mem::take(&mut self.errors)
    }
}

/// A local handler with the metric handles of its calls, one per calling module, registered
/// when the bus is sealed so that a call records its metrics without looking them up by label.
struct TypedRoute {
    handler: Arc<dyn Any + Send + Sync>,
    module: &'static str,
    name: &'static str,
    by_caller: Vec<(&'static str, Arc<CallMetrics>)>,
}

impl TypedRoute {
    #[inline]
    fn metrics_for(&self, caller: &'static str) -> Option<&Arc<CallMetrics>> {
        // A handful of callers at most: a scan by pointer, then by text (the same name can be
        // two different `&'static str`s when two crates spell it).
        self.by_caller
            .iter()
            .find(|(c, _)| std::ptr::eq(*c, caller))
            .or_else(|| self.by_caller.iter().find(|(c, _)| *c == caller))
            .map(|(_, m)| m)
    }
}

struct Routing {
    /// Local handlers by request type, for in-process dispatch without hashing the name.
    typed: FxHashMap<TypeId, TypedRoute>,
    /// Metric handles of calls whose edge was not known when sealing (an undeclared caller),
    /// and of every call through the wire codec (serializing mode, remote modules), by caller
    /// and request name.
    other_metrics: RwLock<FxHashMap<(String, String), Arc<CallMetrics>>>,
    requests: HashMap<String, RequestRoute>,
    remote_modules: HashMap<String, Arc<dyn RequestTransport>>,
}

struct BusInner {
    serialize: bool,
    metrics: Metrics,
    routing: OnceLock<Routing>,
}

/// The routing core that module buses share. Cheap to clone.
///
/// A bus is created before the modules are registered (so handlers can keep a clone) and
/// sealed with its routing table when the runtime is built; a call before that fails with
/// [`CallError::Unavailable`]. Modules call through their [`ModuleBus`]; [`Bus::call`] is for
/// tests and tools.
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
    /// A bus that is not yet routed, with its own metrics. With `serialize`, every local
    /// request, response and domain error goes through the JSON wire codec.
    pub fn new(serialize: bool) -> Self {
        Self::with_metrics(serialize, Metrics::new())
    }

    /// Like [`Bus::new`], recording into `metrics`.
    pub fn with_metrics(serialize: bool, metrics: Metrics) -> Self {
        Bus {
            inner: Arc::new(BusInner {
                serialize,
                metrics,
                routing: OnceLock::new(),
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
    /// every local route, for each module that declared it sends the request and for
    /// [`EXTERNAL`] callers.
    pub fn seal(&self, builder: RoutingBuilder) -> Result<(), String> {
        let metrics = &self.inner.metrics;
        let mut typed = FxHashMap::default();
        for (name, route) in &builder.requests {
            if let RequestRoute::Local(local) = route {
                let name: &'static str = static_name(name);
                let mut by_caller =
                    vec![(EXTERNAL, metrics.call(EXTERNAL, local.module, name, LOCAL))];
                for caller in builder.senders.get(name).into_iter().flatten() {
                    by_caller.push((caller, metrics.call(caller, local.module, name, LOCAL)));
                }
                typed.insert(
                    local.type_id,
                    TypedRoute {
                        handler: local.typed.clone(),
                        module: local.module,
                        name,
                        by_caller,
                    },
                );
            }
        }
        let routing = Routing {
            typed,
            other_metrics: RwLock::default(),
            requests: builder.requests.into_iter().collect(),
            remote_modules: builder.remote_modules.into_iter().collect(),
        };
        self.inner
            .routing
            .set(routing)
            .map_err(|_| "the bus is already routed".to_string())
    }

    fn routing(&self) -> Option<&Routing> {
        self.inner.routing.get()
    }

    /// Sends a request from outside any module (tests, tools); see [`Bus::call_as`].
    pub async fn call<R: Request>(&self, request: R) -> Result<R::Response, CallError<R::Error>> {
        self.call_as(EXTERNAL, request).await
    }

    /// Sends a request on behalf of module `caller` to whichever module serves it and waits
    /// for the answer.
    ///
    /// In-process this moves the value to the handler; in serializing mode or when the module
    /// is remote it goes through the JSON wire codec. Delivery failures are reported apart
    /// from the module's own domain error.
    pub async fn call_as<R: Request>(
        &self,
        caller: &'static str,
        request: R,
    ) -> Result<R::Response, CallError<R::Error>> {
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
            // `LOCAL_TIMING_SAMPLE` of each edge is timed; every call is counted. The span is
            // at debug level: while nothing wants it (no OTLP export) one level check skips it.
            let fallback;
            let metrics: &CallMetrics = match route.metrics_for(caller) {
                Some(known) => known,
                None => {
                    fallback = routing.metrics_of(
                        &self.inner.metrics,
                        caller,
                        route.module,
                        route.name,
                        LOCAL,
                    );
                    &fallback
                }
            };
            crate::traffic::note(crate::traffic::Kind::Request, R::NAME);
            // A rarer sample is also measured as it would be on the wire: the JSON size of the
            // request and of the answer, for predicting the cost of an extraction.
            let sample = metrics.sample();
            // 0: not measured (a JSON text is never empty).
            let request_bytes = if sample == Sample::TimeAndSize {
                crate::traffic::json_size_cold(&request)
            } else {
                0
            };
            let answer = typed.0.handle(request);
            let started = (sample != Sample::None).then(Instant::now);
            let answer = if tracing::level_enabled!(tracing::Level::DEBUG) {
                answer.instrument(call_span(caller, R::NAME, LOCAL)).await
            } else {
                answer.await
            };
            let elapsed = started.map(|s| s.elapsed());
            let (result, error_kind) = match answer {
                Ok(response) => (Ok(response), None),
                Err(Failure::Domain(error)) => (Err(CallError::Domain(error)), Some("domain")),
                Err(Failure::Internal(reason)) => (
                    Err(internal_failure(owner_of(R::NAME), reason)),
                    Some("unavailable"),
                ),
            };
            if request_bytes != 0 {
                Self::record_sizes::<R>(metrics, request_bytes, &result);
            }
            metrics.finish(elapsed, error_kind);
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
        let metrics = routing.metrics_of(
            &self.inner.metrics,
            caller,
            route.as_ref().map_or(owner_of(R::NAME), |t| t.module()),
            R::NAME,
            location,
        );
        // Every call that crosses the codec or the network is timed and measured: it costs far
        // more than the clock.
        crate::traffic::note(crate::traffic::Kind::Request, R::NAME);
        metrics.count();
        let started = Instant::now();
        let result = self
            .call_wire::<R>(routing, route, caller, request, &metrics)
            .instrument(call_span(caller, R::NAME, location))
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

    /// Records the sizes of a sampled in-process call: out of the hot path's way.
    #[cold]
    #[inline(never)]
    fn record_sizes<R: Request>(
        metrics: &CallMetrics,
        request_bytes: usize,
        result: &Result<R::Response, CallError<R::Error>>,
    ) {
        let answer_bytes = match result {
            Ok(response) => Some(crate::traffic::json_size(response)),
            Err(CallError::Domain(error)) => Some(crate::traffic::json_size(error)),
            Err(_) => None,
        };
        metrics.sizes(request_bytes, answer_bytes);
    }

    /// The calls that go through the wire codec: local in serializing mode, or remote.
    async fn call_wire<R: Request>(
        &self,
        routing: &Routing,
        remote: Option<Arc<dyn RequestTransport>>,
        caller: &'static str,
        request: R,
        metrics: &CallMetrics,
    ) -> Result<R::Response, CallError<R::Error>> {
        if let Some(transport) = remote {
            return call_over_wire::<R>(transport.as_ref(), caller, request, metrics).await;
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
                call_over_wire::<R>(wire.as_ref(), caller, request, metrics).await
            }
            Some(RequestRoute::Remote(transport)) => {
                let transport = transport.clone();
                call_over_wire::<R>(transport.as_ref(), caller, request, metrics).await
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
}

/// The name of a request as `&'static str`: request names come from `Request::NAME`
/// constants, but the routing table stores them as keys; this leaks each name once per
/// sealed bus (a few dozen bytes per request, for the life of the process).
fn static_name(name: &str) -> &'static str {
    Box::leak(name.to_string().into_boxed_str())
}

/// The span of one bus call. Debug level, target `cleave::bus`: the log filter leaves it off,
/// and the telemetry filter turns it on for export (see `TelemetryConfig::filter`).
#[inline]
fn call_span(caller: &'static str, message: &'static str, location: &'static str) -> tracing::Span {
    tracing::debug_span!(
        target: "cleave::bus",
        "bus_call",
        caller,
        module = owner_of(message),
        message,
        location
    )
}

impl Routing {
    /// The metric handles of an edge not registered at seal time: calls through the wire
    /// codec, and callers that did not declare the request. Registered on first use.
    fn metrics_of(
        &self,
        metrics: &Metrics,
        caller: &'static str,
        module: &str,
        message: &'static str,
        location: &'static str,
    ) -> Arc<CallMetrics> {
        let key = (caller.to_string(), message.to_string());
        if let Some(known) = self
            .other_metrics
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return known.clone();
        }
        self.other_metrics
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key)
            .or_insert_with(|| metrics.call(caller, module, message, location))
            .clone()
    }
}

async fn call_over_wire<R: Request>(
    transport: &dyn RequestTransport,
    caller: &'static str,
    request: R,
    metrics: &CallMetrics,
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
        caller,
    };
    let request_bytes = body.len();
    let reply = transport.send(outgoing, body).await;
    metrics.sizes(
        request_bytes,
        match &reply {
            Ok(WireReply::Ok(bytes)) | Ok(WireReply::Domain(bytes)) => Some(bytes.len()),
            Err(_) => None,
        },
    );
    match reply {
        Ok(WireReply::Ok(bytes)) => crate::transport::decode(&bytes)
            .map_err(|e| bad_payload(format!("cannot decode response: {e}"))),
        Ok(WireReply::Domain(bytes)) => Err(CallError::Domain(
            crate::transport::decode(&bytes)
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

/// The bus as one module sees it: calls go out labelled with the module's name, and only for
/// requests the module declared it sends. Cheap to clone.
pub struct ModuleBus<M> {
    bus: Bus,
    _module: PhantomData<fn() -> M>,
}

impl<M> Clone for ModuleBus<M> {
    fn clone(&self) -> Self {
        ModuleBus {
            bus: self.bus.clone(),
            _module: PhantomData,
        }
    }
}

impl<M: Caller> std::fmt::Debug for ModuleBus<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModuleBus")
            .field("module", &M::NAME)
            .finish()
    }
}

impl<M: Caller> ModuleBus<M> {
    /// The bus of module `M`, over `bus`.
    pub fn new(bus: Bus) -> Self {
        ModuleBus {
            bus,
            _module: PhantomData,
        }
    }

    /// Sends `request` to whichever module serves it, as module `M`, and waits for the
    /// answer. See [`Bus::call_as`].
    pub async fn call<R: Request>(&self, request: R) -> Result<R::Response, CallError<R::Error>>
    where
        M: Sends<R>,
    {
        self.bus.call_as(M::NAME, request).await
    }

    /// The shared bus underneath.
    pub fn shared(&self) -> &Bus {
        &self.bus
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

    struct Calculator;
    impl Caller for Calculator {
        const NAME: &'static str = "calc";
    }
    impl Sends<Double> for Calculator {}

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
        routing.sender(Calculator::NAME, Double::NAME);
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
    async fn calls_are_labelled_with_the_calling_module() {
        for serialize in [false, true] {
            let (bus, _) = routed_bus(serialize);
            let calculator = ModuleBus::<Calculator>::new(bus.clone());
            assert_eq!(calculator.call(Double { value: 1 }).await.unwrap(), 2);
            assert_eq!(calculator.call(Double { value: 2 }).await.unwrap(), 4);
            bus.call(Double { value: 3 }).await.unwrap();
            let text = bus.metrics().render();
            assert!(
                text.contains(r#"cleave_bus_calls_total{caller="calc",module="math",message="math.double",location="local"} 2"#),
                "{text}"
            );
            assert!(
                text.contains(r#"cleave_bus_calls_total{caller="external",module="math",message="math.double",location="local"} 1"#),
                "{text}"
            );
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
