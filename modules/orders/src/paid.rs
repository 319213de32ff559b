//! Marks an order paid when billing reports the payment.

use async_trait::async_trait;
use billing_api::PaymentCaptured;
use cleave::{Delivered, HandlerError, Subscriber, Tx};
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::Expr;

use crate::order::{self, header};

pub(crate) struct MarkPaid;

impl MarkPaid {
    pub(crate) fn new(_: &crate::Context) -> Self {
        MarkPaid
    }
}

#[async_trait]
impl Subscriber<PaymentCaptured> for MarkPaid {
    async fn on_event(
        &self,
        txn: &Tx,
        event: Delivered<PaymentCaptured>,
    ) -> Result<(), HandlerError> {
        let id = event.event.order_id.to_string();
        let updated = header::Entity::update_many()
            .col_expr(header::Column::Status, Expr::value(order::PAID))
            .col_expr(header::Column::UpdatedAt, Expr::value(chrono::Utc::now()))
            .filter(header::Column::Id.eq(id.as_str()))
            .exec(txn)
            .await?
            .rows_affected;
        if updated == 0 {
            // A payment for an order this module never stored is a bug elsewhere; failing the
            // delivery keeps the event in the outbox where an operator sees it.
            return Err(format!("payment captured for unknown order {id}").into());
        }
        Ok(())
    }
}
