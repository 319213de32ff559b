//! Reaching a module in another process: requests and event deliveries over HTTP, balanced
//! over the module's instances.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use backon::{ExponentialBuilder, Retryable};
use cleave::{
    Applied, Contract, DeliveryFailure, EventEnvelope, EventRoute, ExtractConfig, Outgoing,
    RequestTransport, WireReply,
};
use failsafe::backoff::Constant;
use failsafe::failure_policy::ConsecutiveFailures;

use crate::identity::Credentials;
use crate::wire;

/// How calls to one remote module behave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteSettings {
    /// Deadline of one attempt, connection included.
    pub timeout: Duration,
    /// Extra attempts for idempotent requests after an outage (unreachable, 5xx, timeout).
    pub retries: u32,
    /// Consecutive failed attempts that open an instance's circuit breaker.
    pub breaker_failures: u32,
    /// How long an open breaker refuses calls before letting one through.
    pub breaker_open: Duration,
    /// The credentials this process speaks with: each sender module's token (or the shared
    /// one), sent as a bearer token beside `cleave-sender`.
    pub credentials: Credentials,
}

impl RemoteSettings {
    /// The settings for `module` from the process configuration.
    pub fn from_config(config: &ExtractConfig, module: &str, credentials: Credentials) -> Self {
        RemoteSettings {
            timeout: config.timeout_for(module),
            retries: config.retries,
            breaker_failures: config.breaker_failures.max(1),
            breaker_open: Duration::from_millis(config.breaker_open_ms),
            credentials,
        }
    }
}

type Breaker = failsafe::StateMachine<ConsecutiveFailures<Constant>, ()>;

/// One process hosting the module, with its own breaker: a dead replica is skipped while the
/// others keep serving.
struct Instance {
    base: String,
    breaker: Breaker,
}

/// A module hosted by other processes, as seen from this one: where its requests go and how
/// events reach it. One per remote module, shared by every caller in the process, so its
/// breakers see every failure. With several instances (replicas) each call goes to the next
/// one whose breaker is closed, and a retry goes to another.
pub struct RemoteModule {
    contract: &'static Contract,
    instances: Vec<Instance>,
    next: AtomicUsize,
    clients: Clients,
    settings: RemoteSettings,
    /// `Bearer <token>` by sender module, computed once.
    authorizations: std::sync::RwLock<HashMap<String, Option<String>>>,
    /// This module's `cleave-contract` header value, for requests.
    contract_header: String,
    /// `cleave-contract` header values by module, for the events this process publishes.
    publisher_headers: HashMap<&'static str, String>,
}

impl std::fmt::Debug for RemoteModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteModule")
            .field("module", &self.contract.module)
            .field("instances", &self.base_urls())
            .field("settings", &self.settings)
            .finish()
    }
}

/// Why one attempt failed; the breakers' refusals are not retried.
enum AttemptError {
    BreakerOpen(DeliveryFailure),
    Failed(DeliveryFailure),
}

impl AttemptError {
    fn into_failure(self) -> DeliveryFailure {
        match self {
            AttemptError::BreakerOpen(f) | AttemptError::Failed(f) => f,
        }
    }
}

/// The error body of the internal endpoints, when there is one.
#[derive(serde::Deserialize)]
struct ErrorBody {
    error: String,
    message: String,
}

fn describe_error(body: &[u8]) -> String {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(e) => format!("{}: {}", e.error, e.message),
        Err(_) => String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
    }
}

/// What an attempt brought back: the status, whether it is a domain error, the body.
struct Answer {
    status: u16,
    domain: bool,
    body: Vec<u8>,
}

/// The HTTP client of [`RemoteModule::new`].
fn http_client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .pool_idle_timeout(Duration::from_secs(30))
        .build()
}

/// The HTTP clients a remote module sends with.
///
/// hyper drives each pooled connection from a task on the runtime that opened it. A process
/// has several runtimes: actix-web runs each worker thread on one of its own, and the relay and
/// module tasks run on the main one. A public request served on a worker, calling a remote
/// module over a connection another runtime opened, would wake that runtime's thread to send
/// and be woken back by it to receive: two cross-thread wake-ups per call, in CPU and latency.
/// So each thread gets a client (and a pool) of its own, built the same way, up to
/// [`THREAD_CLIENTS`] threads; calls from further threads (short-lived blocking threads, say)
/// share one client instead of growing the table without bound.
enum Clients {
    /// The caller's client, shared by every thread ([`RemoteModule::with_client`]).
    Shared(reqwest::Client),
    /// One client per thread, built on a thread's first call, and the one the rest share.
    PerThread {
        by_thread: std::sync::RwLock<HashMap<std::thread::ThreadId, reqwest::Client>>,
        rest: reqwest::Client,
    },
}

