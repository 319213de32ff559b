//! The soak: many orders through the real `shop` binary with short retention ages, showing
//! through `/metrics` alone that the outbox and inbox stay bounded however many events pass.
//!
//! The shop starts on a fresh SQLite file with `outbox.retain_delivered_s`,
//! `outbox.retain_inbox_s` and `outbox.retention_interval_s` set low. Clients place the orders
//! a bounded number at a time (the order-posting code of the write path), while `/metrics` is
//! scraped every second for `cleave_outbox_delivered`, `cleave_inbox_entries`,
//! `cleave_outbox_pending`, `cleave_outbox_failed` and the deliveries counted by
//! `cleave_event_deliveries_total`. Then every order is read back until it is paid, and the
//! scrapes go on until nothing is pending and retention has emptied both tables.
//!
//! Bounded means: at no scrape did either table hold more rows than the deliveries made in the
//! retention window before it (the longer retention age, plus the interval, plus
//! [`SLACK_S`]; plus [`SLACK_ROWS`] for a relay batch counted just after the scrape), and both
//! were empty once the load was over and the window had passed. How far the maximum stays
//! below everything the run produced is reported beside it (`max_vs_produced`).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::process::{env_prefix, wait_healthy};
use crate::stats::Latencies;
use crate::write_path::{fresh_database, post_order, start_shop, stock};

/// Events one order publishes: `orders.order_placed`, `billing.payment_captured`,
/// `orders.order_paid`.
pub const EVENTS_PER_ORDER: u64 = 3;

/// Outbox rows (deliveries, and inbox entries once applied) one order produces, one per event
/// and subscriber: `order_placed` to billing, inventory and notifications;
/// `payment_captured` to orders and notifications; `order_paid` to inventory.
pub const DELIVERIES_PER_ORDER: u64 = 6;

/// Seconds added to the retention window for a retention pass that runs late under load.
pub const SLACK_S: f64 = 5.0;

/// Rows tolerated above the window's deliveries: relay batches whose rows a scrape counted
/// before the deliveries counter was bumped.
pub const SLACK_ROWS: u64 = 1_000;

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// The `shop` binary.
    pub shop: PathBuf,
    /// Orders to place.
    pub orders: u64,
    /// Orders in flight at once.
    pub connections: usize,
    /// `outbox.retain_delivered_s` of the shop.
    pub retain_delivered_s: u64,
    /// `outbox.retain_inbox_s` of the shop.
    pub retain_inbox_s: u64,
    /// `outbox.retention_interval_s` of the shop.
    pub retention_interval_s: u64,
}

impl Options {
    /// `orders` orders through `shop`, 16 at a time, rows kept 5 s, retention every second.
    pub fn new(shop: PathBuf, orders: u64) -> Options {
        Options {
            shop,
            orders,
            connections: 16,
            retain_delivered_s: 5,
            retain_inbox_s: 5,
            retention_interval_s: 1,
        }
    }

    /// Seconds after which retention must have removed a row: the longer age, the interval
    /// and [`SLACK_S`].
    pub fn window_s(&self) -> f64 {
        self.retain_delivered_s.max(self.retain_inbox_s) as f64
            + self.retention_interval_s as f64
            + SLACK_S
    }
}

/// One scrape of `/metrics`.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Sample {
    /// Seconds since the load started.
    pub t_s: f64,
    /// `cleave_outbox_delivered`: delivered rows still kept.
    pub outbox_delivered: u64,
    /// `cleave_inbox_entries`.
    pub inbox_entries: u64,
    /// `cleave_outbox_pending`.
    pub outbox_pending: u64,
    /// `cleave_outbox_failed`.
    pub outbox_failed: u64,
    /// Deliveries made so far: `cleave_event_deliveries_total` of outcome `applied` or
    /// `duplicate`.
    pub deliveries: u64,
    /// Resident memory of the shop process, MB.
    pub rss_mb: f64,
}

