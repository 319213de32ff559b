//! The public API driven as a client would: orders, latencies, throughput, and runs with a
//! fault injected into one container.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Serialize;
use serde_json::{Value, json};

use crate::topology::Topology;

/// A client of the shop's public API that sends `/api/<module>` to the container hosting it,
/// as a gateway in front of the containers would. Clones share the routes.
#[derive(Clone)]
pub struct Shop {
    http: reqwest::Client,
    routes: Arc<RwLock<Vec<(String, String)>>>,
}

/// The answer to one request: status (0 when no HTTP answer came) and body.
pub type Answer = (u16, Value);

impl Shop {
    /// A client for `topology`, whose requests time out after `timeout`.
    pub fn new(topology: &Topology, timeout: Duration) -> Shop {
        Shop {
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

    /// The full URL of `path`.
    pub fn url(&self, path: &str) -> String {
        let routes = self.routes.read().expect("routes");
        let base = routes
            .iter()
            .find(|(prefix, _)| path.starts_with(prefix.as_str()))
            .or_else(|| routes.iter().find(|(prefix, _)| prefix == "/api/orders"))
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

    /// Adds a product with `stock` units on hand.
    pub async fn stock_product(
        &self,
        sku: &str,
        price_cents: i64,
        stock: u32,
    ) -> anyhow::Result<()> {
        let product =
            json!({"sku": sku, "name": format!("Product {sku}"), "price_cents": price_cents});
        let (status, body) = self
            .send(
                reqwest::Method::POST,
                "/api/catalog/products",
                Some(&product),
            )
            .await;
        if status != 201 {
            bail!("create {sku}: {status} {body}");
        }
        let (status, body) = self
            .send(
                reqwest::Method::PUT,
                &format!("/api/inventory/stock/{sku}"),
                Some(&json!({ "quantity": stock })),
            )
            .await;
        if status != 200 {
            bail!("stock {sku}: {status} {body}");
        }
        Ok(())
    }

    /// Places an order of one unit of `sku`.
    pub async fn place(&self, customer: &str, sku: &str) -> Answer {
        let order = json!({"customer": customer, "lines": [{"sku": sku, "quantity": 1}]});
        self.send(reqwest::Method::POST, "/api/orders", Some(&order))
            .await
    }

    /// The order's status (`placed`, `paid`), or `None` when it cannot be read now.
    pub async fn status(&self, id: &str) -> Option<String> {
        match self.get(&format!("/api/orders/{id}")).await {
            (200, body) => body["status"].as_str().map(str::to_string),
            _ => None,
        }
    }

    /// Polls every `poll` until the order is paid; fails after `timeout`.
    pub async fn wait_paid(
        &self,
        id: &str,
        poll: Duration,
        timeout: Duration,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.status(id).await.as_deref() == Some("paid") {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("order {id} not paid within {timeout:?}");
            }
            tokio::time::sleep(poll).await;
        }
    }

    /// Waits until every order of `ids` is paid, polling each every `poll` for up to 60 s.
    pub async fn wait_all_paid<'a>(
        &self,
        ids: impl IntoIterator<Item = &'a String>,
        poll: Duration,
    ) -> anyhow::Result<()> {
        for id in ids {
            self.wait_paid(id, poll, Duration::from_secs(60)).await?;
        }
        Ok(())
    }

    /// The order's invoices, each with its payments, as billing serves them.
    pub async fn invoices(&self, id: &str) -> anyhow::Result<Vec<Value>> {
        match self
            .get(&format!("/api/billing/invoices?order_id={id}"))
            .await
        {
            (200, body) => Ok(body["invoices"].as_array().cloned().unwrap_or_default()),
            (status, body) => bail!("invoices of {id}: {status} {body}"),
        }
    }
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

/// Latency of one order at a time: placing it, and until it is paid.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Latencies {
    /// `POST /api/orders` until its 201.
    pub place: Percentiles,
    /// `POST /api/orders` until `GET /api/orders/{id}` says `paid` (polled every 2 ms).
    pub to_paid: Percentiles,
}

/// Places `orders` orders one after the other and times each.
pub async fn latencies(shop: &Shop, sku: &str, orders: usize) -> anyhow::Result<Latencies> {
    let mut place = Vec::with_capacity(orders);
    let mut to_paid = Vec::with_capacity(orders);
    for i in 0..orders {
        let started = Instant::now();
        let (status, body) = shop.place(&format!("lat{i}"), sku).await;
        if status != 201 {
            bail!("order refused: {status} {body}");
        }
        place.push(started.elapsed());
        let id = body["id"].as_str().context("order id")?;
        shop.wait_paid(id, Duration::from_millis(2), Duration::from_secs(30))
            .await?;
        to_paid.push(started.elapsed());
    }
    Ok(Latencies {
        place: Percentiles::of(&place),
        to_paid: Percentiles::of(&to_paid),
    })
}

/// Orders placed by a fixed number of clients at once.
#[derive(Debug, Clone, Serialize)]
pub struct Throughput {
    /// Orders placed.
    pub orders: usize,
    /// Clients placing orders at the same time.
    pub concurrency: usize,
    /// Accepted orders per second of the placing phase.
    pub orders_per_s: f64,
    /// Latency of the placements under this load.
    pub place: Percentiles,
    /// From the start until the last order was paid.
    pub all_paid_s: f64,
    /// Orders per second of every round, when several were run.
    pub rounds: Vec<f64>,
    /// Wall time of all rounds, from the first order until the last was paid, in seconds.
    pub wall_s: f64,
    /// The orders' ids, to check afterwards.
    #[serde(skip)]
    pub ids: Vec<String>,
}

/// Places `orders` orders from `concurrency` clients, then waits until all are paid.
pub async fn throughput(
    shop: &Shop,
    sku: &str,
    orders: usize,
    concurrency: usize,
) -> anyhow::Result<Throughput> {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let clients = (0..concurrency).map(|_| {
        let (shop, next, sku) = (shop.clone(), next.clone(), sku.to_string());
        tokio::spawn(async move {
            let mut placed = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= orders {
                    return Ok::<_, anyhow::Error>(placed);
                }
                let sent = Instant::now();
                let (status, body) = shop.place(&format!("load{i}"), &sku).await;
                if status != 201 {
                    bail!("order refused under load: {status} {body}");
                }
                placed.push((
                    sent.elapsed(),
                    body["id"].as_str().unwrap_or_default().to_string(),
                ));
            }
        })
    });
    let mut latencies = Vec::with_capacity(orders);
    let mut ids = Vec::with_capacity(orders);
    for client in futures::future::join_all(clients).await {
        for (latency, id) in client?? {
            latencies.push(latency);
            ids.push(id);
        }
    }
    let placing = started.elapsed();
    shop.wait_all_paid(&ids, Duration::from_millis(20)).await?;
    Ok(Throughput {
        orders,
        concurrency,
        orders_per_s: orders as f64 / placing.as_secs_f64(),
        place: Percentiles::of(&latencies),
        all_paid_s: started.elapsed().as_secs_f64(),
        rounds: Vec::new(),
        wall_s: started.elapsed().as_secs_f64(),
        ids,
    })
}

