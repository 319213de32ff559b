//! Public HTTP routes of billing.

use actix_web::{HttpResponse, web};
use cleave::http::{ApiError, ErrorBody};
use sea_orm::QueryOrder;
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use crate::invoice::{header, payment};

pub(crate) struct BillingState {
    db: cleave::Database,
}

impl BillingState {
    pub(crate) fn new(context: &crate::Context) -> Self {
        BillingState {
            db: context.db.clone(),
        }
    }
}

#[derive(Deserialize, utoipa::ToSchema, utoipa::IntoParams)]
pub(crate) struct InvoiceQuery {
    order_id: Uuid,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct PaymentBody {
    id: String,
    amount_cents: i64,
    #[schema(value_type = String, format = DateTime)]
    captured_at: ChronoDateTimeUtc,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct InvoiceBody {
    id: String,
    order_id: String,
    customer: String,
    amount_cents: i64,
    status: String,
    #[schema(value_type = String, format = DateTime)]
    created_at: ChronoDateTimeUtc,
    payments: Vec<PaymentBody>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct InvoicesBody {
    invoices: Vec<InvoiceBody>,
}

/// `GET /api/billing/invoices?order_id=…`: the order's invoices with their payments.
#[utoipa::path(
    get,
    path = "/api/billing/invoices",
    tag = "billing",
    params(InvoiceQuery),
    responses(
        (status = 200, description = "The order's invoices, each with its payments", body = InvoicesBody),
        (status = 400, description = "Missing or invalid `order_id` (`invalid_query`)", body = ErrorBody),
    )
)]
pub(crate) async fn list_invoices(
    state: web::Data<BillingState>,
    query: web::Query<InvoiceQuery>,
) -> Result<HttpResponse, ApiError> {
    let failed = |e: DbErr| ApiError::internal("cannot read invoices", e);
    let invoices = header::Entity::find()
        .filter(header::Column::OrderId.eq(query.order_id.to_string()))
        .order_by_asc(header::Column::CreatedAt)
        .all(state.db.read())
        .await
        .map_err(failed)?;
    let mut bodies = Vec::with_capacity(invoices.len());
    for invoice in invoices {
        let payments = payment::Entity::find()
            .filter(payment::Column::InvoiceId.eq(invoice.id.as_str()))
            .order_by_asc(payment::Column::CapturedAt)
            .all(state.db.read())
            .await
            .map_err(failed)?;
        bodies.push(InvoiceBody {
            id: invoice.id,
            order_id: invoice.order_id,
            customer: invoice.customer,
            amount_cents: invoice.amount_cents,
            status: invoice.status,
            created_at: invoice.created_at,
            payments: payments
                .into_iter()
                .map(|p| PaymentBody {
                    id: p.id,
                    amount_cents: p.amount_cents,
                    captured_at: p.captured_at,
                })
                .collect(),
        });
    }
    Ok(HttpResponse::Ok().json(InvoicesBody { invoices: bodies }))
}
