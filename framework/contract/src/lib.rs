//! The message contract of cleave: what a module's `api` crate declares and what a caller sees.
//!
//! This crate is the only cleave dependency of an `api` crate, so it stays small: serde and
//! thiserror, no database, no HTTP. Everything here is plain data that crosses a process
//! boundary unchanged when a module is extracted.

#![warn(missing_docs)]

use std::fmt;

use serde::{Serialize, de::DeserializeOwned};

/// A request one module sends to another and the shape of its answer.
///
/// `NAME` is the stable wire name (`"<module>.<verb>"`): it routes the request in-process and
/// over the network, so renaming it is a breaking contract change.
pub trait Request: Serialize + DeserializeOwned + Send + 'static {
    /// Stable wire name, `"<module>.<verb>"`.
    const NAME: &'static str;
    /// Whether sending the same request twice has the same effect as sending it once.
    ///
    /// A remote call whose answer was lost may still have run on the other side; only
    /// idempotent requests may be retried by the transport.
    const IDEMPOTENT: bool = false;
    /// What the handler answers on success.
    type Response: Serialize + DeserializeOwned + Send + 'static;
    /// The module's own (domain) error for this request.
    type Error: Serialize + DeserializeOwned + Send + fmt::Debug + fmt::Display + 'static;
}

/// A fact a module publishes after committing it; any module may subscribe.
pub trait Event: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// Stable wire name, `"<module>.<fact_in_past_tense>"`.
    const NAME: &'static str;
}

/// The version of a module's contract.
///
/// Sender and receiver must agree on `major`. A `minor` bump may only add: new messages, or
/// optional fields (`Option<T>` with `#[serde(default)]`) that older peers ignore or omit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Version {
    /// Incremented for any change an older peer would misread.
    pub major: u32,
    /// Incremented for additions older peers can ignore.
    pub minor: u32,
}

impl Version {
    /// Whether peers at `self` and `other` can exchange messages.
    pub fn compatible_with(&self, other: &Version) -> bool {
        self.major == other.major
    }

    /// Parses `"<major>.<minor>"`.
    pub fn parse(text: &str) -> Option<Version> {
        let (major, minor) = text.split_once('.')?;
        Some(Version {
            major: major.parse().ok()?,
            minor: minor.parse().ok()?,
        })
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// A module's public surface, declared in its `api` crate: what it answers, what it publishes,
/// what it listens to, and the version of all of that.
///
/// Other processes learn from it where to send requests and events when the module runs
/// elsewhere, so it must be complete; the runtime checks it against the module's registrations.
#[derive(Debug)]
pub struct Contract {
    /// The module's name; the prefix of its message names and tables.
    pub module: &'static str,
    /// The contract's version.
    pub version: Version,
    /// Requests the module answers.
    pub handles: &'static [&'static str],
    /// Events the module publishes.
    pub publishes: &'static [&'static str],
    /// Events (of other modules) the module subscribes to.
    pub subscribes: &'static [&'static str],
}

/// JSON Schema documents of a contract's messages (feature `schema`).
#[cfg(feature = "schema")]
pub mod schema {
    use schemars::{JsonSchema, schema_for};
    use serde_json::{Value, json};

    use crate::{Contract, Event, Request};

