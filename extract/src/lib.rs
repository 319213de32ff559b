//! cleave-extract: a module running in another process, reached over HTTP, behind the same
//! `bus.call` and the same events as in the monolith.
//!
//! - [`server`]: the internal endpoints of a process — its hosted modules' requests and event
//!   intake — on a listener apart from the public API, behind a shared token.
//! - [`client`]: [`client::RemoteModule`], the `RequestTransport` and `EventRoute` for a module
//!   in another process: per-module timeout, retries for idempotent requests only, a circuit
//!   breaker, contract-version header.
//! - [`wire`]: the paths, headers and status codes both sides agree on, and
//!   [`wire::WireError`], every error the internal endpoints answer with.
//! - [`spec`]: the OpenAPI document of the internal endpoints of an application, generated from
//!   its contracts and [`wire::WireError`].
//!
//! Modules never see any of it: extraction is another implementation behind the bus's
//! interfaces, chosen by configuration.

#![warn(missing_docs)]

pub mod broker;
pub mod client;
pub mod identity;
pub mod server;
pub mod spec;
pub mod wire;

pub use client::{RemoteModule, RemoteSettings};
pub use identity::Credentials;
pub use server::{InternalEndpoints, configure_internal};
