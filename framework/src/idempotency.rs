//! Idempotent commands over HTTP: a client that did not get an answer sends the same request
//! again with the same `Idempotency-Key` header, and gets the first answer instead of a second
//! effect.
//!
//! Two halves. The [`middleware`] (installed on the public API) looks the key up before the
//! route runs: a known key with the same request replays the stored answer (header
//! `Idempotent-Replayed: true`); a known key with another request is refused (422
//! `idempotency_key_reused`). A route that supports keys takes an [`Idempotency`] and calls
//! [`Idempotency::remember`] inside the transaction that makes its change, so the answer is
//! stored atomically with the effect: a crash either keeps both or neither. Only successful
//! answers are remembered; a refused request changed nothing and may simply be sent again.
//! Keys are kept `outbox.retain_idempotency_s` (retention removes older ones).

use std::future::{Ready, ready};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError, web};
use futures_util::StreamExt;
use sea_orm::entity::prelude::*;
use sea_orm::{ActiveValue::Set, ConnectionTrait};
use sha2::{Digest, Sha256};

use crate::db::{Database, Tx};
use crate::http::{ApiError, JSON_BODY_LIMIT};

/// The request header carrying the key.
pub const HEADER: &str = "idempotency-key";
/// The response header marking a replayed answer.
pub const REPLAYED: &str = "idempotent-replayed";
/// The longest key accepted.
pub const MAX_KEY_LEN: usize = 255;

/// The rule of a key: the check of the middleware and the schema of the document.
pub static KEY_RULE: cleave_contract::value::StringRule = cleave_contract::value::StringRule::new(
    "an Idempotency-Key",
    "visible ASCII characters only",
    1,
    MAX_KEY_LEN,
    r"^[\x21-\x7e]+$",
    "order-2024-0001",
);

/// The `Idempotency-Key` header of a route that supports it, for its OpenAPI document:
/// `params(cleave::idempotency::KeyHeader)` in `#[utoipa::path]`.
pub struct KeyHeader;

impl utoipa::IntoParams for KeyHeader {
    fn into_params(
        _: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        vec![crate::http::rule_parameter(
            &KEY_RULE,
            "Idempotency-Key",
            utoipa::openapi::path::ParameterIn::Header,
            false,
            "Makes a retry safe: a request sent again with the same key gets the first answer, \
             with `Idempotent-Replayed: true`, and no second effect; the same key with another \
             body is 422 `idempotency_key_reused`; a malformed key is 400 \
             `invalid_idempotency_key`. Kept 24 hours.",
        )]
    }
}

/// The `cleave_idempotency` table: the answer of each key, per route.
pub mod entry {
    use sea_orm::entity::prelude::*;

    /// The stored answer of one key.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "cleave_idempotency")]
    pub struct Model {
        /// `METHOD /route/pattern`.
        #[sea_orm(primary_key, auto_increment = false)]
        pub scope: String,
        /// The client's key.
        #[sea_orm(primary_key, auto_increment = false)]
        pub idempotency_key: String,
        /// SHA-256 of the path and body of the first request, hex.
        pub request_hash: String,
        /// The answer's status.
        pub status: i32,
        /// The answer's JSON body.
        pub body: String,
        /// The answer's `Location` header, if any.
        pub location: Option<String>,
        /// When it was stored, ms since the epoch.
        pub created_at_ms: i64,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A request's key, as the middleware found it (no stored answer yet).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Key {
    scope: String,
    key: String,
    hash: String,
}

/// What a route that supports `Idempotency-Key` receives: the key of this request, if the
/// client sent one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Idempotency(Option<Key>);

impl Idempotency {
    /// Whether the client sent a key.
    pub fn is_keyed(&self) -> bool {
        self.0.is_some()
    }

    /// Stores `status` and `body` (and `location`) as this request's answer, inside `tx`, the
    /// transaction that makes the request's change. Without a key it does nothing. When a
    /// request with the same key committed first (two sent at once), it fails with 409
    /// `idempotency_key_in_use`, and `tx` should be dropped: the client's retry gets the first
    /// answer.
    pub async fn remember(
        &self,
        tx: &Tx,
        status: StatusCode,
        body: &serde_json::Value,
        location: Option<&str>,
    ) -> Result<(), ApiError> {
        let Some(key) = &self.0 else {
            return Ok(());
        };
        let row = entry::ActiveModel {
            scope: Set(key.scope.clone()),
            idempotency_key: Set(key.key.clone()),
            request_hash: Set(key.hash.clone()),
            status: Set(i32::from(status.as_u16())),
            body: Set(body.to_string()),
            location: Set(location.map(str::to_string)),
            created_at_ms: Set(crate::outbox::now_ms()),
        };
        match entry::Entity::insert(row).exec_without_returning(tx).await {
            Ok(_) => Ok(()),
            Err(e)
                if matches!(
                    e.sql_err(),
                    Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
                ) =>
            {
                Err(ApiError::conflict(
                    "idempotency_key_in_use",
                    "another request with this Idempotency-Key was accepted first; send this one again to get its answer",
                ))
            }
            Err(e) => Err(ApiError::internal("cannot store the idempotency key", e)),
        }
    }
}

impl FromRequest for Idempotency {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Idempotency(request.extensions().get::<Key>().cloned())))
    }
}

