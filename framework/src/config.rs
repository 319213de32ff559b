//! Layered configuration: defaults < `<app>.toml` < `<APP>_*` environment < command-line flags.
//!
//! The application names itself once ([`AppName`]); the environment prefix, the config file,
//! the default SQLite file and the telemetry service name derive from that name. Unknown keys
//! are rejected at every layer so a typo is an error that names the key, not a setting
//! silently ignored.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use crate::db::DatabaseOptions;

/// The name of an application built on cleave, given once (`AppName::new("myapp")`); everything
/// that names the application derives from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AppName(&'static str);

impl AppName {
    /// An application called `name`: lowercase letters, digits and `-`, starting with a letter.
    ///
    /// # Panics
    ///
    /// When the name does not have that form (it is a constant of the application's code).
    pub const fn new(name: &'static str) -> AppName {
        let bytes = name.as_bytes();
        assert!(
            !bytes.is_empty() && bytes[0].is_ascii_lowercase(),
            "an application name starts with a lowercase letter"
        );
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            assert!(
                b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-',
                "an application name has lowercase letters, digits and `-` only"
            );
            i += 1;
        }
        AppName(name)
    }

    /// The name, e.g. `myapp`: also the command's name in messages and the telemetry service
    /// name.
    pub fn as_str(&self) -> &'static str {
        self.0
    }

    /// The prefix of configuration variables in the environment, e.g. `MYAPP_`.
    pub fn env_prefix(&self) -> String {
        format!("{}_", self.0.to_ascii_uppercase().replace('-', "_"))
    }

    /// The environment variable of a configuration key, e.g. `remote.billing` →
    /// `MYAPP_REMOTE__BILLING`.
    pub fn env_var(&self, key: &str) -> String {
        format!(
            "{}{}",
            self.env_prefix(),
            key.replace('.', "__").to_ascii_uppercase()
        )
    }

    /// The config file read from the working directory when none is named, e.g. `myapp.toml`.
    pub fn config_file(&self) -> String {
        format!("{}.toml", self.0)
    }

    /// The default database: a SQLite file named after the application in the working
    /// directory, e.g. `sqlite://myapp.db?mode=rwc`.
    pub fn default_database(&self) -> String {
        format!("sqlite://{}.db?mode=rwc", self.0)
    }
}

