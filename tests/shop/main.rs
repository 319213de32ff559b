//! Cross-module suites of the reference shop, through its public HTTP API.
//!
//! One test binary (shared helpers, one build): the scenario functions run against the shop
//! in-process and in serializing mode; the crash tests run the real `shop` binary and kill it.

mod architecture;
mod bad_input;
mod bench_smoke;
mod broker;
mod cli;
mod containers;
mod crash;
mod deploy;
mod faults;
mod idempotency;
mod instances;
mod internal;
mod kill_loop;
mod operations;
mod plan;
mod postgres;
mod python_module;
mod replicas;
mod scaffold;
mod scenarios;
mod schemathesis;
mod shutdown;
mod support;
mod tidy;
mod topology;
