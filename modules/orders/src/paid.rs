//! Marks an order paid when billing reports the payment, and tells whoever holds its stock.

use async_trait::async_trait;
use billing_api::PaymentCaptured;
use cleave::{Delivered, HandlerError, Publisher, Subscriber, Tx};
use orders_api::OrderPaid;
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::Expr;

use crate::order::{self, header};

pub(crate) struct MarkPaid {
    events: Publisher,
}

impl MarkPaid {
    pub(crate) fn new(context: &crate::Context) -> Self {
        MarkPaid {
            events: context.events.clone(),
        }
    }
}

#[async_trait]
impl Subscriber<PaymentCaptured> for MarkPaid {
    async fn on_event(
        &self,
        txn: &Tx,
        event: Delivered<PaymentCaptured>,
    ) -> Result<(), HandlerError> {
        let captured = event.event;
        let id = captured.order_id.to_string();
        let updated = header::Entity::update_many()
            .col_expr(header::Column::Status, Expr::value(order::PAID))
            .col_expr(header::Column::UpdatedAt, Expr::value(chrono::Utc::now()))
            .filter(header::Column::Id.eq(id.as_str()))
            .filter(header::Column::Status.eq(order::PLACED))
            .exec(txn)
            .await?
            .rows_affected;
        if updated == 1 {
            self.events
                .publish(
                    txn,
                    &OrderPaid {
                        order_id: captured.order_id,
                        customer: captured.customer,
                    },
                )
                .await?;
            return Ok(());
        }
        if header::Entity::find_by_id(id.clone())
            .one(txn)
            .await?
            .is_none()
        {
            // A payment for an order this module never stored is a bug elsewhere; failing the
            // delivery keeps the event in the outbox where an operator sees it.
            return Err(format!("payment captured for unknown order {id}").into());
        }
        // Already paid: a second payment for the same order changes nothing here.
        Ok(())
    }
}
