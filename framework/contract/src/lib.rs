//! The message contract of cleave: what a module's `api` crate declares and what a caller sees.
//!
//! This crate is the only cleave dependency of an `api` crate, so it stays small: serde,
//! thiserror, schemars (for the published JSON Schema), regex-lite (the rules of value types,
//! [`value`]) and inventory (so a binary finds every contract it links). Everything here is plain data that crosses a process boundary unchanged
//! when a module is extracted.
//!
//! An api crate declares its messages once, with [`contract!`]:
//!
//! ```ignore
//! cleave_contract::contract! {
//!     module: "billing",
//!     version: (1, 1),
//!     requests: {
//!         GetInvoice: "billing.get_invoice" -> Invoice, BillingError, idempotent;
//!     },
//!     events: {
//!         PaymentCaptured: "billing.payment_captured";
//!     },
//! }
//! ```
//!
//! which implements [`Request`] and [`Event`] for those types and generates the crate's
//! `MODULE` name, its `CONTRACT` and its published JSON Schema document.

#![warn(missing_docs)]

mod contract;
mod error;
mod macros;
pub mod schema;
pub mod value;

use std::fmt;

use serde::{Serialize, de::DeserializeOwned};

pub use contract::{
    Contract, ContractRegistration, VERSION_PART_PATTERN, Version, contract_of, contracts,
};
pub use error::CallError;

#[doc(hidden)]
pub use inventory as __inventory;
#[doc(hidden)]
pub use schemars as __schemars;
#[doc(hidden)]
pub use serde as __serde;
#[doc(hidden)]
pub use serde_json as __serde_json;

/// A request one module sends to another and the shape of its answer.
///
/// `NAME` is the stable wire name (`"<module>.<verb>"`): it routes the request in-process and
/// over the network, so renaming it is a breaking contract change. Implemented by
/// [`contract!`], never by hand.
pub trait Request: Serialize + DeserializeOwned + Send + 'static {
    /// Stable wire name, `"<module>.<verb>"`.
    const NAME: &'static str;
    /// Whether sending the same request twice has the same effect as sending it once.
    ///
    /// A remote call whose answer was lost may still have run on the other side; only
    /// idempotent requests may be retried by the transport.
    const IDEMPOTENT: bool = false;
    /// What the handler answers on success.
    type Response: Serialize + DeserializeOwned + Send + 'static;
    /// The module's own (domain) error for this request.
    type Error: Serialize + DeserializeOwned + Send + fmt::Debug + fmt::Display + 'static;
}

/// A fact a module publishes after committing it; any module may subscribe. Implemented by
/// [`contract!`], never by hand.
pub trait Event: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// Stable wire name, `"<module>.<fact_in_past_tense>"`.
    const NAME: &'static str;
}

/// The module that owns a message name: the part before the first dot.
pub fn owner_of(message_name: &str) -> &str {
    message_name.split('.').next().unwrap_or(message_name)
}

/// Fails compilation (in a `const` context) unless `name` is `"<module>.<something>"`.
#[doc(hidden)]
pub const fn __check_message_name(name: &str, module: &str) {
    let (n, m) = (name.as_bytes(), module.as_bytes());
    if n.len() <= m.len() + 1 || n[m.len()] != b'.' {
        panic!("a message name must be `<module>.<name>`, with the declaring module's name");
    }
    let mut i = 0;
    while i < m.len() {
        if n[i] != m[i] {
            panic!("a message name must start with the declaring module's name and a dot");
        }
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_is_the_prefix_before_the_first_dot() {
        assert_eq!(owner_of("billing.charge"), "billing");
        assert_eq!(owner_of("orders.order_placed"), "orders");
        assert_eq!(owner_of("plain"), "plain");
    }

    #[test]
    fn message_names_are_checked_against_the_module() {
        __check_message_name("billing.charge", "billing");
        let wrong = std::panic::catch_unwind(|| __check_message_name("bill.charge", "billing"));
        assert!(wrong.is_err());
        let bare = std::panic::catch_unwind(|| __check_message_name("billing.", "billing"));
        assert!(bare.is_err());
    }
}
