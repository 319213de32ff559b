//! Layered configuration: defaults < `shop.toml` < `SHOP_*` environment < command-line flags.
//!
//! Unknown keys are rejected at every layer so a typo is an error that names the key, not a
//! setting silently ignored.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// Environment variables starting with this prefix are configuration keys.
pub const ENV_PREFIX: &str = "SHOP_";
/// The config file read from the working directory when none is named.
pub const DEFAULT_FILE: &str = "shop.toml";

/// The whole configuration of one process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address of the public HTTP API.
    pub listen: SocketAddr,
    /// Database URL: `sqlite://path?mode=rwc` (the default, created on first use) or
    /// `postgres://user:pass@host/db`.
    pub database: String,
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
    /// Event delivery.
    pub outbox: OutboxConfig,
    /// Modules this process hosts; every linked module when empty. In the environment a
    /// comma-separated list: `SHOP_MODULES=catalog,orders`.
    #[serde(deserialize_with = "names_or_list")]
    pub modules: Vec<String>,
    /// Modules hosted by other processes: module name to the base URL of that process's
    /// internal listener, e.g. `billing = "http://127.0.0.1:9181"`.
    pub remote: BTreeMap<String, String>,
    /// Address of the internal listener, which serves this process's modules to other
    /// processes; apart from the public API.
    pub internal_listen: SocketAddr,
    /// Shared secret of the internal endpoints, sent and required as a bearer token. Without
    /// it the internal endpoints refuse every message.
    pub internal_token: Option<String>,
    /// How calls and event deliveries to remote modules behave.
    pub extract: ExtractConfig,
    /// Export of spans to an OpenTelemetry collector.
    pub telemetry: TelemetryConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database: "sqlite://shop.db?mode=rwc".to_string(),
            serialize_messages: false,
            workers: None,
            log: "info,sqlx=warn,sea_orm=warn".to_string(),
            log_format: LogFormat::Text,
            shutdown_timeout_s: 10,
            outbox: OutboxConfig::default(),
            modules: Vec::new(),
            remote: BTreeMap::new(),
            internal_listen: SocketAddr::from(([127, 0, 0, 1], 9180)),
            internal_token: None,
            extract: ExtractConfig::default(),
            telemetry: TelemetryConfig::default(),
        }
    }
}

/// Export of spans over OTLP (HTTP, JSON body) to an OpenTelemetry collector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// Base URL of the collector's OTLP/HTTP receiver, e.g. `http://127.0.0.1:4318`; spans are
    /// posted to `<endpoint>/v1/traces`. No export when absent.
    pub otlp_endpoint: Option<String>,
    /// The `service.name` resource attribute of the exported spans.
    pub service_name: String,
    /// Which spans are exported, in `tracing_subscriber::EnvFilter` syntax, independent of the
    /// log filter. The default includes the per-call spans of the bus (`cleave::bus`, level
    /// debug), which cost nothing while no exporter is configured.
    pub filter: String,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig {
            otlp_endpoint: None,
            service_name: "shop".to_string(),
            filter: "info,cleave::bus=debug,sqlx=warn,sea_orm=warn".to_string(),
        }
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

/// Reads a list of names from a TOML array or from a comma-separated string (environment).
fn names_or_list<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Names {
        List(Vec<String>),
        Text(String),
    }
    Ok(match Names::deserialize(deserializer)? {
        Names::List(list) => list,
        Names::Text(text) => text
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
    })
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

/// How the outbox relay delivers events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboxConfig {
    /// Run the relay in this process. Turn off to only accept work (events stay pending).
    pub relay: bool,
    /// How often the relay looks for due deliveries when nothing wakes it.
    pub poll_interval_ms: u64,
    /// Deliveries read per pass.
    pub batch_size: u64,
    /// Attempts before a delivery is marked failed.
    pub max_attempts: u32,
    /// Delay before the first retry; doubles with each further attempt.
    pub backoff_initial_ms: u64,
    /// Upper bound of the retry delay.
    pub backoff_max_ms: u64,
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
        }
    }
}

/// A configuration that could not be loaded; the message names the offending key and source.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(String);

/// Where the layers come from.
#[derive(Debug, Clone, Default)]
pub struct ConfigSources {
    /// An explicit config file; it must exist. Without one, `shop.toml` is read if present.
    pub file: Option<PathBuf>,
    /// Command-line overrides, the top layer: a map of keys to values.
    pub overrides: serde_json::Map<String, serde_json::Value>,
}

