//! `cleave-bench`: runs every benchmark once and writes `target/bench/summary.json`.
//!
//! Use `scripts/bench.sh`, which builds the release binaries first. `--soak ORDERS` runs only
//! the soak instead and writes `target/bench/soak.json` (`scripts/soak.sh`).

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use cleave_bench::{Scale, calls, hops, order_flow, outbox, scaling, soak, write_path};
use serde_json::json;

/// Benchmarks of cleave as ratios against baselines measured in the same run.
#[derive(Debug, Parser)]
struct Args {
    /// A short run that only checks the benchmarks work; its figures mean nothing.
    #[arg(long)]
    smoke: bool,
    /// The release `shop` binary, for the order-flow benchmark.
    #[arg(long, default_value = "target/release/shop")]
    shop: PathBuf,
    /// Where to write the summary (default `target/bench/summary.json`, or
    /// `target/bench/soak.json` with `--soak`).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Run only the remote benchmark and print its figures, without writing the summary (for
    /// profiling it, e.g. under `perf record`).
    #[arg(long)]
    only_remote: bool,
    /// Run only the hop costs: what a request and an event (through the relay) cost over the
    /// network, to a process of their own on loopback, against in-process, by message size;
    /// and the idle memory of `--shop` (any application built on cleave). Writes the table
    /// `plan --costs` reads (default `target/bench/hop-costs.json`).
    #[arg(long)]
    hop_costs: bool,
    /// Serve the receiving side of the hop costs at this address until killed (started by
    /// `--hop-costs` in a process of its own).
    #[arg(long, hide = true, value_name = "ADDRESS")]
    hop_far_side: Option<String>,
    /// With `--hop-costs`: the receiving side already serves at this base URL (`cleave-bench
    /// --hop-far-side ADDRESS` in another container or machine) instead of a process this one
    /// starts on loopback (`scripts/hop-costs-containers.sh`).
    #[arg(long, value_name = "URL", requires = "hop_costs")]
    hop_far: Option<String>,
    /// With `--hop-costs`: the pause before each message sent one at a time, milliseconds.
    /// Hops cost more after longer pauses; use the pause your traffic leaves between messages.
    #[arg(long, value_name = "MS", default_value_t = 1, requires = "hop_costs")]
    hop_idle_ms: u64,
    /// Run only the in-process benchmark and print its figures, without writing the summary
    /// (for trying changes to the bus's hot path).
    #[arg(long)]
    only_local: bool,
    /// The hand-written baseline of the write path (default: `handwritten` next to `--shop`).
    #[arg(long)]
    handwritten: Option<PathBuf>,
    /// A PostgreSQL admin URL: the write path is also measured on PostgreSQL (fresh databases
    /// are created on that server), e.g. the URL `scripts/postgres.sh` prints.
    #[arg(long, value_name = "URL")]
    postgres: Option<String>,
    /// Seconds of load per write-path round (default 20; 1 with --smoke).
    #[arg(long)]
    write_path_seconds: Option<f64>,
    /// Write-path rounds per server and case (default 3; 1 with --smoke).
    #[arg(long)]
    write_path_rounds: Option<usize>,
    /// Write-path connections, comma-separated (default 16,64; 16 with --smoke).
    #[arg(long, value_delimiter = ',')]
    write_path_connections: Vec<usize>,
    /// Run only the write path and print its figures, without writing the summary.
    #[arg(long)]
    only_write_path: bool,
    /// Run only the order flow (the shop as one process, then with billing in a second
    /// process on loopback: CPU per order and per hop) and print its figures, without writing
    /// the summary.
    #[arg(long)]
    only_order_flow: bool,
    /// The hop cost table the order flow's prediction uses (`plan --costs`; default: the
    /// table shipped in the shop).
    #[arg(long, value_name = "FILE")]
    costs: Option<PathBuf>,
    /// Run only the soak: place this many orders through `--shop` with retention ages of a few
    /// seconds, and check through `/metrics` that the outbox and inbox stay bounded. Writes a
    /// summary with a `soak` object; exits non-zero when an order is not paid or a table
    /// outgrew its retention window.
    #[arg(long, value_name = "ORDERS")]
    soak: Option<u64>,
    /// Orders in flight at once during the soak.
    #[arg(long, default_value_t = 16, requires = "soak")]
    soak_connections: usize,
    /// Run only the scaling runs: billing at 1, 2 and 3 replicas, then 3 with one killed
    /// mid-run, with events through NATS JetStream and both nodes on the PostgreSQL server of
    /// `--postgres` (required); billing's payment capture waits `--gateway-latency-ms`. Writes
    /// a summary with a `scaling` object (default `target/bench/scaling.json`).
    #[arg(long, requires = "postgres")]
    scaling: bool,
    /// Billing replicas of the scaling runs, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2,3")]
    scaling_replicas: Vec<usize>,
    /// The simulated payment gateway latency of the scaling runs, ms.
    #[arg(long, default_value_t = 20)]
    gateway_latency_ms: u64,
}

