//! Per-module scaling: the shop with billing in its own process at 1, 2 and 3 replicas, events
//! through NATS JetStream (`events.broker`), both nodes on PostgreSQL, billing's payment
//! capture waiting on a simulated gateway (`module.billing.gateway_latency_ms`).
//!
//! Each run places orders from `connections` clients for `seconds`, then waits until every
//! accepted order is paid. It reports placed/s, paid/s (accepted orders over the time until the
//! last was paid) and CPU per order (every process of the run: main, the billing replicas, the
//! NATS server; PostgreSQL is left out, it is shared with other runs and the machine). A last
//! run at the largest replica count SIGKILLs one replica halfway through the load. In every
//! run, every accepted order must be invoiced and paid exactly once (counted in billing's
//! database), or the run fails.
//!
//! Billing's replicas share one durable consumer, and each applies one event at a time, so
//! with a gateway latency of L ms a replica captures at most 1000/L payments a second: paid/s
//! should grow with the replicas until orders are placed no faster.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use sea_orm::Database;
use serde::Serialize;

use crate::process::{Process, cpu_us, free_port, wait_healthy};
use crate::write_path::{count, fresh_database, post_order, stock};

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// The `shop` binary.
    pub shop: PathBuf,
    /// A PostgreSQL admin URL (fresh databases are created on it).
    pub postgres: String,
    /// Billing replicas of each run.
    pub replicas: Vec<usize>,
    /// Simulated payment gateway latency, ms.
    pub gateway_latency_ms: u64,
    /// Clients placing orders at once.
    pub connections: usize,
    /// Seconds of load per run.
    pub seconds: f64,
}

/// One run.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    /// Billing replicas at the start.
    pub replicas: usize,
    /// Whether one replica was killed mid-run.
    pub killed_one: bool,
    /// Orders accepted.
    pub placed: u64,
    /// Accepted orders per second of load.
    pub placed_per_s: f64,
    /// Accepted orders per second until the last was paid.
    pub paid_per_s: f64,
    /// Seconds from the end of the load until every order was paid.
    pub drain_s: f64,
    /// CPU time of every process of the run (main, billing replicas, NATS) per order, µs.
    pub cpu_us_per_order: f64,
    /// Invoices and payments in billing's database, each of which must equal `placed`.
    pub invoices: u64,
    /// See `invoices`.
    pub payments: u64,
}

/// The runs, one per replica count.
#[derive(Debug, Clone, Serialize)]
pub struct Scaling {
    /// `module.billing.gateway_latency_ms` of every run.
    pub gateway_latency_ms: u64,
    /// Clients placing orders.
    pub connections: usize,
    /// Seconds of load per run.
    pub seconds: f64,
    /// The runs.
    pub runs: Vec<Run>,
}

impl Scaling {
    /// One line per run, for the terminal.
    pub fn lines(&self) -> Vec<String> {
        self.runs
            .iter()
            .map(|r| {
                format!(
                    "billing ×{}{}: placed {:.0}/s, paid {:.0}/s, drain {:.1} s, {:.0} µs CPU/order, {} orders, {} invoices, {} payments",
                    r.replicas,
                    if r.killed_one { " (one killed)" } else { "" },
                    r.placed_per_s,
                    r.paid_per_s,
                    r.drain_s,
                    r.cpu_us_per_order,
                    r.placed,
                    r.invoices,
                    r.payments
                )
            })
            .collect()
    }
}

/// Runs every replica count of `options`.
pub async fn scaling(options: &Options) -> anyhow::Result<Scaling> {
    let mut runs = Vec::new();
    for &replicas in &options.replicas {
        runs.push(run(options, replicas.max(1), false).await?);
    }
    if let Some(&most) = options.replicas.iter().max().filter(|&&n| n >= 2) {
        runs.push(run(options, most, true).await?);
    }
    Ok(Scaling {
        gateway_latency_ms: options.gateway_latency_ms,
        connections: options.connections,
        seconds: options.seconds,
        runs,
    })
}

fn serve_args(public: u16, internal: u16, database: &str) -> Vec<String> {
    vec![
        "serve".into(),
        "--listen".into(),
        format!("127.0.0.1:{public}"),
        "--internal-listen".into(),
        format!("127.0.0.1:{internal}"),
        "--database".into(),
        database.into(),
    ]
}

