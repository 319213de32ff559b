//! The published contract document: JSON Schema of a module's messages, so another language
//! can implement the module or call it.
//!
//! The schemas say what the Rust decoder enforces, not only what the types suggest: `format`
//! is an annotation in a default JSON Schema 2020-12 validator, so every UUID also carries the
//! `pattern` the decoder accepts and every sized integer its range.

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
            "request": enforced(json!(schema_for!(R))),
            "response": enforced(json!(schema_for!(R::Response))),
            "error": enforced(json!(schema_for!(R::Error))),
        }),
    )
}

/// The payload of event `E`.
pub fn event<E: Event + JsonSchema>() -> (&'static str, Value) {
    (E::NAME, enforced(json!(schema_for!(E))))
}

/// The whole published contract: version, requests, events, subscriptions, sent requests.
pub fn document(
    contract: &Contract,
    subscribes: &[&str],
    sends: &[&str],
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
    let mut subscribes: Vec<&str> = subscribes.to_vec();
    subscribes.sort_unstable();
    let mut sends: Vec<&str> = sends.to_vec();
    sends.sort_unstable();
    json!({
        "$comment": "Generated from the module's code by the `contracts --write` command of an application that links it; do not edit. The wire protocol is docs/wire-protocol.md.",
        "module": contract.module,
        "version": contract.version.to_string(),
        "requests": requests,
        "events": events,
        "subscribes": subscribes,
        "sends": sends,
    })
}

/// Every accepted spelling of a UUID (`uuid`'s parser: hyphenated, simple, braced, URN).
pub const UUID_PATTERN: &str = "^(?:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[0-9a-fA-F]{32}|\\{[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\\}|urn:uuid:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$";

/// Adds to `schema` (recursively) what the decoder enforces beyond the annotations: the
/// pattern of UUIDs and the range of sized integers.
pub fn enforced(mut schema: Value) -> Value {
    enforce(&mut schema);
    schema
}

fn enforce(value: &mut Value) {
    match value {
        Value::Object(map) => {
            let format = map.get("format").and_then(Value::as_str).map(str::to_owned);
            match format.as_deref() {
                Some("uuid") if !map.contains_key("pattern") => {
                    map.insert("pattern".into(), Value::from(UUID_PATTERN));
                }
                Some(format) => {
                    if let Some((min, max)) = integer_range(format) {
                        map.entry("minimum").or_insert(min);
                        map.entry("maximum").or_insert(max);
                    }
                }
                None => {}
            }
            for child in map.values_mut() {
                enforce(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(enforce),
        _ => {}
    }
}

/// The range of an integer `format` as schemars writes it.
fn integer_range(format: &str) -> Option<(Value, Value)> {
    Some(match format {
        "int8" => (i8::MIN.into(), i8::MAX.into()),
        "uint8" => (0.into(), u8::MAX.into()),
        "int16" => (i16::MIN.into(), i16::MAX.into()),
        "uint16" => (0.into(), u16::MAX.into()),
        "int32" => (i32::MIN.into(), i32::MAX.into()),
        "uint32" => (0.into(), u32::MAX.into()),
        "int64" => (i64::MIN.into(), i64::MAX.into()),
        "uint64" => (0.into(), u64::MAX.into()),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_get_a_pattern_and_integers_a_range() {
        let schema = enforced(json!({
            "properties": {
                "id": {"type": "string", "format": "uuid"},
                "quantity": {"type": "integer", "format": "uint32", "minimum": 0},
                "lines": {"type": "array", "items": {"type": "integer", "format": "int64"}},
            }
        }));
        assert_eq!(schema["properties"]["id"]["pattern"], UUID_PATTERN);
        assert_eq!(schema["properties"]["quantity"]["maximum"], u32::MAX);
        assert_eq!(schema["properties"]["quantity"]["minimum"], 0);
        assert_eq!(schema["properties"]["lines"]["items"]["minimum"], i64::MIN);
    }
}
