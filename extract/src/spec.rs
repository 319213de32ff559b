//! The machine-readable description of the internal protocol: an OpenAPI 3.1 document of the
//! endpoints of [`crate::server`], generated from an application's published contracts and
//! from [`WireError`], so it cannot say something the code does not.
//!
//! `docs/wire-protocol.md` is the normative text; this document is its machine-readable part
//! for one application: every request path with its request, response and domain-error
//! schemas, every subscriber's event intake with the envelopes it accepts, the headers with
//! the values a receiver accepts, and per status the error codes and whether a sender treats
//! the answer as an outage or as a refusal. An application's `wire-spec` command prints it; a
//! test compares the committed copy with the generated one.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::wire::{self, WireError};

/// Pattern of a module name (`cleave-sender`).
pub const MODULE_NAME_PATTERN: &str = "^[a-z0-9_]{1,64}$";

/// Pattern of a `traceparent` a receiver continues (anything else starts a new trace).
pub const TRACEPARENT_PATTERN: &str = "^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$";

/// The OpenAPI document of the internal endpoints of application `app`, whose modules publish
/// `contracts` (module name → published contract document, as `GET /_cleave/contracts`
/// serves them), for a receiver whose body cap is `max_body_bytes`.
pub fn internal_openapi(app: &str, contracts: &[(&str, Value)], max_body_bytes: usize) -> Value {
    let mut schemas = Map::new();
    schemas.insert("Error".into(), error_schema());
    schemas.insert("Delivery".into(), delivery_schema());
    schemas.insert("EventEnvelope".into(), envelope_schema(None, None));
    let mut paths = Map::new();
    let contracts: BTreeMap<&str, &Value> = contracts.iter().map(|(m, d)| (*m, d)).collect();

    for (module, document) in &contracts {
        let version = document["version"].as_str().unwrap_or("0.0");
        let requests = document["requests"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        for (name, request) in requests {
            let senders: Vec<&str> = contracts
                .iter()
                .filter(|(_, d)| lists(d, "sends", &name))
                .map(|(m, _)| *m)
                .collect();
            for part in ["request", "response", "error"] {
                let key = format!("{name}.{part}");
                let schema = hoist(&request[part], &key, &mut schemas);
                schemas.insert(key, schema);
            }
            paths.insert(
                wire::request_path(&name),
                json!({ "post": request_operation(
                    module, version, &name, &request, &senders, max_body_bytes,
                ) }),
            );
        }
    }

    for (subscriber, document) in &contracts {
        let mut subscribed: Vec<&str> = document["subscribes"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        subscribed.sort_unstable();
        if subscribed.is_empty() {
            continue;
        }
        let mut envelopes = Vec::new();
        let mut publishers = BTreeMap::new();
        for event in subscribed {
            let publisher = cleave::owner_of(event);
            let Some(published) = contracts.get(publisher) else {
                continue;
            };
            let key = format!("{event}.payload");
            if !schemas.contains_key(&key) {
                let schema = hoist(&published["events"][event], &key, &mut schemas);
                schemas.insert(key.clone(), schema);
            }
            let envelope_key = format!("{event}.envelope");
            schemas.insert(
                envelope_key.clone(),
                envelope_schema(Some((event, publisher)), Some(&key)),
            );
            envelopes.push(json!({ "$ref": format!("#/components/schemas/{envelope_key}") }));
            publishers.insert(
                publisher,
                published["version"].as_str().unwrap_or("0.0").to_string(),
            );
        }
        if envelopes.is_empty() {
            continue;
        }
        paths.insert(
            wire::event_path(subscriber),
            json!({ "post": event_operation(subscriber, envelopes, &publishers, max_body_bytes) }),
        );
    }

    paths.insert(
        wire::CONTRACTS_PATH.into(),
        json!({ "get": contracts_operation() }),
    );
    paths.insert(
        wire::STRUCTURE_PATH.into(),
        json!({ "get": structure_operation() }),
    );
    paths.insert("/health".into(), json!({ "get": health_operation() }));
    paths.insert("/ready".into(), json!({ "get": ready_operation() }));
    paths.insert("/metrics".into(), json!({ "get": metrics_operation() }));

    json!({
        "openapi": "3.1.0",
        "info": {
            "title": format!("{app}: internal wire protocol"),
            "version": "1",
            "description": format!(
                "The internal endpoints of `{app}`'s processes (cleave wire protocol v1), generated from the code by `{app} wire-spec`; do not edit. The normative text, with the rules this document cannot express (credential digests, the order of checks, retries, the inbox), is docs/wire-protocol.md. `x-cleave-outage` on an answer says whether a sender treats it as the module being unavailable (true) or as a refusal of the message (false)."
            ),
        },
        "security": [{ "credential": [] }],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "credential": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The sending module's own token (receivers hold `sha256:<hex>` digests of the tokens they accept per module), or the shared `internal_token`. Exactly `Bearer <token>`.",
                },
            },
            "parameters": {
                "sender": {
                    "name": wire::SENDER_HEADER,
                    "in": "header",
                    "required": false,
                    "description": "The sending module (for an event, its publisher). Absent means `external`, a tool, which may send requests but never events.",
                    "schema": { "type": "string", "pattern": MODULE_NAME_PATTERN },
                },
                "traceparent": {
                    "name": cleave::trace::TRACEPARENT,
                    "in": "header",
                    "required": false,
                    "description": format!("W3C trace context the receiver continues when it matches `{TRACEPARENT_PATTERN}` (version 00, lowercase hex); any other value is ignored and a new trace starts, so it is never refused."),
                    "schema": { "type": "string" },
                },
            },
            "schemas": schemas,
        },
    })
}

