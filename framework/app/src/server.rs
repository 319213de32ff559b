//! One process of an application: database, hosted modules, routes to remote modules, the
//! public and internal HTTP servers, the outbox relay and the modules' tasks.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::{Server as HttpServerRunning, ServerHandle};
use actix_web::{HttpResponse, HttpServer, web};
use anyhow::{Context, bail};
use cleave::{Bus, Config, Contract, Database, ModuleDescriptor, Runtime, RuntimeSettings, Wiring};
use cleave_extract::{
    Credentials, InternalEndpoints, RemoteModule, RemoteSettings, configure_internal,
};

use crate::App;

/// The two sockets a process serves on.
#[derive(Debug)]
pub struct Listeners {
    /// The public API.
    pub public: TcpListener,
    /// The internal endpoints (module messages and event intake from other processes).
    pub internal: TcpListener,
}

impl Listeners {
    /// Binds the addresses of `config`.
    pub fn bind(config: &Config) -> anyhow::Result<Listeners> {
        Ok(Listeners {
            public: TcpListener::bind(config.listen)
                .with_context(|| format!("Failed to listen on {}", config.listen))?,
            internal: TcpListener::bind(config.internal_listen).with_context(|| {
                format!(
                    "Failed to listen on {} (internal_listen)",
                    config.internal_listen
                )
            })?,
        })
    }
}

/// A process of the application, built and bound to its ports.
pub struct Server {
    port: u16,
    internal_port: u16,
    public: HttpServerRunning,
    internal: HttpServerRunning,
    runtime: Arc<Runtime>,
    background: cleave::Background,
    consumers: Option<cleave_extract::broker::ConsumerHandle>,
    upkeep: tokio::task::JoinHandle<()>,
    remotes: Vec<(String, String)>,
}

/// Stops both servers of a running process.
#[derive(Clone)]
pub struct StopHandle {
    public: ServerHandle,
    internal: ServerHandle,
}

impl StopHandle {
    /// Stops accepting, lets in-flight requests finish when `graceful`, then returns.
    pub async fn stop(&self, graceful: bool) {
        tokio::join!(self.public.stop(graceful), self.internal.stop(graceful));
    }
}