impl std::fmt::Display for AppName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// The whole configuration of one process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address of the public HTTP API.
    pub listen: SocketAddr,
    /// Database URL: `sqlite://path?mode=rwc` (the default, created on first use) or
    /// `postgres://user:pass@host/db`.
    pub database: String,
    /// How the database is connected to (SQLite durability and readers, pool sizes).
    #[serde(rename = "db")]
    pub database_options: DatabaseOptions,
    /// Round-trip every local request, response and domain error through the JSON wire codec,
    /// as if every module were remote. For tests and for proving a module can be extracted.
    pub serialize_messages: bool,
    /// HTTP worker threads; the number of cores when absent.
    pub workers: Option<usize>,
    /// Log filter in `tracing_subscriber::EnvFilter` syntax.
    pub log: String,
    /// `text` for people, `json` (one object per line) for log collectors.
    pub log_format: LogFormat,
    /// On SIGTERM or SIGINT: seconds to let in-flight requests finish before the servers
    /// close their connections; the relay then stops after the delivery in progress.
    pub shutdown_timeout_s: u64,
    /// Serve `GET /metrics` on the public listener too (it is always on the internal one).
    /// `true` by default so that a first run can be scraped where it is reached; a process
    /// whose public listener faces the internet should set `false`: the metrics then stay on
    /// the internal listener, which binds loopback unless configured otherwise.
    pub public_metrics: bool,
    /// How long a request body may stop arriving (between two chunks) before the request ends
    /// with 408 `body_timeout`, on both listeners.
    pub body_timeout_ms: u64,
    /// Event delivery.
    pub outbox: OutboxConfig,
    /// How events reach modules in other processes: HTTP pushes (the default) or a broker.
    pub events: EventsConfig,
    /// Modules this process hosts; every linked module when empty. In the environment a
    /// comma-separated list: `<APP>_MODULES=catalog,orders`.
    #[serde(deserialize_with = "names_or_list")]
    pub modules: Vec<String>,
    /// Modules hosted by other processes: module name to the base URL of the internal listener
    /// of the process hosting it, or several (replicas), e.g. `billing = "http://10.0.0.5:9180"`
    /// or `billing = ["http://a:9180", "http://b:9180"]`; in the environment comma-separated.
    #[serde(deserialize_with = "urls_by_module")]
    pub remote: BTreeMap<String, Vec<String>>,
    /// Named placements: which node hosts which modules (see [`Placement`]).
    pub placements: BTreeMap<String, Placement>,
    /// The placement this process follows (with `node`): it derives `modules` and `remote`.
    pub placement: Option<String>,
    /// This process's node in `placement`.
    pub node: Option<String>,
    /// Address of the internal listener, which serves this process's modules to other
    /// processes; apart from the public API.
    pub internal_listen: SocketAddr,
    /// Shared secret of the internal endpoints, sent and required as a bearer token for every
    /// module without credentials of its own (and for tools, as sender `external`). Any
    /// process holding it can speak as those modules; give modules their own `credentials` to
    /// prevent that.
    pub internal_token: Option<String>,
    /// Each module's credential on the wire, `[credentials.<module>]`: the `token` this process
    /// presents when it speaks as the module (only where the module is hosted), and the
    /// SHA-256 digests (`sha256:<hex>`) of the tokens accepted from it (two while rotating).
    /// `<app> credentials new MODULE` makes a pair.
    pub credentials: BTreeMap<String, ModuleCredential>,
    /// How calls and event deliveries to remote modules behave.
    pub extract: ExtractConfig,
    /// Export of spans to an OpenTelemetry collector.
    pub telemetry: TelemetryConfig,
    /// Each module's own settings, `[module.<name>]`, read by the module's declared config
    /// type when it starts.
    pub module: BTreeMap<String, figment::value::Dict>,
}

impl Config {
    /// The built-in defaults of application `app`.
    pub fn defaults(app: AppName) -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database: app.default_database(),
            database_options: DatabaseOptions::default(),
            serialize_messages: false,
            workers: None,
            log: "info,sqlx=warn,sea_orm=warn".to_string(),
            log_format: LogFormat::Text,
            shutdown_timeout_s: 10,
            public_metrics: true,
            body_timeout_ms: 10_000,
            outbox: OutboxConfig::default(),
            events: EventsConfig::default(),
            modules: Vec::new(),
            remote: BTreeMap::new(),
            placements: BTreeMap::new(),
            placement: None,
            node: None,
            internal_listen: SocketAddr::from(([127, 0, 0, 1], 9180)),
            internal_token: None,
            credentials: BTreeMap::new(),
            extract: ExtractConfig::default(),
            telemetry: TelemetryConfig::for_app(app),
            module: BTreeMap::new(),
        }
    }
}

impl Default for Config {
    /// The defaults of an application called `app`; applications use [`Config::defaults`].
    fn default() -> Self {
        Config::defaults(AppName::new("app"))
    }
}

/// A named way to spread the modules over processes (Service Weaver's colocation groups):
/// `[placements.billing-extracted.nodes.main] modules = [...]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Placement {
    /// What this placement is for, in a sentence.
    pub description: Option<String>,
    /// The processes, by node name.
    pub nodes: BTreeMap<String, PlacementNode>,
}

impl Placement {
    /// Its node names, comma-separated, for messages.
    pub fn node_list(&self) -> String {
        self.nodes.keys().cloned().collect::<Vec<_>>().join(", ")
    }
}

/// One kind of process of a placement: the modules it hosts, and where its instances are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlacementNode {
    /// The modules it hosts.
    pub modules: Vec<String>,
    /// Base URLs of the internal listeners of its instances, which the other nodes call.
    /// Deployment tools fill them in when they know the addresses.
    pub urls: Vec<String>,
    /// How many instances run (deployment tools read it).
    pub replicas: u32,
}

