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
//! `{"error", "message"}` and these statuses:
//!
//! | status | meaning | caller sees |
//! |---|---|---|
//! | 400 | malformed message or missing contract header | `BadPayload` |
//! | 401 | missing credential, or one that does not prove the sender | `Unavailable` |
//! | 403 | `forbidden_sender`: the sender may not send this request or event | `Unavailable` |
//! | 404 | module or request not served by this process | `Unavailable` |
//! | 409 | incompatible contract versions | `Incompatible` |
//! | 413 | body over the size cap | `BadPayload` |
//! | 422 | an event subscriber refused the event | `Rejected` |
//! | 503 | the handler failed inside (database down, bug) | `Unavailable` |

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
