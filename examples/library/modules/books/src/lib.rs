//! The `books` module of the library: titles, their copies, and which copies are lent out.
//!
//! Answers `books.take_copy` (a copy leaves the shelf for a loan) and `books.release_copy`
//! (the copy of a loan that did not happen goes back) for loans; puts a copy back on the shelf
//! when `loans.book_returned` arrives; serves the book routes. Owns `books_titles` and
//! `books_lendings`.

use books_api::{ReleaseCopy, TakeCopy};
use loans_api::BookReturned;

mod book;
mod lending;
mod routes;

cleave::module! {
    api: books_api,
    summary: "Titles, their copies, and which copies are lent out.",
    migrations: books_migrations::Migrator,
    sends: [],
    handles: {
        TakeCopy => lending::Take::new,
        ReleaseCopy => lending::Release::new,
    },
    subscribes: { BookReturned => lending::PutBack::new },
    state: [routes::BooksState::new],
    routes: [routes::add_book, routes::get_book],
}
