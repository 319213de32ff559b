//! `inventory.reserve_stock` and `inventory.release_reservation`.
//!
//! Every transaction here starts with a write, so on SQLite it takes the write lock first and
//! waits for it, instead of reading and then failing to upgrade.

use std::collections::BTreeSet;

use async_trait::async_trait;
use cleave::{Failure, Handler};
use inventory_api::{InventoryError, ReleaseReservation, Released, ReserveStock, Reserved};
use sea_orm::ActiveValue::Set;
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};

use crate::stock::{level, reservation, reservation_line};

pub(crate) struct Reserve {
    db: cleave::Database,
}

impl Reserve {
    pub(crate) fn new(context: &crate::Context) -> Self {
        Reserve {
            db: context.db.clone(),
        }
    }
}

fn invalid(reason: impl Into<String>) -> Failure<InventoryError> {
    Failure::Domain(InventoryError::InvalidReservation {
        reason: reason.into(),
    })
}

#[async_trait]
impl Handler<ReserveStock> for Reserve {
    async fn handle(&self, request: ReserveStock) -> Result<Reserved, Failure<InventoryError>> {
        if request.lines.is_empty() {
            return Err(invalid("a reservation needs at least one line"));
        }
        let mut skus = BTreeSet::new();
        for line in &request.lines {
            if line.quantity == 0 {
                return Err(invalid(format!(
                    "quantity of `{}` must be at least 1",
                    line.sku
                )));
            }
            if !skus.insert(line.sku.as_str()) {
                return Err(invalid(format!("SKU `{}` appears twice", line.sku)));
            }
        }
        let id = request.reservation_id.to_string();
        let txn = self.db.write().await?;
        let header = reservation::ActiveModel {
            id: Set(id.clone()),
            created_at: Set(chrono::Utc::now()),
        };
        let fresh = reservation::Entity::insert(header)
            .on_conflict(
                OnConflict::column(reservation::Column::Id)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(&txn)
            .await?;
        if fresh == 0 {
            // Same reservation again (a retried call): it already holds its stock.
            txn.rollback().await?;
            return Ok(Reserved {
                reservation_id: request.reservation_id,
            });
        }
        for line in &request.lines {
            let quantity = i64::from(line.quantity);
            let held = level::Entity::update_many()
                .col_expr(
                    level::Column::Reserved,
                    Expr::col(level::Column::Reserved).add(quantity),
                )
                .filter(level::Column::Sku.eq(line.sku.as_str()))
                .filter(
                    Expr::col(level::Column::OnHand)
                        .sub(Expr::col(level::Column::Reserved))
                        .gte(quantity),
                )
                .exec(&txn)
                .await?
                .rows_affected;
            if held == 0 {
                let available = level::Entity::find_by_id(line.sku.clone())
                    .one(&txn)
                    .await?
                    .map(|s| s.on_hand - s.reserved)
                    .unwrap_or(0);
                // Dropping the transaction undoes the lines already held: all or nothing.
                txn.rollback().await?;
                return Err(Failure::Domain(InventoryError::InsufficientStock {
                    sku: line.sku.clone(),
                    requested: line.quantity,
                    available: u32::try_from(Ord::max(available, 0)).unwrap_or(u32::MAX),
                }));
            }
            reservation_line::ActiveModel {
                reservation_id: Set(id.clone()),
                sku: Set(line.sku.clone()),
                quantity: Set(quantity),
            }
            .insert(&txn)
            .await?;
        }
        txn.commit().await?;
        Ok(Reserved {
            reservation_id: request.reservation_id,
        })
    }
}

pub(crate) struct Release {
    db: cleave::Database,
}

impl Release {
    pub(crate) fn new(context: &crate::Context) -> Self {
        Release {
            db: context.db.clone(),
        }
    }
}

#[async_trait]
impl Handler<ReleaseReservation> for Release {
    async fn handle(
        &self,
        request: ReleaseReservation,
    ) -> Result<Released, Failure<InventoryError>> {
        let id = request.reservation_id.to_string();
        // A reservation's lines never change after it is made, so they can be read before the
        // transaction; deleting the header is what decides which concurrent release wins.
        let lines = reservation_line::Entity::find()
            .filter(reservation_line::Column::ReservationId.eq(id.as_str()))
            .all(self.db.read())
            .await?;
        let txn = self.db.write().await?;
        let removed = reservation::Entity::delete_by_id(id.clone())
            .exec(&txn)
            .await?
            .rows_affected;
        if removed == 0 {
            txn.rollback().await?;
            return Ok(Released { released: false });
        }
        for line in &lines {
            level::Entity::update_many()
                .col_expr(
                    level::Column::Reserved,
                    Expr::col(level::Column::Reserved).sub(line.quantity),
                )
                .filter(level::Column::Sku.eq(line.sku.as_str()))
                .exec(&txn)
                .await?;
        }
        // The lines go with their header (ON DELETE CASCADE); deleted explicitly as well so
        // the result does not depend on the database enforcing foreign keys.
        reservation_line::Entity::delete_many()
            .filter(reservation_line::Column::ReservationId.eq(id.as_str()))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(Released { released: true })
    }
}