impl Config {
    /// Loads defaults < file < `SHOP_*` environment < overrides.
    pub fn load(sources: &ConfigSources) -> Result<Config, ConfigError> {
        let file = match &sources.file {
            Some(path) if !path.exists() => {
                return Err(ConfigError(format!(
                    "config file `{}` does not exist",
                    path.display()
                )));
            }
            Some(path) => path.clone(),
            None => PathBuf::from(DEFAULT_FILE),
        };
        Self::figment(&file, &sources.overrides)
            .extract()
            .map_err(|e| ConfigError(describe(e)))
    }

    fn figment(file: &Path, overrides: &serde_json::Map<String, serde_json::Value>) -> Figment {
        Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::file(file))
            // `SHOP_OUTBOX__MAX_ATTEMPTS` sets `outbox.max_attempts`. `SHOP_CONFIG` names the file
            // and is not a key.
            .merge(Env::prefixed(ENV_PREFIX).split("__").ignore(&["CONFIG"]))
            .merge(Serialized::globals(overrides))
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

    #[test]
    fn layers_override_in_order() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "shop.toml",
                "listen = \"127.0.0.1:9000\"\ndatabase = \"sqlite://file.db\"\n[outbox]\nmax_attempts = 3\n",
            )?;
            jail.set_env("SHOP_DATABASE", "sqlite://env.db");
            jail.set_env("SHOP_OUTBOX__POLL_INTERVAL_MS", "50");
            let mut overrides = serde_json::Map::new();
            overrides.insert("listen".into(), "127.0.0.1:7000".into());
            let config = Config::load(&ConfigSources {
                file: None,
                overrides,
            })
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
            jail.create_file("shop.toml", "[outbox]\nmax_atempts = 3\n")?;
            let err = Config::load(&ConfigSources::default())
                .unwrap_err()
                .to_string();
            assert!(err.contains("max_atempts"), "{err}");
            Ok(())
        });
        figment::Jail::expect_with(|jail| {
            jail.set_env("SHOP_LISTEN_ADDR", "x");
            let err = Config::load(&ConfigSources::default())
                .unwrap_err()
                .to_string();
            assert!(err.contains("listen_addr"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn topology_keys_come_from_file_and_environment() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "shop.toml",
                "modules = [\"billing\"]\n[remote]\norders = \"http://127.0.0.1:9180\"\n[extract.timeouts]\norders = 300\n",
            )?;
            jail.set_env("SHOP_REMOTE__NOTIFICATIONS", "http://127.0.0.1:9182");
            jail.set_env("SHOP_INTERNAL_TOKEN", "s3cret");
            let config = Config::load(&ConfigSources::default()).unwrap();
            assert_eq!(config.modules, ["billing"]);
            assert_eq!(config.remote.len(), 2);
            assert_eq!(config.remote["notifications"], "http://127.0.0.1:9182");
            assert_eq!(config.internal_token.as_deref(), Some("s3cret"));
            assert_eq!(config.extract.timeout_for("orders").as_millis(), 300);
            assert_eq!(config.extract.timeout_for("catalog").as_millis(), 2_000);
            jail.set_env("SHOP_MODULES", "catalog, orders");
            let config = Config::load(&ConfigSources::default()).unwrap();
            assert_eq!(config.modules, ["catalog", "orders"]);
            Ok(())
        });
    }

    #[test]
    fn telemetry_endpoint_comes_from_the_environment() {
        figment::Jail::expect_with(|jail| {
            assert_eq!(
                Config::load(&ConfigSources::default())
                    .unwrap()
                    .telemetry
                    .otlp_endpoint,
                None
            );
            jail.set_env("SHOP_TELEMETRY__OTLP_ENDPOINT", "http://127.0.0.1:4318");
            let config = Config::load(&ConfigSources::default()).unwrap();
            assert_eq!(
                config.telemetry.otlp_endpoint.as_deref(),
                Some("http://127.0.0.1:4318")
            );
            assert_eq!(config.telemetry.service_name, "shop");
            Ok(())
        });
    }

    #[test]
    fn a_named_file_must_exist() {
        let err = Config::load(&ConfigSources {
            file: Some(PathBuf::from("/definitely/not/here.toml")),
            overrides: Default::default(),
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("does not exist"), "{err}");
    }

    #[test]
    fn bad_values_name_the_key() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("SHOP_LISTEN", "not an address");
            let err = Config::load(&ConfigSources::default())
                .unwrap_err()
                .to_string();
            assert!(err.contains("listen"), "{err}");
            Ok(())
        });
    }
}
