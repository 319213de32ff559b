//! Prometheus metrics of one process: bus calls, HTTP requests and the outbox.
//!
//! Every [`Bus`](crate::Bus) owns a [`Metrics`]: a Prometheus recorder of its own rather than
//! the process-global one of the `metrics` facade, so that several applications in one test
//! process each report only their own work (see ADR 7). Handles are registered directly on the
//! recorder; the bus registers those of its local routes once, when it is sealed, and keeps
//! them next to the handler, so an in-process call never looks a metric up by its labels.

use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, Key, Label, Metadata, Recorder};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};

/// Calls of a request, by `caller` (the sending module), `module` (the callee), `message` and
/// `location`.
pub const BUS_CALLS: &str = "cleave_bus_calls_total";
/// Failed calls by `caller`, `module`, `message`, `location` and `kind` ([`CallError::kind`]).
///
/// [`CallError::kind`]: cleave_contract::CallError::kind
pub const BUS_CALL_ERRORS: &str = "cleave_bus_call_errors_total";
/// Latency of calls, seconds, by `caller`, `module`, `message` and `location`.
pub const BUS_CALL_DURATION: &str = "cleave_bus_call_duration_seconds";
/// Size in bytes of a request as it is (or would be) on the wire, JSON-encoded, by `caller`,
/// `module`, `message` and `location`: every call that crosses the codec, one in
/// [`LOCAL_SIZE_SAMPLE`] in-process calls.
pub const BUS_REQUEST_BYTES: &str = "cleave_bus_request_bytes";
/// Size in bytes of the answer (response or domain error), as [`BUS_REQUEST_BYTES`].
pub const BUS_RESPONSE_BYTES: &str = "cleave_bus_response_bytes";
/// Events written to the outbox, by `publisher` and `event` (one per publish, whatever the
/// number of subscribers).
pub const EVENTS_PUBLISHED: &str = "cleave_events_published_total";
/// Size in bytes of published events' envelopes, JSON-encoded, by `publisher` and `event`.
pub const EVENT_BYTES: &str = "cleave_event_bytes";
/// Messages caused by public requests, by `method`, `route`, `kind` (`request` sent over the
/// bus, `event` published) and `message`: divided by the route's requests
/// ([`HTTP_REQUESTS`]), the fan-out of one request.
pub const ROUTE_MESSAGES: &str = "cleave_route_messages_total";
/// Events a subscriber applied (first deliveries), by `subscriber` and `event`.
pub const EVENTS_APPLIED: &str = "cleave_events_applied_total";
/// Messages caused by subscribers' handlers, by `subscriber`, `event`, `kind` and `message`:
/// divided by [`EVENTS_APPLIED`], what one applied event fans out to.
pub const EVENT_MESSAGES: &str = "cleave_event_messages_total";
/// Public HTTP requests by `method`, `route` (the pattern, e.g. `/api/orders/{id}`) and `status`.
pub const HTTP_REQUESTS: &str = "cleave_http_requests_total";
/// Latency of public HTTP requests, seconds, by `method`, `route` and `status`.
pub const HTTP_REQUEST_DURATION: &str = "cleave_http_request_duration_seconds";
/// Outbox deliveries waiting to be made (including scheduled retries).
pub const OUTBOX_PENDING: &str = "cleave_outbox_pending";
/// Outbox deliveries out of attempts, waiting for an operator.
pub const OUTBOX_FAILED: &str = "cleave_outbox_failed";
/// Age in seconds of the oldest pending delivery; 0 when nothing is pending.
pub const OUTBOX_OLDEST_PENDING_AGE: &str = "cleave_outbox_oldest_pending_age_seconds";
/// Delivered outbox rows still kept (retention removes them).
pub const OUTBOX_DELIVERED: &str = "cleave_outbox_delivered";
/// Entries of the inbox (retention removes old ones).
pub const INBOX_ENTRIES: &str = "cleave_inbox_entries";

