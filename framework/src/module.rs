//! Modules: how one declares itself, registers its parts, and how the runtime assembles them.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use actix_web::http::Method;
use actix_web::web;
use cleave_contract::{Contract, Event, Request, owner_of};
use sea_orm::{DatabaseConnection, DbErr};
use sea_orm_migration::MigratorTrait;

use crate::bus::{BoxFuture, Bus, Handler, RoutingBuilder};
use crate::config::OutboxConfig;
use crate::events::{ErasedSubscriber, LocalEventRoute, Publisher, Subscriber, TypedSubscriber};
use crate::outbox::{OutboxRelay, RelayHandle};

/// Everything the framework and its tools know about a module, declared once in the module's
/// crate and submitted with [`register_module!`](crate::register_module).
///
/// The static lists describe the module without starting it (for `shop modules`, docs and
/// checks); [`Runtime::build`] refuses to start when what `register` actually registers
/// differs from them, so they cannot drift from the code.
#[derive(Debug)]
pub struct ModuleDescriptor {
    /// Unique module name; also the prefix of its message names and tables. Must equal
    /// `contract.module`.
    pub name: &'static str,
    /// The module's public surface, from its `api` crate: requests it handles, events it
    /// publishes and subscribes to, and their version.
    pub contract: &'static Contract,
    /// One line saying what the module is for.
    pub summary: &'static str,
    /// Modules whose `api` crate this module may use (its allowed call dependencies).
    pub may_call: &'static [&'static str],
    /// Requests this module sends to other modules.
    pub sends: &'static [&'static str],
    /// Public HTTP routes, as `"METHOD /path"`.
    pub routes: &'static [&'static str],
    /// The OpenAPI document of those routes (utoipa); the application merges every hosted
    /// module's into `/api/openapi.json`.
    pub openapi: fn() -> utoipa::openapi::OpenApi,
    /// Applies the module's own migration set; see [`migrate_with`].
    pub migrate: for<'a> fn(&'a DatabaseConnection) -> BoxFuture<'a, Result<(), DbErr>>,
    /// Registers handlers, subscribers and routes.
    pub register: fn(&mut Registrar<'_>) -> Result<(), RegisterError>,
}

/// The value [`register_module!`](crate::register_module) submits; collected at link time.
#[derive(Debug)]
pub struct ModuleRegistration(pub &'static ModuleDescriptor);

inventory::collect!(ModuleRegistration);

/// Every module linked into this binary, sorted by name.
pub fn modules() -> Vec<&'static ModuleDescriptor> {
    let mut all: Vec<_> = inventory::iter::<ModuleRegistration>
        .into_iter()
        .map(|r| r.0)
        .collect();
    all.sort_by_key(|m| m.name);
    all
}

/// Runs the migration set `M`; use as `migrate: cleave::migrate_with::<my_migrations::Migrator>`.
pub fn migrate_with<M: MigratorTrait + 'static>(
    db: &DatabaseConnection,
) -> BoxFuture<'_, Result<(), DbErr>> {
    Box::pin(M::up(db, None))
}

/// What a module gets to build its handlers: its database, the bus, its event publisher.
#[derive(Clone, Debug)]
pub struct ModuleContext {
    /// The module's name.
    pub module: &'static str,
    /// The database; the module touches only its own tables.
    pub db: DatabaseConnection,
    /// For calling other modules.
    pub bus: Bus,
    /// For publishing this module's events.
    pub events: Publisher,
}

/// A module registration that does not match its descriptor, or a runtime that cannot start.
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.join("\n"))]
pub struct RegisterError(pub Vec<String>);

impl RegisterError {
    /// A single problem.
    pub fn new(message: impl Into<String>) -> Self {
        RegisterError(vec![message.into()])
    }
}

type HttpSetup = Arc<dyn Fn(&mut web::ServiceConfig) + Send + Sync>;

/// What one module registered: problems found, HTTP setup, and subscribers by event name.
struct Registered {
    errors: Vec<String>,
    http: Vec<HttpSetup>,
    subscriptions: HashMap<String, Arc<dyn ErasedSubscriber>>,
}

/// Collects one module's handlers, subscribers and routes while it registers.
pub struct Registrar<'a> {
    descriptor: &'static ModuleDescriptor,
    context: ModuleContext,
    routing: &'a mut RoutingBuilder,
    subscriptions: HashMap<String, Arc<dyn ErasedSubscriber>>,
    http: Vec<HttpSetup>,
    handled: BTreeSet<&'static str>,
    routes: BTreeSet<String>,
    errors: Vec<String>,
}

