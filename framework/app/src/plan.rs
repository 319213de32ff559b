//! `plan`: what a placement would cost and change, predicted from the traffic of a running
//! process (its `/metrics`) and a table of what one hop costs (measured by the benchmark).
//!
//! The model (ADR 13): a public request runs in the process hosting the module that owns its
//! route. Every bus request it sends to a module on another node becomes a synchronous hop,
//! adding that hop's latency and CPU, at the size the message has on the wire. Every event it
//! publishes, and every message the subscribers' handlers cause in turn (the cascade), crosses
//! the network when publisher and subscriber (or caller and callee) sit on different nodes:
//! that adds CPU and delivery delay, not latency to the request. An event's crossings are
//! priced by what its publisher's relay does: on SQLite it delivers to every subscriber of its
//! own process in one pass, and to each subscriber elsewhere in a pass of its own. Moving an
//! event's only local subscriber away replaces the local pass (the table's `event`); moving one
//! while another stays adds a whole remote pass and saves only that subscriber's share of the
//! local one (`event_beside`, dearer). On PostgreSQL every subscriber has a pass of its own, so
//! every crossing is priced as `event`. Hops are assumed sequential
//! (a request's extra p50 is the sum of its hops' p50; its extra p99 the sum of their p99, an
//! upper bound), their cost a function of the message size only, interpolated in the table.

use std::collections::{BTreeMap, BTreeSet};

use cleave::metrics;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One measured point of the cost of a hop: a message of `bytes` (request plus answer for a
/// request, the envelope for an event).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CostPoint {
    /// Message size, bytes.
    pub bytes: f64,
    /// Extra latency over the same message in-process, median, microseconds.
    pub p50_us: f64,
    /// Extra latency, 99th percentile, microseconds.
    pub p99_us: f64,
    /// Extra CPU of both sides over the same message in-process, microseconds per message.
    pub cpu_us: f64,
}

/// What one hop costs, by message size, for requests and for event deliveries; and what one
/// more process costs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HopCosts {
    /// Where and how the table was measured.
    pub measured: String,
    /// Requests, by size (ascending).
    pub request: Vec<CostPoint>,
    /// Event deliveries, by size (ascending): the event's only subscriber on the publisher's
    /// node moved away (the local pass is saved).
    pub event: Vec<CostPoint>,
    /// Event deliveries, by size (ascending): one subscriber moved away while another stays
    /// beside the publisher (the local pass remains). Tables without it price these as
    /// `event`.
    #[serde(default)]
    pub event_beside: Vec<CostPoint>,
    /// The pause before each message when the table was measured, milliseconds: the quiet
    /// a prediction from it assumes between messages (hops cost more after longer pauses).
    #[serde(default)]
    pub idle_ms: Option<f64>,
    /// Resident memory of one idle process of the application, bytes.
    pub process_rss_bytes: u64,
}

/// The table shipped with the framework, measured on the project's CI machine kind; re-measure
/// on yours with `scripts/bench.sh --hop-costs` and pass it with `plan --costs`.
pub const DEFAULT_COSTS: &str = include_str!("hop_costs.json");

impl HopCosts {
    /// The shipped table.
    pub fn defaults() -> Self {
        serde_json::from_str(DEFAULT_COSTS).expect("the shipped cost table is valid")
    }

    /// Reads a table from JSON, checking it can be interpolated.
    pub fn from_json(text: &str) -> anyhow::Result<Self> {
        let costs: HopCosts = serde_json::from_str(text)?;
        for (kind, points) in [
            ("request", &costs.request),
            ("event", &costs.event),
            ("event_beside", &costs.event_beside),
        ] {
            anyhow::ensure!(
                !points.is_empty() || kind == "event_beside",
                "the cost table has no `{kind}` points"
            );
            anyhow::ensure!(
                points.windows(2).all(|w| w[0].bytes < w[1].bytes),
                "the `{kind}` points must be sorted by size"
            );
        }
        Ok(costs)
    }

    /// The cost of a request hop of `bytes`.
    pub fn request_at(&self, bytes: f64) -> CostPoint {
        interpolate(&self.request, bytes)
    }

    /// The cost of an event delivery hop of `bytes` that takes the publisher's node's last
    /// subscriber of the event away.
    pub fn event_at(&self, bytes: f64) -> CostPoint {
        interpolate(&self.event, bytes)
    }