/// Whether `document`'s list `key` holds `name`.
fn lists(document: &Value, key: &str, name: &str) -> bool {
    document[key]
        .as_array()
        .is_some_and(|a| a.iter().any(|v| v == name))
}

fn request_operation(
    module: &str,
    version: &str,
    name: &str,
    request: &Value,
    senders: &[&str],
    max_body_bytes: usize,
) -> Value {
    let idempotent = request["idempotent"].as_bool().unwrap_or(false);
    let schema = |part: &str| json!({ "$ref": format!("#/components/schemas/{name}.{part}") });
    let mut responses = Map::new();
    responses.insert(
        "200".into(),
        json!({
            "description": format!(
                "The response; or, with `{}: {}`, the domain error.",
                wire::OUTCOME_HEADER,
                wire::DOMAIN_ERROR
            ),
            "headers": {
                wire::OUTCOME_HEADER: {
                    "description": "Present, with this value, exactly when the body is the domain error.",
                    "schema": { "type": "string", "enum": [wire::DOMAIN_ERROR] },
                },
            },
            "content": {
                "application/json": { "schema": { "anyOf": [schema("response"), schema("error")] } },
            },
        }),
    );
    errors(&mut responses, &WireError::REQUEST);
    json!({
        "operationId": format!("request.{name}"),
        "tags": [module],
        "summary": format!("Request `{name}` to module `{module}`"),
        "description": format!(
            "Handled by the process hosting `{module}`. Accepted from the modules whose contract lists it in `sends` ({}) and from `external`. {} Bodies over {max_body_bytes} bytes (the default cap) answer 413.",
            if senders.is_empty() { "none".to_string() } else { senders.join(", ") },
            if idempotent {
                "Idempotent: callers retry it after connection failures, timeouts and 5xx answers."
            } else {
                "Not idempotent: callers never retry it."
            },
        ),
        "x-cleave-idempotent": idempotent,
        "x-cleave-senders": senders,
        "parameters": [
            { "$ref": "#/components/parameters/sender" },
            contract_parameter(
                &format!("The callee's contract the sender was built against; the major must be {}.", major(version)),
                &[(module, version)],
            ),
            { "$ref": "#/components/parameters/traceparent" },
        ],
        "requestBody": {
            "required": true,
            "content": { "application/json": { "schema": schema("request") } },
        },
        "responses": responses,
    })
}

fn event_operation(
    subscriber: &str,
    envelopes: Vec<Value>,
    publishers: &BTreeMap<&str, String>,
    max_body_bytes: usize,
) -> Value {
    let mut responses = Map::new();
    responses.insert(
        "200".into(),
        json!({
            "description": "Applied now, or a duplicate of an event applied before (its id is in the subscriber's inbox). Senders treat any 2xx as delivered.",
            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Delivery" } } },
        }),
    );
    errors(&mut responses, &WireError::EVENT);
    let versions: Vec<(&str, &str)> = publishers.iter().map(|(m, v)| (*m, v.as_str())).collect();
    json!({
        "operationId": format!("events.{subscriber}"),
        "tags": [subscriber],
        "summary": format!("Deliver an event to module `{subscriber}`"),
        "description": format!(
            "Accepted only from the event's publisher (the envelope's `publisher` is the sender, and the sender's contract publishes `name`). Applied once per event id, in one transaction with the subscriber's inbox. Envelopes over {max_body_bytes} bytes (the default cap) answer 413."
        ),
        "parameters": [
            { "$ref": "#/components/parameters/sender" },
            contract_parameter("The publisher's contract; the major must be the one the subscriber knows.", &versions),
            { "$ref": "#/components/parameters/traceparent" },
        ],
        "requestBody": {
            "required": true,
            "content": { "application/json": { "schema": { "oneOf": envelopes } } },
        },
        "responses": responses,
    })
}

