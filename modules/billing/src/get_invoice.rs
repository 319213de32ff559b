//! `billing.get_invoice`: an order's invoice and what has been paid on it.

use async_trait::async_trait;
use billing_api::{BillingError, GetInvoice, Invoice};
use cleave::{Failure, Handler};
use sea_orm::entity::prelude::*;

use crate::invoice::{header, payment};

pub(crate) struct GetInvoiceHandler {
    db: cleave::Database,
}

impl GetInvoiceHandler {
    pub(crate) fn new(context: &crate::Context) -> Self {
        GetInvoiceHandler {
            db: context.db.clone(),
        }
    }
}

#[async_trait]
impl Handler<GetInvoice> for GetInvoiceHandler {
    async fn handle(&self, request: GetInvoice) -> Result<Invoice, Failure<BillingError>> {
        let order_id = request.order_id;
        let Some(invoice) = header::Entity::find()
            .filter(header::Column::OrderId.eq(order_id.to_string()))
            .one(self.db.read())
            .await?
        else {
            return Err(Failure::Domain(BillingError::NotInvoiced { order_id }));
        };
        let payments = payment::Entity::find()
            .filter(payment::Column::InvoiceId.eq(invoice.id.as_str()))
            .all(self.db.read())
            .await?;
        let invoice_id = Uuid::parse_str(&invoice.id)
            .map_err(|e| Failure::Internal(format!("invoice id {:?}: {e}", invoice.id)))?;
        Ok(Invoice {
            invoice_id,
            order_id,
            amount_cents: invoice.amount_cents,
            paid_cents: payments.iter().map(|p| p.amount_cents).sum(),
            status: invoice.status,
        })
    }
}
