//! What a call costs: in-process `bus.call` against a direct `async_trait` call, and a remote
//! `bus.call` over the extraction transport against a bare actix-web JSON echo, both on
//! loopback through the same HTTP client.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{App, HttpResponse, HttpServer, web};
use async_trait::async_trait;
use cleave::testing::{Harness, TestApp};
use cleave::{Contract, Failure, Handler, Request, Version};
use cleave_extract::{InternalEndpoints, RemoteModule, RemoteSettings, configure_internal};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::Scale;
use crate::stats::{Latencies, Summary, ratio};

/// The benchmark request: about 100 bytes of JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Echo {
    /// Carried there and back.
    pub text: String,
    /// A number, so the payload is not only a string.
    pub n: u64,
}

impl Request for Echo {
    const NAME: &'static str = "bench.echo";
    type Response = Echo;
    type Error = String;
}

static CONTRACT: Contract = Contract::new("bench", Version::new(1, 0), &[Echo::NAME], &[], &[]);

/// The trivial handler both sides call.
pub struct EchoHandler;

#[async_trait]
impl Handler<Echo> for EchoHandler {
    async fn handle(&self, request: Echo) -> Result<Echo, Failure<String>> {
        Ok(Echo {
            text: request.text,
            n: request.n + 1,
        })
    }
}

fn payload(n: u64) -> Echo {
    Echo {
        text: "the quick brown fox jumps over the lazy dog, twice: the quick brown fox".into(),
        n,
    }
}

/// In-process call figures.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LocalCalls {
    /// Nanoseconds per call, median over batches, through `bus.call`.
    pub bus_ns: f64,
    /// Nanoseconds per call, median over batches, through `Arc<dyn Handler>`.
    pub direct_ns: f64,
    /// `bus_ns / direct_ns`; target ≤ 2.0.
    pub local_call_vs_direct: f64,
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

/// Times batches of in-process calls, alternating bus and direct batches.
pub async fn local_calls(scale: Scale) -> LocalCalls {
    let app = Harness::new()
        .routing(|r| r.local_handler::<Echo>("bench", Arc::new(EchoHandler)))
        .without_relay()
        .start()
        .await;
    let direct: Arc<dyn Handler<Echo>> = Arc::new(EchoHandler);
    let (rounds, batch) = scale.pick((40, 20_000u64), (3, 200));
    let request = payload(0);
    let mut bus_batches = Vec::new();
    let mut direct_batches = Vec::new();
    for round in 0..rounds + 2 {
        let started = Instant::now();
        for i in 0..batch {
            let mut r = request.clone();
            r.n = i;
            std::hint::black_box(app.bus().call(r).await.unwrap());
        }
        let bus = started.elapsed();
        let started = Instant::now();
        for i in 0..batch {
            let mut r = request.clone();
            r.n = i;
            std::hint::black_box(direct.handle(r).await.unwrap());
        }
        let plain = started.elapsed();
        if round >= 2 {
            // The first rounds warm caches and the allocator.
            bus_batches.push(bus.as_nanos() as f64 / batch as f64);
            direct_batches.push(plain.as_nanos() as f64 / batch as f64);
        }
    }
    let bus_ns = median(bus_batches);
    let direct_ns = median(direct_batches);
    LocalCalls {
        bus_ns,
        direct_ns,
        local_call_vs_direct: ratio(bus_ns, direct_ns),
    }
}

/// Remote call figures.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RemoteCalls {
    /// Sequential remote `bus.call` latency.
    pub remote: Summary,
    /// Sequential bare echo latency.
    pub bare: Summary,
    /// Target ≤ 1.2.
    pub remote_call_p50_vs_bare_echo: f64,
    /// Target ≤ 1.5.
    pub remote_call_p99_vs_bare_echo: f64,
    /// Requests per second with 32 in flight, remote `bus.call`.
    pub remote_rps: f64,
    /// Requests per second with 32 in flight, bare echo.
    pub bare_rps: f64,
    /// Target ≥ 0.9.
    pub remote_throughput_vs_bare: f64,
}

async fn bare_echo(body: web::Json<Echo>) -> HttpResponse {
    let echo = body.into_inner();
    HttpResponse::Ok().json(Echo {
        text: echo.text,
        n: echo.n + 1,
    })
}

const TOKEN: &str = "bench-token";

/// A remote module's settings for measuring a hop on loopback: no retries and a breaker that
/// never opens (a retry or a refusal would distort the figures), a deadline far away.
pub(crate) fn loopback_settings(token: &str) -> RemoteSettings {
    RemoteSettings {
        timeout: Duration::from_secs(10),
        retries: 0,
        breaker_failures: 1_000,
        breaker_open: Duration::from_millis(100),
        credentials: cleave_extract::Credentials::shared(Some(token.to_string())),
    }
}