/// Event deliveries by `subscriber`, `location` and `outcome` (`applied`, `duplicate`: the
/// subscriber had applied it before, `unavailable`, `refused`).
pub const EVENT_DELIVERIES: &str = "cleave_event_deliveries_total";

/// Where the callee of a bus call runs: `local` (this process) or `remote`.
pub const LOCAL: &str = "local";
/// See [`LOCAL`].
pub const REMOTE: &str = "remote";
/// The `location` of event deliveries a subscriber took from the broker.
pub const BROKER: &str = "broker";

/// Every value [`CallError::kind`](cleave_contract::CallError::kind) returns, in the order of
/// [`CallMetrics::errors`].
const ERROR_KINDS: [&str; 6] = [
    "domain",
    "no_route",
    "unavailable",
    "timeout",
    "incompatible",
    "bad_payload",
];

/// Histogram buckets in seconds: from the ~100 ns of an in-process call to a remote call at
/// its default 2 s deadline.
const BUCKETS: &[f64] = &[
    0.000_001, 0.000_005, 0.000_025, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01,
    0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Histogram buckets of message sizes, bytes: from a tiny request to the 1 MiB body cap.
const BYTE_BUCKETS: &[f64] = &[
    64.0,
    256.0,
    1024.0,
    4096.0,
    16_384.0,
    65_536.0,
    262_144.0,
    1_048_576.0,
];

static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));

/// The metrics of one process, rendered in the Prometheus text format by [`Metrics::render`].
/// Cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    recorder: Arc<PrometheusRecorder>,
    handle: PrometheusHandle,
    /// Every request's call metrics, whose call counts are published when rendering.
    calls: Arc<Mutex<Vec<Arc<CallMetrics>>>>,
    /// The counters and histograms counted per event or per request, found again by name and
    /// label values.
    handles: Arc<Handles>,
}

/// Handles already registered, found again by metric name and label values without building a
/// `Key`. Registering one allocates the labels' strings, hashes them and looks them up in the
/// exporter's registry: about 6 000 instructions, which the events and requests paid on every
/// count (README, "Where the CPU goes"). A metric name always comes with the same label names,
/// so the values tell its series apart. Grows with the series, as the registry does.
#[derive(Default)]
struct Handles {
    counters: Cache<Counter>,
    histograms: Cache<Histogram>,
}

