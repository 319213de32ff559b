//! The one place where the binary names its modules.
//!
//! A module registers itself through `inventory`, but the linker drops a crate that nothing
//! names; each line below names one module's crate (behind its cargo feature) so its
//! registration is linked. Everything else — handlers, routes, migrations, subscriptions —
//! comes from the modules' descriptors.

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
