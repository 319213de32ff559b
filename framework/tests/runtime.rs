//! The runtime refuses to start when a module's registration and its declaration disagree,
//! when a request some module sends has no route, when a module's published contract is
//! stale, or when its settings do not fit.

use async_trait::async_trait;
use cleave::testing::{TEST_APP, fixture_contract, fixture_module, register_nothing};
use cleave::{
    Bus, Caller, Contract, Database, DatabaseOptions, Failure, Handler, Module, ModuleDescriptor,
    RegisterError, Registrar, Request, Runtime, RuntimeSettings, Wiring,
};
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

static CALLER_CONTRACT: Contract = fixture_contract("caller", &[], &[], &[]);
static CALLER: ModuleDescriptor = ModuleDescriptor {
    sends: &[Ping::NAME],
    ..fixture_module(&CALLER_CONTRACT, "sends pings", register_nothing)
};

static PONG_CONTRACT: Contract = fixture_contract("pong", &[Ping::NAME], &[], &[]);
static PONG: ModuleDescriptor = fixture_module(&PONG_CONTRACT, "answers pings", serve_ping);

/// Claims to answer pings but registers nothing.
static LIAR: ModuleDescriptor = ModuleDescriptor {
    summary: "claims to answer pings",
    register: register_nothing,
    ..PONG
};

/// Answers pings its contract does not declare.
static SILENT_CONTRACT: Contract = fixture_contract("pong", &[], &[], &[]);
static UNDECLARED: ModuleDescriptor = ModuleDescriptor {
    contract: &SILENT_CONTRACT,
    summary: "answers undeclared pings",
    ..PONG
};

async fn db() -> (tempfile::TempDir, Database) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/t.db", dir.path().display());
    let db = Database::connect(&url, &DatabaseOptions::default())
        .await
        .unwrap();
    (dir, db)
}

async fn build_with(
    modules: &[&'static ModuleDescriptor],
    contracts: &[&'static Contract],
    settings: &RuntimeSettings,
) -> Result<Runtime, RegisterError> {
    let (_dir, db) = db().await;
    Runtime::build(
        db,
        Bus::new(false),
        modules,
        Wiring::default(),
        contracts,
        settings,
    )
}

async fn build(modules: &[&'static ModuleDescriptor]) -> Result<Runtime, RegisterError> {
    let contracts: Vec<_> = modules.iter().map(|m| m.contract).collect();
    build_with(modules, &contracts, &RuntimeSettings::new(TEST_APP)).await
}

#[tokio::test]
async fn a_sent_request_without_a_route_stops_start_up() {
    let err = build(&[&CALLER]).await.unwrap_err().to_string();
    assert!(err.contains("module `caller` sends `pong.ping`"), "{err}");
    assert!(err.contains("`remote.pong`"), "names the config key: {err}");
    assert!(
        err.contains("TEST_REMOTE__PONG"),
        "names the application's environment variable: {err}"
    );
    assert!(build(&[&CALLER, &PONG]).await.is_ok());
}

/// Publishes pings that `listener` subscribes to.
static PUBLISHER_CONTRACT: Contract = fixture_contract("pinger", &[], &["pinger.pinged"], &[]);
static PUBLISHER: ModuleDescriptor =
    fixture_module(&PUBLISHER_CONTRACT, "publishes pings", register_nothing);

static LISTENER_CONTRACT: Contract = fixture_contract("listener", &[], &[], &["pinger.pinged"]);

#[tokio::test]
async fn a_subscriber_that_is_neither_hosted_nor_remote_stops_start_up() {
    let err = build_with(
        &[&PUBLISHER],
        &[&PUBLISHER_CONTRACT, &LISTENER_CONTRACT],
        &RuntimeSettings::new(TEST_APP),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("which module `listener` subscribes to"),
        "{err}"
    );
    assert!(err.contains("`remote.listener`"), "{err}");
}

#[tokio::test]
async fn registrations_must_match_declarations() {
    let err = build(&[&LIAR]).await.unwrap_err().to_string();
    assert!(err.contains("registers no handler for it"), "{err}");
    let err = build(&[&UNDECLARED]).await.unwrap_err().to_string();
    assert!(err.contains("does not list it"), "{err}");
    let err = build(&[&PONG, &PONG]).await.unwrap_err().to_string();
    assert!(err.contains("two modules are called `pong`"), "{err}");
}

/// Declares a subscription its published contract does not list.
static STALE_CONTRACT: Contract = fixture_contract("stale", &[], &[], &[]);
static STALE: ModuleDescriptor = ModuleDescriptor {
    subscribes: &["pinger.pinged"],
    ..fixture_module(&STALE_CONTRACT, "listens, unpublished", register_nothing)
};

#[tokio::test]
async fn a_stale_published_contract_stops_start_up_with_the_command_that_fixes_it() {
    let err = build(&[&PUBLISHER, &STALE]).await.unwrap_err().to_string();
    assert!(
        err.contains("published contract of module `stale` is stale"),
        "{err}"
    );
    assert!(err.contains("run `test contracts --write`"), "{err}");
}

/// A module with settings.
struct Tuned;
impl Caller for Tuned {
    const NAME: &'static str = "tuned";
}
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TunedConfig {
    #[serde(default)]
    level: u32,
}
impl Module for Tuned {
    type Config = TunedConfig;
}

static LEVEL: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

fn read_settings(r: &mut Registrar<'_>) -> Result<(), RegisterError> {
    let context = r.context::<Tuned>()?;
    LEVEL.store(context.config.level, std::sync::atomic::Ordering::SeqCst);
    Ok(())
}

static TUNED_CONTRACT: Contract = fixture_contract("tuned", &[], &[], &[]);
static TUNED: ModuleDescriptor = fixture_module(&TUNED_CONTRACT, "has settings", read_settings);

fn sections(toml: &str) -> RuntimeSettings {
    use figment::providers::{Format, Toml};
    let dict: std::collections::BTreeMap<String, figment::value::Dict> =
        figment::Figment::from(Toml::string(toml))
            .extract_inner("module")
            .unwrap();
    RuntimeSettings {
        app: TEST_APP,
        module_sections: dict,
    }
}

#[tokio::test]
async fn module_settings_reach_the_module_and_bad_ones_are_named() {
    let contracts = [&TUNED_CONTRACT];
    build_with(
        &[&TUNED],
        &contracts,
        &sections("[module.tuned]\nlevel = 7\n"),
    )
    .await
    .unwrap();
    assert_eq!(LEVEL.load(std::sync::atomic::Ordering::SeqCst), 7);
    let err = build_with(
        &[&TUNED],
        &contracts,
        &sections("[module.tuned]\nlevle = 7\n"),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("`[module.tuned]`") && err.contains("levle"),
        "{err}"
    );
    let err = build_with(&[&TUNED], &contracts, &sections("[module.nobody]\nx = 1\n"))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("settings for module `nobody`"), "{err}");
}
