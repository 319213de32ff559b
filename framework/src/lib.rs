//! cleave: build a modular monolith whose modules can later be extracted into services.
//!
//! A module declares itself once with [`module!`]: the requests it sends, the handlers of the
//! requests its contract answers, its subscriptions (naming the event types), its public routes
//! (the functions carrying `#[utoipa::path]`), its migrations and settings. The application
//! discovers every linked module, migrates its tables, lets it register on a [`Registrar`],
//! and wires everything onto one [`Bus`] and one set of [`EventRoutes`]. Modules talk only
//! through the typed messages of each other's `api` crates: requests with
//! [`ModuleBus::call`], events with [`Publisher::publish`] inside the [`Tx`] that makes the
//! change (the transactional outbox in [`outbox`], delivered by the [`relay`]).
//!
//! The parts, each readable alone: [`bus`] (requests), [`events`] (event routing, publishing,
//! subscribing), [`outbox`] (the tables), [`relay`] (delivery), [`db`] (connections and
//! write transactions), [`transport`] (the seams a network transport implements),
//! [`mod@module`] (declaration and assembly), [`config`], [`http`], [`metrics`], [`trace`].

#![warn(missing_docs)]

pub mod bus;
pub mod config;
pub mod db;
pub mod events;
pub mod http;
pub mod idempotency;
pub mod metrics;
pub mod migrate;
pub mod module;
pub mod outbox;
pub mod relay;
pub mod retention;
#[cfg(feature = "testing")]
pub mod testing;
pub mod trace;
pub mod traffic;
pub mod transport;

pub use bus::{Bus, Caller, Failure, Handler, ModuleBus, RoutingBuilder, Sends};
pub use cleave_contract::{CallError, Contract, Event, Request, Version, owner_of};
pub use config::{
    AppName, Config, EventsConfig, ExtractConfig, LogFormat, OutboxConfig, TelemetryConfig,
};
pub use db::{Database, DatabaseOptions, Tx};
pub use events::{
    Delivered, EventRoutes, EventRoutesBuilder, HandlerError, PublishError, Publisher, Subscriber,
};
pub use metrics::Metrics;
pub use module::{
    Background, Context, Module, ModuleDescriptor, ModuleRegistration, RegisterError, Registrar,
    Runtime, RuntimeSettings, Wiring, migrate_with, modules, no_migrations,
};
pub use transport::{
    Applied, DeliveryFailure, EventEnvelope, EventRoute, Outgoing, RequestTransport, WireReply,
};

/// Re-exported so that module crates register without naming `inventory` themselves (one of the
/// reference modules is itself called `inventory`).
#[doc(hidden)]
pub use inventory as __inventory;
#[doc(hidden)]
pub use utoipa as __utoipa;

/// Registers a module's descriptor so that any binary linking the crate discovers it.
/// [`module!`] does this; call it yourself only for a descriptor written by hand.
#[macro_export]
macro_rules! register_module {
    ($descriptor:path) => {
        $crate::__inventory::submit! {
            $crate::ModuleRegistration(&$descriptor)
        }
    };
}