/// One server with both routes (same workers for both), one client for both paths.
struct Loopback {
    _server: TestApp,
    base: String,
    client: reqwest::Client,
    caller: TestApp,
}

impl Loopback {
    async fn start() -> Loopback {
        let server = Harness::new()
            .routing(|r| r.local_handler::<Echo>("bench", Arc::new(EchoHandler)))
            .without_relay()
            .start()
            .await;
        let endpoints = Arc::new(InternalEndpoints::new(
            server.bus().clone(),
            server.events().clone(),
            cleave_extract::Credentials::shared(Some(TOKEN.to_string())),
            vec![&CONTRACT],
            vec![&CONTRACT],
            1024 * 1024,
        ));
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let http = HttpServer::new(move || {
            let endpoints = endpoints.clone();
            App::new()
                .configure(|cfg| configure_internal(cfg, endpoints))
                .route("/echo", web::post().to(bare_echo))
        })
        .workers(1)
        .listen(listener)
        .expect("listen")
        .run();
        tokio::spawn(http);
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .build()
            .expect("HTTP client");
        let settings = loopback_settings(TOKEN);
        let remote = RemoteModule::with_client(
            &CONTRACT,
            std::slice::from_ref(&base),
            settings,
            &[&CONTRACT],
            client.clone(),
        )
        .expect("remote module");
        let caller = Harness::new()
            .routing(|r| r.remote_module("bench", remote))
            .without_relay()
            .start()
            .await;
        Loopback {
            _server: server,
            base,
            client,
            caller,
        }
    }

    async fn remote_once(&self, n: u64) {
        let answer = self
            .caller
            .bus()
            .call(payload(n))
            .await
            .expect("remote call");
        assert_eq!(answer.n, n + 1);
    }

    async fn bare_once(&self, n: u64) {
        let answer: Echo = self
            .client
            .post(format!("{}/echo", self.base))
            .json(&payload(n))
            .send()
            .await
            .expect("bare echo")
            .json()
            .await
            .expect("bare echo body");
        assert_eq!(answer.n, n + 1);
    }
}

/// Sequential latency and throughput at 32 in flight, remote against bare, interleaved.
pub async fn remote_calls(scale: Scale) -> RemoteCalls {
    let loopback = Arc::new(Loopback::start().await);
    let (rounds, per_round) = scale.pick((10, 500u64), (2, 20));
    let mut remote = Latencies::default();
    let mut bare = Latencies::default();
    for i in 0..50 {
        loopback.remote_once(i).await;
        loopback.bare_once(i).await;
    }
    for _ in 0..rounds {
        for i in 0..per_round {
            let started = Instant::now();
            loopback.remote_once(i).await;
            remote.record(started.elapsed());
            let started = Instant::now();
            loopback.bare_once(i).await;
            bare.record(started.elapsed());
        }
    }

    // Alternating windows, so both paths see the same machine; the ratio of the medians.
    let window = scale.pick(Duration::from_secs(2), Duration::from_millis(200));
    let mut remote_rps = Vec::new();
    let mut bare_rps = Vec::new();
    for round in 0..scale.pick(5, 1) {
        if round % 2 == 0 {
            remote_rps.push(throughput(&loopback, window, true).await);
            bare_rps.push(throughput(&loopback, window, false).await);
        } else {
            bare_rps.push(throughput(&loopback, window, false).await);
            remote_rps.push(throughput(&loopback, window, true).await);
        }
    }
    let remote_rps = median(remote_rps);
    let bare_rps = median(bare_rps);
    let (remote, bare) = (remote.summary(), bare.summary());
    RemoteCalls {
        remote_call_p50_vs_bare_echo: ratio(remote.p50_us, bare.p50_us),
        remote_call_p99_vs_bare_echo: ratio(remote.p99_us, bare.p99_us),
        remote,
        bare,
        remote_throughput_vs_bare: ratio(remote_rps, bare_rps),
        remote_rps,
        bare_rps,
    }
}

/// Requests per second with 32 concurrent callers for `window`.
async fn throughput(loopback: &Arc<Loopback>, window: Duration, remote: bool) -> f64 {
    let deadline = Instant::now() + window;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let loopback = loopback.clone();
        tasks.push(tokio::spawn(async move {
            let mut done = 0u64;
            while Instant::now() < deadline {
                if remote {
                    loopback.remote_once(done).await;
                } else {
                    loopback.bare_once(done).await;
                }
                done += 1;
            }
            done
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await.expect("caller task");
    }
    total as f64 / started.elapsed().as_secs_f64()
}

/// The JSON sent on each call, for the report.
pub fn payload_bytes() -> usize {
    serde_json::to_vec(&json!(payload(0)))
        .map(|v| v.len())
        .unwrap_or(0)
}
