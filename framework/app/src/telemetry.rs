//! Logs, and span export to an OpenTelemetry collector when `telemetry.otlp_endpoint` is set.
//!
//! One `tracing` subscriber with two layers, each with its own filter: the log lines (`log`,
//! `RUST_LOG`, `log_format`) and, optionally, the OTLP exporter (`telemetry.filter`). The
//! export is HTTP with a JSON body to `<endpoint>/v1/traces`, from a batch processor on a
//! thread of its own, so a slow or absent collector never blocks a request.

use anyhow::Context as _;
use cleave::trace::TraceContext;
use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState, TracerProvider as _,
};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// The installed exporter, flushed by [`Telemetry::shutdown`] when the process ends.
#[derive(Debug, Default)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Exports the spans still buffered and stops the exporter.
    pub fn shutdown(self) {
        if let Some(provider) = self.provider
            && let Err(e) = provider.shutdown()
        {
            tracing::warn!(error = %e, "the span exporter did not shut down cleanly");
        }
    }
}

/// Installs the process's subscriber: log lines filtered by `config.log` (or `RUST_LOG`), and
/// with `export` and `config.telemetry.otlp_endpoint` set, OTLP export of the spans that
/// `config.telemetry.filter` selects. A second call (tests) keeps the first subscriber.
pub fn init(config: &cleave::Config, export: bool) -> anyhow::Result<Telemetry> {
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| config.log.clone());
    let log_filter = EnvFilter::new(filter);
    let logs = match config.log_format {
        cleave::LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_filter(log_filter)
            .boxed(),
        cleave::LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_writer(std::io::stderr)
            .with_filter(log_filter)
            .boxed(),
    };
    let endpoint = config
        .telemetry
        .otlp_endpoint
        .as_deref()
        .filter(|_| export)
        .map(|e| e.trim_end_matches('/'));
    let Some(endpoint) = endpoint else {
        let _ = tracing_subscriber::registry().with(logs).try_init();
        return Ok(Telemetry::default());
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpJson)
        .with_endpoint(format!("{endpoint}/v1/traces"))
        .build()
        .context("Failed to build the OTLP span exporter (telemetry.otlp_endpoint)")?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            Resource::builder()
                .with_service_name(config.telemetry.service_name.clone())
                .build(),
        )
        .build();
    let export_layer = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("cleave"))
        .with_filter(EnvFilter::new(&config.telemetry.filter));
    let _ = tracing_subscriber::registry()
        .with(logs)
        .with(export_layer)
        .try_init();
    cleave::trace::set_span_linker(link_to_trace);
    Ok(Telemetry {
        provider: Some(provider),
    })
}

/// Makes the exported span a child of the W3C context it runs in, so it carries the trace id of
/// the `traceparent` headers, the outbox rows and the logs.
fn link_to_trace(span: &tracing::Span, context: &TraceContext) {
    let (Ok(trace_id), Ok(span_id)) = (
        TraceId::from_hex(&context.trace_id),
        SpanId::from_hex(&context.span_id),
    ) else {
        return;
    };
    let flags = if context.sampled {
        TraceFlags::SAMPLED
    } else {
        TraceFlags::default()
    };
    let parent = SpanContext::new(trace_id, span_id, flags, true, TraceState::default());
    let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(parent));
}
