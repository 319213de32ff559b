//! Public HTTP routes of notifications.

use actix_web::{HttpResponse, web};
use cleave::http::{ApiError, ErrorBody};
use sea_orm::QueryOrder;
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use orders_api::Customer;

use crate::message;

pub(crate) struct NotificationsState {
    db: cleave::Database,
}

impl NotificationsState {
    pub(crate) fn new(context: &crate::Context) -> Self {
        NotificationsState {
            db: context.db.clone(),
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct CustomerQuery {
    customer: String,
}

/// Written by hand: the derive drops `required` and the description of a `schema_with` field.
impl utoipa::IntoParams for CustomerQuery {
    fn into_params(
        _: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        vec![cleave::http::value_parameter::<Customer>(
            "customer",
            utoipa::openapi::path::ParameterIn::Query,
            true,
            "The customer, as orders takes it",
        )]
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct NotificationBody {
    id: String,
    kind: String,
    order_id: String,
    text: String,
    #[schema(value_type = String, format = DateTime)]
    created_at: ChronoDateTimeUtc,
}

/// What a customer was told.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct NotificationsBody {
    notifications: Vec<NotificationBody>,
}

/// `GET /api/notifications?customer=…`: what the customer was told, oldest first.
#[utoipa::path(
    get,
    path = "/api/notifications",
    tag = "notifications",
    params(CustomerQuery),
    responses(
        (status = 200, description = "Oldest first", body = NotificationsBody),
        (status = 400, description = "Missing `customer`, or one that breaks the customer rule (`invalid_query`)", body = ErrorBody),
    )
)]
pub(crate) async fn list_notifications(
    state: web::Data<NotificationsState>,
    query: web::Query<CustomerQuery>,
) -> Result<HttpResponse, ApiError> {
    let customer = Customer::try_from(query.into_inner().customer)
        .map_err(|e| ApiError::bad_request("invalid_query", e.message))?;
    let customer = customer.stored();
    let messages = message::Entity::find()
        .filter(message::Column::Customer.eq(customer))
        .order_by_asc(message::Column::CreatedAt)
        .order_by_asc(message::Column::Id)
        .all(state.db.read())
        .await
        .map_err(|e| ApiError::internal("cannot read notifications", e))?;
    let notifications: Vec<NotificationBody> = messages
        .into_iter()
        .map(|m| NotificationBody {
            id: m.id,
            kind: m.kind,
            order_id: m.order_id,
            text: m.text,
            created_at: m.created_at,
        })
        .collect();
    Ok(HttpResponse::Ok().json(NotificationsBody { notifications }))
}
