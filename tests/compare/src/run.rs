//! `cleave-compare`: runs the same workload and faults against the monolith and the extracted
//! topologies in containers, and writes `report.md`, `summary.json` and SVG charts.
//!
//! `scripts/compare.sh` builds the static binary and this tool, then runs it.

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::Parser;
use cleave_compare::docker;
use cleave_compare::image::{self, ImageSettings};
use cleave_compare::report::{self, NodeFigures, Summary, TopologyFigures};
use cleave_compare::topology::{Kind, Options, Topology};
use cleave_compare::workload::{self, Fault, FaultPlan, Shop};

#[derive(Parser, Debug)]
#[command(about = "Compare the shop as a monolith and as services, in containers")]
struct Args {
    /// Directory for report.md, summary.json and the charts.
    #[arg(long, default_value_os_t = image::target_dir().join("compare"))]
    out: PathBuf,
    /// Orders placed one at a time for the latency figures.
    #[arg(long, default_value_t = 200)]
    latency_orders: usize,
    /// Orders placed by concurrent clients for throughput and CPU per order.
    #[arg(long, default_value_t = 1000)]
    load_orders: usize,
    /// Clients placing orders at once.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Rounds of the throughput phase; the median round is reported.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Skip the fault runs.
    #[arg(long)]
    no_faults: bool,
    /// Also run the monolith on the host's network twice, over its SQLite file and over this
    /// PostgreSQL server (admin URL; a fresh database is created with `psql`), to separate the
    /// database's share from the placement's. Example: the URL `scripts/postgres.sh` prints.
    #[arg(long, value_name = "URL")]
    postgres: Option<String>,
}

/// The client's timeout per request: a paused monolith holds every request this long.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

fn progress(step: &str) {
    eprintln!("[{}] {step}", chrono_like_now());
}