    /// The cost of an event delivery hop of `bytes` while another subscriber stays beside the
    /// publisher (`event` when the table has no such points).
    pub fn event_beside_at(&self, bytes: f64) -> CostPoint {
        if self.event_beside.is_empty() {
            self.event_at(bytes)
        } else {
            interpolate(&self.event_beside, bytes)
        }
    }
}

/// Linear between measured sizes; below the first, its values; above the last, the last
/// segment's slope (sizes grow costs roughly linearly once copying dominates).
fn interpolate(points: &[CostPoint], bytes: f64) -> CostPoint {
    let at = |a: &CostPoint, b: &CostPoint| {
        let t = if b.bytes > a.bytes {
            (bytes - a.bytes) / (b.bytes - a.bytes)
        } else {
            0.0
        };
        let lerp = |x: f64, y: f64| (x + t * (y - x)).max(0.0);
        CostPoint {
            bytes,
            p50_us: lerp(a.p50_us, b.p50_us),
            p99_us: lerp(a.p99_us, b.p99_us),
            cpu_us: lerp(a.cpu_us, b.cpu_us),
        }
    };
    match points {
        [] => CostPoint {
            bytes,
            p50_us: 0.0,
            p99_us: 0.0,
            cpu_us: 0.0,
        },
        [only] => CostPoint { bytes, ..*only },
        _ if bytes <= points[0].bytes => CostPoint { bytes, ..points[0] },
        _ => {
            let i = points
                .windows(2)
                .position(|w| bytes <= w[1].bytes)
                .unwrap_or(points.len() - 2);
            at(&points[i], &points[i + 1])
        }
    }
}

/// One sample of a Prometheus text page: metric name, labels, value.
type Sample = (String, BTreeMap<String, String>, f64);

/// Parses the samples of a Prometheus text exposition page (the subset cleave's exporter
/// writes: `name{label="value",…} value`, comments ignored). Written here rather than taken
/// from a crate: the format is a line each, and the planner reads only cleave's own families.
pub fn parse_prometheus(text: &str) -> Vec<Sample> {
    let mut samples = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, rest) = match line.find(['{', ' ']) {
            Some(i) => line.split_at(i),
            None => continue,
        };
        let mut labels = BTreeMap::new();
        let rest = if let Some(body) = rest.strip_prefix('{') {
            let mut chars = body.char_indices().peekable();
            let mut end = body.len();
            let mut key = String::new();
            while let Some((i, c)) = chars.next() {
                match c {
                    '}' => {
                        end = i + 1;
                        break;
                    }
                    ',' | ' ' => {}
                    '=' => {
                        // A quoted value with `\"`, `\\` and `\n` escapes.
                        let mut value = String::new();
                        if chars.next().map(|(_, c)| c) == Some('"') {
                            while let Some((_, c)) = chars.next() {
                                match c {
                                    '\\' => match chars.next().map(|(_, c)| c) {
                                        Some('n') => value.push('\n'),
                                        Some(other) => value.push(other),
                                        None => {}
                                    },
                                    '"' => break,
                                    other => value.push(other),
                                }
                            }
                        }
                        labels.insert(std::mem::take(&mut key), value);
                    }
                    other => key.push(other),
                }
            }
            &body[end..]
        } else {
            rest
        };
        if let Some(value) = rest
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<f64>().ok())
        {
            samples.push((name.to_string(), labels, value));
        }
    }
    samples
}

/// The traffic a running process reports: what each public route and each applied event
/// causes, and the sizes of messages.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Traffic {
    /// Requests served, by (method, route).
    pub route_requests: BTreeMap<(String, String), f64>,
    /// Messages caused, by (method, route) then (kind, message): totals.
    pub route_messages: BTreeMap<(String, String), BTreeMap<(String, String), f64>>,
    /// Events applied, by (subscriber, event).
    pub events_applied: BTreeMap<(String, String), f64>,
    /// Messages caused by handlers, by (subscriber, event) then (kind, message): totals.
    pub event_messages: BTreeMap<(String, String), BTreeMap<(String, String), f64>>,
    /// Mean wire size of each request plus its answer, bytes.
    pub request_bytes: BTreeMap<String, f64>,
    /// Mean wire size of each event's envelope, bytes.
    pub event_bytes: BTreeMap<String, f64>,
}

