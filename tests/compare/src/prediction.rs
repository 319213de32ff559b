//! `plan` checked against reality. Once the baseline has run, its traffic (every node's
//! `/metrics`) is saved; before each other placement runs, the application's own `plan`
//! command predicts from that traffic what the placement adds to an operation (the start
//! routes' extra median latency, and the extra CPU of everything the traffic did, per
//! operation). After the run the report sets each prediction beside what was measured.
//!
//! The measured side is a difference of two placements' figures on a shared machine, so a
//! small extra cost is a small difference of two noisy numbers. Placements measured minutes
//! apart (the runs of section 1) differ by more than a hop costs, so the prediction is checked
//! against a measurement of its own, [`side_by_side`]: every placement running at once, in
//! alternating slices, one operation at a time, as `plan`'s hop table is measured.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::application::Layout;
use crate::docker::Docker;
use crate::image::AppImage;
use crate::topology::{Options, Topology};
use crate::workload::{Client, Percentiles, Workload, start_one, wait_completed};

/// How close a prediction must be to count as right (the target), as a fraction of the
/// measured value.
pub const TOLERANCE: f64 = 0.30;

/// What a prediction is checked against: one placement's figures, measured side by side with
/// the others ([`side_by_side`]), slice by slice.
#[derive(Debug, Clone, Serialize)]
pub struct Measured {
    /// Median latency of the starting request in each slice, one operation at a time on a
    /// settled topology, microseconds.
    pub start_p50_us: Vec<f64>,
    /// CPU of all the placement's containers per operation in each slice, operations one after
    /// the other, without the workload's polls for completion, microseconds.
    pub cpu_us: Vec<f64>,
    /// Polls for completion per operation of the CPU slices (a placement that completes later
    /// is asked more often). Their CPU, measured by asking about a completed operation as
    /// often, as fast, is not in `cpu_us`.
    pub polls_per_operation: f64,
    /// What `cpu_us` was computed from, node by node: a placement's extra is a small
    /// difference of large sums, and these show which node's figure moved.
    pub nodes: Vec<NodeSlices>,
}

/// One node's CPU in each slice of [`side_by_side`], microseconds per operation of the slice,
/// before anything is taken out.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NodeSlices {
    /// The node (container) name.
    pub node: String,
    /// Over the operations, one after the other.
    pub operations_us: Vec<f64>,
    /// Over as many polls of a completed operation.
    pub polls_us: Vec<f64>,
    /// Over as much quiet with no operation.
    pub quiet_us: Vec<f64>,
}

/// Slices each placement gets in [`side_by_side`], alternating with the others. Each slice's
/// figure is set beside the baseline's figure of the same slice, and the median of those
/// differences is the measured extra: a slice disturbed by the rest of a shared machine moves
/// one difference of twelve, not the result, and the differences' quartiles show how far the
/// measurement itself spreads.
pub const SLICES: usize = 12;

/// Operations per slice of [`side_by_side`] for `operations` in all (at least one).
pub fn slice_size(operations: usize) -> usize {
    (operations / SLICES).max(1)
}

/// How many operations [`side_by_side`] runs, and how far apart.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    /// Operations per placement, for its latency and for its CPU each.
    pub operations: usize,
    /// The quiet before each operation.
    pub quiet: Duration,
}

/// The pause before each message of the hop cost table `costs` (its `idle_ms`), for
/// [`side_by_side`]'s quiet; 1 ms, the default's, for the shipped table and for tables
/// measured before they recorded it.
pub fn table_quiet(costs: Option<&Path>) -> anyhow::Result<Duration> {
    let idle_ms = match costs {
        None => None,
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("read {}", path.display()))?;
            let table: serde_json::Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", path.display()))?;
            table["idle_ms"].as_f64()
        }
    };
    Ok(Duration::from_secs_f64(
        idle_ms.unwrap_or(1.0).max(0.0) / 1e3,
    ))
}

/// The workload scope of the side-by-side operations.
const SCOPE: &str = "PAIRED";

