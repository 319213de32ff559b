//! The comparison's figures, written as `summary.json`, `report.md` and SVG charts.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;
use plotters::prelude::*;
use serde::Serialize;

use crate::workload::{FaultRun, Latencies, Throughput, Words};

/// Published by the Service Weaver paper (Ghemawat et al., "Towards Modern Development of
/// Cloud Applications", HotOS '23): its prototype, one binary deployed as the runtime sees fit,
/// against the same application as microservices.
pub const SERVICE_WEAVER: PaperRatios = PaperRatios {
    source: "Ghemawat et al., \"Towards Modern Development of Cloud Applications\", HotOS '23",
    latency_up_to: 15.0,
    cost_up_to: 9.0,
};

/// Ratios a paper published, for comparison with ours.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct PaperRatios {
    /// Where they come from.
    pub source: &'static str,
    /// Microservices' latency over the monolith's, at most.
    pub latency_up_to: f64,
    /// Microservices' cost over the monolith's, at most.
    pub cost_up_to: f64,
}

/// One container's figures.
#[derive(Debug, Clone, Serialize)]
pub struct NodeFigures {
    /// Its name in the topology.
    pub name: String,
    /// The modules it hosts.
    pub modules: Vec<String>,
    /// From asking the engine to start it until its `/health` answered, in seconds.
    pub ready_s: f64,
    /// Memory in use after the load (working set), in MiB.
    pub memory_mib: f64,
    /// CPU time it spent on the load, per operation, in microseconds.
    pub cpu_us_per_order: f64,
}

/// One topology's figures, all from the same run.
#[derive(Debug, Clone, Serialize)]
pub struct TopologyFigures {
    /// The placement's name (or a variant's, e.g. `monolith-postgres (host network)`).
    pub kind: String,
    /// Its containers.
    pub nodes: Vec<NodeFigures>,
    /// From the first container's start until every `/ready` answered 200, in seconds.
    pub ready_s: f64,
    /// One operation at a time.
    pub latencies: Latencies,
    /// Operations from several clients at once.
    pub throughput: Throughput,
    /// CPU time of all containers per operation of the load, in microseconds.
    pub cpu_us_per_order: f64,
    /// Memory of all containers after the load, in MiB.
    pub memory_mib: f64,
    /// The fault module killed, then paused.
    pub faults: Vec<FaultRun>,
}

/// Ratios of a topology to the baseline (the baseline is 1).
#[derive(Debug, Clone, Serialize)]
pub struct Ratios {
    /// The topology.
    pub kind: String,
    /// Median latency of the starting request.
    pub place_p50: f64,
    /// 99th percentile latency of the starting request.
    pub place_p99: f64,
    /// Median time from starting an operation until it completed.
    pub to_paid_p50: f64,
    /// Throughput at the fixed concurrency.
    pub throughput: f64,
    /// CPU time per operation (the running cost).
    pub cpu_per_order: f64,
    /// Memory of all containers.
    pub memory: f64,
}

/// Everything a comparison run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// The application compared.
    pub app: String,
    /// What its workload calls things.
    pub words: Words,
    /// When, and with which settings.
    pub run: RunInfo,
    /// The image every container ran.
    pub image: ImageInfo,
    /// One entry per topology.
    pub topologies: Vec<TopologyFigures>,
    /// The baseline on the host's network over SQLite and over PostgreSQL (`--postgres`).
    pub databases: Vec<TopologyFigures>,
    /// The fault module at several replicas behind NATS, on PostgreSQL (`--scaling-replicas`).
    pub scaling: Option<crate::scaling::Scaling>,
    /// What `plan` predicted for each placement from the baseline's traffic, beside what was
    /// measured (none with a single placement).
    pub predictions: Option<crate::prediction::Predictions>,
    /// Each other topology against the baseline (the first).
    pub ratios: Vec<Ratios>,
    /// The published figures ours are set beside.
    pub service_weaver: PaperRatios,
}

/// The run's circumstances.
#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    /// Seconds since the Unix epoch.
    pub unix_time: u64,
    /// CPUs the engine's host has.
    pub cpus: usize,
    /// Operations in the latency phase (one at a time).
    pub latency_orders: usize,
    /// Operations in each round of the throughput phase.
    pub load_orders: usize,
    /// Rounds of the throughput phase (the median is reported).
    pub rounds: usize,
    /// Clients starting operations at once in the throughput phase.
    pub concurrency: usize,
    /// `extract.timeout_ms` of every container.
    pub call_timeout_ms: u64,
    /// `extract.retries` of every container.
    pub call_retries: u32,
    /// The client's own timeout per request, in seconds.
    pub client_timeout_s: u64,
}