/// Handles by a hash of name and label values; each bucket keeps the values to tell collisions
/// apart.
type Cache<H> = RwLock<rustc_hash::FxHashMap<u64, Vec<(&'static str, Box<[String]>, H)>>>;

/// The handle of series (`name`, `values`) from `cache`, registered by `register` with the
/// labels `names` = `values` the first time. Two threads registering the same series at once
/// both get the registry's one series.
fn cached<H: Clone>(
    cache: &Cache<H>,
    name: &'static str,
    names: &[&'static str],
    values: &[&str],
    register: impl FnOnce(Vec<Label>) -> H,
) -> H {
    debug_assert_eq!(names.len(), values.len());
    let mut hasher = rustc_hash::FxHasher::default();
    name.hash(&mut hasher);
    values.hash(&mut hasher);
    let hash = hasher.finish();
    let same = |(n, v, _): &&(&'static str, Box<[String]>, H)| {
        *n == name && v.iter().map(String::as_str).eq(values.iter().copied())
    };
    if let Some((_, _, handle)) = cache
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&hash)
        .and_then(|bucket| bucket.iter().find(same))
    {
        return handle.clone();
    }
    let labels = names
        .iter()
        .zip(values)
        .map(|(n, v)| Label::new(*n, v.to_string()))
        .collect();
    let handle = register(labels);
    cache
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(hash)
        .or_default()
        .push((
            name,
            values.iter().map(|v| v.to_string()).collect(),
            handle.clone(),
        ));
    handle
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// An empty set of metrics with its own recorder.
    pub fn new() -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets(BUCKETS)
            .and_then(|b| {
                b.set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Suffix("_bytes".into()),
                    BYTE_BUCKETS,
                )
            })
            .expect("the bucket lists are not empty")
            .build_recorder();
        for (name, help) in [
            (
                BUS_CALLS,
                "Bus calls by calling module, callee module, request and callee location.",
            ),
            (BUS_CALL_ERRORS, "Failed bus calls by CallError kind."),
            (
                EVENT_DELIVERIES,
                "Event deliveries by subscriber and outcome; `duplicate` counts redundant deliveries the subscriber's inbox recognised.",
            ),
            (
                HTTP_REQUESTS,
                "Public HTTP requests by method, route pattern and status.",
            ),
            (
                EVENTS_PUBLISHED,
                "Events written to the outbox by publisher and event.",
            ),
            (
                ROUTE_MESSAGES,
                "Bus requests sent and events published while serving public requests, by route.",
            ),
            (
                EVENTS_APPLIED,
                "Events applied by subscribers of this process, by subscriber and event.",
            ),
            (
                EVENT_MESSAGES,
                "Bus requests sent and events published by subscribers' handlers, by subscriber and event.",
            ),
        ] {
            recorder.describe_counter(name.into(), None, help.into());
        }
        for (name, help) in [
            (
                BUS_REQUEST_BYTES,
                "JSON size of bus requests; in-process calls sampled (1 in 1024).",
            ),
            (
                BUS_RESPONSE_BYTES,
                "JSON size of bus answers, sampled alike.",
            ),
            (EVENT_BYTES, "JSON size of published event envelopes."),
        ] {
            recorder.describe_histogram(name.into(), Some(metrics::Unit::Bytes), help.into());
        }
        recorder.describe_histogram(
            BUS_CALL_DURATION.into(),
            Some(metrics::Unit::Seconds),
            format!(
                "Bus call latency; in-process calls are timed one in {LOCAL_TIMING_SAMPLE} of each request."
            )
            .into(),
        );
        recorder.describe_histogram(
            HTTP_REQUEST_DURATION.into(),
            Some(metrics::Unit::Seconds),
            "Public HTTP request latency.".into(),
        );
        for (name, help) in [
            (
                OUTBOX_PENDING,
                "Outbox deliveries waiting, retries included.",
            ),
            (OUTBOX_FAILED, "Outbox deliveries out of attempts."),
            (
                OUTBOX_OLDEST_PENDING_AGE,
                "Age of the oldest pending outbox delivery.",
            ),
            (
                OUTBOX_DELIVERED,
                "Delivered outbox rows kept until retention removes them.",
            ),
            (
                INBOX_ENTRIES,
                "Inbox entries kept until retention removes them.",
            ),
        ] {
            recorder.describe_gauge(name.into(), None, help.into());
        }
        let handle = recorder.handle();
        Metrics {
            recorder: Arc::new(recorder),
            handle,
            calls: Arc::default(),
            handles: Arc::default(),
        }
    }

    /// A counter with these labels, created at 0 on first use.
    pub fn counter(&self, name: &'static str, labels: Vec<Label>) -> Counter {
        self.recorder
            .register_counter(&Key::from_parts(name, labels), &METADATA)
    }

    /// The counter of series `name`{`names` = `values`}, registered on first use and found
    /// again without building its key.
    fn counter_of(&self, name: &'static str, names: &[&'static str], values: &[&str]) -> Counter {
        cached(&self.handles.counters, name, names, values, |labels| {
            self.counter(name, labels)
        })
    }

    /// The histogram of series `name`{`names` = `values`}, as [`Metrics::counter_of`].
    fn histogram_of(
        &self,
        name: &'static str,
        names: &[&'static str],
        values: &[&str],
    ) -> Histogram {
        cached(&self.handles.histograms, name, names, values, |labels| {
            self.histogram(name, labels)
        })
    }

    /// A gauge with these labels.
    pub fn gauge(&self, name: &'static str, labels: Vec<Label>) -> Gauge {
        self.recorder
            .register_gauge(&Key::from_parts(name, labels), &METADATA)
    }

    /// A histogram with these labels (buckets from 1 µs to 5 s).
    pub fn histogram(&self, name: &'static str, labels: Vec<Label>) -> Histogram {
        self.recorder
            .register_histogram(&Key::from_parts(name, labels), &METADATA)
    }

    /// The handles of one request from one caller at one location, registered once.
    pub(crate) fn call(
        &self,
        caller: &str,
        module: &str,
        message: &str,
        location: &'static str,
    ) -> Arc<CallMetrics> {
        let labels = || {
            vec![
                Label::new("caller", caller.to_string()),
                Label::new("module", module.to_string()),
                Label::new("message", message.to_string()),
                Label::new("location", location),
            ]
        };
        let call = Arc::new(CallMetrics {
            calls: AtomicU64::new(0),
            calls_total: self.counter(BUS_CALLS, labels()),
            duration: self.histogram(BUS_CALL_DURATION, labels()),
            request_bytes: self.histogram(BUS_REQUEST_BYTES, labels()),
            response_bytes: self.histogram(BUS_RESPONSE_BYTES, labels()),
            errors: ERROR_KINDS.map(|kind| {
                let mut labels = labels();
                labels.push(Label::new("kind", kind));
                self.counter(BUS_CALL_ERRORS, labels)
            }),
        });
        self.calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(call.clone());
        call
    }

    /// Counts one published event of `bytes` (its envelope, JSON-encoded).
    pub fn event_published(&self, publisher: &'static str, event: &'static str, bytes: usize) {
        let names = ["publisher", "event"];
        let values = [publisher, event];
        self.counter_of(EVENTS_PUBLISHED, &names, &values)
            .increment(1);
        self.histogram_of(EVENT_BYTES, &names, &values)
            .record(bytes as f64);
    }

    /// Adds the messages one public request caused (see [`crate::traffic`]).
    pub fn route_messages(&self, method: &str, route: &str, caused: &crate::traffic::Caused) {
        for (kind, message, count) in caused {
            self.counter_of(
                ROUTE_MESSAGES,
                &["method", "route", "kind", "message"],
                &[method, route, kind.label(), message],
            )
            .increment(u64::from(*count));
        }
    }

    /// Counts one event `subscriber` applied, and the messages its handler caused.
    pub fn event_applied(&self, subscriber: &str, event: &str, caused: &crate::traffic::Caused) {
        self.counter_of(
            EVENTS_APPLIED,
            &["subscriber", "event"],
            &[subscriber, event],
        )
        .increment(1);
        for (kind, message, count) in caused {
            self.counter_of(
                EVENT_MESSAGES,
                &["subscriber", "event", "kind", "message"],
                &[subscriber, event, kind.label(), message],
            )
            .increment(u64::from(*count));
        }
    }

    /// Counts one public HTTP request.
    pub fn http_request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let names = ["method", "route", "status"];
        let status = status.to_string();
        let values = [method, route, status.as_str()];
        self.counter_of(HTTP_REQUESTS, &names, &values).increment(1);
        self.histogram_of(HTTP_REQUEST_DURATION, &names, &values)
            .record(elapsed.as_secs_f64());
    }

    /// Counts `n` event deliveries to `subscriber` with one outcome.
    pub fn event_deliveries(
        &self,
        subscriber: &str,
        location: &'static str,
        outcome: &'static str,
        n: u64,
    ) {
        self.counter_of(
            EVENT_DELIVERIES,
            &["subscriber", "location", "outcome"],
            &[subscriber, location, outcome],
        )
        .increment(n);
    }

    /// Sets the outbox gauges: deliveries pending, failed and delivered-but-kept, how long the
    /// oldest pending one has waited, and the inbox's size.
    pub fn set_outbox(&self, counts: OutboxGauges) {
        self.gauge(OUTBOX_PENDING, Vec::new())
            .set(counts.pending as f64);
        self.gauge(OUTBOX_FAILED, Vec::new())
            .set(counts.failed as f64);
        self.gauge(OUTBOX_DELIVERED, Vec::new())
            .set(counts.delivered as f64);
        self.gauge(INBOX_ENTRIES, Vec::new())
            .set(counts.inbox as f64);
        self.gauge(OUTBOX_OLDEST_PENDING_AGE, Vec::new())
            .set(counts.oldest_pending_age.as_secs_f64());
    }

    /// Everything recorded so far, in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        for call in self.calls.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            call.publish();
        }
        self.handle.render()
    }

    /// Compacts the histograms' recent samples; call it now and then (rendering does it too) so
    /// a process that is never scraped does not keep every sample.
    pub fn run_upkeep(&self) {
        self.handle.run_upkeep();
    }
}

