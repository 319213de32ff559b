//! The write path: the shop's monolith against the same order flow written by hand
//! (`handwritten`, actix-web + sqlx, one writer, WAL), measured in the same run, on SQLite and
//! PostgreSQL, at 16 and 64 connections.
//!
//! Each round starts the server as a process of its own on a fresh database, stocks four
//! products, and has `connections` clients place one-line orders as fast as they are answered
//! for a fixed time (the load generator is this process, so its CPU is not counted). Then it
//! waits until every accepted order is paid, reading the server's database. Figures per round:
//! orders placed per second and their p50/p99 latency; how fast orders reached paid (all
//! placed orders over the time from the load's start until the last was paid); CPU of the
//! server process (user + system) per order over that whole time. Rounds alternate the two
//! servers; the summary takes the median of each figure per server.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use sea_orm::{ConnectionTrait, Database, Statement};
use serde::Serialize;
use serde_json::json;
use tokio::sync::Mutex;

use crate::Scale;
use crate::process::{Process, context_switches, cpu_us, free_port, wait_healthy};
use crate::stats::{Latencies, ratio};

/// The two servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Server {
    /// The shop's monolith (`shop serve`).
    Shop,
    /// The hand-written baseline.
    Handwritten,
}

impl Server {
    fn name(self) -> &'static str {
        match self {
            Server::Shop => "shop",
            Server::Handwritten => "handwritten",
        }
    }

    /// The query that counts paid orders in the server's database.
    fn paid_query(self) -> &'static str {
        match self {
            Server::Shop => "SELECT COUNT(*) FROM orders_orders WHERE status = 'paid'",
            Server::Handwritten => "SELECT COUNT(*) FROM hw_orders WHERE status = 'paid'",
        }
    }
}

/// Where the binaries are and what to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// The `shop` binary.
    pub shop: PathBuf,
    /// The `handwritten` binary.
    pub handwritten: PathBuf,
    /// A PostgreSQL admin URL, to also measure on PostgreSQL (fresh databases are created).
    pub postgres: Option<String>,
    /// Seconds of load per round (default: 20, or 1 at smoke scale).
    pub seconds: Option<f64>,
    /// Rounds per server and case (default: 3, or 1 at smoke scale).
    pub rounds: Option<usize>,
    /// Connections (default: 16 and 64, or 16 at smoke scale).
    pub connections: Vec<usize>,
}

/// One measured round of one server.
#[derive(Debug, Clone, Serialize)]
pub struct Round {
    /// Which server.
    pub server: Server,
    /// `sqlite` or `postgres`.
    pub database: &'static str,
    /// Clients placing orders at once.
    pub connections: usize,
    /// Orders accepted (201).
    pub placed: u64,
    /// Orders refused or failed (not 201).
    pub errors: u64,
    /// Seconds of load.
    pub load_s: f64,
    /// `placed / load_s`.
    pub placed_per_s: f64,
    /// Median latency of an accepted order, ms.
    pub p50_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Seconds from the load's start until every accepted order was paid.
    pub until_all_paid_s: f64,
    /// `placed / until_all_paid_s`.
    pub paid_per_s: f64,
    /// Server CPU (user + system) per order, µs, from the load's start until all paid.
    pub cpu_us_per_order: f64,
    /// The server's context switches per order over the same time
    /// ([`crate::process::context_switches`]): how many thread hand-offs an order costs.
    pub context_switches_per_order: f64,
}

/// Medians of one server in one case.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Medians {
    /// Orders placed per second.
    pub placed_per_s: f64,
    /// p99 latency, ms.
    pub p99_ms: f64,
    /// p50 latency, ms.
    pub p50_ms: f64,
    /// Orders paid per second.
    pub paid_per_s: f64,
    /// CPU µs per order.
    pub cpu_us_per_order: f64,
    /// Context switches per order.
    pub context_switches_per_order: f64,
}