impl Traffic {
    /// From a Prometheus text page of a cleave process (`GET /metrics`).
    pub fn from_prometheus(text: &str) -> Self {
        let mut traffic = Traffic::default();
        let mut sums: BTreeMap<(&str, String), (f64, f64)> = BTreeMap::new();
        let samples = parse_prometheus(text);
        let label = |labels: &BTreeMap<String, String>, key: &str| {
            labels.get(key).cloned().unwrap_or_default()
        };
        for (name, labels, value) in &samples {
            match name.as_str() {
                metrics::HTTP_REQUESTS => {
                    *traffic
                        .route_requests
                        .entry((label(labels, "method"), label(labels, "route")))
                        .or_default() += value;
                }
                metrics::ROUTE_MESSAGES => {
                    *traffic
                        .route_messages
                        .entry((label(labels, "method"), label(labels, "route")))
                        .or_default()
                        .entry((label(labels, "kind"), label(labels, "message")))
                        .or_default() += value;
                }
                metrics::EVENTS_APPLIED => {
                    *traffic
                        .events_applied
                        .entry((label(labels, "subscriber"), label(labels, "event")))
                        .or_default() += value;
                }
                metrics::EVENT_MESSAGES => {
                    *traffic
                        .event_messages
                        .entry((label(labels, "subscriber"), label(labels, "event")))
                        .or_default()
                        .entry((label(labels, "kind"), label(labels, "message")))
                        .or_default() += value;
                }
                _ => {
                    let family = [
                        (metrics::BUS_REQUEST_BYTES, "message"),
                        (metrics::BUS_RESPONSE_BYTES, "message"),
                        (metrics::EVENT_BYTES, "event"),
                    ];
                    for (prefix, key) in family {
                        let slot = match name.strip_prefix(prefix) {
                            Some("_sum") => 0,
                            Some("_count") => 1,
                            _ => continue,
                        };
                        let entry = sums.entry((prefix, label(labels, key))).or_default();
                        if slot == 0 {
                            entry.0 += value;
                        } else {
                            entry.1 += value;
                        }
                    }
                }
            }
        }
        let mean = |(sum, count): (f64, f64)| if count > 0.0 { sum / count } else { 0.0 };
        for ((family, message), totals) in sums {
            match family {
                metrics::EVENT_BYTES => {
                    traffic.event_bytes.insert(message, mean(totals));
                }
                _ => *traffic.request_bytes.entry(message).or_default() += mean(totals),
            }
        }
        traffic
    }
}

/// What the planner knows of the application: who owns each route, who subscribes to each
/// event, which requests are idempotent.
#[derive(Debug, Clone, Default)]
pub struct Shape {
    /// Route owner by (method, route pattern).
    pub route_owner: BTreeMap<(String, String), String>,
    /// Subscribing modules by event.
    pub subscribers: BTreeMap<String, Vec<String>>,
    /// Idempotent requests.
    pub idempotent: BTreeSet<String>,
    /// Whether a process's relay delivers to all of its own subscribers in one pass (SQLite's
    /// one writer) rather than one pass each (PostgreSQL).
    pub shared_local_pass: bool,
}

impl Shape {
    /// From the linked modules and their published contracts.
    pub fn linked() -> Self {
        let mut shape = Shape {
            shared_local_pass: true,
            ..Shape::default()
        };
        for module in cleave::modules() {
            for route in module.routes() {
                if let Some((method, path)) = route.split_once(' ') {
                    shape.route_owner.insert(
                        (method.to_string(), path.to_string()),
                        module.name().to_string(),
                    );
                }
            }
            for event in module.subscribes {
                shape
                    .subscribers
                    .entry(event.to_string())
                    .or_default()
                    .push(module.name().to_string());
            }
        }
        for (_, document) in crate::published_contracts() {
            if let Some(requests) = document["requests"].as_object() {
                for (name, request) in requests {
                    if request["idempotent"] == Value::Bool(true) {
                        shape.idempotent.insert(name.clone());
                    }
                }
            }
        }
        shape
    }
}

/// A synchronous hop a public request would take.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Hop {
    /// The request sent.
    pub message: String,
    /// From module, on node.
    pub from: String,
    /// To module.
    pub to: String,
    /// The node hosting the callee.
    pub to_node: String,
    /// How many per public request.
    pub per_request: f64,
    /// Mean size of request plus answer, bytes.
    pub bytes: f64,
    /// Whether the request is idempotent (retried on outage, timeout and 5xx).
    pub idempotent: bool,
}

