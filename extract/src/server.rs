//! The internal endpoints: this process's modules served to other processes.
//!
//! Every message is checked in the same order — token, destination, contract version, size,
//! body — and refused with the public error shape and a 4xx status, so a bad or hostile peer
//! cannot take the process down or get a message misdecoded.

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use cleave::Database;
use cleave::http::ApiError;
use cleave::trace::{TRACEPARENT, TraceContext, in_trace};
use cleave::{
    Applied, Bus, Contract, DeliveryFailure, EventEnvelope, EventRoutes, Outgoing, WireReply,
    owner_of,
};
use futures_util::StreamExt;
use tracing::Instrument;

use crate::identity::Credentials;
use crate::wire::{self, WireError};

/// The sender name of tools and tests that call from outside any module; only the shared
/// `internal_token` authenticates it, and it may send requests, never events.
pub const EXTERNAL: &str = cleave::bus::EXTERNAL;

/// What the internal endpoints serve and how they check callers.
pub struct InternalEndpoints {
    bus: Bus,
    events: EventRoutes,
    credentials: Credentials,
    hosted: Vec<&'static Contract>,
    known: Vec<&'static Contract>,
    /// The requests each known module declares it sends.
    sends: std::collections::BTreeMap<String, Vec<String>>,
    max_body_bytes: usize,
    structure: Option<Structure>,
    contracts: Vec<(String, serde_json::Value)>,
}

/// What `GET /_cleave/modules` reports besides the hosted contracts.
struct Structure {
    db: Database,
    remotes: Vec<(String, String)>,
}

impl InternalEndpoints {
    /// Serves the requests of the modules of `hosted` through `bus` and their event intake
    /// through `events`, to senders proven by `credentials` (without any, every message is
    /// refused). `known` are all contracts the binary knows: a request is accepted only from a
    /// module whose contract declares it sends it, an event only from the module that
    /// publishes it, at a compatible version.
    pub fn new(
        bus: Bus,
        events: EventRoutes,
        credentials: Credentials,
        hosted: Vec<&'static Contract>,
        known: Vec<&'static Contract>,
        max_body_bytes: usize,
    ) -> Self {
        let sends = known
            .iter()
            .map(|c| {
                (
                    c.module.to_string(),
                    c.sends().iter().map(|s| s.to_string()).collect(),
                )
            })
            .collect();
        InternalEndpoints {
            bus,
            events,
            credentials,
            hosted,
            known,
            sends,
            max_body_bytes,
            structure: None,
            contracts: Vec::new(),
        }
    }

    /// Serves `GET /_cleave/contracts`: the published contracts (JSON Schema) of the hosted
    /// modules, by module name.
    pub fn with_contracts(mut self, contracts: Vec<(String, serde_json::Value)>) -> Self {
        self.contracts = contracts;
        self
    }

    /// Serves `GET /_cleave/modules`: hosted modules with their outbox counts from `db`, and
    /// `remotes` (module, URL) with where they are reached.
    pub fn with_structure(mut self, db: Database, remotes: Vec<(String, String)>) -> Self {
        self.structure = Some(Structure { db, remotes });
        self
    }

    /// The requests module `module` sends, where the binary links it: its declaration is
    /// more current than its published document.
    pub fn with_sends(mut self, module: &str, sends: &[&str]) -> Self {
        self.sends.insert(
            module.to_string(),
            sends.iter().map(|s| s.to_string()).collect(),
        );
        self
    }

