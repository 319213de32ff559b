//! The HTTP edge: one error shape for every route, `{"error": code, "message": text}`, and the
//! extractor configuration that turns malformed input into that shape.

use std::future::Future;
use std::time::Instant;

use actix_web::dev::{Service, ServiceRequest, ServiceResponse};
use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::header::HeaderValue;
use tracing::Instrument;

use crate::metrics::Metrics;
use crate::trace::{TRACEPARENT, TraceContext, in_trace, link_span};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use cleave_contract::CallError;
use serde::Serialize;

/// Largest JSON body the public API accepts.
pub const JSON_BODY_LIMIT: usize = 64 * 1024;

/// An error answer of the public API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code, e.g. `unknown_sku`.
    pub code: &'static str,
    /// Human-readable explanation.
    pub message: String,
}

#[derive(Serialize)]
struct ErrorJson<'a> {
    error: &'a str,
    message: &'a str,
}

/// The body of every error answer of the public API, for OpenAPI documents.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code, e.g. `unknown_sku`.
    pub error: String,
    /// What went wrong, for people.
    pub message: String,
}

/// The OpenAPI document of a module without public routes.
pub fn no_routes() -> utoipa::openapi::OpenApi {
    utoipa::openapi::OpenApi::default()
}

impl ApiError {
    /// An error with any status.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400: the request could not be read.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 404: the thing asked for does not exist.
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    /// 409: the request conflicts with the current state.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    /// 422: well-formed but semantically invalid.
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    /// 500: something broke on our side; the details go to the log, not to the client.
    pub fn internal(context: &str, error: impl std::fmt::Display) -> Self {
        tracing::error!(error = %error, "{context}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("{context}; see the server log"),
        )
    }

    /// Maps a failed bus call: the domain error through `domain`, delivery failures to 503
    /// (or 502 for an undecodable answer), so a module that is down is reported as such.
    pub fn from_call<E: std::fmt::Display>(
        error: CallError<E>,
        domain: impl FnOnce(E) -> ApiError,
    ) -> ApiError {
        match error {
            CallError::Domain(e) => domain(e),
            CallError::BadPayload { request, message } => Self::new(
                StatusCode::BAD_GATEWAY,
                "bad_gateway",
                format!("`{request}` answered with an unreadable message: {message}"),
            ),
            other => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                other.to_string(),
            ),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status).json(ErrorJson {
            error: self.code,
            message: &self.message,
        })
    }
}

fn json_error(error: JsonPayloadError, _: &HttpRequest) -> actix_web::Error {
    let api = match &error {
        JsonPayloadError::ContentType => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "the body must be JSON with `Content-Type: application/json`",
        ),
        JsonPayloadError::Overflow { limit }
        | JsonPayloadError::OverflowKnownLength { limit, .. } => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the body is larger than {limit} bytes"),
        ),
        JsonPayloadError::Deserialize(e) if e.is_data() => ApiError::invalid(
            "invalid_body",
            format!("the body does not fit: {}", echo(&e.to_string())),
        ),
        JsonPayloadError::Deserialize(e) => ApiError::bad_request(
            "malformed_json",
            format!("the body is not valid JSON: {}", echo(&e.to_string())),
        ),
        JsonPayloadError::Payload(e) if is_body_timeout(e) => body_timeout_error(),
        _ => ApiError::bad_request("bad_body", "the body could not be read"),
    };
    api.into()
}

/// How long a request body may pause between two chunks before the request ends with 408
/// `body_timeout` (app data read by [`body_timeout`]).
#[derive(Debug, Clone, Copy)]
pub struct BodyTimeout(pub std::time::Duration);

