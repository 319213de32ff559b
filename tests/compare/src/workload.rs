//! The public API driven as a client would, by a workload the application supplies:
//! latencies, throughput, and runs with a fault injected into one container.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use anyhow::bail;
use async_trait::async_trait;
use serde::Serialize;
use serde_json::{Value, json};

use crate::topology::Topology;

/// A client of an application's public API that sends `/api/<module>` to the container
/// hosting that module, as a gateway in front of the containers would. Clones share the routes.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    routes: Arc<RwLock<Vec<(String, String)>>>,
}

/// The answer to one request: status (0 when no HTTP answer came) and body.
pub type Answer = (u16, Value);

impl Client {
    /// A client for `topology`, whose requests time out after `timeout`.
    pub fn new(topology: &Topology, timeout: Duration) -> Client {
        Client {
            http: reqwest::Client::builder()
                .timeout(timeout)
                .build()
                .expect("HTTP client"),
            routes: Arc::new(RwLock::new(topology.routes())),
        }
    }

    /// Takes the topology's current addresses (after a container was restarted).
    pub fn follow(&self, topology: &Topology) {
        *self.routes.write().expect("routes") = topology.routes();
    }

    /// The full URL of `path`: the container of the module its `/api/<module>` prefix names,
    /// else the first container.
    pub fn url(&self, path: &str) -> String {
        let routes = self.routes.read().expect("routes");
        let module_of = |prefix: &str| {
            path.strip_prefix(prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '?']))
        };
        let base = routes
            .iter()
            .find(|(prefix, _)| module_of(prefix))
            .or_else(|| routes.first())
            .map(|(_, base)| base.clone())
            .unwrap_or_default();
        format!("{base}{path}")
    }

    /// Sends a request; a transport failure (refused, timed out) is status 0 with the error
    /// as the body's `message`.
    pub async fn send(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> Answer {
        let mut request = self.http.request(method, self.url(path));
        if let Some(body) = body {
            request = request.json(body);
        }
        match request.send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                (status, r.json().await.unwrap_or(Value::Null))
            }
            Err(e) => (0, json!({"error": "transport", "message": e.to_string()})),
        }
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Answer {
        self.send(reqwest::Method::GET, path, None).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> Answer {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    /// `PUT path` with a JSON body.
    pub async fn put(&self, path: &str, body: &Value) -> Answer {
        self.send(reqwest::Method::PUT, path, Some(body)).await
    }
}

/// What the report calls the workload's parts, so it reads in the application's words.
#[derive(Debug, Clone, Serialize)]
pub struct Words {
    /// One operation, e.g. `order`.
    pub operation: String,
    /// Several, e.g. `orders`.
    pub operations: String,
    /// The state an operation reaches when its asynchronous part is done, e.g. `paid`.
    pub completed: String,
    /// What starts an operation, e.g. `` `POST /api/orders` ``.
    pub start: String,
    /// The module the fault runs disturb, e.g. `billing`.
    pub fault_module: String,
    /// The read that needs the fault module synchronously, e.g. `` a receipt
    /// (`GET /api/orders/{id}/receipt`) ``.
    pub probe: String,
    /// The effect that must happen exactly once per operation, e.g. `one invoice holding one
    /// payment`.
    pub effect: String,
}

/// What the comparison does to an application: supplied by the application (the shop's
/// orders, the library's loans), so this library knows none.
///
/// An operation starts with one request (measured as "start" latency) and completes
/// asynchronously through events (measured until [`Workload::completed`] says so). The fault
/// runs kill or freeze the container of [`Words::fault_module`] and check, through the
/// public API, that every accepted operation completed with its effect applied once.
#[async_trait]
pub trait Workload: Send + Sync {
    /// The report's words for this workload.
    fn words(&self) -> Words;

    /// Creates what the operations of `scope` need (e.g. a product in stock), once per
    /// scope and topology; `scope` is a short uppercase word (`WARM`, `LAT`, `LOAD1`,
    /// `FAULT-KILL`), and operation indices are unique within a scope only.
    async fn prepare(&self, client: &Client, scope: &str) -> anyhow::Result<()>;

    /// Starts operation `i` of `scope`: `Ok(id)` when accepted, else the answer.
    async fn start(&self, client: &Client, scope: &str, i: usize) -> Result<String, Answer>;

    /// Whether operation `id` completed; `false` also when it cannot be read now.
    async fn completed(&self, client: &Client, id: &str) -> bool;

    /// The status of a read of `id` that needs the fault module synchronously.
    async fn probe(&self, client: &Client, id: &str) -> u16;

    /// Whether the effect of operation `id` happened exactly once.
    async fn effect_once(&self, client: &Client, id: &str) -> anyhow::Result<bool>;

    /// Configuration keys (e.g. `module.billing.gateway_latency_ms`) and values the fault
    /// module's replicas get in the scaling runs, to make its work wait like the real thing
    /// would; none by default.
    fn scaling_settings(&self) -> Vec<(String, String)> {
        Vec::new()
    }

    /// The public routes [`Workload::start`] sends, as `(method, route pattern)` the way the
    /// application's `/metrics` labels them (`("POST", "/api/orders")`). The comparison adds
    /// up `plan`'s predicted extra latency of these routes and sets it beside the measured
    /// extra start latency; none: no latency prediction.
    fn start_routes(&self) -> Vec<(&'static str, &'static str)> {
        Vec::new()
    }
}

/// Polls every `poll` until operation `id` completed; fails after `timeout`. Returns how many
/// times it asked.
pub async fn wait_completed(
    workload: &dyn Workload,
    client: &Client,
    id: &str,
    poll: Duration,
    timeout: Duration,
) -> anyhow::Result<usize> {
    let deadline = Instant::now() + timeout;
    let mut asked = 0;
    loop {
        asked += 1;
        if workload.completed(client, id).await {
            return Ok(asked);
        }
        if Instant::now() > deadline {
            bail!(
                "{} {id} not {} within {timeout:?}",
                workload.words().operation,
                workload.words().completed
            );
        }
        tokio::time::sleep(poll).await;
    }
}

/// Waits until every operation of `ids` completed, polling each every `poll` for up to 60 s.
pub async fn wait_all_completed<'a>(
    workload: &dyn Workload,
    client: &Client,
    ids: impl IntoIterator<Item = &'a String>,
    poll: Duration,
) -> anyhow::Result<()> {
    for id in ids {
        wait_completed(workload, client, id, poll, Duration::from_secs(60)).await?;
    }
    Ok(())
}

