//! `<app> deploy`: a Compose file and Kubernetes manifests for one named placement.
//!
//! Every node of the placement becomes a service (Compose) or a Deployment with its Services
//! (Kubernetes) running the application's image with `serve`; its configuration file (the
//! placement, with each node's internal URL filled in, and the digests of every module's
//! credential) is a bind-mounted file or a ConfigMap; its secrets (its modules' tokens, the
//! shared token for tools, its database URL) come from `.env` or a Secret, generated here.
//! Nodes reach each other by service name on the internal port: `http://<node>:9180` in
//! Compose, `http://<app>-<node>-internal:9180` in Kubernetes.
//!
//! **One database per node**, shared by the node's replicas: a process's outbox then holds
//! only events its own modules published, so its relay speaks only as modules whose tokens it
//! has (a database shared by several nodes would let one node's relay deliver another node's
//! events, without that node's credentials). SQLite serves a node with one instance;
//! replicas need PostgreSQL (`--postgres URL`, one database `<app>_<node>` per node on that
//! server, or `--with-postgres`, a server in the deployment). Each process migrates its own
//! modules at start under the framework's migration lock, so there is no migration job. See
//! ADR 13.
//!
//! The generator is a pure function of the application's name, the placement, the linked
//! modules and [`Options`] ([`generate`]); [`write()`] puts its files on disk.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail, ensure};
use cleave::AppName;
use cleave::config::Placement;
use serde_json::{Value, json};

/// Port of the public API inside a container.
pub const PUBLIC_PORT: u16 = 8080;
/// Port of the internal listener inside a container (module messages between nodes).
pub const INTERNAL_PORT: u16 = 9180;
/// The public PostgreSQL image, for users with a registry (`--postgres-image` changes it).
pub const DEFAULT_POSTGRES_IMAGE: &str = "postgres:16";
/// The public NATS image, for users with a registry (`--nats-image` changes it).
pub const DEFAULT_NATS_IMAGE: &str = "nats:2";
/// Where the published application images live: `<repository>/<app>:<version>`.
pub const DEFAULT_REPOSITORY: &str = "ghcr.io/cleave-rs";
/// The numeric user the application runs as in Kubernetes (the image has no user database).
const RUN_AS: u32 = 65532;

/// Which database the nodes use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseChoice {
    /// Each node its own SQLite file on a volume (one instance per node only).
    Sqlite,
    /// A PostgreSQL server the user provides: `postgres://USER:PASS@HOST:PORT[/…][?…]`; each
    /// node uses the database `<app>_<node>` on it (the path is replaced).
    Postgres(String),
    /// A PostgreSQL server in the deployment (image [`Options::postgres_image`]), with one
    /// database per node created on its first start.
    WithPostgres,
}

/// Which event broker the nodes use (`events.broker`, ADR 15).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrokerChoice {
    /// None.
    None,
    /// A broker the user provides, e.g. `nats://nats.example:4222`.
    Url(String),
    /// A NATS server in the deployment (image [`Options::nats_image`]).
    WithNats,
}

/// What `deploy` writes, apart from the placement.
#[derive(Debug, Clone)]
pub struct Options {
    /// The application's image, `name:tag`.
    pub image: String,
    /// Instances per node, overriding the placement's `replicas`.
    pub replicas: BTreeMap<String, u32>,
    /// The database.
    pub database: DatabaseChoice,
    /// The event broker.
    pub broker: BrokerChoice,
    /// Kubernetes namespace of every object (and a Namespace object); none: the current one.
    pub namespace: Option<String>,
    /// The PostgreSQL image of `--with-postgres`.
    pub postgres_image: String,
    /// The NATS image of `--with-nats`.
    pub nats_image: String,
    /// First host port (on 127.0.0.1) the Compose file publishes the nodes' public APIs on, in
    /// node order, one per instance.
    pub public_port: u16,
}

impl Options {
    /// Defaults for `app`: its published image `<repository>/<app>:<version>` unless
    /// `CLEAVE_<APP>_IMAGE` names another, SQLite, no broker, ports from 8080.
    pub fn new(app: AppName, version: &str) -> Options {
        Options {
            image: default_image(app, version),
            replicas: BTreeMap::new(),
            database: DatabaseChoice::Sqlite,
            broker: BrokerChoice::None,
            namespace: None,
            postgres_image: DEFAULT_POSTGRES_IMAGE.to_string(),
            nats_image: DEFAULT_NATS_IMAGE.to_string(),
            public_port: PUBLIC_PORT,
        }
    }
}

/// `CLEAVE_<APP>_IMAGE` (the variable the container tests read too), else
/// `ghcr.io/cleave-rs/<app>:<version>`.
pub fn default_image(app: AppName, version: &str) -> String {
    std::env::var(format!("CLEAVE_{}IMAGE", app.env_prefix()))
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| format!("{DEFAULT_REPOSITORY}/{app}:{version}"))
}

/// The files of a deployment, by path relative to the output directory.
#[derive(Debug, Clone, Default)]
pub struct Output {
    /// Every file and its text.
    pub files: BTreeMap<PathBuf, String>,
    /// The files holding secrets (written readable by their owner only).
    pub secret_files: BTreeSet<PathBuf>,
    /// What the user must know or do (databases to create, a broker left out, …).
    pub notes: Vec<String>,
}

/// One node as deployed.
struct Node {
    name: String,
    modules: Vec<String>,
    replicas: u32,
}

/// A generated secret: its key in the Kubernetes Secret (`token-orders`) and its variable in
/// Compose's `.env` (`TOKEN_ORDERS`).
fn env_key(secret_key: &str) -> String {
    secret_key.to_ascii_uppercase().replace('-', "_")
}

/// Where a variable's value comes from.
enum EnvValue {
    Literal(String),
    Secret(String),
}

/// The target a set of files is for: it decides service names.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Target {
    Compose,
    Kubernetes,
}