/// Every contract this binary knows: each linked api crate's, plus any linked module's.
pub(crate) fn known_contracts(linked: &[&'static ModuleDescriptor]) -> Vec<&'static Contract> {
    let mut known: Vec<&'static Contract> = cleave_contract::contracts()
        .iter()
        .map(|r| r.contract)
        .collect();
    for m in linked {
        if !known.iter().any(|c| c.module == m.name()) {
            known.push(m.contract);
        }
    }
    known.sort_by_key(|c| c.module);
    known
}

/// The events `contract`'s module subscribes to: from its linked declaration when the binary
/// has it, else from its published contract.
fn subscriptions(
    linked: &[&'static ModuleDescriptor],
    contract: &'static Contract,
) -> &'static [&'static str] {
    linked
        .iter()
        .find(|m| m.name() == contract.module)
        .map_or(contract.subscribes(), |m| m.subscribes)
}

/// Connects to the event broker of `events.broker` (in the background: it may be down).
async fn connect_broker(
    app: &App,
    config: &Config,
    url: &str,
    linked: &[&'static ModuleDescriptor],
    known: &[&'static Contract],
    hosted: &[&'static ModuleDescriptor],
) -> anyhow::Result<cleave_extract::broker::Broker> {
    let namespace = config
        .events
        .namespace
        .clone()
        .unwrap_or_else(|| app.name().to_string());
    let subscriptions = known
        .iter()
        .map(|c| {
            let events = subscriptions(linked, c)
                .iter()
                .map(|e| e.to_string())
                .collect();
            (c.module.to_string(), events)
        })
        .collect();
    let hosted = hosted.iter().map(|m| m.name().to_string()).collect();
    Ok(cleave_extract::broker::Broker::connect(
        url,
        &namespace,
        &config.events,
        known,
        subscriptions,
        hosted,
    )
    .await?)
}

/// The linked modules that `config.modules` selects (all when empty).
fn hosted_modules(
    config: &Config,
    linked: &[&'static ModuleDescriptor],
) -> anyhow::Result<Vec<&'static ModuleDescriptor>> {
    if config.modules.is_empty() {
        return Ok(linked.to_vec());
    }
    let mut hosted = Vec::new();
    for name in &config.modules {
        match linked.iter().find(|m| m.name() == name) {
            Some(m)
                if !hosted
                    .iter()
                    .any(|h: &&ModuleDescriptor| h.name() == m.name()) =>
            {
                hosted.push(*m)
            }
            Some(_) => {}
            None => bail!(
                "`modules` names `{name}`, which is not linked into this binary (linked: {})",
                linked
                    .iter()
                    .map(|m| m.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
    hosted.sort_by_key(|m| m.name());
    Ok(hosted)
}

/// This process's credentials from its configuration: the shared token, the tokens of the
/// modules it hosts, the digests it accepts from every module.
pub fn credentials(config: &Config, hosted: &[&'static ModuleDescriptor]) -> Credentials {
    let mut credentials = Credentials::shared(config.internal_token.clone());
    for (module, credential) in &config.credentials {
        if let Some(token) = &credential.token
            && hosted.iter().any(|m| m.name() == module)
        {
            credentials = credentials.with_token(module, token.clone());
        }
        if !credential.accept.is_empty() {
            credentials = credentials.accepting(module, credential.accept.clone());
        }
    }
    credentials
}

impl Server {
    /// Binds the configured addresses, then [`Server::build_on`].
    pub async fn build(app: &App, config: &Config) -> anyhow::Result<Server> {
        let listeners = Listeners::bind(config)?;
        Self::build_on(app, config, listeners).await
    }

    /// Connects to (and creates and migrates) the database, assembles the hosted modules with
    /// routes to the remote ones, and starts serving on `listeners`, the outbox relay and the
    /// modules' tasks.
    pub async fn build_on(
        app: &App,
        config: &Config,
        listeners: Listeners,
    ) -> anyhow::Result<Server> {
        let linked = cleave::modules();
        let known = known_contracts(&linked);
        let hosted = hosted_modules(config, &linked)?;

        let mut wiring = Wiring::default();
        let mut remotes = Vec::new();
        let credentials = credentials(config, &hosted);
        let broker = match &config.events.broker {
            Some(url) => Some(connect_broker(app, config, url, &linked, &known, &hosted).await?),
            None => None,
        };
        for (module, urls) in &config.remote {
            if hosted.iter().any(|m| m.name() == module) {
                bail!("module `{module}` is hosted here and also listed in `remote`; choose one");
            }
            let Some(contract) = known.iter().copied().find(|c| c.module == module) else {
                bail!(
                    "`remote.{module}` names no module this binary knows (known: {})",
                    known
                        .iter()
                        .map(|c| c.module)
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            };
            if credentials.is_empty() {
                bail!(
                    "remote modules need credentials: `internal_token` ({}), the same secret on every process, or `[credentials.<module>]`",
                    app.name().env_var("internal_token")
                );
            }
            let settings =
                RemoteSettings::from_config(&config.extract, module, credentials.clone());
            let remote =
                RemoteModule::new(contract, urls, settings, &known).map_err(anyhow::Error::msg)?;
            wiring.requests.remote_module(module, remote.clone());
            // Subscriptions of a module hosted elsewhere: from its linked declaration when the
            // binary has it, else from its published contract.
            // With a broker, events travel through it instead.
            if broker.is_none() {
                for event in subscriptions(&linked, contract) {
                    wiring.events.subscriber(event, module, remote.clone());
                }
            }
            remotes.push((module.clone(), remote.base_urls().join(",")));
        }

        if let Some(broker) = &broker {
            // Every subscriber hosted elsewhere takes its events from the broker.
            let headers = hosted
                .iter()
                .map(|m| {
                    (
                        m.name().to_string(),
                        cleave_extract::wire::contract_header(m.contract),
                    )
                })
                .collect();
            let route = broker.route(headers);
            for contract in known
                .iter()
                .filter(|c| !hosted.iter().any(|m| m.name() == c.module))
            {
                for event in subscriptions(&linked, contract) {
                    wiring.events.shared(
                        event,
                        contract.module,
                        cleave_extract::broker::QUEUE,
                        route.clone(),
                    );
                }
            }
        }

        let db = Database::connect(&config.database, &config.database_options)
            .await
            .with_context(|| format!("Failed to open the database `{}`", config.database))?;
        cleave::migrate::migrate(&db, &hosted)
            .await
            .context("Failed to migrate the database")?;
        let bus = Bus::new(config.serialize_messages);
        let metrics = bus.metrics().clone();
        let settings = RuntimeSettings {
            app: app.name(),
            module_sections: config.module.clone(),
        };
        let runtime = Runtime::build(db, bus.clone(), &hosted, wiring, &known, &settings)
            .context("The modules cannot start")?;
        let runtime = Arc::new(runtime);

        let port = listeners.public.local_addr()?.port();
        let internal_port = listeners.internal.local_addr()?.port();
        let app_runtime = runtime.clone();
        let readiness = web::Data::new(Readiness {
            db: runtime.db().clone(),
            remotes: remotes.clone(),
            client: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(1))
                .build()
                .context("Failed to build the readiness HTTP client")?,
        });
        let public_readiness = readiness.clone();
        let scrape = web::Data::new(Scrape {
            db: runtime.db().clone(),
            metrics: metrics.clone(),
        });
        let public_scrape = scrape.clone();
        let public_metrics = metrics.clone();
        let metrics_in_public = config.public_metrics;
        let body_timeout =
            cleave::http::BodyTimeout(std::time::Duration::from_millis(config.body_timeout_ms));
        let document = openapi(app, &hosted);
        let known_routes = known_routes(&document);
        let document = web::Data::new(document);
        let public_db = web::Data::new(runtime.db().clone());
        let mut public = HttpServer::new(move || {
            let runtime = app_runtime.clone();
            actix_web::App::new()
                .wrap(actix_web::middleware::from_fn(
                    cleave::idempotency::middleware,
                ))
                .wrap(actix_web::middleware::from_fn(cleave::http::body_timeout))
                .app_data(body_timeout)
                .wrap_fn(cleave::http::trace_request)
                .app_data(public_db.clone())
                .configure(|cfg| runtime.configure_http(cfg))
                .app_data(public_readiness.clone())
                .app_data(public_metrics.clone())
                .app_data(public_scrape.clone())
                .app_data(document.clone())
                .app_data(known_routes.clone())
                .route("/health", web::get().to(health))
                .route("/ready", web::get().to(ready))
                .configure(|cfg| {
                    if metrics_in_public {
                        cfg.route("/metrics", web::get().to(prometheus));
                    }
                })
                .route("/api/openapi.json", web::get().to(openapi_json))
                .default_service(web::to(cleave::http::not_found))
        })
        .shutdown_timeout(config.shutdown_timeout_s);
        let mut endpoints = InternalEndpoints::new(
            bus,
            runtime.events().clone(),
            credentials,
            hosted.iter().map(|m| m.contract).collect(),
            known,
            config.extract.max_body_bytes,
        );
        for module in &linked {
            endpoints = endpoints.with_sends(module.name(), module.sends);
        }
        let endpoints = Arc::new(
            endpoints
                .with_structure(runtime.db().clone(), remotes.clone())
                .with_contracts(
                    hosted
                        .iter()
                        .map(|m| (m.name().to_string(), crate::published_contract(m)))
                        .collect(),
                ),
        );
        let internal_routes = cleave::http::KnownRoutes::new(cleave_extract::wire::routes());
        let mut internal = HttpServer::new(move || {
            let endpoints = endpoints.clone();
            actix_web::App::new()
                .wrap(actix_web::middleware::from_fn(cleave::http::body_timeout))
                .app_data(body_timeout)
                .app_data(internal_routes.clone())
                .configure(|cfg| configure_internal(cfg, endpoints))
                .app_data(readiness.clone())
                .app_data(scrape.clone())
                .route("/health", web::get().to(health))
                .route("/ready", web::get().to(ready))
                .route("/metrics", web::get().to(prometheus))
                .default_service(web::to(cleave::http::not_found))
        })
        .shutdown_timeout(config.shutdown_timeout_s);
        if let Some(workers) = config.workers {
            public = public.workers(workers.max(1));
            internal = internal.workers(workers.max(1));
        }
        let public = public.listen(listeners.public)?.run();
        let internal = internal.listen(listeners.internal)?.run();
        let background = runtime.start(&config.outbox);
        let consumers = broker
            .filter(|_| config.outbox.relay)
            .map(|broker| broker.consume(runtime.events(), runtime.db(), &config.outbox, &metrics));
        // Histograms keep their recent samples until rendered; compact them now and then so a
        // process nobody scrapes does not grow.
        let upkeep = tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
            loop {
                every.tick().await;
                metrics.run_upkeep();
            }
        });
        Ok(Server {
            port,
            internal_port,
            public,
            internal,
            runtime,
            background,
            consumers,
            upkeep,
            remotes,
        })
    }

    /// The port of the public API (useful with port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of the internal endpoints.
    pub fn internal_port(&self) -> u16 {
        self.internal_port
    }

    /// The hosted modules.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// Remote modules and the URLs they are reached at (comma-separated for replicas).
    pub fn remotes(&self) -> &[(String, String)] {
        &self.remotes
    }

    /// A handle to stop both servers from elsewhere.
    pub fn handle(&self) -> StopHandle {
        StopHandle {
            public: self.public.handle(),
            internal: self.internal.handle(),
        }
    }

    /// Serves until both servers stop (by their handle, SIGINT or SIGTERM), then stops the
    /// modules' tasks and the relay after its pass in progress.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let (public, internal) = tokio::join!(self.public, self.internal);
        self.upkeep.abort();
        if let Some(consumers) = self.consumers {
            consumers.stop().await;
        }
        self.background.stop().await;
        public.context("The public HTTP server failed")?;
        internal.context("The internal HTTP server failed")
    }
}

/// The process's own routes, for the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(health, ready))]
struct OperationsApi;

/// The OpenAPI document of a process's public API: its own routes and every hosted module's.
pub fn openapi(app: &App, hosted: &[&'static ModuleDescriptor]) -> utoipa::openapi::OpenApi {
    let mut document = <OperationsApi as utoipa::OpenApi>::openapi();
    document.info.title = app.name().to_string();
    document.info.version = app.version_text().to_string();
    document.info.description = Some(app.about_text().to_string());
    document.info.license = None;
    document.info.contact = None;
    for module in hosted {
        document.merge((module.openapi)());
    }
    state_the_edge(&mut document);
    document
}

/// What the HTTP edge answers on every route, whatever the route declares: a route with a body
/// can get 400 `malformed_json`, 408 `body_timeout`, 413 `payload_too_large`, 415
/// `unsupported_media_type` and 422 `invalid_body`; every path names the methods it answers
/// (others get 405 `method_not_allowed` with `Allow`); unknown paths get 404 `no_route`.
fn state_the_edge(document: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::schema::Ref;
    use utoipa::openapi::{ContentBuilder, RefOr, ResponseBuilder};

    let error = |description: &str| -> RefOr<utoipa::openapi::Response> {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build()
            .into()
    };
    let limit = cleave::http::JSON_BODY_LIMIT;
    let body_statuses = [
        ("400", "The body is not JSON (`malformed_json`)".to_string()),
        (
            "408",
            "The body stopped arriving before its end (`body_timeout`)".to_string(),
        ),
        (
            "413",
            format!("The body is larger than {limit} bytes (`payload_too_large`)"),
        ),
        (
            "415",
            "The body is not sent as `Content-Type: application/json` (`unsupported_media_type`)"
                .to_string(),
        ),
        (
            "422",
            "The body does not fit the schema (`invalid_body`)".to_string(),
        ),
    ];
    let mut uses_errors = false;
    for item in document.paths.paths.values_mut() {
        let mut methods = Vec::new();
        for (method, operation) in [
            ("GET", &mut item.get),
            ("PUT", &mut item.put),
            ("POST", &mut item.post),
            ("DELETE", &mut item.delete),
            ("PATCH", &mut item.patch),
        ] {
            let Some(operation) = operation else { continue };
            methods.push(method);
            if operation.request_body.is_some() {
                for (status, description) in &body_statuses {
                    operation
                        .responses
                        .responses
                        .entry(status.to_string())
                        .or_insert_with(|| error(description));
                }
                uses_errors = true;
            }
        }
        let allowed = methods.join(", ");
        item.description = Some(format!(
            "Other methods answer 405 `method_not_allowed` with `Allow: {allowed}`."
        ));
    }
    if uses_errors {
        let components = document.components.get_or_insert_with(Default::default);
        components
            .schemas
            .entry("ErrorBody".to_string())
            .or_insert_with(<cleave::http::ErrorBody as utoipa::PartialSchema>::schema);
    }
    let about = document.info.description.take().unwrap_or_default();
    document.info.description = Some(format!(
        "{about}\n\nEvery error answer is `{{\"error\": code, \"message\": text}}` with a 4xx or 5xx \
         status. Besides what each operation lists: an unknown path is 404 `no_route`; a known \
         path asked with a method it does not answer is 405 `method_not_allowed` with `Allow`; \
         a body above {limit} bytes is 413 `payload_too_large`; a body that stops arriving is 408 \
         `body_timeout`; a module a request needs that cannot answer is 503 `unavailable`, or 502 \
         `bad_gateway` when its answer cannot be decoded."
    ));
}

/// Every public path pattern and its methods, from the OpenAPI document (which every public
/// route is declared in), plus the document's own route.
fn known_routes(document: &utoipa::openapi::OpenApi) -> cleave::http::KnownRoutes {
    let mut routes: Vec<(String, Vec<String>)> = document
        .paths
        .paths
        .iter()
        .map(|(path, item)| {
            let methods = [
                ("GET", item.get.is_some()),
                ("PUT", item.put.is_some()),
                ("POST", item.post.is_some()),
                ("DELETE", item.delete.is_some()),
                ("PATCH", item.patch.is_some()),
                ("HEAD", item.head.is_some()),
                ("OPTIONS", item.options.is_some()),
                ("TRACE", item.trace.is_some()),
            ];
            let methods = methods
                .into_iter()
                .filter(|(_, present)| *present)
                .map(|(m, _)| m.to_string())
                .collect();
            (path.clone(), methods)
        })
        .collect();
    routes.push(("/api/openapi.json".to_string(), vec!["GET".to_string()]));
    cleave::http::KnownRoutes::new(routes)
}

async fn openapi_json(document: web::Data<utoipa::openapi::OpenApi>) -> HttpResponse {
    HttpResponse::Ok().json(document.get_ref())
}

/// Whether the process is alive.
#[utoipa::path(get, path = "/health", tag = "operations", responses((status = 200, description = "`{\"status\":\"ok\"}` while the process runs")))]
async fn health() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// What `/metrics` reads besides the recorded metrics: the outbox, counted at scrape time.
struct Scrape {
    db: Database,
    metrics: cleave::Metrics,
}

/// `GET /metrics`: the Prometheus text format. The outbox gauges are counted from the table
/// now, so they are right in every process that shares the database.
async fn prometheus(scrape: web::Data<Scrape>) -> HttpResponse {
    let counted = async {
        let outbox = cleave::outbox::counts(scrape.db.read()).await?;
        let inbox = cleave::outbox::inbox_entries(scrape.db.read()).await?;
        Ok::<_, sea_orm::DbErr>(cleave::metrics::OutboxGauges {
            pending: outbox.pending,
            failed: outbox.failed,
            delivered: outbox.delivered,
            inbox,
            oldest_pending_age: std::time::Duration::from_millis(outbox.oldest_pending_age_ms),
        })
    };
    match counted.await {
        Ok(gauges) => scrape.metrics.set_outbox(gauges),
        Err(e) => tracing::warn!(error = %e, "cannot count the outbox for /metrics"),
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(scrape.metrics.render())
}

/// What `/ready` checks: the database, and that each remote module's process answers.
struct Readiness {
    db: Database,
    remotes: Vec<(String, String)>,
    client: reqwest::Client,
}

/// `GET /ready`: 200 when this process can do its work, 503 with the failing checks when it
/// cannot. Migrations need no check of their own: a process serves only after applying them.
#[utoipa::path(
    get,
    path = "/ready",
    tag = "operations",
    responses(
        (status = 200, description = "Ready: database and remote modules answer"),
        (status = 503, description = "Not ready: the body names the failing checks"),
    )
)]
async fn ready(readiness: web::Data<Readiness>) -> HttpResponse {
    let mut all_ok = true;
    let database = match readiness.db.ping().await {
        Ok(()) => serde_json::json!({ "ok": true }),
        Err(e) => {
            all_ok = false;
            serde_json::json!({ "ok": false, "error": e.to_string() })
        }
    };
    let mut remotes = serde_json::Map::new();
    for (module, urls) in &readiness.remotes {
        // A module with replicas is reachable when one of them answers.
        let mut check = serde_json::json!({ "ok": false, "url": urls });
        for url in urls.split(',') {
            match readiness.client.get(format!("{url}/health")).send().await {
                Ok(r) if r.status().is_success() => {
                    check = serde_json::json!({ "ok": true, "url": url });
                    break;
                }
                Ok(r) => check["error"] = format!("{url} answered {}", r.status()).into(),
                Err(e) => check["error"] = format!("{url}: {e}").into(),
            }
        }
        all_ok &= check["ok"] == true;
        remotes.insert(module.clone(), check);
    }
    let body = serde_json::json!({
        "status": if all_ok { "ready" } else { "not_ready" },
        "checks": { "database": database, "remote_modules": remotes },
    });
    if all_ok {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
