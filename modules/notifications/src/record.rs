//! Turns events into messages for the customer.

use async_trait::async_trait;
use billing_api::PaymentCaptured;
use cleave::{Delivered, Event, HandlerError, Subscriber, Tx};
use orders_api::OrderPlaced;
use sea_orm::ActiveValue::Set;
use sea_orm::entity::prelude::*;

use crate::message;

pub(crate) struct Record;

impl Record {
    pub(crate) fn new(_: &crate::Context) -> Self {
        Record
    }
}

fn euros(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, (cents % 100).abs())
}

async fn store(
    txn: &Tx,
    kind: &str,
    customer: &str,
    order_id: Uuid,
    text: String,
) -> Result<(), HandlerError> {
    message::ActiveModel {
        id: Set(Uuid::now_v7().to_string()),
        customer: Set(customer.to_string()),
        kind: Set(kind.to_string()),
        order_id: Set(order_id.to_string()),
        text: Set(text),
        created_at: Set(chrono::Utc::now()),
    }
    .insert(txn)
    .await?;
    Ok(())
}

#[async_trait]
impl Subscriber<OrderPlaced> for Record {
    async fn on_event(&self, txn: &Tx, placed: Delivered<OrderPlaced>) -> Result<(), HandlerError> {
        let o = placed.event;
        let text = format!(
            "Thank you, {}: we received order {} for {}.",
            o.customer,
            o.order_id,
            euros(o.total_cents)
        );
        store(txn, OrderPlaced::NAME, &o.customer, o.order_id, text).await
    }
}

#[async_trait]
impl Subscriber<PaymentCaptured> for Record {
    async fn on_event(
        &self,
        txn: &Tx,
        captured: Delivered<PaymentCaptured>,
    ) -> Result<(), HandlerError> {
        let p = captured.event;
        let text = format!(
            "We received your payment of {} for order {}.",
            euros(p.amount_cents),
            p.order_id
        );
        store(txn, PaymentCaptured::NAME, &p.customer, p.order_id, text).await
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn amounts_read_as_currency() {
        assert_eq!(super::euros(2250), "22.50");
        assert_eq!(super::euros(5), "0.05");
    }
}