/// The image.
#[derive(Debug, Clone, Serialize)]
pub struct ImageInfo {
    /// `name:tag`.
    pub reference: String,
    /// Size as the engine reports it, in MiB.
    pub size_mib: f64,
}

impl Summary {
    /// Computes the ratios of every topology to the first (the baseline).
    pub fn with_ratios(mut self) -> Summary {
        let Some(base) = self.topologies.first().cloned() else {
            return self;
        };
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
        self.ratios = self
            .topologies
            .iter()
            .skip(1)
            .map(|t| Ratios {
                kind: t.kind.clone(),
                place_p50: ratio(t.latencies.place.p50_ms, base.latencies.place.p50_ms),
                place_p99: ratio(t.latencies.place.p99_ms, base.latencies.place.p99_ms),
                to_paid_p50: ratio(t.latencies.to_paid.p50_ms, base.latencies.to_paid.p50_ms),
                throughput: ratio(t.throughput.orders_per_s, base.throughput.orders_per_s),
                cpu_per_order: ratio(t.cpu_us_per_order, base.cpu_us_per_order),
                memory: ratio(t.memory_mib, base.memory_mib),
            })
            .collect();
        self
    }
}

/// Writes `summary.json`, `report.md` and the charts into `dir`.
pub fn write(summary: &Summary, dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    std::fs::write(
        dir.join("summary.json"),
        serde_json::to_string_pretty(summary)?,
    )?;
    charts(summary, dir)?;
    std::fs::write(dir.join("report.md"), markdown(summary))?;
    Ok(())
}

/// CPU time of all containers over the wall time of the load phase: cores busy on average.
/// Operations per second of every throughput round, e.g. `241, 322, 346`.
fn rounds_of(t: &TopologyFigures) -> String {
    let each: Vec<String> = t
        .throughput
        .rounds
        .iter()
        .map(|r| format!("{r:.0}"))
        .collect();
    each.join(", ")
}

/// Operations of the median round over the time until its last one completed.
fn paid_per_s(t: &TopologyFigures) -> f64 {
    if t.throughput.all_paid_s > 0.0 {
        t.throughput.orders as f64 / t.throughput.all_paid_s
    } else {
        0.0
    }
}

fn cores_busy(t: &TopologyFigures) -> f64 {
    let orders = t.throughput.orders * t.throughput.rounds.len().max(1);
    let cpu_s = t.cpu_us_per_order * orders as f64 / 1e6;
    if t.throughput.wall_s > 0.0 {
        cpu_s / t.throughput.wall_s
    } else {
        0.0
    }
}

fn fault<'a>(t: &'a TopologyFigures, name: &str) -> Option<&'a FaultRun> {
    t.faults.iter().find(|f| f.fault.name() == name)
}

