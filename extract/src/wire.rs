//! The internal HTTP protocol between cleave processes.
//!
//! A request travels as `POST /_cleave/v1/requests/{name}` with the JSON-encoded request as
//! body. A handled request answers 200 with the response body, or 200 with header
//! `cleave-outcome: domain-error` and the JSON-encoded domain error. An event travels as
//! `POST /_cleave/v1/events/{subscriber}` with the JSON [`cleave::EventEnvelope`]. Every
//! message carries `cleave-sender: <module>` (the module it comes from; absent means
//! `external`, a tool), `authorization: Bearer <credential>` (that module's own token, or the
//! shared `internal_token` for modules without credentials of their own; see
//! [`crate::identity`]) and `cleave-contract: <module>/<major>.<minor>`, the version of the
//! contract the sender was built against (for a request the callee's contract, for an event the
//! publisher's). A request is accepted only from a module that declares it sends it (or from
//! `external`); an event only from the module that publishes it, named in the envelope as
//! `publisher`. An applied event answers 200 `{"status": "applied"}`, a redelivery of one
//! applied before 200 `{"status": "duplicate"}`. Failures answer with the public error body
//! `{"error", "message"}`, a status and a code from [`WireError`]. `docs/wire-protocol.md` is the
//! normative text; [`crate::spec`] generates the machine-readable description.

/// Prefix of every internal path.
pub const PREFIX: &str = "/_cleave/v1";
/// The runtime structure of a process (`GET`).
pub const STRUCTURE_PATH: &str = "/_cleave/modules";
/// The published contracts of the hosted modules (`GET`).
pub const CONTRACTS_PATH: &str = "/_cleave/contracts";
/// Header naming the module that sends a message (its credential is the bearer token).
pub const SENDER_HEADER: &str = "cleave-sender";
/// Header naming the contract and version a message was built against.
pub const CONTRACT_HEADER: &str = "cleave-contract";
/// Header telling a domain error from a response in a 200 answer.
pub const OUTCOME_HEADER: &str = "cleave-outcome";
/// Value of [`OUTCOME_HEADER`] for a domain error.
pub const DOMAIN_ERROR: &str = "domain-error";

/// Path of a request.
pub fn request_path(name: &str) -> String {
    format!("{PREFIX}/requests/{name}")
}

/// Path of an event delivery to `subscriber`.
pub fn event_path(subscriber: &str) -> String {
    format!("{PREFIX}/events/{subscriber}")
}

/// The value of [`CONTRACT_HEADER`] for `contract`.
pub fn contract_header(contract: &cleave::Contract) -> String {
    format!("{}/{}", contract.module, contract.version)
}

/// Splits a [`CONTRACT_HEADER`] value into module and version.
pub fn parse_contract_header(value: &str) -> Option<(&str, cleave::Version)> {
    let (module, version) = value.split_once('/')?;
    Some((module, cleave::Version::parse(version)?))
}

/// The body status of an event the subscriber applied now.
pub const APPLIED: &str = "applied";
/// The body status of an event the subscriber had applied before (a redelivery).
pub const DUPLICATE: &str = "duplicate";

/// What a 2xx answer to an event delivery says: applied now, or a duplicate. Any other body
/// (or none) counts as applied now.
pub fn applied_from(body: &[u8]) -> cleave::Applied {
    #[derive(serde::Deserialize)]
    struct Status {
        status: String,
    }
    match serde_json::from_slice::<Status>(body) {
        Ok(s) if s.status == DUPLICATE => cleave::Applied::Before,
        _ => cleave::Applied::Now,
    }
}

