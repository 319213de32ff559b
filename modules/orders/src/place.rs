//! Placing an order: validate, price, reserve, then store and publish in one transaction.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use catalog_api::{CatalogError, GetPrices, Sku};
use cleave::db::retry_transient;
use cleave::http::ApiError;
use cleave::idempotency::Idempotency;
use cleave::{Database, PublishError, Publisher};
use inventory_api::{InventoryError, ReleaseReservation, ReserveStock, StockLine};
use orders_api::{Customer, OrderLine, OrderPlaced};
use sea_orm::ActiveValue::Set;
use sea_orm::entity::prelude::*;
use serde::Deserialize;

use crate::order::{self, header, line};

/// Most lines one order may have (the document's `maxItems` says the same).
const MAX_LINES: usize = 100;
/// Most units on one line (the document's `maximum` says the same).
const MAX_QUANTITY: u32 = 10_000;

pub(crate) struct PlaceOrder {
    pub(crate) db: Database,
    pub(crate) bus: crate::Bus,
    events: Publisher,
}

impl PlaceOrder {
    pub(crate) fn new(context: &crate::Context) -> Self {
        PlaceOrder {
            db: context.db.clone(),
            bus: context.bus.clone(),
            events: context.events.clone(),
        }
    }
}

/// The body of `POST /api/orders`. The customer and the SKUs are read as plain strings and
/// checked with their value type's rule, so each answers with its own code.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct NewOrder {
    #[schema(schema_with = cleave::http::value_schema::<Customer>)]
    customer: String,
    /// 1 to 100 lines; lines naming the same SKU are added together.
    #[schema(min_items = 1, max_items = 100)]
    lines: Vec<NewLine>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct NewLine {
    #[schema(schema_with = cleave::http::value_schema::<Sku>)]
    sku: String,
    /// Units, 1 to 10 000.
    #[schema(minimum = 1, maximum = 10_000, format = Int32)]
    #[serde(deserialize_with = "cleave::http::integer")]
    quantity: u32,
}

/// A new order that passed validation.
struct ValidOrder {
    customer: String,
    lines: Vec<StockLine>,
}

impl NewOrder {
    fn validate(self) -> Result<ValidOrder, ApiError> {
        let customer = Customer::try_from(self.customer)
            .map_err(|e| ApiError::invalid("invalid_customer", e.message))?
            .stored()
            .to_string();
        if self.lines.is_empty() || self.lines.len() > MAX_LINES {
            return Err(ApiError::invalid(
                "invalid_lines",
                format!("an order has 1 to {MAX_LINES} lines"),
            ));
        }
        // Lines naming the same SKU are one line of their summed quantity: the document cannot
        // say "each SKU once", and a client sending two lines of a SKU means both.
        let mut lines: Vec<StockLine> = Vec::with_capacity(self.lines.len());
        let mut index: BTreeMap<String, usize> = BTreeMap::new();
        for l in self.lines {
            Sku::try_from(l.sku.as_str())
                .map_err(|e| ApiError::invalid("invalid_sku", e.message))?;
            if l.quantity == 0 || l.quantity > MAX_QUANTITY {
                return Err(ApiError::invalid(
                    "invalid_quantity",
                    format!("quantity of `{}` must be 1 to {MAX_QUANTITY}", l.sku),
                ));
            }
            match index.get(&l.sku) {
                // At most 100 lines of 10 000: the sum fits.
                Some(&at) => lines[at].quantity += l.quantity,
                None => {
                    index.insert(l.sku.clone(), lines.len());
                    lines.push(StockLine {
                        sku: l.sku,
                        quantity: l.quantity,
                    });
                }
            }
        }
        Ok(ValidOrder { customer, lines })
    }
}

/// What the client gets back.
pub(crate) struct Placed {
    pub(crate) id: Uuid,
    pub(crate) total_cents: i64,
}

impl Placed {
    /// The body of the 201 answer.
    pub(crate) fn body(&self) -> serde_json::Value {
        serde_json::json!(crate::routes::PlacedBody {
            id: self.id,
            status: order::PLACED,
            total_cents: self.total_cents,
        })
    }

    /// Where the order can be read.
    pub(crate) fn location(&self) -> String {
        format!("/api/orders/{}", self.id)
    }
}