/// Middleware (for `actix_web::middleware::from_fn`): a client that stops sending its body
/// (fewer bytes than its `Content-Length`, or a chunked body that stalls) gets 408
/// `body_timeout` after [`BodyTimeout`] instead of holding the connection and a worker forever.
pub async fn body_timeout(
    mut request: ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    // Only a request that announces a body can stall in it; the rest keep their payload as is.
    let headers = request.headers();
    let announces_body = match headers.get(actix_web::http::header::CONTENT_LENGTH) {
        Some(length) => length.to_str().ok() != Some("0"),
        None => headers.contains_key(actix_web::http::header::TRANSFER_ENCODING),
    };
    if announces_body && let Some(BodyTimeout(limit)) = request.app_data::<BodyTimeout>().copied() {
        use actix_web::HttpMessage as _;
        use futures_util::StreamExt;
        let payload = request.take_payload();
        let timed = futures_util::stream::unfold(Some(payload), move |state| async move {
            let mut payload = state?;
            match tokio::time::timeout(limit, payload.next()).await {
                Ok(Some(chunk)) => Some((chunk, Some(payload))),
                Ok(None) => None,
                Err(_) => Some((
                    Err(actix_web::error::PayloadError::Io(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("no body bytes for {} ms", limit.as_millis()),
                    ))),
                    None,
                )),
            }
        });
        request.set_payload(actix_web::dev::Payload::from(Box::pin(timed)
            as std::pin::Pin<
                Box<
                    dyn futures_util::Stream<
                            Item = Result<web::Bytes, actix_web::error::PayloadError>,
                        >,
                >,
            >));
    }
    next.call(request).await
}

/// Whether reading a body failed because it stopped arriving (see [`body_timeout`]).
pub fn is_body_timeout(error: &actix_web::error::PayloadError) -> bool {
    matches!(error, actix_web::error::PayloadError::Io(e) if e.kind() == std::io::ErrorKind::TimedOut)
}

/// The 408 answer for a body that stopped arriving.
pub fn body_timeout_error() -> ApiError {
    ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        "body_timeout",
        "the request body stopped arriving before its end",
    )
}

// The messages below name the input's problem in the application's words, without the web
// framework's own wording (`Path deserialize error: …`) and with quoted input cut short.

fn path_error(error: PathError, _: &HttpRequest) -> actix_web::Error {
    let message = match &error {
        PathError::Deserialize(e) => {
            format!("a path segment is not valid: {}", echo(&e.to_string()))
        }
        _ => "the path is not valid".to_string(),
    };
    ApiError::bad_request("invalid_path", message).into()
}

fn query_error(error: QueryPayloadError, _: &HttpRequest) -> actix_web::Error {
    let message = match &error {
        QueryPayloadError::Deserialize(e) => {
            format!("the query string is not valid: {}", echo(&e.to_string()))
        }
        _ => "the query string is not valid".to_string(),
    };
    ApiError::bad_request("invalid_query", message).into()
}

/// Installs the error shape on the JSON, path and query extractors of an app.
pub fn configure_extractors(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        web::JsonConfig::default()
            .limit(JSON_BODY_LIMIT)
            .error_handler(json_error),
    )
    .app_data(web::PathConfig::default().error_handler(path_error))
    .app_data(web::QueryConfig::default().error_handler(query_error));
}

/// Middleware (for `App::wrap_fn`) that runs each request in a trace: the one its
/// `traceparent` header continues, or a new one. The response carries the `traceparent` the
/// request ran under, so a client can find its trace. When the app holds a [`Metrics`] as app
/// data, each request is counted and timed by method, route pattern and status, and the bus
/// requests and events it caused are counted by route ([`crate::metrics::ROUTE_MESSAGES`]).
pub fn trace_request<S, B>(
    request: ServiceRequest,
    service: &S,
) -> impl Future<Output = Result<ServiceResponse<B>, actix_web::Error>> + use<S, B>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
{
    let header = request
        .headers()
        .get(TRACEPARENT)
        .and_then(|v| v.to_str().ok());
    let context = TraceContext::continue_or_start(header);
    // The route pattern, not the path, labels the metrics: `/api/orders/{id}` is one series.
    let route = request
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_string());
    let method = method_label(request.method());
    let span = tracing::info_span!(
        "http_request",
        method = method,
        path = %echo(request.path()),
        route = %route,
        trace_id = %context.trace_id,
    );
    link_span(&span, &context);
    let metrics = request.app_data::<Metrics>().cloned();
    let traceparent = HeaderValue::from_str(&context.header());
    let started = Instant::now();
    let response = service.call(request);
    async move {
        // The bus requests and events this request causes are counted per route: the fan-out
        // an extraction would turn into network hops (see `crate::traffic`).
        let (result, caused) =
            crate::traffic::scope(in_trace(context, response.instrument(span))).await;
        if let Some(metrics) = metrics {
            let status = match &result {
                Ok(response) => response.status(),
                Err(error) => error.as_response_error().status_code(),
            };
            metrics.http_request(method, &route, status.as_u16(), started.elapsed());
            if !caused.is_empty() {
                metrics.route_messages(method, &route, &caused);
            }
        }
        let mut response = result?;
        if let Ok(value) = traceparent {
            response.headers_mut().insert(
                actix_web::http::header::HeaderName::from_static(TRACEPARENT),
                value,
            );
        }
        Ok(response)
    }
}

