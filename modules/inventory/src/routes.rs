//! Public HTTP routes of the inventory.

use actix_web::{HttpResponse, web};
use catalog_api::{CatalogError, GetPrices, Sku};
use cleave::http::{ApiError, ErrorBody};
use sea_orm::ActiveValue::Set;
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::{Expr, OnConflict};
use serde::{Deserialize, Serialize};

use crate::stock::level;

pub(crate) struct InventoryState {
    db: cleave::Database,
    bus: crate::Bus,
}

impl InventoryState {
    pub(crate) fn new(context: &crate::Context) -> Self {
        InventoryState {
            db: context.db.clone(),
            bus: context.bus.clone(),
        }
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct SetStock {
    /// Units on hand, 0 to 4 294 967 295.
    #[schema(minimum = 0, maximum = 4_294_967_295_i64, format = Int64)]
    #[serde(deserialize_with = "cleave::http::integer")]
    quantity: u32,
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
pub(crate) struct StockBody {
    sku: String,
    on_hand: i64,
    reserved: i64,
    available: i64,
}

impl From<level::Model> for StockBody {
    fn from(s: level::Model) -> Self {
        StockBody {
            available: s.on_hand - s.reserved,
            sku: s.sku,
            on_hand: s.on_hand,
            reserved: s.reserved,
        }
    }
}

/// Refuses a SKU that breaks the SKU rule (422 `invalid_sku`) or that the catalog does not know
/// (404 `unknown_product`): stock exists only for products. Asks the catalog over the bus, before
/// any write transaction is open.
async fn known_product(state: &InventoryState, sku: String) -> Result<String, ApiError> {
    let sku = Sku::try_from(sku)
        .map_err(|e| ApiError::invalid("invalid_sku", e.message))?
        .into_string();
    state
        .bus
        .call(GetPrices {
            skus: vec![sku.clone()],
        })
        .await
        .map_err(|e| {
            ApiError::from_call(e, |CatalogError::UnknownSkus { .. }| {
                ApiError::not_found(
                    "unknown_product",
                    format!("the catalog has no product with SKU `{sku}`; create it first"),
                )
            })
        })?;
    Ok(sku)
}

/// `PUT /api/inventory/stock/{sku}`: sets the units on hand; 409 below what is reserved.
#[utoipa::path(
    put,
    path = "/api/inventory/stock/{sku}",
    tag = "inventory",
    params(SkuPath),
    request_body = SetStock,
    responses(
        (status = 200, description = "The stock level", body = StockBody),
        (status = 400, description = "The body is not JSON (`malformed_json`)", body = ErrorBody),
        (status = 404, description = "The catalog has no product with this SKU (`unknown_product`)", body = ErrorBody),
        (status = 409, description = "Below what is reserved (`below_reserved`)", body = ErrorBody),
        (status = 422, description = "Invalid quantity (`invalid_body`) or SKU (`invalid_sku`)", body = ErrorBody),
        (status = 503, description = "The catalog is unavailable (`unavailable`)", body = ErrorBody),
        (status = 502, description = "The catalog answered with a message that could not be decoded (`bad_gateway`)", body = ErrorBody),
    )
)]
pub(crate) async fn set_stock(
    state: web::Data<InventoryState>,
    path: web::Path<SkuPath>,
    body: web::Json<SetStock>,
) -> Result<HttpResponse, ApiError> {
    let sku = known_product(&state, path.into_inner().sku).await?;
    let quantity = i64::from(body.quantity);
    let failed = |e: DbErr| ApiError::internal("cannot store the stock level", e);
    let txn = state.db.write().await.map_err(failed)?;
    let updated = level::Entity::update_many()
        .col_expr(level::Column::OnHand, Expr::value(quantity))
        .filter(level::Column::Sku.eq(sku.as_str()))
        .filter(level::Column::Reserved.lte(quantity))
        .exec(&txn)
        .await
        .map_err(failed)?
        .rows_affected;
    if updated == 0 {
        let inserted = level::Entity::insert(level::ActiveModel {
            sku: Set(sku.clone()),
            on_hand: Set(quantity),
            reserved: Set(0),
        })
        .on_conflict(
            OnConflict::column(level::Column::Sku)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(&txn)
        .await
        .map_err(failed)?;
        if inserted == 0 {
            let reserved = level::Entity::find_by_id(sku.clone())
                .one(&txn)
                .await
                .map_err(failed)?
                .map(|s| s.reserved)
                .unwrap_or(0);
            txn.rollback().await.map_err(failed)?;
            return Err(ApiError::conflict(
                "below_reserved",
                format!("{reserved} units of `{sku}` are reserved; stock cannot go below that"),
            ));
        }
    }
    let level = level::Entity::find_by_id(sku.clone())
        .one(&txn)
        .await
        .map_err(failed)?
        .ok_or_else(|| ApiError::internal("stock level vanished", &sku))?;
    txn.commit().await.map_err(failed)?;
    Ok(HttpResponse::Ok().json(StockBody::from(level)))
}

/// `GET /api/inventory/stock/{sku}`.
#[utoipa::path(
    get,
    path = "/api/inventory/stock/{sku}",
    tag = "inventory",
    params(SkuPath),
    responses(
        (status = 200, description = "The stock level", body = StockBody),
        (status = 404, description = "No stock for this SKU (`stock_not_found`)", body = ErrorBody),
    )
)]
pub(crate) async fn get_stock(
    state: web::Data<InventoryState>,
    path: web::Path<SkuPath>,
) -> Result<HttpResponse, ApiError> {
    let sku = path.into_inner().sku;
    let level = level::Entity::find_by_id(sku.clone())
        .one(state.db.read())
        .await
        .map_err(|e| ApiError::internal("cannot read the stock level", e))?
        .ok_or_else(|| ApiError::not_found("stock_not_found", format!("no stock for `{sku}`")))?;
    Ok(HttpResponse::Ok().json(StockBody::from(level)))
}