/// The outbox and inbox figures of one scrape.
#[derive(Debug, Clone, Copy, Default)]
pub struct OutboxGauges {
    /// Deliveries waiting.
    pub pending: u64,
    /// Deliveries out of attempts.
    pub failed: u64,
    /// Delivered rows kept.
    pub delivered: u64,
    /// Inbox entries.
    pub inbox: u64,
    /// How long the oldest pending delivery has waited.
    pub oldest_pending_age: Duration,
}

/// One in this many in-process calls of each request is timed (see ADR 7): timing a call costs
/// two clock reads and a histogram sample, more than the rest of an in-process call. Calls that
/// cross a process or the wire codec are all timed.
pub const LOCAL_TIMING_SAMPLE: u64 = 32;

/// One in this many in-process calls of each edge is also serialized to measure its wire size
/// (a multiple of [`LOCAL_TIMING_SAMPLE`], so those calls are timed too). Calls that cross the
/// codec are all measured.
pub const LOCAL_SIZE_SAMPLE: u64 = 1024;
const _: () = assert!(LOCAL_SIZE_SAMPLE.is_multiple_of(LOCAL_TIMING_SAMPLE));

/// What to measure of one in-process call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sample {
    /// Nothing but the count.
    None,
    /// Its latency.
    Time,
    /// Its latency and its wire size.
    TimeAndSize,
}

