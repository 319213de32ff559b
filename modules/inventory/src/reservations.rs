//! `inventory.reserve_stock` and `inventory.release_reservation`.
//!
//! Every transaction here starts with a write, on the stock rows in SKU order: on SQLite it
//! takes the write lock first instead of reading and then failing to upgrade, and on
//! PostgreSQL two reservations of the same SKUs lock them in the same order, so they queue
//! instead of deadlocking. A transaction that still meets a transient conflict is run again
//! (`cleave::db::retry_transient`) before the caller sees a failure.

use std::collections::BTreeSet;

use async_trait::async_trait;
use cleave::db::retry_transient;
use cleave::{Failure, Handler, Tx};
use inventory_api::{
    InventoryError, ReleaseReservation, Released, ReserveStock, Reserved, StockLine,
};
use sea_orm::ActiveValue::Set;
use sea_orm::QueryOrder;
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};

use crate::stock::{HELD, SOLD, level, reservation, reservation_line};

pub(crate) struct Reserve {
    db: cleave::Database,
    ttl_ms: i64,
}

impl Reserve {
    pub(crate) fn new(context: &crate::Context) -> Self {
        Reserve {
            db: context.db.clone(),
            ttl_ms: i64::try_from(context.config.reservation_ttl_s.saturating_mul(1_000))
                .unwrap_or(i64::MAX),
        }
    }
}

fn invalid(reason: impl Into<String>) -> Failure<InventoryError> {
    Failure::Domain(InventoryError::InvalidReservation {
        reason: reason.into(),
    })
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    cleave::outbox::now_ms()
}

/// Holds `quantity` more units of `sku` if that many are available; whether it did.
async fn hold(tx: &Tx, sku: &str, quantity: i64) -> Result<bool, DbErr> {
    Ok(level::Entity::update_many()
        .col_expr(
            level::Column::Reserved,
            Expr::col(level::Column::Reserved).add(quantity),
        )
        .filter(level::Column::Sku.eq(sku))
        .filter(
            Expr::col(level::Column::OnHand)
                .sub(Expr::col(level::Column::Reserved))
                .gte(quantity),
        )
        .exec(tx)
        .await?
        .rows_affected
        == 1)
}

/// Records `lines` under reservation `id` in state `state`; `false` when the id was taken.
pub(crate) async fn record(
    tx: &Tx,
    id: &str,
    state: &str,
    expires_at_ms: Option<i64>,
    lines: &[StockLine],
) -> Result<bool, DbErr> {
    if !record_header(tx, id, state, expires_at_ms).await? {
        return Ok(false);
    }
    record_lines(tx, id, lines).await?;
    Ok(true)
}

/// The reservation's row; `false` when the id was taken.
async fn record_header(
    tx: &Tx,
    id: &str,
    state: &str,
    expires_at_ms: Option<i64>,
) -> Result<bool, DbErr> {
    let header = reservation::ActiveModel {
        id: Set(id.to_string()),
        created_at: Set(chrono::Utc::now()),
        state: Set(state.to_string()),
        expires_at_ms: Set(expires_at_ms),
    };
    let fresh = reservation::Entity::insert(header)
        .on_conflict(
            OnConflict::column(reservation::Column::Id)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(tx)
        .await?;
    Ok(fresh == 1)
}

/// The reservation's lines.
async fn record_lines(tx: &Tx, id: &str, lines: &[StockLine]) -> Result<(), DbErr> {
    reservation_line::Entity::insert_many(lines.iter().map(|line| reservation_line::ActiveModel {
        reservation_id: Set(id.to_string()),
        sku: Set(line.sku.clone()),
        quantity: Set(i64::from(line.quantity)),
    }))
    .exec_without_returning(tx)
    .await?;
    Ok(())
}

impl Reserve {
    /// One attempt: the whole reservation or nothing.
    async fn reserve(
        &self,
        id: &str,
        lines: &[StockLine],
    ) -> Result<Result<(), InventoryError>, DbErr> {
        let tx = self.db.write().await?;
        // The header goes first: it tells whether this is the same reservation again (a
        // retried call), which already holds its stock.
        let expires = Some(now_ms().saturating_add(self.ttl_ms));
        if !record_header(&tx, id, HELD, expires).await? {
            tx.rollback().await?;
            return Ok(Ok(()));
        }
        for line in lines {
            let quantity = i64::from(line.quantity);
            if !hold(&tx, &line.sku, quantity).await? {
                let available = level::Entity::find_by_id(line.sku.clone())
                    .one(&tx)
                    .await?
                    .map(|s| s.on_hand - s.reserved)
                    .unwrap_or(0);
                // Rolling back undoes the header and the lines already held: all or nothing.
                tx.rollback().await?;
                return Ok(Err(InventoryError::InsufficientStock {
                    sku: line.sku.clone(),
                    requested: line.quantity,
                    available: u32::try_from(Ord::max(available, 0)).unwrap_or(u32::MAX),
                }));
            }
        }
        record_lines(&tx, id, lines).await?;
        tx.commit().await?;
        Ok(Ok(()))
    }
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
        // One lock order for every transaction that touches several stock rows.
        let mut lines = request.lines.clone();
        lines.sort_by(|a, b| a.sku.cmp(&b.sku));
        let id = request.reservation_id.to_string();
        retry_transient(|| self.reserve(&id, &lines))
            .await?
            .map_err(Failure::Domain)?;
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

/// Gives back the stock of reservation `id` unless it was sold; whether it did. The lines are
/// read in the transaction and undone in SKU order.
pub(crate) async fn release(tx: &Tx, id: &str) -> Result<bool, DbErr> {
    // Read before deleting: the lines go with their header (ON DELETE CASCADE).
    let lines = reservation_line::Entity::find()
        .filter(reservation_line::Column::ReservationId.eq(id))
        .order_by_asc(reservation_line::Column::Sku)
        .all(tx)
        .await?;
    let removed = reservation::Entity::delete_many()
        .filter(reservation::Column::Id.eq(id))
        .filter(reservation::Column::State.ne(SOLD))
        .exec(tx)
        .await?
        .rows_affected;
    if removed == 0 {
        return Ok(false);
    }
    for line in &lines {
        level::Entity::update_many()
            .col_expr(
                level::Column::Reserved,
                Expr::col(level::Column::Reserved).sub(line.quantity),
            )
            .filter(level::Column::Sku.eq(line.sku.as_str()))
            .exec(tx)
            .await?;
    }
    // Deleted explicitly as well, so the result does not depend on the database enforcing
    // foreign keys.
    reservation_line::Entity::delete_many()
        .filter(reservation_line::Column::ReservationId.eq(id))
        .exec(tx)
        .await?;
    Ok(true)
}

impl Release {
    async fn release(&self, id: &str) -> Result<bool, DbErr> {
        let tx = self.db.write().await?;
        let released = release(&tx, id).await?;
        tx.commit().await?;
        Ok(released)
    }
}

#[async_trait]
impl Handler<ReleaseReservation> for Release {
    async fn handle(
        &self,
        request: ReleaseReservation,
    ) -> Result<Released, Failure<InventoryError>> {
        let id = request.reservation_id.to_string();
        let released = retry_transient(|| self.release(&id)).await?;
        Ok(Released { released })
    }
}