impl Default for PlacementNode {
    fn default() -> Self {
        PlacementNode {
            modules: Vec::new(),
            urls: Vec::new(),
            replicas: 1,
        }
    }
}

/// One module's credential on the wire.
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModuleCredential {
    /// The secret presented when this process speaks as the module.
    pub token: Option<String>,
    /// Digests (`sha256:<hex>`) of the tokens accepted from the module: a TOML array, or a
    /// comma-separated string (environment: `<APP>_CREDENTIALS__<MODULE>__ACCEPT=sha256:…,sha256:…`).
    #[serde(deserialize_with = "names_or_list")]
    pub accept: Vec<String>,
}

impl std::fmt::Debug for ModuleCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModuleCredential")
            .field("token", &self.token.as_ref().map(|_| "…"))
            .field("accept", &self.accept)
            .finish()
    }
}

/// Export of spans over OTLP (HTTP, JSON body) to an OpenTelemetry collector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// Base URL of the collector's OTLP/HTTP receiver, e.g. `http://127.0.0.1:4318`; spans are
    /// posted to `<endpoint>/v1/traces`. No export when absent.
    pub otlp_endpoint: Option<String>,
    /// The `service.name` resource attribute of the exported spans; the application's name by
    /// default.
    pub service_name: String,
    /// Which spans are exported, in `tracing_subscriber::EnvFilter` syntax, independent of the
    /// log filter. The default includes the per-call spans of the bus (`cleave::bus`, level
    /// debug) and the event deliveries' (`cleave::relay`, level debug), which cost nothing
    /// while no exporter is configured.
    pub filter: String,
}

impl TelemetryConfig {
    /// The defaults of application `app`.
    pub fn for_app(app: AppName) -> Self {
        TelemetryConfig {
            otlp_endpoint: None,
            service_name: app.as_str().to_string(),
            filter: "info,cleave::bus=debug,cleave::relay=debug,sqlx=warn,sea_orm=warn".to_string(),
        }
    }
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Config::default().telemetry
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Names {
    List(Vec<String>),
    Text(String),
}

impl Names {
    fn into_vec(self) -> Vec<String> {
        match self {
            Names::List(list) => list,
            Names::Text(text) => text
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
        }
    }
}

/// Reads a list of names from a TOML array or from a comma-separated string (environment).
fn names_or_list<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<String>, D::Error> {
    Ok(Names::deserialize(deserializer)?.into_vec())
}

/// Reads `module = URL`, `module = "URL,URL"` or `module = [URL, URL]`.
fn urls_by_module<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, Vec<String>>, D::Error> {
    let raw = BTreeMap::<String, Names>::deserialize(deserializer)?;
    Ok(raw.into_iter().map(|(m, n)| (m, n.into_vec())).collect())
}

/// Calls and event deliveries to modules in other processes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExtractConfig {
    /// Deadline of one remote call or delivery, unless `timeouts` names the module.
    pub timeout_ms: u64,
    /// Per-module deadlines, e.g. `billing = 500`.
    pub timeouts: BTreeMap<String, u64>,
    /// Extra attempts for requests their contract marks idempotent (never for the others).
    pub retries: u32,
    /// Consecutive failures that open a remote module's circuit breaker.
    pub breaker_failures: u32,
    /// How long an open breaker fails calls at once before letting one through.
    pub breaker_open_ms: u64,
    /// Largest message body the internal endpoints accept.
    pub max_body_bytes: usize,
}

impl Default for ExtractConfig {
    fn default() -> Self {
        ExtractConfig {
            timeout_ms: 2_000,
            timeouts: BTreeMap::new(),
            retries: 2,
            breaker_failures: 5,
            breaker_open_ms: 1_000,
            max_body_bytes: 1024 * 1024,
        }
    }
}

impl ExtractConfig {
    /// The deadline for calls to `module`.
    pub fn timeout_for(&self, module: &str) -> std::time::Duration {
        std::time::Duration::from_millis(
            self.timeouts
                .get(module)
                .copied()
                .unwrap_or(self.timeout_ms),
        )
    }
}