/// The metrics of one request at one location, kept in the bus's route entry.
///
/// Calls are counted in a plain atomic next to the route rather than through the exporter's
/// counter: one `fetch_add` that also says which call to time, instead of a dynamic call plus a
/// sampling counter of its own. [`Metrics::render`] publishes the count.
pub(crate) struct CallMetrics {
    calls: AtomicU64,
    calls_total: Counter,
    duration: Histogram,
    request_bytes: Histogram,
    response_bytes: Histogram,
    errors: [Counter; ERROR_KINDS.len()],
}

impl CallMetrics {
    /// Counts a call; `true` when it is one of those to time on an in-process route (the first
    /// of every [`LOCAL_TIMING_SAMPLE`]).
    #[inline]
    pub(crate) fn count(&self) -> bool {
        self.sample() != Sample::None
    }

    /// Counts a call and says what to measure of it on an in-process route: its time (the first
    /// of every [`LOCAL_TIMING_SAMPLE`]), and also its wire size (the first of every
    /// [`LOCAL_SIZE_SAMPLE`]: serializing a message costs more than the call itself, and sizes
    /// vary far less than times).
    #[inline]
    pub(crate) fn sample(&self) -> Sample {
        let n = self.calls.fetch_add(1, Ordering::Relaxed);
        // One test on the common path: the size sample is a subset of the timing sample.
        if !n.is_multiple_of(LOCAL_TIMING_SAMPLE) {
            Sample::None
        } else if n.is_multiple_of(LOCAL_SIZE_SAMPLE) {
            Sample::TimeAndSize
        } else {
            Sample::Time
        }
    }