/// The figures of one case (database and connections).
#[derive(Debug, Clone, Serialize)]
pub struct Case {
    /// The shop's medians.
    pub shop: Medians,
    /// The baseline's medians.
    pub handwritten: Medians,
    /// Shop placed/s over baseline placed/s; target ≥ 1.0.
    pub order_placed_per_s_vs_handwritten: f64,
    /// Shop p99 over baseline p99; target ≤ 1.5.
    pub order_p99_vs_handwritten: f64,
    /// Shop CPU per order over baseline CPU per order; target ≤ 1.1.
    pub order_cpu_us_vs_handwritten: f64,
    /// Shop paid/s over its own placed/s: how well payments keep up; target ≥ 0.9.
    pub paid_per_s_vs_placed_per_s: f64,
    /// The same for the baseline, for context.
    pub handwritten_paid_per_s_vs_placed_per_s: f64,
    /// Shop paid/s over baseline paid/s: orders carried all the way through per second, for
    /// context (no target). A server that places faster than it pays builds a backlog, so its
    /// placed/s is not a rate it can keep up.
    pub order_paid_per_s_vs_handwritten: f64,
    /// Shop context switches per order over the baseline's, for context (no target): where CPU
    /// per order is too noisy to tell two builds apart, this count usually is not.
    pub order_context_switches_vs_handwritten: f64,
}

/// Everything the write-path benchmark measured.
#[derive(Debug, Clone, Serialize)]
pub struct WritePath {
    /// By `"<database>/<connections>"`, e.g. `"sqlite/16"`.
    pub cases: BTreeMap<String, Case>,
    /// Every round, in the order run.
    pub rounds: Vec<Round>,
}

/// A database for one round: its URL, and the URL to count paid orders through; a SQLite
/// file is removed when this is dropped.
pub(crate) struct FreshDatabase {
    pub(crate) url: String,
    _dir: Option<tempfile::TempDir>,
}

/// A new empty database: a SQLite file in a temporary directory (`kind` `sqlite`), or a new
/// database on the PostgreSQL server of `admin`.
pub(crate) async fn fresh_database(
    kind: &str,
    admin: Option<&str>,
) -> anyhow::Result<FreshDatabase> {
    if kind == "sqlite" {
        let dir = tempfile::tempdir()?;
        return Ok(FreshDatabase {
            url: format!("sqlite://{}/bench.db?mode=rwc", dir.path().display()),
            _dir: Some(dir),
        });
    }
    let admin = admin.context("no PostgreSQL URL")?;
    let name = format!("cleave_bench_{}", uuid::Uuid::new_v4().simple());
    let db = Database::connect(admin).await?;
    db.execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await?;
    db.close().await.ok();
    let (server, _) = admin.rsplit_once('/').context("an admin URL ends in /DB")?;
    Ok(FreshDatabase {
        url: format!("{server}/{name}"),
        _dir: None,
    })
}

/// Starts `shop serve` on `database` with extra `env`; the process and its public base URL.
pub(crate) fn start_shop(
    shop: &Path,
    database: &str,
    env: &[(&str, &str)],
) -> anyhow::Result<(Process, String)> {
    let port = free_port();
    let process = Process::spawn(
        shop,
        &[
            "serve".into(),
            "--listen".into(),
            format!("127.0.0.1:{port}"),
            "--internal-listen".into(),
            format!("127.0.0.1:{}", free_port()),
            "--database".into(),
            database.into(),
        ],
        env,
    )?;
    Ok((process, format!("http://127.0.0.1:{port}")))
}

fn start(options: &Options, server: Server, database: &str) -> anyhow::Result<(Process, String)> {
    match server {
        Server::Shop => start_shop(&options.shop, database, &[]),
        Server::Handwritten => {
            let port = free_port();
            let process = Process::spawn(
                &options.handwritten,
                &[
                    "--listen".into(),
                    format!("127.0.0.1:{port}"),
                    "--database".into(),
                    database.into(),
                ],
                &[],
            )?;
            Ok((process, format!("http://127.0.0.1:{port}")))
        }
    }
}

/// The products every round stocks and orders.
const SKUS: [&str; 4] = ["WP-A", "WP-B", "WP-C", "WP-D"];

