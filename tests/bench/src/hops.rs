//! What one hop costs, by message size: the table `plan` predicts extractions from
//! (`cleave_app::plan::HopCosts`).
//!
//! For each size, the same messages go alternately in-process and over the extraction
//! transport (a real actix-web internal listener, the real HTTP client), in four alternating
//! slices: on loopback to a process of its own, or to a far side serving elsewhere, e.g. in
//! another container on a Docker network (`scripts/hop-costs-containers.sh`), so the table
//! prices the network the placements will use. Requests are a `bus.call` whose answer echoes
//! the payload. Events go the way the relay takes them, from a committed publishing
//! transaction to the subscriber's applied effect: in process, the relay applies them in its
//! own transaction; over the network, it leases the queue, makes an HTTP delivery the receiver
//! applies in a transaction of its own, and records the mark.
//!
//! - **Latency and CPU, one message at a time** (what `plan` reads): the extra p50 and p99 are
//!   the differences of the two sides' percentiles; the extra CPU is the difference of the
//!   process's CPU per message (both sides run in this process). Each event is a relay pass of
//!   its own, as when events arrive slower than the relay delivers them: the shop's order flow
//!   at 8 orders in flight behaves so (`cleave-bench --only-order-flow` checks the prediction).
//! - **Beside a local subscriber**: the same events, with a second subscriber on the
//!   publisher's side in both cases. A relay on SQLite delivers to all of its process's own
//!   subscribers in one pass (one transaction), so moving one of several away saves only that
//!   subscriber's share of the pass while its remote delivery is a pass of its own: it costs
//!   more than moving an event's only subscriber away, which saves the whole local pass (the
//!   first table). `plan` prices each crossing with the one that applies (ADR 14).
//! - **CPU under load**, [`CONCURRENCY`] senders at once, for context: the relay then carries
//!   many events per pass, its per-pass work is shared, and a hop costs much less. A table of
//!   it predicted a third of what the order flow measured, as did the first table, which sent
//!   one delivery straight to its route without the relay (ADR 14).
//!
//! With the application's binary, the resident memory of one idle process is measured too.

use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actix_web::{App, HttpResponse, HttpServer, web};
use async_trait::async_trait;
use cleave::testing::{Harness, TestApp, fixture_contract, fixture_module};
use cleave::{
    Applied, Contract, Delivered, DeliveryFailure, Event, EventEnvelope, EventRoute, Failure,
    Handler, HandlerError, ModuleDescriptor, Publisher, RegisterError, Registrar, Request,
    Subscriber, Tx,
};
use cleave_app::plan::CostPoint;
use cleave_extract::{Credentials, InternalEndpoints, RemoteModule};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

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
    const NAME: &'static str = "notes.noted";
}

struct Echo;

#[async_trait]
impl Handler<Payload> for Echo {
    async fn handle(&self, request: Payload) -> Result<Payload, Failure<String>> {
        Ok(request)
    }
}

/// Events applied: by the in-process sink, or acknowledged by the far one (the sides are
/// measured one after the other, so one count serves both).
static APPLIED: AtomicU64 = AtomicU64::new(0);
static APPLIED_NOW: Notify = Notify::const_new();

fn count_applied() {
    APPLIED.fetch_add(1, Ordering::SeqCst);
    APPLIED_NOW.notify_waiters();
}

/// Applies notes; the in-process one counts them.
struct Sink {
    counts: bool,
}

#[async_trait]
impl Subscriber<Noted> for Sink {
    async fn on_event(&self, _tx: &Tx, event: Delivered<Noted>) -> Result<(), HandlerError> {
        std::hint::black_box(event.event.text.len());
        if self.counts {
            count_applied();
        }
        Ok(())
    }
}

fn register_sink(r: &mut Registrar<'_>) -> Result<(), RegisterError> {
    r.subscribe::<Noted>(Sink { counts: true });
    Ok(())
}

