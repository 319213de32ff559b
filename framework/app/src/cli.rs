//! The command line of an application: `serve | migrate | modules | contracts | verify |
//! events | placements | deploy | credentials | new-module`, named after the application.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use cleave::config::ConfigSources;
use cleave::{Config, Database, ModuleDescriptor, outbox};
use serde_json::{Map, Value};

use crate::App;
use crate::docs::{self, GraphFormat};

/// The command line; its name, description and version are the application's.
#[derive(Debug, Parser)]
#[command(name = "app")]
pub struct Cli {
    /// Config file (default: `<app>.toml` in the working directory, if present).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Database URL, e.g. `sqlite://app.db` or `postgres://user:pass@host/db`.
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
        /// listener; replicas as MODULE=URL1,URL2 or by repeating the flag.
        #[arg(long, value_name = "MODULE=URL[,URL...]", value_parser = parse_remote)]
        remote: Vec<Remotes>,
        /// Address of the internal listener (module messages from other processes).
        #[arg(long, value_name = "ADDR")]
        internal_listen: Option<SocketAddr>,
        /// Follow this named placement (with `--node`): hosted modules and remote routes
        /// come from it.
        #[arg(long, value_name = "NAME", requires = "node")]
        placement: Option<String>,
        /// This process's node in `--placement`.
        #[arg(long, value_name = "NODE", requires = "placement")]
        node: Option<String>,
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
        /// Print the list as JSON (name, contract, handles, sends, publishes, subscribes,
        /// routes), for tools.
        #[arg(long, conflicts_with_all = ["graph", "canvas", "write_docs"])]
        json: bool,
    },
    /// Print every module's published contract (JSON Schema of its messages), or write each
    /// one as `contract.json` next to its api crate's Cargo.toml.
    Contracts {
        /// Write the files (into the api crates of the workspace of `--manifest-path`).
        #[arg(long)]
        write: bool,
        /// The workspace's Cargo.toml.
        #[arg(long, value_name = "PATH", default_value = "Cargo.toml")]
        manifest_path: PathBuf,
    },
    /// Print the OpenAPI document of the public API of every linked module (what
    /// `/api/openapi.json` serves for a process hosting them all), or write it to a file.
    Openapi {
        /// Write the document to PATH instead of printing it.
        #[arg(long, value_name = "PATH")]
        write: Option<PathBuf>,
    },
    /// Print the OpenAPI document of the internal endpoints (the wire protocol's
    /// machine-readable part for this application's contracts), or write it to a file.
    WireSpec {
        /// Write the document to PATH instead of printing it.
        #[arg(long, value_name = "PATH")]
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
    /// List the named placements: nodes and the modules each hosts.
    Placements {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Predict what a placement would cost and change, from the traffic of a running process:
    /// per public route the extra latency and CPU of the hops it would take, the events that
    /// would cross, new failure modes, chatty edges; per node the memory of one more instance.
    Plan {
        /// The placement to plan (see `placements`).
        #[arg(long, value_name = "NAME")]
        placement: String,
        /// The traffic: a process's metrics URL (`http://127.0.0.1:8080/metrics`), or a file
        /// holding a scrape of it.
        #[arg(long, value_name = "URL|FILE")]
        traffic: String,
        /// The hop cost table (JSON, as `scripts/bench.sh --hop-costs` writes it); default: the
        /// one shipped with the framework.
        #[arg(long, value_name = "FILE")]
        costs: Option<PathBuf>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Write a Compose file (`DIR/compose.yaml`, `DIR/.env`, `DIR/config/`) and Kubernetes
    /// manifests (`DIR/k8s/`) for a named placement: one service or Deployment per node,
    /// credentials generated for every module, one database per node.
    Deploy {
        /// The placement to deploy (see `placements`).
        #[arg(long, value_name = "NAME")]
        placement: String,
        /// Directory to write into (created when missing; files in it are replaced).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// The application's image (default: `CLEAVE_<APP>_IMAGE`, else
        /// `ghcr.io/cleave-rs/<app>:<version>`).
        #[arg(long, value_name = "IMAGE")]
        image: Option<String>,
        /// Instances of a node, overriding the placement's `replicas` (repeat per node).
        /// Several instances of a node share its database, which must then be PostgreSQL.
        #[arg(long, value_name = "NODE=N", value_parser = parse_replicas)]
        replicas: Vec<(String, u32)>,
        /// A PostgreSQL server for the nodes: each node uses the database `<app>_<node>` on it
        /// (the URL's path is replaced); create them first.
        #[arg(long, value_name = "URL", conflicts_with = "with_postgres")]
        postgres: Option<String>,
        /// Run a PostgreSQL server in the deployment, with one database per node.
        #[arg(long)]
        with_postgres: bool,
        /// The image of `--with-postgres`.
        #[arg(long, value_name = "IMAGE", default_value = crate::deploy::DEFAULT_POSTGRES_IMAGE)]
        postgres_image: String,
        /// An event broker URL for the nodes (`events.broker`, when this binary has it).
        #[arg(long, value_name = "URL", conflicts_with = "with_nats")]
        broker: Option<String>,
        /// Run a NATS server in the deployment, as the event broker.
        #[arg(long)]
        with_nats: bool,
        /// The image of `--with-nats`.
        #[arg(long, value_name = "IMAGE", default_value = crate::deploy::DEFAULT_NATS_IMAGE)]
        nats_image: String,
        /// Kubernetes namespace of every object (a Namespace manifest is written too).
        #[arg(long, value_name = "NS")]
        namespace: Option<String>,
        /// First host port (on 127.0.0.1) of the nodes' public APIs in the Compose file, one
        /// per instance in node order.
        #[arg(long, value_name = "PORT", default_value_t = crate::deploy::PUBLIC_PORT)]
        public_port: u16,
    },
    /// Make a credential for a module: a random token (for the processes hosting it) and its
    /// digest (for every process that receives its messages), printed as configuration.
    Credentials {
        #[command(subcommand)]
        action: CredentialsAction,
    },
    /// Create a module: api crate, implementation crate, migration set, a first request with a
    /// handler and a test, wired into the workspace and this application.
    NewModule {
        /// The module's name: lowercase letters, digits and `_`, starting with a letter.
        name: String,
        /// The workspace's Cargo.toml.
        #[arg(long, value_name = "PATH", default_value = "Cargo.toml")]
        manifest_path: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum CredentialsAction {
    /// A new token and its digest for MODULE.
    New {
        /// The module the credential proves.
        module: String,
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

/// Parses `args` (program name first) as `app`'s command line and runs it. Errors are printed
/// with their causes and give exit code 1.
pub fn run<I, T>(app: &App, args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let name = app.name().as_str();
    let command = Cli::command()
        .name(name)
        .bin_name(name)
        .about(app.about_text())
        .version(app.version_text())
        .mut_arg("config", |arg| arg.env(app.name().env_var("config")));
    let matches = match command.try_get_matches_from(args) {
        Ok(matches) => matches,
        Err(e) => e.exit(),
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    match cli.execute(app) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

impl Cli {
    fn config(&self, app: &App) -> anyhow::Result<Config> {
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
            placement,
            node,
        } = &self.command
        {
            if !modules.is_empty() {
                overrides.insert("modules".into(), Value::from(modules.clone()));
            }
            if !remote.is_empty() {
                let mut by_module: Map<String, Value> = Map::new();
                for (module, url) in remote.iter().flat_map(|r| &r.0) {
                    let urls = by_module
                        .entry(module.clone())
                        .or_insert_with(|| Value::Array(Vec::new()));
                    if let Value::Array(list) = urls {
                        list.push(Value::from(url.clone()));
                    }
                }
                overrides.insert("remote".into(), Value::Object(by_module));
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
            if let Some(placement) = placement {
                overrides.insert("placement".into(), Value::from(placement.clone()));
            }
            if let Some(node) = node {
                overrides.insert("node".into(), Value::from(node.clone()));
            }
        }
        Ok(app.load_config(&ConfigSources {
            file: self.config.clone(),
            overrides,
        })?)
    }

    fn execute(self, app: &App) -> anyhow::Result<()> {
        match &self.command {
            Command::Modules {
                graph,
                canvas,
                write_docs,
                json,
            } => {
                return modules_command(
                    app,
                    *graph,
                    canvas.as_deref(),
                    write_docs.as_deref(),
                    *json,
                );
            }
            Command::Verify { manifest_path } => return verify_command(manifest_path),
            Command::Contracts {
                write,
                manifest_path,
            } => return contracts_command(*write, manifest_path),
            Command::WireSpec { write } => {
                return write_or_print(crate::wire_spec_file(app), write.as_deref());
            }
            Command::Openapi { write } => {
                return write_or_print(crate::public_openapi_file(app), write.as_deref());
            }
            Command::NewModule {
                name,
                manifest_path,
            } => return crate::scaffold::new_module(app, name, manifest_path),
            Command::Credentials {
                action: CredentialsAction::New { module },
            } => {
                let (token, digest) = cleave_extract::identity::new_credential();
                let env = app.name().env_var(&format!("credentials.{module}.token"));
                println!(
                    "# Where `{module}` is hosted (keep it secret; or set {env}):\n[credentials.{module}]\ntoken = \"{token}\"\n\n# On every process that receives messages from `{module}` (add it beside the old digest while rotating):\n[credentials.{module}]\naccept = [\"{digest}\"]"
                );
                return Ok(());
            }
            _ => {}
        }
        let config = self.config(app)?;
        if let Command::Placements { json } = &self.command {
            return placements_command(&config, *json);
        }
        if let Command::Plan {
            placement,
            traffic,
            costs,
            json,
        } = &self.command
        {
            return plan_command(&config, placement, traffic, costs.as_deref(), *json);
        }
        if let Command::Deploy { .. } = &self.command {
            return deploy_command(app, &config, &self.command);
        }
        // Spans are exported only by `serve`; the other commands are short-lived tools.
        let telemetry =
            crate::telemetry::init(&config, matches!(self.command, Command::Serve { .. }))?;
        let runtime =
            tokio::runtime::Runtime::new().context("Failed to start the async runtime")?;
        let outcome = runtime.block_on(async move {
            match self.command {
                Command::Serve { .. } => serve(app, config).await,
                Command::Migrate => migrate(&config).await,
                Command::Events { action } => events(app, &config, action).await,
                _ => unreachable!("handled above"),
            }
        });
        telemetry.shutdown();
        outcome
    }
}

fn modules_command(
    app: &App,
    graph: Option<GraphFormat>,
    canvas: Option<&str>,
    write_docs: Option<&Path>,
    json: bool,
) -> anyhow::Result<()> {
    let modules = cleave::modules();
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&describe_modules_json(&modules))?
        );
        return Ok(());
    }
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
            let Some(module) = modules.iter().find(|m| m.name() == name) else {
                anyhow::bail!(
                    "no module `{name}` is linked (linked: {})",
                    modules
                        .iter()
                        .map(|m| m.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            };
            let tables = crate::verify::tables_created_by(module).await?;
            print!("{}", docs::canvas(app, module, &tables));
        }
        if let Some(dir) = write_docs {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("Failed to create `{}`", dir.display()))?;
            for module in &modules {
                let tables = crate::verify::tables_created_by(module).await?;
                let path = dir.join(format!("{}.md", module.name()));
                std::fs::write(&path, docs::canvas(app, module, &tables))
                    .with_context(|| format!("Failed to write `{}`", path.display()))?;
            }
            std::fs::write(dir.join("README.md"), docs::index(app, &modules))?;
            println!(
                "wrote {} canvases and README.md to {}",
                modules.len(),
                dir.display()
            );
        }
        Ok(())
    })
}

fn contracts_command(write: bool, manifest: &Path) -> anyhow::Result<()> {
    let documents = crate::published_contracts();
    if !write {
        let all: Map<String, Value> = documents
            .into_iter()
            .map(|(m, s)| (m.to_string(), s))
            .collect();
        println!("{}", serde_json::to_string_pretty(&all)?);
        return Ok(());
    }
    let graph = cleave_verify::CrateGraph::load(manifest).map_err(anyhow::Error::msg)?;
    let mut written = 0;
    for (module, document) in &documents {
        let crate_name = format!("{module}-api");
        let Some(dir) = graph.package_dir(&crate_name) else {
            eprintln!(
                "note: no crate `{crate_name}` in the workspace of `{}`; the contract of `{module}` is not written",
                manifest.display()
            );
            continue;
        };
        let path = dir.join("contract.json");
        std::fs::write(&path, crate::contract_file(document))
            .with_context(|| format!("Failed to write `{}`", path.display()))?;
        written += 1;
    }
    println!("wrote {written} contracts (contract.json next to each api crate)");
    Ok(())
}

/// Prints `text`, or writes it to `write`.
fn write_or_print(text: String, write: Option<&Path>) -> anyhow::Result<()> {
    match write {
        None => print!("{text}"),
        Some(path) => {
            std::fs::write(path, text)
                .with_context(|| format!("Failed to write `{}`", path.display()))?;
            println!("wrote {}", path.display());
        }
    }
    Ok(())
}

fn verify_command(manifest: &Path) -> anyhow::Result<()> {
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

fn plan_command(
    config: &Config,
    placement: &str,
    traffic: &str,
    costs: Option<&Path>,
    json: bool,
) -> anyhow::Result<()> {
    let Some(chosen) = config.placements.get(placement) else {
        anyhow::bail!(
            "no placement `{placement}`; the configured ones are: {}",
            config
                .placements
                .keys()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        );
    };
    let page = if traffic.starts_with("http://") || traffic.starts_with("https://") {
        let runtime =
            tokio::runtime::Runtime::new().context("Failed to start the async runtime")?;
        runtime.block_on(async {
            let response = reqwest::get(traffic)
                .await
                .with_context(|| format!("Failed to fetch `{traffic}`"))?
                .error_for_status()
                .with_context(|| format!("`{traffic}` did not answer 2xx"))?;
            response.text().await.context("Failed to read the metrics")
        })?
    } else {
        std::fs::read_to_string(traffic).with_context(|| format!("Failed to read `{traffic}`"))?
    };
    let costs = match costs {
        None => crate::plan::HopCosts::defaults(),
        Some(path) => crate::plan::HopCosts::from_json(
            &std::fs::read_to_string(path)
                .with_context(|| format!("Failed to read `{}`", path.display()))?,
        )
        .with_context(|| format!("`{}` is not a hop cost table", path.display()))?,
    };
    let traffic = crate::plan::Traffic::from_prometheus(&page);
    let plan = crate::plan::plan(
        placement,
        chosen,
        &traffic,
        &crate::plan::Shape {
            shared_local_pass: cleave::db::backend_of(&config.database)
                .is_none_or(cleave::relay::shares_local_pass),
            ..crate::plan::Shape::linked()
        },
        &costs,
    );
    if json {
        println!("{}", serde_json::to_string_pretty(&plan)?);
    } else {
        print!("{}", crate::plan::render(&plan));
    }
    Ok(())
}

fn placements_command(config: &Config, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(&config.placements)?);
        return Ok(());
    }
    if config.placements.is_empty() {
        println!("no placements configured");
    }
    for (name, placement) in &config.placements {
        println!(
            "{name}{}",
            placement
                .description
                .as_ref()
                .map(|d| format!(": {d}"))
                .unwrap_or_default()
        );
        for (node, n) in &placement.nodes {
            println!(
                "  {node:<16} {}{}",
                n.modules.join(", "),
                if n.replicas == 1 {
                    String::new()
                } else {
                    format!("  (×{})", n.replicas)
                }
            );
        }
    }
    Ok(())
}

fn deploy_command(app: &App, config: &Config, command: &Command) -> anyhow::Result<()> {
    use crate::deploy::{self, BrokerChoice, DatabaseChoice};
    let Command::Deploy {
        placement,
        out,
        image,
        replicas,
        postgres,
        with_postgres,
        postgres_image,
        broker,
        with_nats,
        nats_image,
        namespace,
        public_port,
    } = command
    else {
        unreachable!("called for `deploy` only")
    };
    let Some(chosen) = config.placements.get(placement) else {
        anyhow::bail!(
            "no placement `{placement}` (placements: {})",
            config
                .placements
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        );
    };
    let mut options = deploy::Options::new(app.name(), app.version_text());
    if let Some(image) = image {
        options.image = image.clone();
    }
    options.replicas = replicas.iter().cloned().collect();
    options.database = match (postgres, with_postgres) {
        (Some(url), _) => DatabaseChoice::Postgres(url.clone()),
        (None, true) => DatabaseChoice::WithPostgres,
        (None, false) => DatabaseChoice::Sqlite,
    };
    options.broker = match (broker, with_nats) {
        (Some(url), _) => BrokerChoice::Url(url.clone()),
        (None, true) => BrokerChoice::WithNats,
        (None, false) => BrokerChoice::None,
    };
    options.namespace = namespace.clone();
    options.postgres_image = postgres_image.clone();
    options.nats_image = nats_image.clone();
    options.public_port = *public_port;
    let linked: Vec<&str> = cleave::modules().iter().map(|m| m.name()).collect();
    let output = deploy::generate(app.name(), placement, chosen, &linked, &options)?;
    deploy::write(&output, out)?;
    println!(
        "wrote {} files for placement `{placement}` to {}:",
        output.files.len(),
        out.display()
    );
    for path in output.files.keys() {
        println!(
            "  {}{}",
            path.display(),
            if output.secret_files.contains(path) {
                "  (secret)"
            } else {
                ""
            }
        );
    }
    for note in &output.notes {
        println!("note: {note}");
    }
    println!(
        "Compose: cd {} && docker-compose up -d\nKubernetes: kubectl apply -f {}",
        out.display(),
        out.join("k8s").display()
    );
    Ok(())
}

fn parse_replicas(text: &str) -> Result<(String, u32), String> {
    let (node, n) = text
        .split_once('=')
        .ok_or_else(|| format!("expected NODE=N, got `{text}`"))?;
    let n: u32 = n
        .parse()
        .map_err(|_| format!("expected NODE=N with a number N, got `{text}`"))?;
    if node.is_empty() || n == 0 {
        return Err(format!("expected NODE=N with N at least 1, got `{text}`"));
    }
    Ok((node.to_string(), n))
}

/// One `--remote` value: `(module, url)` pairs.
#[derive(Debug, Clone)]
struct Remotes(Vec<(String, String)>);

fn parse_remote(text: &str) -> Result<Remotes, String> {
    // `billing=URL1,URL2` (replicas), `billing=URL1,catalog=URL2` (several modules): a piece
    // without `=` is one more URL of the module before it.
    let mut pairs: Vec<(String, String)> = Vec::new();
    for piece in text.split(',').filter(|p| !p.is_empty()) {
        match piece.split_once('=') {
            Some((name, url)) if !name.is_empty() && !url.is_empty() && !name.contains('/') => {
                pairs.push((name.to_string(), url.to_string()))
            }
            None if !pairs.is_empty() => {
                let module = pairs[pairs.len() - 1].0.clone();
                pairs.push((module, piece.to_string()));
            }
            _ => return Err(format!("expected MODULE=URL[,URL...], got `{text}`")),
        }
    }
    if pairs.is_empty() {
        return Err(format!("expected MODULE=URL[,URL...], got `{text}`"));
    }
    Ok(Remotes(pairs))
}

async fn serve(app: &App, config: Config) -> anyhow::Result<()> {
    let server = app.build(&config).await?;
    let names: Vec<_> = server
        .runtime()
        .modules()
        .iter()
        .map(|m| m.name())
        .collect();
    let remotes: Vec<String> = server
        .remotes()
        .iter()
        .map(|(m, url)| format!("{m}={url}"))
        .collect();
    // Printed on stdout so scripts and tests can find the ports when listening on port 0.
    println!(
        "{} listening on http://{}:{} internal http://{}:{} with modules {}{}",
        app.name(),
        config.listen.ip(),
        server.port(),
        config.internal_listen.ip(),
        server.internal_port(),
        names.join(", "),
        if remotes.is_empty() {
            String::new()
        } else {
            format!(" remote {}", remotes.join(", "))
        }
    );
    server.run_until_stopped().await
}

async fn open(config: &Config) -> anyhow::Result<Database> {
    let db = Database::connect(&config.database, &config.database_options)
        .await
        .with_context(|| format!("Failed to open the database `{}`", config.database))?;
    cleave::migrate::migrate(&db, &cleave::modules())
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
            .map(|m| m.name())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

async fn events(app: &App, config: &Config, action: Option<EventsAction>) -> anyhow::Result<()> {
    let db = open(config).await?;
    match action.unwrap_or(EventsAction::List { json: false }) {
        EventsAction::List { json } => {
            let deliveries = outbox::list(db.read(), &[outbox::PENDING, outbox::FAILED]).await?;
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
                anyhow::bail!(
                    "name the deliveries to resubmit by id, or pass --all (`{} events resubmit --all`)",
                    app.name()
                );
            }
            let n = outbox::resubmit_failed(&db, &ids).await?;
            println!("resubmitted {n} failed deliveries; a running process delivers them shortly");
        }
    }
    Ok(())
}

/// The text of the `modules` command.
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
        out.push_str(&format!("{}: {}\n", m.name(), m.summary));
        out.push_str(&format!("  {:<11}{}\n", "contract", m.contract.version));
        let routes = m.routes();
        let routes: Vec<&str> = routes.iter().map(String::as_str).collect();
        for (label, items) in [
            ("may call", m.may_call()),
            ("handles", m.contract.handles.to_vec()),
            ("sends", m.sends.to_vec()),
            ("publishes", m.contract.publishes.to_vec()),
            ("subscribes", m.subscribes.to_vec()),
            ("routes", routes),
        ] {
            out.push_str(&format!("  {label:<11}{}\n", list(&items)));
        }
    }
    out
}

