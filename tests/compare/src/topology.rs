//! An application's placements as containers on a network made for the run.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use testcontainers::bollard::Docker;
use testcontainers::core::{ContainerPort, Mount, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, ContainerRequest, GenericImage, ImageExt};

use crate::application::Layout;
use crate::docker::{Usage, cpu_ns, usage};
use crate::image::AppImage;

/// The public port inside every container.
pub const PUBLIC_PORT: u16 = 8080;
/// The internal port (module-to-module calls and events) inside every container.
pub const INTERNAL_PORT: u16 = 9180;

/// Settings every container of a topology gets.
#[derive(Debug, Clone)]
pub struct Options {
    /// Timeout of one call to another container (`extract.timeout_ms`).
    pub call_timeout_ms: u64,
    /// Retries of an idempotent call after an outage (`extract.retries`).
    pub call_retries: u32,
    /// Longest wait between delivery attempts (`outbox.backoff_max_ms`): how soon deliveries
    /// resume after a module comes back.
    pub backoff_max_ms: u64,
    /// How long a container may take to print that it listens.
    pub startup_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            call_timeout_ms: 1_000,
            call_retries: 2,
            backoff_max_ms: 1_000,
            startup_timeout: Duration::from_secs(60),
        }
    }
}

/// One container of a topology.
pub struct Node {
    /// The placement's name of the node, e.g. `main` or a module's name.
    pub name: String,
    /// The modules it hosts.
    pub modules: Vec<String>,
    /// Its public API from the host, e.g. `http://127.0.0.1:32768`.
    pub public_url: String,
    /// Its internal endpoints from the host.
    pub internal_url: String,
    /// From asking the engine to start it until its `/health` answered.
    pub time_to_ready: Duration,
    pub(crate) container: ContainerAsync<GenericImage>,
}

impl Node {
    /// Starts `request` as node `name` (container `<run>-<name>`) hosting `modules`, and waits
    /// until its `/health` answers.
    pub(crate) async fn start(
        request: ContainerRequest<GenericImage>,
        name: &str,
        modules: Vec<String>,
        http: &reqwest::Client,
        options: &Options,
        run: &str,
    ) -> anyhow::Result<Node> {
        let started = Instant::now();
        let container = request
            .start()
            .await
            .with_context(|| format!("start container {run}-{name}"))?;
        let (public_url, internal_url) = urls(&container).await?;
        wait_for(
            http,
            &format!("{public_url}/health"),
            options.startup_timeout,
        )
        .await?;
        Ok(Node {
            name: name.to_string(),
            modules,
            public_url,
            internal_url,
            time_to_ready: started.elapsed(),
            container,
        })
    }
}

/// A running topology; its containers and network go when it is dropped.
pub struct Topology {
    /// The placement.
    pub layout: Layout,
    /// Name in reports: the placement's, or a variant's (`monolith-postgres`).
    pub label: String,
    /// Its containers.
    pub nodes: Vec<Node>,
    /// The shared internal token.
    pub token: String,
    /// From the first container's start until every container's `/ready` answered 200.
    pub time_to_ready: Duration,
    /// Containers the nodes use that are not the application (a database, a broker): counted
    /// in [`Topology::usage`], gone with the topology.
    pub(crate) services: Vec<(String, ContainerAsync<GenericImage>)>,
    pub(crate) http: reqwest::Client,
    /// The host directories mounted on the nodes' `/data` (see [`data_mount`]), removed with
    /// the topology.
    pub(crate) _data: Vec<tempfile::TempDir>,
}

