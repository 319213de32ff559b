//! The comparison as a command: an application's compare binary is
//! `cleave_compare::run::main(application, workload)` (see `app/compare` for the shop's).
//! It runs the same workload and faults against every placement of the application in
//! containers, and writes `report.md`, `summary.json` and SVG charts.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::Parser;

use crate::application::{Application, Layout};
use crate::docker;
use crate::image::{self, AppImage, ImageSettings};
use crate::prediction::{self, Planner, Predictions};
use crate::report::{self, NodeFigures, Summary, TopologyFigures};
use crate::topology::{Options, Topology};
use crate::workload::{self, Client, Fault, FaultPlan, Workload};

/// What a comparison run does.
#[derive(Parser, Debug, Clone)]
#[command(
    about = "Compare an application's placements in containers: the same workload and faults against each"
)]
pub struct Args {
    /// Directory for report.md, summary.json and the charts (default `target/compare/<app>`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Placements to compare, comma-separated (default: every placement the application
    /// names; the one with the fewest nodes is the baseline).
    #[arg(long, value_delimiter = ',', value_name = "NAME,...")]
    pub placements: Vec<String>,
    /// Operations started one at a time for the latency figures.
    #[arg(long, default_value_t = 200)]
    pub latency_orders: usize,
    /// Operations per placement for checking `plan`'s predictions, side by side (for the
    /// latency, and as many again for the CPU), in alternating slices.
    #[arg(long, default_value_t = 600)]
    pub check_orders: usize,
    /// Operations started by concurrent clients for throughput and CPU per operation.
    #[arg(long, default_value_t = 1000)]
    pub load_orders: usize,
    /// Clients starting operations at once.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Rounds of the throughput phase; the median round is reported.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Skip the fault runs.
    #[arg(long)]
    pub no_faults: bool,
    /// Replicas of the fault module in the scaling runs (PostgreSQL and NATS containers),
    /// comma-separated; the largest runs once more with one replica killed. Given with no
    /// value (`--scaling-replicas` alone): no scaling runs.
    #[arg(long, value_delimiter = ',', num_args = 0.., default_value = "1,2,3")]
    pub scaling_replicas: Vec<usize>,
    /// The hop cost table the predictions use (`plan --costs`; default: the table shipped
    /// with the framework, measured on loopback). `scripts/compare.sh` passes one measured
    /// between two containers (`scripts/hop-costs-containers.sh`), as the placements run.
    #[arg(long, value_name = "FILE")]
    pub costs: Option<PathBuf>,
    /// A quick run that checks the comparison works (its figures mean nothing): few
    /// operations, one round, short faults.
    #[arg(long)]
    pub smoke: bool,
    /// Also run the baseline on the host's network twice, over its SQLite file and over this
    /// PostgreSQL server (admin URL; a fresh database is created with `psql`), to separate the
    /// database's share from the placement's. Example: the URL `scripts/postgres.sh` prints.
    #[arg(long, value_name = "URL")]
    pub postgres: Option<String>,
}

impl Args {
    /// The defaults, as if no flag was given.
    pub fn defaults() -> Args {
        Args::parse_from(["compare"])
    }

    /// Small enough for the test suite: a few operations, one round, short faults.
    pub fn smoke() -> Args {
        let mut args = Args::defaults();
        args.smoke = true;
        args.apply_smoke();
        args
    }

    fn apply_smoke(&mut self) {
        if self.smoke {
            self.latency_orders = self.latency_orders.min(5);
            self.check_orders = self.check_orders.min(prediction::SLICES);
            self.load_orders = self.load_orders.min(40);
            self.concurrency = self.concurrency.min(4);
            self.rounds = 1;
            self.scaling_replicas.retain(|&n| n <= 2);
        }
    }

    fn fault_plan(&self) -> FaultPlan {
        if self.smoke {
            FaultPlan {
                before: Duration::from_millis(300),
                during: Duration::from_millis(1_000),
                after: Duration::from_millis(300),
                pace: Duration::from_millis(50),
            }
        } else {
            FaultPlan::default()
        }
    }
}

