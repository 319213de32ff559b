//! Benchmarks of cleave, reported as ratios against baselines measured in the same run on the
//! same machine (this machine is shared and noisy: absolute numbers drift, ratios much less).
//!
//! Every figure interleaves the measured path with its baseline in rounds, so both see the
//! same machine conditions. Timings are benchmark results, never test assertions.

#![warn(missing_docs)]

pub mod calls;
pub mod hops;
pub mod order_flow;
pub mod outbox;
pub mod process;
pub mod scaling;
pub mod soak;
pub mod stats;
pub mod write_path;

/// How long a run is: `full` for numbers worth publishing, `smoke` to check the benchmarks
/// still work (CI), in seconds rather than minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// Publishable figures.
    Full,
    /// A few iterations of everything.
    Smoke,
}

impl Scale {
    /// `full` when `Full`, else `smoke`.
    pub fn pick<T>(self, full: T, smoke: T) -> T {
        match self {
            Scale::Full => full,
            Scale::Smoke => smoke,
        }
    }
}
