//! Builds and runs one shop process: database, modules, HTTP server, outbox relay.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::{Server, ServerHandle};
use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::Context;
use cleave::bus::RoutingBuilder;
use cleave::outbox::RelayHandle;
use cleave::{Bus, Config, Runtime};

/// A shop process, built and bound to its port but not yet serving.
pub struct Application {
    port: u16,
    server: Server,
    runtime: Arc<Runtime>,
    relay: Option<RelayHandle>,
}

impl Application {
    /// Connects to (and creates and migrates) the database, assembles every linked module,
    /// binds the listener and starts the outbox relay.
    pub async fn build(config: &Config) -> anyhow::Result<Application> {
        let modules = cleave::modules();
        let db = cleave::db::connect(&config.database)
            .await
            .with_context(|| format!("Failed to open the database `{}`", config.database))?;
        cleave::db::migrate(&db, &modules)
            .await
            .context("Failed to migrate the database")?;
        let runtime = Runtime::build(
            db,
            Bus::new(config.serialize_messages),
            &modules,
            RoutingBuilder::default(),
        )
        .context("The modules cannot start")?;
        let runtime = Arc::new(runtime);

        let listener = TcpListener::bind(config.listen)
            .with_context(|| format!("Failed to listen on {}", config.listen))?;
        let port = listener.local_addr()?.port();
        let app_runtime = runtime.clone();
        let mut server = HttpServer::new(move || {
            let runtime = app_runtime.clone();
            App::new()
                .configure(|cfg| runtime.configure_http(cfg))
                .route("/health", web::get().to(health))
                .default_service(web::to(cleave::http::not_found))
        })
        .shutdown_timeout(10);
        if let Some(workers) = config.workers {
            server = server.workers(workers.max(1));
        }
        let server = server.listen(listener)?.run();
        let relay = config
            .outbox
            .relay
            .then(|| runtime.spawn_relay(&config.outbox));
        Ok(Application {
            port,
            server,
            runtime,
            relay,
        })
    }

    /// The port the public API listens on (useful with port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The assembled modules.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// A handle to stop the server from elsewhere.
    pub fn server_handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until the server is stopped (by its handle, SIGINT or SIGTERM), then stops the
    /// relay after the delivery in progress.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let served = self.server.await;
        if let Some(relay) = self.relay {
            relay.stop().await;
        }
        served.context("The HTTP server failed")
    }
}

async fn health() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}