/// What is done to billing's container in a fault run.
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
    /// Orders placed before the fault.
    pub before: Duration,
    /// How long billing stays down.
    pub during: Duration,
    /// Orders placed after billing is back.
    pub after: Duration,
    /// One order every `pace`.
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

/// One placement during a fault run.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Sample {
    /// When it was sent, from the start of the run, in seconds.
    pub at_s: f64,
    /// Its status (0: no HTTP answer).
    pub status: u16,
    /// How long it took, in milliseconds.
    pub ms: f64,
    /// Whether it was sent while billing was down.
    pub during: bool,
}

/// What happened in a fault run, all of it read through the public API.
#[derive(Debug, Clone, Serialize)]
pub struct FaultRun {
    /// What was done to billing's container.
    pub fault: Fault,
    /// Placements while billing was down: accepted (201).
    pub accepted_during: usize,
    /// Placements while billing was down: not accepted.
    pub refused_during: usize,
    /// Placements before and after the fault that were not accepted.
    pub refused_outside: usize,
    /// `GET /api/orders/{id}/receipt` (needs billing) while billing was down: status and ms.
    pub receipts_during: Vec<(u16, f64)>,
    /// The receipt after billing was back.
    pub receipt_after: u16,
    /// From starting billing's container again (or thawing it) until it was ready, in seconds.
    pub restart_s: f64,
    /// From billing's return until every order accepted before and during the fault was paid,
    /// in seconds.
    pub recovered_s: f64,
    /// Accepted orders in the run.
    pub accepted: usize,
    /// Accepted orders with exactly one invoice holding exactly one payment.
    pub invoiced_once: usize,
    /// Every placement, for the timeline chart.
    pub timeline: Vec<Sample>,
}