impl PlaceOrder {
    pub(crate) async fn place(
        &self,
        new: NewOrder,
        idempotency: &Idempotency,
    ) -> Result<Placed, ApiError> {
        let order = new.validate()?;
        let skus = order.lines.iter().map(|l| l.sku.clone()).collect();
        let prices = self.bus.call(GetPrices { skus }).await.map_err(|e| {
            ApiError::from_call(e, |CatalogError::UnknownSkus { skus }| {
                ApiError::not_found("unknown_sku", format!("unknown SKUs: {}", skus.join(", ")))
            })
        })?;
        let mut priced = Vec::with_capacity(order.lines.len());
        let mut total: i64 = 0;
        for l in &order.lines {
            let price = prices
                .products
                .iter()
                .find(|p| p.sku == l.sku)
                .ok_or_else(|| ApiError::internal("catalog left a SKU unpriced", &l.sku))?
                .price_cents;
            total = price
                .checked_mul(i64::from(l.quantity))
                .and_then(|line_total| total.checked_add(line_total))
                .ok_or_else(|| ApiError::invalid("total_too_large", "the order total overflows"))?;
            priced.push(OrderLine {
                sku: l.sku.clone(),
                quantity: l.quantity,
                unit_price_cents: price,
            });
        }

        let id = Uuid::now_v7();
        self.bus
            .call(ReserveStock {
                reservation_id: id,
                lines: order.lines,
            })
            .await
            .map_err(|e| {
                ApiError::from_call(e, |e| match e {
                    InventoryError::InsufficientStock { .. } => {
                        ApiError::conflict("insufficient_stock", e.to_string())
                    }
                    InventoryError::InvalidReservation { .. } => {
                        ApiError::invalid("invalid_lines", e.to_string())
                    }
                })
            })?;

        let event = OrderPlaced {
            order_id: id,
            customer: order.customer,
            lines: priced,
            total_cents: total,
        };
        let placed = Placed {
            id,
            total_cents: total,
        };
        let stored = retry_transient(|| self.store(&event, &placed, idempotency))
            .await
            .map_err(|e| ApiError::internal("cannot store the order", e))
            .and_then(|refused| refused);
        if let Err(e) = stored {
            // The stock is held but the order does not exist: give the stock back now rather
            // than when the reservation lapses. The release is idempotent, so trying it is
            // always safe; if it fails too, the reservation lapses on its own.
            if let Err(release) = self
                .bus
                .call(ReleaseReservation { reservation_id: id })
                .await
            {
                tracing::warn!(order = %id, error = %release, "could not release the reservation of an order that was not stored; it will lapse");
            }
            return Err(e);
        }
        Ok(placed)
    }

    /// One attempt at storing the order, its lines, its event and (with a key) its answer, in
    /// one transaction. The outer error is the database's (retried when transient), the inner
    /// one a refusal to report as is.
    async fn store(
        &self,
        event: &OrderPlaced,
        placed: &Placed,
        idempotency: &Idempotency,
    ) -> Result<Result<(), ApiError>, DbErr> {
        let now = chrono::Utc::now();
        let id = event.order_id.to_string();
        let txn = self.db.write().await?;
        header::ActiveModel {
            id: Set(id.clone()),
            customer: Set(event.customer.clone()),
            status: Set(order::PLACED.to_string()),
            total_cents: Set(event.total_cents),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&txn)
        .await?;
        line::Entity::insert_many(event.lines.iter().map(|l| line::ActiveModel {
            order_id: Set(id.clone()),
            sku: Set(l.sku.clone()),
            quantity: Set(i64::from(l.quantity)),
            unit_price_cents: Set(l.unit_price_cents),
        }))
        .exec_without_returning(&txn)
        .await?;
        match self.events.publish(&txn, event).await {
            Ok(_) => {}
            Err(PublishError::Database(e)) => return Err(e),
            Err(e) => return Ok(Err(ApiError::internal("cannot publish the order", e))),
        }
        if let Err(refused) = idempotency
            .remember(
                &txn,
                StatusCode::CREATED,
                &placed.body(),
                Some(&placed.location()),
            )
            .await
        {
            return Ok(Err(refused));
        }
        txn.commit().await?;
        Ok(Ok(()))
    }
}