/// How events travel between processes (ADR 15). Without a broker, the relay pushes each event
/// over HTTP to the internal listener of every subscriber hosted elsewhere; with one, it
/// publishes each event once to NATS JetStream, and each subscribing module takes its events
/// from a durable consumer shared by its replicas.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventsConfig {
    /// A NATS server with JetStream, e.g. `nats://nats:4222` (with credentials
    /// `nats://user:password@host:4222`; several servers comma-separated). Whoever can publish
    /// to its subjects can send events as any module: protect it like the internal listeners.
    pub broker: Option<String>,
    /// Prefix of the subjects (`<namespace>.<event name>`) and streams
    /// (`<NAMESPACE>_<PUBLISHER>`); the application's name when absent. Two deployments of one
    /// application on one NATS server need different ones.
    pub namespace: Option<String>,
    /// How long a subscriber may take to apply and acknowledge an event before JetStream hands
    /// it to another replica.
    pub ack_wait_ms: u64,
    /// Deadline of one publish, until JetStream acknowledges that it stored the event.
    pub publish_timeout_ms: u64,
    /// Events a subscriber replica asks the broker for at a time.
    pub fetch_batch: u64,
    /// How long a stream keeps an event that a subscriber has not acknowledged (a subscriber
    /// down for longer loses it). Keep it at most `outbox.retain_inbox_s`, so that every
    /// redelivery is still recognised by the inbox.
    pub stream_max_age_s: u64,
}

impl Default for EventsConfig {
    fn default() -> Self {
        EventsConfig {
            broker: None,
            namespace: None,
            ack_wait_ms: 30_000,
            publish_timeout_ms: 5_000,
            fetch_batch: 64,
            stream_max_age_s: 7 * 24 * 3600,
        }
    }
}

/// What happens to delivered outbox rows and old inbox entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Retention {
    /// Delete them once older than the retention ages.
    #[default]
    Delete,
    /// Move delivered outbox rows to `cleave_outbox_archive` (inbox entries are deleted).
    Archive,
    /// Keep everything.
    Keep,
}

/// How the outbox relay delivers events, and how long what it delivered is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboxConfig {
    /// Run the relay in this process. Turn off to only accept work (events stay pending).
    pub relay: bool,
    /// How often the relay looks for due deliveries when no commit wakes it (retries, and
    /// events committed by other processes on the same database).
    pub poll_interval_ms: u64,
    /// Deliveries per batch (one transaction for a subscriber hosted here).
    pub batch_size: u64,
    /// Attempts before a refused delivery is marked failed.
    pub max_attempts: u32,
    /// Delay before the first retry; doubles with each further attempt.
    pub backoff_initial_ms: u64,
    /// Upper bound of the retry delay.
    pub backoff_max_ms: u64,
    /// How long a relay's hold on a subscriber's queue lasts unless renewed; another process
    /// takes the queue over this long after its holder died.
    pub lease_ms: u64,
    /// What becomes of delivered rows and old inbox entries.
    pub retention: Retention,
    /// Age after which a delivered outbox row is deleted (or archived).
    pub retain_delivered_s: u64,
    /// Age after which an inbox entry is deleted. It must exceed the longest time an event
    /// may be redelivered after it was applied: a redelivery older than this is applied again.
    pub retain_inbox_s: u64,
    /// How often retention runs.
    pub retention_interval_s: u64,
    /// How long the answer to a request sent with an `Idempotency-Key` is kept: a retry
    /// with the same key within this time gets the first answer.
    pub retain_idempotency_s: u64,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        OutboxConfig {
            relay: true,
            poll_interval_ms: 500,
            batch_size: 100,
            max_attempts: 10,
            backoff_initial_ms: 200,
            backoff_max_ms: 30_000,
            lease_ms: 10_000,
            retention: Retention::Delete,
            retain_delivered_s: 3600,
            retain_inbox_s: 7 * 24 * 3600,
            retention_interval_s: 60,
            retain_idempotency_s: 24 * 3600,
        }
    }
}

/// A configuration that could not be loaded; the message names the offending key and source.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(String);

impl ConfigError {
    /// An error with this explanation.
    pub fn new(message: impl Into<String>) -> Self {
        ConfigError(message.into())
    }
}