/// A message of the asynchronous cascade that would cross nodes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Crossing {
    /// `event` (a delivery) or `request` (sent by a subscriber's handler).
    pub kind: String,
    /// Event or request name.
    pub message: String,
    /// Sending module (publisher or caller).
    pub from: String,
    /// Receiving module (subscriber or callee).
    pub to: String,
    /// How many per public request.
    pub per_request: f64,
    /// Mean size, bytes.
    pub bytes: f64,
    /// For an event: priced as the table's `event_beside`, because the publisher's relay keeps
    /// a pass for the event besides this delivery's own (a subscriber stays on its node, or
    /// another crossing of the event already took the local pass's place).
    #[serde(default)]
    pub beside_local: bool,
}

/// The prediction for one public route.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoutePlan {
    /// HTTP method.
    pub method: String,
    /// Route pattern.
    pub route: String,
    /// Owning module.
    pub module: String,
    /// The node serving it.
    pub node: String,
    /// Requests of it in the traffic.
    pub requests: f64,
    /// Synchronous hops.
    pub hops: Vec<Hop>,
    /// Asynchronous crossings (events and what their handlers send).
    pub crossings: Vec<Crossing>,
    /// Extra latency, median, microseconds.
    pub extra_p50_us: f64,
    /// Extra latency, 99th percentile (upper bound: the sum of the hops'), microseconds.
    pub extra_p99_us: f64,
    /// Extra CPU per request, hops and crossings, microseconds.
    pub extra_cpu_us: f64,
    /// New ways to fail.
    pub failure_modes: Vec<String>,
    /// Chatty edges and calls in loops.
    pub flags: Vec<String>,
}

/// One node of the placement.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodePlan {
    /// Node name.
    pub node: String,
    /// Modules hosted.
    pub modules: Vec<String>,
    /// Instances.
    pub replicas: u32,
    /// Resident memory of one more instance, bytes.
    pub memory_per_instance_bytes: u64,
}

/// The whole prediction.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    /// The placement planned.
    pub placement: String,
    /// Per public route seen in the traffic.
    pub routes: Vec<RoutePlan>,
    /// Per node.
    pub nodes: Vec<NodePlan>,
    /// Extra CPU per public request, averaged over the traffic's mix, microseconds.
    pub mean_extra_cpu_us: f64,
    /// Where the costs come from.
    pub costs: String,
    /// What the traffic could not tell.
    pub notes: Vec<String>,
}

/// How deep the planner follows events that cause events.
const MAX_CASCADE: usize = 8;

