//! The command line: `shop serve | migrate | modules | events`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use cleave::config::ConfigSources;
use cleave::{Config, ModuleDescriptor, outbox};
use serde_json::{Map, Value};

use crate::Application;
use crate::docs::{self, GraphFormat};

/// The cleave reference shop: one binary, five modules, durable events.
#[derive(Debug, Parser)]
#[command(name = "shop", version, about)]
pub struct Cli {
    /// Config file (default: `shop.toml` in the working directory, if present).
    #[arg(long, global = true, env = "SHOP_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Database URL, e.g. `sqlite://shop.db` or `postgres://user:pass@host/db`.
    #[arg(long, global = true, value_name = "URL")]
    database: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the public API, creating and migrating the database first.
    Serve {
        /// Address of the public API.
        #[arg(long, value_name = "ADDR")]
        listen: Option<SocketAddr>,
        /// Send every local message through the JSON wire codec.
        #[arg(long)]
        serialize_messages: bool,
        /// HTTP worker threads.
        #[arg(long)]
        workers: Option<usize>,
        /// Modules to host, comma-separated (default: every linked module).
        #[arg(long, value_delimiter = ',', value_name = "MODULE,...")]
        modules: Vec<String>,
        /// A module hosted by another process, as MODULE=URL of that process's internal
        /// listener; repeat or separate with commas.
        #[arg(long, value_delimiter = ',', value_name = "MODULE=URL", value_parser = parse_remote)]
        remote: Vec<(String, String)>,
        /// Address of the internal listener (module messages from other processes).
        #[arg(long, value_name = "ADDR")]
        internal_listen: Option<SocketAddr>,
    },
    /// Apply every module's migrations and exit.
    Migrate,
    /// List the linked modules: what each handles, sends, publishes and subscribes to; or
    /// draw their graph, or write their canvases.
    Modules {
        /// Print the module graph instead: calls solid, subscriptions dashed.
        #[arg(long, value_enum, conflicts_with_all = ["canvas", "write_docs"])]
        graph: Option<GraphFormat>,
        /// Print the Markdown canvas of one module.
        #[arg(long, value_name = "MODULE", conflicts_with = "write_docs")]
        canvas: Option<String>,
        /// Write every module's canvas and an index with the graph into DIR.
        #[arg(long, value_name = "DIR")]
        write_docs: Option<PathBuf>,
    },
    /// Print every module's published contract (JSON Schema of its messages), or write one
    /// file per module into DIR.
    Contracts {
        /// Write `<module>.json` files into DIR.
        #[arg(long, value_name = "DIR")]
        write: Option<PathBuf>,
    },
    /// Check the boundary rules on this workspace and the linked modules; exit 1 on violations.
    Verify {
        /// The workspace's Cargo.toml.
        #[arg(long, value_name = "PATH", default_value = "Cargo.toml")]
        manifest_path: PathBuf,
    },
    /// Show pending and failed event deliveries, or resubmit failed ones.
    Events {
        #[command(subcommand)]
        action: Option<EventsAction>,
    },
}

#[derive(Debug, Subcommand)]
enum EventsAction {
    /// List pending and failed deliveries (the default).
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Give failed deliveries a fresh set of attempts.
    Resubmit {
        /// Outbox row ids, as listed.
        ids: Vec<i64>,
        /// Resubmit every failed delivery.
        #[arg(long, conflicts_with = "ids")]
        all: bool,
    },
}

