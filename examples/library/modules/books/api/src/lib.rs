//! Contract of the library's `books` module: titles, their copies, and lending a copy out.

#![warn(missing_docs)]

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Takes one copy of a title off the shelf for a loan.
///
/// Idempotent by `loan_id`: sending the same loan again answers as the first time did without
/// taking a second copy, so a caller may retry after a lost answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TakeCopy {
    /// Chosen by the caller (loans uses the loan id).
    pub loan_id: Uuid,
    /// The title's ISBN-13, with or without hyphens.
    pub isbn: String,
}

/// A copy is set aside for the loan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CopyTaken {
    /// The loan the copy went out for.
    pub loan_id: Uuid,
    /// The title's ISBN-13, 13 digits without hyphens.
    pub isbn: String,
    /// The title, for the loan's records.
    pub title: String,
}

/// Puts back the copy taken for a loan that did not happen (the caller could not record it).
///
/// Releasing an unknown or already returned loan is not an error (idempotent). A loan that
/// happened is returned with the event `loans.book_returned` instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReleaseCopy {
    /// The loan whose copy goes back.
    pub loan_id: Uuid,
}

/// Whether a copy went back on the shelf because of this call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CopyReleased {
    /// `false` when there was nothing (left) to put back.
    pub released: bool,
}

/// Why books refused a request.
#[derive(
    Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema, thiserror::Error,
)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum BooksError {
    /// The ISBN is not a valid ISBN-13.
    #[error("invalid ISBN `{isbn}`: {reason}")]
    InvalidIsbn {
        /// The ISBN as sent.
        isbn: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The library has no title with this ISBN.
    #[error("no book with ISBN {isbn}")]
    UnknownBook {
        /// The ISBN asked for (normalized).
        isbn: String,
    },
    /// Every copy of the title is lent out.
    #[error("every copy of {isbn} is lent out")]
    NoCopyAvailable {
        /// The title's ISBN (normalized).
        isbn: String,
    },
    /// The loan id already holds a copy of another title; a loan is one copy of one title.
    #[error("loan {loan_id} holds a copy of {held}, not of {isbn}")]
    LoanHoldsAnotherBook {
        /// The loan id sent.
        loan_id: Uuid,
        /// The title it holds (normalized ISBN).
        held: String,
        /// The title asked for (normalized ISBN).
        isbn: String,
    },
}

cleave_contract::contract! {
    module: "books",
    version: (1, 0),
    requests: {
        TakeCopy: "books.take_copy" -> CopyTaken, BooksError, idempotent;
        ReleaseCopy: "books.release_copy" -> CopyReleased, BooksError, idempotent;
    },
    events: {
    },
}
