//! Public HTTP routes of the inventory.

use actix_web::{HttpResponse, web};
use cleave::http::{ApiError, ErrorBody};
use sea_orm::ActiveValue::Set;
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::{Expr, OnConflict};
use serde::{Deserialize, Serialize};

use crate::stock::level;

pub(crate) struct InventoryState {
    db: cleave::Database,
}

impl InventoryState {
    pub(crate) fn new(context: &crate::Context) -> Self {
        InventoryState {
            db: context.db.clone(),
        }
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct SetStock {
    quantity: u32,
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

fn checked_sku(sku: String) -> Result<String, ApiError> {
    if sku.is_empty() || sku.len() > 64 {
        return Err(ApiError::invalid(
            "invalid_sku",
            "a SKU has 1 to 64 characters",
        ));
    }
    Ok(sku)
}

/// `PUT /api/inventory/stock/{sku}`: sets the units on hand; 409 below what is reserved.
#[utoipa::path(
    put,
    path = "/api/inventory/stock/{sku}",
    tag = "inventory",
    params(("sku" = String, Path, description = "Stock keeping unit")),
    request_body = SetStock,
    responses(
        (status = 200, description = "The stock level", body = StockBody),
        (status = 400, description = "The body is not JSON", body = ErrorBody),
        (status = 409, description = "Below what is reserved (`below_reserved`)", body = ErrorBody),
        (status = 422, description = "Invalid quantity or SKU", body = ErrorBody),
    )
)]
pub(crate) async fn set_stock(
    state: web::Data<InventoryState>,
    sku: web::Path<String>,
    body: web::Json<SetStock>,
) -> Result<HttpResponse, ApiError> {
    let sku = checked_sku(sku.into_inner())?;
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
    params(("sku" = String, Path, description = "Stock keeping unit")),
    responses(
        (status = 200, description = "The stock level", body = StockBody),
        (status = 404, description = "No stock for this SKU (`stock_not_found`)", body = ErrorBody),
    )
)]
pub(crate) async fn get_stock(
    state: web::Data<InventoryState>,
    sku: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let sku = sku.into_inner();
    let level = level::Entity::find_by_id(sku.clone())
        .one(state.db.read())
        .await
        .map_err(|e| ApiError::internal("cannot read the stock level", e))?
        .ok_or_else(|| ApiError::not_found("stock_not_found", format!("no stock for `{sku}`")))?;
    Ok(HttpResponse::Ok().json(StockBody::from(level)))
}