fn contracts_operation() -> Value {
    let mut responses = Map::new();
    responses.insert(
        "200".into(),
        json!({
            "description": "The published contract documents of the modules hosted by this process, by module name.",
            "content": { "application/json": { "schema": {
                "type": "object",
                "required": ["contracts"],
                "properties": { "contracts": { "type": "object", "additionalProperties": { "type": "object" } } },
            } } },
        }),
    );
    errors(&mut responses, &WireError::OPERATIONAL);
    json!({
        "operationId": "contracts",
        "tags": ["operational"],
        "summary": "The contracts of the hosted modules",
        "parameters": [{ "$ref": "#/components/parameters/sender" }],
        "responses": responses,
    })
}

fn structure_operation() -> Value {
    let mut responses = Map::new();
    responses.insert(
        "200".into(),
        json!({
            "description": "Every module this process knows of: where it runs, the contract version spoken with it, and the outbox counts of hosted ones.",
            "content": { "application/json": { "schema": {
                "type": "object",
                "required": ["modules"],
                "properties": { "modules": { "type": "array", "items": {
                    "type": "object",
                    "required": ["name", "location", "contract_version", "outbox"],
                    "properties": {
                        "name": { "type": "string", "pattern": MODULE_NAME_PATTERN },
                        "location": { "type": "string", "enum": ["local", "remote"] },
                        "url": { "type": "string", "description": "Remote modules: the base URLs of its instances, comma-separated." },
                        "contract_version": { "type": ["string", "null"] },
                        "outbox": { "oneOf": [
                            { "type": "null" },
                            { "type": "object", "required": ["pending", "failed"], "properties": {
                                "pending": { "type": "integer", "minimum": 0 },
                                "failed": { "type": "integer", "minimum": 0 },
                            } },
                        ] },
                    },
                } } },
            } } },
        }),
    );
    let mut with_structure: Vec<WireError> = WireError::OPERATIONAL.to_vec();
    with_structure.push(WireError::NoStructure);
    errors(&mut responses, &with_structure);
    json!({
        "operationId": "structure",
        "tags": ["operational"],
        "summary": "The structure of this process",
        "parameters": [{ "$ref": "#/components/parameters/sender" }],
        "responses": responses,
    })
}

fn health_operation() -> Value {
    json!({
        "operationId": "health",
        "tags": ["operational"],
        "summary": "Liveness: 200 while the process runs. Other processes probe it (1 s timeout) to decide readiness.",
        "security": [],
        "responses": { "200": {
            "description": "The process runs.",
            "content": { "application/json": { "schema": {
                "type": "object", "required": ["status"],
                "properties": { "status": { "const": "ok" } },
            } } },
        } },
    })
}

fn ready_operation() -> Value {
    let body = |status: &str| {
        json!({ "application/json": { "schema": {
            "type": "object", "required": ["status", "checks"],
            "properties": { "status": { "const": status }, "checks": { "type": "object" } },
        } } })
    };
    json!({
        "operationId": "ready",
        "tags": ["operational"],
        "summary": "Readiness: the database answers and some instance of every remote module is healthy.",
        "security": [],
        "responses": {
            "200": { "description": "Ready.", "content": body("ready") },
            "503": { "description": "Not ready; `checks` says what failed.", "content": body("not_ready") },
        },
    })
}

fn metrics_operation() -> Value {
    json!({
        "operationId": "metrics",
        "tags": ["operational"],
        "summary": "Prometheus metrics of the process.",
        "security": [],
        "responses": { "200": {
            "description": "Prometheus text exposition format.",
            "content": { "text/plain": { "schema": { "type": "string" } } },
        } },
    })
}

/// The `cleave-contract` header accepting `module/<major>.<any minor>` for each of `versions`.
fn contract_parameter(description: &str, versions: &[(&str, &str)]) -> Value {
    let alternatives: Vec<String> = versions
        .iter()
        .map(|(module, version)| format!("{module}/{}", major(version)))
        .collect();
    json!({
        "name": wire::CONTRACT_HEADER,
        "in": "header",
        "required": true,
        "description": description,
        "schema": {
            "type": "string",
            "pattern": format!(
                "^(?:{})\\.{}$",
                alternatives.join("|"),
                cleave_contract::VERSION_PART_PATTERN
            ),
        },
        "example": versions.first().map(|(m, v)| format!("{m}/{v}")),
    })
}