/// The report: every figure next to the claim it tests.
pub fn markdown(s: &Summary) -> String {
    let mut md = String::new();
    let w = &mut md;
    let words = &s.words;
    let (op, ops, done) = (&words.operation, &words.operations, &words.completed);
    let module = &words.fault_module;
    let base = s
        .topologies
        .first()
        .map_or("the baseline", |t| t.kind.as_str());
    let modules = s.topologies.first().map_or(0, |t| {
        t.nodes.iter().map(|n| n.modules.len()).sum::<usize>()
    });
    let _ = writeln!(
        w,
        "# Monolith or services? The same {}, measured {} ways\n",
        s.app,
        s.topologies.len()
    );
    let _ = writeln!(
        w,
        "One image (`{}`, {:.1} MiB, `FROM scratch`), {} placements of the same {modules} \
         modules (the application's own, from its placements), each in containers started by \
         testcontainers on a network of its own, on one machine with {} CPUs. All figures come \
         from one run (`scripts/compare.sh`); the machine is shared, so read the ratios, not \
         the absolute numbers.\n",
        s.image.reference,
        s.image.size_mib,
        s.topologies.len(),
        s.run.cpus
    );
    let _ = writeln!(w, "| topology | containers | modules per container |");
    let _ = writeln!(w, "|---|---|---|");
    for t in &s.topologies {
        let placement: Vec<String> = t
            .nodes
            .iter()
            .map(|n| format!("{}: {}", n.name, n.modules.join(", ")))
            .collect();
        let _ = writeln!(
            w,
            "| {} | {} | {} |",
            t.kind,
            t.nodes.len(),
            placement.join("; ")
        );
    }

    let _ = writeln!(w, "\n## 1. The latency and cost of the network\n");
    let _ = writeln!(
        w,
        "Claim: every module boundary that becomes a network hop costs latency and CPU. An \
         {op} starts with {} and the synchronous calls it makes; it becomes {done} through \
         events. {} {ops} one at a time (each once the one before is {done} and no node has \
         an event left in its outbox), then {} rounds of {} {ops} from {} clients at once \
         (the round with the median throughput is shown; every round is in summary.json). \
         \"start\" is the starting request; CPU is what the engine counts for the containers \
         (not the client, not Docker's port proxy); \"cores busy\" is that CPU over the wall \
         time from the first {op} of the load until the last was {done}; \"{done}/s\" is a \
         round's {ops} over the time until its last one was {done}.\n",
        words.start, s.run.latency_orders, s.run.rounds, s.run.load_orders, s.run.concurrency
    );
    let _ = writeln!(
        w,
        "| topology | start p50 ms | start p99 ms | to {done} p50 ms | to {done} p99 ms | started/s @{} | {done}/s | CPU µs/{op} | cores busy | memory MiB |",
        s.run.concurrency
    );
    let _ = writeln!(w, "|---|---|---|---|---|---|---|---|---|---|");
    for t in &s.topologies {
        let _ = writeln!(
            w,
            "| {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.0} | {:.0} | {:.0} | {:.2} | {:.1} |",
            t.kind,
            t.latencies.place.p50_ms,
            t.latencies.place.p99_ms,
            t.latencies.to_paid.p50_ms,
            t.latencies.to_paid.p99_ms,
            t.throughput.orders_per_s,
            paid_per_s(t),
            t.cpu_us_per_order,
            cores_busy(t),
            t.memory_mib
        );
    }
    let rounds: Vec<String> = s
        .topologies
        .iter()
        .map(|t| format!("{} {}", t.kind, rounds_of(t)))
        .collect();
    let _ = writeln!(
        w,
        "\n{} per second in each round: {}.",
        capitalized(ops),
        rounds.join("; ")
    );
    let _ = writeln!(
        w,
        "\n![latency](latency.svg)\n\n![cost](cost.svg)\n\nRatios to {base} (above 1 is \
         worse, except throughput), beside the Service Weaver paper's published figures \
         (monolith vs microservices: latency up to {}x, cost up to {}x; {}):\n",
        s.service_weaver.latency_up_to, s.service_weaver.cost_up_to, s.service_weaver.source
    );
    let _ = writeln!(
        w,
        "| topology | start p50 | start p99 | to {done} p50 | throughput | CPU per {op} | memory |"
    );
    let _ = writeln!(w, "|---|---|---|---|---|---|---|");
    for r in &s.ratios {
        let _ = writeln!(
            w,
            "| {} | {:.2}x | {:.2}x | {:.2}x | {:.2}x | {:.2}x | {:.2}x |",
            r.kind,
            r.place_p50,
            r.place_p99,
            r.to_paid_p50,
            r.throughput,
            r.cpu_per_order,
            r.memory
        );
    }
    let _ = writeln!(
        w,
        "| Service Weaver paper (microservices) | up to {}x | | | | up to {}x (cost) | |",
        s.service_weaver.latency_up_to, s.service_weaver.cost_up_to
    );
    if let Some(mono) = s.topologies.first() {
        let range = |t: &TopologyFigures| {
            let r = &t.throughput.rounds;
            (
                r.iter().copied().fold(f64::INFINITY, f64::min),
                r.iter().copied().fold(0.0, f64::max),
            )
        };
        let (lo, hi) = range(mono);
        for t in s.topologies.iter().skip(1) {
            let (tlo, thi) = range(t);
            let verdict = if thi < lo {
                format!("lower than {base}'s in every round")
            } else if tlo > hi {
                format!("higher than {base}'s in every round")
            } else {
                format!("within the spread of {base}'s rounds: no difference this run can show")
            };
            let _ = writeln!(w, "\nThroughput of {}: {verdict}.", t.kind);
        }
        let _ = writeln!(
            w,
            "\nAt {} clients, {:.2} of {} cores were busy in {base}. Each process writes its \
             own SQLite file through one writer (the modules of a process share its file), and \
             what follows an {op} waits on the relays. More hops cost CPU on every {op} before \
             they cost throughput, unless the cores run out.",
            s.run.concurrency,
            cores_busy(mono),
            s.run.cpus
        );
    }
    let _ = writeln!(
        w,
        "\nTheir application had far more services and hops per request than these {modules} \
         modules, and their cost counts machines, ours CPU time and memory; the direction is the \
         same, the size grows with the number of hops."
    );

    if let Some(predictions) = &s.predictions {
        prediction_section(w, s, predictions);
    }

    let _ = writeln!(w, "\n## 2. Resilience to one failing part\n");
    let _ = writeln!(
        w,
        "Claim: with {module} in its own container, a failure of {module} stops only what \
         needs it; in one process it is everyone's failure. An {op} is started every 50 ms \
         while the container hosting {module} is killed (then started again) or paused (then \
         thawed). The probe, {}, needs {module} synchronously. Everything below was read \
         through the public API.\n",
        words.probe
    );
    let _ = writeln!(
        w,
        "| topology | fault | {ops} accepted while down | refused while down | probes while down (status, ms) | probe after | recovered in s | accepted {ops} with {} |",
        words.effect
    );
    let _ = writeln!(w, "|---|---|---|---|---|---|---|---|");
    for t in &s.topologies {
        for f in &t.faults {
            let receipts: Vec<String> = f
                .receipts_during
                .iter()
                .map(|(status, ms)| format!("{status} in {ms:.0}"))
                .collect();
            let _ = writeln!(
                w,
                "| {} | {} | {} | {} | {} | {} | {:.2} | {}/{} |",
                t.kind,
                f.fault.name(),
                f.accepted_during,
                f.refused_during,
                receipts.join(", "),
                f.receipt_after,
                f.recovered_s,
                f.invoiced_once,
                f.accepted
            );
        }
    }
    let _ = writeln!(
        w,
        "\n![faults](faults.svg)\n\nStatus 0 means no HTTP answer: connection refused while the \
         process is gone, or the client's own {} s timeout while it is frozen. Where {module} \
         shares a container with everything, its failure is the application's. Where it has a \
         container of its own, what needs it answers 503 (at worst after the call timeout of \
         each attempt, {} ms × {} attempts for an idempotent request, while it is frozen, and at \
         once after that, when the circuit breaker has opened) and the rest goes on; what \
         follows through events completes when {module} returns. The last column counts the \
         accepted {ops} whose effect happened exactly once.",
        s.run.client_timeout_s,
        s.run.call_timeout_ms,
        s.run.call_retries + 1
    );

    let _ = writeln!(w, "\n## 3. Independent scaling\n");
    let _ = writeln!(
        w,
        "Claim: a module in its own container can be given more instances without copying the \
         rest."
    );
    if let Some(scaling) = &s.scaling {
        scaling_section(w, s, scaling);
    }
    let _ = writeln!(
        w,
        "What one more instance costs, in memory after the load, and where the CPU goes (the \
         placements of section 1):\n"
    );
    let _ = writeln!(w, "| topology | container | memory MiB | CPU µs per {op} |");
    let _ = writeln!(w, "|---|---|---|---|");
    for t in &s.topologies {
        for n in &t.nodes {
            let _ = writeln!(
                w,
                "| {} | {} | {:.1} | {:.0} |",
                t.kind, n.name, n.memory_mib, n.cpu_us_per_order
            );
        }
    }
    let alone = s.topologies.iter().skip(1).find_map(|t| {
        t.nodes
            .iter()
            .find(|n| n.modules.len() == 1 && n.modules[0] == *module)
    });
    if let (Some(mono), Some(alone)) = (s.topologies.first(), alone) {
        let _ = writeln!(
            w,
            "\nOne more instance of {module}: {:.1} MiB as its own container, {:.1} MiB as \
             another copy of {base}. The services pay for that option with the extra CPU per \
             {op} and memory in section 1 on every {op}, whether or not {module} ever needs \
             scaling.",
            alone.memory_mib, mono.memory_mib
        );
    }

    let _ = writeln!(w, "\n## 4. Independent deployment\n");
    let _ = writeln!(
        w,
        "Claim: an extracted module is deployed (restarted with a new version) without stopping \
         the others. The kill run above is also a deploy of {module}: the figures are how long \
         the restarted container took to be ready, and what callers saw meanwhile.\n"
    );
    let _ = writeln!(
        w,
        "| topology | whole topology ready s (first start) | {module}'s container ready s (first start) | {module}'s container ready s (restart) | {ops} refused during {module}'s restart |"
    );
    let _ = writeln!(w, "|---|---|---|---|---|");
    for t in &s.topologies {
        let ready = t
            .nodes
            .iter()
            .find(|n| n.modules.iter().any(|m| m == module))
            .map_or(0.0, |n| n.ready_s);
        let kill = fault(t, "kill");
        let _ = writeln!(
            w,
            "| {} | {:.2} | {:.2} | {:.2} | {} |",
            t.kind,
            t.ready_s,
            ready,
            kill.map_or(0.0, |f| f.restart_s),
            kill.map_or(0, |f| f.refused_during)
        );
    }
    let _ = writeln!(
        w,
        "\nEvery container runs the same image here; a team deploying {module} alone would \
         build a binary linking only it (the application's features). Deploying independently \
         also means keeping contracts compatible across versions (checked by the \
         `cleave-contract` header and ADR 5), which one process never has to."
    );
    if !s.databases.is_empty() {
        let _ = writeln!(w, "\n## 5. The database under the monolith\n");
        let _ = writeln!(
            w,
            "The same single-process container ({base}) on the host's network stack (no \
             bridge, no port proxy), over its own SQLite file and over the host's PostgreSQL, \
             same workload: what share of the figures above belongs to the database rather \
             than to the placement.\n"
        );
        let _ = writeln!(
            w,
            "| variant | start p50 ms | start p99 ms | to {done} p50 ms | started/s @{} (rounds) | {done}/s | CPU µs/{op} (container) |",
            s.run.concurrency
        );
        let _ = writeln!(w, "|---|---|---|---|---|---|---|");
        for t in &s.databases {
            let _ = writeln!(
                w,
                "| {} | {:.2} | {:.2} | {:.2} | {:.0} ({}) | {:.0} | {:.0} |",
                t.kind,
                t.latencies.place.p50_ms,
                t.latencies.place.p99_ms,
                t.latencies.to_paid.p50_ms,
                t.throughput.orders_per_s,
                rounds_of(t),
                paid_per_s(t),
                t.cpu_us_per_order
            );
        }
        let _ = writeln!(
            w,
            "\nPostgreSQL's own CPU is not in the container's figure: it runs on the host."
        );
    }
    let _ = writeln!(
        w,
        "\n## When each wins\n\nSee `ADRs/0008-no-silver-bullet.md`: the decision, with the \
         numbers of a recorded run."
    );
    md
}