/// Where the layers come from.
#[derive(Debug, Clone, Default)]
pub struct ConfigSources {
    /// An explicit config file; it must exist. Without one, `<app>.toml` is read if present.
    pub file: Option<PathBuf>,
    /// Command-line overrides, the top layer: a map of keys to values.
    pub overrides: serde_json::Map<String, serde_json::Value>,
}

impl Config {
    /// Loads defaults < file < `<APP>_*` environment < overrides for application `app`, then
    /// applies the chosen placement, if any.
    pub fn load(app: AppName, sources: &ConfigSources) -> Result<Config, ConfigError> {
        Self::load_with(app, "", sources)
    }

    /// The placements of a TOML text holding only `[placements.*]` tables (an application's
    /// built-in placements).
    pub fn placements_from(toml: &str) -> Result<BTreeMap<String, Placement>, ConfigError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Builtin {
            #[serde(default)]
            placements: BTreeMap<String, Placement>,
        }
        let builtin: Builtin = Figment::from(Toml::string(toml))
            .extract()
            .map_err(|e| ConfigError(format!("built-in placements: {}", describe(e))))?;
        Ok(builtin.placements)
    }

    /// Like [`Config::load`], with the application's built-in placements (a TOML text of
    /// `[placements.*]` tables) as the layer right above the defaults.
    pub fn load_with(
        app: AppName,
        builtin_placements: &str,
        sources: &ConfigSources,
    ) -> Result<Config, ConfigError> {
        let mut defaults = Config::defaults(app);
        defaults.placements = Self::placements_from(builtin_placements)?;
        let file = match &sources.file {
            Some(path) if !path.exists() => {
                return Err(ConfigError(format!(
                    "config file `{}` does not exist",
                    path.display()
                )));
            }
            Some(path) => path.clone(),
            None => PathBuf::from(app.config_file()),
        };
        let mut config: Config = Self::figment(defaults, app, &file, &sources.overrides)
            .extract()
            .map_err(|e| ConfigError(describe(e)))?;
        config.apply_placement(app)?;
        Ok(config)
    }

    fn figment(
        defaults: Config,
        app: AppName,
        file: &Path,
        overrides: &serde_json::Map<String, serde_json::Value>,
    ) -> Figment {
        Figment::from(Serialized::defaults(defaults))
            .merge(Toml::file(file))
            // `<APP>_OUTBOX__MAX_ATTEMPTS` sets `outbox.max_attempts`. `<APP>_CONFIG` names the
            // file and is not a key.
            .merge(
                Env::prefixed(&app.env_prefix())
                    .split("__")
                    .ignore(&["CONFIG"]),
            )
            .merge(Serialized::globals(overrides))
    }

    /// With `placement` and `node` set, derives the hosted modules and the remote routes from
    /// the placement; explicit `remote` entries win over the placement's URLs.
    fn apply_placement(&mut self, app: AppName) -> Result<(), ConfigError> {
        let (placement_name, node_name) = match (&self.placement, &self.node) {
            (None, None) => return Ok(()),
            (Some(p), Some(n)) => (p.clone(), n.clone()),
            (Some(_), None) => {
                return Err(ConfigError(format!(
                    "`placement` needs `node` too (`--node NAME` or {})",
                    app.env_var("node")
                )));
            }
            (None, Some(_)) => {
                return Err(ConfigError(format!(
                    "`node` needs `placement` too (`--placement NAME` or {})",
                    app.env_var("placement")
                )));
            }
        };
        let known = || {
            self.placements
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        };
        let Some(placement) = self.placements.get(&placement_name) else {
            return Err(ConfigError(format!(
                "no placement `{placement_name}` in the configuration (placements: {})",
                known()
            )));
        };
        let Some(node) = placement.nodes.get(&node_name) else {
            return Err(ConfigError(format!(
                "placement `{placement_name}` has no node `{node_name}` (nodes: {})",
                placement.node_list()
            )));
        };
        let mut seen = BTreeMap::new();
        for (name, n) in &placement.nodes {
            for module in &n.modules {
                if let Some(other) = seen.insert(module.clone(), name.clone()) {
                    return Err(ConfigError(format!(
                        "placement `{placement_name}` puts module `{module}` on two nodes, `{other}` and `{name}`"
                    )));
                }
            }
        }
        if !self.modules.is_empty() && self.modules != node.modules {
            return Err(ConfigError(format!(
                "`modules` and placement `{placement_name}` node `{node_name}` disagree; set one"
            )));
        }
        self.modules = node.modules.clone();
        for (name, other) in &placement.nodes {
            if *name == node_name {
                continue;
            }
            for module in &other.modules {
                if !self.remote.contains_key(module) && !other.urls.is_empty() {
                    self.remote.insert(module.clone(), other.urls.clone());
                }
            }
        }
        Ok(())
    }

    /// Where every module of the chosen placement runs: `(node, modules)` in node order, or
    /// `None` without a placement.
    pub fn placement_nodes(&self) -> Option<&Placement> {
        self.placements.get(self.placement.as_ref()?)
    }
}

