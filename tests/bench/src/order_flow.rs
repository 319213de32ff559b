//! What the network costs a whole order: CPU time per placed-and-paid order of the real `shop`
//! binary as one process, and with billing extracted into a second process on loopback.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Serialize;
use serde_json::{Value, json};

use crate::Scale;

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
    /// `(extracted - monolith) / HOPS_PER_ORDER`: CPU µs one network hop costs.
    pub cpu_us_per_hop: f64,
    /// `extracted / monolith`.
    pub extracted_vs_monolith_cpu: f64,
    /// Wall-clock seconds of each run (context only).
    pub monolith_wall_s: f64,
    /// Wall-clock seconds of each run (context only).
    pub extracted_wall_s: f64,
}

struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// CPU time (user + system, all threads) of `pid` so far, in microseconds.
fn cpu_us(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')').context("malformed stat")? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>()? + fields[12].parse::<f64>()?;
    Ok(ticks * 1_000_000.0 / clock_ticks_per_second())
}

fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

fn spawn(shop: &Path, dir: &Path, args: &[String]) -> anyhow::Result<Process> {
    let mut command = Command::new(shop);
    command
        .current_dir(dir)
        .arg("serve")
        .args(args)
        .env("RUST_LOG", "error")
        .env("SHOP_INTERNAL_TOKEN", "bench")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (key, _) in std::env::vars() {
        if key.starts_with("SHOP_") && key != "SHOP_INTERNAL_TOKEN" {
            command.env_remove(key);
        }
    }
    Ok(Process(
        command
            .spawn()
            .with_context(|| format!("starting {}", shop.display()))?,
    ))
}

async fn wait_healthy(client: &reqwest::Client, base: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(r) = client.get(format!("{base}/health")).send().await
            && r.status().is_success()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("{base} did not become healthy")
}

/// Places `orders` orders through `base` (8 at a time) and waits until all are paid; returns
/// the CPU µs the processes spent on it and the wall time.
async fn drive(
    client: &reqwest::Client,
    base: &str,
    billing_base: &str,
    pids: &[u32],
    orders: u64,
) -> anyhow::Result<(f64, Duration)> {
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
    let before: f64 = pids
        .iter()
        .map(|p| cpu_us(*p))
        .sum::<anyhow::Result<f64>>()?;
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
    let after: f64 = pids
        .iter()
        .map(|p| cpu_us(*p))
        .sum::<anyhow::Result<f64>>()?;
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
    Ok((after - before, wall))
}

/// Runs both topologies with the `shop` binary at `shop`.
pub async fn order_flow(shop: &Path, scale: Scale) -> anyhow::Result<OrderFlow> {
    // The processes run in scratch directories: resolve the binary before changing there.
    let shop = &shop
        .canonicalize()
        .with_context(|| format!("no shop binary at {} (build it first)", shop.display()))?;
    let orders = scale.pick(400, 16);
    let client = reqwest::Client::new();

    let dir = tempfile::tempdir()?;
    let (public, internal) = (free_port(), free_port());
    let mono = spawn(
        shop,
        dir.path(),
        &[
            format!("--listen=127.0.0.1:{public}"),
            format!("--internal-listen=127.0.0.1:{internal}"),
            "--database=sqlite://shop.db".into(),
        ],
    )?;
    let base = format!("http://127.0.0.1:{public}");
    wait_healthy(&client, &base).await?;
    let (mono_cpu, mono_wall) = drive(&client, &base, &base, &[mono.0.id()], orders).await?;
    drop(mono);

    let dir = tempfile::tempdir()?;
    let ports: Vec<u16> = (0..4).map(|_| free_port()).collect();
    let main_internal = format!("http://127.0.0.1:{}", ports[1]);
    let billing_internal = format!("http://127.0.0.1:{}", ports[3]);
    let main = spawn(
        shop,
        dir.path(),
        &[
            format!("--listen=127.0.0.1:{}", ports[0]),
            format!("--internal-listen=127.0.0.1:{}", ports[1]),
            "--database=sqlite://main.db".into(),
            "--modules=catalog,inventory,orders,notifications".into(),
            format!("--remote=billing={billing_internal}"),
        ],
    )?;
    let billing = spawn(
        shop,
        dir.path(),
        &[
            format!("--listen=127.0.0.1:{}", ports[2]),
            format!("--internal-listen=127.0.0.1:{}", ports[3]),
            "--database=sqlite://billing.db".into(),
            "--modules=billing".into(),
            format!("--remote=orders={main_internal},notifications={main_internal}"),
        ],
    )?;
    let base = format!("http://127.0.0.1:{}", ports[0]);
    let billing_base = format!("http://127.0.0.1:{}", ports[2]);
    wait_healthy(&client, &base).await?;
    wait_healthy(&client, &billing_base).await?;
    let (extracted_cpu, extracted_wall) = drive(
        &client,
        &base,
        &billing_base,
        &[main.0.id(), billing.0.id()],
        orders,
    )
    .await?;
    drop((main, billing));

    let per_order = |cpu: f64| (cpu / orders as f64).round();
    let monolith_cpu_us = per_order(mono_cpu);
    let extracted_cpu_us = per_order(extracted_cpu);
    Ok(OrderFlow {
        orders,
        monolith_cpu_us,
        extracted_cpu_us,
        cpu_us_per_hop: ((extracted_cpu_us - monolith_cpu_us) / HOPS_PER_ORDER).round(),
        extracted_vs_monolith_cpu: crate::stats::ratio(extracted_cpu_us, monolith_cpu_us),
        monolith_wall_s: mono_wall.as_secs_f64(),
        extracted_wall_s: extracted_wall.as_secs_f64(),
    })
}
