//! Public HTTP routes of orders.

use actix_web::{HttpResponse, web};
use cleave::http::ApiError;
use sea_orm::QueryOrder;
use sea_orm::entity::prelude::*;
use serde::Serialize;
use serde_json::json;

use crate::order::{header, line};
use crate::place::{NewOrder, PlaceOrder};

/// `POST /api/orders`: 201 `{id, status: "placed", total_cents}`.
pub(crate) async fn place_order(
    orders: web::Data<PlaceOrder>,
    body: web::Json<NewOrder>,
) -> Result<HttpResponse, ApiError> {
    let placed = orders.place(body.into_inner()).await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/orders/{}", placed.id)))
        .json(json!({
            "id": placed.id,
            "status": crate::order::PLACED,
            "total_cents": placed.total_cents,
        })))
}

#[derive(Serialize)]
struct LineBody {
    sku: String,
    quantity: i64,
    unit_price_cents: i64,
}

#[derive(Serialize)]
struct OrderBody {
    id: Uuid,
    customer: String,
    status: String,
    total_cents: i64,
    lines: Vec<LineBody>,
    created_at: ChronoDateTimeUtc,
    updated_at: ChronoDateTimeUtc,
}

/// `GET /api/orders/{id}`.
pub(crate) async fn get_order(
    orders: web::Data<PlaceOrder>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let failed = |e: DbErr| ApiError::internal("cannot read the order", e);
    let order = header::Entity::find_by_id(id.to_string())
        .one(&orders.db)
        .await
        .map_err(failed)?
        .ok_or_else(|| ApiError::not_found("order_not_found", format!("no order {id}")))?;
    let lines = line::Entity::find()
        .filter(line::Column::OrderId.eq(order.id.as_str()))
        .order_by_asc(line::Column::Sku)
        .all(&orders.db)
        .await
        .map_err(failed)?;
    Ok(HttpResponse::Ok().json(OrderBody {
        id,
        customer: order.customer,
        status: order.status,
        total_cents: order.total_cents,
        lines: lines
            .into_iter()
            .map(|l| LineBody {
                sku: l.sku,
                quantity: l.quantity,
                unit_price_cents: l.unit_price_cents,
            })
            .collect(),
        created_at: order.created_at,
        updated_at: order.updated_at,
    }))
}
