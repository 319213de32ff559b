//! Lending copies out and putting them back: `books.take_copy`, `books.release_copy`, and
//! the subscriber of `loans.book_returned`.
//!
//! A lending row per loan makes each of them idempotent: taking for a loan that already holds
//! a copy answers as before, and a copy goes back only when its lending row is still open.

use async_trait::async_trait;
use books_api::{BooksError, CopyReleased, CopyTaken, ReleaseCopy, TakeCopy};
use cleave::{Delivered, Failure, Handler, HandlerError, Subscriber, Tx};
use loans_api::BookReturned;
use sea_orm::ActiveValue::Set;
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::{Expr, ExprTrait};

use crate::book::{Isbn, lending, title};

pub(crate) struct Take {
    db: cleave::Database,
}

impl Take {
    pub(crate) fn new(context: &crate::Context) -> Self {
        Take {
            db: context.db.clone(),
        }
    }
}

/// Takes one copy of `isbn` off the shelf, if one is there.
async fn take_one(tx: &Tx, isbn: &str) -> Result<bool, DbErr> {
    let taken = title::Entity::update_many()
        .col_expr(
            title::Column::Available,
            Expr::col(title::Column::Available).sub(1),
        )
        .filter(title::Column::Isbn.eq(isbn))
        .filter(title::Column::Available.gt(0))
        .exec(tx)
        .await?
        .rows_affected;
    Ok(taken == 1)
}

#[async_trait]
impl Handler<TakeCopy> for Take {
    async fn handle(&self, request: TakeCopy) -> Result<CopyTaken, Failure<BooksError>> {
        let isbn = Isbn::parse(&request.isbn).map_err(|e| {
            Failure::Domain(BooksError::InvalidIsbn {
                isbn: request.isbn.clone(),
                reason: e.message,
            })
        })?;
        let loan_id = request.loan_id.to_string();
        let tx = self.db.write().await?;
        let Some(book) = title::Entity::find_by_id(isbn.as_str()).one(&tx).await? else {
            tx.rollback().await?;
            return Err(Failure::Domain(BooksError::UnknownBook {
                isbn: isbn.into_inner(),
            }));
        };
        let answer = CopyTaken {
            loan_id: request.loan_id,
            isbn: book.isbn.clone(),
            title: book.title,
        };
        let no_copy = || {
            Failure::Domain(BooksError::NoCopyAvailable {
                isbn: book.isbn.clone(),
            })
        };
        match lending::Entity::find_by_id(loan_id.as_str())
            .one(&tx)
            .await?
        {
            // The same loan again (a retried call): it already holds its copy.
            Some(held) if held.returned_at.is_none() => {
                tx.rollback().await?;
                if held.isbn != book.isbn {
                    return Err(Failure::Domain(BooksError::LoanHoldsAnotherBook {
                        loan_id: request.loan_id,
                        held: held.isbn,
                        isbn: book.isbn.clone(),
                    }));
                }
                return Ok(answer);
            }
            // A loan whose copy was released because it was not recorded, tried again: it
            // takes a copy again.
            Some(_) => {
                if !take_one(&tx, &book.isbn).await? {
                    tx.rollback().await?;
                    return Err(no_copy());
                }
                lending::Entity::update_many()
                    .col_expr(lending::Column::Isbn, Expr::value(book.isbn.as_str()))
                    .col_expr(
                        lending::Column::ReturnedAt,
                        Expr::value(Option::<ChronoDateTimeUtc>::None),
                    )
                    .filter(lending::Column::LoanId.eq(loan_id.as_str()))
                    .exec(&tx)
                    .await?;
            }
            None => {
                if !take_one(&tx, &book.isbn).await? {
                    tx.rollback().await?;
                    return Err(no_copy());
                }
                lending::ActiveModel {
                    loan_id: Set(loan_id),
                    isbn: Set(book.isbn.clone()),
                    taken_at: Set(chrono::Utc::now()),
                    returned_at: Set(None),
                }
                .insert(&tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(answer)
    }
}

/// Puts the copy of `loan_id` back on the shelf: `Some(true)` if it went back now,
/// `Some(false)` if it was back already, `None` if books never lent it.
async fn put_back(tx: &Tx, loan_id: Uuid) -> Result<Option<bool>, DbErr> {
    let loan_id = loan_id.to_string();
    let Some(held) = lending::Entity::find_by_id(loan_id.as_str())
        .one(tx)
        .await?
    else {
        return Ok(None);
    };
    let closed = lending::Entity::update_many()
        .col_expr(lending::Column::ReturnedAt, Expr::value(chrono::Utc::now()))
        .filter(lending::Column::LoanId.eq(loan_id.as_str()))
        .filter(lending::Column::ReturnedAt.is_null())
        .exec(tx)
        .await?
        .rows_affected;
    if closed == 0 {
        return Ok(Some(false));
    }
    title::Entity::update_many()
        .col_expr(
            title::Column::Available,
            Expr::col(title::Column::Available).add(1),
        )
        .filter(title::Column::Isbn.eq(held.isbn.as_str()))
        .exec(tx)
        .await?;
    Ok(Some(true))
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
impl Handler<ReleaseCopy> for Release {
    async fn handle(&self, request: ReleaseCopy) -> Result<CopyReleased, Failure<BooksError>> {
        let tx = self.db.write().await?;
        let released = put_back(&tx, request.loan_id).await? == Some(true);
        tx.commit().await?;
        Ok(CopyReleased { released })
    }
}

/// Puts the copy back when the loans module says it was returned.
pub(crate) struct PutBack;

impl PutBack {
    pub(crate) fn new(_: &crate::Context) -> Self {
        PutBack
    }
}

#[async_trait]
impl Subscriber<BookReturned> for PutBack {
    async fn on_event(&self, tx: &Tx, event: Delivered<BookReturned>) -> Result<(), HandlerError> {
        let loan_id = event.event.loan_id;
        match put_back(tx, loan_id).await? {
            Some(_) => Ok(()),
            // Loans records a loan only after books lent its copy, so this is a bug elsewhere;
            // failing the delivery keeps the event in the outbox where an operator sees it.
            None => {
                Err(format!("loan {loan_id} was returned, but books never lent its copy").into())
            }
        }
    }
}
