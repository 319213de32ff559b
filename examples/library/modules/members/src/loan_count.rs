//! Counts each member's loans from the loans module's events.
//!
//! The counters are plain increments: the framework's inbox applies each event once per
//! subscriber, so a redelivered event does not count twice. Borrowed and returned commute, so
//! the counts are right whatever order the two events of a loan arrive in.

use async_trait::async_trait;
use cleave::{Delivered, HandlerError, Subscriber, Tx};
use loans_api::{BookBorrowed, BookReturned};
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::{Expr, ExprTrait};

use crate::member;

pub(crate) struct CountLoans;

impl CountLoans {
    pub(crate) fn new(_: &crate::Context) -> Self {
        CountLoans
    }
}

/// Adds `active` to the member's open loans and `total` to their loans ever.
async fn count(tx: &Tx, member_id: Uuid, active: i64, total: i64) -> Result<(), HandlerError> {
    let updated = member::Entity::update_many()
        .col_expr(
            member::Column::ActiveLoans,
            Expr::col(member::Column::ActiveLoans).add(active),
        )
        .col_expr(
            member::Column::LoansTotal,
            Expr::col(member::Column::LoansTotal).add(total),
        )
        .filter(member::Column::Id.eq(member_id.to_string()))
        .exec(tx)
        .await?
        .rows_affected;
    if updated == 0 {
        // Loans checked the member before lending, so an unknown member is a bug elsewhere;
        // failing the delivery keeps the event in the outbox where an operator sees it.
        return Err(format!("a loan for unknown member {member_id}").into());
    }
    Ok(())
}

#[async_trait]
impl Subscriber<BookBorrowed> for CountLoans {
    async fn on_event(&self, tx: &Tx, event: Delivered<BookBorrowed>) -> Result<(), HandlerError> {
        count(tx, event.event.member_id, 1, 1).await
    }
}

#[async_trait]
impl Subscriber<BookReturned> for CountLoans {
    async fn on_event(&self, tx: &Tx, event: Delivered<BookReturned>) -> Result<(), HandlerError> {
        count(tx, event.event.member_id, -1, 0).await
    }
}
