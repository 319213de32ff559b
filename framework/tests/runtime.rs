//! The runtime refuses to start when a module's registration and its descriptor disagree, or
//! when a request some module sends has no route.

use async_trait::async_trait;
use cleave::bus::RoutingBuilder;
use cleave::testing::{no_migrations, register_nothing};
use cleave::{
    Bus, Contract, Failure, Handler, ModuleDescriptor, RegisterError, Registrar, Request, Runtime,
    Version,
};
use sea_orm::DatabaseConnection;
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
struct Ping;

impl Request for Ping {
    const NAME: &'static str = "pong.ping";
    type Response = ();
    type Error = String;
}

struct Pong;

#[async_trait]
impl Handler<Ping> for Pong {
    async fn handle(&self, _: Ping) -> Result<(), Failure<String>> {
        Ok(())
    }
}

fn serve_ping(r: &mut Registrar<'_>) -> Result<(), RegisterError> {
    r.handle::<Ping>(Pong);
    Ok(())
}

const fn contract(module: &'static str, handles: &'static [&'static str]) -> Contract {
    Contract {
        module,
        version: Version { major: 1, minor: 0 },
        handles,
        publishes: &[],
        subscribes: &[],
    }
}

static CALLER: ModuleDescriptor = ModuleDescriptor {
    name: "caller",
    contract: &contract("caller", &[]),
    summary: "sends pings",
    may_call: &["pong"],
    sends: &[Ping::NAME],
    routes: &[],
    openapi: cleave::http::no_routes,
    migrate: no_migrations,
    register: register_nothing,
};

static PONG: ModuleDescriptor = ModuleDescriptor {
    name: "pong",
    contract: &contract("pong", &[Ping::NAME]),
    summary: "answers pings",
    may_call: &[],
    sends: &[],
    routes: &[],
    openapi: cleave::http::no_routes,
    migrate: no_migrations,
    register: serve_ping,
};

/// Claims to answer pings but registers nothing.
static LIAR: ModuleDescriptor = ModuleDescriptor {
    summary: "claims to answer pings",
    register: register_nothing,
    ..PONG
};

/// Answers pings its contract does not declare.
static UNDECLARED: ModuleDescriptor = ModuleDescriptor {
    contract: &contract("pong", &[]),
    summary: "answers undeclared pings",
    ..PONG
};

async fn db() -> (tempfile::TempDir, DatabaseConnection) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/t.db", dir.path().display());
    let db = cleave::db::connect(&url).await.unwrap();
    (dir, db)
}

async fn build(modules: &[&'static ModuleDescriptor]) -> Result<Runtime, RegisterError> {
    let (_dir, db) = db().await;
    let contracts: Vec<_> = modules.iter().map(|m| m.contract).collect();
    Runtime::build(
        db,
        Bus::new(false),
        modules,
        RoutingBuilder::default(),
        &contracts,
    )
}

#[tokio::test]
async fn a_sent_request_without_a_route_stops_start_up() {
    let err = build(&[&CALLER]).await.unwrap_err().to_string();
    assert!(err.contains("module `caller` sends `pong.ping`"), "{err}");
    assert!(err.contains("`remote.pong`"), "names the config key: {err}");
    assert!(build(&[&CALLER, &PONG]).await.is_ok());
}

/// Publishes pings that `listener` subscribes to.
static PUBLISHER: ModuleDescriptor = ModuleDescriptor {
    name: "pinger",
    contract: &Contract {
        module: "pinger",
        version: Version { major: 1, minor: 0 },
        handles: &[],
        publishes: &["pinger.pinged"],
        subscribes: &[],
    },
    summary: "publishes pings",
    may_call: &[],
    sends: &[],
    routes: &[],
    openapi: cleave::http::no_routes,
    migrate: no_migrations,
    register: register_nothing,
};

static LISTENER_CONTRACT: Contract = Contract {
    module: "listener",
    version: Version { major: 1, minor: 0 },
    handles: &[],
    publishes: &[],
    subscribes: &["pinger.pinged"],
};

#[tokio::test]
async fn a_subscriber_that_is_neither_hosted_nor_remote_stops_start_up() {
    let (_dir, db) = db().await;
    let err = Runtime::build(
        db,
        Bus::new(false),
        &[&PUBLISHER],
        RoutingBuilder::default(),
        &[PUBLISHER.contract, &LISTENER_CONTRACT],
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("which module `listener` subscribes to"),
        "{err}"
    );
    assert!(err.contains("`remote.listener`"), "{err}");
}

#[tokio::test]
async fn registrations_must_match_descriptors() {
    let err = build(&[&LIAR]).await.unwrap_err().to_string();
    assert!(err.contains("registers no handler for it"), "{err}");
    let err = build(&[&UNDECLARED]).await.unwrap_err().to_string();
    assert!(err.contains("does not list it"), "{err}");
    let err = build(&[&PONG, &PONG]).await.unwrap_err().to_string();
    assert!(err.contains("two modules are called `pong`"), "{err}");
}
