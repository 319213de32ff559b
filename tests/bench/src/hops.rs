//! What one hop costs, by message size: the table `plan` predicts extractions from
//! (`cleave_app::plan::HopCosts`).
//!
//! For each size, the same message goes alternately in-process and over the extraction
//! transport on loopback (a real actix-web internal listener, the real HTTP client), one at a
//! time; the extra latency (p50, p99) and the extra CPU of both sides (this process hosts both)
//! per message are the differences. Requests: a `bus.call` whose answer echoes the payload.
//! Events: a delivery applied through the subscriber's inbox in a SQLite transaction, in
//! process (`EventRoutes::deliver`) against over HTTP (the relay's `EventRoute`). With the
//! application's binary, the resident memory of one idle process is measured too.

use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{App, HttpServer};
use async_trait::async_trait;
use cleave::testing::{Harness, TestApp, fixture_contract, fixture_module};
use cleave::{
    Contract, Delivered, Event, EventEnvelope, EventRoute, Failure, Handler, HandlerError,
    ModuleDescriptor, RegisterError, Registrar, Request, Subscriber, Tx,
};
use cleave_app::plan::CostPoint;
use cleave_extract::{Credentials, InternalEndpoints, RemoteModule};
use serde::{Deserialize, Serialize};

use crate::Scale;
use crate::stats::Latencies;

/// A request of any size, echoed back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Payload {
    /// The bulk of the message.
    pub text: String,
}

impl Request for Payload {
    const NAME: &'static str = "hops.echo";
    type Response = Payload;
    type Error = String;
}

/// An event of any size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Noted {
    /// The bulk of the event.
    pub text: String,
}

impl Event for Noted {
    const NAME: &'static str = "hops.noted";
}

struct Echo;

#[async_trait]
impl Handler<Payload> for Echo {
    async fn handle(&self, request: Payload) -> Result<Payload, Failure<String>> {
        Ok(request)
    }
}

struct Sink;

#[async_trait]
impl Subscriber<Noted> for Sink {
    async fn on_event(&self, _tx: &Tx, event: Delivered<Noted>) -> Result<(), HandlerError> {
        std::hint::black_box(event.event.text.len());
        Ok(())
    }
}

fn register_sink(r: &mut Registrar<'_>) -> Result<(), RegisterError> {
    r.subscribe::<Noted>(Sink);
    Ok(())
}

static HOPS: Contract = fixture_contract("hops", &[Payload::NAME], &[Noted::NAME], &[]);
static SINK_CONTRACT: Contract = fixture_contract("sink", &[], &[], &[Noted::NAME]);
static SINK: ModuleDescriptor = ModuleDescriptor {
    subscribes: &[Noted::NAME],
    ..fixture_module(&SINK_CONTRACT, "applies notes", register_sink)
};

const TOKEN: &str = "hops-token";

/// One measured size: what `plan` reads ([`CostPoint`]), with the raw figures beside it.
#[derive(Debug, Clone, Serialize)]
pub struct Point {
    /// Size and extra latency and CPU, in the planner's own type (so the file cannot drift
    /// from what it reads).
    #[serde(flatten)]
    pub cost: CostPoint,
    /// In-process median, µs.
    pub local_p50_us: f64,
    /// Over the network, median, µs.
    pub remote_p50_us: f64,
    /// Messages per side.
    pub samples: u64,
}

/// The table, as `plan --costs` reads it.
#[derive(Debug, Clone, Serialize)]
pub struct Table {
    /// Where and how it was measured.
    pub measured: String,
    /// Requests by size.
    pub request: Vec<Point>,
    /// Event deliveries by size.
    pub event: Vec<Point>,
    /// Resident memory of one idle process of the application, bytes (0 if not measured).
    pub process_rss_bytes: u64,
}

/// Sizes measured, as the length of the payload's text.
const TEXTS: [usize; 4] = [32, 480, 8_000, 64_000];

fn cpu_now() -> f64 {
    crate::process::cpu_us(std::process::id()).unwrap_or(0.0)
}

/// Measures the table; with `binary` (an application built on cleave), its idle memory too.
pub async fn measure(scale: Scale, binary: Option<&Path>) -> anyhow::Result<Table> {
    let server = Harness::new()
        .module(&SINK)
        .routing(|r| r.local_handler::<Payload>("hops", Arc::new(Echo)))
        .without_relay()
        .start()
        .await;
    let endpoints = Arc::new(InternalEndpoints::new(
        server.bus().clone(),
        server.events().clone(),
        Credentials::shared(Some(TOKEN.to_string())),
        vec![&HOPS, &SINK_CONTRACT],
        vec![&HOPS, &SINK_CONTRACT],
        4 * 1024 * 1024,
    ));
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let base = format!("http://{}", listener.local_addr()?);
    let http = HttpServer::new(move || {
        let endpoints = endpoints.clone();
        App::new().configure(|cfg| cleave_extract::configure_internal(cfg, endpoints))
    })
    .workers(1)
    .listen(listener)?
    .run();
    tokio::spawn(http);
    let settings = || crate::calls::loopback_settings(TOKEN);
    let client = reqwest::Client::new();
    let remote_hops = RemoteModule::with_client(
        &HOPS,
        std::slice::from_ref(&base),
        settings(),
        &[&HOPS, &SINK_CONTRACT],
        client.clone(),
    )
    .map_err(anyhow::Error::msg)?;
    let remote_sink = RemoteModule::with_client(
        &SINK_CONTRACT,
        std::slice::from_ref(&base),
        settings(),
        &[&HOPS, &SINK_CONTRACT],
        client,
    )
    .map_err(anyhow::Error::msg)?;
    let caller = Harness::new()
        .routing(|r| r.remote_module("hops", remote_hops))
        .without_relay()
        .start()
        .await;

    let mut request = Vec::new();
    let mut event = Vec::new();
    for text in TEXTS {
        let n = scale.pick(if text > 10_000 { 600 } else { 2_000 }, 20);
        request.push(request_point(&server, &caller, text, n).await);
        event.push(event_point(&server, &remote_sink, text, n).await);
    }
    let process_rss_bytes = match binary {
        Some(binary) => idle_rss(binary).await?,
        None => 0,
    };
    Ok(Table {
        measured: format!(
            "cleave-bench --hop-costs on {} ({} cores), loopback, one message at a time",
            std::env::consts::ARCH,
            std::thread::available_parallelism().map_or(0, |n| n.get())
        ),
        request,
        event,
        process_rss_bytes,
    })
}