impl Topology {
    /// Starts every node of `layout` as a container of `image` on a new network and waits
    /// until all are ready.
    pub async fn start(
        layout: &Layout,
        image: &AppImage,
        options: &Options,
    ) -> anyhow::Result<Self> {
        let app = image.app;
        let run = format!("cleave-{}-{:08x}", layout.name, fastrand::u32(..));
        let token = internal_token();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?;
        let all = layout.modules();
        let started = Instant::now();
        let mut nodes = Vec::new();
        let mut data = Vec::new();
        for (name, modules) in &layout.nodes {
            let (mount, dir) = data_mount()?;
            data.push(dir);
            let mut request = container(image, options, true)
                .with_mount(mount)
                .with_network(run.clone())
                .with_container_name(format!("{run}-{name}"))
                .with_env_var(app.env_var("internal_token"), token.clone());
            if !layout.is_single_process() {
                request = request.with_env_var(app.env_var("modules"), modules.join(","));
                for module in all.iter().filter(|m| !modules.contains(m)) {
                    let host = layout.node_of(module).expect("every module is placed");
                    request = request.with_env_var(
                        app.env_var(&format!("remote.{module}")),
                        format!("http://{run}-{host}:{INTERNAL_PORT}"),
                    );
                }
            }
            nodes.push(Node::start(request, name, modules.clone(), &http, options, &run).await?);
        }
        let topology_deadline = options.startup_timeout;
        for node in &nodes {
            wait_for(
                &http,
                &format!("{}/ready", node.public_url),
                topology_deadline,
            )
            .await?;
        }
        Ok(Topology {
            layout: layout.clone(),
            label: layout.name.clone(),
            nodes,
            token,
            time_to_ready: started.elapsed(),
            services: Vec::new(),
            http,
            _data: data,
        })
    }

    /// A single-node `layout` (the monolith) in one container on the host's network stack (no
    /// bridge, no port proxy), over `database` (e.g. the host's PostgreSQL on loopback) or its
    /// own SQLite file: for comparing databases under the same placement.
    pub async fn start_on_host(
        layout: &Layout,
        image: &AppImage,
        options: &Options,
        label: &str,
        database: Option<&str>,
    ) -> anyhow::Result<Self> {
        anyhow::ensure!(
            layout.is_single_process(),
            "placement `{}` has several nodes; only a single process runs on the host's network",
            layout.name
        );
        let app = image.app;
        let free_port = || -> anyhow::Result<u16> {
            Ok(std::net::TcpListener::bind("127.0.0.1:0")?
                .local_addr()?
                .port())
        };
        let (public, internal) = (free_port()?, free_port()?);
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?;
        let (public_addr, internal_addr) = (
            format!("127.0.0.1:{public}"),
            format!("127.0.0.1:{internal}"),
        );
        let (mount, dir) = data_mount()?;
        let token = internal_token();
        let mut request = container(image, options, false)
            .with_mount(mount)
            .with_env_var(app.env_var("internal_token"), token.clone())
            .with_network("host")
            .with_cmd([
                "serve",
                "--listen",
                &public_addr,
                "--internal-listen",
                &internal_addr,
            ]);
        if let Some(database) = database {
            request = request.with_env_var(app.env_var("database"), database);
        }
        let started = Instant::now();
        let container = request
            .start()
            .await
            .with_context(|| format!("start the {label} container"))?;
        let public_url = format!("http://127.0.0.1:{public}");
        wait_for(
            &http,
            &format!("{public_url}/ready"),
            options.startup_timeout,
        )
        .await?;
        let time_to_ready = started.elapsed();
        let (name, modules) = layout.nodes[0].clone();
        Ok(Topology {
            layout: layout.clone(),
            label: label.to_string(),
            nodes: vec![Node {
                name,
                modules,
                public_url,
                internal_url: format!("http://127.0.0.1:{internal}"),
                time_to_ready,
                container,
            }],
            token,
            time_to_ready,
            services: Vec::new(),
            http,
            _data: vec![dir],
        })
    }

    /// The node hosting `module`.
    pub fn node_of(&self, module: &str) -> &Node {
        self.nodes
            .iter()
            .find(|n| n.modules.iter().any(|m| m == module))
            .unwrap_or_else(|| panic!("no container hosts `{module}`"))
    }

    fn node_of_mut(&mut self, module: &str) -> &mut Node {
        self.nodes
            .iter_mut()
            .find(|n| n.modules.iter().any(|m| m == module))
            .unwrap_or_else(|| panic!("no container hosts `{module}`"))
    }