impl Cli {
    /// Runs the command; errors are printed with their causes and give exit code 1.
    pub fn run(self) -> ExitCode {
        match self.execute() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        }
    }

    fn config(&self) -> anyhow::Result<Config> {
        let mut overrides = Map::new();
        if let Some(database) = &self.database {
            overrides.insert("database".into(), Value::from(database.clone()));
        }
        if let Command::Serve {
            listen,
            serialize_messages,
            workers,
            modules,
            remote,
            internal_listen,
        } = &self.command
        {
            if !modules.is_empty() {
                overrides.insert("modules".into(), Value::from(modules.clone()));
            }
            if !remote.is_empty() {
                let remote: Map<String, Value> = remote
                    .iter()
                    .map(|(m, url)| (m.clone(), Value::from(url.clone())))
                    .collect();
                overrides.insert("remote".into(), Value::Object(remote));
            }
            if let Some(internal) = internal_listen {
                overrides.insert("internal_listen".into(), Value::from(internal.to_string()));
            }
            if let Some(listen) = listen {
                overrides.insert("listen".into(), Value::from(listen.to_string()));
            }
            if *serialize_messages {
                overrides.insert("serialize_messages".into(), Value::from(true));
            }
            if let Some(workers) = workers {
                overrides.insert("workers".into(), Value::from(*workers));
            }
        }
        Ok(Config::load(&ConfigSources {
            file: self.config.clone(),
            overrides,
        })?)
    }

    fn execute(self) -> anyhow::Result<()> {
        match &self.command {
            Command::Modules {
                graph,
                canvas,
                write_docs,
            } => return modules_command(*graph, canvas.as_deref(), write_docs.as_deref()),
            Command::Verify { manifest_path } => return verify_command(manifest_path),
            Command::Contracts { write } => return contracts_command(write.as_deref()),
            _ => {}
        }
        let config = self.config()?;
        // Spans are exported only by `serve`; the other commands are short-lived tools.
        let telemetry =
            crate::telemetry::init(&config, matches!(self.command, Command::Serve { .. }))?;
        let runtime =
            tokio::runtime::Runtime::new().context("Failed to start the async runtime")?;
        let outcome = runtime.block_on(async move {
            match self.command {
                Command::Serve { .. } => serve(config).await,
                Command::Migrate => migrate(&config).await,
                Command::Events { action } => events(&config, action).await,
                Command::Modules { .. } | Command::Verify { .. } | Command::Contracts { .. } => {
                    unreachable!("handled above")
                }
            }
        });
        telemetry.shutdown();
        outcome
    }
}

fn modules_command(
    graph: Option<GraphFormat>,
    canvas: Option<&str>,
    write_docs: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let modules = cleave::modules();
    if let Some(format) = graph {
        print!("{}", docs::graph(&modules, format));
        return Ok(());
    }
    if canvas.is_none() && write_docs.is_none() {
        print!("{}", describe_modules(&modules));
        return Ok(());
    }
    let runtime = tokio::runtime::Runtime::new().context("Failed to start the async runtime")?;
    runtime.block_on(async {
        if let Some(name) = canvas {
            let Some(module) = modules.iter().find(|m| m.name == name) else {
                anyhow::bail!(
                    "no module `{name}` is linked (linked: {})",
                    modules
                        .iter()
                        .map(|m| m.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            };
            let tables = crate::verify::tables_created_by(module).await?;
            print!("{}", docs::canvas(module, &tables));
        }
        if let Some(dir) = write_docs {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("Failed to create `{}`", dir.display()))?;
            for module in &modules {
                let tables = crate::verify::tables_created_by(module).await?;
                let path = dir.join(format!("{}.md", module.name));
                std::fs::write(&path, docs::canvas(module, &tables))
                    .with_context(|| format!("Failed to write `{}`", path.display()))?;
            }
            std::fs::write(dir.join("README.md"), docs::index(&modules))?;
            println!(
                "wrote {} canvases and README.md to {}",
                modules.len(),
                dir.display()
            );
        }
        Ok(())
    })
}

/// The text of a published contract file.
pub fn contract_file(schema: &Value) -> String {
    let mut text = serde_json::to_string_pretty(schema).unwrap_or_default();
    text.push('\n');
    text
}

fn contracts_command(write: Option<&std::path::Path>) -> anyhow::Result<()> {
    let schemas = crate::contract_schemas();
    let Some(dir) = write else {
        let all: Map<String, Value> = schemas
            .into_iter()
            .map(|(m, s)| (m.to_string(), s))
            .collect();
        println!("{}", serde_json::to_string_pretty(&all)?);
        return Ok(());
    };
    std::fs::create_dir_all(dir)
        .with_context(|| format!("Failed to create `{}`", dir.display()))?;
    for (module, schema) in &schemas {
        let path = dir.join(format!("{module}.json"));
        std::fs::write(&path, contract_file(schema))
            .with_context(|| format!("Failed to write `{}`", path.display()))?;
    }
    println!("wrote {} contracts to {}", schemas.len(), dir.display());
    Ok(())
}

fn verify_command(manifest: &std::path::Path) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("Failed to start the async runtime")?;
    let violations = runtime.block_on(crate::verify::verify_workspace(manifest))?;
    if violations.is_empty() {
        println!(
            "ok: {} modules keep their boundaries ({} rules: {})",
            cleave::modules().len(),
            cleave_verify::Rule::ALL.len(),
            cleave_verify::Rule::ALL
                .iter()
                .map(|r| r.id())
                .collect::<Vec<_>>()
                .join(", ")
        );
        return Ok(());
    }
    for v in &violations {
        println!("{v}");
    }
    anyhow::bail!("{} boundary violations", violations.len())
}