    /// The sender of `request`, proven by its credential: the module named by `cleave-sender`
    /// (or [`EXTERNAL`] when absent).
    fn authenticate<'r>(&self, request: &'r HttpRequest) -> Result<&'r str, ApiError> {
        let sender = match request.headers().get(wire::SENDER_HEADER) {
            None => EXTERNAL,
            Some(value) => value
                .to_str()
                .ok()
                .filter(|s| valid_module_name(s))
                .ok_or_else(|| {
                    WireError::BadSender.answer(format!(
                        "`{}` must name a module (lowercase letters, digits, `_`)",
                        wire::SENDER_HEADER
                    ))
                })?,
        };
        let presented = request
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        self.credentials
            .verify(sender, presented)
            .map_err(|refusal| unauthorized(&refusal.to_string()))?;
        Ok(sender)
    }

    fn hosted(&self, module: &str) -> Option<&'static Contract> {
        self.hosted.iter().copied().find(|c| c.module == module)
    }

    /// Checks the sender's `cleave-contract` header against `ours`.
    fn check_contract(
        &self,
        request: &HttpRequest,
        module: &str,
        ours: Option<&'static Contract>,
    ) -> Result<(), ApiError> {
        let header = request
            .headers()
            .get(wire::CONTRACT_HEADER)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                WireError::MissingContract.answer(format!(
                    "missing `{}: <module>/<major>.<minor>` header",
                    wire::CONTRACT_HEADER
                ))
            })?;
        let (named, theirs) = wire::parse_contract_header(header).ok_or_else(|| {
            WireError::BadContract.answer(format!(
                "`{}` must look like `{module}/1.0`, got `{header}`",
                wire::CONTRACT_HEADER
            ))
        })?;
        if named != module {
            return Err(WireError::BadContract.answer(format!(
                "the message belongs to `{module}`'s contract, the header names `{named}`"
            )));
        }
        match ours {
            Some(ours) if !ours.version.compatible_with(&theirs) => Err(WireError::IncompatibleContract.answer(
                format!(
                    "sender was built against {module} {theirs}, this process has {module} {}; major versions must match",
                    ours.version
                ),
            )),
            _ => Ok(()),
        }
    }

    async fn read_body(&self, mut payload: web::Payload) -> Result<Vec<u8>, ApiError> {
        let mut body = Vec::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|e| {
                if cleave::http::is_body_timeout(&e) {
                    cleave::http::body_timeout_error()
                } else {
                    WireError::BadBody.answer(format!("cannot read the body: {e}"))
                }
            })?;
            if body.len() + chunk.len() > self.max_body_bytes {
                return Err(WireError::PayloadTooLarge.answer(format!(
                    "internal messages are at most {} bytes",
                    self.max_body_bytes
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// The trace this message continues: its `traceparent` header, else `fallback` (an event's
/// envelope), else a new trace.
fn incoming_trace(request: &HttpRequest, fallback: Option<&str>) -> TraceContext {
    let header = request
        .headers()
        .get(TRACEPARENT)
        .and_then(|v| v.to_str().ok())
        .or(fallback);
    TraceContext::continue_or_start(header)
}

fn unauthorized(message: &str) -> ApiError {
    WireError::Unauthorized.answer(message)
}

fn forbidden(message: String) -> ApiError {
    WireError::ForbiddenSender.answer(message)
}

/// At most 80 characters of a name taken from a message, for error messages.
fn truncate(text: &str) -> String {
    match text.char_indices().nth(80) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

fn valid_module_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn failure_response(failure: DeliveryFailure) -> ApiError {
    match failure {
        DeliveryFailure::BadPayload(m) => WireError::BadPayload.answer(m),
        DeliveryFailure::Rejected(m) => WireError::Rejected.answer(m),
        DeliveryFailure::Incompatible(m) => WireError::IncompatibleContract.answer(m),
        DeliveryFailure::Unavailable(m) => WireError::Unavailable.answer(m),
        DeliveryFailure::Timeout(ms) => {
            WireError::Unavailable.answer(format!("timed out after {ms} ms"))
        }
    }
}

async fn serve_named_request(
    endpoints: web::Data<InternalEndpoints>,
    request: HttpRequest,
    name: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    serve_request(endpoints, request, &name, payload).await
}

async fn serve_request(
    endpoints: web::Data<InternalEndpoints>,
    request: HttpRequest,
    name: &str,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let sender = endpoints.authenticate(&request)?;
    let module = owner_of(name);
    let contract = endpoints.hosted(module);
    let handler = contract
        .and_then(|_| endpoints.bus.local_wire_handler(name))
        .ok_or_else(|| {
            WireError::UnknownRequest.answer(format!("no module in this process serves `{name}`"))
        })?;
    if sender != EXTERNAL
        && !endpoints
            .sends
            .get(sender)
            .is_some_and(|sends| sends.iter().any(|s| s == name))
    {
        return Err(forbidden(format!(
            "module `{sender}` does not declare that it sends `{name}`"
        )));
    }
    endpoints.check_contract(&request, module, contract)?;
    let body = endpoints.read_body(payload).await?;
    let outgoing = Outgoing {
        name,
        idempotent: false,
        caller: sender,
    };
    let context = incoming_trace(&request, None);
    let span =
        tracing::info_span!("internal_request", request = %name, trace_id = %context.trace_id);
    cleave::trace::link_span(&span, &context);
    let answer = in_trace(context, handler.send(outgoing, body).instrument(span)).await;
    match answer {
        Ok(WireReply::Ok(bytes)) => Ok(HttpResponse::Ok()
            .content_type("application/json")
            .body(bytes)),
        Ok(WireReply::Domain(bytes)) => Ok(HttpResponse::Ok()
            .content_type("application/json")
            .insert_header((wire::OUTCOME_HEADER, wire::DOMAIN_ERROR))
            .body(bytes)),
        Err(failure) => Err(failure_response(failure)),
    }
}

async fn serve_event(
    endpoints: web::Data<InternalEndpoints>,
    request: HttpRequest,
    subscriber: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let sender = endpoints.authenticate(&request)?;
    let subscriber = subscriber.into_inner();
    if endpoints.hosted(&subscriber).is_none() || endpoints.events.local(&subscriber).is_none() {
        return Err(WireError::UnknownSubscriber.answer(format!(
            "no module `{subscriber}` subscribes to events in this process"
        )));
    }
    let body = endpoints.read_body(payload).await?;
    let envelope: EventEnvelope = cleave::transport::decode(&body)
        .map_err(|e| WireError::BadPayload.answer(format!("not an event envelope: {e}")))?;
    // An event comes from the module that publishes it, and from nobody else.
    if envelope.publisher != sender {
        return Err(forbidden(format!(
            "the event names `{}` as its publisher but is sent by `{sender}`",
            truncate(&envelope.publisher)
        )));
    }
    let publisher = endpoints
        .known
        .iter()
        .copied()
        .find(|c| c.module == sender)
        .filter(|c| c.publishes.contains(&envelope.name.as_str()))
        .ok_or_else(|| {
            forbidden(format!(
                "module `{sender}` does not publish `{}`",
                truncate(&envelope.name)
            ))
        })?;
    endpoints.check_contract(&request, sender, Some(publisher))?;
    let context = incoming_trace(&request, envelope.traceparent.as_deref());
    let span = tracing::info_span!(
        "internal_event",
        event = %envelope.name,
        subscriber = %subscriber,
        trace_id = %context.trace_id,
    );
    cleave::trace::link_span(&span, &context);
    let applied = in_trace(
        context,
        endpoints
            .events
            .deliver(&subscriber, &envelope)
            .instrument(span),
    )
    .await
    .map_err(failure_response)?;
    let status = match applied {
        Applied::Now => wire::APPLIED,
        Applied::Before => wire::DUPLICATE,
    };
    Ok(HttpResponse::Ok().json(serde_json::json!({ "status": status })))
}

/// `GET /_cleave/modules`: every module this process knows of, where it runs, the contract
/// version spoken with it, and (for hosted ones) its outbox counts.
async fn structure(
    endpoints: web::Data<InternalEndpoints>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    endpoints.authenticate(&request)?;
    let Some(structure) = &endpoints.structure else {
        return Err(WireError::NoStructure.answer("this process does not report its structure"));
    };
    let mut modules = Vec::new();
    for contract in &endpoints.hosted {
        let counts = cleave::outbox::counts_for(structure.db.read(), contract.module)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "cannot count outbox rows");
                WireError::Unavailable.answer("cannot count outbox rows; see the server log")
            })?;
        modules.push(serde_json::json!({
            "name": contract.module,
            "location": "local",
            "contract_version": contract.version.to_string(),
            "outbox": { "pending": counts.pending, "failed": counts.failed },
        }));
    }
    for (module, url) in &structure.remotes {
        let version = endpoints
            .known
            .iter()
            .find(|c| c.module == module)
            .map(|c| c.version.to_string());
        modules.push(serde_json::json!({
            "name": module,
            "location": "remote",
            "url": url,
            "contract_version": version,
            "outbox": null,
        }));
    }
    modules.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    Ok(HttpResponse::Ok().json(serde_json::json!({ "modules": modules })))
}

/// `GET /_cleave/contracts`: the published contracts of the modules hosted here.
async fn contracts(
    endpoints: web::Data<InternalEndpoints>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    endpoints.authenticate(&request)?;
    let contracts: serde_json::Map<String, serde_json::Value> =
        endpoints.contracts.iter().cloned().collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "contracts": contracts })))
}

