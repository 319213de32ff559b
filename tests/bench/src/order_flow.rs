//! What the network costs a whole order: CPU time per placed-and-paid order of the real `shop`
//! binary as one process, and with billing extracted into a second process on loopback; the
//! latency and CPU of the one public route that waits for billing (`GET
//! /api/orders/{id}/receipt`, a request hop); and what the shop's own `plan` predicted that
//! extraction would add to both, from the monolith's traffic (its `/metrics` after the run), so
//! the hop cost table is checked without containers.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Serialize;
use serde_json::{Value, json};

use crate::Scale;
use crate::process::{Process, cpu_us, env_prefix, free_port, wait_healthy};
use crate::stats::{Latencies, ratio};
use cleave_app::plan::{Plan, RoutePlan};

/// Network hops of one order with billing extracted: `orders.order_placed` to billing, then
/// `billing.payment_captured` to orders and to notifications.
pub const HOPS_PER_ORDER: f64 = 3.0;

/// Order-flow figures.
#[derive(Debug, Clone, Serialize)]
pub struct OrderFlow {
    /// Orders placed and paid per topology.
    pub orders: u64,
    /// CPU µs per order, all processes of the monolith.
    pub monolith_cpu_us: f64,
    /// CPU µs per order, both processes with billing extracted.
    pub extracted_cpu_us: f64,
    /// Of which the process hosting billing, µs per order.
    pub extracted_billing_cpu_us: f64,
    /// `(extracted - monolith) / HOPS_PER_ORDER`: CPU µs one network hop costs.
    pub cpu_us_per_hop: f64,
    /// `extracted / monolith`.
    pub extracted_vs_monolith_cpu: f64,
    /// What `shop plan --placement billing-extracted` predicted an order would cost more, from
    /// the monolith's traffic: `POST /api/orders`'s extra CPU per request, µs.
    pub predicted_extra_cpu_us: f64,
    /// Measured: `extracted_cpu_us - monolith_cpu_us`.
    pub measured_extra_cpu_us: f64,
    /// `(predicted - measured) / measured`.
    pub prediction_error: f64,
    /// The receipt (`GET /api/orders/{id}/receipt`, which asks billing over the bus), asked one
    /// at a time after 1 ms idle, alternately of each topology: what extraction adds to it.
    pub receipt: Receipt,
    /// Wall-clock seconds of each run (context only).
    pub monolith_wall_s: f64,
    /// Wall-clock seconds of each run (context only).
    pub extracted_wall_s: f64,
}

/// What extracting billing adds to the receipt, a route with one request hop: measured, and
/// predicted by `plan`.
#[derive(Debug, Clone, Serialize)]
pub struct Receipt {
    /// Receipts asked of each topology.
    pub samples: u64,
    /// Median, one process, µs.
    pub monolith_p50_us: f64,
    /// Median, billing extracted, µs.
    pub extracted_p50_us: f64,
    /// `extracted_p50_us - monolith_p50_us`.
    pub measured_extra_p50_us: f64,
    /// What `plan` predicted for the route's extra median, µs.
    pub predicted_extra_p50_us: f64,
    /// `(predicted - measured) / measured`.
    pub p50_prediction_error: f64,
    /// CPU µs per receipt, all processes, one process.
    pub monolith_cpu_us: f64,
    /// CPU µs per receipt, both processes, billing extracted.
    pub extracted_cpu_us: f64,
    /// `extracted_cpu_us - monolith_cpu_us`.
    pub measured_extra_cpu_us: f64,
    /// What `plan` predicted for the route's extra CPU, µs.
    pub predicted_extra_cpu_us: f64,
    /// `(predicted - measured) / measured`.
    pub cpu_prediction_error: f64,
}

/// One topology under test: its public base URL, its paid orders and its processes.
struct Topology<'a> {
    base: &'a str,
    ids: &'a [String],
    pids: Vec<u32>,
}

