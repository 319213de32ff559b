//! Reaching a module in another process: requests and event deliveries over HTTP.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use backon::{ExponentialBuilder, Retryable};
use cleave::events::EventRoute;
use cleave::{
    Contract, DeliveryFailure, EventEnvelope, ExtractConfig, Outgoing, RequestTransport, WireReply,
};
use failsafe::backoff::Constant;
use failsafe::failure_policy::ConsecutiveFailures;

use crate::wire;

/// How calls to one remote module behave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteSettings {
    /// Deadline of one attempt, connection included.
    pub timeout: Duration,
    /// Extra attempts for idempotent requests after an outage (unreachable, 5xx, timeout).
    pub retries: u32,
    /// Consecutive failed attempts that open the circuit breaker.
    pub breaker_failures: u32,
    /// How long the open breaker refuses calls before letting one through.
    pub breaker_open: Duration,
    /// The shared internal token, sent as a bearer token.
    pub token: String,
}

impl RemoteSettings {
    /// The settings for `module` from the process configuration.
    pub fn from_config(config: &ExtractConfig, module: &str, token: &str) -> Self {
        RemoteSettings {
            timeout: config.timeout_for(module),
            retries: config.retries,
            breaker_failures: config.breaker_failures.max(1),
            breaker_open: Duration::from_millis(config.breaker_open_ms),
            token: token.to_string(),
        }
    }
}

type Breaker = failsafe::StateMachine<ConsecutiveFailures<Constant>, ()>;

/// A module hosted by another process, as seen from this one: where its requests go and how
/// events reach it. One per remote module, shared by every caller in the process, so its
/// breaker sees every failure.
pub struct RemoteModule {
    contract: &'static Contract,
    base: String,
    client: reqwest::Client,
    settings: RemoteSettings,
    breaker: Breaker,
    authorization: String,
    /// This module's `cleave-contract` header value, for requests.
    contract_header: String,
    /// `cleave-contract` header values by module, for the events this process publishes.
    publisher_headers: HashMap<&'static str, String>,
}

impl std::fmt::Debug for RemoteModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteModule")
            .field("module", &self.contract.module)
            .field("base", &self.base)
            .field("settings", &self.settings)
            .finish()
    }
}

/// Why one attempt failed; the breaker's refusals are not retried.
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

impl RemoteModule {
    /// A route to `contract`'s module at `base_url` (`http://host:port` of its process's
    /// internal listener). `known` are the contracts this binary knows, for the version
    /// header of the events it publishes.
    pub fn new(
        contract: &'static Contract,
        base_url: &str,
        settings: RemoteSettings,
        known: &[&'static Contract],
    ) -> Result<Arc<RemoteModule>, String> {
        let client = reqwest::Client::builder()
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| {
                format!(
                    "cannot build the HTTP client for `{}`: {e}",
                    contract.module
                )
            })?;
        Self::with_client(contract, base_url, settings, known, client)
    }

    /// Like [`RemoteModule::new`], over an HTTP client the caller built (to share its
    /// connection pool, or to compare it with other traffic on the same client). The
    /// module's timeout applies to each request whatever the client's own settings.
    pub fn with_client(
        contract: &'static Contract,
        base_url: &str,
        settings: RemoteSettings,
        known: &[&'static Contract],
        client: reqwest::Client,
    ) -> Result<Arc<RemoteModule>, String> {
        let base = base_url.trim_end_matches('/').to_string();
        if !base.starts_with("http://") {
            return Err(format!(
                "remote URL of module `{}` must start with http:// (got `{base_url}`); the internal protocol runs on a private network and this build has no TLS client",
                contract.module
            ));
        }
        let policy = failsafe::failure_policy::consecutive_failures(
            settings.breaker_failures,
            failsafe::backoff::constant(settings.breaker_open),
        );
        let breaker = failsafe::Config::new().failure_policy(policy).build();
        Ok(Arc::new(RemoteModule {
            contract,
            authorization: format!("Bearer {}", settings.token),
            contract_header: wire::contract_header(contract),
            base,
            client,
            settings,
            breaker,
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

    /// The base URL of the process that hosts it.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// One POST, through the breaker, with the deadline.
    async fn attempt(
        &self,
        path: &str,
        contract_header: &str,
        body: &[u8],
    ) -> Result<(u16, bool, Vec<u8>), AttemptError> {
        if !self.breaker.is_call_permitted() {
            return Err(AttemptError::BreakerOpen(DeliveryFailure::Unavailable(
                format!(
                    "circuit open for module `{}` after {} consecutive failures; calls fail at once for {} ms",
                    self.contract.module,
                    self.settings.breaker_failures,
                    self.settings.breaker_open.as_millis()
                ),
            )));
        }
        let mut post = self
            .client
            .post(format!("{}{path}", self.base))
            .timeout(self.settings.timeout)
            .header("authorization", &self.authorization)
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
                    Ok(bytes) => Ok((status, domain, bytes.to_vec())),
                    Err(e) => Err(self.transport_failure(e)),
                }
            }
            Err(e) => Err(self.transport_failure(e)),
        };
        match &outcome {
            Ok((status, _, _)) if *status >= 500 => self.breaker.on_error(),
            Ok(_) => self.breaker.on_success(),
            Err(_) => self.breaker.on_error(),
        }
        outcome.map_err(AttemptError::Failed)
    }

    fn transport_failure(&self, error: reqwest::Error) -> DeliveryFailure {
        if error.is_timeout() {
            DeliveryFailure::Timeout(self.settings.timeout.as_millis() as u64)
        } else {
            DeliveryFailure::Unavailable(format!(
                "cannot reach module `{}` at {}: {error}",
                self.contract.module, self.base
            ))
        }
    }

    /// Posts with retries when `retry` allows them; outages only, never breaker refusals.
    async fn post(
        &self,
        path: &str,
        contract_header: &str,
        body: &[u8],
        retry: bool,
    ) -> Result<(u16, bool, Vec<u8>), DeliveryFailure> {
        let once = || self.attempt(path, contract_header, body);
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
                "the process hosting `{module}` refused our internal token ({detail}); set the same internal_token on both"
            )),
            404 => DeliveryFailure::Unavailable(format!(
                "the process at {} does not serve it ({detail})",
                self.base
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
        let header = &self.contract_header;
        let (status, domain, bytes) = self
            .post(
                &wire::request_path(request.name),
                header,
                &body,
                request.idempotent,
            )
            .await?;
        match status {
            200 if domain => Ok(WireReply::Domain(bytes)),
            200 => Ok(WireReply::Ok(bytes)),
            _ => Err(self.failure_for(status, &bytes)),
        }
    }
}

#[async_trait]
impl EventRoute for RemoteModule {
    async fn deliver(&self, envelope: &EventEnvelope) -> Result<(), DeliveryFailure> {
        let header = self
            .publisher_headers
            .get(envelope.publisher.as_str())
            .cloned()
            .unwrap_or_else(|| format!("{}/0.0", envelope.publisher));
        let body = serde_json::to_vec(envelope)
            .map_err(|e| DeliveryFailure::BadPayload(format!("cannot encode the event: {e}")))?;
        // Deliveries are idempotent by design (the receiver's inbox), so outages are retried;
        // the relay retries again later anyway.
        let (status, _, bytes) = self
            .post(
                &wire::event_path(self.contract.module),
                &header,
                &body,
                true,
            )
            .await?;
        match status {
            200 => Ok(()),
            _ => Err(self.failure_for(status, &bytes)),
        }
    }
}