/// `word` with its first letter in upper case.
fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

const TOPOLOGY_COLORS: [RGBColor; 3] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
];

type ChartResult = Result<(), Box<dyn std::error::Error>>;

/// Grouped bars: one group per metric, one bar per topology.
fn grouped_bars(
    path: &Path,
    title: &str,
    unit: &str,
    metrics: &[&str],
    topologies: &[&str],
    values: &[Vec<f64>],
) -> ChartResult {
    let root = SVGBackend::new(path, (860, 420)).into_drawing_area();
    root.fill(&WHITE)?;
    let top = values
        .iter()
        .flatten()
        .copied()
        .filter(|v| v.is_finite())
        .fold(0.0_f64, f64::max)
        * 1.15;
    let groups = metrics.len() as f64;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..groups, 0.0..top.max(1e-9))?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(metrics.len() * 2 + 1)
        .x_label_formatter(&|x| {
            let i = x.floor() as usize;
            if (x - x.floor() - 0.5).abs() < 1e-6 && i < metrics.len() {
                metrics[i].to_string()
            } else {
                String::new()
            }
        })
        .y_desc(unit)
        .draw()?;
    let width = 0.8 / topologies.len() as f64;
    for (t, name) in topologies.iter().enumerate() {
        let color = TOPOLOGY_COLORS[t % TOPOLOGY_COLORS.len()];
        chart
            .draw_series(metrics.iter().enumerate().map(|(m, _)| {
                let x0 = m as f64 + 0.1 + t as f64 * width;
                let v = values[t][m];
                Rectangle::new([(x0, 0.0), (x0 + width * 0.9, v)], color.filled())
            }))?
            .label(*name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled()));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()?;
    root.present()?;
    Ok(())
}