/// A sink that does not count: the far side's (its route counts what it acknowledged) and the
/// neighbour.
fn register_quiet_sink(r: &mut Registrar<'_>) -> Result<(), RegisterError> {
    r.subscribe::<Noted>(Sink { counts: false });
    Ok(())
}

/// The route to the far sink, counting what it acknowledged as applied.
struct Acknowledged(Arc<dyn EventRoute>);

#[async_trait]
impl EventRoute for Acknowledged {
    async fn deliver(&self, envelope: &EventEnvelope) -> Result<Applied, DeliveryFailure> {
        let applied = self.0.deliver(envelope).await?;
        count_applied();
        Ok(applied)
    }
}

fn register_echo(r: &mut Registrar<'_>) -> Result<(), RegisterError> {
    r.handle::<Payload>(Echo);
    Ok(())
}

static HOPS: Contract = fixture_contract("hops", &[Payload::NAME], &[], &[]);
static HOPS_MODULE: ModuleDescriptor = fixture_module(&HOPS, "echoes requests", register_echo);
static NOTES: Contract = fixture_contract("notes", &[], &[Noted::NAME], &[]);
static NOTES_MODULE: ModuleDescriptor =
    fixture_module(&NOTES, "publishes notes", cleave::testing::register_nothing);
/// Every contract of the benchmark, as each side knows them.
static CONTRACTS: [&Contract; 4] = [&HOPS, &NOTES, &SINK_CONTRACT, &NEIGHBOUR_CONTRACT];
static SINK_CONTRACT: Contract = fixture_contract("sink", &[], &[], &[Noted::NAME]);
static SINK: ModuleDescriptor = ModuleDescriptor {
    subscribes: &[Noted::NAME],
    ..fixture_module(&SINK_CONTRACT, "applies notes", register_sink)
};
/// A second subscriber of the notes, always beside the publisher; it does not count.
static NEIGHBOUR_CONTRACT: Contract = fixture_contract("neighbour", &[], &[], &[Noted::NAME]);
static NEIGHBOUR: ModuleDescriptor = ModuleDescriptor {
    subscribes: &[Noted::NAME],
    ..fixture_module(
        &NEIGHBOUR_CONTRACT,
        "applies notes too",
        register_quiet_sink,
    )
};
static FAR_SINK: ModuleDescriptor = ModuleDescriptor {
    subscribes: &[Noted::NAME],
    ..fixture_module(&SINK_CONTRACT, "applies notes", register_quiet_sink)
};

/// The default pause before each message sent one at a time: long enough for both sides'
/// threads to park, as between the requests of a process that is not saturated, so each
/// message pays for waking them. Longer pauses cost more on a virtual machine (its idle vCPUs
/// halt and must be woken): with 20 ms, a request hop measured +450 µs p50 and +390–560 µs
/// CPU, an event crossing +575–900 µs CPU, against +115–160, +140–200 and +470–650 with 1 ms
/// (2026-12-01, loopback, 2-core CI machine kind). Measure the table at the pause your
/// traffic leaves between messages (`--hop-idle-ms`).
pub const IDLE_BETWEEN: Duration = Duration::from_millis(1);

/// Senders at once when CPU is measured: the comparison's clients.
pub const CONCURRENCY: u64 = 16;

const TOKEN: &str = "hops-token";

/// One measured size: what `plan` reads ([`CostPoint`]), with the raw figures beside it.
#[derive(Debug, Clone, Serialize)]
pub struct Point {
    /// Size and extra latency and CPU one message at a time, in the planner's own type (so the
    /// file cannot drift from what it reads).
    #[serde(flatten)]
    pub cost: CostPoint,
    /// In-process median, µs.
    pub local_p50_us: f64,
    /// Over the network, median, µs.
    pub remote_p50_us: f64,
    /// In-process CPU per message, one at a time, µs.
    pub local_cpu_us: f64,
    /// Over the network, CPU per message (both sides), one at a time, µs.
    pub remote_cpu_us: f64,
    /// Extra CPU per message with [`CONCURRENCY`] senders at once, µs (not read by `plan`).
    pub cpu_us_at_load: f64,
    /// Messages per side, for each of the two measurements.
    pub samples: u64,
}