    /// Where a client sends each module's public routes: `/api/<module>` → its container.
    pub fn routes(&self) -> Vec<(String, String)> {
        self.nodes
            .iter()
            .flat_map(|node| {
                node.modules
                    .iter()
                    .map(|m| (format!("/api/{m}"), node.public_url.clone()))
            })
            .collect()
    }

    /// Kills the container hosting `module` at once (no graceful shutdown: a crash).
    pub async fn kill(&self, module: &str) -> anyhow::Result<()> {
        self.node_of(module)
            .container
            .stop_with_timeout(Some(0))
            .await
            .with_context(|| format!("kill the container of {module}"))
    }

    /// Starts the killed container of `module` again (same container, same database) and
    /// waits until it is ready; its public URL may change (the engine maps a new host port).
    pub async fn restart(&mut self, module: &str, timeout: Duration) -> anyhow::Result<Duration> {
        let http = self.http.clone();
        let node = self.node_of_mut(module);
        let started = Instant::now();
        node.container.start().await?;
        let (public_url, internal_url) = urls(&node.container).await?;
        node.public_url = public_url;
        node.internal_url = internal_url;
        wait_for(&http, &format!("{}/ready", node.public_url), timeout).await?;
        Ok(started.elapsed())
    }

    /// Freezes every process of the container hosting `module`: connections are accepted by
    /// the kernel but never answered, the hardest failure for a caller.
    pub async fn pause(&self, module: &str) -> anyhow::Result<()> {
        Ok(self.node_of(module).container.pause().await?)
    }

    /// Thaws a paused container.
    pub async fn unpause(&self, module: &str) -> anyhow::Result<()> {
        Ok(self.node_of(module).container.unpause().await?)
    }

    /// Every container of the nodes (then of the services, if any): name and id.
    pub fn containers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.nodes
            .iter()
            .map(|node| (node.name.as_str(), node.container.id()))
            .chain(
                self.services
                    .iter()
                    .map(|(name, container)| (name.as_str(), container.id())),
            )
    }

    /// CPU time of every container of the nodes (then of the services, if any), nanoseconds,
    /// all read at once ([`crate::docker::cpu_ns`]).
    pub async fn cpu(&self, docker: &Docker) -> anyhow::Result<Vec<(&str, u64)>> {
        futures::future::try_join_all(
            self.containers()
                .map(async |(name, id)| Ok::<_, anyhow::Error>((name, cpu_ns(docker, id).await?))),
        )
        .await
    }

    /// CPU time and memory of every container of the nodes (then of the services, if any),
    /// all read at once ([`crate::docker::usage`]).
    pub async fn usage(&self, docker: &Docker) -> anyhow::Result<Vec<(&str, Usage)>> {
        futures::future::try_join_all(
            self.containers()
                .map(async |(name, id)| Ok::<_, anyhow::Error>((name, usage(docker, id).await?))),
        )
        .await
    }

    /// Kills the container of node `name` at once (no graceful shutdown: a crash).
    pub async fn kill_node(&self, name: &str) -> anyhow::Result<()> {
        self.nodes
            .iter()
            .find(|n| n.name == name)
            .with_context(|| format!("no node {name}"))?
            .container
            .stop_with_timeout(Some(0))
            .await
            .with_context(|| format!("kill the container of {name}"))
    }

    /// The standard error of every container (its log), for diagnosing a failure.
    pub async fn logs(&self) -> String {
        let mut all = String::new();
        for node in &self.nodes {
            let log = node.container.stderr_to_vec().await.unwrap_or_default();
            all.push_str(&format!(
                "--- {} ---\n{}\n",
                node.name,
                String::from_utf8_lossy(&log)
            ));
        }
        all
    }

    /// Waits until no node has an event waiting in its outbox (every node's
    /// `/_cleave/modules`), polling every millisecond for up to `timeout`: what one operation
    /// set off asynchronously has been delivered and applied everywhere.
    pub async fn wait_settled(&self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let mut pending = 0;
            for node in &self.nodes {
                let structure = self.internal_get(&node.name, "/_cleave/modules").await?;
                pending += structure["modules"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|m| m["outbox"]["pending"].as_u64())
                    .sum::<u64>();
            }
            if pending == 0 {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("{pending} events still pending after {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// `GET` on a node's internal listener with the token, e.g. `/_cleave/modules`.
    pub async fn internal_get(&self, node: &str, path: &str) -> anyhow::Result<serde_json::Value> {
        let node = self
            .nodes
            .iter()
            .find(|n| n.name == node)
            .with_context(|| format!("no node {node}"))?;
        let response = self
            .http
            .get(format!("{}{path}", node.internal_url))
            .bearer_auth(&self.token)
            .send()
            .await?;
        if !response.status().is_success() {
            bail!("{path} on {}: {}", node.name, response.status());
        }
        Ok(response.json().await?)
    }
}

/// A fresh credential for a topology's internal endpoints.
fn internal_token() -> String {
    format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..))
}