/// Placement latency over time during the kill run, one panel per topology.
fn fault_timeline(path: &Path, s: &Summary) -> ChartResult {
    let root = SVGBackend::new(path, (860, 200 * s.topologies.len().max(1) as u32 + 40))
        .into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(
        &format!(
            "Starting {} while {} is killed and started again (red: not accepted)",
            s.words.operations, s.words.fault_module
        ),
        ("sans-serif", 18),
    )?;
    let panels = root.split_evenly((s.topologies.len().max(1), 1));
    for (t, area) in s.topologies.iter().zip(panels.iter()) {
        let Some(run) = fault(t, "kill") else {
            continue;
        };
        let end = run.timeline.iter().map(|x| x.at_s).fold(1.0, f64::max);
        let top = run.timeline.iter().map(|x| x.ms).fold(1.0, f64::max) * 1.1;
        let mut chart = ChartBuilder::on(area)
            .caption(&t.kind, ("sans-serif", 15))
            .margin(8)
            .x_label_area_size(28)
            .y_label_area_size(56)
            .build_cartesian_2d(0.0..end, 0.0..top)?;
        chart
            .configure_mesh()
            .x_desc("s since the run started")
            .y_desc("ms")
            .draw()?;
        let (first, last) = (
            run.timeline.iter().find(|x| x.during).map(|x| x.at_s),
            run.timeline.iter().rev().find(|x| x.during).map(|x| x.at_s),
        );
        if let (Some(a), Some(b)) = (first, last) {
            chart.draw_series(std::iter::once(Rectangle::new(
                [(a, 0.0), (b, top)],
                RGBColor(200, 200, 200).mix(0.4).filled(),
            )))?;
        }
        chart.draw_series(run.timeline.iter().map(|x| {
            let color = if x.status == 201 {
                TOPOLOGY_COLORS[0]
            } else {
                RED
            };
            Circle::new((x.at_s, x.ms), 3, color.filled())
        }))?;
    }
    root.present()?;
    Ok(())
}