impl Registrar<'_> {
    /// The module's context, to build handlers from.
    pub fn context(&self) -> &ModuleContext {
        &self.context
    }

    /// Serves request `R` with `handler`.
    pub fn handle<R: Request>(&mut self, handler: impl Handler<R>) -> &mut Self {
        let module = self.descriptor.name;
        if !self.descriptor.contract.handles.contains(&R::NAME) {
            self.errors.push(format!(
                "module `{module}` registers a handler for `{}` but its contract's `handles` does not list it",
                R::NAME
            ));
        }
        if owner_of(R::NAME) != module {
            self.errors.push(format!(
                "module `{module}` handles `{}`, which is named after module `{}`",
                R::NAME,
                owner_of(R::NAME)
            ));
        }
        self.handled.insert(R::NAME);
        self.routing.local_handler::<R>(module, Arc::new(handler));
        self
    }

    /// Applies every event `E` with `subscriber`.
    pub fn subscribe<E: Event>(&mut self, subscriber: impl Subscriber<E>) -> &mut Self {
        if !self.descriptor.contract.subscribes.contains(&E::NAME) {
            self.errors.push(format!(
                "module `{}` subscribes to `{}` but its contract's `subscribes` does not list it",
                self.descriptor.name,
                E::NAME
            ));
        }
        let erased: Arc<dyn ErasedSubscriber> = Arc::new(TypedSubscriber::<E, _>::new(subscriber));
        if self
            .subscriptions
            .insert(E::NAME.to_string(), erased)
            .is_some()
        {
            self.errors.push(format!(
                "module `{}` subscribes to `{}` twice",
                self.descriptor.name,
                E::NAME
            ));
        }
        self
    }

    /// Makes `value` available to this module's HTTP handlers as `web::Data<T>`.
    pub fn data<T: Send + Sync + 'static>(&mut self, value: T) -> &mut Self {
        let data = web::Data::new(value);
        self.http.push(Arc::new(move |cfg| {
            cfg.app_data(data.clone());
        }));
        self
    }

    /// Serves a public HTTP route.
    pub fn route<F, Args>(&mut self, method: Method, path: &'static str, handler: F) -> &mut Self
    where
        F: actix_web::Handler<Args> + Send + Sync,
        Args: actix_web::FromRequest + 'static,
        F::Output: actix_web::Responder + 'static,
    {
        let signature = format!("{method} {path}");
        if !self.descriptor.routes.contains(&signature.as_str()) {
            self.errors.push(format!(
                "module `{}` serves `{signature}` but its descriptor's `routes` does not list it",
                self.descriptor.name
            ));
        }
        self.routes.insert(signature);
        self.http.push(Arc::new(move |cfg| {
            cfg.route(path, web::method(method.clone()).to(handler.clone()));
        }));
        self
    }

    fn finish(mut self) -> Registered {
        let d = self.descriptor;
        for declared in d.contract.handles {
            if !self.handled.contains(declared) {
                self.errors.push(format!(
                    "module `{}` declares that it handles `{declared}` but registers no handler for it",
                    d.name
                ));
            }
        }
        for declared in d.contract.subscribes {
            if !self.subscriptions.contains_key(*declared) {
                self.errors.push(format!(
                    "module `{}` declares a subscription to `{declared}` but registers no subscriber",
                    d.name
                ));
            }
        }
        for declared in d.routes {
            if !self.routes.contains(*declared) {
                self.errors.push(format!(
                    "module `{}` declares route `{declared}` but does not serve it",
                    d.name
                ));
            }
        }
        Registered {
            errors: self.errors,
            http: self.http,
            subscriptions: self.subscriptions,
        }
    }
}

/// How to give `module` a remote route, for start-up errors.
fn remote_hint(module: &str) -> String {
    format!(
        "set `remote.{module}` to its internal URL (`--remote {module}=http://HOST:PORT` or `SHOP_REMOTE__{}`), or host it here",
        module.to_uppercase()
    )
}

/// The assembled modules of one process: database, routed bus and HTTP routes.
pub struct Runtime {
    db: DatabaseConnection,
    bus: Bus,
    modules: Vec<&'static ModuleDescriptor>,
    http: Vec<HttpSetup>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<_> = self.modules.iter().map(|m| m.name).collect();
        f.debug_struct("Runtime").field("modules", &names).finish()
    }
}