fn describe(error: figment::Error) -> String {
    error
        .into_iter()
        .map(|e| {
            let source = e
                .metadata
                .as_ref()
                .map(|m| match &m.source {
                    Some(source) => format!(" (from {} {source})", m.name),
                    None => format!(" (from {})", m.name),
                })
                .unwrap_or_default();
            let path = if e.path.is_empty() {
                String::new()
            } else {
                format!("key `{}`: ", e.path.join("."))
            };
            format!("{path}{}{source}", e.kind)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
// figment::Jail closures return figment::Error, whose size is figment's choice.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    const APP: AppName = AppName::new("demo");

    fn load() -> Result<Config, ConfigError> {
        Config::load(APP, &ConfigSources::default())
    }

    #[test]
    fn names_derive_from_the_application() {
        let app = AppName::new("my-app");
        assert_eq!(app.env_prefix(), "MY_APP_");
        assert_eq!(app.env_var("remote.billing"), "MY_APP_REMOTE__BILLING");
        assert_eq!(app.config_file(), "my-app.toml");
        assert_eq!(app.default_database(), "sqlite://my-app.db?mode=rwc");
        let config = Config::defaults(app);
        assert_eq!(config.database, "sqlite://my-app.db?mode=rwc");
        assert_eq!(config.telemetry.service_name, "my-app");
        assert!(std::panic::catch_unwind(|| AppName::new("Demo")).is_err());
    }

    #[test]
    fn layers_override_in_order() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "demo.toml",
                "listen = \"127.0.0.1:9000\"\ndatabase = \"sqlite://file.db\"\n[outbox]\nmax_attempts = 3\n",
            )?;
            jail.set_env("DEMO_DATABASE", "sqlite://env.db");
            jail.set_env("DEMO_OUTBOX__POLL_INTERVAL_MS", "50");
            let mut overrides = serde_json::Map::new();
            overrides.insert("listen".into(), "127.0.0.1:7000".into());
            let config = Config::load(
                APP,
                &ConfigSources {
                    file: None,
                    overrides,
                },
            )
            .unwrap();
            assert_eq!(config.listen.port(), 7000, "flag beats file");
            assert_eq!(config.database, "sqlite://env.db", "env beats file");
            assert_eq!(config.outbox.max_attempts, 3, "file beats default");
            assert_eq!(config.outbox.poll_interval_ms, 50);
            assert_eq!(config.outbox.batch_size, OutboxConfig::default().batch_size);
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_are_rejected_with_their_name() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("demo.toml", "[outbox]\nmax_atempts = 3\n")?;
            let err = load().unwrap_err().to_string();
            assert!(err.contains("max_atempts"), "{err}");
            Ok(())
        });
        figment::Jail::expect_with(|jail| {
            jail.set_env("DEMO_LISTEN_ADDR", "x");
            let err = load().unwrap_err().to_string();
            assert!(err.contains("listen_addr"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn topology_keys_come_from_file_and_environment() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "demo.toml",
                "modules = [\"billing\"]\n[remote]\norders = \"http://127.0.0.1:9180\"\n[extract.timeouts]\norders = 300\n",
            )?;
            jail.set_env(
                "DEMO_REMOTE__NOTIFICATIONS",
                "http://127.0.0.1:9182,http://127.0.0.1:9183",
            );
            jail.set_env("DEMO_INTERNAL_TOKEN", "s3cret");
            let config = load().unwrap();
            assert_eq!(config.modules, ["billing"]);
            assert_eq!(config.remote.len(), 2);
            assert_eq!(
                config.remote["notifications"],
                ["http://127.0.0.1:9182", "http://127.0.0.1:9183"]
            );
            assert_eq!(config.remote["orders"], ["http://127.0.0.1:9180"]);
            assert_eq!(config.internal_token.as_deref(), Some("s3cret"));
            assert_eq!(config.extract.timeout_for("orders").as_millis(), 300);
            assert_eq!(config.extract.timeout_for("catalog").as_millis(), 2_000);
            jail.set_env("DEMO_MODULES", "catalog, orders");
            jail.set_env("DEMO_CREDENTIALS__ORDERS__ACCEPT", "sha256:aa,sha256:bb");
            let config = load().unwrap();
            assert_eq!(config.modules, ["catalog", "orders"]);
            assert_eq!(
                config.credentials["orders"].accept,
                ["sha256:aa", "sha256:bb"],
                "digests from the environment without brackets"
            );
            Ok(())
        });
    }

    #[test]
    fn a_placement_derives_modules_and_remote_routes() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "demo.toml",
                r#"
