//! A reservation through its order's life: confirmed when the order is stored, sold when it is
//! paid, given back when no order confirms it in time.

use std::time::Duration;

use async_trait::async_trait;
use cleave::{Delivered, HandlerError, Subscriber, Tx};
use inventory_api::StockLine;
use orders_api::{OrderPaid, OrderPlaced};
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{QueryOrder, QuerySelect};

use crate::reservations::{now_ms, record, release};
use crate::stock::{CONFIRMED, HELD, SOLD, level, reservation, reservation_line};

/// On `orders.order_placed`: the order exists, so its reservation no longer lapses.
pub(crate) struct Confirm;

impl Confirm {
    pub(crate) fn new(_: &crate::Context) -> Self {
        Confirm
    }
}

#[async_trait]
impl Subscriber<OrderPlaced> for Confirm {
    async fn on_event(&self, tx: &Tx, placed: Delivered<OrderPlaced>) -> Result<(), HandlerError> {
        let order = placed.event;
        let id = order.order_id.to_string();
        let confirmed = reservation::Entity::update_many()
            .col_expr(reservation::Column::State, Expr::value(CONFIRMED))
            .col_expr(
                reservation::Column::ExpiresAtMs,
                Expr::value(Option::<i64>::None),
            )
            .filter(reservation::Column::Id.eq(id.as_str()))
            // In the text, not bound: the held index's `WHERE` names the state (`eq_literal`).
            .filter(cleave::db::eq_literal(reservation::Column::State, HELD))
            .exec(tx)
            .await?
            .rows_affected;
        if confirmed == 1
            || reservation::Entity::find_by_id(id.clone())
                .one(tx)
                .await?
                .is_some()
        {
            return Ok(());
        }
        // The reservation lapsed before the order's event arrived (the event was held up
        // longer than `reservation_ttl_s`). The order exists and will be paid: hold its stock
        // again, even if that takes `available` below zero, where an operator sees it.
        let mut lines: Vec<StockLine> = order
            .lines
            .iter()
            .map(|l| StockLine {
                sku: l.sku.clone(),
                quantity: l.quantity,
            })
            .collect();
        lines.sort_by(|a, b| a.sku.cmp(&b.sku));
        tracing::warn!(order = %id, "the order's reservation had lapsed; holding its stock again");
        for line in &lines {
            level::Entity::update_many()
                .col_expr(
                    level::Column::Reserved,
                    Expr::col(level::Column::Reserved).add(i64::from(line.quantity)),
                )
                .filter(level::Column::Sku.eq(line.sku.as_str()))
                .exec(tx)
                .await?;
        }
        record(tx, &id, CONFIRMED, None, &lines).await?;
        Ok(())
    }
}

/// On `orders.order_paid`: the reserved units are sold, they leave `on_hand`.
pub(crate) struct Sell;

impl Sell {
    pub(crate) fn new(_: &crate::Context) -> Self {
        Sell
    }
}

#[async_trait]
impl Subscriber<OrderPaid> for Sell {
    async fn on_event(&self, tx: &Tx, paid: Delivered<OrderPaid>) -> Result<(), HandlerError> {
        let id = paid.event.order_id.to_string();
        let sold = reservation::Entity::update_many()
            .col_expr(reservation::Column::State, Expr::value(SOLD))
            .col_expr(
                reservation::Column::ExpiresAtMs,
                Expr::value(Option::<i64>::None),
            )
            .filter(reservation::Column::Id.eq(id.as_str()))
            .filter(reservation::Column::State.ne(SOLD))
            .exec(tx)
            .await?
            .rows_affected;
        if sold == 0 {
            tracing::error!(order = %id, "a paid order has no reservation to sell");
            return Ok(());
        }
        let lines = reservation_line::Entity::find()
            .filter(reservation_line::Column::ReservationId.eq(id.as_str()))
            .order_by_asc(reservation_line::Column::Sku)
            .all(tx)
            .await?;
        for line in &lines {
            level::Entity::update_many()
                .col_expr(
                    level::Column::OnHand,
                    Expr::col(level::Column::OnHand).sub(line.quantity),
                )
                .col_expr(
                    level::Column::Reserved,
                    Expr::col(level::Column::Reserved).sub(line.quantity),
                )
                .filter(level::Column::Sku.eq(line.sku.as_str()))
                .exec(tx)
                .await?;
        }
        Ok(())
    }
}

/// Gives back the stock of held reservations whose time ran out, every `sweep_every_s`: their
/// order was never stored (the process died between reserving and storing it, or the
/// caller gave up).
pub(crate) async fn expire_held_reservations(context: crate::Context) {
    let every = Duration::from_secs(Ord::max(context.config.sweep_every_s, 1));
    loop {
        tokio::time::sleep(every).await;
        match expire_once(&context.db).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(released = n, "gave back the stock of lapsed reservations"),
            Err(e) => tracing::warn!(error = %e, "could not release lapsed reservations"),
        }
    }
}

/// Releases up to 100 lapsed reservations; how many.
pub(crate) async fn expire_once(db: &cleave::Database) -> Result<usize, DbErr> {
    let lapsed: Vec<String> = reservation::Entity::find()
        .select_only()
        .column(reservation::Column::Id)
        .filter(cleave::db::eq_literal(reservation::Column::State, HELD))
        .filter(reservation::Column::ExpiresAtMs.lt(now_ms()))
        .limit(100)
        .into_tuple()
        .all(db.read())
        .await?;
    if lapsed.is_empty() {
        return Ok(0);
    }
    cleave::db::retry_transient(|| async {
        let tx = db.write().await?;
        let mut released = 0;
        for id in &lapsed {
            // Still held and lapsed, checked again inside the transaction: its order may have
            // been confirmed meanwhile.
            let still = reservation::Entity::find_by_id(id.clone())
                .one(&tx)
                .await?
                .is_some_and(|r| r.state == HELD && r.expires_at_ms.is_some_and(|t| t < now_ms()));
            if still && release(&tx, id).await? {
                released += 1;
            }
        }
        tx.commit().await?;
        Ok(released)
    })
    .await
}