impl Runtime {
    /// Registers `modules` on `bus` over `db`, after the routes already in `routing` (remote
    /// modules, test stubs), checks every module against its descriptor and contract, every
    /// request a module sends against the routes, and every event it publishes against the
    /// subscribers among `contracts` (all modules known to the binary), then seals the bus.
    ///
    /// The database must already be migrated ([`crate::db::migrate`]).
    pub fn build(
        db: DatabaseConnection,
        bus: Bus,
        modules: &[&'static ModuleDescriptor],
        mut routing: RoutingBuilder,
        contracts: &[&'static Contract],
    ) -> Result<Runtime, RegisterError> {
        let mut errors = Vec::new();
        let mut seen = BTreeSet::new();
        for m in modules {
            if !seen.insert(m.name) {
                errors.push(format!("two modules are called `{}`", m.name));
            }
            if m.name != m.contract.module {
                errors.push(format!(
                    "module `{}` is registered with the contract of module `{}`",
                    m.name, m.contract.module
                ));
            }
        }
        let mut http = Vec::new();
        for &descriptor in modules {
            let context = ModuleContext {
                module: descriptor.name,
                db: db.clone(),
                bus: bus.clone(),
                events: Publisher::new(descriptor.name, descriptor.contract.publishes, bus.clone()),
            };
            let mut registrar = Registrar {
                descriptor,
                context,
                routing: &mut routing,
                subscriptions: HashMap::new(),
                http: Vec::new(),
                handled: BTreeSet::new(),
                routes: BTreeSet::new(),
                errors: Vec::new(),
            };
            if let Err(e) = (descriptor.register)(&mut registrar) {
                errors.extend(e.0);
            }
            let Registered {
                errors: module_errors,
                http: module_http,
                subscriptions,
            } = registrar.finish();
            errors.extend(module_errors);
            http.extend(module_http);
            if !subscriptions.is_empty() {
                let events: Vec<String> = subscriptions.keys().cloned().collect();
                let route = Arc::new(LocalEventRoute::new(
                    descriptor.name,
                    db.clone(),
                    bus.clone(),
                    subscriptions,
                ));
                for event in events {
                    routing.subscriber(&event, descriptor.name, route.clone());
                }
            }
        }
        errors.extend(routing.take_errors());
        for m in modules {
            for request in m.sends {
                let owner = owner_of(request);
                if owner != m.name && !m.may_call.contains(&owner) {
                    errors.push(format!(
                        "module `{}` sends `{request}` but `{owner}` is not in its `may_call`",
                        m.name
                    ));
                }
                if !routing.serves(request) {
                    errors.push(format!(
                        "module `{}` sends `{request}`, but module `{owner}` is not hosted in this process and has no remote route: {}",
                        m.name,
                        remote_hint(owner)
                    ));
                }
            }
            for event in m.contract.publishes {
                for subscriber in contracts.iter().filter(|c| c.subscribes.contains(event)) {
                    if !routing.reaches_subscriber(subscriber.module) {
                        errors.push(format!(
                            "module `{}` publishes `{event}`, which module `{}` subscribes to, but `{}` is not hosted in this process and has no remote route: {}",
                            m.name,
                            subscriber.module,
                            subscriber.module,
                            remote_hint(subscriber.module)
                        ));
                    }
                }
            }
        }
        if !errors.is_empty() {
            return Err(RegisterError(errors));
        }
        bus.seal(routing).map_err(RegisterError::new)?;
        Ok(Runtime {
            db,
            bus,
            modules: modules.to_vec(),
            http,
        })
    }

    /// The database.
    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// The routed bus.
    pub fn bus(&self) -> &Bus {
        &self.bus
    }

    /// The modules hosted here.
    pub fn modules(&self) -> &[&'static ModuleDescriptor] {
        &self.modules
    }

    /// The event publisher of a hosted module, for tools and tests (modules get theirs from
    /// their context).
    pub fn publisher_of(&self, module: &str) -> Option<Publisher> {
        let descriptor = self.modules.iter().find(|m| m.name == module)?;
        Some(Publisher::new(
            descriptor.name,
            descriptor.contract.publishes,
            self.bus.clone(),
        ))
    }

    /// Adds every module's routes and data, and the JSON error shape, to an actix app.
    pub fn configure_http(&self, cfg: &mut web::ServiceConfig) {
        crate::http::configure_extractors(cfg);
        for setup in &self.http {
            setup(cfg);
        }
    }

    /// Starts delivering events.
    pub fn spawn_relay(&self, config: &OutboxConfig) -> RelayHandle {
        OutboxRelay::new(self.db.clone(), self.bus.clone(), config.clone()).spawn()
    }
}