/// Percentiles of a set of durations, in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Percentiles {
    /// How many.
    pub count: usize,
    /// Median.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest.
    pub max_ms: f64,
}

impl Percentiles {
    /// Nearest-rank percentiles of `samples`.
    pub fn of(samples: &[Duration]) -> Percentiles {
        let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        ms.sort_by(f64::total_cmp);
        let rank = |p: f64| {
            if ms.is_empty() {
                return 0.0;
            }
            let i = ((p * ms.len() as f64).ceil() as usize).clamp(1, ms.len()) - 1;
            ms[i]
        };
        Percentiles {
            count: ms.len(),
            p50_ms: rank(0.50),
            p99_ms: rank(0.99),
            max_ms: ms.last().copied().unwrap_or(0.0),
        }
    }
}

/// Latency of one operation at a time: starting it, and until it completed.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Latencies {
    /// The starting request until its answer.
    pub place: Percentiles,
    /// The starting request until the operation completed (polled every 2 ms).
    pub to_paid: Percentiles,
}

/// Starts operation `i` of `scope`; a refusal is an error.
pub async fn start_one(
    workload: &dyn Workload,
    client: &Client,
    scope: &str,
    i: usize,
) -> anyhow::Result<String> {
    match workload.start(client, scope, i).await {
        Ok(id) => Ok(id),
        Err((status, body)) => bail!("{} refused: {status} {body}", workload.words().operation),
    }
}

/// Runs `count` operations of `scope` one after the other and times each. Each starts once
/// the one before has completed and `topology` has settled (no node has an event left in its
/// outbox): started the moment the previous one completed, an operation would queue behind
/// that one's trailing deliveries on a node's one SQLite writer, and its latency would measure
/// that overlap rather than the placement (ADR 14).
pub async fn latencies(
    workload: &dyn Workload,
    client: &Client,
    topology: &Topology,
    scope: &str,
    count: usize,
) -> anyhow::Result<Latencies> {
    let mut place = Vec::with_capacity(count);
    let mut to_paid = Vec::with_capacity(count);
    for i in 0..count {
        let started = Instant::now();
        let id = start_one(workload, client, scope, i).await?;
        place.push(started.elapsed());
        wait_completed(
            workload,
            client,
            &id,
            Duration::from_millis(2),
            Duration::from_secs(30),
        )
        .await?;
        to_paid.push(started.elapsed());
        topology.wait_settled(Duration::from_secs(30)).await?;
    }
    Ok(Latencies {
        place: Percentiles::of(&place),
        to_paid: Percentiles::of(&to_paid),
    })
}