/// Asks each topology for the receipts of its orders (in turn) one at a time after 1 ms idle,
/// `n` in all, in four alternating slices; returns each topology's latencies and CPU µs per
/// receipt.
async fn receipts(
    client: &reqwest::Client,
    topologies: [&Topology<'_>; 2],
    n: u64,
) -> anyhow::Result<[(Latencies, f64); 2]> {
    let mut sides = [(Latencies::default(), 0.0), (Latencies::default(), 0.0)];
    let slices = 4;
    let per_slice = (n / slices).max(1);
    for slice in 0..slices {
        for (topology, (latencies, cpu)) in topologies.iter().zip(sides.iter_mut()) {
            let mut ids = topology
                .ids
                .iter()
                .cycle()
                .skip((slice * per_slice) as usize);
            let clock =
                || -> anyhow::Result<f64> { topology.pids.iter().map(|p| cpu_us(*p)).sum() };
            let before = clock()?;
            for _ in 0..per_slice {
                let id = ids.next().context("no orders")?;
                tokio::time::sleep(Duration::from_millis(1)).await;
                let started = Instant::now();
                let v: Value = client
                    .get(format!("{}/api/orders/{id}/receipt", topology.base))
                    .send()
                    .await?
                    .error_for_status()?
                    .json()
                    .await?;
                latencies.record(started.elapsed());
                if v["invoice"].is_null() {
                    bail!("the receipt of order {id} has no invoice: {v}");
                }
            }
            *cpu += clock()? - before;
        }
    }
    let total = (slices * per_slice) as f64;
    Ok(sides.map(|(latencies, cpu)| (latencies, cpu / total)))
}

/// Starts `shop serve ARGS` with the benchmarks' shared process handling.
fn spawn(shop: &Path, args: &[String]) -> anyhow::Result<Process> {
    let args: Vec<String> = std::iter::once("serve".to_string())
        .chain(args.iter().cloned())
        .collect();
    let token = format!("{}INTERNAL_TOKEN", env_prefix(shop));
    Process::spawn(shop, &args, &[(token.as_str(), "bench")])
}

/// `--database=` a SQLite file called `name` in `dir`.
fn database_in(dir: &Path, name: &str) -> String {
    format!("--database=sqlite://{}", dir.join(name).display())
}

/// Places `orders` orders through `base` (8 at a time) and waits until all are paid; returns
/// the CPU µs each of the processes spent on it, the wall time and the orders' ids.
async fn drive(
    client: &reqwest::Client,
    base: &str,
    billing_base: &str,
    pids: &[u32],
    orders: u64,
) -> anyhow::Result<(Vec<f64>, Duration, Vec<String>)> {
    let post = |path: &str, body: Value| client.post(format!("{base}{path}")).json(&body).send();
    post(
        "/api/catalog/products",
        json!({"sku": "BENCH", "name": "Bench", "price_cents": 100}),
    )
    .await?
    .error_for_status()?;
    client
        .put(format!("{base}/api/inventory/stock/BENCH"))
        .json(&json!({"quantity": 1_000_000}))
        .send()
        .await?
        .error_for_status()?;
    let cpu = || {
        pids.iter()
            .map(|p| cpu_us(*p))
            .collect::<anyhow::Result<Vec<f64>>>()
    };
    let before = cpu()?;
    let started = Instant::now();
    let mut ids = Vec::new();
    for chunk in (0..orders).collect::<Vec<_>>().chunks(8) {
        let placed = futures::future::join_all(chunk.iter().map(|i| {
            let body =
                json!({"customer": format!("c{i}"), "lines": [{"sku": "BENCH", "quantity": 1}]});
            async move {
                let r = client
                    .post(format!("{base}/api/orders"))
                    .json(&body)
                    .send()
                    .await?;
                let r = r.error_for_status()?;
                let v: Value = r.json().await?;
                anyhow::Ok(v["id"].as_str().unwrap_or_default().to_string())
            }
        }))
        .await;
        for id in placed {
            ids.push(id?);
        }
    }
    let last = ids.last().context("no orders")?.clone();
    loop {
        let v: Value = client
            .get(format!("{base}/api/orders/{last}"))
            .send()
            .await?
            .json()
            .await?;
        if v["status"] == "paid" {
            break;
        }
        if started.elapsed() > Duration::from_secs(120) {
            bail!("orders were not paid within 2 minutes");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let spent = cpu()?.iter().zip(&before).map(|(a, b)| a - b).collect();
    let wall = started.elapsed();
    // Not measured: every order paid, each with exactly one invoice.
    for id in &ids {
        let v: Value = client
            .get(format!("{base}/api/orders/{id}"))
            .send()
            .await?
            .json()
            .await?;
        if v["status"] != "paid" {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let invoices: Value = client
            .get(format!("{billing_base}/api/billing/invoices?order_id={id}"))
            .send()
            .await?
            .json()
            .await?;
        if invoices["invoices"].as_array().map(Vec::len) != Some(1) {
            bail!("order {id} does not have exactly one invoice: {invoices}");
        }
    }
    Ok((spent, wall, ids))
}

/// `shop plan --placement billing-extracted` on `traffic`, with the cost table `costs` (the
/// shipped one when `None`).
fn plan(shop: &Path, traffic: &Path, costs: Option<&Path>) -> anyhow::Result<Plan> {
    let mut command = std::process::Command::new(shop);
    command.args([
        "plan",
        "--placement",
        "billing-extracted",
        "--json",
        "--traffic",
    ]);
    command.arg(traffic);
    if let Some(costs) = costs {
        command.arg("--costs").arg(costs);
    }
    let output = command.output().context("run shop plan")?;
    if !output.status.success() {
        bail!(
            "shop plan failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    serde_json::from_slice(&output.stdout).context("plan's JSON")
}

/// The plan's prediction for `method route`.
fn route<'p>(plan: &'p Plan, method: &str, route: &str) -> anyhow::Result<&'p RoutePlan> {
    plan.routes
        .iter()
        .find(|r| r.method == method && r.route == route)
        .with_context(|| format!("plan has no prediction for {method} {route}"))
}

/// Runs both topologies with the `shop` binary at `shop`; `costs` is the hop cost table the
/// prediction uses (the shipped one when `None`).
pub async fn order_flow(
    shop: &Path,
    scale: Scale,
    costs: Option<&Path>,
) -> anyhow::Result<OrderFlow> {
    // Each topology's databases live in a scratch directory of its own.
    let shop = &shop
        .canonicalize()
        .with_context(|| format!("no shop binary at {} (build it first)", shop.display()))?;
    let orders = scale.pick(400, 16);
    let client = reqwest::Client::new();

    let mono_dir = tempfile::tempdir()?;
    let (public, internal) = (free_port(), free_port());
    let mono = spawn(
        shop,
        &[
            format!("--listen=127.0.0.1:{public}"),
            format!("--internal-listen=127.0.0.1:{internal}"),
            database_in(mono_dir.path(), "shop.db"),
        ],
    )?;
    let mono_base = format!("http://127.0.0.1:{public}");
    wait_healthy(&client, &mono_base).await?;
    let (mono_cpu, mono_wall, mono_ids) =
        drive(&client, &mono_base, &mono_base, &[mono.id()], orders).await?;

    let dir = tempfile::tempdir()?;
    let ports: Vec<u16> = (0..4).map(|_| free_port()).collect();
    let main_internal = format!("http://127.0.0.1:{}", ports[1]);
    let billing_internal = format!("http://127.0.0.1:{}", ports[3]);
    let main = spawn(
        shop,
        &[
            format!("--listen=127.0.0.1:{}", ports[0]),
            format!("--internal-listen=127.0.0.1:{}", ports[1]),
            database_in(dir.path(), "main.db"),
            "--modules=catalog,inventory,orders,notifications".into(),
            format!("--remote=billing={billing_internal}"),
        ],
    )?;
    let billing = spawn(
        shop,
        &[
            format!("--listen=127.0.0.1:{}", ports[2]),
            format!("--internal-listen=127.0.0.1:{}", ports[3]),
            database_in(dir.path(), "billing.db"),
            "--modules=billing".into(),
            format!("--remote=orders={main_internal},notifications={main_internal}"),
        ],
    )?;
    let base = format!("http://127.0.0.1:{}", ports[0]);
    let billing_base = format!("http://127.0.0.1:{}", ports[2]);
    wait_healthy(&client, &base).await?;
    wait_healthy(&client, &billing_base).await?;
    let (extracted_cpu, extracted_wall, ids) = drive(
        &client,
        &base,
        &billing_base,
        &[main.id(), billing.id()],
        orders,
    )
    .await?;

    // The receipt, alternately of each (both topologies are up and idle between receipts).
    let n = scale.pick(2_000, 16);
    let [
        (mono_receipt, mono_receipt_cpu),
        (split_receipt, split_receipt_cpu),
    ] = receipts(
        &client,
        [
            &Topology {
                base: &mono_base,
                ids: &mono_ids,
                pids: vec![mono.id()],
            },
            &Topology {
                base: &base,
                ids: &ids,
                pids: vec![main.id(), billing.id()],
            },
        ],
        n,
    )
    .await?;

    // The prediction, from the monolith's traffic (its orders and its receipts).
    let traffic = mono_dir.path().join("monolith-traffic.prom");
    let page = client
        .get(format!("http://127.0.0.1:{internal}/metrics"))
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?;
    std::fs::write(&traffic, page)?;
    let plan = plan(shop, &traffic, costs)?;
    let predicted_extra_cpu_us = route(&plan, "POST", "/api/orders")?.extra_cpu_us.round();
    let receipt_plan = route(&plan, "GET", "/api/orders/{id}/receipt")?;
    drop((mono, main, billing));

    let per_order = |cpu: f64| (cpu / orders as f64).round();
    let monolith_cpu_us = per_order(mono_cpu.iter().sum());
    let extracted_cpu_us = per_order(extracted_cpu.iter().sum());
    let (mono_receipt, split_receipt) = (mono_receipt.summary(), split_receipt.summary());
    let measured_extra_p50_us = split_receipt.p50_us - mono_receipt.p50_us;
    let measured_receipt_cpu_us = (split_receipt_cpu - mono_receipt_cpu).round();
    Ok(OrderFlow {
        orders,
        monolith_cpu_us,
        extracted_cpu_us,
        extracted_billing_cpu_us: per_order(extracted_cpu[1]),
        cpu_us_per_hop: ((extracted_cpu_us - monolith_cpu_us) / HOPS_PER_ORDER).round(),
        extracted_vs_monolith_cpu: ratio(extracted_cpu_us, monolith_cpu_us),
        predicted_extra_cpu_us,
        measured_extra_cpu_us: extracted_cpu_us - monolith_cpu_us,
        prediction_error: ratio(
            predicted_extra_cpu_us - (extracted_cpu_us - monolith_cpu_us),
            extracted_cpu_us - monolith_cpu_us,
        ),
        receipt: Receipt {
            samples: mono_receipt.samples,
            monolith_p50_us: mono_receipt.p50_us,
            extracted_p50_us: split_receipt.p50_us,
            measured_extra_p50_us,
            predicted_extra_p50_us: receipt_plan.extra_p50_us.round(),
            p50_prediction_error: ratio(
                receipt_plan.extra_p50_us - measured_extra_p50_us,
                measured_extra_p50_us,
            ),
            monolith_cpu_us: mono_receipt_cpu.round(),
            extracted_cpu_us: split_receipt_cpu.round(),
            measured_extra_cpu_us: measured_receipt_cpu_us,
            predicted_extra_cpu_us: receipt_plan.extra_cpu_us.round(),
            cpu_prediction_error: ratio(
                receipt_plan.extra_cpu_us - measured_receipt_cpu_us,
                measured_receipt_cpu_us,
            ),
        },
        monolith_wall_s: mono_wall.as_secs_f64(),
        extracted_wall_s: extracted_wall.as_secs_f64(),
    })
}
