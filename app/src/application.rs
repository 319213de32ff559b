//! Builds and runs one shop process: database, hosted modules, routes to remote modules, the
//! public and internal HTTP servers, the outbox relay.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::{Server, ServerHandle};
use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::{Context, bail};
use cleave::bus::RoutingBuilder;
use cleave::outbox::RelayHandle;
use cleave::{Bus, Config, Contract, ModuleDescriptor, Runtime};
use cleave_extract::{InternalEndpoints, RemoteModule, RemoteSettings, configure_internal};

use crate::linked_modules::CONTRACTS;

/// The two sockets a shop process serves on.
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

/// A shop process, built and bound to its ports.
pub struct Application {
    port: u16,
    internal_port: u16,
    public: Server,
    internal: Server,
    runtime: Arc<Runtime>,
    relay: Option<RelayHandle>,
    upkeep: tokio::task::JoinHandle<()>,
    remotes: Vec<(String, String)>,
}

/// Stops both servers of a running shop.
#[derive(Clone)]
pub struct ShopHandle {
    public: ServerHandle,
    internal: ServerHandle,
}

impl ShopHandle {
    /// Stops accepting, lets in-flight requests finish when `graceful`, then returns.
    pub async fn stop(&self, graceful: bool) {
        tokio::join!(self.public.stop(graceful), self.internal.stop(graceful));
    }
}

