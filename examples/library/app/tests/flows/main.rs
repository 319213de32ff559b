//! Cross-module suites of the library, through its public HTTP API.
//!
//! One test binary (shared helpers, one build): the same scenarios run against the library
//! as one process and with loans extracted into a second process; the command line is the
//! real `library` binary; the committed contracts and module docs are checked against the
//! code.

mod cli;
mod deploy;
mod extracted;
mod monolith;
mod published;
mod scenarios;
mod support;
