//! The `loans` module of the library: lends books to members and follows each loan until it
//! is returned.
//!
//! Borrowing asks `members` whether the member may borrow and `books` for a copy over the bus,
//! counts the member's open loans against their limit, then stores the loan and publishes
//! `loans.book_borrowed` in one transaction. Returning stores the return and publishes
//! `loans.book_returned`, which puts the copy back on the shelf (books) and off the member's
//! count (members). Owns `loans_loans`.

use books_api::{ReleaseCopy, TakeCopy};
use members_api::CheckBorrower;

mod borrow;
mod give_back;
mod loan;
mod routes;

/// The loans module's settings, `[module.loans]` in the application's config file.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoansConfig {
    /// `loan_days`: how long a member may keep a book, 1 to 365 days (21 when absent).
    loan_days: loan::LoanPeriod,
}

cleave::module! {
    api: loans_api,
    summary: "Lends books to members and follows each loan until it is returned.",
    migrations: loans_migrations::Migrator,
    config: LoansConfig,
    sends: [CheckBorrower, TakeCopy, ReleaseCopy],
    handles: {},
    subscribes: {},
    state: [routes::LoansState::new, borrow::Borrow::new, give_back::GiveBack::new],
    routes: [
        routes::borrow_book,
        routes::get_loan,
        routes::list_loans,
        routes::return_book,
    ],
}
