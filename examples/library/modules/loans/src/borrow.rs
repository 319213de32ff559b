//! Borrowing a book: ask members, take a copy from books, then store the loan and publish
//! `loans.book_borrowed` in one transaction.

use books_api::{BooksError, ReleaseCopy, TakeCopy};
use cleave::http::ApiError;
use cleave::{Database, Publisher};
use loans_api::BookBorrowed;
use members_api::{CheckBorrower, MembersError};
use sea_orm::ActiveValue::Set;
use sea_orm::entity::prelude::*;
use serde::Deserialize;

use crate::loan::{self, LoanPeriod};

pub(crate) struct Borrow {
    db: Database,
    bus: crate::Bus,
    events: Publisher,
    period: LoanPeriod,
}

impl Borrow {
    pub(crate) fn new(context: &crate::Context) -> Self {
        Borrow {
            db: context.db.clone(),
            bus: context.bus.clone(),
            events: context.events.clone(),
            period: context.config.loan_days,
        }
    }
}

/// The body of `POST /api/loans`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct NewLoan {
    member_id: Uuid,
    /// ISBN-13 of the book, with or without hyphens.
    isbn: String,
    /// Chosen by the client to make a retry safe: borrowing again with the same id answers
    /// the loan made the first time. A new id when absent.
    loan_id: Option<Uuid>,
}

/// What a borrow did.
pub(crate) enum Borrowed {
    /// A new loan.
    New(loan::Model),
    /// The loan made by an earlier request with the same `loan_id`.
    Before(loan::Model),
}

/// What storing a loan found.
enum Stored {
    New,
    /// A request with the same loan id stored it first.
    Before(loan::Model),
    /// The member reached their limit since the first count (a concurrent borrow).
    OverLimit(u64),
}

fn limit_reached(member_id: Uuid, open: u64, limit: u32) -> ApiError {
    ApiError::conflict(
        "loan_limit_reached",
        format!("member {member_id} holds {open} books and may hold {limit}; return one first"),
    )
}

impl Borrow {
    pub(crate) async fn borrow(&self, new: NewLoan) -> Result<Borrowed, ApiError> {
        let member_id = new.member_id;
        if let Some(id) = new.loan_id
            && let Some(before) = self.find(id).await?
        {
            return replayed(before, member_id);
        }
        let borrower = self
            .bus
            .call(CheckBorrower { member_id })
            .await
            .map_err(|e| {
                ApiError::from_call(e, |e| match e {
                    MembersError::UnknownMember { .. } => {
                        ApiError::not_found("member_not_found", e.to_string())
                    }
                    MembersError::Suspended { .. } => {
                        ApiError::conflict("member_suspended", e.to_string())
                    }
                })
            })?;
        // Counted before taking a copy, so a member at their limit does not move a book; and
        // again when storing, where it decides.
        let open = loan::open_loans(self.db.read(), member_id)
            .await
            .map_err(|e| ApiError::internal("cannot count the member's loans", e))?;
        if open >= u64::from(borrower.loan_limit) {
            return Err(limit_reached(member_id, open, borrower.loan_limit));
        }

        let id = new.loan_id.unwrap_or_else(Uuid::now_v7);
        let copy = match self
            .bus
            .call(TakeCopy {
                loan_id: id,
                isbn: new.isbn,
            })
            .await
        {
            Ok(copy) => copy,
            Err(cleave::CallError::Domain(e)) => {
                return Err(match e {
                    BooksError::InvalidIsbn { .. } => {
                        ApiError::invalid("invalid_isbn", e.to_string())
                    }
                    BooksError::UnknownBook { .. } => {
                        ApiError::not_found("book_not_found", e.to_string())
                    }
                    BooksError::NoCopyAvailable { .. } => {
                        ApiError::conflict("no_copy_available", e.to_string())
                    }
                    BooksError::LoanHoldsAnotherBook { .. } => {
                        ApiError::conflict("loan_id_taken", e.to_string())
                    }
                });
            }
            Err(e) => {
                // A take that timed out may still have run: put the copy back (idempotent),
                // so no copy stays off the shelf without a loan.
                self.release(id).await;
                return Err(ApiError::from_call(e, |e: BooksError| {
                    ApiError::internal("books", e)
                }));
            }
        };

        let borrowed_at = chrono::Utc::now();
        let row = loan::Model {
            id: id.to_string(),
            member_id: member_id.to_string(),
            isbn: copy.isbn,
            title: copy.title,
            status: loan::BORROWED.to_string(),
            due_on: self.period.due_on(borrowed_at),
            borrowed_at,
            returned_at: None,
        };
        match self.store(&row, borrower.loan_limit).await {
            Ok(Stored::New) => Ok(Borrowed::New(row)),
            // Same loan id, same copy (taking is idempotent by loan id): nothing to give back.
            Ok(Stored::Before(before)) => replayed(before, member_id),
            Ok(Stored::OverLimit(open)) => {
                self.release(id).await;
                Err(limit_reached(member_id, open, borrower.loan_limit))
            }
            Err(e) => {
                self.release(id).await;
                Err(ApiError::internal("cannot store the loan", e))
            }
        }
    }