/// The methods each route pattern of a listener answers (as app data), so that a known path
/// asked with another method gets 405 with `Allow` rather than 404.
#[derive(Clone, Default)]
pub struct KnownRoutes(std::sync::Arc<Vec<(actix_web::dev::ResourceDef, Vec<String>)>>);

impl KnownRoutes {
    /// From `(pattern, methods)` pairs, e.g. `("/api/orders/{id}", ["GET"])`.
    pub fn new(routes: impl IntoIterator<Item = (String, Vec<String>)>) -> Self {
        KnownRoutes(std::sync::Arc::new(
            routes
                .into_iter()
                .map(|(pattern, methods)| (actix_web::dev::ResourceDef::new(pattern), methods))
                .collect(),
        ))
    }

    /// The methods `path` answers, in `Allow` form (`GET, PUT`), if any route matches it.
    pub fn allowed(&self, path: &str) -> Option<String> {
        let mut methods: Vec<&str> = self
            .0
            .iter()
            .filter(|(pattern, _)| pattern.is_match(path))
            .flat_map(|(_, methods)| methods.iter().map(String::as_str))
            .collect();
        methods.sort_unstable();
        methods.dedup();
        (!methods.is_empty()).then(|| methods.join(", "))
    }
}

/// The answer for a route that does not exist: 405 with `Allow` when the path exists with other
/// methods (see [`KnownRoutes`]), else 404.
pub async fn not_found(request: HttpRequest) -> HttpResponse {
    if let Some(allowed) = request
        .app_data::<KnownRoutes>()
        .and_then(|known| known.allowed(request.path()))
    {
        let mut response = ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!(
                "{} is not allowed on {}; allowed: {allowed}",
                method_label(request.method()),
                echo(request.path())
            ),
        )
        .error_response();
        if let Ok(value) = HeaderValue::from_str(&allowed) {
            response
                .headers_mut()
                .insert(actix_web::http::header::ALLOW, value);
        }
        return response;
    }
    ApiError::not_found(
        "no_route",
        format!(
            "no route for {} {}",
            method_label(request.method()),
            echo(request.path())
        ),
    )
    .error_response()
}

/// The method as a metrics label and in logs: one of the standard methods, else `other`, so
/// a client inventing method names cannot grow the label set (or the log line) without bound.
pub fn method_label(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "other",
    }
}

/// Input quoted back in an error message or a log line: at most 100 characters, then `…`.
pub fn echo(input: &str) -> std::borrow::Cow<'_, str> {
    cleave_contract::value::quote(input)
}

/// The OpenAPI schema of a string value type, from the same rule that checks it (pattern,
/// `minLength`, `maxLength`, description, example): for `#[schema(schema_with = …)]` and
/// `#[param(schema_with = …)]`, e.g. `schema_with = cleave::http::value_schema::<Sku>`.
pub fn value_schema<T: cleave_contract::value::StringValue>() -> utoipa::openapi::schema::Object {
    rule_schema(T::rule())
}

/// The OpenAPI schema of a [`StringRule`](cleave_contract::value::StringRule).
pub fn rule_schema(rule: &cleave_contract::value::StringRule) -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(rule.min_chars))
        .max_length(Some(rule.max_chars))
        .pattern(Some(rule.pattern))
        .description(Some(rule.description()))
        .examples([rule.example])
        .build()
}

/// A parameter (path, query or header) whose schema is a value type's rule, for a hand-written
/// `utoipa::IntoParams` (the derive drops `required` and the description of a field with
/// `schema_with`).
pub fn value_parameter<T: cleave_contract::value::StringValue>(
    name: &str,
    location: utoipa::openapi::path::ParameterIn,
    required: bool,
    description: &str,
) -> utoipa::openapi::path::Parameter {
    rule_parameter(T::rule(), name, location, required, description)
}

