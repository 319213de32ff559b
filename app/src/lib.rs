//! The `shop`: cleave's reference application, an online shop of five modules. Its binary only
//! names itself and its modules; the command line, the servers and everything else come from
//! the framework (`cleave-app`).

#![warn(missing_docs)]

mod linked_modules;

/// The shop, as the framework runs it.
pub const APP: cleave_app::App = cleave_app::App::new("shop")
    .about("The cleave reference shop: one binary, five modules, durable events.")
    .version(env!("CARGO_PKG_VERSION"))
    .placements(include_str!("../placements.toml"));
