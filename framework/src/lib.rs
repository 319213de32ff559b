//! cleave: build a modular monolith whose modules can later be extracted into services.
//!
//! A module declares itself once with a [`ModuleDescriptor`] submitted through [`register_module!`];
//! the application discovers every linked module, migrates its tables, lets it register its
//! request handlers, event subscribers and HTTP routes on a [`Registrar`], and wires them onto
//! one [`Bus`]. Modules talk only through the typed messages of each other's `api` crates:
//! requests with [`Bus::call`], events with [`Publisher::publish`] inside the transaction that
//! makes the change (the transactional outbox in [`outbox`]).

#![warn(missing_docs)]

pub mod bus;
pub mod config;
pub mod db;
pub mod events;
pub mod http;
pub mod metrics;
pub mod module;
pub mod outbox;
#[cfg(feature = "testing")]
pub mod testing;
pub mod trace;

pub use bus::{Bus, DeliveryFailure, Failure, Handler, Outgoing, RequestTransport, WireReply};
pub use cleave_contract::{CallError, Contract, Event, Request, Version, owner_of};
pub use config::{Config, ExtractConfig, LogFormat, OutboxConfig, TelemetryConfig};
pub use events::{Delivered, EventEnvelope, HandlerError, PublishError, Publisher, Subscriber};
pub use metrics::Metrics;
pub use module::{
    ModuleContext, ModuleDescriptor, ModuleRegistration, RegisterError, Registrar, Runtime,
    migrate_with, modules,
};

/// Re-exported so that module crates register without naming `inventory` themselves (one of the
/// reference modules is itself called `inventory`).
#[doc(hidden)]
pub use inventory as __inventory;

/// Registers a module's descriptor so that any binary linking the crate discovers it.
///
/// ```ignore
/// pub static MODULE: cleave::ModuleDescriptor = cleave::ModuleDescriptor { /* … */ };
/// cleave::register_module!(MODULE);
/// ```
#[macro_export]
macro_rules! register_module {
    ($descriptor:path) => {
        $crate::__inventory::submit! {
            $crate::ModuleRegistration(&$descriptor)
        }
    };
}
