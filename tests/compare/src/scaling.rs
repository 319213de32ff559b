//! Independent scaling, measured: the workload's fault module in a container of its own at 1,
//! 2 and 3 replicas (the rest in one container), both nodes on a PostgreSQL container (one
//! database per node, the replicas sharing theirs), events through a NATS JetStream container
//! (`events.broker`: the replicas share one durable consumer), with the settings the workload
//! asks for (the shop's simulated payment gateway latency). Each run starts the same load and
//! reports completed operations per second and CPU per operation over every container
//! (application, PostgreSQL, NATS); a last run at the largest count kills one replica while the
//! load runs, and every accepted operation must then have its effect exactly once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;
use testcontainers::core::{ContainerPort, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{GenericImage, ImageExt};

use crate::application::Layout;
use crate::image::AppImage;
use crate::topology::{INTERNAL_PORT, Node, Options, Topology, container, wait_for};
use crate::workload::{self, Client, Workload};

/// One scaling run.
#[derive(Debug, Clone, Serialize)]
pub struct ScalingRun {
    /// Replicas of the module at the start.
    pub replicas: usize,
    /// Whether one replica was killed while the load ran.
    pub killed_one: bool,
    /// Operations started.
    pub operations: usize,
    /// Operations accepted per second while they were started.
    pub started_per_s: f64,
    /// Operations completed per second: all of them over the time until the last completed.
    pub completed_per_s: f64,
    /// CPU of every container (application, PostgreSQL, NATS) per operation, µs.
    pub cpu_us_per_operation: f64,
    /// Of which the module's replicas.
    pub module_cpu_us_per_operation: f64,
    /// Operations whose effect happened exactly once (checked after the kill run only; the
    /// others count every operation that completed).
    pub effects_once: usize,
}

/// Every scaling run of a comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Scaling {
    /// The module scaled (the workload's fault module).
    pub module: String,
    /// The configuration keys the module's replicas were given, e.g. a simulated latency.
    pub settings: Vec<(String, String)>,
    /// The PostgreSQL and NATS images.
    pub services: (String, String),
    /// The runs.
    pub runs: Vec<ScalingRun>,
}

/// The PostgreSQL password of the run's database container (not a secret: the container lives
/// on a network of its own for one run).
const PASSWORD: &str = "cleave-scaling";

/// Runs the workload's fault module at each of `args.scaling_replicas` (then the largest again
/// with a kill), `args.load_orders` operations from `args.concurrency` clients each run.
pub async fn scaling(
    engine: &testcontainers::bollard::Docker,
    modules: &[String],
    image: &AppImage,
    workload: &Arc<dyn Workload>,
    args: &crate::run::Args,
    step: &dyn Fn(&str),
) -> anyhow::Result<Scaling> {
    let (replicas, operations, concurrency) =
        (&args.scaling_replicas, args.load_orders, args.concurrency);
    let module = workload.words().fault_module;
    let (postgres, nats) = tokio::task::spawn_blocking(crate::deploy::service_images)
        .await?
        .context("the PostgreSQL and NATS images")?;
    let settings = workload.scaling_settings();
    let mut plan: Vec<(usize, bool)> = replicas.iter().map(|&n| (n.max(1), false)).collect();
    if let Some(&most) = replicas.iter().max().filter(|&&n| n >= 2) {
        plan.push((most, true));
    }
    let mut runs = Vec::new();
    for (index, (count, kill)) in plan.into_iter().enumerate() {
        let label = format!(
            "{module} ×{count}{}",
            if kill { ", one killed" } else { "" }
        );
        step(&format!(
            "[scaling {}] {label}: starting containers",
            index + 1
        ));
        let topology = start(modules, &module, count, image, &postgres, &nats, &settings).await?;
        let scope = format!("SCALE{}", index + 1);
        let run = measure(
            engine,
            &topology,
            workload,
            &module,
            count,
            kill,
            &scope,
            operations,
            concurrency,
        )
        .await;
        let run = match run {
            Ok(run) => run,
            Err(e) => {
                eprintln!("{}", topology.logs().await);
                return Err(e.context(format!("scaling run {label} (container logs above)")));
            }
        };
        step(&format!(
            "[scaling {}] {label}: {:.0} {}/s started, {:.0}/s completed, {:.0} µs CPU each, {}/{} effects once",
            index + 1,
            run.started_per_s,
            workload.words().operations,
            run.completed_per_s,
            run.cpu_us_per_operation,
            run.effects_once,
            run.operations
        ));
        runs.push(run);
    }
    Ok(Scaling {
        module,
        settings,
        services: (postgres, nats),
        runs,
    })
}

