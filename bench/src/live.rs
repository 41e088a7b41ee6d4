//! Live progress: lock-free counters every task bumps, and a once-a-second line on the
//! terminal (requests/s, errors, approximate p50/p99, active players).

use std::io::IsTerminal;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Latency buckets: bucket i holds latencies in [2^(i/2), 2^((i+1)/2)) microseconds.
const BUCKETS: usize = 80;

/// Counters shared by every task of a run.
pub struct Live {
    requests: AtomicU64,
    errors: AtomicU64,
    bytes: AtomicU64,
    active: AtomicI64,
    latency: [AtomicU64; BUCKETS],
}

fn bucket(micros: u64) -> usize {
    let v = micros.max(1) as f64;
    ((v.log2() * 2.0) as usize).min(BUCKETS - 1)
}

fn bucket_upper(i: usize) -> u64 {
    2f64.powf((i + 1) as f64 / 2.0) as u64
}

impl Live {
    /// Fresh counters.
    pub fn new() -> Arc<Live> {
        Arc::new(Live {
            requests: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            active: AtomicI64::new(0),
            latency: std::array::from_fn(|_| AtomicU64::new(0)),
        })
    }

    /// Counts one completed request.
    pub fn request(&self, latency: Duration, bytes: u64, failed: bool) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        if failed {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        self.latency[bucket(latency.as_micros() as u64)].fetch_add(1, Ordering::Relaxed);
    }

    /// A player started (+1) or ended (-1).
    pub fn players(&self, delta: i64) {
        self.active.fetch_add(delta, Ordering::Relaxed);
    }

    /// Approximate latency quantile (upper bound of its bucket), microseconds.
    pub fn quantile(&self, q: f64) -> u64 {
        let counts: Vec<u64> = self
            .latency
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return 0;
        }
        let want = (q * total as f64).ceil() as u64;
        let mut seen = 0;
        for (i, c) in counts.iter().enumerate() {
            seen += c;
            if seen >= want {
                return bucket_upper(i);
            }
        }
        bucket_upper(BUCKETS - 1)
    }

    /// Prints a progress line every second to stderr while the returned guard lives, when
    /// stderr is a terminal (or `force`).
    pub fn report_every_second(
        self: &Arc<Live>,
        force: bool,
    ) -> Option<tokio::task::JoinHandle<()>> {
        if !force && !std::io::stderr().is_terminal() {
            return None;
        }
        let live = self.clone();
        Some(tokio::spawn(async move {
            let started = Instant::now();
            let mut last = 0u64;
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.tick().await;
            loop {
                tick.tick().await;
                let now = live.requests.load(Ordering::Relaxed);
                eprintln!(
                    "[{:>5.0}s] {:>8} req/s  {:>7} errors  p50 ≤{} µs  p99 ≤{} µs  {:.1} MB  {} players",
                    started.elapsed().as_secs_f64(),
                    now - last,
                    live.errors.load(Ordering::Relaxed),
                    live.quantile(0.5),
                    live.quantile(0.99),
                    live.bytes.load(Ordering::Relaxed) as f64 / 1e6,
                    live.active.load(Ordering::Relaxed),
                );
                last = now;
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_bound_the_recorded_latencies() {
        let live = Live::new();
        for us in 1..=1000u64 {
            live.request(Duration::from_micros(us), 10, us % 100 == 0);
        }
        let p50 = live.quantile(0.5);
        assert!((500..=800).contains(&p50), "{p50}");
        assert!(live.quantile(0.99) >= 990);
        assert_eq!(live.errors.load(Ordering::Relaxed), 10);
        assert_eq!(live.quantile(0.0), bucket_upper(0));
    }
}
