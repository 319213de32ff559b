//! On `orders.order_placed`: invoice, capture (simulated), publish `billing.payment_captured`.

use async_trait::async_trait;
use billing_api::PaymentCaptured;
use cleave::{Delivered, HandlerError, Publisher, Subscriber, Tx};
use orders_api::OrderPlaced;
use sea_orm::ActiveValue::Set;
use sea_orm::entity::prelude::*;

use crate::invoice::{self, header, payment};

pub(crate) struct ChargeOrder {
    events: Publisher,
    gateway_latency: std::time::Duration,
}

impl ChargeOrder {
    pub(crate) fn new(context: &crate::Context) -> Self {
        ChargeOrder {
            events: context.events.clone(),
            gateway_latency: std::time::Duration::from_millis(context.config.gateway_latency_ms),
        }
    }
}

#[async_trait]
impl Subscriber<OrderPlaced> for ChargeOrder {
    async fn on_event(&self, txn: &Tx, placed: Delivered<OrderPlaced>) -> Result<(), HandlerError> {
        let order = placed.event;
        let now = chrono::Utc::now();
        let invoice_id = Uuid::now_v7();
        let payment_id = Uuid::now_v7();
        header::ActiveModel {
            id: Set(invoice_id.to_string()),
            order_id: Set(order.order_id.to_string()),
            customer: Set(order.customer.clone()),
            amount_cents: Set(order.total_cents),
            status: Set(invoice::PAID.to_string()),
            created_at: Set(now),
        }
        .insert(txn)
        .await?;
        // The payment provider is simulated: every capture succeeds, after
        // `gateway_latency_ms`. A real one would be called here with the invoice id as its
        // idempotency key.
        if !self.gateway_latency.is_zero() {
            tokio::time::sleep(self.gateway_latency).await;
        }
        payment::ActiveModel {
            id: Set(payment_id.to_string()),
            invoice_id: Set(invoice_id.to_string()),
            amount_cents: Set(order.total_cents),
            captured_at: Set(now),
        }
        .insert(txn)
        .await?;
        self.events
            .publish(
                txn,
                &PaymentCaptured {
                    order_id: order.order_id,
                    customer: order.customer,
                    invoice_id,
                    payment_id,
                    amount_cents: order.total_cents,
                },
            )
            .await?;
        Ok(())
    }
}