    /// Records the outcome of a counted call: how long it took if it was timed, and the kind of
    /// failure if it failed.
    #[inline]
    pub(crate) fn finish(&self, elapsed: Option<Duration>, error_kind: Option<&'static str>) {
        if let Some(elapsed) = elapsed {
            self.duration.record(elapsed.as_secs_f64());
        }
        if let Some(kind) = error_kind
            && let Some(i) = ERROR_KINDS.iter().position(|k| *k == kind)
        {
            self.errors[i].increment(1);
        }
    }

    /// Records the wire size of a sampled call's request and answer (`None` when it had none:
    /// the call failed before an answer).
    #[inline]
    pub(crate) fn sizes(&self, request: usize, answer: Option<usize>) {
        self.request_bytes.record(request as f64);
        if let Some(answer) = answer {
            self.response_bytes.record(answer as f64);
        }
    }

    /// Hands the call count to the exporter.
    fn publish(&self) {
        self.calls_total
            .absolute(self.calls.load(Ordering::Relaxed));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_metrics_do_not_share_counts() {
        let a = Metrics::new();
        let b = Metrics::new();
        let call = a.call("calc", "math", "math.double", LOCAL);
        assert!(call.count(), "the first call is timed");
        call.finish(Some(Duration::from_micros(3)), Some("domain"));
        assert!(!call.count(), "the second is not");
        let text = a.render();
        assert!(
            text.contains(
                r#"cleave_bus_calls_total{caller="calc",module="math",message="math.double",location="local"} 2"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"cleave_bus_call_errors_total{caller="calc",module="math",message="math.double",location="local",kind="domain"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"cleave_bus_call_duration_seconds_bucket{caller="calc",module="math",message="math.double",location="local",le="0.000005"} 1"#),
            "{text}"
        );
        assert!(!b.render().contains("cleave_bus_calls_total"));
        call.sizes(300, Some(20));
        let text = a.render();
        assert!(
            text.contains(r#"cleave_bus_request_bytes_bucket{caller="calc",module="math",message="math.double",location="local",le="1024"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"cleave_bus_response_bytes_sum{caller="calc",module="math",message="math.double",location="local"} 20"#),
            "{text}"
        );
    }

    /// The cached handles count into the series of their own labels, in their own `Metrics`.
    #[test]
    fn counts_reach_their_series_through_the_handle_cache() {
        let a = Metrics::new();
        let b = Metrics::new();
        for _ in 0..3 {
            a.event_deliveries("billing", LOCAL, "applied", 2);
        }
        a.event_deliveries("billing", LOCAL, "refused", 1);
        a.event_deliveries("orders", LOCAL, "applied", 5);
        b.event_deliveries("billing", LOCAL, "applied", 7);
        a.http_request("POST", "/api/orders", 201, Duration::from_millis(2));
        a.http_request("POST", "/api/orders", 201, Duration::from_millis(2));
        a.http_request("POST", "/api/orders", 422, Duration::from_millis(2));
        let text = a.render();
        for series in [
            r#"cleave_event_deliveries_total{subscriber="billing",location="local",outcome="applied"} 6"#,
            r#"cleave_event_deliveries_total{subscriber="billing",location="local",outcome="refused"} 1"#,
            r#"cleave_event_deliveries_total{subscriber="orders",location="local",outcome="applied"} 5"#,
            r#"cleave_http_requests_total{method="POST",route="/api/orders",status="201"} 2"#,
            r#"cleave_http_requests_total{method="POST",route="/api/orders",status="422"} 1"#,
            r#"cleave_http_request_duration_seconds_count{method="POST",route="/api/orders",status="201"} 2"#,
        ] {
            assert!(text.contains(series), "{series} in\n{text}");
        }
        assert!(
            b.render().contains(
                r#"cleave_event_deliveries_total{subscriber="billing",location="local",outcome="applied"} 7"#
            )
        );
    }
}
