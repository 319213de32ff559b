//! The seams between the framework and whatever carries messages: what a transport must do
//! for requests ([`RequestTransport`]) and for events ([`EventRoute`]), the encoded forms
//! they carry ([`WireReply`], [`EventEnvelope`]) and how they fail ([`DeliveryFailure`]).
//!
//! The bus and the outbox relay depend on this module, never on each other; the in-process
//! implementations live next to them, the network ones in `cleave-extract`.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The encoded answer of a handler reached through the wire codec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireReply {
    /// The JSON-encoded response.
    Ok(Vec<u8>),
    /// The JSON-encoded domain error.
    Domain(Vec<u8>),
}

/// Why a message could not be delivered or answered; the transport-level half of
/// [`CallError`](cleave_contract::CallError), also used for event deliveries.
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
    /// The module that sends it.
    pub caller: &'a str,
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

/// How an event reached its subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The subscriber applied it now.
    Now,
    /// The subscriber had applied it before (a redelivery); nothing changed.
    Before,
}

/// Delivers events to one subscribing module, wherever it runs.
#[async_trait]
pub trait EventRoute: Send + Sync + 'static {
    /// Delivers `envelope`; `Ok` means the subscriber applied it now or had applied it before.
    async fn deliver(&self, envelope: &EventEnvelope) -> Result<Applied, DeliveryFailure>;
}