/// A directory of the host mounted on a node's `/data`, where the application keeps its SQLite
/// file: a volume, as a deployment gives its database. Left in the container's own filesystem,
/// the file would sit on the engine's storage driver, which on some hosts is a FUSE overlay
/// (`fuse-overlayfs`, this project's CI machine kind) that puts a user-space daemon in every
/// read, write and fsync; a placement with more processes and transactions would pay it more
/// (ADR 14).
fn data_mount() -> anyhow::Result<(Mount, tempfile::TempDir)> {
    let dir = tempfile::Builder::new()
        .prefix("cleave-compare-data-")
        .tempdir()
        .context("a directory for a node's /data")?;
    let path = dir
        .path()
        .to_str()
        .context("a UTF-8 temporary directory")?
        .to_string();
    Ok((Mount::bind_mount(path, "/data"), dir))
}

/// A container of `image` with the settings every node gets, waiting for the line the
/// application prints when it listens; `exposed`: with its two ports mapped to the host.
pub(crate) fn container(
    image: &AppImage,
    options: &Options,
    exposed: bool,
) -> ContainerRequest<GenericImage> {
    let app = image.app;
    let mut base = GenericImage::new(image.name.clone(), image.tag.clone());
    if exposed {
        base = base
            .with_exposed_port(ContainerPort::Tcp(PUBLIC_PORT))
            .with_exposed_port(ContainerPort::Tcp(INTERNAL_PORT));
    }
    base.with_wait_for(WaitFor::message_on_stdout(format!("{app} listening")))
        .with_startup_timeout(options.startup_timeout)
        .with_env_var(
            app.env_var("extract.timeout_ms"),
            options.call_timeout_ms.to_string(),
        )
        .with_env_var(
            app.env_var("extract.retries"),
            options.call_retries.to_string(),
        )
        .with_env_var(
            app.env_var("outbox.backoff_max_ms"),
            options.backoff_max_ms.to_string(),
        )
        .with_env_var(app.env_var("log"), "warn")
}

async fn urls(container: &ContainerAsync<GenericImage>) -> anyhow::Result<(String, String)> {
    let host = container.get_host().await?;
    let public = container.get_host_port_ipv4(PUBLIC_PORT).await?;
    let internal = container.get_host_port_ipv4(INTERNAL_PORT).await?;
    Ok((
        format!("http://{host}:{public}"),
        format!("http://{host}:{internal}"),
    ))
}

/// Polls `url` until it answers 200.
pub async fn wait_for(http: &reqwest::Client, url: &str, timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let last = match http.get(url).send().await {
            Ok(r) if r.status().is_success() => return Ok(()),
            Ok(r) => format!("{} {}", r.status(), r.text().await.unwrap_or_default()),
            Err(e) => e.to_string(),
        };
        if Instant::now() > deadline {
            bail!("{url} not ready within {timeout:?}: {last}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