/// Writes the Compose file and the Kubernetes manifests of placement `placement_name` of `app`.
/// `linked` are the modules the binary links: every one must be on a node, and a node may host
/// only those.
pub fn generate(
    app: AppName,
    placement_name: &str,
    placement: &Placement,
    linked: &[&str],
    options: &Options,
) -> anyhow::Result<Output> {
    let nodes = plan_nodes(app, placement_name, placement, linked, options)?;
    let mut output = Output::default();

    // The database of each node.
    let multiple_instances: Vec<&str> = nodes
        .iter()
        .filter(|n| n.replicas > 1)
        .map(|n| n.name.as_str())
        .collect();
    if options.database == DatabaseChoice::Sqlite && !multiple_instances.is_empty() {
        bail!(
            "node(s) {} of placement `{placement_name}` run several instances, which share their \
             node's database: that takes PostgreSQL. Give `--postgres postgres://USER:PASS@HOST:PORT` \
             (one database `{}_<node>` per node on that server) or `--with-postgres` (a server in \
             the deployment); SQLite serves one instance per node only",
            multiple_instances.join(", "),
            db_ident(app.as_str()),
        );
    }
    for reserved in ["postgres", "nats"] {
        let included = match reserved {
            "postgres" => options.database == DatabaseChoice::WithPostgres,
            _ => options.broker == BrokerChoice::WithNats,
        };
        if included && nodes.iter().any(|n| n.name == reserved) {
            bail!(
                "placement `{placement_name}` has a node called `{reserved}`, the name of the \
                 {reserved} service `--with-{}` adds; rename the node",
                if reserved == "postgres" {
                    "postgres"
                } else {
                    "nats"
                }
            );
        }
    }

    // Secrets: the shared token (tools, as `external`), one credential per module, the
    // database URLs, the PostgreSQL password.
    let mut secrets: BTreeMap<String, String> = BTreeMap::new();
    let mut digests: BTreeMap<String, String> = BTreeMap::new();
    secrets.insert(
        "internal-token".into(),
        cleave_extract::identity::new_credential().0,
    );
    for node in &nodes {
        for module in &node.modules {
            let (token, digest) = cleave_extract::identity::new_credential();
            secrets.insert(format!("token-{}", dns(module)), token);
            digests.insert(module.clone(), digest);
        }
    }
    let db_user = db_ident(app.as_str());
    let mut compose_secrets = secrets.clone();
    let mut k8s_secrets = secrets;
    match &options.database {
        DatabaseChoice::Sqlite => {}
        DatabaseChoice::Postgres(url) => {
            let base = reqwest::Url::parse(url)
                .ok()
                .filter(|u| matches!(u.scheme(), "postgres" | "postgresql") && u.has_host())
                .with_context(|| {
                    format!(
                        "`--postgres {url}` is not a URL of the form postgres://USER:PASS@HOST:PORT"
                    )
                })?;
            let mut names = Vec::new();
            for node in &nodes {
                let mut u = base.clone();
                let name = node_database(app, &node.name);
                u.set_path(&format!("/{name}"));
                for secrets in [&mut compose_secrets, &mut k8s_secrets] {
                    secrets.insert(format!("database-{}", node.name), u.to_string());
                }
                names.push(name);
            }
            output.notes.push(format!(
                "create these databases on the PostgreSQL server of `--postgres` before the first \
                 start (the processes create their tables, not the databases): {}",
                names.join(", ")
            ));
        }
        DatabaseChoice::WithPostgres => {
            let password = cleave_extract::identity::new_credential().0;
            for (target, secrets) in [
                (Target::Compose, &mut compose_secrets),
                (Target::Kubernetes, &mut k8s_secrets),
            ] {
                let host = match target {
                    Target::Compose => "postgres".to_string(),
                    Target::Kubernetes => format!("{app}-postgres"),
                };
                for node in &nodes {
                    secrets.insert(
                        format!("database-{}", node.name),
                        format!(
                            "postgres://{db_user}:{password}@{host}:5432/{}",
                            node_database(app, &node.name)
                        ),
                    );
                }
                secrets.insert("postgres-password".into(), password.clone());
            }
        }
    }

    let broker = match &options.broker {
        BrokerChoice::None => None,
        BrokerChoice::Url(url) => Some((url.clone(), url.clone())),
        BrokerChoice::WithNats => Some((
            "nats://nats:4222".to_string(),
            format!("nats://{app}-nats:4222"),
        )),
    };

    // Compose.
    let compose = Writer {
        app,
        placement_name,
        placement,
        nodes: &nodes,
        digests: &digests,
        secrets: &compose_secrets,
        options,
        broker: broker.as_ref().map(|b| b.0.clone()),
    };
    compose.write_compose(&mut output)?;
    let k8s = Writer {
        secrets: &k8s_secrets,
        broker: broker.as_ref().map(|b| b.1.clone()),
        ..compose
    };
    k8s.write_kubernetes(&mut output)?;
    Ok(output)
}

/// Writes `output` under `dir` (created when missing); secret files are made readable by their
/// owner only.
pub fn write(output: &Output, dir: &Path) -> anyhow::Result<()> {
    for (path, text) in &output.files {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("Failed to create `{}`", parent.display()))?;
        }
        std::fs::write(&path, text)
            .with_context(|| format!("Failed to write `{}`", path.display()))?;
    }
    #[cfg(unix)]
    for path in &output.secret_files {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join(path);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("Failed to restrict `{}`", path.display()))?;
    }
    Ok(())
}

fn plan_nodes(
    app: AppName,
    placement_name: &str,
    placement: &Placement,
    linked: &[&str],
    options: &Options,
) -> anyhow::Result<Vec<Node>> {
    ensure!(
        !placement.nodes.is_empty(),
        "placement `{placement_name}` has no nodes"
    );
    for node in options.replicas.keys() {
        ensure!(
            placement.nodes.contains_key(node),
            "`--replicas {node}=…`: placement `{placement_name}` has no node `{node}` (nodes: {})",
            placement.node_list()
        );
    }
    let mut hosted: BTreeMap<&str, &str> = BTreeMap::new();
    let mut nodes = Vec::new();
    for (name, node) in &placement.nodes {
        ensure!(
            is_dns_label(name) && name.len() + app.as_str().len() + "--internal".len() <= 63,
            "node `{name}` of placement `{placement_name}` cannot name a service: use lowercase \
             letters, digits and `-`, starting with a letter (and at most {} characters)",
            63 - app.as_str().len() - "--internal".len()
        );
        ensure!(
            !node.modules.is_empty(),
            "node `{name}` of placement `{placement_name}` hosts no module"
        );
        for module in &node.modules {
            ensure!(
                linked.contains(&module.as_str()),
                "placement `{placement_name}` puts `{module}` on node `{name}`, but this binary \
                 links no such module (linked: {})",
                linked.join(", ")
            );
            if let Some(other) = hosted.insert(module, name) {
                bail!(
                    "placement `{placement_name}` puts module `{module}` on two nodes, `{other}` \
                     and `{name}`"
                );
            }
        }
        let replicas = options.replicas.get(name).copied().unwrap_or(node.replicas);
        ensure!(replicas >= 1, "node `{name}` needs at least one instance");
        nodes.push(Node {
            name: name.clone(),
            modules: node.modules.clone(),
            replicas,
        });
    }
    let missing: Vec<&str> = linked
        .iter()
        .copied()
        .filter(|m| !hosted.contains_key(m))
        .collect();
    ensure!(
        missing.is_empty(),
        "placement `{placement_name}` puts module(s) {} on no node; every linked module must run \
         somewhere",
        missing.join(", ")
    );
    Ok(nodes)
}