    async fn find(&self, id: Uuid) -> Result<Option<loan::Model>, ApiError> {
        loan::Entity::find_by_id(id.to_string())
            .one(self.db.read())
            .await
            .map_err(|e| ApiError::internal("cannot read the loan", e))
    }

    /// Stores the loan and publishes `loans.book_borrowed`, unless the member reached their
    /// limit meanwhile. On SQLite the one writer serializes borrows, so the count decides; on
    /// PostgreSQL two borrows of one member at the same instant may both pass it.
    async fn store(
        &self,
        row: &loan::Model,
        limit: u32,
    ) -> Result<Stored, Box<dyn std::error::Error + Send + Sync>> {
        let member_id = Uuid::parse_str(&row.member_id)?;
        let tx = self.db.write().await?;
        if let Some(before) = loan::Entity::find_by_id(row.id.as_str()).one(&tx).await? {
            tx.rollback().await?;
            return Ok(Stored::Before(before));
        }
        let open = loan::open_loans(&tx, member_id).await?;
        if open >= u64::from(limit) {
            tx.rollback().await?;
            return Ok(Stored::OverLimit(open));
        }
        loan::ActiveModel {
            id: Set(row.id.clone()),
            member_id: Set(row.member_id.clone()),
            isbn: Set(row.isbn.clone()),
            title: Set(row.title.clone()),
            status: Set(row.status.clone()),
            due_on: Set(row.due_on),
            borrowed_at: Set(row.borrowed_at),
            returned_at: Set(None),
        }
        .insert(&tx)
        .await?;
        self.events
            .publish(
                &tx,
                &BookBorrowed {
                    loan_id: Uuid::parse_str(&row.id)?,
                    member_id,
                    isbn: row.isbn.clone(),
                    title: row.title.clone(),
                    due_on: row.due_on.to_string(),
                },
            )
            .await?;
        tx.commit().await?;
        Ok(Stored::New)
    }

    /// Gives back the copy taken for a loan that was not stored. Releasing is idempotent, so
    /// trying is always safe; if it fails too, the loan id is logged for an operator.
    async fn release(&self, loan_id: Uuid) {
        if let Err(e) = self.bus.call(ReleaseCopy { loan_id }).await {
            tracing::error!(loan = %loan_id, error = %e, "could not put back the copy of a loan that was not stored");
        }
    }
}

/// The answer to a borrow whose `loan_id` was used before: that loan, if it is the same
/// member's.
fn replayed(before: loan::Model, member_id: Uuid) -> Result<Borrowed, ApiError> {
    if before.member_id != member_id.to_string() {
        return Err(ApiError::conflict(
            "loan_id_taken",
            format!("loan {} belongs to another member", before.id),
        ));
    }
    Ok(Borrowed::Before(before))
}
