//! Contract of the library's `loans` module: the events of a loan's life.

#![warn(missing_docs)]

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A member borrowed a copy of a book: the member may borrow, and the copy left the shelf.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BookBorrowed {
    /// The loan.
    pub loan_id: Uuid,
    /// Who borrowed.
    pub member_id: Uuid,
    /// What was borrowed: the title's ISBN-13.
    pub isbn: String,
    /// The title.
    pub title: String,
    /// When the copy is due back, as an ISO 8601 date (`2026-12-24`).
    pub due_on: String,
}

/// A member brought a borrowed copy back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BookReturned {
    /// The loan that ended.
    pub loan_id: Uuid,
    /// Who returned it.
    pub member_id: Uuid,
    /// The title's ISBN-13.
    pub isbn: String,
}

cleave_contract::contract! {
    module: "loans",
    version: (1, 0),
    requests: {
    },
    events: {
        BookBorrowed: "loans.book_borrowed";
        BookReturned: "loans.book_returned";
    },
}