async fn run(options: &Options, replicas: usize, kill_one: bool) -> anyhow::Result<Run> {
    let dir = tempfile::tempdir()?;
    let nats = cleave::testing::NatsServer::start(dir.path()).context("no nats-server")?;
    let broker = nats.url();
    let main_db = fresh_database("postgres", Some(&options.postgres)).await?;
    let billing_db = fresh_database("postgres", Some(&options.postgres)).await?;
    let token = "scaling-bench-token";
    let latency = options.gateway_latency_ms.to_string();
    let common = [
        ("SHOP_EVENTS__BROKER", broker.as_str()),
        ("SHOP_EVENTS__ACK_WAIT_MS", "2000"),
        ("SHOP_INTERNAL_TOKEN", token),
        ("SHOP_OUTBOX__POLL_INTERVAL_MS", "50"),
        ("SHOP_OUTBOX__BACKOFF_MAX_MS", "500"),
    ];
    let mut billing = Vec::new();
    let mut billing_urls = Vec::new();
    for _ in 0..replicas {
        let (public, internal) = (free_port(), free_port());
        let mut env = common.to_vec();
        env.push(("SHOP_MODULES", "billing"));
        env.push(("SHOP_MODULE__BILLING__GATEWAY_LATENCY_MS", latency.as_str()));
        billing.push(Some(Process::spawn(
            &options.shop,
            &serve_args(public, internal, &billing_db.url),
            &env,
        )?));
        billing_urls.push(format!("http://127.0.0.1:{internal}"));
    }
    let billing_urls = billing_urls.join(",");
    let (public, internal) = (free_port(), free_port());
    let mut env = common.to_vec();
    env.push(("SHOP_MODULES", "catalog,inventory,notifications,orders"));
    env.push(("SHOP_REMOTE__BILLING", billing_urls.as_str()));
    let main = Process::spawn(
        &options.shop,
        &serve_args(public, internal, &main_db.url),
        &env,
    )?;
    let base = format!("http://127.0.0.1:{public}");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(options.connections)
        .timeout(Duration::from_secs(30))
        .build()?;
    wait_healthy(&client, &base).await?;
    stock(&client, crate::write_path::Server::Shop, &base).await?;

    let mut pids: Vec<u32> = vec![main.id(), nats.pid().unwrap_or_default()];
    pids.extend(billing.iter().flatten().map(Process::id));
    let cpu_before: f64 = pids.iter().map(|p| cpu_us(*p).unwrap_or(0.0)).sum();
    let placed = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(options.seconds);
    let clients: Vec<_> = (0..options.connections)
        .map(|c| {
            let (client, base, placed) = (client.clone(), base.clone(), placed.clone());
            tokio::spawn(async move {
                let mut n = 0usize;
                while Instant::now() < deadline {
                    n += 1;
                    if let Some(r) = post_order(&client, &base, c, n).await {
                        let _ = r.bytes().await;
                        placed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    // Halfway through the load, one replica dies (its CPU so far is counted).
    let mut killed_cpu = 0.0;
    let killed_one = kill_one && replicas >= 2;
    if killed_one {
        tokio::time::sleep(Duration::from_secs_f64(options.seconds / 2.0)).await;
        let victim = billing[0].take().expect("a replica");
        killed_cpu = cpu_us(victim.id()).unwrap_or(0.0);
        drop(victim);
    }
    for c in clients {
        c.await?;
    }
    let load = started.elapsed();
    let placed = placed.load(Ordering::Relaxed);
    let main_reader = Database::connect(main_db.url.as_str()).await?;
    let wait_until = Instant::now() + Duration::from_secs(600);
    while count(
        &main_reader,
        "SELECT COUNT(*) FROM orders_orders WHERE status = 'paid'",
    )
    .await?
        < placed
    {
        if Instant::now() > wait_until {
            bail!("billing ×{replicas}: orders still unpaid after 10 minutes");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let until_paid = started.elapsed();
    let mut alive: Vec<u32> = vec![main.id(), nats.pid().unwrap_or_default()];
    alive.extend(billing.iter().flatten().map(Process::id));
    let cpu_after: f64 = alive.iter().map(|p| cpu_us(*p).unwrap_or(0.0)).sum::<f64>() + killed_cpu;
    let billing_reader = Database::connect(billing_db.url.as_str()).await?;
    let invoices = count(&billing_reader, "SELECT COUNT(*) FROM billing_invoices").await?;
    let payments = count(&billing_reader, "SELECT COUNT(*) FROM billing_payments").await?;
    main_reader.close().await.ok();
    billing_reader.close().await.ok();
    drop(billing);
    drop(main);
    drop(nats);
    if invoices != placed || payments != placed {
        bail!(
            "billing ×{replicas}: {placed} orders accepted, {invoices} invoices, {payments} payments"
        );
    }
    let placed_f = placed.max(1) as f64;
    Ok(Run {
        replicas,
        killed_one,
        placed,
        placed_per_s: round1(placed_f / load.as_secs_f64()),
        paid_per_s: round1(placed_f / until_paid.as_secs_f64()),
        drain_s: round1((until_paid - load).as_secs_f64()),
        cpu_us_per_order: round1((cpu_after - cpu_before) / placed_f),
        invoices,
        payments,
    })
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}