/// Measures every placement of `layouts` side by side: all running at once, then
/// [`SLICES`] rounds in which each placement in turn gets a slice of `operations / SLICES`
/// operations one at a time, each started `quiet` after the one before completed and the
/// topology settled (their start latency), then as many again, each started `quiet` after the
/// one before completed, with the CPU of its containers read before and after (waiting for it
/// to settle at the end), then as many polls for completion of an operation already
/// completed, paced alike, for the CPU of a poll, and as much quiet again with no operation,
/// for the CPU the processes spend idle. The polls are not the operation's cost, and a
/// placement that completes later polls more: their CPU is taken out, and so is the idle CPU.
/// `quiet` should be the pause the hop cost table was measured after (hops cost more after
/// longer pauses), long enough for an operation's asynchronous tail to finish before the
/// next one starts. A change of the machine's speed during the run touches every placement
/// alike. Returns each placement's figures, slice by slice, in the order of `layouts`.
pub async fn side_by_side(
    engine: &Docker,
    layouts: &[Layout],
    image: &AppImage,
    options: &Options,
    workload: &dyn Workload,
    pace: Pace,
    client_timeout: Duration,
) -> anyhow::Result<Vec<Measured>> {
    let Pace { operations, quiet } = pace;
    let mut topologies = Vec::with_capacity(layouts.len());
    for layout in layouts {
        topologies.push(Topology::start(layout, image, options).await?);
    }
    let clients: Vec<Client> = topologies
        .iter()
        .map(|t| Client::new(t, client_timeout))
        .collect();
    for client in &clients {
        workload.prepare(client, SCOPE).await?;
    }
    let per_slice = slice_size(operations);
    let mut started = vec![0; topologies.len()];
    let mut measured: Vec<Measured> = topologies
        .iter()
        .map(|topology| Measured {
            start_p50_us: Vec::with_capacity(SLICES),
            cpu_us: Vec::with_capacity(SLICES),
            polls_per_operation: 0.0,
            nodes: topology
                .containers()
                .map(|(node, _)| NodeSlices {
                    node: node.to_string(),
                    ..NodeSlices::default()
                })
                .collect(),
        })
        .collect();
    let settle = Duration::from_secs(30);
    let poll = Duration::from_millis(2);
    // One operation of placement `i`: its start latency and the polls until it completed.
    let one =
        async |i: usize, started: &mut Vec<usize>| -> anyhow::Result<(Duration, usize, String)> {
            let clock = Instant::now();
            let id = start_one(workload, &clients[i], SCOPE, started[i]).await?;
            let latency = clock.elapsed();
            started[i] += 1;
            let asked = wait_completed(workload, &clients[i], &id, poll, settle).await?;
            Ok((latency, asked, id))
        };
    // Warm every placement's connections and caches first.
    for (i, topology) in topologies.iter().enumerate() {
        for _ in 0..per_slice.min(10) {
            one(i, &mut started).await?;
        }
        topology.wait_settled(settle).await?;
    }
    let per_slice_f = per_slice as f64;
    for _ in 0..SLICES {
        for (i, topology) in topologies.iter().enumerate() {
            let mut starts = Vec::with_capacity(per_slice);
            for _ in 0..per_slice {
                topology.wait_settled(settle).await?;
                tokio::time::sleep(quiet).await;
                let (latency, _, _) = one(i, &mut started).await?;
                starts.push(latency);
            }
            measured[i]
                .start_p50_us
                .push(Percentiles::of(&starts).p50_ms * 1e3);
            topology.wait_settled(settle).await?;
            let mut polls = 0;
            let (last, cpu_ns) = cpu_during(engine, topology, async {
                let mut last = String::new();
                for _ in 0..per_slice {
                    tokio::time::sleep(quiet).await;
                    let (_, asked, id) = one(i, &mut started).await?;
                    polls += asked;
                    last = id;
                }
                topology.wait_settled(settle).await?;
                Ok(last)
            })
            .await?;
            // The CPU of a poll, asked as the operations were waited for.
            let ((), poll_cpu_ns) = cpu_during(engine, topology, async {
                for _ in 0..per_slice {
                    tokio::time::sleep(poll).await;
                    anyhow::ensure!(
                        workload.completed(&clients[i], &last).await,
                        "{} {last} no longer reads as {}",
                        workload.words().operation,
                        workload.words().completed
                    );
                }
                Ok(())
            })
            .await?;
            // The CPU of the quiet between operations.
            let ((), idle_cpu_ns) = cpu_during(engine, topology, async {
                tokio::time::sleep(quiet * u32::try_from(per_slice)?).await;
                Ok(())
            })
            .await?;
            let polls_per_operation = polls as f64 / per_slice_f;
            let us_per_operation = |ns: u64| ns as f64 / 1e3 / per_slice_f;
            let sum = |nodes: &[u64]| nodes.iter().sum::<u64>();
            measured[i].cpu_us.push(
                us_per_operation(sum(&cpu_ns))
                    - polls_per_operation * us_per_operation(sum(&poll_cpu_ns))
                    - us_per_operation(sum(&idle_cpu_ns)),
            );
            for (k, node) in measured[i].nodes.iter_mut().enumerate() {
                node.operations_us.push(us_per_operation(cpu_ns[k]));
                node.polls_us.push(us_per_operation(poll_cpu_ns[k]));
                node.quiet_us.push(us_per_operation(idle_cpu_ns[k]));
            }
            measured[i].polls_per_operation += polls_per_operation / SLICES as f64;
        }
    }
    Ok(measured)
}