/// Every error the internal endpoints answer with: its code (the `error` field of the body),
/// its HTTP status, what it means, and what a sender does about it. The server builds its
/// refusals from these, the generated description of the protocol ([`crate::spec`]) lists
/// them per endpoint, and a test checks `docs/wire-protocol.md` names each one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WireError {
    /// `cleave-sender` is not a module name.
    BadSender,
    /// No credential, or one that does not prove the sender.
    Unauthorized,
    /// The sender may not send this request, or does not publish this event.
    ForbiddenSender,
    /// No hosted module handles the request.
    UnknownRequest,
    /// No hosted module of that name subscribes to events.
    UnknownSubscriber,
    /// The `cleave-contract` header is missing.
    MissingContract,
    /// The `cleave-contract` header is malformed or names another module.
    BadContract,
    /// The sender's contract has another major version.
    IncompatibleContract,
    /// The body is over the receiver's cap.
    PayloadTooLarge,
    /// The body could not be read.
    BadBody,
    /// The body stopped arriving before it was complete.
    BodyTimeout,
    /// The body does not decode as the message.
    BadPayload,
    /// The subscriber refused the event.
    Rejected,
    /// The handler or its database failed inside.
    Unavailable,
    /// The process does not report its structure.
    NoStructure,
    /// A path segment could not be read.
    InvalidPath,
}

impl WireError {
    /// Every error, in the order of the protocol document's table.
    pub const ALL: [WireError; 16] = [
        WireError::BadSender,
        WireError::Unauthorized,
        WireError::ForbiddenSender,
        WireError::UnknownRequest,
        WireError::UnknownSubscriber,
        WireError::MissingContract,
        WireError::BadContract,
        WireError::IncompatibleContract,
        WireError::PayloadTooLarge,
        WireError::BadBody,
        WireError::BodyTimeout,
        WireError::BadPayload,
        WireError::Rejected,
        WireError::Unavailable,
        WireError::NoStructure,
        WireError::InvalidPath,
    ];

    /// What a request may be refused with, in the order the receiver checks.
    pub const REQUEST: [WireError; 12] = [
        WireError::BadSender,
        WireError::Unauthorized,
        WireError::UnknownRequest,
        WireError::ForbiddenSender,
        WireError::MissingContract,
        WireError::BadContract,
        WireError::IncompatibleContract,
        WireError::PayloadTooLarge,
        WireError::BadBody,
        WireError::BodyTimeout,
        WireError::BadPayload,
        WireError::Unavailable,
    ];

    /// What an event delivery may be refused with, in the order the receiver checks.
    pub const EVENT: [WireError; 13] = [
        WireError::BadSender,
        WireError::Unauthorized,
        WireError::UnknownSubscriber,
        WireError::PayloadTooLarge,
        WireError::BadBody,
        WireError::BodyTimeout,
        WireError::BadPayload,
        WireError::ForbiddenSender,
        WireError::MissingContract,
        WireError::BadContract,
        WireError::IncompatibleContract,
        WireError::Rejected,
        WireError::Unavailable,
    ];

    /// What the operational `GET` endpoints may be refused with.
    pub const OPERATIONAL: [WireError; 3] = [
        WireError::BadSender,
        WireError::Unauthorized,
        WireError::Unavailable,
    ];

