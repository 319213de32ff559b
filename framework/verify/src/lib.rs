//! cleave-verify: the boundary rules of a cleave workspace, checked on facts and reported with
//! what to fix.
//!
//! Cargo already stops a module from using a crate it does not depend on. These rules catch
//! what Cargo allows but the design forbids. The facts come from two places: the crate graph
//! (`cargo metadata`, see [`CrateGraph`]) and the modules' own declarations ([`ModuleFacts`]:
//! descriptor, contract, the tables its migrations create, the tables its entities name).
//! [`verify`] is pure, so every rule can be shown failing on a fixture.

#![warn(missing_docs)]

mod graph;
mod rules;

pub use graph::{CrateGraph, CrateNode, entity_tables};
pub use rules::{ModuleFacts, Rule, Violation, verify};
