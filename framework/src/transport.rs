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
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventEnvelope {
    /// Unique per published event; the inbox key that makes delivery idempotent.
    pub id: Uuid,
    /// The event's stable wire name.
    pub name: String,
    /// The module that published it.
    pub publisher: String,
    /// When it was committed, in milliseconds since the Unix epoch.
    pub published_at_ms: i64,
    /// The event itself, JSON-encoded. Kept as text from publishing to the subscriber's
    /// decoding: the outbox stores it, the transports send it, and only the subscriber reads
    /// it, into its own type ([`decode_raw`]). A parsed `serde_json::Value` in between was
    /// built, copied and dropped twice per delivery (README, "Where the CPU goes").
    pub payload: Box<serde_json::value::RawValue>,
    /// W3C trace context of the work that published it, so its effects join the same trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
}

/// Equal when every field is, the payload compared as the text it was encoded to.
impl PartialEq for EventEnvelope {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
            && self.name == other.name
            && self.publisher == other.publisher
            && self.published_at_ms == other.published_at_ms
            && self.payload.get() == other.payload.get()
            && self.traceparent == other.traceparent
    }
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

/// Decodes a message received over the wire. JSON Schema (what the published contracts are
/// written in) counts `142.0` as an integer, serde does not: when strict decoding fails, numbers
/// without a fractional part are read as integers and decoding is tried once more, so a peer
/// in another language whose JSON library writes integral floats is understood. Well-formed
/// messages take the strict path only; a message that still does not decode reports the first
/// error.
pub fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, serde_json::Error> {
    serde_json::from_slice(bytes).or_else(|first| {
        let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(bytes) else {
            return Err(first);
        };
        if !integral(&mut value) {
            return Err(first);
        }
        // Through the text again rather than `from_value`: an envelope's payload is a
        // `RawValue`, which only a reader of text can fill.
        let Ok(rewritten) = serde_json::to_vec(&value) else {
            return Err(first);
        };
        serde_json::from_slice(&rewritten).map_err(|_| first)
    })
}

/// [`decode`] for an event's payload.
pub fn decode_raw<T: serde::de::DeserializeOwned>(
    payload: &serde_json::value::RawValue,
) -> Result<T, serde_json::Error> {
    decode(payload.get().as_bytes())
}

/// Rewrites numbers without a fractional part (within the 64-bit integer ranges) as integers;
/// whether it rewrote any.
fn integral(value: &mut serde_json::Value) -> bool {
    use serde_json::Value;
    match value {
        Value::Number(n) if n.is_f64() => {
            let f = n.as_f64().unwrap_or(f64::NAN);
            if f.fract() != 0.0 || !f.is_finite() {
                return false;
            }
            // 2^63 and 2^64 are exact in f64; the bounds keep the casts exact.
            const TWO_63: f64 = 9_223_372_036_854_775_808.0;
            const TWO_64: f64 = 18_446_744_073_709_551_616.0;
            if (-TWO_63..TWO_63).contains(&f) {
                *value = Value::from(f as i64);
                true
            } else if (0.0..TWO_64).contains(&f) {
                *value = Value::from(f as u64);
                true
            } else {
                false
            }
        }
        // Every element is visited (no short circuit): all of them are rewritten.
        Value::Array(items) => items.iter_mut().map(integral).filter(|&r| r).count() > 0,
        Value::Object(map) => map.values_mut().map(integral).filter(|&r| r).count() > 0,
        _ => false,
    }
}

#[cfg(test)]
mod decode_tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct Line {
        quantity: u32,
        at: i64,
        share: f64,
    }

    #[test]
    fn integral_floats_are_read_as_integers_and_fractions_are_not() {
        let line: Line = decode(br#"{"quantity": 142.0, "at": -5e2, "share": 0.5}"#).unwrap();
        assert_eq!(
            line,
            Line {
                quantity: 142,
                at: -500,
                share: 0.5
            }
        );
        let error = decode::<Line>(br#"{"quantity": 1.5, "at": 0, "share": 1}"#).unwrap_err();
        assert!(error.to_string().contains("1.5"), "{error}");
        assert!(decode::<Line>(br#"{"quantity": 5e9, "at": 0, "share": 1}"#).is_err());
        let payload = serde_json::value::RawValue::from_string(
            r#"{"quantity": 3.0, "at": 1.0, "share": 2.0}"#.to_string(),
        )
        .unwrap();
        assert_eq!(decode_raw::<Line>(&payload).unwrap().quantity, 3);
    }

    /// An envelope from a peer whose JSON library writes integral floats decodes too, its
    /// payload kept as the text it came in and decoded by the subscriber's type.
    #[test]
    fn an_envelope_with_integral_floats_decodes_and_keeps_its_payload_as_text() {
        let bytes = br#"{"id": "00000000-0000-0000-0000-000000000000", "name": "math.line",
            "publisher": "py", "published_at_ms": 1.7e12,
            "payload": {"quantity": 2.0, "at": 0, "share": 1}}"#;
        let envelope: EventEnvelope = decode(bytes).unwrap();
        assert_eq!(envelope.published_at_ms, 1_700_000_000_000);
        assert_eq!(decode_raw::<Line>(&envelope.payload).unwrap().quantity, 2);
        let again: EventEnvelope = decode(&serde_json::to_vec(&envelope).unwrap()).unwrap();
        assert_eq!(again, envelope);
    }
}