/// Places orders at a steady pace while billing's container is killed or paused and brought
/// back, then checks through the API that every accepted order was paid exactly once.
pub async fn fault_run(
    topology: &mut Topology,
    shop: &Shop,
    fault: Fault,
    plan: FaultPlan,
) -> anyhow::Result<FaultRun> {
    let sku = format!("FAULT-{}", fault.name().to_uppercase());
    shop.stock_product(&sku, 500, 1_000_000).await?;
    let (status, body) = shop.place("fault-first", &sku).await;
    if status != 201 {
        bail!("the first order was refused: {status} {body}");
    }
    let first = body["id"].as_str().context("order id")?.to_string();
    shop.wait_paid(&first, Duration::from_millis(10), Duration::from_secs(30))
        .await?;

    let down = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let run_started = Instant::now();
    let accepted = Arc::new(std::sync::Mutex::new(Vec::new()));
    let placer = {
        let (shop, down, stop, sku) = (shop.clone(), down.clone(), stop.clone(), sku.clone());
        let ids = accepted.clone();
        tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let sent = Instant::now();
                let during = down.load(std::sync::atomic::Ordering::Relaxed);
                let (status, body) = shop.place(&format!("fault{i}"), &sku).await;
                samples.push(Sample {
                    at_s: (sent - run_started).as_secs_f64(),
                    status,
                    ms: sent.elapsed().as_secs_f64() * 1e3,
                    during,
                });
                if status == 201
                    && let Some(id) = body["id"].as_str()
                {
                    ids.lock().expect("ids").push(id.to_string());
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
        Fault::Kill => topology.kill("billing").await?,
        Fault::Pause => topology.pause("billing").await?,
    }
    let mut receipts_during = Vec::new();
    for _ in 0..3 {
        let sent = Instant::now();
        let (status, _) = shop.get(&format!("/api/orders/{first}/receipt")).await;
        receipts_during.push((status, sent.elapsed().as_secs_f64() * 1e3));
    }
    tokio::time::sleep(plan.during.saturating_sub(fault_started.elapsed())).await;
    let restarted = Instant::now();
    match fault {
        Fault::Kill => {
            topology.restart("billing", Duration::from_secs(60)).await?;
        }
        Fault::Pause => topology.unpause("billing").await?,
    }
    let restart_s = restarted.elapsed().as_secs_f64();
    shop.follow(topology);
    down.store(false, std::sync::atomic::Ordering::Relaxed);
    let back = Instant::now();
    // Recovery: until every order accepted so far (before and while billing was down) is paid.
    let so_far = accepted.lock().expect("ids").clone();
    shop.wait_all_paid(so_far.iter().chain([&first]), Duration::from_millis(10))
        .await?;
    let recovered_s = back.elapsed().as_secs_f64();
    tokio::time::sleep(plan.after.saturating_sub(back.elapsed())).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let timeline = placer.await?;
    let ids = accepted.lock().expect("ids").clone();
    // Those accepted after billing was back; the earlier ones are paid already.
    shop.wait_all_paid(&ids[so_far.len()..], Duration::from_millis(20))
        .await?;
    let mut invoiced_once = 0;
    for id in ids.iter().chain([&first]) {
        let invoices = shop.invoices(id).await?;
        if invoices.len() == 1 && invoices[0]["payments"].as_array().map_or(0, Vec::len) == 1 {
            invoiced_once += 1;
        }
    }
    let (receipt_after, _) = shop.get(&format!("/api/orders/{first}/receipt")).await;
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