fn charts(s: &Summary, dir: &Path) -> anyhow::Result<()> {
    let names: Vec<&str> = s.topologies.iter().map(|t| t.kind.as_str()).collect();
    let latency: Vec<Vec<f64>> = s
        .topologies
        .iter()
        .map(|t| {
            vec![
                t.latencies.place.p50_ms,
                t.latencies.place.p99_ms,
                t.latencies.to_paid.p50_ms,
                t.latencies.to_paid.p99_ms,
                t.throughput.place.p50_ms,
            ]
        })
        .collect();
    let chart = |r: ChartResult, name: &str| r.map_err(|e| anyhow::anyhow!("chart {name}: {e}"));
    chart(
        grouped_bars(
            &dir.join("latency.svg"),
            &format!("{} latency by topology", capitalized(&s.words.operation)),
            "ms",
            &[
                "start p50",
                "start p99",
                &format!("to {} p50", s.words.completed),
                &format!("to {} p99", s.words.completed),
                "start p50 under load",
            ],
            &names,
            &latency,
        ),
        "latency",
    )?;
    let cost: Vec<Vec<f64>> = s
        .topologies
        .iter()
        .map(|t| {
            vec![
                t.cpu_us_per_order / 100.0,
                t.memory_mib,
                t.throughput.orders_per_s / 10.0,
            ]
        })
        .collect();
    chart(
        grouped_bars(
            &dir.join("cost.svg"),
            "Cost and capacity by topology",
            "see labels",
            &[
                &format!("CPU per {} (100 µs)", s.words.operation),
                "memory (MiB)",
                &format!("{}/s (x10)", s.words.operations),
            ],
            &names,
            &cost,
        ),
        "cost",
    )?;
    chart(fault_timeline(&dir.join("faults.svg"), s), "faults")?;
    Ok(())
}

/// Section 3's measured part: the module at 1..N replicas behind NATS.
fn prediction_section(w: &mut String, s: &Summary, p: &crate::prediction::Predictions) {
    let (op, base) = (
        &s.words.operation,
        s.topologies
            .first()
            .map_or("the baseline", |t| t.kind.as_str()),
    );
    let _ = writeln!(
        w,
        "\n### Predicted before it ran\n\nBefore each placement ran, the application's `plan` \
         command predicted what it adds to an {op}, from {base}'s traffic (its `/metrics` \
         after the runs above: {:.0} {ops}) and the hop cost table \"{}\". \"Start\" is the \
         extra median latency of the starting request; CPU is the extra CPU of everything \
         the traffic did, per {op}. Measured with every placement running at once \
         (placements measured minutes apart, as above, differ by more than a hop costs), in \
         {} alternating slices of {} {ops} each one at a time on a settled topology for the \
         latency, and as many one after the other for the CPU, each {op} {:.0} ms after the \
         one before was done, the pause the table was measured after (hops cost more after \
         longer pauses). The workload's polls for completion (every 2 ms) are not the {op}'s \
         cost, and a placement that completes later polls more: each placement's CPU per poll \
         is measured on a completed {op} and taken out, and so is its CPU over as much quiet \
         without {ops}. Each slice's figure is set beside {base}'s in the same slice; the \
         measured extra is the median of those differences, and \"slices\" gives their first \
         and third quartiles: how far the measurement itself spreads. The target is within \
         ±{:.0} % of the median.\n",
        p.operations,
        p.costs,
        crate::prediction::SLICES,
        p.measured_operations / crate::prediction::SLICES,
        p.quiet_ms,
        crate::prediction::TOLERANCE * 100.0,
        ops = s.words.operations,
    );
    let _ = writeln!(
        w,
        "| placement | start predicted µs | start measured µs (slices) | error | CPU/{op} predicted µs | CPU/{op} measured µs (slices) | error | polls/{op} (baseline) |"
    );
    let _ = writeln!(w, "|---|---|---|---|---|---|---|---|");
    let error = |e: Option<f64>| match (e, crate::prediction::within(e)) {
        (Some(e), Some(true)) => format!("{:+.0} %", e * 100.0),
        (Some(e), _) => format!("{:+.0} % (off)", e * 100.0),
        (None, _) => "n/a".to_string(),
    };
    for x in &p.placements {
        let _ = writeln!(
            w,
            "| {} | {} | {:+.0} ({:+.0} … {:+.0}) | {} | {:+.0} | {:+.0} ({:+.0} … {:+.0}) | {} | {:.1} ({:.1}) |",
            x.placement,
            x.predicted_start_p50_us
                .map_or("n/a".to_string(), |v| format!("{v:+.0}")),
            x.measured_start_p50_us,
            x.measured_start_quartiles_us.0,
            x.measured_start_quartiles_us.1,
            error(x.start_error),
            x.predicted_cpu_us,
            x.measured_cpu_us,
            x.measured_cpu_quartiles_us.0,
            x.measured_cpu_quartiles_us.1,
            error(x.cpu_error),
            x.polls_per_operation.0,
            x.polls_per_operation.1,
        );
    }
    for note in &p.notes {
        let _ = writeln!(w, "\n- {note}");
    }
}

