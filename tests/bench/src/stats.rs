//! Latency distributions and the ratios between them.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// A latency distribution in nanoseconds.
pub struct Latencies(Histogram<u64>);

impl Default for Latencies {
    fn default() -> Self {
        // 1 ns to 60 s at 3 significant digits.
        Latencies(Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("histogram bounds"))
    }
}

impl Latencies {
    /// Records one sample.
    pub fn record(&mut self, elapsed: Duration) {
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX).max(1);
        self.0.saturating_record(nanos);
    }

    /// Adds every sample of `other`.
    pub fn merge(&mut self, other: &Latencies) {
        let _ = self.0.add(&other.0);
    }

    /// Summary in microseconds.
    pub fn summary(&self) -> Summary {
        let us = |q: f64| self.0.value_at_quantile(q) as f64 / 1_000.0;
        Summary {
            samples: self.0.len(),
            p50_us: us(0.50),
            p99_us: us(0.99),
            mean_us: self.0.mean() / 1_000.0,
        }
    }
}

/// Median, 99th percentile and mean of a distribution, in microseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Summary {
    /// How many samples.
    pub samples: u64,
    /// Median.
    pub p50_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// Mean.
    pub mean_us: f64,
}

/// `a / b`, rounded to 3 decimals.
pub fn ratio(a: f64, b: f64) -> f64 {
    if b == 0.0 {
        return f64::NAN;
    }
    (a / b * 1000.0).round() / 1000.0
}
