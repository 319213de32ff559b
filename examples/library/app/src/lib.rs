//! The `library`: a second application on cleave, in another domain than the shop. Members
//! borrow books; three modules (members, books, loans) in one binary. Like the shop's, its
//! binary only names itself and its modules; everything else comes from the framework
//! (`cleave-app`).

#![warn(missing_docs)]

mod linked_modules;

/// The library, as the framework runs it.
pub const APP: cleave_app::App = cleave_app::App::new("library")
    .about("A lending library on cleave: members borrow books; one binary, three modules.")
    .version(env!("CARGO_PKG_VERSION"))
    .placements(include_str!("../placements.toml"));