fn chrono_like_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!(
        "{:02}:{:02}:{:02}",
        (secs / 3600) % 24,
        (secs / 60) % 60,
        secs % 60
    )
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let started = Instant::now();
    let engine = docker::engine().await?;
    let settings = ImageSettings::from_env()?;
    progress(&format!("image {}:{} …", settings.name, settings.tag));
    let image = image::ensure(&engine, &settings).await?;
    progress(&format!(
        "image {} ({:.1} MiB{})",
        image.reference(),
        image.size_bytes as f64 / 1048576.0,
        if image.built { ", built now" } else { "" }
    ));
    let options = Options::default();
    let mut topologies = Vec::new();
    for (index, kind) in Kind::ALL.into_iter().enumerate() {
        let step = |what: &str| {
            progress(&format!(
                "[{}/{}] {}: {what}",
                index + 1,
                Kind::ALL.len(),
                kind.name()
            ))
        };
        step("starting containers");
        let mut topology = Topology::start(kind, &image, &options).await?;
        step(&format!(
            "{} containers ready in {:.2} s",
            topology.nodes.len(),
            topology.time_to_ready.as_secs_f64()
        ));
        topologies.push(measure_or_show_logs(&engine, &mut topology, &args, &step).await?);
        step("stopping");
        drop(topology);
    }
    let mut databases = Vec::new();
    if let Some(admin) = &args.postgres {
        let database = fresh_database(admin)?;
        let no_faults = Args {
            no_faults: true,
            postgres: None,
            out: args.out.clone(),
            ..args
        };
        for (label, url) in [
            ("monolith-sqlite (host network)", None),
            ("monolith-postgres (host network)", Some(database.as_str())),
        ] {
            let step = |what: &str| progress(&format!("[db] {label}: {what}"));
            step("starting the container");
            let mut topology =
                Topology::start_monolith_on_host(&image, &options, label, url).await?;
            databases.push(measure_or_show_logs(&engine, &mut topology, &no_faults, &step).await?);
        }
    }
    let summary = Summary {
        run: report::RunInfo {
            unix_time: SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs(),
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            latency_orders: args.latency_orders,
            load_orders: args.load_orders,
            rounds: args.rounds.max(1),
            concurrency: args.concurrency,
            call_timeout_ms: options.call_timeout_ms,
            call_retries: options.call_retries,
            client_timeout_s: CLIENT_TIMEOUT.as_secs(),
        },
        image: report::ImageInfo {
            reference: image.reference(),
            size_mib: image.size_bytes as f64 / 1048576.0,
        },
        topologies,
        databases,
        ratios: Vec::new(),
        service_weaver: report::SERVICE_WEAVER,
    }
    .with_ratios();
    report::write(&summary, &args.out)?;
    for r in &summary.ratios {
        progress(&format!(
            "{} vs monolith: place p50 {:.2}x, to paid p50 {:.2}x, throughput {:.2}x, CPU/order {:.2}x, memory {:.2}x",
            r.kind, r.place_p50, r.to_paid_p50, r.throughput, r.cpu_per_order, r.memory
        ));
    }
    progress(&format!(
        "wrote {} (report.md, summary.json, latency.svg, cost.svg, faults.svg) in {:.0} s",
        args.out.display(),
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}

/// [`measure`], printing every container's log when it fails.
async fn measure_or_show_logs(
    engine: &docker::Docker,
    topology: &mut Topology,
    args: &Args,
    step: &dyn Fn(&str),
) -> anyhow::Result<TopologyFigures> {
    let measured = measure(engine, topology, args, step).await;
    if measured.is_err() {
        eprintln!("{}", topology.logs().await);
    }
    measured.with_context(|| format!("measuring {} (container logs above)", topology.label))
}

async fn measure(
    engine: &docker::Docker,
    topology: &mut Topology,
    args: &Args,
    step: &dyn Fn(&str),
) -> anyhow::Result<TopologyFigures> {
    let shop = Shop::new(topology, CLIENT_TIMEOUT);
    shop.stock_product("LAT", 1_000, 1_000_000).await?;
    shop.stock_product("LOAD", 1_000, 1_000_000).await?;
    step("warming up");
    workload::latencies(&shop, "LAT", 20).await?;
    step(&format!("{} orders one at a time", args.latency_orders));
    let latencies = workload::latencies(&shop, "LAT", args.latency_orders).await?;
    step(&format!(
        "place p50 {:.2} ms, to paid p50 {:.2} ms; {} orders from {} clients",
        latencies.place.p50_ms, latencies.to_paid.p50_ms, args.load_orders, args.concurrency
    ));
    // Several rounds, CPU over all of them, the round with the median throughput reported:
    // one short round is at the mercy of whatever else the machine does.
    let before = topology.usage(engine).await?;
    let mut rounds = Vec::new();
    for round in 0..args.rounds.max(1) {
        let t = workload::throughput(&shop, "LOAD", args.load_orders, args.concurrency).await?;
        step(&format!(
            "round {}: {:.0} orders/s, all paid after {:.1} s",
            round + 1,
            t.orders_per_s,
            t.all_paid_s
        ));
        rounds.push(t);
    }
    let after = topology.usage(engine).await?;
    let all_rounds: Vec<f64> = rounds.iter().map(|t| t.orders_per_s).collect();
    let wall_s: f64 = rounds.iter().map(|t| t.all_paid_s).sum();
    rounds.sort_by(|a, b| a.orders_per_s.total_cmp(&b.orders_per_s));
    let mut throughput = rounds.swap_remove(rounds.len() / 2);
    throughput.rounds = all_rounds;
    throughput.wall_s = wall_s;
    let orders = (args.load_orders * args.rounds.max(1)).max(1) as f64;
    let nodes: Vec<NodeFigures> = topology
        .nodes
        .iter()
        .zip(before.iter().zip(after.iter()))
        .map(|(node, ((_, b), (_, a)))| NodeFigures {
            name: node.name.to_string(),
            modules: node.modules.iter().map(|m| m.to_string()).collect(),
            ready_s: node.time_to_ready.as_secs_f64(),
            memory_mib: a.memory_bytes as f64 / 1048576.0,
            cpu_us_per_order: a.cpu_ns.saturating_sub(b.cpu_ns) as f64 / 1e3 / orders,
        })
        .collect();
    let mut faults = Vec::new();
    if !args.no_faults {
        for fault in [Fault::Kill, Fault::Pause] {
            step(&format!("fault: billing {}", fault.name()));
            let run = workload::fault_run(topology, &shop, fault, FaultPlan::default()).await?;
            step(&format!(
                "fault {}: {} accepted / {} refused while down, recovered in {:.2} s, {}/{} invoiced once",
                fault.name(),
                run.accepted_during,
                run.refused_during,
                run.recovered_s,
                run.invoiced_once,
                run.accepted
            ));
            faults.push(run);
        }
    }
    Ok(TopologyFigures {
        kind: topology.label.clone(),
        ready_s: topology.time_to_ready.as_secs_f64(),
        cpu_us_per_order: nodes.iter().map(|n| n.cpu_us_per_order).sum(),
        memory_mib: nodes.iter().map(|n| n.memory_mib).sum(),
        nodes,
        latencies,
        throughput,
        faults,
    })
}

/// Creates an empty database on the PostgreSQL server at `admin` (with `psql`) and returns its
/// URL.
fn fresh_database(admin: &str) -> anyhow::Result<String> {
    let name = format!("cleave_compare_{:08x}", fastrand::u32(..));
    let status = std::process::Command::new("psql")
        .args([admin, "-q", "-c", &format!("CREATE DATABASE {name}")])
        .status()
        .context("run psql to create the comparison's database")?;
    anyhow::ensure!(status.success(), "psql could not create database {name}");
    let (server, _) = admin
        .rsplit_once('/')
        .context("the PostgreSQL URL has no database part")?;
    Ok(format!("{server}/{name}"))
}