fn scaling_section(w: &mut String, s: &Summary, scaling: &crate::scaling::Scaling) {
    let (op, ops) = (&s.words.operation, &s.words.operations);
    let module = &scaling.module;
    let settings = if scaling.settings.is_empty() {
        String::new()
    } else {
        format!(
            ", with {}",
            scaling
                .settings
                .iter()
                .map(|(k, v)| format!("`{k} = {v}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let _ = writeln!(
        w,
        "Measured: {module} in containers of its own at several replicas{settings}, everything \
         else in one container, both on a PostgreSQL container ({}; one database each, the \
         replicas sharing theirs), events through a NATS JetStream container ({}; the replicas \
         share one durable consumer). The same {} {ops} from {} clients each run; CPU over \
         every container, PostgreSQL's and NATS's included. The last run kills one replica \
         once the load is under way.\n",
        scaling.services.0,
        scaling.services.1,
        scaling.runs.first().map_or(0, |r| r.operations),
        s.run.concurrency
    );
    let _ = writeln!(
        w,
        "| {module} replicas | started {ops}/s | {} {ops}/s | CPU µs per {op} (all) | of which {module} | {ops} with their effect once |",
        s.words.completed
    );
    let _ = writeln!(w, "|---|---|---|---|---|---|");
    for r in &scaling.runs {
        let _ = writeln!(
            w,
            "| {}{} | {:.0} | {:.0} | {:.0} | {:.0} | {}/{} |",
            r.replicas,
            if r.killed_one { " (one killed)" } else { "" },
            r.started_per_s,
            r.completed_per_s,
            r.cpu_us_per_operation,
            r.module_cpu_us_per_operation,
            r.effects_once,
            r.operations
        );
    }
    let plain: Vec<&crate::scaling::ScalingRun> =
        scaling.runs.iter().filter(|r| !r.killed_one).collect();
    if let (Some(one), Some(most)) = (plain.first(), plain.last())
        && most.replicas > one.replicas
    {
        let _ = writeln!(
            w,
            "\n{} {ops}/s: {:.0} at {} replica(s), {:.0} at {}: {:.2}x for {:.2}x the \
             instances of {module}, and nothing else copied. When {module} is not what the \
             {ops} wait on, more replicas only add CPU.\n",
            s.words.completed,
            one.completed_per_s,
            one.replicas,
            most.completed_per_s,
            most.replicas,
            most.completed_per_s / one.completed_per_s.max(f64::MIN_POSITIVE),
            most.replicas as f64 / one.replicas as f64
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::{Fault, Percentiles, Sample};

    fn topology(kind: &str, scale: f64) -> TopologyFigures {
        let p = |ms: f64| Percentiles {
            count: 10,
            p50_ms: ms * scale,
            p99_ms: 2.0 * ms * scale,
            max_ms: 3.0 * ms * scale,
        };
        let run = |fault, refused| FaultRun {
            fault,
            accepted_during: 10 - refused,
            refused_during: refused,
            refused_outside: 0,
            receipts_during: vec![(503, 12.0)],
            receipt_after: 200,
            restart_s: 0.5,
            recovered_s: 1.5,
            accepted: 20,
            invoiced_once: 20,
            timeline: (0..30)
                .map(|i| Sample {
                    at_s: f64::from(i) * 0.1,
                    status: if (10..20).contains(&i) && refused > 0 {
                        0
                    } else {
                        201
                    },
                    ms: 3.0,
                    during: (10..20).contains(&i),
                })
                .collect(),
        };
        TopologyFigures {
            kind: kind.to_string(),
            nodes: vec![NodeFigures {
                name: "billing".into(),
                modules: vec!["billing".into()],
                ready_s: 0.4,
                memory_mib: 12.0,
                cpu_us_per_order: 900.0 * scale,
            }],
            ready_s: 0.8,
            latencies: Latencies {
                place: p(3.0),
                to_paid: p(12.0),
            },
            throughput: Throughput {
                orders: 100,
                concurrency: 8,
                orders_per_s: 300.0 / scale,
                place: p(5.0),
                all_paid_s: 1.0,
                rounds: vec![300.0 / scale],
                wall_s: 1.0,
                ids: Vec::new(),
            },
            cpu_us_per_order: 900.0 * scale,
            memory_mib: 12.0 * scale,
            faults: vec![
                run(Fault::Kill, if scale == 1.0 { 10 } else { 0 }),
                run(Fault::Pause, 0),
            ],
        }
    }

    /// The writer, on made-up figures: every file is there and every claim has its section.
    /// (What the figures are is the business of `scripts/compare.sh`, not of a test.)
    #[test]
    fn the_report_maps_figures_to_claims_and_draws_the_charts() {
        let summary = Summary {
            app: "demo".into(),
            words: Words {
                operation: "visit".into(),
                operations: "visits".into(),
                completed: "logged".into(),
                start: "`POST /api/visits`".into(),
                fault_module: "billing".into(),
                probe: "a visit's log".into(),
                effect: "one log line".into(),
            },
            run: RunInfo {
                unix_time: 0,
                cpus: 2,
                latency_orders: 10,
                load_orders: 100,
                rounds: 1,
                concurrency: 8,
                call_timeout_ms: 1000,
                call_retries: 2,
                client_timeout_s: 5,
            },
            image: ImageInfo {
                reference: "demo:test".into(),
                size_mib: 33.0,
            },
            topologies: vec![
                topology("monolith", 1.0),
                topology("billing-extracted", 1.5),
                topology("all-separate", 2.0),
            ],
            databases: Vec::new(),
            scaling: Some(crate::scaling::Scaling {
                module: "billing".into(),
                settings: vec![("module.billing.gateway_latency_ms".into(), "20".into())],
                services: ("pg:15".into(), "nats:2".into()),
                runs: [(1, false, 50.0), (3, false, 140.0), (3, true, 120.0)]
                    .into_iter()
                    .map(
                        |(replicas, killed_one, completed_per_s)| crate::scaling::ScalingRun {
                            replicas,
                            killed_one,
                            operations: 100,
                            started_per_s: 300.0,
                            completed_per_s,
                            cpu_us_per_operation: 2000.0,
                            module_cpu_us_per_operation: 500.0,
                            effects_once: 100,
                        },
                    )
                    .collect(),
            }),
            predictions: Some(crate::prediction::Predictions {
                costs: "loopback, demo".into(),
                operations: 225.0,
                measured_operations: 24,
                quiet_ms: 20.0,
                placements: vec![crate::prediction::Prediction {
                    placement: "billing-extracted".into(),
                    predicted_start_p50_us: Some(0.0),
                    measured_start_p50_us: 12.0,
                    measured_start_quartiles_us: (-20.0, 30.0),
                    predicted_cpu_us: 600.0,
                    measured_cpu_us: 450.0,
                    measured_cpu_quartiles_us: (400.0, 480.0),
                    start_error: Some(-1.0),
                    cpu_error: Some(1.0 / 3.0),
                    polls_per_operation: (2.5, 1.5),
                }],
                measured: Vec::new(),
                notes: Vec::new(),
            }),
            ratios: Vec::new(),
            service_weaver: SERVICE_WEAVER,
        }
        .with_ratios();
        assert_eq!(summary.ratios.len(), 2);
        assert!((summary.ratios[1].place_p50 - 2.0).abs() < 1e-9);
        let dir = tempfile::tempdir().unwrap();
        write(&summary, dir.path()).unwrap();
        let report = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
        for claim in [
            "The latency and cost of the network",
            "Resilience to one failing part",
            "Independent scaling",
            "Independent deployment",
            "up to 15x",
            "up to 9x",
            "The same demo, measured 3 ways",
            "to logged p50",
            "One more instance of billing",
            "| billing replicas |",
            "| 3 (one killed) | 300 | 120 |",
            "50 at 1 replica(s), 140 at 3: 2.80x for 3.00x",
            "Predicted before it ran",
            "| billing-extracted | +0 | +12 (-20 … +30) | -100 % (off) | +600 | +450 (+400 … +480) | +33 % (off) | 2.5 (1.5) |",
            "in 12 alternating slices of 2 visits each",
        ] {
            assert!(report.contains(claim), "{claim} missing from:\n{report}");
        }
        for chart in ["latency.svg", "cost.svg", "faults.svg"] {
            let svg = std::fs::read_to_string(dir.path().join(chart)).unwrap();
            assert!(
                svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"),
                "{chart}"
            );
            assert!(svg.contains("monolith"), "{chart} names the topologies");
        }
        let json: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join("summary.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(json["topologies"].as_array().unwrap().len(), 3);
    }
}
