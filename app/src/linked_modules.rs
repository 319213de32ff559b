//! The one place where the binary names its modules.
//!
//! A module registers itself through `inventory`, but the linker drops a crate that nothing
//! names; each line below names one module's crate (behind its cargo feature) so its
//! registration is linked. Everything else — handlers, routes, migrations, subscriptions —
//! comes from the modules' descriptors.
//!
//! Every module's contract is known whatever the features: a binary that hosts only billing
//! still needs to know that orders and notifications subscribe to billing's events, and
//! which version of their contracts it speaks.

use cleave::Contract;

/// The contracts of every module of the shop, linked or not.
pub(crate) const CONTRACTS: &[&Contract] = &[
    &billing_api::CONTRACT,
    &catalog_api::CONTRACT,
    &inventory_api::CONTRACT,
    &notifications_api::CONTRACT,
    &orders_api::CONTRACT,
];

/// Builds a module's published contract document.
type SchemaFn = fn() -> serde_json::Value;

/// The published contract (JSON Schema of every message) of every module, by module name.
pub(crate) const CONTRACT_SCHEMAS: &[(&str, SchemaFn)] = &[
    (billing_api::MODULE, billing_api::json_schema),
    (catalog_api::MODULE, catalog_api::json_schema),
    (inventory_api::MODULE, inventory_api::json_schema),
    (notifications_api::MODULE, notifications_api::json_schema),
    (orders_api::MODULE, orders_api::json_schema),
];

/// The published contract of `module`, if the binary knows it.
pub fn contract_schema(module: &str) -> Option<serde_json::Value> {
    CONTRACT_SCHEMAS
        .iter()
        .find(|(name, _)| *name == module)
        .map(|(_, schema)| schema())
}

/// Every module's published contract, by module name.
pub fn contract_schemas() -> Vec<(&'static str, serde_json::Value)> {
    CONTRACT_SCHEMAS
        .iter()
        .map(|(name, schema)| (*name, schema()))
        .collect()
}

#[cfg(feature = "billing")]
use billing as _;
#[cfg(feature = "catalog")]
use catalog as _;
#[cfg(feature = "inventory")]
use inventory_module as _;
#[cfg(feature = "notifications")]
use notifications as _;
#[cfg(feature = "orders")]
use orders as _;