/// Adds the internal endpoints to an actix app (the internal listener's, not the public one).
pub fn configure_internal(cfg: &mut web::ServiceConfig, endpoints: Arc<InternalEndpoints>) {
    // A static route per hosted request: matching a path with a `{name}` segment runs a regex
    // on every request (a few percent of the remote call's CPU in the benchmark profile). The
    // `{name}` route below still answers names this process does not serve.
    for contract in &endpoints.hosted {
        for name in contract.handles {
            cfg.route(
                &wire::request_path(name),
                web::post().to(
                    move |endpoints: web::Data<InternalEndpoints>,
                          request: HttpRequest,
                          payload: web::Payload| {
                        serve_request(endpoints, request, name, payload)
                    },
                ),
            );
        }
    }
    cfg.app_data(web::Data::from(endpoints))
        .app_data(
            web::PathConfig::default()
                .error_handler(|e, _| WireError::InvalidPath.answer(e.to_string()).into()),
        )
        .route(wire::STRUCTURE_PATH, web::get().to(structure))
        .route(wire::CONTRACTS_PATH, web::get().to(contracts))
        .route(
            &wire::request_path(wire::NAME_SEGMENT),
            web::post().to(serve_named_request),
        )
        .route(
            &wire::event_path(wire::SUBSCRIBER_SEGMENT),
            web::post().to(serve_event),
        );
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_from_messages_are_truncated_and_checked() {
        assert_eq!(super::truncate("short"), "short");
        assert_eq!(super::truncate(&"x".repeat(200)).chars().count(), 81);
        assert!(super::valid_module_name("billing"));
        assert!(!super::valid_module_name("Billing"));
        assert!(!super::valid_module_name(""));
    }
}