/// Creates the products of [`SKUS`] on `server` with stock for a billion orders.
pub(crate) async fn stock(
    client: &reqwest::Client,
    server: Server,
    base: &str,
) -> anyhow::Result<()> {
    for sku in SKUS {
        match server {
            Server::Shop => {
                let r = client
                    .post(format!("{base}/api/catalog/products"))
                    .json(&json!({"sku": sku, "name": sku, "price_cents": 500}))
                    .send()
                    .await?;
                anyhow::ensure!(r.status().is_success(), "create {sku}: {}", r.status());
                let r = client
                    .put(format!("{base}/api/inventory/stock/{sku}"))
                    .json(&json!({"quantity": 1_000_000_000u32}))
                    .send()
                    .await?;
                anyhow::ensure!(r.status().is_success(), "stock {sku}: {}", r.status());
            }
            Server::Handwritten => {
                let r = client
                    .post(format!("{base}/setup/products"))
                    .json(&json!({"sku": sku, "price_cents": 500, "stock": 1_000_000_000i64}))
                    .send()
                    .await?;
                anyhow::ensure!(r.status().is_success(), "create {sku}: {}", r.status());
            }
        }
    }
    Ok(())
}

/// Places the `n`th order of client `c` (one line of one of [`SKUS`], customer `c{c}`); the
/// answer when it was accepted (201, body not yet read), `None` when refused or failed.
pub(crate) async fn post_order(
    client: &reqwest::Client,
    base: &str,
    c: usize,
    n: usize,
) -> Option<reqwest::Response> {
    let sku = SKUS[(c + n) % SKUS.len()];
    let body = json!({"customer": format!("c{c}"), "lines": [{"sku": sku, "quantity": 1}]});
    match client
        .post(format!("{base}/api/orders"))
        .json(&body)
        .send()
        .await
    {
        Ok(r) if r.status().as_u16() == 201 => Some(r),
        _ => None,
    }
}

async fn count_paid(db: &sea_orm::DatabaseConnection, server: Server) -> anyhow::Result<u64> {
    count(db, server.paid_query()).await
}

/// The number a `SELECT COUNT(*) …` query answers on `db`.
pub(crate) async fn count(db: &sea_orm::DatabaseConnection, sql: &str) -> anyhow::Result<u64> {
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await?
        .context("no count")?;
    Ok(u64::try_from(row.try_get_by_index::<i64>(0)?).unwrap_or(0))
}