    /// Request, response and domain error of `R`, and whether it may be retried.
    pub fn request<R>() -> (&'static str, Value)
    where
        R: Request + JsonSchema,
        R::Response: JsonSchema,
        R::Error: JsonSchema,
    {
        (
            R::NAME,
            json!({
                "idempotent": R::IDEMPOTENT,
                "request": schema_for!(R),
                "response": schema_for!(R::Response),
                "error": schema_for!(R::Error),
            }),
        )
    }

    /// The payload of event `E`.
    pub fn event<E: Event + JsonSchema>() -> (&'static str, Value) {
        (E::NAME, json!(schema_for!(E)))
    }

    /// The whole published contract: version, requests, events, subscriptions.
    pub fn document(
        contract: &Contract,
        requests: Vec<(&'static str, Value)>,
        events: Vec<(&'static str, Value)>,
    ) -> Value {
        let requests: serde_json::Map<String, Value> = requests
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        let events: serde_json::Map<String, Value> = events
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        json!({
            "$comment": "Generated from the api crate by `shop contracts --write docs/contracts`; do not edit.",
            "module": contract.module,
            "version": contract.version.to_string(),
            "wire": "JSON over HTTP: POST /_cleave/v1/requests/{name} and /_cleave/v1/events/{subscriber}, headers `authorization: Bearer <token>` and `cleave-contract: <module>/<version>`; a domain error answers 200 with `cleave-outcome: domain-error`",
            "requests": requests,
            "events": events,
            "subscribes": contract.subscribes,
        })
    }
}

/// The module that owns a message name: the part before the first dot.
pub fn owner_of(message_name: &str) -> &str {
    message_name.split('.').next().unwrap_or(message_name)
}

/// Why a call did not produce the handler's answer.
///
/// The domain error (`Domain`) is the callee's business answer; every other variant is a
/// delivery failure the caller must handle even in a monolith, because the same call may cross
/// the network once the callee is extracted. After `Timeout` or `Unavailable` the request may
/// still have run on the other side.
#[derive(Debug, thiserror::Error)]
pub enum CallError<E> {
    /// The callee answered with its own domain error.
    #[error("{0}")]
    Domain(E),
    /// No module serves this request in this process and no remote route is configured.
    #[error("no route for request `{request}`: no hosted module handles it")]
    NoRoute {
        /// The request's wire name.
        request: &'static str,
    },
    /// The module that serves the request could not be reached or refused the call.
    #[error("module `{module}` is unavailable: {reason}")]
    Unavailable {
        /// The callee module.
        module: String,
        /// What went wrong, for operators.
        reason: String,
    },
    /// The callee did not answer in time; the request may still have run.
    #[error("module `{module}` did not answer `{request}` within {after_ms} ms")]
    Timeout {
        /// The callee module.
        module: String,
        /// The request's wire name.
        request: &'static str,
        /// The deadline that passed.
        after_ms: u64,
    },
    /// The two sides were built against incompatible versions of the callee's contract.
    #[error("incompatible contract with module `{module}`: {message}")]
    Incompatible {
        /// The callee module.
        module: String,
        /// Both versions, for operators.
        message: String,
    },
    /// The request or answer could not be encoded or decoded with the wire codec.
    #[error("bad payload for `{request}`: {message}")]
    BadPayload {
        /// The request's wire name.
        request: &'static str,
        /// The codec's complaint.
        message: String,
    },
}

impl<E> CallError<E> {
    /// The domain error, if the callee answered with one.
    pub fn domain(&self) -> Option<&E> {
        match self {
            CallError::Domain(e) => Some(e),
            _ => None,
        }
    }

    /// A short machine-readable code for the failure kind (`"domain"`, `"unavailable"`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            CallError::Domain(_) => "domain",
            CallError::NoRoute { .. } => "no_route",
            CallError::Unavailable { .. } => "unavailable",
            CallError::Timeout { .. } => "timeout",
            CallError::Incompatible { .. } => "incompatible",
            CallError::BadPayload { .. } => "bad_payload",
        }
    }

    /// Converts a delivery failure for one domain error type into the same failure for
    /// another; `Domain` values are mapped with `f`.
    pub fn map_domain<F, E2>(self, f: F) -> CallError<E2>
    where
        F: FnOnce(E) -> E2,
    {
        match self {
            CallError::Domain(e) => CallError::Domain(f(e)),
            CallError::NoRoute { request } => CallError::NoRoute { request },
            CallError::Unavailable { module, reason } => CallError::Unavailable { module, reason },
            CallError::Timeout {
                module,
                request,
                after_ms,
            } => CallError::Timeout {
                module,
                request,
                after_ms,
            },
            CallError::Incompatible { module, message } => {
                CallError::Incompatible { module, message }
            }
            CallError::BadPayload { request, message } => {
                CallError::BadPayload { request, message }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_is_the_prefix_before_the_first_dot() {
        assert_eq!(owner_of("billing.charge"), "billing");
        assert_eq!(owner_of("orders.order_placed"), "orders");
        assert_eq!(owner_of("plain"), "plain");
    }

    #[test]
    fn versions_agree_on_major_only() {
        let v1_0 = Version::parse("1.0").unwrap();
        let v1_3 = Version::parse("1.3").unwrap();
        let v2_0 = Version { major: 2, minor: 0 };
        assert!(v1_0.compatible_with(&v1_3));
        assert!(!v1_3.compatible_with(&v2_0));
        assert_eq!(v1_3.to_string(), "1.3");
        assert_eq!(Version::parse("1"), None);
        assert_eq!(Version::parse("x.1"), None);
    }

    #[test]
    fn map_domain_keeps_delivery_failures() {
        let e: CallError<u8> = CallError::Timeout {
            module: "billing".into(),
            request: "billing.charge",
            after_ms: 5,
        };
        let mapped: CallError<String> = e.map_domain(|d| d.to_string());
        assert_eq!(mapped.kind(), "timeout");
        let d: CallError<u8> = CallError::Domain(7);
        assert_eq!(d.map_domain(|d| d + 1).domain(), Some(&8));
    }
}