/// The modules as JSON, for tools (the comparison reads its module list from it).
pub fn describe_modules_json(modules: &[&'static ModuleDescriptor]) -> Value {
    Value::Array(
        modules
            .iter()
            .map(|m| {
                serde_json::json!({
                    "name": m.name(),
                    "summary": m.summary,
                    "contract": m.contract.version.to_string(),
                    "may_call": m.may_call(),
                    "handles": m.contract.handles,
                    "sends": m.sends,
                    "publishes": m.contract.publishes,
                    "subscribes": m.subscribes,
                    "routes": m.routes(),
                })
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::parse_remote;

    #[test]
    fn remote_flags_take_replicas_and_several_modules() {
        let pairs = |text| parse_remote(text).map(|r| r.0);
        let p = |m: &str, u: &str| (m.to_string(), u.to_string());
        assert_eq!(
            pairs("billing=http://a:1,http://b:2").unwrap(),
            [p("billing", "http://a:1"), p("billing", "http://b:2")]
        );
        assert_eq!(
            pairs("billing=http://a:1,catalog=http://c:3").unwrap(),
            [p("billing", "http://a:1"), p("catalog", "http://c:3")]
        );
        assert!(pairs("http://a:1").is_err());
        assert!(pairs("billing=").is_err());
        assert!(pairs("").is_err());
    }
}