/// Runs `work`; returns its result and the CPU time each of `topology`'s containers spent
/// meanwhile, nanoseconds, in the order of [`Topology::containers`].
async fn cpu_during<T>(
    engine: &Docker,
    topology: &Topology,
    work: impl Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<(T, Vec<u64>)> {
    let before = topology.cpu(engine).await?;
    let result = work.await?;
    let after = topology.cpu(engine).await?;
    let spent = after
        .iter()
        .zip(&before)
        .map(|((_, after), (_, before))| after.saturating_sub(*before))
        .collect();
    Ok((result, spent))
}

/// One placement's prediction beside its measurement.
#[derive(Debug, Clone, Serialize)]
pub struct Prediction {
    /// The placement.
    pub placement: String,
    /// `plan`'s extra median latency of the start routes, microseconds (none when the workload
    /// names no start route, or the traffic has none of them).
    pub predicted_start_p50_us: Option<f64>,
    /// Measured side by side: the median over the slices of the placement's start p50 minus
    /// the baseline's in the same slice, microseconds.
    pub measured_start_p50_us: f64,
    /// The first and third quartiles of those slice differences: how far the measurement
    /// itself spreads.
    pub measured_start_quartiles_us: (f64, f64),
    /// `plan`'s extra CPU per operation, microseconds: every route's extra CPU per request
    /// times its requests in the traffic, over the operations started.
    pub predicted_cpu_us: f64,
    /// Measured side by side: the median over the slices of the placement's CPU per operation
    /// minus the baseline's in the same slice, microseconds.
    pub measured_cpu_us: f64,
    /// The first and third quartiles of those slice differences.
    pub measured_cpu_quartiles_us: (f64, f64),
    /// (predicted − measured) / measured for the latency; 0 when neither predicted nor
    /// measured a cost; none without a prediction, or when a cost was predicted and the
    /// measured difference is not positive.
    pub start_error: Option<f64>,
    /// (predicted − measured) / measured for the CPU, as for the latency.
    pub cpu_error: Option<f64>,
    /// The placement's polls for completion per operation, and (after `/`) the baseline's:
    /// their CPU is taken out of both measured figures.
    pub polls_per_operation: (f64, f64),
}

/// What the predictions were made from.
#[derive(Debug, Clone, Serialize)]
pub struct Predictions {
    /// The hop cost table `plan` used (its `measured` line).
    pub costs: String,
    /// Operations the traffic's start route served (the divisor of the CPU prediction).
    pub operations: f64,
    /// Operations each placement ran for the side-by-side measurement, for its latency and
    /// for its CPU each ([`side_by_side`]).
    pub measured_operations: usize,
    /// The quiet before each of those operations, milliseconds: the pause the hop cost table
    /// was measured after.
    pub quiet_ms: f64,
    /// One per placement after the baseline.
    pub placements: Vec<Prediction>,
    /// Every placement's side-by-side figures, slice by slice, the baseline's first.
    pub measured: Vec<(String, Measured)>,
    /// What went wrong, when a prediction could not be made.
    pub notes: Vec<String>,
}

/// Runs `<binary> plan` for the placements.
pub struct Planner {
    binary: PathBuf,
    costs: Option<PathBuf>,
    traffic: PathBuf,
    start_routes: Vec<(&'static str, &'static str)>,
}

/// A placement's plan, reduced to what the comparison measures.
#[derive(Debug, Clone)]
pub struct Planned {
    /// See [`Prediction::predicted_start_p50_us`].
    pub start_p50_us: Option<f64>,
    /// See [`Prediction::predicted_cpu_us`].
    pub cpu_us: f64,
    /// Operations in the traffic.
    pub operations: f64,
    /// The cost table's `measured` line.
    pub costs: String,
}

impl Planner {
    /// Saves the traffic of `baseline` (all its nodes' `/metrics`, concatenated: the planner
    /// adds the samples up) into `dir`, for `binary`'s `plan` to read.
    pub async fn from_baseline(
        baseline: &Topology,
        dir: &Path,
        binary: PathBuf,
        costs: Option<PathBuf>,
        start_routes: Vec<(&'static str, &'static str)>,
    ) -> anyhow::Result<Planner> {
        let http = reqwest::Client::new();
        let mut page = String::new();
        for node in &baseline.nodes {
            let url = format!("{}/metrics", node.internal_url);
            let text = http
                .get(&url)
                .send()
                .await
                .and_then(reqwest::Response::error_for_status)
                .with_context(|| format!("scrape {url}"))?
                .text()
                .await
                .with_context(|| format!("read {url}"))?;
            page.push_str(&text);
            page.push('\n');
        }
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
        let traffic = dir.join("baseline-traffic.prom");
        std::fs::write(&traffic, page).with_context(|| format!("write {}", traffic.display()))?;
        Ok(Planner {
            binary,
            costs,
            traffic,
            start_routes,
        })
    }

    /// `plan --placement NAME --json`, reduced.
    pub fn plan(&self, placement: &str) -> anyhow::Result<Planned> {
        let mut command = std::process::Command::new(&self.binary);
        command.args(["plan", "--placement", placement, "--traffic"]);
        command.arg(&self.traffic).arg("--json");
        if let Some(costs) = &self.costs {
            command.arg("--costs").arg(costs);
        }
        let output = command
            .output()
            .with_context(|| format!("run {} plan", self.binary.display()))?;
        anyhow::ensure!(
            output.status.success(),
            "{} plan --placement {placement} failed: {}",
            self.binary.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        let plan: PlanJson = serde_json::from_slice(&output.stdout).context("plan's JSON")?;
        Ok(reduce(&plan, &self.start_routes))
    }
}

/// What the comparison reads of `plan --json` (`cleave_app::plan::Plan`): a field the
/// command stops writing is an error here, not a silent zero.
#[derive(Debug, Deserialize)]
struct PlanJson {
    costs: String,
    routes: Vec<RouteJson>,
}

/// One route of [`PlanJson`] (`cleave_app::plan::RoutePlan`).
#[derive(Debug, Deserialize)]
struct RouteJson {
    method: String,
    route: String,
    requests: f64,
    extra_p50_us: f64,
    extra_cpu_us: f64,
}

/// The start routes' summed extra p50, and the extra CPU of all routes per operation (the
/// first start route's requests count the operations).
fn reduce(plan: &PlanJson, start_routes: &[(&str, &str)]) -> Planned {
    let route = |method: &str, pattern: &str| {
        plan.routes
            .iter()
            .find(|r| r.method == method && r.route == pattern)
    };
    let operations = start_routes
        .first()
        .and_then(|(m, p)| route(m, p))
        .map_or(0.0, |r| r.requests);
    let start_p50_us = start_routes
        .iter()
        .map(|(m, p)| route(m, p).map(|r| r.extra_p50_us))
        .sum::<Option<f64>>();
    let total_cpu_us: f64 = plan
        .routes
        .iter()
        .map(|r| r.extra_cpu_us * r.requests)
        .sum();
    Planned {
        start_p50_us,
        cpu_us: if operations > 0.0 {
            total_cpu_us / operations
        } else {
            0.0
        },
        operations,
        costs: plan.costs.clone(),
    }
}

/// The median and the first and third quartiles of `placement − baseline`, slice by slice
/// (linear interpolation between the closest ranks). Slices one side lacks are left out.
pub fn slice_differences(baseline: &[f64], placement: &[f64]) -> (f64, (f64, f64)) {
    let mut differences: Vec<f64> = placement.iter().zip(baseline).map(|(p, b)| p - b).collect();
    differences.sort_by(f64::total_cmp);
    let quantile = |q: f64| {
        let Some(last) = differences.len().checked_sub(1) else {
            return 0.0;
        };
        let rank = q * last as f64;
        let (below, above) = (rank.floor() as usize, rank.ceil() as usize);
        differences[below] + (differences[above] - differences[below]) * (rank - below as f64)
    };
    (quantile(0.5), (quantile(0.25), quantile(0.75)))
}

/// Sets `planned` beside what `measured` shows against `baseline`.
pub fn compare(
    placement: &str,
    planned: &Planned,
    baseline: &Measured,
    measured: &Measured,
) -> Prediction {
    let (measured_start_p50_us, measured_start_quartiles_us) =
        slice_differences(&baseline.start_p50_us, &measured.start_p50_us);
    let (measured_cpu_us, measured_cpu_quartiles_us) =
        slice_differences(&baseline.cpu_us, &measured.cpu_us);
    let error = |predicted: f64, measured: f64| {
        if measured > 0.0 {
            Some((predicted - measured) / measured)
        } else if predicted <= 0.0 {
            // Nothing predicted, nothing measured (a difference at or below zero is noise).
            Some(0.0)
        } else {
            None
        }
    };
    Prediction {
        placement: placement.to_string(),
        predicted_start_p50_us: planned.start_p50_us,
        measured_start_p50_us,
        measured_start_quartiles_us,
        predicted_cpu_us: planned.cpu_us,
        measured_cpu_us,
        measured_cpu_quartiles_us,
        start_error: planned
            .start_p50_us
            .and_then(|p| error(p, measured_start_p50_us)),
        cpu_error: error(planned.cpu_us, measured_cpu_us),
        polls_per_operation: (measured.polls_per_operation, baseline.polls_per_operation),
    }
}

/// Whether a relative error is within [`TOLERANCE`].
pub fn within(error: Option<f64>) -> Option<bool> {
    error.map(|e| e.abs() <= TOLERANCE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_cpu_of_every_route_is_spread_over_the_operations() {
        let plan: PlanJson = serde_json::from_value(json!({
            "costs": "loopback",
            "routes": [
                {"method": "POST", "route": "/api/orders", "requests": 100.0,
                 "extra_p50_us": 400.0, "extra_cpu_us": 900.0},
                {"method": "GET", "route": "/api/orders/{id}", "requests": 300.0,
                 "extra_p50_us": 0.0, "extra_cpu_us": 100.0},
            ],
        }))
        .unwrap();
        let planned = reduce(&plan, &[("POST", "/api/orders")]);
        assert_eq!(planned.operations, 100.0);
        assert_eq!(planned.start_p50_us, Some(400.0));
        // (100 × 900 + 300 × 100) / 100
        assert_eq!(planned.cpu_us, 1200.0);
        assert_eq!(planned.costs, "loopback");
        let unseen = reduce(&plan, &[("POST", "/api/orders"), ("POST", "/api/loans")]);
        assert_eq!(unseen.start_p50_us, None, "a start route the traffic lacks");
        let drifted =
            json!({"costs": "x", "routes": [{"method": "GET", "route": "/", "requests": 1.0}]});
        assert!(
            serde_json::from_value::<PlanJson>(drifted).is_err(),
            "a field plan no longer writes is an error, not a zero"
        );
    }

    #[test]
    fn the_measured_extra_is_the_median_of_the_slice_differences() {
        // One slice disturbed (the placement's fourth) moves one difference, not the result.
        let baseline = [1000.0, 1100.0, 900.0, 1000.0, 1050.0];
        let placement = [1500.0, 1620.0, 1390.0, 4000.0, 1560.0];
        let (median, (q1, q3)) = slice_differences(&baseline, &placement);
        // Differences: 500, 520, 490, 3000, 510 → sorted 490, 500, 510, 520, 3000.
        assert_eq!(median, 510.0);
        assert_eq!((q1, q3), (500.0, 520.0));
        let (even, (low, high)) = slice_differences(&[0.0; 4], &[10.0, 20.0, 30.0, 40.0]);
        assert_eq!(even, 25.0);
        assert_eq!((low, high), (17.5, 32.5));
        assert_eq!(slice_differences(&[], &[]), (0.0, (0.0, 0.0)));
        let planned = Planned {
            start_p50_us: Some(100.0),
            cpu_us: 600.0,
            operations: 10.0,
            costs: "x".into(),
        };
        let measured = |start: f64, cpu: f64| Measured {
            start_p50_us: vec![start; 3],
            cpu_us: vec![cpu; 3],
            polls_per_operation: 2.0,
            nodes: Vec::new(),
        };
        let prediction = compare(
            "p",
            &planned,
            &measured(800.0, 1000.0),
            &measured(880.0, 1500.0),
        );
        assert_eq!(prediction.measured_start_p50_us, 80.0);
        assert_eq!(prediction.measured_cpu_us, 500.0);
        assert_eq!(prediction.measured_cpu_quartiles_us, (500.0, 500.0));
        assert_eq!(prediction.start_error, Some(0.25));
        assert_eq!(prediction.cpu_error, Some(0.2));
    }
}
