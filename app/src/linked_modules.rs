//! The one place where the binary names its modules.
//!
//! A module and its contract register themselves through `inventory`, but the linker drops a
//! crate that nothing names; each line below names one crate so its registration is linked.
//! Everything else (handlers, routes, migrations, subscriptions, contracts) comes from the
//! modules' own declarations. `shop new-module NAME` appends the lines of a new module.
//!
//! Every module's api crate is linked whatever the features: a binary that hosts only billing
//! still needs to know that orders and notifications subscribe to billing's events, and which
//! version of their contracts it speaks. An implementation crate is linked only with its
//! feature.

use billing_api as _;
use catalog_api as _;
use inventory_api as _;
use notifications_api as _;
use orders_api as _;

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