/// A DNS-1123 label (and DNS-1035: starts with a letter), as Kubernetes object names need.
fn is_dns_label(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes[0].is_ascii_lowercase()
        && bytes[bytes.len() - 1] != b'-'
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
}

/// A module name (letters, digits, `_`) as part of a Kubernetes key or name.
fn dns(name: &str) -> String {
    name.replace('_', "-")
}

/// A name as a PostgreSQL identifier: `-` becomes `_`.
fn db_ident(name: &str) -> String {
    name.replace('-', "_")
}

/// The database of `node`: `<app>_<node>`.
fn node_database(app: AppName, node: &str) -> String {
    db_ident(&format!("{app}_{node}"))
}

fn yaml(value: &Value) -> anyhow::Result<String> {
    Ok(serde_norway::to_string(value)?)
}

/// Several YAML documents in one file, after a comment header.
fn documents(header: &str, values: &[Value]) -> anyhow::Result<String> {
    let mut text = String::from(header);
    for value in values {
        text.push_str("---\n");
        text.push_str(&yaml(value)?);
    }
    Ok(text)
}

struct Writer<'a> {
    app: AppName,
    placement_name: &'a str,
    placement: &'a Placement,
    nodes: &'a [Node],
    digests: &'a BTreeMap<String, String>,
    secrets: &'a BTreeMap<String, String>,
    options: &'a Options,
    broker: Option<String>,
}

