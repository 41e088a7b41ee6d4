//! Recording what requests did: latency histograms, counts by status and error kind, bytes,
//! and a per-second series. One `Recorder` per task, merged at the end (no locks on the path).

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::client::{ErrorKind, Outcome};

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    /// Number of samples.
    pub count: u64,
    /// Mean.
    pub mean: f64,
    /// 50th percentile.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest.
    pub max: u64,
}

impl Percentiles {
    /// Summarises a histogram of microseconds.
    pub fn of(h: &Histogram<u64>) -> Percentiles {
        if h.is_empty() {
            return Percentiles::default();
        }
        Percentiles {
            count: h.len(),
            mean: h.mean(),
            p50: h.value_at_quantile(0.5),
            p90: h.value_at_quantile(0.9),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
        }
    }
}

/// Longest latency recorded (anything slower is clamped): one hour, in microseconds.
const MAX_LATENCY_US: u64 = 3_600_000_000;

fn histogram() -> Histogram<u64> {
    // Constant, valid bounds (low ≥ 1, high ≥ 2 × low, 3 significant figures): cannot fail.
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("valid histogram bounds")
}

/// Counters and histograms of one task, or of a whole run once merged.
#[derive(Debug, Clone)]
pub struct Recorder {
    /// Latency to the end of the body (corrected for coordinated omission in open loop).
    pub latency: Histogram<u64>,
    /// Time to first byte.
    pub ttfb: Histogram<u64>,
    /// Requests sent.
    pub requests: u64,
    /// Body bytes received.
    pub bytes: u64,
    /// Responses by status code.
    pub statuses: BTreeMap<u16, u64>,
    /// Failures by kind.
    pub errors: BTreeMap<ErrorKind, u64>,
    /// Completed requests per second of the run.
    pub per_second: Vec<u64>,
    /// Body bytes per second of the run.
    pub bytes_per_second: Vec<u64>,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder {
            latency: histogram(),
            ttfb: histogram(),
            requests: 0,
            bytes: 0,
            statuses: BTreeMap::new(),
            errors: BTreeMap::new(),
            per_second: Vec::new(),
            bytes_per_second: Vec::new(),
        }
    }
}

fn micros(d: Duration) -> u64 {
    (d.as_micros() as u64).clamp(1, MAX_LATENCY_US)
}

fn bump(series: &mut Vec<u64>, second: usize, by: u64) {
    if series.len() <= second {
        series.resize(second + 1, 0);
    }
    series[second] += by;
}

impl Recorder {
    /// Records one request that completed `second` seconds into the run, with `latency` as
    /// the user saw it (from its scheduled start in open loop).
    pub fn record(&mut self, outcome: &Outcome, latency: Duration, second: usize) {
        self.requests += 1;
        self.bytes += outcome.bytes;
        if outcome.status != 0 {
            *self.statuses.entry(outcome.status).or_default() += 1;
        }
        if let Some(kind) = outcome.error {
            *self.errors.entry(kind).or_default() += 1;
        }
        let _ = self.latency.record(micros(latency));
        if outcome.status != 0 {
            let _ = self.ttfb.record(micros(outcome.ttfb));
        }
        bump(&mut self.per_second, second, 1);
        bump(&mut self.bytes_per_second, second, outcome.bytes);
    }

    /// Adds another recorder's figures to this one.
    pub fn merge(&mut self, other: &Recorder) {
        let _ = self.latency.add(&other.latency);
        let _ = self.ttfb.add(&other.ttfb);
        self.requests += other.requests;
        self.bytes += other.bytes;
        for (k, v) in &other.statuses {
            *self.statuses.entry(*k).or_default() += v;
        }
        for (k, v) in &other.errors {
            *self.errors.entry(*k).or_default() += v;
        }
        for (i, v) in other.per_second.iter().enumerate() {
            bump(&mut self.per_second, i, *v);
        }
        for (i, v) in other.bytes_per_second.iter().enumerate() {
            bump(&mut self.bytes_per_second, i, *v);
        }
    }

    /// Failed requests of all kinds.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}