#[allow(clippy::too_many_arguments)]
async fn measure(
    engine: &testcontainers::bollard::Docker,
    topology: &Topology,
    workload: &Arc<dyn Workload>,
    module: &str,
    count: usize,
    kill: bool,
    scope: &str,
    operations: usize,
    concurrency: usize,
) -> anyhow::Result<ScalingRun> {
    let client = Client::new(topology, Duration::from_secs(10));
    workload.prepare(&client, scope).await?;
    let before = topology.usage(engine).await?;
    let victim = format!("{module}-{count}");
    let load = workload::throughput(workload, &client, scope, operations, concurrency);
    let killer = async {
        if kill {
            // Once the load is well under way.
            tokio::time::sleep(Duration::from_millis(500)).await;
            topology.kill_node(&victim).await
        } else {
            Ok(())
        }
    };
    let (throughput, killed) = tokio::join!(load, killer);
    let throughput = throughput?;
    killed?;
    let after = topology.usage(engine).await?;
    let spent = |keep: &dyn Fn(&str) -> bool| -> f64 {
        after
            .iter()
            .filter(|(name, _)| keep(name))
            .map(|(name, a)| {
                let b = before
                    .iter()
                    .find(|(n, _)| n == name)
                    .map_or(0, |(_, b)| b.cpu_ns);
                a.cpu_ns.saturating_sub(b) as f64
            })
            .sum::<f64>()
            / 1e3
            / operations.max(1) as f64
    };
    let mut effects_once = throughput.ids.len();
    if kill {
        effects_once = 0;
        for id in &throughput.ids {
            if workload.effect_once(&client, id).await? {
                effects_once += 1;
            }
        }
    }
    let prefix = format!("{module}-");
    Ok(ScalingRun {
        replicas: count,
        killed_one: kill,
        operations,
        started_per_s: throughput.orders_per_s,
        completed_per_s: operations as f64 / throughput.all_paid_s,
        cpu_us_per_operation: spent(&|_| true),
        module_cpu_us_per_operation: spent(&|name| name.starts_with(&prefix)),
        effects_once,
    })
}