fn parse_remote(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((module, url)) if !module.is_empty() && !url.is_empty() => {
            Ok((module.to_string(), url.to_string()))
        }
        _ => Err(format!("expected MODULE=URL, got `{text}`")),
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let app = Application::build(&config).await?;
    let names: Vec<_> = app.runtime().modules().iter().map(|m| m.name).collect();
    let remotes: Vec<String> = app
        .remotes()
        .iter()
        .map(|(m, url)| format!("{m}={url}"))
        .collect();
    // Printed on stdout so scripts and tests can find the ports when listening on port 0.
    println!(
        "shop listening on http://{}:{} internal http://{}:{} with modules {}{}",
        config.listen.ip(),
        app.port(),
        config.internal_listen.ip(),
        app.internal_port(),
        names.join(", "),
        if remotes.is_empty() {
            String::new()
        } else {
            format!(" remote {}", remotes.join(", "))
        }
    );
    app.run_until_stopped().await
}

async fn open(config: &Config) -> anyhow::Result<sea_orm::DatabaseConnection> {
    let db = cleave::db::connect(&config.database)
        .await
        .with_context(|| format!("Failed to open the database `{}`", config.database))?;
    cleave::db::migrate(&db, &cleave::modules())
        .await
        .context("Failed to migrate the database")?;
    Ok(db)
}

async fn migrate(config: &Config) -> anyhow::Result<()> {
    open(config).await?;
    let modules = cleave::modules();
    println!(
        "migrated the framework tables and {} modules: {}",
        modules.len(),
        modules
            .iter()
            .map(|m| m.name)
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

async fn events(config: &Config, action: Option<EventsAction>) -> anyhow::Result<()> {
    let db = open(config).await?;
    match action.unwrap_or(EventsAction::List { json: false }) {
        EventsAction::List { json } => {
            let deliveries = outbox::list(&db, &[outbox::PENDING, outbox::FAILED]).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&deliveries)?);
                return Ok(());
            }
            let pending = deliveries
                .iter()
                .filter(|d| d.status == outbox::PENDING)
                .count();
            println!("{pending} pending, {} failed", deliveries.len() - pending);
            if !deliveries.is_empty() {
                println!(
                    "{:>6}  {:<8} {:>8}  {:<28} {:<14} {:<36}  LAST ERROR",
                    "ID", "STATUS", "ATTEMPTS", "EVENT", "SUBSCRIBER", "EVENT ID"
                );
            }
            for d in deliveries {
                println!(
                    "{:>6}  {:<8} {:>8}  {:<28} {:<14} {:<36}  {}",
                    d.id,
                    d.status,
                    d.attempts,
                    d.event,
                    d.subscriber,
                    d.event_id,
                    d.last_error.unwrap_or_default()
                );
            }
        }
        EventsAction::Resubmit { ids, all } => {
            if ids.is_empty() && !all {
                anyhow::bail!("name the deliveries to resubmit by id, or pass --all");
            }
            let n = outbox::resubmit_failed(&db, &ids).await?;
            println!("resubmitted {n} failed deliveries; a running shop delivers them shortly");
        }
    }
    Ok(())
}

/// The text of `shop modules`.
pub fn describe_modules(modules: &[&'static ModuleDescriptor]) -> String {
    let list = |items: &[&str]| {
        if items.is_empty() {
            "-".to_string()
        } else {
            items.join(", ")
        }
    };
    let mut out = String::new();
    for m in modules {
        out.push_str(&format!("{}: {}\n", m.name, m.summary));
        out.push_str(&format!("  {:<11}{}\n", "contract", m.contract.version));
        for (label, items) in [
            ("may call", m.may_call),
            ("handles", m.contract.handles),
            ("sends", m.sends),
            ("publishes", m.contract.publishes),
            ("subscribes", m.contract.subscribes),
            ("routes", m.routes),
        ] {
            out.push_str(&format!("  {label:<11}{}\n", list(items)));
        }
    }
    out
}