/// Predicts `placement` from `traffic`.
pub fn plan(
    name: &str,
    placement: &cleave::config::Placement,
    traffic: &Traffic,
    shape: &Shape,
    costs: &HopCosts,
) -> Plan {
    let node_of: BTreeMap<&str, &str> = placement
        .nodes
        .iter()
        .flat_map(|(node, n)| n.modules.iter().map(move |m| (m.as_str(), node.as_str())))
        .collect();
    let node = |module: &str| node_of.get(module).copied().unwrap_or("?");
    let mut notes = Vec::new();
    let mut routes = Vec::new();
    let mut weighted_cpu = 0.0;
    let mut total_requests = 0.0;
    for ((method, route), &requests) in &traffic.route_requests {
        if requests <= 0.0 {
            continue;
        }
        let Some(module) = shape.route_owner.get(&(method.clone(), route.clone())) else {
            continue;
        };
        let here = node(module);
        let mut plan = RoutePlan {
            method: method.clone(),
            route: route.clone(),
            module: module.clone(),
            node: here.to_string(),
            requests,
            hops: Vec::new(),
            crossings: Vec::new(),
            extra_p50_us: 0.0,
            extra_p99_us: 0.0,
            extra_cpu_us: 0.0,
            failure_modes: Vec::new(),
            flags: Vec::new(),
        };
        let direct = traffic
            .route_messages
            .get(&(method.clone(), route.clone()))
            .cloned()
            .unwrap_or_default();
        let mut events: Vec<(String, String, f64, usize)> = Vec::new();
        for ((kind, message), total) in &direct {
            let per_request = total / requests;
            if kind == "event" {
                events.push((module.clone(), message.clone(), per_request, 0));
                continue;
            }
            let callee = cleave::owner_of(message).to_string();
            if per_request > 1.0 + 1e-9 {
                plan.flags.push(format!(
                    "`{message}` is sent {per_request:.1} times per request: a call in a loop? One batched request would make one hop"
                ));
            }
            if node(&callee) == here {
                continue;
            }
            let bytes = traffic.request_bytes.get(message).copied().unwrap_or(0.0);
            let cost = costs.request_at(bytes);
            plan.extra_p50_us += per_request * cost.p50_us;
            plan.extra_p99_us += per_request * cost.p99_us;
            plan.extra_cpu_us += per_request * cost.cpu_us;
            let idempotent = shape.idempotent.contains(message);
            plan.failure_modes.push(format!(
                "needs `{callee}` (node `{}`): while no instance answers, this route fails (503){}",
                node(&callee),
                if idempotent {
                    format!("; `{message}` is idempotent: retried after outages, timeouts and 5xx")
                } else {
                    format!("; `{message}` is not idempotent: never retried, and after a timeout it may have run")
                }
            ));
            plan.hops.push(Hop {
                message: message.clone(),
                from: module.clone(),
                to: callee.clone(),
                to_node: node(&callee).to_string(),
                per_request,
                bytes,
                idempotent,
            });
        }
        if plan
            .hops
            .iter()
            .map(|h| h.per_request)
            .fold(0.0, |sum, hops| sum + hops)
            >= 3.0
        {
            plan.flags.push(format!(
                "chatty: {:.1} network hops per request",
                plan.hops
                    .iter()
                    .map(|h| h.per_request)
                    .fold(0.0, |sum, hops| sum + hops)
            ));
        }
        // The cascade: each published event reaches its subscribers; what their handlers send
        // crosses too when on other nodes.
        while let Some((publisher, event, rate, depth)) = events.pop() {
            if depth >= MAX_CASCADE {
                notes.push(format!(
                    "`{event}` cascades deeper than {MAX_CASCADE}; not followed further"
                ));
                continue;
            }
            let subscribers = shape.subscribers.get(&event).map_or(&[][..], Vec::as_slice);
            let bytes = traffic.event_bytes.get(&event).copied().unwrap_or(0.0);
            // With one local pass for all of a node's subscribers, a crossing is priced
            // `event_beside` while that pass stays for the event: some subscriber stays on the
            // publisher's node, or an earlier crossing already took the pass's place.
            let mut beside =
                shape.shared_local_pass && subscribers.iter().any(|s| node(s) == node(&publisher));
            for subscriber in subscribers {
                if node(subscriber) != node(&publisher) {
                    let cost = if beside {
                        costs.event_beside_at(bytes)
                    } else {
                        costs.event_at(bytes)
                    };
                    plan.extra_cpu_us += rate * cost.cpu_us;
                    plan.crossings.push(Crossing {
                        kind: "event".into(),
                        message: event.clone(),
                        from: publisher.clone(),
                        to: subscriber.clone(),
                        per_request: rate,
                        bytes,
                        beside_local: beside,
                    });
                    beside = shape.shared_local_pass;
                }
                let key = (subscriber.clone(), event.clone());
                let applied = traffic.events_applied.get(&key).copied().unwrap_or(0.0);
                if applied <= 0.0 {
                    continue;
                }
                for ((kind, message), total) in
                    traffic.event_messages.get(&key).into_iter().flatten()
                {
                    let per_event = total / applied;
                    if kind == "event" {
                        events.push((
                            subscriber.clone(),
                            message.clone(),
                            rate * per_event,
                            depth + 1,
                        ));
                        continue;
                    }
                    let callee = cleave::owner_of(message).to_string();
                    if node(&callee) == node(subscriber) {
                        continue;
                    }
                    let bytes = traffic.request_bytes.get(message).copied().unwrap_or(0.0);
                    plan.extra_cpu_us += rate * per_event * costs.request_at(bytes).cpu_us;
                    plan.crossings.push(Crossing {
                        kind: "request".into(),
                        message: message.clone(),
                        from: subscriber.clone(),
                        to: callee,
                        per_request: rate * per_event,
                        bytes,
                        beside_local: false,
                    });
                }
            }
        }
        let mut late: BTreeSet<String> = BTreeSet::new();
        for crossing in &plan.crossings {
            if crossing.kind == "event" {
                late.insert(format!(
                    "`{}` reaches `{}` (node `{}`) over the network: while that node is down it waits in `{}`'s outbox; this route still answers",
                    crossing.message,
                    crossing.to,
                    node(&crossing.to),
                    crossing.from
                ));
            }
        }
        plan.failure_modes.extend(late);
        weighted_cpu += requests * plan.extra_cpu_us;
        total_requests += requests;
        routes.push(plan);
    }
    if traffic.route_messages.is_empty() {
        notes.push(format!(
            "the traffic has no `{}`: no request was served, or the process predates per-route counting",
            metrics::ROUTE_MESSAGES
        ));
    }
    let nodes = placement
        .nodes
        .iter()
        .map(|(node, n)| NodePlan {
            node: node.clone(),
            modules: n.modules.clone(),
            replicas: n.replicas,
            memory_per_instance_bytes: costs.process_rss_bytes,
        })
        .collect();
    Plan {
        placement: name.to_string(),
        routes,
        nodes,
        mean_extra_cpu_us: if total_requests > 0.0 {
            weighted_cpu / total_requests
        } else {
            0.0
        },
        costs: costs.measured.clone(),
        notes,
    }
}