/// What the soak measured.
#[derive(Debug, Clone, Serialize)]
pub struct Soak {
    /// Orders asked for.
    pub orders: u64,
    /// Orders accepted (201).
    pub placed: u64,
    /// Orders refused or failed.
    pub errors: u64,
    /// Accepted orders not paid when the wait gave up.
    pub unpaid: u64,
    /// Orders in flight at once.
    pub connections: usize,
    /// `outbox.retain_delivered_s`.
    pub retain_delivered_s: u64,
    /// `outbox.retain_inbox_s`.
    pub retain_inbox_s: u64,
    /// `outbox.retention_interval_s`.
    pub retention_interval_s: u64,
    /// Seconds of load (placing every order).
    pub load_s: f64,
    /// `placed / load_s`.
    pub placed_per_s: f64,
    /// Median latency of an accepted order, ms.
    pub p50_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Seconds from the load's start until every accepted order read back as paid.
    pub until_all_paid_s: f64,
    /// Seconds from the load's start until nothing was pending and both tables were empty.
    pub until_drained_s: f64,
    /// [`EVENTS_PER_ORDER`].
    pub events_per_order: u64,
    /// `placed × EVENTS_PER_ORDER`.
    pub events_produced: u64,
    /// `placed × DELIVERIES_PER_ORDER`: the outbox rows (and inbox entries) the run produced.
    pub deliveries_produced: u64,
    /// Deliveries counted by the last scrape (should equal `deliveries_produced`).
    pub deliveries_counted: u64,
    /// Largest `cleave_outbox_delivered` seen.
    pub outbox_delivered_max: u64,
    /// `cleave_outbox_delivered` at the last scrape.
    pub outbox_delivered_final: u64,
    /// Largest `cleave_inbox_entries` seen.
    pub inbox_entries_max: u64,
    /// `cleave_inbox_entries` at the last scrape.
    pub inbox_entries_final: u64,
    /// Largest `cleave_outbox_pending` seen.
    pub outbox_pending_max: u64,
    /// `cleave_outbox_failed` at the last scrape.
    pub outbox_failed_final: u64,
    /// The retention window the bound is taken over, seconds ([`Options::window_s`]).
    pub window_s: f64,
    /// Most deliveries made within one window: what retention lets the tables hold.
    pub window_deliveries_max: u64,
    /// The larger table maximum over `deliveries_produced`.
    pub max_vs_produced: f64,
    /// Largest resident memory of the shop, MB.
    pub rss_mb_max: f64,
    /// Resident memory at the last scrape, MB.
    pub rss_mb_final: f64,
    /// Neither table outgrew its window, and both were emptied after the load.
    pub bounded: bool,
    /// Every scrape, in order.
    pub samples: Vec<Sample>,
}

impl Soak {
    /// Every order placed and paid, and the tables bounded.
    pub fn passed(&self) -> bool {
        self.errors == 0 && self.unpaid == 0 && self.bounded
    }

    /// One line for people.
    pub fn line(&self) -> String {
        format!(
            "{} orders in {:.1} s ({:.0} placed/s, p99 {:.1} ms), all paid after {:.1} s, drained after {:.1} s; \
             outbox delivered max {} final {}, inbox max {} final {}, of {} deliveries ({} events; max {:.3} of them); {}",
            self.placed,
            self.load_s,
            self.placed_per_s,
            self.p99_ms,
            self.until_all_paid_s,
            self.until_drained_s,
            self.outbox_delivered_max,
            self.outbox_delivered_final,
            self.inbox_entries_max,
            self.inbox_entries_final,
            self.deliveries_produced,
            self.events_produced,
            self.max_vs_produced,
            if self.passed() {
                "bounded"
            } else if self.bounded {
                "bounded, but orders were lost"
            } else {
                "NOT bounded"
            }
        )
    }
}

/// The sum over every label set of the Prometheus metric `name` whose labels `keep` accepts.
pub fn metric_sum(text: &str, name: &str, keep: impl Fn(&str) -> bool) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let rest = line.strip_prefix(name)?;
            let (labels, value) = match rest.strip_prefix('{') {
                Some(rest) => rest.split_once('}')?,
                None if rest.starts_with(' ') => ("", rest),
                None => return None,
            };
            if !keep(labels) {
                return None;
            }
            value.split_whitespace().next()?.parse::<f64>().ok()
        })
        .sum()
}

fn sample(text: &str, t_s: f64, rss_mb: f64) -> Sample {
    let gauge = |name: &str| metric_sum(text, name, |_| true) as u64;
    Sample {
        t_s: round3(t_s),
        outbox_delivered: gauge("cleave_outbox_delivered"),
        inbox_entries: gauge("cleave_inbox_entries"),
        outbox_pending: gauge("cleave_outbox_pending"),
        outbox_failed: gauge("cleave_outbox_failed"),
        deliveries: metric_sum(text, "cleave_event_deliveries_total", |labels| {
            labels.contains("outcome=\"applied\"") || labels.contains("outcome=\"duplicate\"")
        }) as u64,
        rss_mb,
    }
}

/// Resident memory of `pid`, MB (0 when unreadable).
fn rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| round3(kb / 1024.0))
        .unwrap_or(0.0)
}