/// One round of one server.
async fn round(
    options: &Options,
    server: Server,
    kind: &'static str,
    connections: usize,
    seconds: f64,
) -> anyhow::Result<Round> {
    let database = fresh_database(kind, options.postgres.as_deref()).await?;
    let (process, base) = start(options, server, &database.url)?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .timeout(Duration::from_secs(30))
        .build()?;
    wait_healthy(&client, &base).await?;
    stock(&client, server, &base).await?;
    let reader = Database::connect(database.url.as_str()).await?;
    let pid = process.id();

    let placed = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let latencies = Arc::new(Mutex::new(Latencies::default()));
    let cpu_before = cpu_us(pid)?;
    let switches_before = context_switches(pid)?;
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(seconds);
    let clients: Vec<_> = (0..connections)
        .map(|c| {
            let (client, base) = (client.clone(), base.clone());
            let (placed, errors, latencies) = (placed.clone(), errors.clone(), latencies.clone());
            tokio::spawn(async move {
                let mut mine = Latencies::default();
                let mut n = 0usize;
                while Instant::now() < deadline {
                    n += 1;
                    let sent = Instant::now();
                    match post_order(&client, &base, c, n).await {
                        Some(r) => {
                            let _ = r.bytes().await;
                            mine.record(sent.elapsed());
                            placed.fetch_add(1, Ordering::Relaxed);
                        }
                        None => {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                latencies.lock().await.merge(&mine);
            })
        })
        .collect();
    for c in clients {
        c.await?;
    }
    let load = started.elapsed();
    let placed = placed.load(Ordering::Relaxed);
    let wait_until = Instant::now() + Duration::from_secs(300);
    loop {
        if count_paid(&reader, server).await? >= placed {
            break;
        }
        if Instant::now() > wait_until {
            bail!("{}: orders still unpaid after 5 minutes", server.name());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let until_all_paid = started.elapsed();
    let cpu = cpu_us(pid)? - cpu_before;
    let switches = context_switches(pid)?.saturating_sub(switches_before) as f64;
    reader.close().await.ok();
    drop(process);
    let latency = latencies.lock().await.summary();
    let placed_f = placed.max(1) as f64;
    Ok(Round {
        server,
        database: kind,
        connections,
        placed,
        errors: errors.load(Ordering::Relaxed),
        load_s: round3(load.as_secs_f64()),
        placed_per_s: round3(placed_f / load.as_secs_f64()),
        p50_ms: round3(latency.p50_us / 1_000.0),
        p99_ms: round3(latency.p99_us / 1_000.0),
        until_all_paid_s: round3(until_all_paid.as_secs_f64()),
        paid_per_s: round3(placed_f / until_all_paid.as_secs_f64()),
        cpu_us_per_order: round3(cpu / placed_f),
        context_switches_per_order: round3(switches / placed_f),
    })
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

fn medians(rounds: &[&Round]) -> Medians {
    let of = |f: fn(&Round) -> f64| median(rounds.iter().map(|r| f(r)).collect());
    Medians {
        placed_per_s: of(|r| r.placed_per_s),
        p99_ms: of(|r| r.p99_ms),
        p50_ms: of(|r| r.p50_ms),
        paid_per_s: of(|r| r.paid_per_s),
        cpu_us_per_order: of(|r| r.cpu_us_per_order),
        context_switches_per_order: of(|r| r.context_switches_per_order),
    }
}

/// Runs every case; prints progress on stderr.
pub async fn write_path(options: &Options, scale: Scale) -> anyhow::Result<WritePath> {
    let seconds = options.seconds.unwrap_or(scale.pick(20.0, 1.0));
    let rounds_per = options.rounds.unwrap_or(scale.pick(3, 1));
    let connections = if options.connections.is_empty() {
        scale.pick(vec![16, 64], vec![16])
    } else {
        options.connections.clone()
    };
    let mut databases = vec!["sqlite"];
    if options.postgres.is_some() {
        databases.push("postgres");
    }
    let mut rounds = Vec::new();
    for database in &databases {
        for &c in &connections {
            for r in 0..rounds_per {
                // Alternate which server goes first, so neither always meets a warmer machine.
                let order = if r % 2 == 0 {
                    [Server::Shop, Server::Handwritten]
                } else {
                    [Server::Handwritten, Server::Shop]
                };
                for server in order {
                    let measured = round(options, server, database, c, seconds).await?;
                    eprintln!(
                        "      {database}/{c} round {} {:<11} {:>7.0} placed/s p99 {:>7.1} ms  paid/s {:>7.0}  {:>6.0} µs CPU/order  {:>5.1} switches/order",
                        r + 1,
                        server.name(),
                        measured.placed_per_s,
                        measured.p99_ms,
                        measured.paid_per_s,
                        measured.cpu_us_per_order,
                        measured.context_switches_per_order
                    );
                    rounds.push(measured);
                }
            }
        }
    }
    let mut cases = BTreeMap::new();
    for database in &databases {
        for &c in &connections {
            let of = |server: Server| {
                rounds
                    .iter()
                    .filter(|r| r.server == server && r.database == *database && r.connections == c)
                    .collect::<Vec<_>>()
            };
            let shop = medians(&of(Server::Shop));
            let handwritten = medians(&of(Server::Handwritten));
            cases.insert(
                format!("{database}/{c}"),
                Case {
                    order_placed_per_s_vs_handwritten: ratio(
                        shop.placed_per_s,
                        handwritten.placed_per_s,
                    ),
                    order_p99_vs_handwritten: ratio(shop.p99_ms, handwritten.p99_ms),
                    order_cpu_us_vs_handwritten: ratio(
                        shop.cpu_us_per_order,
                        handwritten.cpu_us_per_order,
                    ),
                    paid_per_s_vs_placed_per_s: ratio(shop.paid_per_s, shop.placed_per_s),
                    handwritten_paid_per_s_vs_placed_per_s: ratio(
                        handwritten.paid_per_s,
                        handwritten.placed_per_s,
                    ),
                    order_paid_per_s_vs_handwritten: ratio(shop.paid_per_s, handwritten.paid_per_s),
                    order_context_switches_vs_handwritten: ratio(
                        shop.context_switches_per_order,
                        handwritten.context_switches_per_order,
                    ),
                    shop,
                    handwritten,
                },
            );
        }
    }
    Ok(WritePath { cases, rounds })
}

/// The `handwritten` binary next to `shop` (same target directory), with a clear error when
/// it was not built.
pub fn handwritten_next_to(shop: &Path) -> anyhow::Result<PathBuf> {
    let path = shop.with_file_name("handwritten");
    anyhow::ensure!(
        path.exists(),
        "{} is missing: build it with `cargo build -p cleave-bench --bin handwritten` (add --release for figures)",
        path.display()
    );
    Ok(path)
}
