//! Public HTTP routes of orders.

use actix_web::{HttpResponse, web};
use cleave::http::{ApiError, ErrorBody};
use cleave::idempotency::Idempotency;
use sea_orm::QueryOrder;
use sea_orm::entity::prelude::*;
use serde::Serialize;

use billing_api::{BillingError, GetInvoice};

use crate::order::{header, line};
use crate::place::{NewOrder, PlaceOrder};

/// The answer to a placed order.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct PlacedBody {
    pub(crate) id: Uuid,
    /// Always `placed`; it becomes `paid` once billing captured the payment.
    pub(crate) status: &'static str,
    pub(crate) total_cents: i64,
}

/// `POST /api/orders`: 201 `{id, status: "placed", total_cents}`.
#[utoipa::path(
    post,
    path = "/api/orders",
    tag = "orders",
    request_body = NewOrder,
    params(cleave::idempotency::KeyHeader),
    responses(
        (status = 201, description = "Accepted: priced, stock reserved, `orders.order_placed` published", body = PlacedBody),
        (status = 400, description = "The body is not JSON (`malformed_json`), or a malformed Idempotency-Key (`invalid_idempotency_key`)", body = ErrorBody),
        (status = 404, description = "Unknown SKU (`unknown_sku`)", body = ErrorBody),
        (status = 409, description = "Not enough stock; nothing reserved (`insufficient_stock`); or another request with this Idempotency-Key was accepted first (`idempotency_key_in_use`)", body = ErrorBody),
        (status = 422, description = "Invalid customer (`invalid_customer`), SKU (`invalid_sku`), number of lines (`invalid_lines`), or quantity (`invalid_quantity`); a body that does not fit the schema (`invalid_body`); or this Idempotency-Key was used for a different request (`idempotency_key_reused`)", body = ErrorBody),
        (status = 503, description = "A module the order needs is unavailable", body = ErrorBody),
        (status = 502, description = "A module it asked answered with a message that could not be decoded (`bad_gateway`)", body = ErrorBody),
    )
)]
pub(crate) async fn place_order(
    orders: web::Data<PlaceOrder>,
    idempotency: Idempotency,
    body: web::Json<NewOrder>,
) -> Result<HttpResponse, ApiError> {
    let placed = orders.place(body.into_inner(), &idempotency).await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", placed.location()))
        .json(placed.body()))
}

/// The order's header row, or 404 `order_not_found`.
async fn find_order(db: &cleave::Database, id: Uuid) -> Result<header::Model, ApiError> {
    header::Entity::find_by_id(id.to_string())
        .one(db.read())
        .await
        .map_err(|e| ApiError::internal("cannot read the order", e))?
        .ok_or_else(|| ApiError::not_found("order_not_found", format!("no order {id}")))
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct LineBody {
    sku: String,
    quantity: i64,
    unit_price_cents: i64,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct OrderBody {
    id: Uuid,
    customer: String,
    status: String,
    total_cents: i64,
    lines: Vec<LineBody>,
    #[schema(value_type = String, format = DateTime)]
    created_at: ChronoDateTimeUtc,
    #[schema(value_type = String, format = DateTime)]
    updated_at: ChronoDateTimeUtc,
}

/// `GET /api/orders/{id}`.
#[utoipa::path(
    get,
    path = "/api/orders/{id}",
    tag = "orders",
    params(("id" = Uuid, Path, description = "Order id")),
    responses(
        (status = 200, description = "The order; `status` is `placed` or `paid`", body = OrderBody),
        (status = 400, description = "Not a UUID (`invalid_path`)", body = ErrorBody),
        (status = 404, description = "No such order (`order_not_found`)", body = ErrorBody),
    )
)]
pub(crate) async fn get_order(
    orders: web::Data<PlaceOrder>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let order = find_order(&orders.db, id).await?;
    let lines = line::Entity::find()
        .filter(line::Column::OrderId.eq(order.id.as_str()))
        .order_by_asc(line::Column::Sku)
        .all(orders.db.read())
        .await
        .map_err(|e| ApiError::internal("cannot read the order", e))?;
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

/// What billing says about an order's invoice.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct InvoiceSummary {
    id: Uuid,
    amount_cents: i64,
    paid_cents: i64,
    status: String,
}

/// An order with its invoice, as billing reports it.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ReceiptBody {
    order_id: Uuid,
    status: String,
    total_cents: i64,
    /// `null` until billing has invoiced the order.
    invoice: Option<InvoiceSummary>,
}

/// `GET /api/orders/{id}/receipt`: the order and its invoice, asked of billing over the bus.
///
/// The one public route that needs billing synchronously: while billing is unreachable it
/// answers 503 `unavailable` within the call timeout, while placing orders keeps working.
#[utoipa::path(
    get,
    path = "/api/orders/{id}/receipt",
    tag = "orders",
    params(("id" = Uuid, Path, description = "Order id")),
    responses(
        (status = 200, description = "The order and its invoice (`null` until invoiced)", body = ReceiptBody),
        (status = 400, description = "Not a UUID (`invalid_path`)", body = ErrorBody),
        (status = 404, description = "No such order (`order_not_found`)", body = ErrorBody),
        (status = 503, description = "Billing is unavailable (`unavailable`)", body = ErrorBody),
        (status = 502, description = "A module it asked answered with a message that could not be decoded (`bad_gateway`)", body = ErrorBody),
    )
)]
pub(crate) async fn get_receipt(
    orders: web::Data<PlaceOrder>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let order = find_order(&orders.db, id).await?;
    let invoice = match orders.bus.call(GetInvoice { order_id: id }).await {
        Ok(invoice) => Some(InvoiceSummary {
            id: invoice.invoice_id,
            amount_cents: invoice.amount_cents,
            paid_cents: invoice.paid_cents,
            status: invoice.status,
        }),
        Err(cleave::CallError::Domain(BillingError::NotInvoiced { .. })) => None,
        Err(e) => return Err(ApiError::from_call(e, |e| ApiError::internal("billing", e))),
    };
    Ok(HttpResponse::Ok().json(ReceiptBody {
        order_id: id,
        status: order.status,
        total_cents: order.total_cents,
        invoice,
    }))
}