/// A parameter whose schema is `rule` (see [`value_parameter`]).
pub fn rule_parameter(
    rule: &cleave_contract::value::StringRule,
    name: &str,
    location: utoipa::openapi::path::ParameterIn,
    required: bool,
    description: &str,
) -> utoipa::openapi::path::Parameter {
    use utoipa::openapi::Required;
    utoipa::openapi::path::ParameterBuilder::new()
        .name(name)
        .parameter_in(location)
        .required(if required {
            Required::True
        } else {
            Required::False
        })
        .description(Some(description))
        .schema(Some(rule_schema(rule)))
        .build()
}

/// Reads a JSON integer into `T`, for `#[serde(deserialize_with = "cleave::http::integer")]`:
/// an integral number written with a fraction or an exponent (`3.0`, `1e3`) is an integer, as
/// JSON Schema's `type: integer` says, so the document and the server agree. A fractional part,
/// or a value out of `T`'s range, is refused (422 `invalid_body`).
pub fn integer<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<i128>,
{
    use serde::Deserialize as _;
    use serde::de::Error as _;
    let number = serde_json::Number::deserialize(deserializer)?;
    let whole: i128 = if let Some(i) = number.as_i64() {
        i128::from(i)
    } else if let Some(u) = number.as_u64() {
        i128::from(u)
    } else {
        match number.as_f64() {
            // Beyond 2^64 no target type holds it anyway; the cast is exact below that.
            Some(f) if f.fract() == 0.0 && f.abs() < 1.9e19 => f as i128,
            _ => {
                return Err(D::Error::custom(format!(
                    "expected an integer, got {number}"
                )));
            }
        }
    };
    T::try_from(whole).map_err(|_| D::Error::custom(format!("{whole} is out of range")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn known_paths_name_their_methods() {
        let known = super::KnownRoutes::new([
            ("/api/orders".to_string(), vec!["POST".to_string()]),
            ("/api/orders/{id}".to_string(), vec!["GET".to_string()]),
            (
                "/api/stock/{sku}".to_string(),
                vec!["PUT".to_string(), "GET".to_string()],
            ),
        ]);
        assert_eq!(known.allowed("/api/orders").as_deref(), Some("POST"));
        assert_eq!(known.allowed("/api/orders/42").as_deref(), Some("GET"));
        assert_eq!(known.allowed("/api/stock/A").as_deref(), Some("GET, PUT"));
        assert_eq!(known.allowed("/api/nowhere"), None);
    }

    #[test]
    fn integers_may_be_written_as_integral_numbers() {
        #[derive(serde::Deserialize)]
        struct Body {
            #[serde(deserialize_with = "super::integer")]
            n: u32,
        }
        let n = |json: &str| serde_json::from_str::<Body>(json).map(|b| b.n);
        assert_eq!(n(r#"{"n": 7}"#).unwrap(), 7);
        assert_eq!(n(r#"{"n": 7.0}"#).unwrap(), 7);
        assert_eq!(n(r#"{"n": 4294967295.0}"#).unwrap(), u32::MAX);
        assert_eq!(n(r#"{"n": 1e3}"#).unwrap(), 1000);
        for bad in [
            r#"{"n": 7.5}"#,
            r#"{"n": -1}"#,
            r#"{"n": 4294967296}"#,
            r#"{"n": 1e300}"#,
            r#"{"n": "7"}"#,
        ] {
            assert!(n(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn invented_methods_are_one_label_and_echoed_input_is_bounded() {
        use actix_web::http::Method;
        assert_eq!(super::method_label(&Method::GET), "GET");
        let invented = Method::from_bytes("X".repeat(20_000).as_bytes()).unwrap();
        assert_eq!(super::method_label(&invented), "other");
        assert_eq!(super::echo("/api/x"), "/api/x");
        let long = "a".repeat(60_000);
        let echoed = super::echo(&long);
        assert!(
            echoed.len() < 130 && echoed.ends_with("(60000 bytes)"),
            "{echoed}"
        );
    }
}