fn machine() -> serde_json::Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_string();
    json!({ "cpu": cpu, "cores": cores, "kernel": kernel })
}

/// Writes `summary` to `out`, creating its directory.
fn write_summary(out: &std::path::Path, summary: &serde_json::Value) -> anyhow::Result<()> {
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(out, serde_json::to_string_pretty(summary)?)
        .with_context(|| format!("writing {}", out.display()))
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let scale = if args.smoke {
        Scale::Smoke
    } else {
        Scale::Full
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        if let Some(orders) = args.soak {
            let out = args
                .out
                .clone()
                .unwrap_or_else(|| PathBuf::from("target/bench/soak.json"));
            let mut options = soak::Options::new(args.shop.clone(), orders);
            options.connections = args.soak_connections.max(1);
            eprintln!(
                "soak: {orders} orders through {}, {} at a time, rows kept {} s (inbox {} s), retention every {} s …",
                args.shop.display(),
                options.connections,
                options.retain_delivered_s,
                options.retain_inbox_s,
                options.retention_interval_s
            );
            let figures = soak::soak(&options).await?;
            let summary = json!({ "machine": machine(), "soak": figures });
            write_summary(&out, &summary)?;
            println!("soak: {}", figures.line());
            eprintln!("wrote {}", out.display());
            anyhow::ensure!(
                figures.passed(),
                "the soak failed: {} errors, {} unpaid, bounded {}",
                figures.errors,
                figures.unpaid,
                figures.bounded
            );
            return anyhow::Ok(());
        }
        if args.scaling {
            let out = args
                .out
                .clone()
                .unwrap_or_else(|| PathBuf::from("target/bench/scaling.json"));
            let options = scaling::Options {
                shop: args.shop.clone(),
                postgres: args.postgres.clone().unwrap_or_default(),
                replicas: args.scaling_replicas.clone(),
                gateway_latency_ms: args.gateway_latency_ms,
                connections: 16,
                seconds: scale.pick(20.0, 3.0),
            };
            let figures = scaling::scaling(&options).await?;
            write_summary(&out, &json!({ "machine": machine(), "scaling": figures }))?;
            for line in figures.lines() {
                println!("{line}");
            }
            eprintln!("wrote {}", out.display());
            return anyhow::Ok(());
        }
        if let Some(address) = &args.hop_far_side {
            return hops::serve_far_side(address).await;
        }
        if args.hop_costs {
            let out = args
                .out
                .clone()
                .unwrap_or_else(|| PathBuf::from("target/bench/hop-costs.json"));
            let binary = args.shop.exists().then_some(args.shop.as_path());
            if binary.is_none() {
                eprintln!(
                    "hop costs: no {}; the idle memory of a process is not measured",
                    args.shop.display()
                );
            }
            let this = std::env::current_exe()?;
            let far = match &args.hop_far {
                Some(base) => hops::FarSide::At(base),
                None => hops::FarSide::Process(&this),
            };
            let idle = std::time::Duration::from_millis(args.hop_idle_ms);
            let table = hops::measure(scale, binary, far, idle).await?;
            write_summary(&out, &serde_json::to_value(&table)?)?;
            println!("{}", serde_json::to_string_pretty(&table)?);
            eprintln!("wrote {}", out.display());
            return anyhow::Ok(());
        }
        if args.only_local {
            let local = calls::local_calls(scale).await;
            println!("{}", serde_json::to_string_pretty(&local)?);
            return anyhow::Ok(());
        }
        let write_options = write_path::Options {
            shop: args.shop.clone(),
            handwritten: match &args.handwritten {
                Some(path) => path.clone(),
                None => write_path::handwritten_next_to(&args.shop)?,
            },
            postgres: args.postgres.clone(),
            seconds: args.write_path_seconds,
            rounds: args.write_path_rounds,
            connections: args.write_path_connections.clone(),
        };
        if args.only_write_path {
            let figures = write_path::write_path(&write_options, scale).await?;
            println!("{}", serde_json::to_string_pretty(&figures)?);
            return anyhow::Ok(());
        }
        if args.only_order_flow {
            let flow = order_flow::order_flow(&args.shop, scale, args.costs.as_deref()).await?;
            println!("{}", serde_json::to_string_pretty(&flow)?);
            return anyhow::Ok(());
        }
        if args.only_remote {
            let remote = calls::remote_calls(scale).await;
            println!("{}", serde_json::to_string_pretty(&remote)?);
            return anyhow::Ok(());
        }
        eprintln!("[1/5] in-process bus.call vs direct async_trait call …");
        let local = calls::local_calls(scale).await;
        eprintln!(
            "      local_call_vs_direct = {}",
            local.local_call_vs_direct
        );
        eprintln!("[2/5] remote bus.call vs bare actix-web echo on loopback …");
        let remote = calls::remote_calls(scale).await;
        eprintln!(
            "      p50 {} p99 {} throughput {}",
            remote.remote_call_p50_vs_bare_echo,
            remote.remote_call_p99_vs_bare_echo,
            remote.remote_throughput_vs_bare
        );
        eprintln!("[3/5] outbox events vs plain inserts on SQLite …");
        let outbox = outbox::outbox(scale).await;
        eprintln!(
            "      {} events/s, {} of plain inserts",
            outbox.outbox_events_per_s, outbox.outbox_vs_plain_inserts
        );
        eprintln!(
            "[4/5] order flow CPU: monolith vs billing extracted ({}) …",
            args.shop.display()
        );
        let flow = order_flow::order_flow(&args.shop, scale, args.costs.as_deref()).await?;
        eprintln!(
            "      {} µs vs {} µs per order, {} µs per hop",
            flow.monolith_cpu_us, flow.extracted_cpu_us, flow.cpu_us_per_hop
        );
        eprintln!(
            "      receipt: +{} µs p50 measured, +{} predicted",
            flow.receipt.measured_extra_p50_us, flow.receipt.predicted_extra_p50_us
        );

        eprintln!(
            "[5/5] write path: the shop vs the hand-written baseline ({}) …",
            write_options.handwritten.display()
        );
        let write = write_path::write_path(&write_options, scale).await?;
        for (case, figures) in &write.cases {
            eprintln!(
                "      {case}: placed/s {} p99 {} CPU {} paid/placed {} paid/s {} switches {}",
                figures.order_placed_per_s_vs_handwritten,
                figures.order_p99_vs_handwritten,
                figures.order_cpu_us_vs_handwritten,
                figures.paid_per_s_vs_placed_per_s,
                figures.order_paid_per_s_vs_handwritten,
                figures.order_context_switches_vs_handwritten
            );
        }
        let write_ratios: serde_json::Map<String, serde_json::Value> = write
            .cases
            .iter()
            .map(|(case, c)| {
                (
                    case.clone(),
                    json!({
                        "order_placed_per_s_vs_handwritten": c.order_placed_per_s_vs_handwritten,
                        "order_p99_vs_handwritten": c.order_p99_vs_handwritten,
                        "order_cpu_us_vs_handwritten": c.order_cpu_us_vs_handwritten,
                        "paid_per_s_vs_placed_per_s": c.paid_per_s_vs_placed_per_s,
                        "order_paid_per_s_vs_handwritten": c.order_paid_per_s_vs_handwritten,
                        "order_context_switches_vs_handwritten": c.order_context_switches_vs_handwritten,
                    }),
                )
            })
            .collect();

        let summary = json!({
            "scale": if args.smoke { "smoke" } else { "full" },
            "machine": machine(),
            "payload_bytes": calls::payload_bytes(),
            "ratios": {
                "local_call_vs_direct": local.local_call_vs_direct,
                "remote_call_p50_vs_bare_echo": remote.remote_call_p50_vs_bare_echo,
                "remote_call_p99_vs_bare_echo": remote.remote_call_p99_vs_bare_echo,
                "remote_throughput_vs_bare": remote.remote_throughput_vs_bare,
                "outbox_vs_plain_inserts": outbox.outbox_vs_plain_inserts,
                "order_flow_extracted_vs_monolith_cpu": flow.extracted_vs_monolith_cpu,
                "write_path": write_ratios,
            },
            "targets": {
                "local_call_vs_direct": "<= 2.0",
                "remote_call_p50_vs_bare_echo": "<= 1.2",
                "remote_call_p99_vs_bare_echo": "<= 1.5",
                "remote_throughput_vs_bare": ">= 0.9",
                "order_placed_per_s_vs_handwritten": ">= 1.0",
                "order_p99_vs_handwritten": "<= 1.5",
                "order_cpu_us_vs_handwritten": "<= 1.1",
                "paid_per_s_vs_placed_per_s": ">= 0.9",
            },
            "outbox_events_per_s": outbox.outbox_events_per_s,
            "order_flow_cpu_us": flow,
            "raw": {
                "local": local,
                "remote": remote,
                "outbox": outbox,
                "write_path": write,
            },
        });
        let out = args
            .out
            .clone()
            .unwrap_or_else(|| PathBuf::from("target/bench/summary.json"));
        write_summary(&out, &summary)?;
        println!("{}", serde_json::to_string_pretty(&summary["ratios"])?);
        eprintln!("wrote {}", out.display());
        anyhow::Ok(())
    })
}