/// The command: parses the process's arguments, compares, writes the report.
pub async fn main(app: Application, workload: Arc<dyn Workload>) -> anyhow::Result<()> {
    let mut args = Args::parse();
    args.apply_smoke();
    let out = out_dir(&app, &args);
    let started = Instant::now();
    let summary = compare(&app, workload, &args).await?;
    report::write(&summary, &out)?;
    for r in &summary.ratios {
        progress(&format!(
            "{} vs {}: start p50 {:.2}x, to {} p50 {:.2}x, throughput {:.2}x, CPU/{} {:.2}x, memory {:.2}x",
            r.kind,
            summary.topologies[0].kind,
            r.place_p50,
            summary.words.completed,
            r.to_paid_p50,
            r.throughput,
            summary.words.operation,
            r.cpu_per_order,
            r.memory
        ));
    }
    progress(&format!(
        "wrote {} (report.md, summary.json, latency.svg, cost.svg, faults.svg) in {:.0} s",
        out.display(),
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}

/// Where the report goes: `--out`, or `target/compare/<app>`.
fn out_dir(app: &Application, args: &Args) -> PathBuf {
    args.out
        .clone()
        .unwrap_or_else(|| image::target_dir().join("compare").join(app.name.as_str()))
}

/// Runs the comparison of `app`'s placements (those `args` names, or all) under `workload`.
pub async fn compare(
    app: &Application,
    workload: Arc<dyn Workload>,
    args: &Args,
) -> anyhow::Result<Summary> {
    let layouts: Vec<Layout> = if args.placements.is_empty() {
        app.layouts()
    } else {
        args.placements
            .iter()
            .map(|name| app.layout(name))
            .collect::<anyhow::Result<_>>()?
    };
    let engine = docker::engine().await?;
    let settings = ImageSettings::from_env(app.name)?;
    progress(&format!("image {}:{} …", settings.name, settings.tag));
    let image = image::ensure(&engine, &settings).await?;
    progress(&format!(
        "image {} ({:.1} MiB{})",
        image.reference(),
        image.size_bytes as f64 / 1048576.0,
        if image.built { ", built now" } else { "" }
    ));
    let options = Options::default();
    let mut topologies: Vec<TopologyFigures> = Vec::new();
    let mut planner: Option<Planner> = None;
    let mut predictions = Predictions {
        costs: String::new(),
        operations: 0.0,
        measured_operations: 0,
        quiet_ms: 0.0,
        placements: Vec::new(),
        measured: Vec::new(),
        notes: Vec::new(),
    };
    // Each placement's plan, by its index in `layouts`.
    let mut plans = Vec::new();
    let traffic_dir = out_dir(app, args);
    for (index, layout) in layouts.iter().enumerate() {
        let step = |what: &str| {
            progress(&format!(
                "[{}/{}] {}: {what}",
                index + 1,
                layouts.len(),
                layout.name
            ))
        };
        step("starting containers");
        let mut topology = Topology::start(layout, &image, &options).await?;
        step(&format!(
            "{} containers ready in {:.2} s",
            topology.nodes.len(),
            topology.time_to_ready.as_secs_f64()
        ));
        // Predicted before it runs, from the baseline's traffic.
        let planned = match &planner {
            Some(planner) => match planner.plan(&layout.name) {
                Ok(planned) => Some(planned),
                Err(e) => {
                    predictions.notes.push(format!("{}: {e:#}", layout.name));
                    None
                }
            },
            None => None,
        };
        let figures = measure_or_show_logs(&engine, &mut topology, &workload, args, &step).await?;
        if index == 0 && layouts.len() > 1 {
            if settings.binary.is_file() {
                match Planner::from_baseline(
                    &topology,
                    &traffic_dir,
                    settings.binary.clone(),
                    args.costs.clone(),
                    workload.start_routes(),
                )
                .await
                {
                    Ok(p) => planner = Some(p),
                    Err(e) => predictions
                        .notes
                        .push(format!("no traffic from {}: {e:#}", layout.name)),
                }
            } else {
                predictions.notes.push(format!(
                    "no predictions: `plan` runs the static binary {}, which is not there",
                    settings.binary.display()
                ));
            }
        }
        if let Some(planned) = planned {
            step(&format!(
                "predicted +{:.0} µs start p50, +{:.0} µs CPU/{}",
                planned.start_p50_us.unwrap_or(f64::NAN),
                planned.cpu_us,
                workload.words().operation,
            ));
            plans.push((index, planned));
        }
        topologies.push(figures);
        step("stopping");
        drop(topology);
    }
    if !plans.is_empty() {
        // Checked against the placements measured side by side, not minutes apart.
        let operations = args.check_orders;
        progress(&format!(
            "predictions: every placement at once, {} alternating slices of {} {} each …",
            prediction::SLICES,
            prediction::slice_size(operations),
            workload.words().operations
        ));
        let quiet = prediction::table_quiet(args.costs.as_deref())?;
        let measured = prediction::side_by_side(
            &engine,
            &layouts,
            &image,
            &options,
            workload.as_ref(),
            prediction::Pace { operations, quiet },
            CLIENT_TIMEOUT,
        )
        .await?;
        predictions.quiet_ms = quiet.as_secs_f64() * 1e3;
        predictions.measured_operations = prediction::SLICES * prediction::slice_size(operations);
        for (index, planned) in plans {
            let prediction = prediction::compare(
                &layouts[index].name,
                &planned,
                &measured[0],
                &measured[index],
            );
            progress(&format!(
                "{}: predicted {:+.0} µs start p50, {:+.0} µs CPU/{}; measured {:+.0} µs, {:+.0} µs",
                layouts[index].name,
                prediction.predicted_start_p50_us.unwrap_or(f64::NAN),
                prediction.predicted_cpu_us,
                workload.words().operation,
                prediction.measured_start_p50_us,
                prediction.measured_cpu_us
            ));
            predictions.costs = planned.costs;
            predictions.operations = planned.operations;
            predictions.placements.push(prediction);
        }
        predictions.measured = layouts
            .iter()
            .map(|layout| layout.name.clone())
            .zip(measured)
            .collect();
    }
    let scaling = if args.scaling_replicas.is_empty() {
        None
    } else {
        let modules = layouts.first().map(Layout::modules).unwrap_or_default();
        Some(crate::scaling::scaling(&engine, &modules, &image, &workload, args, &progress).await?)
    };
    let databases = match &args.postgres {
        Some(admin) => databases(app, &engine, &image, &options, &workload, args, admin).await?,
        None => Vec::new(),
    };
    Ok(Summary {
        app: app.name.to_string(),
        words: workload.words(),
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
        scaling,
        predictions: (layouts.len() > 1).then_some(predictions),
        ratios: Vec::new(),
        service_weaver: report::SERVICE_WEAVER,
    }
    .with_ratios())
}

/// The baseline on the host's network over SQLite, then over a fresh PostgreSQL database.
async fn databases(
    app: &Application,
    engine: &docker::Docker,
    image: &AppImage,
    options: &Options,
    workload: &Arc<dyn Workload>,
    args: &Args,
    admin: &str,
) -> anyhow::Result<Vec<TopologyFigures>> {
    let baseline = app.baseline();
    let database = fresh_database(admin)?;
    let no_faults = Args {
        no_faults: true,
        postgres: None,
        ..args.clone()
    };
    let mut figures = Vec::new();
    for (label, url) in [
        (format!("{}-sqlite (host network)", baseline.name), None),
        (
            format!("{}-postgres (host network)", baseline.name),
            Some(database.as_str()),
        ),
    ] {
        let step = |what: &str| progress(&format!("[db] {label}: {what}"));
        step("starting the container");
        let mut topology = Topology::start_on_host(&baseline, image, options, &label, url).await?;
        figures
            .push(measure_or_show_logs(engine, &mut topology, workload, &no_faults, &step).await?);
    }
    Ok(figures)
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

/// [`measure`], printing every container's log when it fails.
async fn measure_or_show_logs(
    engine: &docker::Docker,
    topology: &mut Topology,
    workload: &Arc<dyn Workload>,
    args: &Args,
    step: &dyn Fn(&str),
) -> anyhow::Result<TopologyFigures> {
    let measured = measure(engine, topology, workload, args, step).await;
    if measured.is_err() {
        eprintln!("{}", topology.logs().await);
    }
    measured.with_context(|| format!("measuring {} (container logs above)", topology.label))
}

async fn measure(
    engine: &docker::Docker,
    topology: &mut Topology,
    workload: &Arc<dyn Workload>,
    args: &Args,
    step: &dyn Fn(&str),
) -> anyhow::Result<TopologyFigures> {
    let client = Client::new(topology, CLIENT_TIMEOUT);
    let words = workload.words();
    // A scope per phase and round: an operation's index is unique only within its scope.
    let rounds_count = args.rounds.max(1);
    let load_scopes: Vec<String> = (1..=rounds_count).map(|r| format!("LOAD{r}")).collect();
    for scope in ["WARM", "LAT"]
        .into_iter()
        .chain(load_scopes.iter().map(String::as_str))
    {
        workload.prepare(&client, scope).await?;
    }
    step("warming up");
    workload::latencies(
        workload.as_ref(),
        &client,
        topology,
        "WARM",
        20.min(args.latency_orders),
    )
    .await?;
    step(&format!(
        "{} {} one at a time",
        args.latency_orders, words.operations
    ));
    let latencies = workload::latencies(
        workload.as_ref(),
        &client,
        topology,
        "LAT",
        args.latency_orders,
    )
    .await?;
    step(&format!(
        "start p50 {:.2} ms, to {} p50 {:.2} ms; {} {} from {} clients",
        latencies.place.p50_ms,
        words.completed,
        latencies.to_paid.p50_ms,
        args.load_orders,
        words.operations,
        args.concurrency
    ));
    // Several rounds, CPU over all of them, the round with the median throughput reported:
    // one short round is at the mercy of whatever else the machine does.
    let before = topology.usage(engine).await?;
    let mut rounds = Vec::new();
    for (round, scope) in load_scopes.iter().enumerate() {
        let t = workload::throughput(workload, &client, scope, args.load_orders, args.concurrency)
            .await?;
        step(&format!(
            "round {}: {:.0} {}/s, all {} after {:.1} s",
            round + 1,
            t.orders_per_s,
            words.operations,
            words.completed,
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
            name: node.name.clone(),
            modules: node.modules.iter().map(|m| m.to_string()).collect(),
            ready_s: node.time_to_ready.as_secs_f64(),
            memory_mib: a.memory_bytes as f64 / 1048576.0,
            cpu_us_per_order: a.cpu_ns.saturating_sub(b.cpu_ns) as f64 / 1e3 / orders,
        })
        .collect();
    let mut faults = Vec::new();
    if !args.no_faults {
        for fault in [Fault::Kill, Fault::Pause] {
            step(&format!("fault: {} {}", words.fault_module, fault.name()));
            let run =
                workload::fault_run(topology, workload, &client, fault, args.fault_plan()).await?;
            step(&format!(
                "fault {}: {} accepted / {} refused while down, recovered in {:.2} s, {}/{} effects once",
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