/// All contracts this binary knows: the shop's, plus any linked module's.
fn known_contracts(linked: &[&'static ModuleDescriptor]) -> Vec<&'static Contract> {
    let mut known: Vec<&'static Contract> = CONTRACTS.to_vec();
    for m in linked {
        if !known.iter().any(|c| c.module == m.contract.module) {
            known.push(m.contract);
        }
    }
    known
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
        match linked.iter().find(|m| m.name == name) {
            Some(m) if !hosted.iter().any(|h: &&ModuleDescriptor| h.name == m.name) => {
                hosted.push(*m)
            }
            Some(_) => {}
            None => bail!(
                "`modules` names `{name}`, which is not linked into this binary (linked: {})",
                linked.iter().map(|m| m.name).collect::<Vec<_>>().join(", ")
            ),
        }
    }
    hosted.sort_by_key(|m| m.name);
    Ok(hosted)
}

impl Application {
    /// Binds the configured addresses, then [`Application::build_on`].
    pub async fn build(config: &Config) -> anyhow::Result<Application> {
        let listeners = Listeners::bind(config)?;
        Self::build_on(config, listeners).await
    }

    /// Connects to (and creates and migrates) the database, assembles the hosted modules with
    /// routes to the remote ones, and starts serving on `listeners` and the outbox relay.
    pub async fn build_on(config: &Config, listeners: Listeners) -> anyhow::Result<Application> {
        let linked = cleave::modules();
        let known = known_contracts(&linked);
        let hosted = hosted_modules(config, &linked)?;

        let mut routing = RoutingBuilder::default();
        let mut remotes = Vec::new();
        for (module, url) in &config.remote {
            if hosted.iter().any(|m| m.name == module) {
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
            let Some(token) = config.internal_token.as_deref() else {
                bail!(
                    "remote modules need `internal_token` (SHOP_INTERNAL_TOKEN), the same secret on every process"
                );
            };
            let settings = RemoteSettings::from_config(&config.extract, module, token);
            let remote =
                RemoteModule::new(contract, url, settings, &known).map_err(anyhow::Error::msg)?;
            routing.remote_module(module, remote.clone());
            for event in contract.subscribes {
                routing.subscriber(event, module, remote.clone());
            }
            remotes.push((module.clone(), remote.base_url().to_string()));
        }

        let db = cleave::db::connect(&config.database)
            .await
            .with_context(|| format!("Failed to open the database `{}`", config.database))?;
        cleave::db::migrate(&db, &hosted)
            .await
            .context("Failed to migrate the database")?;
        let bus = Bus::new(config.serialize_messages);
        let metrics = bus.metrics().clone();
        let runtime = Runtime::build(db, bus.clone(), &hosted, routing, &known)
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
        let document = web::Data::new(openapi(&hosted));
        let mut public = HttpServer::new(move || {
            let runtime = app_runtime.clone();
            App::new()
                .wrap_fn(cleave::http::trace_request)
                .configure(|cfg| runtime.configure_http(cfg))
                .app_data(public_readiness.clone())
                .app_data(public_metrics.clone())
                .app_data(public_scrape.clone())
                .app_data(document.clone())
                .route("/health", web::get().to(health))
                .route("/ready", web::get().to(ready))
                .route("/metrics", web::get().to(prometheus))
                .route("/api/openapi.json", web::get().to(openapi_json))
                .default_service(web::to(cleave::http::not_found))
        })
        .shutdown_timeout(config.shutdown_timeout_s);
        let endpoints = Arc::new(
            InternalEndpoints::new(
                bus,
                config.internal_token.clone(),
                hosted.iter().map(|m| m.contract).collect(),
                known,
                config.extract.max_body_bytes,
            )
            .with_structure(runtime.db().clone(), remotes.clone())
            .with_contracts(
                hosted
                    .iter()
                    .filter_map(|m| Some((m.name.to_string(), crate::contract_schema(m.name)?)))
                    .collect(),
            ),
        );
        let mut internal = HttpServer::new(move || {
            let endpoints = endpoints.clone();
            App::new()
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
        let relay = config
            .outbox
            .relay
            .then(|| runtime.spawn_relay(&config.outbox));
        // Histograms keep their recent samples until rendered; compact them now and then so a
        // process nobody scrapes does not grow.
        let upkeep = tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
            loop {
                every.tick().await;
                metrics.run_upkeep();
            }
        });
        Ok(Application {
            port,
            internal_port,
            public,
            internal,
            runtime,
            relay,
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

    /// Remote modules and the URLs they are reached at.
    pub fn remotes(&self) -> &[(String, String)] {
        &self.remotes
    }

    /// A handle to stop both servers from elsewhere.
    pub fn handle(&self) -> ShopHandle {
        ShopHandle {
            public: self.public.handle(),
            internal: self.internal.handle(),
        }
    }

    /// Serves until both servers stop (by their handle, SIGINT or SIGTERM), then stops the
    /// relay after the delivery in progress.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let (public, internal) = tokio::join!(self.public, self.internal);
        self.upkeep.abort();
        if let Some(relay) = self.relay {
            relay.stop().await;
        }
        public.context("The public HTTP server failed")?;
        internal.context("The internal HTTP server failed")
    }
}

/// The process's own routes, for the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "cleave shop",
        description = "The public API of the cleave reference shop."
    ),
    paths(health, ready)
)]
struct ShopApi;

/// The OpenAPI document of this process's public API: its own routes and every hosted module's.
pub fn openapi(hosted: &[&'static cleave::ModuleDescriptor]) -> utoipa::openapi::OpenApi {
    let mut document = <ShopApi as utoipa::OpenApi>::openapi();
    for module in hosted {
        document.merge((module.openapi)());
    }
    document
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
    db: sea_orm::DatabaseConnection,
    metrics: cleave::Metrics,
}

/// `GET /metrics`: the Prometheus text format. The outbox gauges are counted from the table
/// now, so they are right in every process that shares the database.
async fn prometheus(scrape: web::Data<Scrape>) -> HttpResponse {
    match cleave::outbox::counts(&scrape.db).await {
        Ok(counts) => scrape.metrics.set_outbox(&counts),
        Err(e) => tracing::warn!(error = %e, "cannot count the outbox for /metrics"),
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(scrape.metrics.render())
}

/// What `/ready` checks: the database, and that each remote module's process answers.
struct Readiness {
    db: sea_orm::DatabaseConnection,
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
    for (module, url) in &readiness.remotes {
        let answer = readiness.client.get(format!("{url}/health")).send().await;
        let check = match answer {
            Ok(r) if r.status().is_success() => serde_json::json!({ "ok": true, "url": url }),
            Ok(r) => {
                serde_json::json!({ "ok": false, "url": url, "error": format!("answered {}", r.status()) })
            }
            Err(e) => serde_json::json!({ "ok": false, "url": url, "error": e.to_string() }),
        };
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
