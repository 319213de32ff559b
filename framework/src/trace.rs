//! W3C trace context (`traceparent`) carried through calls, events and processes, so one order
//! is one trace however many processes it crosses.
//!
//! The context of the work in progress lives in a task-local: set at the edges (an incoming
//! public or internal HTTP request, an event delivery), read where work leaves the task (a
//! remote call's `traceparent` header, an event written to the outbox). Hand-written rather than
//! taken from OpenTelemetry because the framework needs only the header format and the
//! task-local; exporting spans is left to the tracing subscriber the binary installs.

use std::future::Future;

/// The W3C trace context header.
pub const TRACEPARENT: &str = "traceparent";

/// One position in a trace: the trace and the span that is the parent of the next hop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    /// 32 lowercase hex digits, shared by every span of the trace.
    pub trace_id: String,
    /// 16 lowercase hex digits identifying the current span.
    pub span_id: String,
    /// The sampled flag of the incoming header (new traces are sampled).
    pub sampled: bool,
}

/// `bytes` random bytes as hex. Trace ids need to be unique, not secret: a fast thread-local
/// generator, not the operating system's (a system call per id showed in the profile of the
/// remote-call benchmark).
fn random_hex(bytes: usize) -> String {
    let mut out = String::with_capacity(bytes * 2);
    for _ in 0..bytes {
        let byte = fastrand::u8(..);
        out.push(char::from_digit(u32::from(byte >> 4), 16).unwrap_or('0'));
        out.push(char::from_digit(u32::from(byte & 0xf), 16).unwrap_or('0'));
    }
    out
}

fn is_hex_id(text: &str, len: usize) -> bool {
    text.len() == len
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && text.bytes().any(|b| b != b'0')
}

impl TraceContext {
    /// Starts a new trace.
    pub fn new_root() -> TraceContext {
        TraceContext {
            trace_id: random_hex(16),
            span_id: random_hex(8),
            sampled: true,
        }
    }

    /// The same trace, one hop further.
    pub fn child(&self) -> TraceContext {
        TraceContext {
            trace_id: self.trace_id.clone(),
            span_id: random_hex(8),
            sampled: self.sampled,
        }
    }

    /// Reads a `traceparent` header (version 00); `None` when it is not a valid one.
    pub fn parse(header: &str) -> Option<TraceContext> {
        let mut parts = header.trim().split('-');
        let (version, trace_id, span_id, flags) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if version != "00" || parts.next().is_some() {
            return None;
        }
        if !is_hex_id(trace_id, 32) || !is_hex_id(span_id, 16) || flags.len() != 2 {
            return None;
        }
        let flags = u8::from_str_radix(flags, 16).ok()?;
        Some(TraceContext {
            trace_id: trace_id.to_string(),
            span_id: span_id.to_string(),
            sampled: flags & 1 == 1,
        })
    }

    /// The `traceparent` header value.
    pub fn header(&self) -> String {
        format!(
            "00-{}-{}-{:02x}",
            self.trace_id,
            self.span_id,
            u8::from(self.sampled)
        )
    }

    /// The context of the next hop from the work in progress, or a new trace.
    pub fn continue_or_start(header: Option<&str>) -> TraceContext {
        header
            .and_then(TraceContext::parse)
            .map(|c| c.child())
            .unwrap_or_else(TraceContext::new_root)
    }
}

tokio::task_local! {
    static CURRENT: TraceContext;
}

/// The trace of the work in progress, if any.
pub fn current() -> Option<TraceContext> {
    CURRENT.try_with(|c| c.clone()).ok()
}

/// The `traceparent` to send with the next hop from here: a child of the current context.
pub fn outgoing_header() -> Option<String> {
    current().map(|c| c.child().header())
}

/// Joins a `tracing` span to a trace context, for an exporter that keeps trace ids of its own.
pub type SpanLinker = fn(&tracing::Span, &TraceContext);

static SPAN_LINKER: std::sync::OnceLock<SpanLinker> = std::sync::OnceLock::new();

/// Installs the process's [`SpanLinker`], once; `false` when one was installed already.
///
/// The binary that exports spans (over OpenTelemetry) installs one that makes the span a child
/// of the W3C context, so exported spans carry the trace id that the `traceparent` headers,
/// the outbox and the logs carry. The framework itself knows nothing of the exporter.
pub fn set_span_linker(linker: SpanLinker) -> bool {
    SPAN_LINKER.set(linker).is_ok()
}

/// Makes `span` part of `context`'s trace for the exporter, if one is installed: called where
/// a trace is entered (public and internal requests, event deliveries).
pub fn link_span(span: &tracing::Span, context: &TraceContext) {
    if let Some(linker) = SPAN_LINKER.get() {
        linker(span, context);
    }
}

/// Runs `work` as part of the trace `context`.
pub async fn in_trace<F: Future>(context: TraceContext, work: F) -> F::Output {
    CURRENT.scope(context, work).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip_and_invalid_ones_are_refused() {
        let root = TraceContext::new_root();
        assert_eq!(TraceContext::parse(&root.header()), Some(root.clone()));
        let child = root.child();
        assert_eq!(child.trace_id, root.trace_id);
        assert_ne!(child.span_id, root.span_id);
        let w3c = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let parsed = TraceContext::parse(w3c).unwrap();
        assert_eq!(parsed.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(parsed.header(), w3c);
        for bad in [
            "",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
        ] {
            assert_eq!(TraceContext::parse(bad), None, "{bad}");
        }
    }

    #[tokio::test]
    async fn the_current_context_is_scoped_to_the_work() {
        assert_eq!(current(), None);
        let root = TraceContext::new_root();
        let seen = in_trace(root.clone(), async { current() }).await;
        assert_eq!(seen, Some(root.clone()));
        let next = in_trace(root.clone(), async { outgoing_header() })
            .await
            .unwrap();
        assert_eq!(TraceContext::parse(&next).unwrap().trace_id, root.trace_id);
        assert_eq!(current(), None);
    }
}