/// Runs `batch` of `n` local then remote (alternating in 4 slices), returning latencies and
/// CPU µs per message for each side.
async fn alternate<L, LF, R, RF>(
    n: u64,
    mut local: L,
    mut remote: R,
) -> (Latencies, f64, Latencies, f64)
where
    L: FnMut(u64) -> LF,
    LF: std::future::Future<Output = ()>,
    R: FnMut(u64) -> RF,
    RF: std::future::Future<Output = ()>,
{
    for i in 0..20 {
        local(u64::MAX - i).await;
        remote(u64::MAX - 1_000 - i).await;
    }
    let (mut local_lat, mut remote_lat) = (Latencies::default(), Latencies::default());
    let (mut local_cpu, mut remote_cpu) = (0.0, 0.0);
    let slices = 4;
    let per_slice = (n / slices).max(1);
    for slice in 0..slices {
        let cpu = cpu_now();
        for i in 0..per_slice {
            let started = Instant::now();
            local(slice * per_slice + i).await;
            local_lat.record(started.elapsed());
        }
        local_cpu += cpu_now() - cpu;
        let cpu = cpu_now();
        for i in 0..per_slice {
            let started = Instant::now();
            remote(slice * per_slice + i).await;
            remote_lat.record(started.elapsed());
        }
        remote_cpu += cpu_now() - cpu;
    }
    let total = (slices * per_slice) as f64;
    (local_lat, local_cpu / total, remote_lat, remote_cpu / total)
}

fn point(bytes: usize, samples: u64, local: (Latencies, f64), remote: (Latencies, f64)) -> Point {
    let (l, r) = (local.0.summary(), remote.0.summary());
    Point {
        cost: CostPoint {
            bytes: bytes as f64,
            p50_us: (r.p50_us - l.p50_us).max(0.0),
            p99_us: (r.p99_us - l.p99_us).max(0.0),
            cpu_us: (remote.1 - local.1).max(0.0),
        },
        local_p50_us: l.p50_us,
        remote_p50_us: r.p50_us,
        samples,
    }
}

async fn request_point(server: &TestApp, caller: &TestApp, text: usize, n: u64) -> Point {
    let payload = Payload {
        text: "x".repeat(text),
    };
    let bytes = 2 * cleave::traffic::json_size(&payload);
    let (local_lat, local_cpu, remote_lat, remote_cpu) = alternate(
        n,
        |_| {
            let payload = payload.clone();
            async move {
                server.bus().call(payload).await.expect("local echo");
            }
        },
        |_| {
            let payload = payload.clone();
            async move {
                caller.bus().call(payload).await.expect("remote echo");
            }
        },
    )
    .await;
    point(bytes, n, (local_lat, local_cpu), (remote_lat, remote_cpu))
}

async fn event_point(server: &TestApp, remote: &RemoteModule, text: usize, n: u64) -> Point {
    let event = Noted {
        text: "x".repeat(text),
    };
    let envelope = || cleave::testing::envelope("hops", &event);
    let bytes = cleave::traffic::json_size(&envelope());
    let (local_lat, local_cpu, remote_lat, remote_cpu) = alternate(
        n,
        |_| {
            let envelope = envelope();
            async move {
                server
                    .events()
                    .deliver("sink", &envelope)
                    .await
                    .expect("local delivery");
            }
        },
        |_| {
            let envelope: EventEnvelope = envelope();
            async move {
                remote.deliver(&envelope).await.expect("remote delivery");
            }
        },
    )
    .await;
    point(bytes, n, (local_lat, local_cpu), (remote_lat, remote_cpu))
}

/// Resident memory of `binary` serving, idle, on a fresh SQLite file, after a few requests.
async fn idle_rss(binary: &Path) -> anyhow::Result<u64> {
    let dir = tempfile::tempdir()?;
    let port = crate::process::free_port();
    let internal = crate::process::free_port();
    let prefix = crate::process::env_prefix(binary);
    let database = format!("sqlite://{}/idle.db?mode=rwc", dir.path().display());
    let process = crate::process::Process::spawn(
        binary,
        &[
            "serve".into(),
            "--listen".into(),
            format!("127.0.0.1:{port}"),
            "--internal-listen".into(),
            format!("127.0.0.1:{internal}"),
        ],
        &[(&format!("{prefix}DATABASE"), &database)],
    )?;
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    crate::process::wait_healthy(&client, &base).await?;
    for _ in 0..20 {
        let _ = client.get(format!("{base}/ready")).send().await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let status = std::fs::read_to_string(format!("/proc/{}/status", process.id()))?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no VmRSS in /proc/{}/status", process.id()))?;
    Ok(kib * 1024)
}