/// Threads that get an HTTP client of their own (a process's worker threads are a handful).
const THREAD_CLIENTS: usize = 64;

impl Clients {
    fn per_thread(rest: reqwest::Client) -> Clients {
        Clients::PerThread {
            by_thread: std::sync::RwLock::default(),
            rest,
        }
    }

    /// The client for a call from this thread (a cheap handle on a shared pool).
    fn get(&self) -> reqwest::Client {
        let (by_thread, rest) = match self {
            Clients::Shared(client) => return client.clone(),
            Clients::PerThread { by_thread, rest } => (by_thread, rest),
        };
        let thread = std::thread::current().id();
        if let Some(client) = by_thread
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&thread)
        {
            return client.clone();
        }
        let mut by_thread = by_thread.write().unwrap_or_else(|e| e.into_inner());
        if by_thread.len() >= THREAD_CLIENTS {
            return rest.clone();
        }
        // `rest` was built the same way, so this does not fail; if it ever did, share `rest`.
        let client = http_client().unwrap_or_else(|_| rest.clone());
        by_thread.entry(thread).or_insert(client).clone()
    }
}

impl RemoteModule {
    /// A route to `contract`'s module at `base_urls` (`http://host:port` of the internal
    /// listener of each process hosting it). `known` are the contracts this binary knows, for
    /// the version header of the events it publishes. Each thread that calls it sends through
    /// an HTTP client of its own (see `Clients`).
    pub fn new(
        contract: &'static Contract,
        base_urls: &[String],
        settings: RemoteSettings,
        known: &[&'static Contract],
    ) -> Result<Arc<RemoteModule>, String> {
        let rest = http_client().map_err(|e| {
            format!(
                "cannot build the HTTP client for `{}`: {e}",
                contract.module
            )
        })?;
        Self::build(
            contract,
            base_urls,
            settings,
            known,
            Clients::per_thread(rest),
        )
    }

    /// Like [`RemoteModule::new`], over an HTTP client the caller built (to share its
    /// connection pool, or to compare it with other traffic on the same client). The
    /// module's timeout applies to each request whatever the client's own settings.
    pub fn with_client(
        contract: &'static Contract,
        base_urls: &[String],
        settings: RemoteSettings,
        known: &[&'static Contract],
        client: reqwest::Client,
    ) -> Result<Arc<RemoteModule>, String> {
        Self::build(
            contract,
            base_urls,
            settings,
            known,
            Clients::Shared(client),
        )
    }

    fn build(
        contract: &'static Contract,
        base_urls: &[String],
        settings: RemoteSettings,
        known: &[&'static Contract],
        clients: Clients,
    ) -> Result<Arc<RemoteModule>, String> {
        if base_urls.is_empty() {
            return Err(format!(
                "module `{}` is remote but has no URL",
                contract.module
            ));
        }
        let mut instances = Vec::with_capacity(base_urls.len());
        for url in base_urls {
            let base = url.trim().trim_end_matches('/').to_string();
            if !base.starts_with("http://") {
                return Err(format!(
                    "remote URL of module `{}` must start with http:// (got `{url}`); the internal protocol runs on a private network and this build has no TLS client",
                    contract.module
                ));
            }
            let policy = failsafe::failure_policy::consecutive_failures(
                settings.breaker_failures,
                failsafe::backoff::constant(settings.breaker_open),
            );
            instances.push(Instance {
                base,
                breaker: failsafe::Config::new().failure_policy(policy).build(),
            });
        }
        Ok(Arc::new(RemoteModule {
            contract,
            authorizations: std::sync::RwLock::default(),
            contract_header: wire::contract_header(contract),
            instances,
            next: AtomicUsize::new(0),
            clients,
            settings,
            publisher_headers: known
                .iter()
                .map(|c| (c.module, wire::contract_header(c)))
                .collect(),
        }))
    }

    /// The remote module's name.
    pub fn name(&self) -> &'static str {
        self.contract.module
    }

    /// The base URL of the (first) process that hosts it.
    pub fn base_url(&self) -> &str {
        &self.instances[0].base
    }

    /// The base URLs of every instance.
    pub fn base_urls(&self) -> Vec<&str> {
        self.instances.iter().map(|i| i.base.as_str()).collect()
    }

    /// The next instance whose breaker lets a call through, round robin.
    fn pick(&self) -> Option<&Instance> {
        let n = self.instances.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..n)
            .map(|k| &self.instances[(start + k) % n])
            .find(|i| i.breaker.is_call_permitted())
    }

    /// The `authorization` value when speaking as `sender`, if this process has a credential
    /// for it.
    fn authorization(&self, sender: &str) -> Option<String> {
        if let Some(known) = self
            .authorizations
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(sender)
        {
            return known.clone();
        }
        let value = self
            .settings
            .credentials
            .token_for(sender)
            .map(|t| format!("Bearer {t}"));
        self.authorizations
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(sender.to_string(), value.clone());
        value
    }

    /// One POST to one instance, through its breaker, with the deadline, as module `sender`. A
    /// 5xx answer is an outage of that instance (retried for idempotent requests).
    async fn attempt(
        &self,
        path: &str,
        sender: &str,
        contract_header: &str,
        body: &[u8],
    ) -> Result<Answer, AttemptError> {
        let Some(authorization) = self.authorization(sender) else {
            return Err(AttemptError::BreakerOpen(DeliveryFailure::Unavailable(
                format!(
                    "this process has no credential to speak as module `{sender}` to `{}`: set `credentials.{sender}.token` or `internal_token`",
                    self.contract.module
                ),
            )));
        };
        let Some(instance) = self.pick() else {
            return Err(AttemptError::BreakerOpen(DeliveryFailure::Unavailable(
                format!(
                    "circuit open for module `{}` ({} instance{}) after {} consecutive failures; calls fail at once for {} ms",
                    self.contract.module,
                    self.instances.len(),
                    if self.instances.len() == 1 {
                        ""
                    } else {
                        "s, all open"
                    },
                    self.settings.breaker_failures,
                    self.settings.breaker_open.as_millis()
                ),
            )));
        };
        let mut post = self
            .clients
            .get()
            .post(format!("{}{path}", instance.base))
            .timeout(self.settings.timeout)
            .header("authorization", authorization)
            .header(wire::SENDER_HEADER, sender)
            .header(wire::CONTRACT_HEADER, contract_header)
            .header("content-type", "application/json");
        if let Some(traceparent) = cleave::trace::outgoing_header() {
            post = post.header(cleave::trace::TRACEPARENT, traceparent);
        }
        let sent = post.body(body.to_vec()).send().await;
        let outcome = match sent {
            Ok(response) => {
                let status = response.status().as_u16();
                let domain = response
                    .headers()
                    .get(wire::OUTCOME_HEADER)
                    .is_some_and(|v| v == wire::DOMAIN_ERROR);
                match response.bytes().await {
                    Ok(bytes) if status >= 500 => Err(DeliveryFailure::Unavailable(format!(
                        "module `{}` at {} answered {status} ({})",
                        self.contract.module,
                        instance.base,
                        describe_error(&bytes)
                    ))),
                    Ok(bytes) => Ok(Answer {
                        status,
                        domain,
                        body: bytes.to_vec(),
                    }),
                    Err(e) => Err(self.transport_failure(instance, e)),
                }
            }
            Err(e) => Err(self.transport_failure(instance, e)),
        };
        match &outcome {
            Ok(_) => instance.breaker.on_success(),
            Err(_) => instance.breaker.on_error(),
        }
        outcome.map_err(AttemptError::Failed)
    }

    fn transport_failure(&self, instance: &Instance, error: reqwest::Error) -> DeliveryFailure {
        if error.is_timeout() {
            DeliveryFailure::Timeout(self.settings.timeout.as_millis() as u64)
        } else {
            DeliveryFailure::Unavailable(format!(
                "cannot reach module `{}` at {}: {error}",
                self.contract.module, instance.base
            ))
        }
    }

    /// Posts with retries when `retry` allows them; outages only (unreachable, timeout, 5xx),
    /// never breaker refusals. Each retry goes to the next instance.
    async fn post(
        &self,
        path: &str,
        sender: &str,
        contract_header: &str,
        body: &[u8],
        retry: bool,
    ) -> Result<Answer, DeliveryFailure> {
        let once = || self.attempt(path, sender, contract_header, body);
        let result = if retry && self.settings.retries > 0 {
            once.retry(
                ExponentialBuilder::default()
                    .with_min_delay(Duration::from_millis(20))
                    .with_max_delay(Duration::from_millis(200))
                    .with_max_times(self.settings.retries as usize),
            )
            .sleep(tokio::time::sleep)
            .when(|e| matches!(e, AttemptError::Failed(f) if f.is_outage()))
            .await
        } else {
            once().await
        };
        result.map_err(AttemptError::into_failure)
    }

    fn failure_for(&self, status: u16, body: &[u8]) -> DeliveryFailure {
        let detail = describe_error(body);
        let module = self.contract.module;
        match status {
            401 => DeliveryFailure::Unavailable(format!(
                "the process hosting `{module}` refused our credentials ({detail}); check `credentials` (or the shared internal_token) on both"
            )),
            403 => DeliveryFailure::Unavailable(format!(
                "the process hosting `{module}` refused this sender ({detail})"
            )),
            404 => DeliveryFailure::Unavailable(format!(
                "the process hosting `{module}` does not serve it ({detail})"
            )),
            409 => DeliveryFailure::Incompatible(detail),
            400 | 413 => DeliveryFailure::BadPayload(detail),
            422 => DeliveryFailure::Rejected(detail),
            _ => DeliveryFailure::Unavailable(format!(
                "module `{module}` answered {status} ({detail})"
            )),
        }
    }
}

#[async_trait]
impl RequestTransport for RemoteModule {
    fn module(&self) -> &str {
        self.contract.module
    }