/// Declares a module, once, in its implementation crate's `lib.rs`.
///
/// ```ignore
/// cleave::module! {
///     api: orders_api,                               // the module's api crate
///     summary: "Places orders and follows them until they are paid.",
///     migrations: orders_migrations::Migrator,       // or `none`
///     config: OrdersConfig,                          // optional: `[module.orders]`
///     sends: [GetPrices, ReserveStock],              // requests it may send
///     handles: { },                                  // request => handler constructor
///     subscribes: { PaymentCaptured => paid::MarkPaid::new },
///     state: [place::PlaceOrder::new],               // `web::Data` for its routes
///     routes: [routes::place_order, routes::get_order],
///     tasks: [],                                     // optional: long-running jobs
/// }
/// ```
///
/// Each constructor is a function of `&Context` (the module's [`Context`]); each route is a
/// function with a `#[utoipa::path]` attribute, which gives its method, path and
/// documentation; each task is a function of `Context` returning the task's future.
///
/// It generates, in the module crate:
///
/// - `Module`, the module's marker type ([`Module`], [`Caller`], and [`Sends`] for each
///   request in `sends`), and the aliases `Context` and `Bus` (its [`Context`] and
///   [`ModuleBus`]): a handler holding a `Bus` can only call the requests listed in `sends`,
///   anything else is a compile error that names the list to extend;
/// - `MODULE`, the [`ModuleDescriptor`]: name and version from the api crate's contract,
///   `sends` and `subscribes` from the types listed, public routes and OpenAPI document from
///   the route functions, calls dependencies derived from `sends`;
/// - the registration of all of the above, so that linking the crate is enough.
#[macro_export]
macro_rules! module {
    (
        api: $api:ident,
        summary: $summary:literal,
        migrations: $migrations:tt $(:: $migrations_rest:ident)*,
        $( config: $config:ty, )?
        sends: [ $($send:ty),* $(,)? ],
        handles: { $( $request:ty => $handler:expr ),* $(,)? },
        subscribes: { $( $event:ty => $subscriber:expr ),* $(,)? },
        state: [ $($state:expr),* $(,)? ],
        routes: [ $($route:path),* $(,)? ]
        $(, tasks: [ $($task:path),* $(,)? ] )? $(,)?
    ) => {
        /// This module's marker type: its name on the bus, its settings, and (through
        /// `cleave::Sends`) the requests it may send.
        pub struct Module;

        impl $crate::Caller for Module {
            const NAME: &'static str = $api::MODULE;
        }

        impl $crate::Module for Module {
            type Config = $crate::__module_config!($($config)?);
        }

        $( impl $crate::Sends<$send> for Module {} )*

        /// What this module's handlers are built from.
        #[allow(dead_code)]
        pub(crate) type Context = $crate::Context<Module>;

        /// The bus as this module sees it: only the requests in its `sends` list.
        #[allow(dead_code)]
        pub(crate) type Bus = $crate::ModuleBus<Module>;

        #[derive($crate::__utoipa::OpenApi)]
        #[openapi(paths($($route),*))]
        struct __ModuleApi;

        fn __module_openapi() -> $crate::__utoipa::openapi::OpenApi {
            <__ModuleApi as $crate::__utoipa::OpenApi>::openapi()
        }

        /// The module's descriptor, generated from its `cleave::module!` declaration.
        pub static MODULE: $crate::ModuleDescriptor = $crate::ModuleDescriptor {
            contract: &$api::CONTRACT,
            summary: $summary,
            sends: &[$(<$send as $crate::Request>::NAME),*],
            subscribes: &[$(<$event as $crate::Event>::NAME),*],
            openapi: __module_openapi,
            migrate: $crate::__module_migrate!($migrations $(:: $migrations_rest)*),
            register: __module_register,
        };

        fn __module_register(
            registrar: &mut $crate::Registrar<'_>,
        ) -> ::core::result::Result<(), $crate::RegisterError> {
            let context: Context = registrar.context::<Module>()?;
            $( registrar.handle::<$request>(($handler)(&context)); )*
            $( registrar.subscribe::<$event>(($subscriber)(&context)); )*
            $( registrar.data(($state)(&context)); )*
            $( registrar.route(stringify!($route), $route); )*
            $($( registrar.task(stringify!($task), $task(context.clone())); )*)?
            let _ = context;
            Ok(())
        }

        $crate::register_module!(MODULE);
    };
}

/// The `Config` of a module: the declared type, or `()`.
#[doc(hidden)]
#[macro_export]
macro_rules! __module_config {
    () => {
        ()
    };
    ($config:ty) => {
        $config
    };
}

/// The `migrate` of a module: `none`, or a migration set's `Migrator`.
#[doc(hidden)]
#[macro_export]
macro_rules! __module_migrate {
    (none) => { $crate::no_migrations };
    ($($migrator:tt)+) => { $crate::migrate_with::<$($migrator)+> };
}
