//! The runtime refuses to start when a module's registration and its descriptor disagree, or
//! when a request some module sends has no route.

use async_trait::async_trait;
use cleave::bus::RoutingBuilder;
use cleave::testing::{fixture_contract, fixture_module, register_nothing};
use cleave::{
    Bus, Contract, Failure, Handler, ModuleDescriptor, RegisterError, Registrar, Request, Runtime,
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

static CALLER: ModuleDescriptor = ModuleDescriptor {
    may_call: &["pong"],
    sends: &[Ping::NAME],
    ..fixture_module(
        &fixture_contract("caller", &[], &[], &[]),
        "sends pings",
        register_nothing,
    )
};

static PONG: ModuleDescriptor = fixture_module(
    &fixture_contract("pong", &[Ping::NAME], &[], &[]),
    "answers pings",
    serve_ping,
);

/// Claims to answer pings but registers nothing.
static LIAR: ModuleDescriptor = ModuleDescriptor {
    summary: "claims to answer pings",
    register: register_nothing,
    ..PONG
};

/// Answers pings its contract does not declare.
static UNDECLARED: ModuleDescriptor = ModuleDescriptor {
    contract: &fixture_contract("pong", &[], &[], &[]),
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
static PUBLISHER: ModuleDescriptor = fixture_module(
    &fixture_contract("pinger", &[], &["pinger.pinged"], &[]),
    "publishes pings",
    register_nothing,
);

static LISTENER_CONTRACT: Contract = fixture_contract("listener", &[], &[], &["pinger.pinged"]);

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