/// The table, as `plan --costs` reads it.
#[derive(Debug, Clone, Serialize)]
pub struct Table {
    /// Where and how it was measured.
    pub measured: String,
    /// Requests by size.
    pub request: Vec<Point>,
    /// Event deliveries by size, the event's only subscriber moved.
    pub event: Vec<Point>,
    /// Event deliveries by size, one subscriber moved while another stays beside the publisher.
    pub event_beside: Vec<Point>,
    /// The pause before each message sent one at a time, milliseconds.
    pub idle_ms: f64,
    /// Resident memory of one idle process of the application, bytes (0 if not measured).
    pub process_rss_bytes: u64,
}

/// Sizes measured, as the length of the payload's text.
const TEXTS: [usize; 4] = [32, 480, 8_000, 64_000];

/// This process's CPU time, µs, to the nanosecond (`/proc`'s figures are in 10 ms ticks,
/// too coarse for a slice of a few hundred messages).
fn cpu_now() -> f64 {
    let now = nix::time::clock_gettime(nix::time::ClockId::CLOCK_PROCESS_CPUTIME_ID)
        .expect("the process CPU clock");
    now.tv_sec() as f64 * 1e6 + now.tv_nsec() as f64 / 1e3
}

/// Where the receiving side of the hops runs.
pub enum FarSide<'a> {
    /// In this process, on its own HTTP worker (for tests: no second binary needed).
    Here,
    /// In a process of its own: `binary --hop-far-side` (the benchmark's own executable), as
    /// an extracted module runs. Its CPU is added to the remote side's.
    Process(&'a Path),
    /// Already serving at this base URL (`cleave-bench --hop-far-side ADDRESS`, started by
    /// someone else: in another container, `scripts/hop-costs-containers.sh`). Its CPU is
    /// added to the remote side's.
    At(&'a str),
}

/// The receiving side: the echo and the sink behind a real internal listener.
struct Far {
    base: String,
    runs: Runs,
}

/// What keeps the far side running.
enum Runs {
    /// Its runtime, in this process.
    Here { _app: TestApp },
    /// Elsewhere (its process, when this one started it), and a client to ask it for its CPU
    /// clock.
    Elsewhere {
        _process: Option<crate::process::Process>,
        client: reqwest::Client,
    },
}

impl Far {
    async fn start(side: FarSide<'_>) -> anyhow::Result<Far> {
        match side {
            FarSide::Here => {
                let (server, base) = far_side_on(TcpListener::bind("127.0.0.1:0")?).await?;
                Ok(Far {
                    base,
                    runs: Runs::Here { _app: server },
                })
            }
            FarSide::Process(binary) => {
                let port = crate::process::free_port();
                let process = crate::process::Process::spawn(
                    binary,
                    &["--hop-far-side".into(), format!("127.0.0.1:{port}")],
                    &[],
                )?;
                let base = format!("http://127.0.0.1:{port}");
                let client = reqwest::Client::new();
                crate::process::wait_healthy(&client, &base).await?;
                Ok(Far {
                    base,
                    runs: Runs::Elsewhere {
                        _process: Some(process),
                        client,
                    },
                })
            }
            FarSide::At(base) => {
                let base = base.trim_end_matches('/').to_string();
                let client = reqwest::Client::new();
                crate::process::wait_healthy(&client, &base).await?;
                Ok(Far {
                    base,
                    runs: Runs::Elsewhere {
                        _process: None,
                        client,
                    },
                })
            }
        }
    }

    /// The far process's CPU clock, µs (0 when it is this process: already counted).
    async fn cpu_us(&self) -> f64 {
        let Runs::Elsewhere { client, .. } = &self.runs else {
            return 0.0;
        };
        let answer = client
            .get(format!("{}/cpu", self.base))
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .expect("the far side answers /cpu");
        answer
            .json::<f64>()
            .await
            .expect("the far side's CPU clock")
    }
}

/// Starts the far side in this process on `listener`: a runtime hosting the echo and the sink,
/// without a relay, behind an internal listener (plus `/health`, and `/cpu`: this process's CPU
/// clock); returns it and its base URL.
async fn far_side_on(listener: TcpListener) -> anyhow::Result<(TestApp, String)> {
    let server = Harness::new()
        .module(&HOPS_MODULE)
        .module(&FAR_SINK)
        .without_relay()
        .start()
        .await;
    let endpoints = Arc::new(InternalEndpoints::new(
        server.bus().clone(),
        server.events().clone(),
        Credentials::shared(Some(TOKEN.to_string())),
        vec![&HOPS, &SINK_CONTRACT],
        CONTRACTS.to_vec(),
        4 * 1024 * 1024,
    ));
    let base = format!("http://{}", listener.local_addr()?);
    let http = HttpServer::new(move || {
        let endpoints = endpoints.clone();
        App::new()
            .configure(|cfg| cleave_extract::configure_internal(cfg, endpoints))
            .route("/health", web::get().to(HttpResponse::Ok))
            .route("/cpu", web::get().to(|| async { web::Json(cpu_now()) }))
    })
    .workers(1)
    .listen(listener)?
    .run();
    tokio::spawn(http);
    Ok((server, base))
}

/// Serves the far side at `address` until the process is killed (`cleave-bench
/// --hop-far-side`, started by [`measure`] with [`FarSide::Process`]).
pub async fn serve_far_side(address: &str) -> anyhow::Result<()> {
    let (_server, _base) = far_side_on(TcpListener::bind(address)?).await?;
    std::future::pending::<()>().await;
    Ok(())
}

/// Measures the table with the receiving side at `far`; with `binary` (an application built
/// on cleave), its idle memory too. Messages one at a time follow `idle` after the one before
/// ([`IDLE_BETWEEN`] by default).
pub async fn measure(
    scale: Scale,
    binary: Option<&Path>,
    far: FarSide<'_>,
    idle: Duration,
) -> anyhow::Result<Table> {
    let where_far = match far {
        FarSide::Here => "loopback, the far side in the same process".to_string(),
        FarSide::Process(_) => "loopback, the far side in a process of its own".to_string(),
        FarSide::At(base) => format!("the far side at {base}"),
    };
    let far = Far::start(far).await?;
    // Built as an application builds it (its HTTP clients included).
    let remote = |contract: &'static Contract| {
        RemoteModule::new(
            contract,
            std::slice::from_ref(&far.base),
            crate::calls::loopback_settings(TOKEN),
            &CONTRACTS,
        )
        .map_err(anyhow::Error::msg)
    };
    // In process: the echo and the sink in the publisher's own runtime, its relay applying the
    // events. Over the network: a caller of the far side's echo, and a publisher whose relay
    // delivers to the far side's sink.
    let monolith = Sender::start(
        Harness::new()
            .module(&NOTES_MODULE)
            .module(&HOPS_MODULE)
            .module(&SINK),
    )
    .await;
    let remote_hops = remote(&HOPS)?;
    // The publisher's route to the far side's sink.
    let to_far_sink = |harness: Harness| -> anyhow::Result<Harness> {
        let route = Arc::new(Acknowledged(remote(&SINK_CONTRACT)?));
        Ok(harness.subscriber_route(Noted::NAME, "sink", route))
    };
    let extracted = Sender::start(to_far_sink(
        Harness::new()
            .module(&NOTES_MODULE)
            .routing(|r| r.remote_module("hops", remote_hops)),
    )?)
    .await;
    // The same two, with a neighbour subscribing beside the publisher.
    let monolith_beside = Sender::start(
        Harness::new()
            .module(&NOTES_MODULE)
            .module(&SINK)
            .module(&NEIGHBOUR),
    )
    .await;
    let extracted_beside = Sender::start(to_far_sink(
        Harness::new().module(&NOTES_MODULE).module(&NEIGHBOUR),
    )?)
    .await;

    let sides = Sides {
        monolith: &monolith,
        extracted: &extracted,
        far: &far,
    };
    let beside = Sides {
        monolith: &monolith_beside,
        extracted: &extracted_beside,
        far: &far,
    };
    let mut request = Vec::new();
    let mut event = Vec::new();
    let mut event_beside = Vec::new();
    // Longer pauses, fewer messages (at least 200): the run stays a few minutes.
    let share = 1e-3 / idle.as_secs_f64().max(1e-3);
    for text in TEXTS {
        let n = scale.pick(if text > 10_000 { 640 } else { 2_000 }, 32);
        let n = ((n as f64 * share) as u64).max(n.min(200));
        request.push(request_point(&sides, text, n, idle).await);
        event.push(event_point(&sides, text, n, idle).await);
        event_beside.push(event_point(&beside, text, n, idle).await);
    }
    let process_rss_bytes = match binary {
        Some(binary) => idle_rss(binary).await?,
        None => 0,
    };
    Ok(Table {
        measured: format!(
            "cleave-bench --hop-costs on {} ({} cores), {where_far}, one message at a time after \
             {} ms idle, events through the relay",
            std::env::consts::ARCH,
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            idle.as_millis()
        ),
        idle_ms: idle.as_secs_f64() * 1e3,
        request,
        event,
        event_beside,
        process_rss_bytes,
    })
}