    async fn send(
        &self,
        request: Outgoing<'_>,
        body: Vec<u8>,
    ) -> Result<WireReply, DeliveryFailure> {
        let answer = self
            .post(
                &wire::request_path(request.name),
                request.caller,
                &self.contract_header,
                &body,
                request.idempotent,
            )
            .await?;
        match answer.status {
            200 if answer.domain => Ok(WireReply::Domain(answer.body)),
            200 => Ok(WireReply::Ok(answer.body)),
            status => Err(self.failure_for(status, &answer.body)),
        }
    }
}

#[async_trait]
impl EventRoute for RemoteModule {
    async fn deliver(&self, envelope: &EventEnvelope) -> Result<Applied, DeliveryFailure> {
        let header = self
            .publisher_headers
            .get(envelope.publisher.as_str())
            .cloned()
            .unwrap_or_else(|| format!("{}/0.0", envelope.publisher));
        let body = serde_json::to_vec(envelope)
            .map_err(|e| DeliveryFailure::BadPayload(format!("cannot encode the event: {e}")))?;
        // Deliveries are idempotent by design (the receiver's inbox), so outages are retried;
        // the relay retries again later anyway.
        let answer = self
            .post(
                &wire::event_path(self.contract.module),
                &envelope.publisher,
                &header,
                &body,
                true,
            )
            .await?;
        match answer.status {
            200..=299 => Ok(wire::applied_from(&answer.body)),
            status => Err(self.failure_for(status, &answer.body)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_thread_sends_through_a_client_of_its_own_up_to_a_bound() {
        let clients = Clients::per_thread(http_client().unwrap());
        let Clients::PerThread { by_thread, .. } = &clients else {
            unreachable!("built per thread")
        };
        let entries = || by_thread.read().unwrap().len();
        clients.get();
        clients.get();
        assert_eq!(
            entries(),
            1,
            "one client for this thread, however many calls"
        );
        std::thread::scope(|s| {
            s.spawn(|| clients.get());
        });
        assert_eq!(entries(), 2, "and one for the other thread");
        for _ in 0..THREAD_CLIENTS + 10 {
            std::thread::scope(|s| {
                s.spawn(|| clients.get());
            });
        }
        assert_eq!(
            entries(),
            THREAD_CLIENTS,
            "threads beyond the bound share one client"
        );
    }
}