[placements.split.nodes.main]
modules = ["catalog", "orders"]
urls = ["http://main:9180"]
[placements.split.nodes.billing]
modules = ["billing"]
urls = ["http://billing-1:9180", "http://billing-2:9180"]
replicas = 2
"#,
            )?;
            jail.set_env("DEMO_PLACEMENT", "split");
            jail.set_env("DEMO_NODE", "main");
            let config = load().unwrap();
            assert_eq!(config.modules, ["catalog", "orders"]);
            assert_eq!(
                config.remote["billing"],
                ["http://billing-1:9180", "http://billing-2:9180"]
            );
            jail.set_env("DEMO_NODE", "nowhere");
            let err = load().unwrap_err().to_string();
            assert!(
                err.contains("no node `nowhere`") && err.contains("billing, main"),
                "{err}"
            );
            jail.set_env("DEMO_PLACEMENT", "other");
            let err = load().unwrap_err().to_string();
            assert!(
                err.contains("no placement `other`") && err.contains("split"),
                "{err}"
            );
            Ok(())
        });
    }

    #[test]
    fn module_sections_are_kept_for_their_modules() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("demo.toml", "[module.inventory]\nreservation_ttl_s = 30\n")?;
            jail.set_env("DEMO_MODULE__INVENTORY__SWEEP_S", "5");
            let config = load().unwrap();
            let section = &config.module["inventory"];
            assert!(section.contains_key("reservation_ttl_s"));
            assert!(section.contains_key("sweep_s"));
            Ok(())
        });
    }

    #[test]
    fn telemetry_endpoint_comes_from_the_environment() {
        figment::Jail::expect_with(|jail| {
            assert_eq!(load().unwrap().telemetry.otlp_endpoint, None);
            jail.set_env("DEMO_TELEMETRY__OTLP_ENDPOINT", "http://127.0.0.1:4318");
            let config = load().unwrap();
            assert_eq!(
                config.telemetry.otlp_endpoint.as_deref(),
                Some("http://127.0.0.1:4318")
            );
            assert_eq!(config.telemetry.service_name, "demo");
            Ok(())
        });
    }

    #[test]
    fn a_named_file_must_exist() {
        let err = Config::load(
            APP,
            &ConfigSources {
                file: Some(PathBuf::from("/definitely/not/here.toml")),
                overrides: Default::default(),
            },
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("does not exist"), "{err}");
    }

    #[test]
    fn bad_values_name_the_key() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("DEMO_LISTEN", "not an address");
            let err = load().unwrap_err().to_string();
            assert!(err.contains("listen"), "{err}");
            Ok(())
        });
    }
}
