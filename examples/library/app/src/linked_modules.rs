//! The one place where the binary names its modules.
//!
//! A module and its contract register themselves through `inventory`, but the linker drops a
//! crate that nothing names; each line below names one crate so its registration is linked.
//! Everything else (handlers, routes, migrations, subscriptions, contracts) comes from the
//! modules' own declarations.
//!
//! Every module's api crate is linked whatever the features: a binary that hosts only loans
//! still needs to know that books and members subscribe to its events, and which version of
//! their contracts it speaks. An implementation crate is linked only with its feature.

use books_api as _;
use loans_api as _;
use members_api as _;

#[cfg(feature = "books")]
use books as _;
#[cfg(feature = "loans")]
use loans as _;
#[cfg(feature = "members")]
use members as _;