/// Starts PostgreSQL, NATS, the rest of the application in one container and `module` in
/// `count`, on a network of their own; waits until every node is ready.
async fn start(
    modules: &[String],
    module: &str,
    count: usize,
    image: &AppImage,
    postgres: &str,
    nats: &str,
    settings: &[(String, String)],
) -> anyhow::Result<Topology> {
    let app = image.app;
    let run = format!("cleave-scaling-{:08x}", fastrand::u32(..));
    let token = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let started = Instant::now();
    let options = Options::default();
    let rest: Vec<String> = modules.iter().filter(|m| *m != module).cloned().collect();
    let layout = Layout {
        name: format!("{module}-scaled"),
        nodes: vec![
            ("main".into(), rest.clone()),
            (module.into(), vec![module.into()]),
        ],
    };

    let (name, tag) = split_reference(postgres);
    let database = GenericImage::new(name, tag)
        .with_exposed_port(ContainerPort::Tcp(5432))
        .with_wait_for(WaitFor::message_on_stderr("ready to accept connections"))
        .with_network(run.clone())
        .with_container_name(format!("{run}-postgres"))
        .with_env_var("POSTGRES_PASSWORD", PASSWORD)
        .with_copy_to(
            "/docker-entrypoint-initdb.d/databases.sql",
            format!("CREATE DATABASE main;\nCREATE DATABASE {module};\n").into_bytes(),
        )
        .with_startup_timeout(options.startup_timeout)
        .start()
        .await
        .context("start the PostgreSQL container")?;
    // The image's first start runs a server without TCP to create the databases, then the real
    // one: ready once the mapped port answers.
    let port = database.get_host_port_ipv4(5432).await?;
    let deadline = Instant::now() + options.startup_timeout;
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        anyhow::ensure!(Instant::now() < deadline, "PostgreSQL did not listen");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (name, tag) = split_reference(nats);
    let broker = GenericImage::new(name, tag)
        .with_wait_for(WaitFor::message_on_stderr("Server is ready"))
        .with_network(run.clone())
        .with_container_name(format!("{run}-nats"))
        .with_cmd(["--jetstream"])
        .with_startup_timeout(options.startup_timeout)
        .start()
        .await
        .context("start the NATS container")?;
    let url = |db: &str| format!("postgres://postgres:{PASSWORD}@{run}-postgres:5432/{db}");
    let replica_urls: Vec<String> = (1..=count)
        .map(|i| format!("http://{run}-{module}-{i}:{INTERNAL_PORT}"))
        .collect();
    let main_url = format!("http://{run}-main:{INTERNAL_PORT}");

    let mut nodes = Vec::new();
    let mut specs: Vec<(String, Vec<String>, String)> =
        vec![("main".into(), rest.clone(), url("main"))];
    for i in 1..=count {
        specs.push((
            format!("{module}-{i}"),
            vec![module.to_string()],
            url(module),
        ));
    }
    for (name, hosted, database_url) in specs {
        let mut request = container(image, &options, true)
            .with_network(run.clone())
            .with_container_name(format!("{run}-{name}"))
            .with_env_var(app.env_var("internal_token"), token.clone())
            .with_env_var(app.env_var("modules"), hosted.join(","))
            .with_env_var(app.env_var("database"), database_url)
            .with_env_var(
                app.env_var("events.broker"),
                format!("nats://{run}-nats:4222"),
            )
            .with_env_var(app.env_var("events.ack_wait_ms"), "2000");
        for other in modules.iter().filter(|m| !hosted.contains(m)) {
            let urls = if other == module {
                replica_urls.join(",")
            } else {
                main_url.clone()
            };
            request = request.with_env_var(app.env_var(&format!("remote.{other}")), urls);
        }
        if hosted.iter().any(|m| m == module) {
            for (key, value) in settings {
                request = request.with_env_var(app.env_var(key), value.clone());
            }
        }
        nodes.push(Node::start(request, &name, hosted, &http, &options, &run).await?);
    }
    for node in &nodes {
        wait_for(
            &http,
            &format!("{}/ready", node.public_url),
            options.startup_timeout,
        )
        .await?;
    }
    Ok(Topology {
        layout,
        label: format!("{module} ×{count}"),
        nodes,
        token,
        time_to_ready: started.elapsed(),
        services: vec![
            ("postgres".to_string(), database),
            ("nats".to_string(), broker),
        ],
        http,
        // Every node's database is on the PostgreSQL container.
        _data: Vec::new(),
    })
}

/// `name:tag` → (name, tag); `latest` without a tag.
fn split_reference(reference: &str) -> (String, String) {
    match reference.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name.to_string(), tag.to_string()),
        _ => (reference.to_string(), "latest".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references_split_into_name_and_tag() {
        assert_eq!(
            split_reference("cleave/postgres:15"),
            ("cleave/postgres".into(), "15".into())
        );
        assert_eq!(
            split_reference("localhost:5000/nats"),
            ("localhost:5000/nats".into(), "latest".into())
        );
    }
}
