//! `plan` checked against reality. Once the baseline has run, its traffic (every node's
//! `/metrics`) is saved; before each other placement runs, the application's own `plan`
//! command predicts from that traffic what the placement adds to an operation (the start
//! routes' extra median latency, and the extra CPU of everything the traffic did, per
//! operation). After the run the report sets each prediction beside what was measured.
//!
//! The measured side is a difference of two runs on a shared machine: the baseline's figure is
//! subtracted, so a small extra cost is a small difference of two noisy numbers.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::report::TopologyFigures;
use crate::topology::Topology;

/// How close a prediction must be to count as right (the target), as a fraction of the
/// measured value.
pub const TOLERANCE: f64 = 0.30;

/// One placement's prediction beside its measurement.
#[derive(Debug, Clone, Serialize)]
pub struct Prediction {
    /// The placement.
    pub placement: String,
    /// `plan`'s extra median latency of the start routes, microseconds (none when the workload
    /// names no start route, or the traffic has none of them).
    pub predicted_start_p50_us: Option<f64>,
    /// Measured: the placement's start p50 minus the baseline's, microseconds.
    pub measured_start_p50_us: f64,
    /// `plan`'s extra CPU per operation, microseconds: every route's extra CPU per request
    /// times its requests in the traffic, over the operations started.
    pub predicted_cpu_us: f64,
    /// Measured: the placement's CPU per operation minus the baseline's, microseconds.
    pub measured_cpu_us: f64,
    /// (predicted − measured) / measured for the latency; 0 when neither predicted nor
    /// measured a cost; none without a prediction, or when a cost was predicted and the
    /// measured difference is not positive.
    pub start_error: Option<f64>,
    /// (predicted − measured) / measured for the CPU, as for the latency.
    pub cpu_error: Option<f64>,
}

/// What the predictions were made from.
#[derive(Debug, Clone, Serialize)]
pub struct Predictions {
    /// The hop cost table `plan` used (its `measured` line).
    pub costs: String,
    /// Operations the traffic's start route served (the divisor of the CPU prediction).
    pub operations: f64,
    /// One per placement after the baseline.
    pub placements: Vec<Prediction>,
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

/// Sets `planned` beside what `measured` shows against `baseline`.
pub fn compare(
    placement: &str,
    planned: &Planned,
    baseline: &TopologyFigures,
    measured: &TopologyFigures,
) -> Prediction {
    let measured_start_p50_us =
        (measured.latencies.place.p50_ms - baseline.latencies.place.p50_ms) * 1e3;
    let measured_cpu_us = measured.cpu_us_per_order - baseline.cpu_us_per_order;
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
        predicted_cpu_us: planned.cpu_us,
        measured_cpu_us,
        start_error: planned
            .start_p50_us
            .and_then(|p| error(p, measured_start_p50_us)),
        cpu_error: error(planned.cpu_us, measured_cpu_us),
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
}