fn valid_key(value: &HeaderValue) -> Option<String> {
    let key = value.to_str().ok()?;
    KEY_RULE.check(key).ok()?;
    Some(key.to_string())
}

/// Middleware (for `App::wrap(from_fn(idempotency::middleware))`) that answers a POST whose
/// `Idempotency-Key` is known from the stored answer, and hands the key of a new one to its
/// route. Needs the process's [`Database`] as `web::Data`.
pub async fn middleware(
    mut request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(header) = request.headers().get(HEADER).cloned() else {
        return Ok(next.call(request).await?.map_into_boxed_body());
    };
    if request.method() != actix_web::http::Method::POST {
        return Ok(next.call(request).await?.map_into_boxed_body());
    }
    let Some(key) = valid_key(&header) else {
        let error = ApiError::bad_request(
            "invalid_idempotency_key",
            format!("Idempotency-Key must be 1 to {MAX_KEY_LEN} visible ASCII characters"),
        );
        return Ok(request.into_response(error.error_response()));
    };
    let Some(db) = request.app_data::<web::Data<Database>>().cloned() else {
        return Ok(next.call(request).await?.map_into_boxed_body());
    };
    let scope = format!(
        "{} {}",
        request.method(),
        request
            .match_pattern()
            .unwrap_or_else(|| request.path().to_string())
    );
    // The body, read once (bounded like every JSON body) and put back for the route.
    let mut payload = request.take_payload();
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk?;
        if body.len() + chunk.len() > JSON_BODY_LIMIT {
            let error = ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("the body is larger than {JSON_BODY_LIMIT} bytes"),
            );
            return Ok(request.into_response(error.error_response()));
        }
        body.extend_from_slice(&chunk);
    }
    let body = body.freeze();
    let mut digest = Sha256::new();
    digest.update(request.path().as_bytes());
    digest.update(b"\n");
    digest.update(&body);
    let hash: String = digest
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let stored = entry::Entity::find_by_id((scope.clone(), key.clone()))
        .one(db.read())
        .await
        .map_err(|e| ApiError::internal("cannot read the idempotency keys", e))?;
    if let Some(stored) = stored {
        if stored.request_hash != hash {
            let error = ApiError::invalid(
                "idempotency_key_reused",
                "this Idempotency-Key was used for a different request; use a new key for a new request",
            );
            return Ok(request.into_response(error.error_response()));
        }
        let status = StatusCode::from_u16(u16::try_from(stored.status).unwrap_or(200))
            .unwrap_or(StatusCode::OK);
        let mut answer = HttpResponse::build(status);
        answer
            .content_type("application/json")
            .insert_header((HeaderName::from_static(REPLAYED), "true"));
        if let Some(location) = stored.location {
            answer.insert_header(("location", location));
        }
        return Ok(request.into_response(answer.body(stored.body)));
    }
    request.set_payload(Payload::from(body));
    request.extensions_mut().insert(Key { scope, key, hash });
    Ok(next.call(request).await?.map_into_boxed_body())
}

/// Deletes keys older than `before_ms`, in batches; how many.
pub async fn purge(db: &Database, before_ms: i64) -> Result<u64, DbErr> {
    let mut removed = 0;
    loop {
        let tx = db.write().await?;
        let old = sea_orm::sea_query::Query::select()
            .column(entry::Column::IdempotencyKey)
            .from(entry::Entity)
            .and_where(entry::Column::CreatedAtMs.lt(before_ms))
            .limit(1_000)
            .to_owned();
        let delete = sea_orm::sea_query::Query::delete()
            .from_table(entry::Entity)
            .and_where(entry::Column::IdempotencyKey.in_subquery(old))
            .and_where(entry::Column::CreatedAtMs.lt(before_ms))
            .to_owned();
        let n = tx.execute(&delete).await?.rows_affected();
        tx.commit().await?;
        removed += n;
        if n < 1_000 {
            return Ok(removed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_visible_ascii_and_bounded() {
        assert_eq!(
            valid_key(&HeaderValue::from_static("order-7f3a")).as_deref(),
            Some("order-7f3a")
        );
        assert_eq!(valid_key(&HeaderValue::from_static("")), None);
        assert_eq!(valid_key(&HeaderValue::from_static("a b")), None);
        let long = "k".repeat(MAX_KEY_LEN + 1);
        assert_eq!(valid_key(&HeaderValue::from_str(&long).unwrap()), None);
    }
}
