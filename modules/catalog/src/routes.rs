//! Public HTTP routes of the catalog.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use cleave::http::{ApiError, ErrorBody};
use cleave::idempotency::Idempotency;
use sea_orm::ActiveValue::Set;
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::OnConflict;
use serde::{Deserialize, Serialize};

use catalog_api::{ProductName, Sku};

use crate::product;

pub(crate) struct CatalogState {
    db: cleave::Database,
}

impl CatalogState {
    pub(crate) fn new(context: &crate::Context) -> Self {
        CatalogState {
            db: context.db.clone(),
        }
    }
}

/// Most cents a product may cost: 10^12, so that no order total (100 lines of 10 000 units)
/// can overflow.
pub(crate) const MAX_PRICE_CENTS: i64 = 1_000_000_000_000;

/// The body of `POST /api/catalog/products`. Fields are read as plain strings and checked with
/// their value type's rule, so each answers with its own code (`invalid_sku`, `invalid_name`).
#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct NewProduct {
    #[schema(schema_with = cleave::http::value_schema::<Sku>)]
    sku: String,
    #[schema(schema_with = cleave::http::value_schema::<ProductName>)]
    name: String,
    /// Unit price in cents, 0 to 10^12.
    #[schema(minimum = 0, maximum = 1_000_000_000_000_i64, format = Int64)]
    #[serde(deserialize_with = "cleave::http::integer")]
    price_cents: i64,
}

/// The SKU of a path, documented with the SKU rule.
#[derive(Deserialize)]
pub(crate) struct SkuPath {
    sku: String,
}

/// Written by hand: the derive drops `required` and the description of a `schema_with` field.
impl utoipa::IntoParams for SkuPath {
    fn into_params(
        _: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        vec![cleave::http::value_parameter::<Sku>(
            "sku",
            utoipa::openapi::path::ParameterIn::Path,
            true,
            "Stock keeping unit",
        )]
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ProductBody {
    sku: String,
    name: String,
    price_cents: i64,
}

impl From<product::Model> for ProductBody {
    fn from(p: product::Model) -> Self {
        ProductBody {
            sku: p.sku,
            name: p.name,
            price_cents: p.price_cents,
        }
    }
}

/// `POST /api/catalog/products`: 201 with the product, 409 if the SKU exists.
#[utoipa::path(
    post,
    path = "/api/catalog/products",
    tag = "catalog",
    request_body = NewProduct,
    params(cleave::idempotency::KeyHeader),
    responses(
        (status = 201, description = "The product was created", body = ProductBody),
        (status = 400, description = "The body is not JSON (`malformed_json`), or a malformed Idempotency-Key (`invalid_idempotency_key`)", body = ErrorBody),
        (status = 409, description = "A product with this SKU exists (`sku_exists`), or another request with this Idempotency-Key was accepted first (`idempotency_key_in_use`)", body = ErrorBody),
        (status = 422, description = "Invalid SKU (`invalid_sku`), name (`invalid_name`) or price (`invalid_price`); a body that does not fit the schema (`invalid_body`); or this Idempotency-Key was used for a different request (`idempotency_key_reused`)", body = ErrorBody),
    )
)]
pub(crate) async fn create_product(
    state: web::Data<CatalogState>,
    idempotency: Idempotency,
    body: web::Json<NewProduct>,
) -> Result<HttpResponse, ApiError> {
    let NewProduct {
        sku,
        name,
        price_cents,
    } = body.into_inner();
    let sku = Sku::try_from(sku)
        .map_err(|e| ApiError::invalid("invalid_sku", e.message))?
        .into_string();
    let name = ProductName::try_from(name)
        .map_err(|e| ApiError::invalid("invalid_name", e.message))?
        .stored()
        .to_string();
    if !(0..=MAX_PRICE_CENTS).contains(&price_cents) {
        return Err(ApiError::invalid(
            "invalid_price",
            format!("price_cents is 0 to {MAX_PRICE_CENTS}, got {price_cents}"),
        ));
    }
    let row = product::ActiveModel {
        sku: Set(sku.clone()),
        name: Set(name.clone()),
        price_cents: Set(price_cents),
        created_at: Set(chrono::Utc::now()),
    };
    let failed = |e: DbErr| ApiError::internal("cannot store the product", e);
    let tx = state.db.write().await.map_err(failed)?;
    let inserted = product::Entity::insert(row)
        .on_conflict(
            OnConflict::column(product::Column::Sku)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(&tx)
        .await
        .map_err(failed)?;
    if inserted == 0 {
        return Err(ApiError::conflict(
            "sku_exists",
            format!("a product with SKU `{sku}` already exists"),
        ));
    }
    let location = format!("/api/catalog/products/{sku}");
    let body = serde_json::json!(ProductBody {
        sku,
        name,
        price_cents,
    });
    idempotency
        .remember(&tx, StatusCode::CREATED, &body, Some(&location))
        .await?;
    tx.commit().await.map_err(failed)?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", location))
        .json(body))
}

/// `GET /api/catalog/products/{sku}`.
#[utoipa::path(
    get,
    path = "/api/catalog/products/{sku}",
    tag = "catalog",
    params(SkuPath),
    responses(
        (status = 200, description = "The product", body = ProductBody),
        (status = 404, description = "No such product (`product_not_found`)", body = ErrorBody),
    )
)]
pub(crate) async fn get_product(
    state: web::Data<CatalogState>,
    path: web::Path<SkuPath>,
) -> Result<HttpResponse, ApiError> {
    let sku = path.into_inner().sku;
    let found = product::Entity::find_by_id(sku.clone())
        .one(state.db.read())
        .await
        .map_err(|e| ApiError::internal("cannot read the product", e))?;
    match found {
        Some(p) => Ok(HttpResponse::Ok().json(ProductBody::from(p))),
        None => Err(ApiError::not_found(
            "product_not_found",
            format!("no product with SKU `{sku}`"),
        )),
    }
}