/// A runtime publishing [`Noted`] from the `notes` module, its relay delivering to the sink;
/// and calling the echo.
struct Sender {
    app: TestApp,
    publisher: Publisher,
}

impl Sender {
    async fn start(harness: Harness) -> Sender {
        let app = harness.start().await;
        let publisher = app.runtime.publisher_of("notes").expect("notes is hosted");
        Sender { app, publisher }
    }

    /// Publishes `event` in a transaction of its own, as a request handler does.
    async fn publish(&self, event: &Noted) {
        let tx = self.app.db().write().await.expect("begin");
        self.publisher.publish(&tx, event).await.expect("publish");
        tx.commit().await.expect("commit");
    }

    /// One event, until the sink has applied it.
    async fn one(&self, event: &Noted) {
        let target = APPLIED.load(Ordering::SeqCst) + 1;
        self.publish(event).await;
        applied(target).await;
    }

    /// `n` events from [`CONCURRENCY`] senders, until all are applied and the outbox has
    /// recorded their deliveries.
    async fn burst(&self, event: &Noted, n: u64) {
        let target = APPLIED.load(Ordering::SeqCst) + n;
        concurrently(n, || self.publish(event)).await;
        applied(target).await;
        let started = Instant::now();
        while cleave::outbox::counts(self.app.db().read())
            .await
            .expect("outbox counts")
            .pending
            > 0
        {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the relay is stuck"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

/// Waits until the sink has applied `target` events in all.
async fn applied(target: u64) {
    let wait = async {
        loop {
            let signal = APPLIED_NOW.notified();
            tokio::pin!(signal);
            signal.as_mut().enable();
            if APPLIED.load(Ordering::SeqCst) >= target {
                return;
            }
            signal.await;
        }
    };
    tokio::time::timeout(Duration::from_secs(60), wait)
        .await
        .expect("the relay applies every event within a minute");
}

/// Runs `n` of `one` from [`CONCURRENCY`] senders at once.
async fn concurrently<F, Fut>(n: u64, one: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    futures::future::join_all((0..CONCURRENCY).map(|sender| {
        let share = n / CONCURRENCY + u64::from(sender < n % CONCURRENCY);
        let one = &one;
        async move {
            for _ in 0..share {
                one().await;
            }
        }
    }))
    .await;
}

/// One side's figures: latencies and CPU µs per message one at a time, CPU µs per message
/// under load.
struct Side {
    latencies: Latencies,
    cpu_us: f64,
    load_cpu_us: f64,
}

/// Measures both sides in four alternating slices of `n` messages each: `one` sends one
/// message, `burst` sends a number of them from [`CONCURRENCY`] senders.
async fn alternate<O, OF, B, BF>(
    n: u64,
    idle: Duration,
    far: &Far,
    mut one: O,
    mut burst: B,
) -> (Side, Side)
where
    O: FnMut(bool) -> OF,
    OF: std::future::Future<Output = ()>,
    B: FnMut(bool, u64) -> BF,
    BF: std::future::Future<Output = ()>,
{
    for remote in [false, true] {
        for _ in 0..20 {
            one(remote).await;
        }
    }
    let mut sides = [false, true].map(|_| Side {
        latencies: Latencies::default(),
        cpu_us: 0.0,
        load_cpu_us: 0.0,
    });
    let slices = 4;
    let per_slice = (n / slices).max(CONCURRENCY);
    for _ in 0..slices {
        for (side, remote) in sides.iter_mut().zip([false, true]) {
            // Over the network, the far side's CPU counts too.
            let clock = async || cpu_now() + if remote { far.cpu_us().await } else { 0.0 };
            let cpu = clock().await;
            for _ in 0..per_slice {
                tokio::time::sleep(idle).await;
                let started = Instant::now();
                one(remote).await;
                side.latencies.record(started.elapsed());
            }
            side.cpu_us += clock().await - cpu;
            let cpu = clock().await;
            burst(remote, per_slice).await;
            side.load_cpu_us += clock().await - cpu;
        }
    }
    let total = (slices * per_slice) as f64;
    let [local, remote] = sides.map(|side| Side {
        cpu_us: side.cpu_us / total,
        load_cpu_us: side.load_cpu_us / total,
        ..side
    });
    (local, remote)
}

fn point(bytes: usize, samples: u64, local: Side, remote: Side) -> Point {
    let (l, r) = (local.latencies.summary(), remote.latencies.summary());
    Point {
        cost: CostPoint {
            bytes: bytes as f64,
            p50_us: (r.p50_us - l.p50_us).max(0.0),
            p99_us: (r.p99_us - l.p99_us).max(0.0),
            cpu_us: (remote.cpu_us - local.cpu_us).max(0.0),
        },
        local_p50_us: l.p50_us,
        remote_p50_us: r.p50_us,
        local_cpu_us: local.cpu_us,
        remote_cpu_us: remote.cpu_us,
        cpu_us_at_load: (remote.load_cpu_us - local.load_cpu_us).max(0.0),
        samples,
    }
}

/// The two sending sides and the far one.
struct Sides<'a> {
    monolith: &'a Sender,
    extracted: &'a Sender,
    far: &'a Far,
}

impl Sides<'_> {
    fn sender(&self, remote: bool) -> &Sender {
        if remote {
            self.extracted
        } else {
            self.monolith
        }
    }
}

async fn request_point(sides: &Sides<'_>, text: usize, n: u64, idle: Duration) -> Point {
    let payload = Payload {
        text: "x".repeat(text),
    };
    let bytes = 2 * cleave::traffic::json_size(&payload);
    let call = |remote: bool| {
        let payload = payload.clone();
        async move {
            let bus = sides.sender(remote).app.bus();
            bus.call(payload).await.expect("echo");
        }
    };
    let (local, remote) = alternate(n, idle, sides.far, call, |remote, n| {
        concurrently(n, move || call(remote))
    })
    .await;
    point(bytes, n, local, remote)
}

async fn event_point(sides: &Sides<'_>, text: usize, n: u64, idle: Duration) -> Point {
    let event = Noted {
        text: "x".repeat(text),
    };
    let bytes = cleave::traffic::json_size(&cleave::testing::envelope("notes", &event));
    let (local, remote) = alternate(
        n,
        idle,
        sides.far,
        |remote| sides.sender(remote).one(&event),
        |remote, n| sides.sender(remote).burst(&event, n),
    )
    .await;
    point(bytes, n, local, remote)
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