/// Operations started by a fixed number of clients at once.
#[derive(Debug, Clone, Serialize)]
pub struct Throughput {
    /// Operations started.
    pub orders: usize,
    /// Clients starting operations at the same time.
    pub concurrency: usize,
    /// Accepted operations per second of the starting phase.
    pub orders_per_s: f64,
    /// Latency of the starting requests under this load.
    pub place: Percentiles,
    /// From the start until the last operation completed.
    pub all_paid_s: f64,
    /// Operations per second of every round, when several were run.
    pub rounds: Vec<f64>,
    /// Wall time of all rounds, from the first operation until the last completed, in seconds.
    pub wall_s: f64,
    /// The operations' ids, to check afterwards.
    #[serde(skip)]
    pub ids: Vec<String>,
}

/// Starts `count` operations of `scope` from `concurrency` clients, then waits until all
/// completed.
pub async fn throughput(
    workload: &Arc<dyn Workload>,
    client: &Client,
    scope: &str,
    count: usize,
    concurrency: usize,
) -> anyhow::Result<Throughput> {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let clients = (0..concurrency).map(|_| {
        let (workload, client, next, scope) = (
            workload.clone(),
            client.clone(),
            next.clone(),
            scope.to_string(),
        );
        tokio::spawn(async move {
            let mut placed = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= count {
                    return Ok::<_, anyhow::Error>(placed);
                }
                let sent = Instant::now();
                match workload.start(&client, &scope, i).await {
                    Ok(id) => placed.push((sent.elapsed(), id)),
                    Err((status, body)) => bail!(
                        "{} refused under load: {status} {body}",
                        workload.words().operation
                    ),
                }
            }
        })
    });
    let mut latencies = Vec::with_capacity(count);
    let mut ids = Vec::with_capacity(count);
    for client in futures::future::join_all(clients).await {
        for (latency, id) in client?? {
            latencies.push(latency);
            ids.push(id);
        }
    }
    let placing = started.elapsed();
    wait_all_completed(workload.as_ref(), client, &ids, Duration::from_millis(20)).await?;
    Ok(Throughput {
        orders: count,
        concurrency,
        orders_per_s: count as f64 / placing.as_secs_f64(),
        place: Percentiles::of(&latencies),
        all_paid_s: started.elapsed().as_secs_f64(),
        rounds: Vec::new(),
        wall_s: started.elapsed().as_secs_f64(),
        ids,
    })
}

/// What is done to the fault module's container in a fault run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// Killed (no graceful shutdown), then started again: a crash, or a deploy.
    Kill,
    /// Frozen, then thawed: a hung process or a network black hole.
    Pause,
}

impl Fault {
    /// Name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Fault::Kill => "kill",
            Fault::Pause => "pause",
        }
    }
}

/// The phases of a fault run.
#[derive(Debug, Clone, Copy)]
pub struct FaultPlan {
    /// Operations started before the fault.
    pub before: Duration,
    /// How long the fault module stays down.
    pub during: Duration,
    /// Operations started after it is back.
    pub after: Duration,
    /// One operation every `pace`.
    pub pace: Duration,
}

impl Default for FaultPlan {
    fn default() -> Self {
        FaultPlan {
            before: Duration::from_millis(1_000),
            during: Duration::from_millis(3_000),
            after: Duration::from_millis(1_000),
            pace: Duration::from_millis(50),
        }
    }
}

/// One started operation during a fault run.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Sample {
    /// When it was sent, from the start of the run, in seconds.
    pub at_s: f64,
    /// 201 when accepted, else the answer's status (0: no HTTP answer).
    pub status: u16,
    /// How long it took, in milliseconds.
    pub ms: f64,
    /// Whether it was sent while the fault module was down.
    pub during: bool,
}

/// What happened in a fault run, all of it read through the public API.
#[derive(Debug, Clone, Serialize)]
pub struct FaultRun {
    /// What was done to the fault module's container.
    pub fault: Fault,
    /// Operations started while the fault module was down: accepted.
    pub accepted_during: usize,
    /// Operations started while the fault module was down: not accepted.
    pub refused_during: usize,
    /// Operations started before and after the fault that were not accepted.
    pub refused_outside: usize,
    /// The probe (a read needing the fault module) while it was down: status and ms.
    pub receipts_during: Vec<(u16, f64)>,
    /// The probe after the fault module was back.
    pub receipt_after: u16,
    /// From starting the fault module's container again (or thawing it) until it was ready,
    /// in seconds.
    pub restart_s: f64,
    /// From the fault module's return until every operation accepted before and during the
    /// fault completed, in seconds.
    pub recovered_s: f64,
    /// Accepted operations in the run.
    pub accepted: usize,
    /// Accepted operations whose effect happened exactly once.
    pub invoiced_once: usize,
    /// Every started operation, for the timeline chart.
    pub timeline: Vec<Sample>,
}

