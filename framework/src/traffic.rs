//! What one public request causes on the bus: the requests it sends and the events it
//! publishes, counted while it runs, so the cost of moving a module out can be predicted from a
//! running monolith (how many hops each route would take).
//!
//! The HTTP middleware ([`crate::http::trace_request`]) runs each public request in a
//! [`scope`]; the bus and the publisher note their messages into the scope of the task they
//! run in. Outside a scope (the relay, subscribers, tools) noting costs one task-local lookup
//! and does nothing.

use std::cell::{Cell, RefCell};
use std::future::Future;

/// How a message left the request's module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// A request sent over the bus (answered synchronously).
    Request,
    /// An event published into the outbox (delivered after commit).
    Event,
}

impl Kind {
    /// The metric label value.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Request => "request",
            Kind::Event => "event",
        }
    }
}

/// The messages one scope caused: (kind, message name, how many).
pub type Caused = Vec<(Kind, &'static str, u32)>;

tokio::task_local! {
    static CAUSED: RefCell<Caused>;
}

thread_local! {
    /// Whether this thread is polling a scope now. Read first by [`note`], so that a call
    /// outside any scope (most in-process calls: subscribers, tools, benchmarks) costs one
    /// thread-local flag, not a task-local lookup (measured: ~6 ns of a ~80 ns call).
    static ACTIVE: Cell<bool> = const { Cell::new(false) };
}

/// Sets [`ACTIVE`] while a scope's future is polled; restores the previous value on drop (a
/// panicking poll included).
struct Active(bool);

impl Active {
    fn enter() -> Active {
        Active(ACTIVE.replace(true))
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        ACTIVE.set(self.0);
    }
}

/// Runs `future`, counting the messages it causes; returns its output and those counts.
pub async fn scope<F: Future>(future: F) -> (F::Output, Caused) {
    CAUSED
        .scope(RefCell::new(Vec::new()), async move {
            let mut future = std::pin::pin!(future);
            let output = std::future::poll_fn(|cx| {
                let _active = Active::enter();
                future.as_mut().poll(cx)
            })
            .await;
            let caused = CAUSED.with(|c| std::mem::take(&mut *c.borrow_mut()));
            (output, caused)
        })
        .await
}

/// Notes one message of `kind` named `name` in the current scope, if any.
#[inline]
pub(crate) fn note(kind: Kind, name: &'static str) {
    if ACTIVE.get() {
        note_in_scope(kind, name);
    }
}

#[cold]
#[inline(never)]
fn note_in_scope(kind: Kind, name: &'static str) {
    let _ = CAUSED.try_with(|caused| {
        let mut caused = caused.borrow_mut();
        match caused.iter_mut().find(|(k, n, _)| *k == kind && *n == name) {
            Some((_, _, count)) => *count += 1,
            None => caused.push((kind, name, 1)),
        }
    });
}

/// [`json_size`], kept out of line: for hot paths that measure a rare sample.
#[cold]
#[inline(never)]
pub(crate) fn json_size_cold<T: serde::Serialize + ?Sized>(value: &T) -> usize {
    json_size(value)
}

/// The size of `value` JSON-encoded, without building the text.
pub fn json_size<T: serde::Serialize + ?Sized>(value: &T) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_those_of_the_json_text() {
        let value = serde_json::json!({"skus": ["PEN", "INK"], "n": 12});
        assert_eq!(json_size(&value), value.to_string().len());
    }

    #[tokio::test]
    async fn a_spawned_task_is_outside_the_scope() {
        let ((), caused) = scope(async {
            tokio::spawn(async { note(Kind::Request, "elsewhere.any") })
                .await
                .unwrap();
            note(Kind::Event, "here.any");
        })
        .await;
        assert_eq!(caused, [(Kind::Event, "here.any", 1)]);
        assert!(!ACTIVE.get(), "the flag is down after the scope");
    }

    #[tokio::test]
    async fn a_scope_counts_what_its_future_causes() {
        note(Kind::Request, "outside.any");
        let ((), caused) = scope(async {
            note(Kind::Request, "billing.get_invoice");
            tokio::task::yield_now().await;
            note(Kind::Request, "billing.get_invoice");
            note(Kind::Event, "orders.order_placed");
        })
        .await;
        assert_eq!(
            caused,
            [
                (Kind::Request, "billing.get_invoice", 2),
                (Kind::Event, "orders.order_placed", 1)
            ]
        );
    }
}