fn major(version: &str) -> &str {
    version.split('.').next().unwrap_or(version)
}

/// Adds the error answers among `which`, one per status, listing their codes.
fn errors(responses: &mut Map<String, Value>, which: &[WireError]) {
    let mut by_status: BTreeMap<u16, Vec<WireError>> = BTreeMap::new();
    for error in which {
        by_status.entry(error.status()).or_default().push(*error);
    }
    for (status, errors) in by_status {
        let codes: Vec<&str> = errors.iter().map(|e| e.code()).collect();
        let description: Vec<String> = errors
            .iter()
            .map(|e| format!("`{}`: {}", e.code(), e.meaning()))
            .collect();
        let outage: Vec<bool> = errors.iter().map(|e| e.is_outage()).collect();
        responses.insert(
            status.to_string(),
            json!({
                "description": description.join("; "),
                "x-cleave-outage": outage.iter().all(|o| *o),
                "content": { "application/json": { "schema": {
                    "allOf": [
                        { "$ref": "#/components/schemas/Error" },
                        { "properties": { "error": { "enum": codes } } },
                    ],
                } } },
            }),
        );
    }
}

fn error_schema() -> Value {
    json!({
        "type": "object",
        "required": ["error", "message"],
        "properties": {
            "error": { "type": "string", "description": "A stable code; see each answer's list." },
            "message": { "type": "string", "description": "For people; not stable." },
        },
    })
}

fn delivery_schema() -> Value {
    json!({
        "type": "object",
        "required": ["status"],
        "properties": { "status": { "type": "string", "enum": [wire::APPLIED, wire::DUPLICATE] } },
    })
}

/// The event envelope; for one event, its name and publisher fixed and its payload's schema.
fn envelope_schema(event: Option<(&str, &str)>, payload: Option<&str>) -> Value {
    let (name, publisher) = match event {
        Some((event, publisher)) => (json!({ "const": event }), json!({ "const": publisher })),
        None => (
            json!({ "type": "string", "description": "The event's wire name, `<publisher>.<name>`." }),
            json!({ "type": "string", "pattern": MODULE_NAME_PATTERN, "description": "The publishing module; must be the sender." }),
        ),
    };
    let payload = match payload {
        Some(key) => json!({ "$ref": format!("#/components/schemas/{key}") }),
        None => {
            json!({ "description": "The event, valid against the publisher's schema for `name`." })
        }
    };
    json!({
        "type": "object",
        "required": ["id", "name", "publisher", "published_at_ms", "payload"],
        "properties": {
            "id": {
                "type": "string", "format": "uuid", "pattern": cleave_contract::schema::UUID_PATTERN,
                "description": "Unique per published event, the same on every redelivery: the subscriber's inbox key.",
            },
            "name": name,
            "publisher": publisher,
            "published_at_ms": {
                "type": "integer", "format": "int64", "minimum": i64::MIN, "maximum": i64::MAX,
                "description": "Commit time of the publishing transaction, milliseconds since the Unix epoch.",
            },
            "payload": payload,
            "traceparent": {
                "type": ["string", "null"],
                "description": "W3C trace context of the publishing work; the delivery's header, when valid, takes precedence.",
            },
        },
    })
}

/// `schema` (a JSON Schema with its own `$defs`) made a component named `key`: its `$defs`
/// become components `key.Def`, references rewritten, `$schema` dropped.
fn hoist(schema: &Value, key: &str, schemas: &mut Map<String, Value>) -> Value {
    let mut schema = schema.clone();
    if let Value::Object(map) = &mut schema {
        map.remove("$schema");
        if let Some(Value::Object(defs)) = map.remove("$defs") {
            for (name, mut def) in defs {
                rewrite_refs(&mut def, key);
                schemas.insert(format!("{key}.{name}"), def);
            }
        }
    }
    rewrite_refs(&mut schema, key);
    schema
}