/// Starts operations at a steady pace while the fault module's container is killed or paused
/// and brought back, then checks through the API that every accepted operation completed
/// with its effect applied exactly once.
pub async fn fault_run(
    topology: &mut Topology,
    workload: &Arc<dyn Workload>,
    client: &Client,
    fault: Fault,
    plan: FaultPlan,
) -> anyhow::Result<FaultRun> {
    let words = workload.words();
    let module = words.fault_module.as_str();
    let scope = format!("FAULT-{}", fault.name().to_uppercase());
    workload.prepare(client, &scope).await?;
    let first = match workload.start(client, &scope, 0).await {
        Ok(id) => id,
        Err((status, body)) => bail!("the first {} was refused: {status} {body}", words.operation),
    };
    wait_completed(
        workload.as_ref(),
        client,
        &first,
        Duration::from_millis(10),
        Duration::from_secs(30),
    )
    .await?;

    let down = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let run_started = Instant::now();
    let accepted = Arc::new(std::sync::Mutex::new(Vec::new()));
    let placer = {
        let (workload, client, down, stop, scope) = (
            workload.clone(),
            client.clone(),
            down.clone(),
            stop.clone(),
            scope.clone(),
        );
        let ids = accepted.clone();
        tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut i = 1;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let sent = Instant::now();
                let during = down.load(std::sync::atomic::Ordering::Relaxed);
                let started = workload.start(&client, &scope, i).await;
                samples.push(Sample {
                    at_s: (sent - run_started).as_secs_f64(),
                    status: match &started {
                        Ok(_) => 201,
                        Err((status, _)) => *status,
                    },
                    ms: sent.elapsed().as_secs_f64() * 1e3,
                    during,
                });
                if let Ok(id) = started {
                    ids.lock().expect("ids").push(id);
                }
                i += 1;
                tokio::time::sleep(plan.pace.saturating_sub(sent.elapsed())).await;
            }
            samples
        })
    };

    tokio::time::sleep(plan.before).await;
    let fault_started = Instant::now();
    down.store(true, std::sync::atomic::Ordering::Relaxed);
    match fault {
        Fault::Kill => topology.kill(module).await?,
        Fault::Pause => topology.pause(module).await?,
    }
    let mut receipts_during = Vec::new();
    for _ in 0..3 {
        let sent = Instant::now();
        let status = workload.probe(client, &first).await;
        receipts_during.push((status, sent.elapsed().as_secs_f64() * 1e3));
    }
    tokio::time::sleep(plan.during.saturating_sub(fault_started.elapsed())).await;
    let restarted = Instant::now();
    match fault {
        Fault::Kill => {
            topology.restart(module, Duration::from_secs(60)).await?;
        }
        Fault::Pause => topology.unpause(module).await?,
    }
    let restart_s = restarted.elapsed().as_secs_f64();
    client.follow(topology);
    down.store(false, std::sync::atomic::Ordering::Relaxed);
    let back = Instant::now();
    // Recovery: until every operation accepted so far (before and while down) completed.
    let so_far = accepted.lock().expect("ids").clone();
    wait_all_completed(
        workload.as_ref(),
        client,
        so_far.iter().chain([&first]),
        Duration::from_millis(10),
    )
    .await?;
    let recovered_s = back.elapsed().as_secs_f64();
    tokio::time::sleep(plan.after.saturating_sub(back.elapsed())).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let timeline = placer.await?;
    let ids = accepted.lock().expect("ids").clone();
    // Those accepted after the module was back; the earlier ones completed already.
    wait_all_completed(
        workload.as_ref(),
        client,
        &ids[so_far.len()..],
        Duration::from_millis(20),
    )
    .await?;
    let mut invoiced_once = 0;
    for id in ids.iter().chain([&first]) {
        if workload.effect_once(client, id).await? {
            invoiced_once += 1;
        }
    }
    let receipt_after = workload.probe(client, &first).await;
    let count = |during: bool, accepted: bool| {
        timeline
            .iter()
            .filter(|s| s.during == during && (s.status == 201) == accepted)
            .count()
    };
    Ok(FaultRun {
        fault,
        accepted_during: count(true, true),
        refused_during: count(true, false),
        refused_outside: count(false, false),
        receipts_during,
        receipt_after,
        restart_s,
        recovered_s,
        accepted: ids.len() + 1,
        invoiced_once,
        timeline,
    })
}