/// The plan as a table for people.
pub fn render(plan: &Plan) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "placement `{}` (costs: {})",
        plan.placement, plan.costs
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<7} {:<34} {:>9} {:>5} {:>12} {:>12} {:>12}",
        "method", "route", "requests", "hops", "+p50 µs", "+p99 µs", "+CPU µs/req"
    );
    for route in &plan.routes {
        let _ = writeln!(
            out,
            "{:<7} {:<34} {:>9.0} {:>5.1} {:>12.0} {:>12.0} {:>12.0}",
            route.method,
            route.route,
            route.requests,
            route
                .hops
                .iter()
                .map(|h| h.per_request)
                .fold(0.0, |sum, hops| sum + hops),
            route.extra_p50_us,
            route.extra_p99_us,
            route.extra_cpu_us,
        );
    }
    let _ = writeln!(
        out,
        "\nmean extra CPU per public request, over this traffic: {:.0} µs",
        plan.mean_extra_cpu_us
    );
    for route in &plan.routes {
        if route.hops.is_empty() && route.crossings.is_empty() && route.flags.is_empty() {
            continue;
        }
        let _ = writeln!(
            out,
            "\n{} {} (module `{}`, node `{}`)",
            route.method, route.route, route.module, route.node
        );
        for hop in &route.hops {
            let _ = writeln!(
                out,
                "  hop     {} → {} `{}` ×{:.1}, {:.0} B{}",
                hop.from,
                hop.to,
                hop.message,
                hop.per_request,
                hop.bytes,
                if hop.idempotent { ", idempotent" } else { "" }
            );
        }
        for crossing in &route.crossings {
            let pass = match (crossing.kind.as_str(), crossing.beside_local) {
                ("event", true) => ", a relay pass added",
                ("event", false) => ", in place of the local pass",
                _ => "",
            };
            let _ = writeln!(
                out,
                "  async   {} → {} {} `{}` ×{:.2}, {:.0} B{pass}",
                crossing.from,
                crossing.to,
                crossing.kind,
                crossing.message,
                crossing.per_request,
                crossing.bytes
            );
        }
        for mode in &route.failure_modes {
            let _ = writeln!(out, "  fails   {mode}");
        }
        for flag in &route.flags {
            let _ = writeln!(out, "  flag    {flag}");
        }
    }
    let _ = writeln!(out, "\nnodes:");
    for node in &plan.nodes {
        let _ = writeln!(
            out,
            "  {:<16} ×{} {:>6.1} MiB per instance  {}",
            node.node,
            node.replicas,
            node.memory_per_instance_bytes as f64 / (1024.0 * 1024.0),
            node.modules.join(", ")
        );
    }
    for note in &plan.notes {
        let _ = writeln!(out, "note: {note}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = r#"
# TYPE cleave_http_requests_total counter
cleave_http_requests_total{method="POST",route="/api/orders",status="201"} 90
cleave_http_requests_total{method="POST",route="/api/orders",status="409"} 10
cleave_route_messages_total{method="POST",route="/api/orders",kind="request",message="catalog.get_prices"} 100
cleave_route_messages_total{method="POST",route="/api/orders",kind="request",message="inventory.reserve_stock"} 100
cleave_route_messages_total{method="POST",route="/api/orders",kind="event",message="orders.order_placed"} 90
cleave_events_applied_total{subscriber="billing",event="orders.order_placed"} 90
cleave_event_messages_total{subscriber="billing",event="orders.order_placed",kind="event",message="billing.payment_captured"} 90
cleave_bus_request_bytes_sum{caller="orders",module="catalog",message="catalog.get_prices",location="local"} 300
cleave_bus_request_bytes_count{caller="orders",module="catalog",message="catalog.get_prices",location="local"} 3
cleave_bus_response_bytes_sum{caller="orders",module="catalog",message="catalog.get_prices",location="local"} 600
cleave_bus_response_bytes_count{caller="orders",module="catalog",message="catalog.get_prices",location="local"} 3
cleave_event_bytes_sum{publisher="orders",event="orders.order_placed"} 45000
cleave_event_bytes_count{publisher="orders",event="orders.order_placed"} 90
"#;

    fn costs() -> HopCosts {
        let point = |bytes, us| CostPoint {
            bytes,
            p50_us: us,
            p99_us: us * 3.0,
            cpu_us: us / 2.0,
        };
        HopCosts {
            measured: "test".into(),
            request: vec![point(100.0, 100.0), point(1100.0, 200.0)],
            event: vec![point(100.0, 400.0), point(1100.0, 500.0)],
            event_beside: Vec::new(),
            idle_ms: Some(1.0),
            process_rss_bytes: 10 << 20,
        }
    }

    fn shape() -> Shape {
        let mut shape = Shape::default();
        shape
            .route_owner
            .insert(("POST".into(), "/api/orders".into()), "orders".into());
        shape.subscribers.insert(
            "orders.order_placed".into(),
            vec!["billing".into(), "inventory".into()],
        );
        shape.subscribers.insert(
            "billing.payment_captured".into(),
            vec!["orders".into(), "notifications".into()],
        );
        shape.idempotent.insert("catalog.get_prices".into());
        shape
    }

    fn placement(nodes: &[(&str, &[&str])]) -> cleave::config::Placement {
        let nodes: serde_json::Map<String, Value> = nodes
            .iter()
            .map(|(node, modules)| (node.to_string(), serde_json::json!({ "modules": modules })))
            .collect();
        serde_json::from_value(serde_json::json!({ "nodes": nodes })).unwrap()
    }

    #[test]
    fn the_page_is_read_into_traffic() {
        let traffic = Traffic::from_prometheus(PAGE);
        let route = ("POST".to_string(), "/api/orders".to_string());
        assert_eq!(traffic.route_requests[&route], 100.0);
        assert_eq!(
            traffic.route_messages[&route][&("request".into(), "catalog.get_prices".into())],
            100.0
        );
        assert_eq!(traffic.request_bytes["catalog.get_prices"], 300.0);
        assert_eq!(traffic.event_bytes["orders.order_placed"], 500.0);
    }

    #[test]
    fn labels_with_escapes_and_values_with_timestamps_parse() {
        let samples = parse_prometheus("x{a=\"q\\\"uote\",b=\"c,d\"} 2.5 1700000000\ny 3\n");
        assert_eq!(samples[0].1["a"], "q\"uote");
        assert_eq!(samples[0].1["b"], "c,d");
        assert_eq!(samples[0].2, 2.5);
        assert_eq!(samples[1], ("y".into(), BTreeMap::new(), 3.0));
    }

    #[test]
    fn the_monolith_costs_nothing_more() {
        let traffic = Traffic::from_prometheus(PAGE);
        let monolith = placement(&[(
            "all",
            &["billing", "catalog", "inventory", "notifications", "orders"],
        )]);
        let plan = plan("monolith", &monolith, &traffic, &shape(), &costs());
        assert_eq!(plan.routes.len(), 1);
        let route = &plan.routes[0];
        assert!(route.hops.is_empty() && route.crossings.is_empty());
        assert_eq!((route.extra_p50_us, route.extra_cpu_us), (0.0, 0.0));
    }

    #[test]
    fn extracted_modules_add_hops_crossings_and_failure_modes() {
        let traffic = Traffic::from_prometheus(PAGE);
        let split = placement(&[
            ("main", &["inventory", "notifications", "orders"]),
            ("catalog", &["catalog"]),
            ("billing", &["billing"]),
        ]);
        let plan = plan("split", &split, &traffic, &shape(), &costs());
        let route = &plan.routes[0];
        // One hop to catalog of 300 B: interpolated between 100 and 1100 B.
        assert_eq!(route.hops.len(), 1);
        assert!((route.extra_p50_us - 120.0).abs() < 1e-9, "{route:?}");
        assert!((route.extra_p99_us - 360.0).abs() < 1e-9);
        // CPU: the hop (60) + order_placed (500 B) to billing (0.9 × 220) + payment_captured
        // from billing to orders and notifications (2 × 0.9 × 200, its size unknown: the
        // first point).
        let expected = 60.0 + 0.9 * 220.0 + 2.0 * 0.9 * 200.0;
        assert!((route.extra_cpu_us - expected).abs() < 1e-9, "{route:?}");
        assert_eq!(route.crossings.len(), 3);
        assert!(route.failure_modes[0].contains("needs `catalog`"));
        assert!(route.failure_modes[0].contains("idempotent: retried"));
        assert!(
            route
                .failure_modes
                .iter()
                .any(|m| m.contains("`orders.order_placed` reaches `billing`"))
        );
        assert_eq!(plan.nodes.len(), 3);
        assert!(render(&plan).contains("/api/orders"));
    }

    #[test]
    fn a_crossing_beside_a_local_pass_costs_a_whole_pass() {
        let traffic = Traffic::from_prometheus(PAGE);
        let mut costs = costs();
        costs.event_beside = vec![CostPoint {
            bytes: 100.0,
            p50_us: 0.0,
            p99_us: 0.0,
            cpu_us: 1000.0,
        }];
        let shape = Shape {
            shared_local_pass: true,
            ..shape()
        };
        // billing away: order_placed leaves inventory beside orders (beside), and both
        // subscribers of payment_captured are away from billing (one replaces the pass).
        let split = placement(&[
            ("main", &["catalog", "inventory", "notifications", "orders"]),
            ("billing", &["billing"]),
        ]);
        let route = &plan("split", &split, &traffic, &shape, &costs).routes[0];
        let expected = 0.9 * 1000.0 + 0.9 * 200.0 + 0.9 * 1000.0;
        assert!((route.extra_cpu_us - expected).abs() < 1e-9, "{route:?}");
        let beside: Vec<bool> = route.crossings.iter().map(|c| c.beside_local).collect();
        assert_eq!(beside.iter().filter(|b| **b).count(), 2, "{route:?}");
        let table = render(&plan("split", &split, &traffic, &shape, &costs));
        assert!(
            table.contains(
                "orders → billing event `orders.order_placed` ×0.90, 500 B, a relay pass added"
            ),
            "{table}"
        );
        assert!(table.contains(", in place of the local pass"), "{table}");
        // On PostgreSQL every subscriber has a pass of its own: every crossing is `event`.
        let shape = Shape {
            shared_local_pass: false,
            ..shape
        };
        let route = &plan("split", &split, &traffic, &shape, &costs).routes[0];
        let expected = 0.9 * 220.0 + 2.0 * 0.9 * 200.0;
        assert!((route.extra_cpu_us - expected).abs() < 1e-9, "{route:?}");
        assert!(route.crossings.iter().all(|c| !c.beside_local));
    }

    #[test]
    fn loops_and_chatty_routes_are_flagged() {
        let page = PAGE.replace(
            "message=\"inventory.reserve_stock\"} 100",
            "message=\"inventory.reserve_stock\"} 400",
        );
        let traffic = Traffic::from_prometheus(&page);
        let split = placement(&[
            ("main", &["orders", "catalog", "billing", "notifications"]),
            ("inventory", &["inventory"]),
        ]);
        let plan = plan("split", &split, &traffic, &shape(), &costs());
        let flags = &plan.routes[0].flags;
        assert!(
            flags.iter().any(|f| f.contains("4.0 times per request")),
            "{flags:?}"
        );
        assert!(flags.iter().any(|f| f.contains("chatty: 4.0")), "{flags:?}");
    }

    #[test]
    fn the_shipped_costs_interpolate() {
        let costs = HopCosts::defaults();
        assert!(HopCosts::from_json(DEFAULT_COSTS).is_ok());
        let small = costs.request_at(100.0);
        let large = costs.request_at(100_000.0);
        assert!(small.p50_us > 0.0 && large.cpu_us >= small.cpu_us);
    }
}
