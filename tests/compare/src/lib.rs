//! Any cleave application in real containers, placed every way it names, under the same
//! workload and faults; nothing here knows an application.
//!
//! - [`application`]: the application's name and its named placements (from its
//!   `cleave_app::App`); the one with the fewest nodes is the baseline.
//! - [`image`]: the application's image, `FROM scratch` with its statically linked release
//!   binary, built through the engine's API when that binary changed (no registry needed); the
//!   name is configurable so users with a registry run the published image instead.
//! - [`topology`]: a placement's nodes as containers started with testcontainers on a Docker
//!   network created for the run.
//! - [`workload`]: the [`workload::Workload`] an application supplies (what an operation is,
//!   when it is complete, which module the faults hit) and the public HTTP API driven with it,
//!   routed to whichever container hosts each module; latencies, throughput, fault runs.
//! - [`report`]: `report.md`, `summary.json` and SVG charts, in the application's words.
//! - [`run`]: the command an application's compare binary runs.
//! - [`deploy`]: what an application's `deploy` command writes, checked: Kubernetes manifests
//!   against the API's schemas (offline), Compose files by `docker-compose config`, and a
//!   Compose deployment brought up and down.
//!
//! The shop's workload and binary are in `app/compare` (`scripts/compare.sh`), the library's
//! in `examples/library/compare`; `tests/shop/containers.rs` asserts business results and
//! fault behaviour of the shop's placements.

#![warn(missing_docs)]

pub mod application;
pub mod deploy;
pub mod docker;
pub mod image;
pub mod prediction;
pub mod report;
pub mod run;
pub mod scaling;
pub mod topology;
pub mod workload;

pub use application::{Application, Layout};
pub use workload::{Answer, Client, Words, Workload};
