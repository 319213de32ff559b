//! The `members` module of the library: who may borrow, up to how many books at once, and how
//! many loans each member holds.
//!
//! Answers `members.check_borrower` for loans, counts each member's loans from
//! `loans.book_borrowed` and `loans.book_returned`, and serves the member routes. Owns
//! `members_members`.

use loans_api::{BookBorrowed, BookReturned};
use members_api::CheckBorrower;

mod check;
mod loan_count;
mod member;
mod routes;

cleave::module! {
    api: members_api,
    summary: "Who may borrow, up to how many books at once, and the loans each member holds.",
    migrations: members_migrations::Migrator,
    sends: [],
    handles: { CheckBorrower => check::CheckBorrowerHandler::new },
    subscribes: {
        BookBorrowed => loan_count::CountLoans::new,
        BookReturned => loan_count::CountLoans::new,
    },
    state: [routes::MembersState::new],
    routes: [routes::register_member, routes::get_member, routes::suspend_member],
}
