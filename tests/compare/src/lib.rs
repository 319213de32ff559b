//! The same shop in real containers, placed three ways, under the same workload and faults.
//!
//! - [`image`]: the `shop` image, `FROM scratch` with the statically linked release binary,
//!   built through the engine's API when that binary changed (no registry needed); the name is
//!   configurable so users with a registry run the published image instead.
//! - [`topology`]: the monolith, billing extracted, and every module in its own container,
//!   started with testcontainers on a Docker network created for the run.
//! - [`workload`]: the public HTTP API driven as a client would, routed to whichever container
//!   hosts each module; latencies, throughput and the fault runs.
//! - [`report`]: `target/compare/report.md`, `summary.json` and SVG charts.
//!
//! The suite in `tests/shop/containers.rs` asserts the business results and the fault
//! behaviour; the binary `cleave-compare` (`scripts/compare.sh`) measures and writes the report.

pub mod docker;
pub mod image;
pub mod report;
pub mod topology;
pub mod workload;