impl Writer<'_> {
    fn header(&self, what: &str) -> String {
        format!(
            "# {what} of placement `{}` of {}, generated by `{} deploy --placement {}`.\n\
             # Regenerating makes new credentials: apply the whole output again.\n",
            self.placement_name, self.app, self.app, self.placement_name
        )
    }

    /// The internal URL of `node` as the other nodes reach it.
    fn internal_url(&self, target: Target, node: &str) -> String {
        match target {
            Target::Compose => format!("http://{node}:{INTERNAL_PORT}"),
            Target::Kubernetes => {
                format!("http://{}-{node}-internal:{INTERNAL_PORT}", self.app)
            }
        }
    }

    /// The configuration file of `node` (not secret): its placement with every node's internal
    /// URL, and the digests of every module's credential, so that on every node each module is
    /// proven by its own token only and the shared token proves `external` (tools) only.
    fn config_file(&self, target: Target, node: &Node) -> String {
        use toml_edit::{Array, DocumentMut, Item, Table, value};
        let mut doc = DocumentMut::new();
        doc["placement"] = value(self.placement_name);
        doc["node"] = value(node.name.as_str());
        let mut nodes = Table::new();
        nodes.set_implicit(true);
        for n in self.nodes {
            let mut t = Table::new();
            t["modules"] = value(n.modules.iter().collect::<Array>());
            t["urls"] = value(
                [self.internal_url(target, &n.name)]
                    .into_iter()
                    .collect::<Array>(),
            );
            t["replicas"] = value(i64::from(n.replicas));
            nodes.insert(&n.name, Item::Table(t));
        }
        let mut placement = Table::new();
        if let Some(description) = &self.placement.description {
            placement["description"] = value(description.as_str());
        }
        placement.insert("nodes", Item::Table(nodes));
        let mut placements = Table::new();
        placements.set_implicit(true);
        placements.insert(self.placement_name, Item::Table(placement));
        doc.insert("placements", Item::Table(placements));
        let mut credentials = Table::new();
        credentials.set_implicit(true);
        for (module, digest) in self.digests {
            let mut t = Table::new();
            t["accept"] = value([digest.as_str()].into_iter().collect::<Array>());
            credentials.insert(module, Item::Table(t));
        }
        doc.insert("credentials", Item::Table(credentials));
        format!(
            "# Configuration of node `{}` of placement `{}` of {}, generated by `{} deploy`.\n\
             # Not secret: tokens and the database URL come from the environment.\n{doc}",
            node.name, self.placement_name, self.app, self.app
        )
    }

    /// The environment of `node`'s processes: variable → value or secret key.
    fn environment(&self, node: &Node) -> Vec<(String, EnvValue)> {
        let app = self.app;
        let mut env = vec![
            (
                app.env_var("config"),
                EnvValue::Literal(format!("/etc/{app}/{app}.toml")),
            ),
            (
                app.env_var("internal_token"),
                EnvValue::Secret("internal-token".into()),
            ),
        ];
        for module in &node.modules {
            env.push((
                app.env_var(&format!("credentials.{module}.token")),
                EnvValue::Secret(format!("token-{}", dns(module))),
            ));
        }
        if self.options.database != DatabaseChoice::Sqlite {
            env.push((
                app.env_var("database"),
                EnvValue::Secret(format!("database-{}", node.name)),
            ));
        }
        if let Some(broker) = &self.broker {
            env.push((
                app.env_var("events.broker"),
                EnvValue::Literal(broker.clone()),
            ));
        }
        env
    }

    fn serve_args(&self) -> Value {
        json!([
            "serve",
            "--listen",
            format!("0.0.0.0:{PUBLIC_PORT}"),
            "--internal-listen",
            format!("0.0.0.0:{INTERNAL_PORT}"),
        ])
    }

    fn write_compose(&self, output: &mut Output) -> anyhow::Result<()> {
        let app = self.app;
        let mut services = serde_json::Map::new();
        let mut volumes = serde_json::Map::new();
        let mut port = u32::from(self.options.public_port);
        let mut published = Vec::new();
        for node in self.nodes {
            let config_path = format!("config/{}.toml", node.name);
            output.files.insert(
                PathBuf::from(&config_path),
                self.config_file(Target::Compose, node),
            );
            let mut environment = serde_json::Map::new();
            for (var, v) in self.environment(node) {
                let text = match v {
                    EnvValue::Literal(text) => text,
                    EnvValue::Secret(key) => {
                        format!(
                            "${{{}:?is set in .env next to compose.yaml}}",
                            env_key(&key)
                        )
                    }
                };
                environment.insert(var, Value::from(text));
            }
            let mut mounts = vec![Value::from(format!(
                "./{config_path}:/etc/{app}/{app}.toml:ro"
            ))];
            if self.options.database == DatabaseChoice::Sqlite {
                let volume = format!("{}-data", node.name);
                mounts.push(Value::from(format!("{volume}:/data")));
                volumes.insert(volume, json!({}));
            }
            let last = port + node.replicas - 1;
            ensure!(
                last <= u32::from(u16::MAX),
                "--public-port {} leaves no room for every instance",
                self.options.public_port
            );
            let ports = if node.replicas == 1 {
                format!("127.0.0.1:{port}:{PUBLIC_PORT}")
            } else {
                format!("127.0.0.1:{port}-{last}:{PUBLIC_PORT}")
            };
            published.push(format!(
                "{}: {}",
                node.name,
                if node.replicas == 1 {
                    format!("http://127.0.0.1:{port}")
                } else {
                    format!("http://127.0.0.1:{port}…{last}")
                }
            ));
            port = last + 1;
            let mut service = json!({
                "image": self.options.image,
                "command": self.serve_args(),
                "environment": environment,
                "volumes": mounts,
                "ports": [ports],
                "restart": "unless-stopped",
                "stop_grace_period": "15s",
            });
            if node.replicas > 1 {
                service["scale"] = Value::from(node.replicas);
            }
            let mut depends = serde_json::Map::new();
            if self.options.database == DatabaseChoice::WithPostgres {
                depends.insert("postgres".into(), json!({ "condition": "service_healthy" }));
            }
            if self.options.broker == BrokerChoice::WithNats && self.broker.is_some() {
                depends.insert("nats".into(), json!({ "condition": "service_started" }));
            }
            if !depends.is_empty() {
                service["depends_on"] = Value::Object(depends);
            }
            services.insert(node.name.clone(), service);
        }
        if self.options.database == DatabaseChoice::WithPostgres {
            let user = db_ident(app.as_str());
            output
                .files
                .insert(PathBuf::from("postgres/init.sql"), self.postgres_init_sql());
            services.insert(
                "postgres".into(),
                json!({
                    "image": self.options.postgres_image,
                    "environment": {
                        "POSTGRES_USER": user,
                        "POSTGRES_DB": user,
                        "POSTGRES_PASSWORD": "${POSTGRES_PASSWORD:?is set in .env next to compose.yaml}",
                    },
                    "volumes": [
                        "postgres-data:/var/lib/postgresql/data",
                        "./postgres/init.sql:/docker-entrypoint-initdb.d/10-databases.sql:ro",
                    ],
                    "healthcheck": {
                        "test": ["CMD", "pg_isready", "-h", "127.0.0.1", "-U", user, "-d", user],
                        "interval": "2s",
                        "timeout": "2s",
                        "retries": 60,
                    },
                    "restart": "unless-stopped",
                }),
            );
            volumes.insert("postgres-data".into(), json!({}));
        }
        if self.options.broker == BrokerChoice::WithNats {
            services.insert(
                "nats".into(),
                json!({
                    "image": self.options.nats_image,
                    "command": ["--jetstream", "--store_dir", "/data", "--http_port", "8222"],
                    "volumes": ["nats-data:/data"],
                    "restart": "unless-stopped",
                }),
            );
            volumes.insert("nats-data".into(), json!({}));
        }
        let mut compose = json!({ "services": services });
        if !volumes.is_empty() {
            compose["volumes"] = Value::Object(volumes);
        }
        let mut header = self.header("Compose file");
        header.push_str(&format!(
            "# Run it from this directory (it reads .env): docker-compose up -d\n\
             # Public APIs: {}\n",
            published.join(", ")
        ));
        output
            .files
            .insert(PathBuf::from("compose.yaml"), header + &yaml(&compose)?);
        let mut env = String::from(
            "# Secrets of the Compose deployment, generated by `deploy`: keep this file private.\n",
        );
        for (key, value) in self.secrets {
            env.push_str(&format!("{}={value}\n", env_key(key)));
        }
        output.files.insert(PathBuf::from(".env"), env);
        output.secret_files.insert(PathBuf::from(".env"));
        Ok(())
    }

    fn postgres_init_sql(&self) -> String {
        let mut sql = String::from(
            "-- One database per node (its replicas share it), created on the server's first start.\n",
        );
        for node in self.nodes {
            sql.push_str(&format!(
                "CREATE DATABASE {};\n",
                node_database(self.app, &node.name)
            ));
        }
        sql
    }

    fn metadata(&self, name: &str, component: &str) -> Value {
        let mut metadata = json!({ "name": name, "labels": self.labels(component) });
        if let Some(ns) = &self.options.namespace {
            metadata["namespace"] = Value::from(ns.clone());
        }
        metadata
    }

    fn labels(&self, component: &str) -> Value {
        json!({
            "app.kubernetes.io/name": self.app.as_str(),
            "app.kubernetes.io/component": component,
            "app.kubernetes.io/part-of": self.app.as_str(),
            "app.kubernetes.io/managed-by": format!("{}-deploy", self.app),
        })
    }

    fn selector(&self, component: &str) -> Value {
        json!({
            "app.kubernetes.io/name": self.app.as_str(),
            "app.kubernetes.io/component": component,
        })
    }

    fn write_kubernetes(&self, output: &mut Output) -> anyhow::Result<()> {
        let app = self.app;
        let secret_name = format!("{app}-secrets");
        let config_name = format!("{app}-config");
        if let Some(ns) = &self.options.namespace {
            ensure!(
                is_dns_label(ns),
                "`--namespace {ns}` is not a Kubernetes name (lowercase letters, digits, `-`)"
            );
            output.files.insert(
                PathBuf::from("k8s/namespace.yaml"),
                documents(
                    &self.header("Namespace"),
                    &[json!({
                        "apiVersion": "v1",
                        "kind": "Namespace",
                        "metadata": { "name": ns, "labels": self.labels("namespace") },
                    })],
                )?,
            );
        }
        let mut config = serde_json::Map::new();
        for node in self.nodes {
            config.insert(
                format!("{}.toml", node.name),
                Value::from(self.config_file(Target::Kubernetes, node)),
            );
        }
        let mut config_docs = vec![json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": self.metadata(&config_name, "config"),
            "data": config,
        })];
        if self.options.database == DatabaseChoice::WithPostgres {
            config_docs.push(json!({
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": self.metadata(&format!("{app}-postgres-init"), "postgres"),
                "data": { "10-databases.sql": self.postgres_init_sql() },
            }));
        }
        output.files.insert(
            PathBuf::from("k8s/config.yaml"),
            documents(&self.header("Configuration (not secret)"), &config_docs)?,
        );
        output.files.insert(
            PathBuf::from("k8s/secret.yaml"),
            documents(
                &self.header("Secret: module tokens, shared token, database URLs"),
                &[json!({
                    "apiVersion": "v1",
                    "kind": "Secret",
                    "metadata": self.metadata(&secret_name, "secrets"),
                    "type": "Opaque",
                    "stringData": self.secrets,
                })],
            )?,
        );
        output.secret_files.insert(PathBuf::from("k8s/secret.yaml"));

        for node in self.nodes {
            let name = format!("{app}-{}", node.name);
            let env: Vec<Value> = self
                .environment(node)
                .into_iter()
                .map(|(var, v)| match v {
                    EnvValue::Literal(text) => json!({ "name": var, "value": text }),
                    EnvValue::Secret(key) => json!({
                        "name": var,
                        "valueFrom": { "secretKeyRef": { "name": secret_name, "key": key } },
                    }),
                })
                .collect();
            let probe = |path: &str, period: u32, failures: u32| {
                json!({
                    "httpGet": { "path": path, "port": "internal" },
                    "periodSeconds": period,
                    "timeoutSeconds": 2,
                    "failureThreshold": failures,
                })
            };
            let sqlite = self.options.database == DatabaseChoice::Sqlite;
            let data_volume = if sqlite {
                json!({ "name": "data", "persistentVolumeClaim": { "claimName": format!("{name}-data") } })
            } else {
                json!({ "name": "data", "emptyDir": {} })
            };
            let mut deployment = json!({
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": self.metadata(&name, &node.name),
                "spec": {
                    "replicas": node.replicas,
                    "selector": { "matchLabels": self.selector(&node.name) },
                    "template": {
                        "metadata": {
                            "labels": self.labels(&node.name),
                            "annotations": {
                                format!("{app}.cleave.dev/placement"): self.placement_name,
                                format!("{app}.cleave.dev/modules"): node.modules.join(","),
                            },
                        },
                        "spec": {
                            "securityContext": {
                                "runAsNonRoot": true,
                                "runAsUser": RUN_AS,
                                "runAsGroup": RUN_AS,
                                "fsGroup": RUN_AS,
                            },
                            "terminationGracePeriodSeconds": 30,
                            "containers": [{
                                "name": app.as_str(),
                                "image": self.options.image,
                                "args": self.serve_args(),
                                "ports": [
                                    { "name": "http", "containerPort": PUBLIC_PORT },
                                    { "name": "internal", "containerPort": INTERNAL_PORT },
                                ],
                                "env": env,
                                // Migrations run before the listeners open: give them a minute.
                                "startupProbe": probe("/health", 2, 60),
                                "livenessProbe": probe("/health", 10, 3),
                                "readinessProbe": probe("/ready", 5, 3),
                                "resources": {
                                    "requests": { "cpu": "100m", "memory": "64Mi" },
                                    "limits": { "memory": "512Mi" },
                                },
                                "securityContext": {
                                    "allowPrivilegeEscalation": false,
                                    "readOnlyRootFilesystem": true,
                                    "capabilities": { "drop": ["ALL"] },
                                },
                                "volumeMounts": [
                                    { "name": "config", "mountPath": format!("/etc/{app}"), "readOnly": true },
                                    { "name": "data", "mountPath": "/data" },
                                ],
                            }],
                            "volumes": [
                                {
                                    "name": "config",
                                    "configMap": {
                                        "name": config_name,
                                        "items": [{ "key": format!("{}.toml", node.name), "path": format!("{app}.toml") }],
                                    },
                                },
                                data_volume,
                            ],
                        },
                    },
                },
            });
            if sqlite {
                // One instance on one volume: the old one stops before the new one starts.
                deployment["spec"]["strategy"] = json!({ "type": "Recreate" });
            }
            let mut docs = vec![
                deployment,
                // What the other nodes call. Not-ready instances stay listed: `/ready` checks
                // the other nodes' `/health` through these Services, so hiding unready
                // instances could keep two nodes waiting for each other forever; a caller
                // handles an instance that does not answer yet (breaker, retries, outbox).
                json!({
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": self.metadata(&format!("{name}-internal"), &node.name),
                    "spec": {
                        "selector": self.selector(&node.name),
                        "publishNotReadyAddresses": true,
                        "ports": [{ "name": "internal", "port": INTERNAL_PORT, "targetPort": "internal" }],
                    },
                }),
                // The public API of this node's modules (route `/api/<module>/…` here).
                json!({
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": self.metadata(&name, &node.name),
                    "spec": {
                        "selector": self.selector(&node.name),
                        "ports": [{ "name": "http", "port": PUBLIC_PORT, "targetPort": "http" }],
                    },
                }),
            ];
            if sqlite {
                docs.push(json!({
                    "apiVersion": "v1",
                    "kind": "PersistentVolumeClaim",
                    "metadata": self.metadata(&format!("{name}-data"), &node.name),
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": { "requests": { "storage": "1Gi" } },
                    },
                }));
            }
            output.files.insert(
                PathBuf::from(format!("k8s/node-{}.yaml", node.name)),
                documents(
                    &self.header(&format!(
                        "Node `{}` (modules {})",
                        node.name,
                        node.modules.join(", ")
                    )),
                    &docs,
                )?,
            );
        }
        if self.options.database == DatabaseChoice::WithPostgres {
            self.write_k8s_postgres(output, &secret_name)?;
        }
        if self.options.broker == BrokerChoice::WithNats {
            self.write_k8s_nats(output)?;
        }
        Ok(())
    }

    fn write_k8s_postgres(&self, output: &mut Output, secret_name: &str) -> anyhow::Result<()> {
        let app = self.app;
        let name = format!("{app}-postgres");
        let user = db_ident(app.as_str());
        let docs = [
            json!({
                "apiVersion": "apps/v1",
                "kind": "StatefulSet",
                "metadata": self.metadata(&name, "postgres"),
                "spec": {
                    "serviceName": name,
                    "replicas": 1,
                    "selector": { "matchLabels": self.selector("postgres") },
                    "template": {
                        "metadata": { "labels": self.labels("postgres") },
                        "spec": {
                            "containers": [{
                                "name": "postgres",
                                "image": self.options.postgres_image,
                                "env": [
                                    { "name": "POSTGRES_USER", "value": user },
                                    { "name": "POSTGRES_DB", "value": user },
                                    {
                                        "name": "POSTGRES_PASSWORD",
                                        "valueFrom": { "secretKeyRef": { "name": secret_name, "key": "postgres-password" } },
                                    },
                                    // A subdirectory: a fresh volume's root may hold lost+found.
                                    { "name": "PGDATA", "value": "/var/lib/postgresql/data/pgdata" },
                                ],
                                "ports": [{ "name": "postgres", "containerPort": 5432 }],
                                "readinessProbe": {
                                    "exec": { "command": ["pg_isready", "-h", "127.0.0.1", "-U", user, "-d", user] },
                                    "periodSeconds": 5,
                                },
                                "resources": { "requests": { "cpu": "250m", "memory": "256Mi" } },
                                "volumeMounts": [
                                    { "name": "data", "mountPath": "/var/lib/postgresql/data" },
                                    { "name": "init", "mountPath": "/docker-entrypoint-initdb.d", "readOnly": true },
                                ],
                            }],
                            "volumes": [{ "name": "init", "configMap": { "name": format!("{name}-init") } }],
                        },
                    },
                    "volumeClaimTemplates": [{
                        "metadata": { "name": "data" },
                        "spec": {
                            "accessModes": ["ReadWriteOnce"],
                            "resources": { "requests": { "storage": "5Gi" } },
                        },
                    }],
                },
            }),
            json!({
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": self.metadata(&name, "postgres"),
                "spec": {
                    "selector": self.selector("postgres"),
                    "ports": [{ "name": "postgres", "port": 5432, "targetPort": "postgres" }],
                },
            }),
        ];
        output.files.insert(
            PathBuf::from("k8s/postgres.yaml"),
            documents(
                &self.header(
                    "PostgreSQL (one database per node; for a start, not for production data)",
                ),
                &docs,
            )?,
        );
        Ok(())
    }

    fn write_k8s_nats(&self, output: &mut Output) -> anyhow::Result<()> {
        let name = format!("{}-nats", self.app);
        let docs = [
            // A StatefulSet with a volume: JetStream keeps the events no subscriber has
            // acknowledged yet on disk, and they must outlive the pod.
            json!({
                "apiVersion": "apps/v1",
                "kind": "StatefulSet",
                "metadata": self.metadata(&name, "nats"),
                "spec": {
                    "replicas": 1,
                    "serviceName": name,
                    "selector": { "matchLabels": self.selector("nats") },
                    "volumeClaimTemplates": [{
                        "metadata": { "name": "jetstream" },
                        "spec": {
                            "accessModes": ["ReadWriteOnce"],
                            "resources": { "requests": { "storage": "1Gi" } },
                        },
                    }],
                    "template": {
                        "metadata": { "labels": self.labels("nats") },
                        "spec": {
                            "containers": [{
                                "name": "nats",
                                "image": self.options.nats_image,
                                "args": ["--jetstream", "--store_dir", "/data", "--http_port", "8222"],
                                "volumeMounts": [{ "name": "jetstream", "mountPath": "/data" }],
                                "ports": [
                                    { "name": "client", "containerPort": 4222 },
                                    { "name": "monitor", "containerPort": 8222 },
                                ],
                                "readinessProbe": { "httpGet": { "path": "/healthz", "port": "monitor" }, "periodSeconds": 5 },
                                "livenessProbe": { "httpGet": { "path": "/healthz", "port": "monitor" }, "periodSeconds": 10 },
                                "resources": { "requests": { "cpu": "100m", "memory": "64Mi" } },
                            }],
                        },
                    },
                },
            }),
            json!({
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": self.metadata(&name, "nats"),
                "spec": {
                    "selector": self.selector("nats"),
                    "ports": [{ "name": "client", "port": 4222, "targetPort": "client" }],
                },
            }),
        ];
        output.files.insert(
            PathBuf::from("k8s/nats.yaml"),
            documents(&self.header("NATS"), &docs)?,
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cleave::config::{ConfigSources, PlacementNode};

    const APP: AppName = AppName::new("deploytest");
    const LINKED: &[&str] = &["billing", "catalog", "orders"];

    fn placement(nodes: &[(&str, &[&str])]) -> Placement {
        Placement {
            description: Some("for the tests".into()),
            nodes: nodes
                .iter()
                .map(|(name, modules)| {
                    (
                        name.to_string(),
                        PlacementNode {
                            modules: modules.iter().map(|m| m.to_string()).collect(),
                            ..PlacementNode::default()
                        },
                    )
                })
                .collect(),
        }
    }

    fn split() -> Placement {
        placement(&[("main", &["catalog", "orders"]), ("billing", &["billing"])])
    }

    fn options(database: DatabaseChoice) -> Options {
        Options {
            database,
            ..Options::new(APP, "1.2.3")
        }
    }

    fn docs(text: &str) -> Vec<Value> {
        text.split("\n---\n")
            .skip(1)
            .map(|d| serde_norway::from_str(d).expect("valid YAML"))
            .collect()
    }

    fn file<'a>(output: &'a Output, path: &str) -> &'a str {
        output
            .files
            .get(Path::new(path))
            .unwrap_or_else(|| panic!("no {path} in {:?}", output.files.keys()))
    }

    fn secrets_of(output: &Output) -> Vec<String> {
        file(output, ".env")
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| l.split_once('=').unwrap().1.to_string())
            .collect()
    }

    /// Loads a generated node configuration as the process would (no environment: the app's
    /// name is one no variable uses).
    fn load(text: &str) -> cleave::Config {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.toml");
        std::fs::write(&path, text).unwrap();
        cleave::Config::load_with(
            APP,
            "",
            &ConfigSources {
                file: Some(path),
                overrides: Default::default(),
            },
        )
        .expect("the generated configuration loads")
    }

    #[test]
    fn every_node_is_a_service_and_a_deployment_reaching_the_others_by_name() {
        let output = generate(
            APP,
            "split",
            &split(),
            LINKED,
            &options(DatabaseChoice::WithPostgres),
        )
        .unwrap();
        let compose: Value = serde_norway::from_str(file(&output, "compose.yaml")).unwrap();
        let services = compose["services"].as_object().unwrap();
        assert_eq!(
            services.keys().collect::<Vec<_>>(),
            ["billing", "main", "postgres"]
        );
        for (node, modules, other, other_modules) in [
            (
                "main",
                vec!["catalog", "orders"],
                "billing",
                vec!["billing"],
            ),
            (
                "billing",
                vec!["billing"],
                "main",
                vec!["catalog", "orders"],
            ),
        ] {
            // Compose: the node's configuration derives its modules, and a route to each module
            // it does not host at the service hosting it.
            let service = &services[node];
            assert_eq!(service["image"], "ghcr.io/cleave-rs/deploytest:1.2.3");
            assert_eq!(
                service["depends_on"]["postgres"]["condition"],
                "service_healthy"
            );
            let config = load(file(&output, &format!("config/{node}.toml")));
            assert_eq!(config.modules, modules);
            for module in &other_modules {
                assert_eq!(
                    config.remote[*module],
                    [format!("http://{other}:9180")],
                    "{node} reaches {module}"
                );
            }
            assert_eq!(config.remote.len(), other_modules.len());
            // Kubernetes: the same through the other node's internal Service.
            let k8s = docs(file(&output, &format!("k8s/node-{node}.yaml")));
            let kinds: Vec<_> = k8s.iter().map(|d| d["kind"].as_str().unwrap()).collect();
            assert_eq!(kinds, ["Deployment", "Service", "Service"]);
            assert_eq!(
                k8s[1]["metadata"]["name"],
                format!("deploytest-{node}-internal")
            );
            assert_eq!(k8s[1]["spec"]["publishNotReadyAddresses"], true);
            assert_eq!(k8s[2]["metadata"]["name"], format!("deploytest-{node}"));
            let configmap = &docs(file(&output, "k8s/config.yaml"))[0];
            let config = load(configmap["data"][format!("{node}.toml")].as_str().unwrap());
            assert_eq!(config.modules, modules);
            for module in &other_modules {
                assert_eq!(
                    config.remote[*module],
                    [format!("http://deploytest-{other}-internal:9180")]
                );
            }
            // The Deployment mounts exactly its node's file, and probes /ready and /health.
            let pod = &k8s[0]["spec"]["template"]["spec"];
            let container = &pod["containers"][0];
            assert_eq!(
                pod["volumes"][0]["configMap"]["items"][0]["key"],
                format!("{node}.toml")
            );
            assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/ready");
            assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/health");
            assert_eq!(container["startupProbe"]["httpGet"]["path"], "/health");
            assert!(container["resources"]["requests"]["cpu"].is_string());
            assert_eq!(k8s[0]["spec"]["replicas"], 1);
        }
        let kinds: Vec<_> = docs(file(&output, "k8s/postgres.yaml"))
            .iter()
            .map(|d| d["kind"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(kinds, ["StatefulSet", "Service"]);
        assert!(file(&output, "postgres/init.sql").contains("CREATE DATABASE deploytest_main;"));
        assert!(file(&output, "postgres/init.sql").contains("CREATE DATABASE deploytest_billing;"));
    }

    #[test]
    fn secrets_stay_out_of_config_maps_and_each_node_gets_only_its_modules_tokens() {
        let output = generate(
            APP,
            "split",
            &split(),
            LINKED,
            &options(DatabaseChoice::WithPostgres),
        )
        .unwrap();
        let secrets = secrets_of(&output);
        // shared token, 3 module tokens, 2 database URLs, the PostgreSQL password
        assert_eq!(secrets.len(), 7, "{secrets:?}");
        for (path, text) in &output.files {
            if output.secret_files.contains(path) {
                continue;
            }
            for secret in &secrets {
                // A database URL embeds the password; either is a secret.
                assert!(
                    !text.contains(secret.as_str()),
                    "{} holds a secret",
                    path.display()
                );
            }
        }
        assert!(output.secret_files.contains(Path::new(".env")));
        assert!(output.secret_files.contains(Path::new("k8s/secret.yaml")));
        let secret = &docs(file(&output, "k8s/secret.yaml"))[0];
        assert_eq!(secret["kind"], "Secret");
        let data = secret["stringData"].as_object().unwrap();
        assert!(data.contains_key("token-billing") && data.contains_key("database-main"));
        assert!(
            data["database-main"]
                .as_str()
                .unwrap()
                .contains("@deploytest-postgres:5432/deploytest_main")
        );

        let env_of = |node: &str| -> Vec<String> {
            let deployment = &docs(file(&output, &format!("k8s/node-{node}.yaml")))[0];
            deployment["spec"]["template"]["spec"]["containers"][0]["env"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["name"].as_str().unwrap().to_string())
                .collect()
        };
        let billing = env_of("billing");
        assert!(billing.contains(&"DEPLOYTEST_CREDENTIALS__BILLING__TOKEN".to_string()));
        assert!(
            !billing
                .iter()
                .any(|v| v.contains("ORDERS") || v.contains("CATALOG"))
        );
        assert!(billing.contains(&"DEPLOYTEST_DATABASE".to_string()));
        let main = env_of("main");
        assert!(main.contains(&"DEPLOYTEST_CREDENTIALS__ORDERS__TOKEN".to_string()));
        assert!(!main.iter().any(|v| v.contains("BILLING")));
        // Every node accepts every module's digest, so the shared token proves only tools.
        for node in ["main", "billing"] {
            let config = load(file(&output, &format!("config/{node}.toml")));
            assert_eq!(config.credentials.len(), 3);
            assert!(
                config
                    .credentials
                    .values()
                    .all(|c| c.accept.len() == 1 && c.token.is_none())
            );
        }
        let compose: Value = serde_norway::from_str(file(&output, "compose.yaml")).unwrap();
        let env = compose["services"]["billing"]["environment"]
            .as_object()
            .unwrap();
        assert!(
            env["DEPLOYTEST_CREDENTIALS__BILLING__TOKEN"]
                .as_str()
                .unwrap()
                .starts_with("${TOKEN_BILLING:?")
        );
    }

    #[test]
    fn sqlite_serves_one_instance_per_node_and_replicas_need_postgresql() {
        // One instance per node: each its own SQLite file on its own volume.
        let output = generate(
            APP,
            "split",
            &split(),
            LINKED,
            &options(DatabaseChoice::Sqlite),
        )
        .unwrap();
        let compose: Value = serde_norway::from_str(file(&output, "compose.yaml")).unwrap();
        assert_eq!(compose["services"]["main"]["volumes"][1], "main-data:/data");
        assert!(
            compose["services"]["main"]["environment"]
                .get("DEPLOYTEST_DATABASE")
                .is_none()
        );
        let k8s = docs(file(&output, "k8s/node-main.yaml"));
        assert_eq!(k8s[3]["kind"], "PersistentVolumeClaim");
        assert_eq!(k8s[0]["spec"]["strategy"]["type"], "Recreate");

        let mut replicated = options(DatabaseChoice::Sqlite);
        replicated.replicas.insert("billing".into(), 2);
        let err = generate(APP, "split", &split(), LINKED, &replicated)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("billing") && err.contains("PostgreSQL"),
            "{err}"
        );

        replicated.database =
            DatabaseChoice::Postgres("postgres://u:p@db.example:5432/x?sslmode=require".into());
        let output = generate(APP, "split", &split(), LINKED, &replicated).unwrap();
        assert_eq!(
            docs(file(&output, "k8s/node-billing.yaml"))[0]["spec"]["replicas"],
            2
        );
        let compose: Value = serde_norway::from_str(file(&output, "compose.yaml")).unwrap();
        assert_eq!(compose["services"]["billing"]["scale"], 2);
        assert_eq!(
            compose["services"]["billing"]["ports"][0],
            "127.0.0.1:8080-8081:8080"
        );
        assert_eq!(
            compose["services"]["main"]["ports"][0],
            "127.0.0.1:8082:8080"
        );
        assert!(file(&output, ".env").contains(
            "DATABASE_BILLING=postgres://u:p@db.example:5432/deploytest_billing?sslmode=require"
        ));
        assert!(
            output
                .notes
                .iter()
                .any(|n| n.contains("deploytest_billing, deploytest_main"))
        );
        assert!(!output.files.contains_key(Path::new("k8s/postgres.yaml")));
    }

    #[test]
    fn the_placement_must_fit_the_binary() {
        let o = options(DatabaseChoice::Sqlite);
        let err = |p: Placement| generate(APP, "p", &p, LINKED, &o).unwrap_err().to_string();
        assert!(err(placement(&[("main", &["catalog", "orders"])])).contains("billing"));
        assert!(
            err(placement(&[(
                "main",
                &["billing", "catalog", "orders", "shipping"]
            )]))
            .contains("shipping")
        );
        assert!(
            err(placement(&[
                ("a", &["billing", "catalog"]),
                ("b", &["catalog", "orders"])
            ]))
            .contains("two nodes")
        );
        assert!(
            err(placement(&[("Main_1", &["billing", "catalog", "orders"])]))
                .contains("cannot name a service")
        );
        let with_pg = options(DatabaseChoice::WithPostgres);
        let p = placement(&[("postgres", &["billing", "catalog", "orders"])]);
        assert!(
            generate(APP, "p", &p, LINKED, &with_pg)
                .unwrap_err()
                .to_string()
                .contains("rename")
        );
        let mut bad = options(DatabaseChoice::Sqlite);
        bad.replicas.insert("nope".into(), 2);
        assert!(
            generate(APP, "split", &split(), LINKED, &bad)
                .unwrap_err()
                .to_string()
                .contains("no node `nope`")
        );
        bad.replicas.clear();
        bad.database = DatabaseChoice::Postgres("mysql://x".into());
        assert!(generate(APP, "split", &split(), LINKED, &bad).is_err());
    }

    #[test]
    fn a_broker_is_given_to_every_node() {
        let mut o = options(DatabaseChoice::Sqlite);
        o.broker = BrokerChoice::WithNats;
        o.namespace = Some("prod-ns".into());
        let output = generate(APP, "split", &split(), LINKED, &o).unwrap();
        let compose: Value = serde_norway::from_str(file(&output, "compose.yaml")).unwrap();
        assert_eq!(compose["services"]["nats"]["image"], "nats:2");
        assert_eq!(
            docs(file(&output, "k8s/nats.yaml"))[0]["metadata"]["namespace"],
            "prod-ns"
        );
        assert_eq!(
            docs(file(&output, "k8s/namespace.yaml"))[0]["metadata"]["name"],
            "prod-ns"
        );
        assert_eq!(compose["services"]["nats"]["volumes"][0], "nats-data:/data");
        assert_eq!(
            docs(file(&output, "k8s/nats.yaml"))[0]["kind"],
            "StatefulSet"
        );
        assert_eq!(
            compose["services"]["main"]["environment"]["DEPLOYTEST_EVENTS__BROKER"],
            "nats://nats:4222"
        );
        assert!(file(&output, "k8s/node-main.yaml").contains("nats://deploytest-nats:4222"));
    }

    #[test]
    fn writing_keeps_secret_files_private() {
        let output = generate(
            APP,
            "split",
            &split(),
            LINKED,
            &options(DatabaseChoice::Sqlite),
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        write(&output, dir.path()).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &str| {
                std::fs::metadata(dir.path().join(p))
                    .unwrap()
                    .permissions()
                    .mode()
                    & 0o777
            };
            assert_eq!(mode(".env"), 0o600);
            assert_eq!(mode("k8s/secret.yaml"), 0o600);
        }
        assert!(dir.path().join("config/main.toml").exists());
    }
}
