//! The benchmarks still run (smoke scale, debug build). Their figures are not checked against
//! any target here: speed is measured by `scripts/bench.sh`, never by a timed test.

use std::path::Path;

use cleave_bench::{Scale, calls, hops, order_flow, outbox, scaling, soak};

fn positive(name: &str, value: f64) {
    assert!(value.is_finite() && value > 0.0, "{name} = {value}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_benchmark_runs_and_reports_its_figures() {
    let local = calls::local_calls(Scale::Smoke).await;
    positive("local_call_vs_direct", local.local_call_vs_direct);
    let remote = calls::remote_calls(Scale::Smoke).await;
    positive("remote p50 ratio", remote.remote_call_p50_vs_bare_echo);
    positive("remote p99 ratio", remote.remote_call_p99_vs_bare_echo);
    positive("remote throughput ratio", remote.remote_throughput_vs_bare);
    let events = outbox::outbox(Scale::Smoke).await;
    positive("outbox events/s", events.outbox_events_per_s);
    positive("outbox ratio", events.outbox_vs_plain_inserts);
    let flow = order_flow::order_flow(Path::new(env!("CARGO_BIN_EXE_shop")), Scale::Smoke, None)
        .await
        .expect("the order-flow benchmark runs");
    positive("monolith cpu", flow.monolith_cpu_us);
    positive("extracted cpu", flow.extracted_cpu_us);
    // From the monolith's own traffic, `plan` sees the order's events cross.
    positive("predicted extra cpu", flow.predicted_extra_cpu_us);
    // The receipt waits for billing: one request hop, which `plan` prices.
    positive("receipt p50, one process", flow.receipt.monolith_p50_us);
    positive(
        "receipt p50, billing extracted",
        flow.receipt.extracted_p50_us,
    );
    positive(
        "receipt's predicted extra p50",
        flow.receipt.predicted_extra_p50_us,
    );
}

/// The hop cost table runs, and what it writes is what `plan --costs` reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hop_cost_table_is_what_plan_reads() {
    let shop = Path::new(env!("CARGO_BIN_EXE_shop"));
    let table = hops::measure(
        Scale::Smoke,
        Some(shop),
        hops::FarSide::Here,
        hops::IDLE_BETWEEN,
    )
    .await
    .expect("the hop costs are measured");
    let costs = cleave_app::plan::HopCosts::from_json(&serde_json::to_string(&table).unwrap())
        .expect("plan reads the table");
    assert_eq!(costs.request.len(), table.request.len());
    assert_eq!(costs.event.len(), table.event.len());
    assert_eq!(costs.event_beside.len(), table.event_beside.len());
    assert!(costs.process_rss_bytes > 0, "the idle shop was measured");
    positive("a request hop's size", costs.request[0].bytes);
}

/// The soak at a few hundred orders: every order paid, and retention empties the outbox and
/// inbox once the load is over (the figures themselves come from `scripts/soak.sh`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_soak_keeps_the_outbox_and_inbox_bounded() {
    let shop = Path::new(env!("CARGO_BIN_EXE_shop")).to_path_buf();
    let figures = soak::soak(&soak::Options::new(shop, 300))
        .await
        .expect("the soak runs");
    assert!(figures.passed(), "{}", figures.line());
    assert_eq!(figures.placed, 300);
    assert_eq!(figures.deliveries_counted, figures.deliveries_produced);
    assert_eq!(
        (figures.outbox_delivered_final, figures.inbox_entries_final),
        (0, 0)
    );
}

/// The scaling runs (billing replicas behind NATS, on PostgreSQL) still run, and lose and double
/// nothing, the killed replica's run included (the figures come from `scripts/bench.sh
/// --scaling`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scaling_runs_settle_every_order_once() {
    let Ok(postgres) = std::env::var("CLEAVE_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but CLEAVE_TEST_POSTGRES_URL is not"
        );
        eprintln!("skipping: CLEAVE_TEST_POSTGRES_URL is not set (scripts/postgres.sh)");
        return;
    };
    if cleave::testing::nats_server_binary().is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but there is no nats-server"
        );
        eprintln!("skipping: no nats-server on PATH (apt-get install nats-server)");
        return;
    }
    let options = scaling::Options {
        shop: Path::new(env!("CARGO_BIN_EXE_shop")).to_path_buf(),
        postgres,
        replicas: vec![1, 2],
        gateway_latency_ms: 5,
        connections: 4,
        seconds: 2.0,
    };
    let figures = scaling::scaling(&options).await.expect("the scaling runs");
    let shape: Vec<(usize, bool)> = figures
        .runs
        .iter()
        .map(|r| (r.replicas, r.killed_one))
        .collect();
    assert_eq!(shape, [(1, false), (2, false), (2, true)]);
    for run in &figures.runs {
        assert!(run.placed > 0, "{run:?}");
        assert_eq!((run.invoices, run.payments), (run.placed, run.placed));
        positive("paid/s", run.paid_per_s);
    }
}