/// For each sample, the deliveries made in the `window_s` before it (from the latest sample
/// at least that old, or from the start).
fn window_deliveries(samples: &[Sample], window_s: f64) -> Vec<u64> {
    samples
        .iter()
        .map(|s| {
            let before = samples
                .iter()
                .rev()
                .find(|old| old.t_s <= s.t_s - window_s)
                .map_or(0, |old| old.deliveries);
            s.deliveries.saturating_sub(before)
        })
        .collect()
}

#[derive(Deserialize)]
struct Placed {
    id: String,
}

#[derive(Deserialize)]
struct OrderStatus {
    status: String,
}

/// Runs the soak; prints progress on stderr.
pub async fn soak(options: &Options) -> anyhow::Result<Soak> {
    let database = fresh_database("sqlite", None).await?;
    let prefix = env_prefix(&options.shop);
    let settings = [
        ("OUTBOX__RETAIN_DELIVERED_S", options.retain_delivered_s),
        ("OUTBOX__RETAIN_INBOX_S", options.retain_inbox_s),
        ("OUTBOX__RETENTION_INTERVAL_S", options.retention_interval_s),
    ]
    .map(|(key, value)| (format!("{prefix}{key}"), value.to_string()));
    let env: Vec<(&str, &str)> = settings
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let (process, base) = start_shop(&options.shop, &database.url, &env)?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(options.connections + 1)
        .timeout(Duration::from_secs(30))
        .build()?;
    wait_healthy(&client, &base).await?;
    stock(&client, crate::write_path::Server::Shop, &base).await?;
    let pid = process.id();

    let started = Instant::now();
    let samples = Arc::new(Mutex::new(Vec::<Sample>::new()));
    let sampler = {
        let (client, base, samples) = (client.clone(), base.clone(), samples.clone());
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(1));
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                let Ok(r) = client.get(format!("{base}/metrics")).send().await else {
                    continue;
                };
                let Ok(text) = r.text().await else { continue };
                let s = sample(&text, started.elapsed().as_secs_f64(), rss_mb(pid));
                samples.lock().unwrap_or_else(|e| e.into_inner()).push(s);
            }
        })
    };
    let latest = || {
        samples
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .last()
            .copied()
    };

    let next = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let latencies = Arc::new(tokio::sync::Mutex::new(Latencies::default()));
    let orders = options.orders;
    let clients: Vec<_> = (0..options.connections)
        .map(|c| {
            let (client, base) = (client.clone(), base.clone());
            let (next, errors, latencies) = (next.clone(), errors.clone(), latencies.clone());
            tokio::spawn(async move {
                let mut mine = Latencies::default();
                let mut ids = Vec::new();
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= orders {
                        break;
                    }
                    let sent = Instant::now();
                    let placed = match post_order(&client, &base, c, n as usize).await {
                        Some(r) => r.json::<Placed>().await.ok(),
                        None => None,
                    };
                    match placed {
                        Some(p) => {
                            mine.record(sent.elapsed());
                            ids.push(p.id);
                        }
                        None => {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                latencies.lock().await.merge(&mine);
                ids
            })
        })
        .collect();
    let mut ids = Vec::new();
    for c in clients {
        ids.push(c.await?);
    }
    let load = started.elapsed();
    let placed = ids.iter().map(Vec::len).sum::<usize>() as u64;
    eprintln!(
        "      {placed} orders placed in {:.1} s; waiting until they are paid …",
        load.as_secs_f64()
    );

    // Every order read back until paid, one reader per client's share.
    let give_up = Instant::now() + Duration::from_secs(300);
    let readers: Vec<_> = ids
        .into_iter()
        .map(|mine| {
            let (client, base) = (client.clone(), base.clone());
            tokio::spawn(async move {
                let mut unpaid = 0u64;
                for id in mine {
                    loop {
                        let status =
                            match client.get(format!("{base}/api/orders/{id}")).send().await {
                                Ok(r) if r.status().is_success() => {
                                    r.json::<OrderStatus>().await.ok().map(|o| o.status)
                                }
                                _ => None,
                            };
                        if status.as_deref() == Some("paid") {
                            break;
                        }
                        if Instant::now() > give_up {
                            unpaid += 1;
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
                unpaid
            })
        })
        .collect();
    let mut unpaid = 0;
    for r in readers {
        unpaid += r.await?;
    }
    let until_all_paid = started.elapsed();

    // Retention must now empty both tables within one window of the last delivery.
    let deadline = Instant::now() + Duration::from_secs_f64(options.window_s() + 60.0);
    let first = samples.lock().unwrap_or_else(|e| e.into_inner()).len();
    let drained = loop {
        let seen = samples.lock().unwrap_or_else(|e| e.into_inner()).len();
        if seen > first
            && let Some(s) = latest()
            && s.outbox_pending == 0
            && s.outbox_delivered == 0
            && s.inbox_entries == 0
        {
            break true;
        }
        if Instant::now() > deadline {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let until_drained = started.elapsed();
    sampler.abort();
    drop(process);

    let samples = std::mem::take(&mut *samples.lock().unwrap_or_else(|e| e.into_inner()));
    let last = samples.last().copied().unwrap_or(Sample {
        t_s: 0.0,
        outbox_delivered: 0,
        inbox_entries: 0,
        outbox_pending: 0,
        outbox_failed: 0,
        deliveries: 0,
        rss_mb: 0.0,
    });
    let window_s = options.window_s();
    let windows = window_deliveries(&samples, window_s);
    let within = samples
        .iter()
        .zip(&windows)
        .all(|(s, &w)| s.outbox_delivered <= w + SLACK_ROWS && s.inbox_entries <= w + SLACK_ROWS);
    let max = |f: fn(&Sample) -> u64| samples.iter().map(f).max().unwrap_or(0);
    let outbox_delivered_max = max(|s| s.outbox_delivered);
    let inbox_entries_max = max(|s| s.inbox_entries);
    let deliveries_produced = placed * DELIVERIES_PER_ORDER;
    let latency = latencies.lock().await.summary();
    Ok(Soak {
        orders,
        placed,
        errors: errors.load(Ordering::Relaxed),
        unpaid,
        connections: options.connections,
        retain_delivered_s: options.retain_delivered_s,
        retain_inbox_s: options.retain_inbox_s,
        retention_interval_s: options.retention_interval_s,
        load_s: round3(load.as_secs_f64()),
        placed_per_s: round3(placed as f64 / load.as_secs_f64()),
        p50_ms: round3(latency.p50_us / 1_000.0),
        p99_ms: round3(latency.p99_us / 1_000.0),
        until_all_paid_s: round3(until_all_paid.as_secs_f64()),
        until_drained_s: round3(until_drained.as_secs_f64()),
        events_per_order: EVENTS_PER_ORDER,
        events_produced: placed * EVENTS_PER_ORDER,
        deliveries_produced,
        deliveries_counted: last.deliveries,
        outbox_delivered_max,
        outbox_delivered_final: last.outbox_delivered,
        inbox_entries_max,
        inbox_entries_final: last.inbox_entries,
        outbox_pending_max: max(|s| s.outbox_pending),
        outbox_failed_final: last.outbox_failed,
        window_s,
        window_deliveries_max: windows.iter().copied().max().unwrap_or(0),
        max_vs_produced: round3(
            outbox_delivered_max.max(inbox_entries_max) as f64 / deliveries_produced.max(1) as f64,
        ),
        rss_mb_max: samples.iter().map(|s| s.rss_mb).fold(0.0, f64::max),
        rss_mb_final: last.rss_mb,
        bounded: within && drained,
        samples,
    })
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_a_metric_over_its_labels() {
        let text = "# TYPE cleave_outbox_delivered gauge\n\
                    cleave_outbox_delivered 12\n\
                    cleave_outbox_delivered_other 99\n\
                    cleave_event_deliveries_total{subscriber=\"billing\",outcome=\"applied\"} 5\n\
                    cleave_event_deliveries_total{subscriber=\"orders\",outcome=\"applied\"} 7\n\
                    cleave_event_deliveries_total{subscriber=\"orders\",outcome=\"refused\"} 100\n";
        let s = sample(text, 1.0, 0.0);
        assert_eq!(s.outbox_delivered, 12);
        assert_eq!(s.inbox_entries, 0);
        assert_eq!(s.deliveries, 12);
    }

    #[test]
    fn a_window_counts_the_deliveries_since_the_sample_that_old() {
        let at = |t_s: f64, deliveries: u64| Sample {
            t_s,
            outbox_delivered: 0,
            inbox_entries: 0,
            outbox_pending: 0,
            outbox_failed: 0,
            deliveries,
            rss_mb: 0.0,
        };
        let samples = [at(0.0, 0), at(1.0, 10), at(2.0, 30), at(3.0, 60)];
        assert_eq!(window_deliveries(&samples, 1.5), vec![0, 10, 30, 50]);
    }
}