fn rewrite_refs(value: &mut Value, key: &str) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get_mut("$ref")
                && let Some(name) = reference.strip_prefix("#/$defs/")
            {
                *reference = format!("#/components/schemas/{key}.{name}");
            }
            map.values_mut().for_each(|v| rewrite_refs(v, key));
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rewrite_refs(v, key)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contracts() -> Vec<(&'static str, Value)> {
        vec![
            (
                "billing",
                json!({
                    "module": "billing", "version": "1.1",
                    "requests": { "billing.get_invoice": {
                        "idempotent": true,
                        "request": { "$schema": "x", "type": "object", "properties": { "line": { "$ref": "#/$defs/Line" } }, "$defs": { "Line": { "type": "object" } } },
                        "response": { "type": "object" },
                        "error": { "type": "object" },
                    } },
                    "events": { "billing.payment_captured": { "type": "object" } },
                    "subscribes": ["orders.order_placed"], "sends": [],
                }),
            ),
            (
                "orders",
                json!({
                    "module": "orders", "version": "1.0",
                    "requests": {},
                    "events": { "orders.order_placed": { "type": "object" } },
                    "subscribes": ["billing.payment_captured"], "sends": ["billing.get_invoice"],
                }),
            ),
        ]
    }

    #[test]
    fn requests_events_and_errors_are_described() {
        let doc = internal_openapi("demo", &contracts(), 1024);
        let call = &doc["paths"]["/_cleave/v1/requests/billing.get_invoice"]["post"];
        assert_eq!(call["x-cleave-idempotent"], true);
        assert_eq!(call["x-cleave-senders"], json!(["orders"]));
        assert_eq!(
            call["parameters"][1]["schema"]["pattern"],
            "^(?:billing/1)\\.(?:0|[1-9][0-9]{0,8})$"
        );
        assert_eq!(
            call["responses"]["403"]["content"]["application/json"]["schema"]["allOf"][1]["properties"]
                ["error"]["enum"],
            json!(["forbidden_sender"])
        );
        assert_eq!(call["responses"]["409"]["x-cleave-outage"], false);
        assert_eq!(call["responses"]["503"]["x-cleave-outage"], true);
        // `$defs` hoisted into components, references rewritten, `$schema` dropped.
        let schemas = &doc["components"]["schemas"];
        assert_eq!(
            schemas["billing.get_invoice.request"]["properties"]["line"]["$ref"],
            "#/components/schemas/billing.get_invoice.request.Line"
        );
        assert!(schemas["billing.get_invoice.request.Line"].is_object());
        assert!(
            schemas["billing.get_invoice.request"]
                .get("$schema")
                .is_none()
        );

        let intake = &doc["paths"]["/_cleave/v1/events/billing"]["post"];
        assert_eq!(
            intake["requestBody"]["content"]["application/json"]["schema"]["oneOf"][0]["$ref"],
            "#/components/schemas/orders.order_placed.envelope"
        );
        assert_eq!(
            intake["parameters"][1]["schema"]["pattern"],
            "^(?:orders/1)\\.(?:0|[1-9][0-9]{0,8})$"
        );
        assert_eq!(
            schemas["orders.order_placed.envelope"]["properties"]["publisher"]["const"],
            "orders"
        );
        assert!(doc["paths"]["/_cleave/v1/events/orders"].is_object());
        assert!(doc["paths"]["/health"]["get"]["security"] == json!([]));
    }

    /// The envelope's schema names exactly the fields the Rust envelope has, and requires
    /// those that are not optional.
    #[test]
    fn the_envelope_schema_matches_the_envelope_type() {
        let envelope = cleave::EventEnvelope {
            id: uuid::Uuid::nil(),
            name: "orders.order_placed".into(),
            publisher: "orders".into(),
            published_at_ms: 1,
            payload: serde_json::value::RawValue::from_string("{}".into()).unwrap(),
            traceparent: Some("00-x".into()),
        };
        let encoded = serde_json::to_value(&envelope).unwrap();
        let schema = envelope_schema(None, None);
        let mut fields: Vec<&String> = encoded.as_object().unwrap().keys().collect();
        let mut described: Vec<&String> =
            schema["properties"].as_object().unwrap().keys().collect();
        fields.sort();
        described.sort();
        assert_eq!(fields, described);
        let without_trace = serde_json::to_value(cleave::EventEnvelope {
            traceparent: None,
            ..envelope
        })
        .unwrap();
        let mut required: Vec<&str> = without_trace
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        required.sort_unstable();
        let mut documented: Vec<&str> = schema["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        documented.sort_unstable();
        assert_eq!(required, documented);
    }

    /// Every error the server answers with is named in the normative document.
    #[test]
    fn the_protocol_document_names_every_error() {
        let text = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/wire-protocol.md"),
        )
        .unwrap();
        for error in WireError::ALL {
            assert!(
                text.contains(&format!("`{}`", error.code())),
                "docs/wire-protocol.md does not name `{}` ({} {})",
                error.code(),
                error.status(),
                error.meaning()
            );
        }
    }
}
