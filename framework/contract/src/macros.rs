//! `contract!`: an api crate's messages, declared once.

/// Declares a module's contract in its api crate: its name, version, the requests it answers
/// and the events it publishes, each message once.
///
/// ```ignore
/// cleave_contract::contract! {
///     module: "inventory",
///     version: (1, 0),
///     requests: {
///         /// (doc comments are allowed and ignored here; document the type itself)
///         ReserveStock: "inventory.reserve_stock" -> Reserved, InventoryError, idempotent;
///         ReleaseReservation: "inventory.release_reservation" -> Released, InventoryError, idempotent;
///     },
///     events: {},
/// }
/// ```
///
/// For every request it implements [`Request`](crate::Request) (name, response, domain error,
/// and `IDEMPOTENT` when the line ends with `idempotent`); for every event
/// [`Event`](crate::Event). A name must start with the module's own name and a dot (checked at
/// compile time). It also generates, in the api crate:
///
/// - `MODULE`: the module's name;
/// - `CONTRACT`: the [`Contract`](crate::Contract), whose subscriptions are read from the
///   published document `contract.json` next to the crate's `Cargo.toml` (the module
///   subscribes in its implementation crate, naming the event types; the application's
///   `contracts --write` command writes the document, and start-up refuses a stale one);
/// - `json_schema()`: the published document (JSON Schema of every message);
/// - the registration through which a binary that links the crate knows the contract.
///
/// Invoke it once, in the api crate's `lib.rs`.
#[macro_export]
macro_rules! contract {
    (
        module: $module:literal,
        version: ($major:literal, $minor:literal),
        requests: {
            $( $(#[$rmeta:meta])* $request:ty : $request_name:literal -> $response:ty, $error:ty $(, $flag:ident)? ; )*
        },
        events: {
            $( $(#[$emeta:meta])* $event:ty : $event_name:literal ; )*
        } $(,)?
    ) => {
        /// The module's name: the prefix of its messages and of its tables.
        pub const MODULE: &str = $module;

        $(
            impl $crate::Request for $request {
                const NAME: &'static str = $request_name;
                const IDEMPOTENT: bool = $crate::__idempotent!($($flag)?);
                type Response = $response;
                type Error = $error;
            }
            const _: () = $crate::__check_message_name($request_name, $module);
        )*

        $(
            impl $crate::Event for $event {
                const NAME: &'static str = $event_name;
            }
            const _: () = $crate::__check_message_name($event_name, $module);
        )*

        /// The module's public surface: what it answers, publishes and subscribes to.
        pub static CONTRACT: $crate::Contract = $crate::Contract::published(
            MODULE,
            $crate::Version::new($major, $minor),
            &[$($request_name),*],
            &[$($event_name),*],
            include_str!("../contract.json"),
        );

        /// The published contract: JSON Schema of every message, for implementing or calling
        /// this module from another language. Committed as `contract.json` next to this
        /// crate's `Cargo.toml`, and served on the internal listener of every process hosting
        /// the module.
        pub fn json_schema() -> $crate::__serde_json::Value {
            $crate::schema::document(
                &CONTRACT,
                CONTRACT.subscribes(),
                CONTRACT.sends(),
                vec![$($crate::schema::request::<$request>()),*],
                vec![$($crate::schema::event::<$event>()),*],
            )
        }

        $crate::__inventory::submit! {
            $crate::ContractRegistration {
                contract: &CONTRACT,
                document: json_schema,
            }
        }
    };
}

/// `idempotent` → `true`, nothing → `false`; any other word is a compile error.
#[doc(hidden)]
#[macro_export]
macro_rules! __idempotent {
    () => {
        false
    };
    (idempotent) => {
        true
    };
}
