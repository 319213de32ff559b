//! The `shop` composition root: configuration, the assembled modules, the HTTP server and the
//! command line. The binary's `main` only parses arguments and calls into here.

#![warn(missing_docs)]

mod application;
pub mod cli;
pub mod docs;
mod linked_modules;

pub use linked_modules::{contract_schema, contract_schemas};
pub mod telemetry;
pub mod verify;

pub use application::{Application, Listeners, ShopHandle, openapi};
