//! cleave-app: the composition root of an application built on cleave.
//!
//! An application is a binary that links its modules and names itself once:
//!
//! ```ignore
//! // src/main.rs of an application called `library`
//! mod linked_modules; // `use members as _;` … one line per module crate
//!
//! fn main() -> std::process::ExitCode {
//!     cleave_app::App::new("library")
//!         .about("Members borrow books.")
//!         .version(env!("CARGO_PKG_VERSION"))
//!         .run()
//! }
//! ```
//!
//! [`App`] gives it the whole command line (`serve`, `migrate`, `modules`, `contracts`,
//! `verify`, `events`, `placements`, `new-module`), and [`Server`] one running process: the
//! hosted modules on the public API, the internal endpoints for other processes, readiness,
//! `/metrics`, the OpenAPI document, logs and span export. The environment prefix
//! (`LIBRARY_`), the config file (`library.toml`), the default database (`library.db`) and the
//! telemetry service name all derive from the name.

#![warn(missing_docs)]

pub mod cli;
pub mod deploy;
pub mod docs;
pub mod plan;
pub mod scaffold;
mod server;
pub mod telemetry;
pub mod verify;

use std::process::ExitCode;

use cleave::config::{ConfigError, ConfigSources};
use cleave::{AppName, Config, ModuleDescriptor};

pub use server::{Listeners, Server, StopHandle, credentials, openapi};

/// An application built on cleave: its name, what it is, its version, and the placements it
/// ships with.
#[derive(Debug, Clone, Copy)]
pub struct App {
    name: AppName,
    about: &'static str,
    version: &'static str,
    placements: &'static str,
}

impl App {
    /// The application called `name` (lowercase letters, digits and `-`).
    pub const fn new(name: &'static str) -> App {
        App {
            name: AppName::new(name),
            about: "",
            version: "0.0.0",
            placements: "",
        }
    }

    /// One sentence saying what the application is, for `--help` and the OpenAPI document.
    pub const fn about(mut self, about: &'static str) -> App {
        self.about = about;
        self
    }

    /// The application's version (usually `env!("CARGO_PKG_VERSION")`).
    pub const fn version(mut self, version: &'static str) -> App {
        self.version = version;
        self
    }

    /// Built-in placements, as TOML (`[placements.<name>.nodes.<node>] modules = [...]`),
    /// usually `include_str!("../placements.toml")`. They are the lowest configuration layer
    /// after the defaults: a config file can add or change placements.
    pub const fn placements(mut self, toml: &'static str) -> App {
        self.placements = toml;
        self
    }

    /// The application's name.
    pub fn name(&self) -> AppName {
        self.name
    }

    /// What the application is.
    pub fn about_text(&self) -> &'static str {
        self.about
    }

    /// The application's version.
    pub fn version_text(&self) -> &'static str {
        self.version
    }

    /// Runs the command line of the process's arguments; errors are printed with their
    /// causes and give exit code 1.
    pub fn run(&self) -> ExitCode {
        cli::run(self, std::env::args_os())
    }

    /// Loads the configuration: defaults < built-in placements < `<app>.toml` < `<APP>_*`
    /// environment < `sources.overrides`.
    pub fn load_config(&self, sources: &ConfigSources) -> Result<Config, ConfigError> {
        Config::load_with(self.name, self.placements, sources)
    }

    /// The defaults with the built-in placements, as a starting point for tests.
    pub fn default_config(&self) -> Config {
        let mut config = Config::defaults(self.name);
        if let Ok(placements) = Config::placements_from(self.placements) {
            config.placements = placements;
        }
        config
    }

    /// Builds and starts a process on the configured addresses.
    pub async fn build(&self, config: &Config) -> anyhow::Result<Server> {
        Server::build(self, config).await
    }

    /// Builds and starts a process on listeners bound by the caller (tests bind port 0).
    pub async fn build_on(&self, config: &Config, listeners: Listeners) -> anyhow::Result<Server> {
        Server::build_on(self, config, listeners).await
    }
}

/// The published contract document of a linked module: its api crate's document, with the
/// subscriptions of the module's own declaration (which the document is regenerated from).
pub fn published_contract(module: &ModuleDescriptor) -> serde_json::Value {
    let mut document = match cleave_contract::contract_of(module.name()) {
        Some(registration) => (registration.document)(),
        None => cleave_contract::schema::document(module.contract, &[], &[], vec![], vec![]),
    };
    let mut subscribes: Vec<&str> = module.subscribes.to_vec();
    subscribes.sort_unstable();
    document["subscribes"] = serde_json::json!(subscribes);
    let mut sends: Vec<&str> = module.sends.to_vec();
    sends.sort_unstable();
    document["sends"] = serde_json::json!(sends);
    document
}

/// Every contract document this binary can publish, by module name: linked modules with
/// their declared subscriptions, other known contracts as their api crate has them.
pub fn published_contracts() -> Vec<(&'static str, serde_json::Value)> {
    let linked = cleave::modules();
    cleave_contract::contracts()
        .into_iter()
        .map(|registration| {
            let name = registration.contract.module;
            let document = match linked.iter().find(|m| m.name() == name) {
                Some(module) => published_contract(module),
                None => (registration.document)(),
            };
            (name, document)
        })
        .collect()
}

/// The text of the OpenAPI document of the public API of every linked module (its `openapi`
/// command; a process serves the part of its hosted modules at `/api/openapi.json`).
pub fn public_openapi_file(app: &App) -> String {
    let document = openapi(app, &cleave::modules());
    let mut text = serde_json::to_string_pretty(&document).unwrap_or_default();
    text.push('\n');
    text
}

/// The text of the OpenAPI document of `app`'s internal endpoints (its `wire-spec` command):
/// every contract this binary knows, the default body cap.
pub fn wire_spec_file(app: &App) -> String {
    let document = cleave_extract::spec::internal_openapi(
        app.name().as_str(),
        &published_contracts(),
        app.default_config().extract.max_body_bytes,
    );
    let mut text = serde_json::to_string_pretty(&document).unwrap_or_default();
    text.push('\n');
    text
}

/// The text of a published contract file.
pub fn contract_file(document: &serde_json::Value) -> String {
    let mut text = serde_json::to_string_pretty(document).unwrap_or_default();
    text.push('\n');
    text
}