    /// The `error` field of the body.
    pub const fn code(self) -> &'static str {
        match self {
            WireError::BadSender => "bad_sender",
            WireError::Unauthorized => "unauthorized",
            WireError::ForbiddenSender => "forbidden_sender",
            WireError::UnknownRequest => "unknown_request",
            WireError::UnknownSubscriber => "unknown_subscriber",
            WireError::MissingContract => "missing_contract",
            WireError::BadContract => "bad_contract",
            WireError::IncompatibleContract => "incompatible_contract",
            WireError::PayloadTooLarge => "payload_too_large",
            WireError::BadBody => "bad_body",
            WireError::BodyTimeout => "body_timeout",
            WireError::BadPayload => "bad_payload",
            WireError::Rejected => "rejected",
            WireError::Unavailable => "unavailable",
            WireError::NoStructure => "no_structure",
            WireError::InvalidPath => "invalid_path",
        }
    }

    /// The HTTP status.
    pub const fn status(self) -> u16 {
        match self {
            WireError::BadSender
            | WireError::MissingContract
            | WireError::BadContract
            | WireError::BadBody
            | WireError::BadPayload
            | WireError::InvalidPath => 400,
            WireError::Unauthorized => 401,
            WireError::ForbiddenSender => 403,
            WireError::UnknownRequest | WireError::UnknownSubscriber | WireError::NoStructure => {
                404
            }
            WireError::BodyTimeout => 408,
            WireError::IncompatibleContract => 409,
            WireError::PayloadTooLarge => 413,
            WireError::Rejected => 422,
            WireError::Unavailable => 503,
        }
    }

    /// What it means, for people.
    pub const fn meaning(self) -> &'static str {
        match self {
            WireError::BadSender => {
                "`cleave-sender` is not a module name (1-64 bytes of lowercase letters, digits, `_`)"
            }
            WireError::Unauthorized => {
                "no `authorization: Bearer` credential, or one that does not prove the sender"
            }
            WireError::ForbiddenSender => {
                "the sender's contract does not list the request in `sends`, or the event's publisher is not the sender, or the sender does not publish it"
            }
            WireError::UnknownRequest => "no module hosted here handles the request",
            WireError::UnknownSubscriber => {
                "no module of that name is hosted here and subscribes to events"
            }
            WireError::MissingContract => "the `cleave-contract` header is missing",
            WireError::BadContract => {
                "`cleave-contract` is not `<module>/<major>.<minor>`, or names another module than the callee (requests) or the publisher (events)"
            }
            WireError::IncompatibleContract => {
                "the sender was built against another major version of the contract"
            }
            WireError::PayloadTooLarge => "the body is over the receiver's cap",
            WireError::BadBody => "the body could not be read",
            WireError::BodyTimeout => "the body stopped arriving before it was complete",
            WireError::BadPayload => {
                "the body does not decode as the request, the envelope or the event's payload"
            }
            WireError::Rejected => "the subscriber's handler refused the event; nothing was kept",
            WireError::Unavailable => "the handler or its database failed inside; nothing was kept",
            WireError::NoStructure => "this process does not report its structure",
            WireError::InvalidPath => "a path segment could not be read",
        }
    }

    /// Whether a sender treats the answer as an outage (retried: idempotent requests at once,
    /// events indefinitely with backoff) rather than a refusal of the message itself (requests
    /// fail; events are retried a bounded number of times, then set aside).
    pub const fn is_outage(self) -> bool {
        matches!(
            self,
            WireError::Unauthorized
                | WireError::ForbiddenSender
                | WireError::UnknownRequest
                | WireError::UnknownSubscriber
                | WireError::NoStructure
                | WireError::BodyTimeout
                | WireError::Unavailable
        )
    }

    /// The error answer, with `message`.
    pub fn answer(self, message: impl Into<String>) -> cleave::http::ApiError {
        cleave::http::ApiError::new(
            actix_web::http::StatusCode::from_u16(self.status())
                .expect("the statuses above are valid"),
            self.code(),
            message,
        )
    }
}

/// The route pattern segment of a request's name (`request_path(NAME_SEGMENT)` is the route).
pub const NAME_SEGMENT: &str = "{name}";
/// The route pattern segment of a subscriber (`event_path(SUBSCRIBER_SEGMENT)` is the route).
pub const SUBSCRIBER_SEGMENT: &str = "{subscriber}";

/// Every route pattern of the internal listener with its method, so that a known path asked
/// with another method answers 405 with `Allow` (see [`cleave::http::KnownRoutes`]).
pub fn routes() -> Vec<(String, Vec<String>)> {
    let get = || vec!["GET".to_string()];
    vec![
        (request_path(NAME_SEGMENT), vec!["POST".to_string()]),
        (event_path(SUBSCRIBER_SEGMENT), vec!["POST".to_string()]),
        (CONTRACTS_PATH.to_string(), get()),
        (STRUCTURE_PATH.to_string(), get()),
        ("/health".to_string(), get()),
        ("/ready".to_string(), get()),
        ("/metrics".to_string(), get()),
    ]
}
