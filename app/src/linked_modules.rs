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
