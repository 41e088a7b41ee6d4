//! Throughput estimation and rung choice, after hls.js: two exponentially weighted moving
//! averages of download bit rates (fast and slow half-lives, weighted by download time, with
//! zero-bias correction); the estimate is the lower of the two.

/// Bit rate estimate from segment downloads.
#[derive(Debug, Clone)]
pub struct Estimator {
    fast: Ewma,
    slow: Ewma,
    default_bps: f64,
}

#[derive(Debug, Clone)]
struct Ewma {
    alpha: f64,
    estimate: f64,
    total_weight: f64,
}

impl Ewma {
    fn new(half_life_secs: f64) -> Self {
        Ewma {
            alpha: (0.5f64.ln() / half_life_secs).exp(),
            estimate: 0.0,
            total_weight: 0.0,
        }
    }

    fn sample(&mut self, weight: f64, value: f64) {
        let adj = self.alpha.powf(weight);
        self.estimate = value * (1.0 - adj) + adj * self.estimate;
        self.total_weight += weight;
    }

    fn get(&self) -> f64 {
        let zero_factor = 1.0 - self.alpha.powf(self.total_weight);
        if zero_factor > 0.0 {
            self.estimate / zero_factor
        } else {
            self.estimate
        }
    }
}

impl Estimator {
    /// hls.js defaults: half-lives 3 s and 9 s, 500 kb/s before any sample.
    pub fn new() -> Self {
        Estimator {
            fast: Ewma::new(3.0),
            slow: Ewma::new(9.0),
            default_bps: 500_000.0,
        }
    }

    /// Adds a download of `bytes` that took `seconds`.
    pub fn sample(&mut self, bytes: u64, seconds: f64) {
        let seconds = seconds.max(0.001);
        let bps = bytes as f64 * 8.0 / seconds;
        self.fast.sample(seconds, bps);
        self.slow.sample(seconds, bps);
    }

    /// Current estimate, bits per second.
    pub fn estimate(&self) -> f64 {
        if self.fast.total_weight < 0.001 {
            return self.default_bps;
        }
        self.fast.get().min(self.slow.get())
    }
}

impl Default for Estimator {
    fn default() -> Self {
        Self::new()
    }
}

/// Share of the estimate a rung's BANDWIDTH may use (hls.js' abrBandWidthFactor).
pub const BANDWIDTH_FACTOR: f64 = 0.95;

/// Index of the highest rung (in `bandwidths`, ascending) that fits the estimate, else 0.
pub fn choose(bandwidths: &[u64], estimate_bps: f64) -> usize {
    bandwidths
        .iter()
        .rposition(|&b| (b as f64) <= estimate_bps * BANDWIDTH_FACTOR)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimate_follows_samples_and_prefers_the_pessimistic_average() {
        let mut e = Estimator::new();
        assert_eq!(e.estimate(), 500_000.0);
        for _ in 0..20 {
            e.sample(250_000, 1.0); // 2 Mb/s
        }
        assert!((e.estimate() - 2_000_000.0).abs() < 1.0);
        e.sample(25_000, 1.0); // a slow download drags the fast average down first
        assert!(e.estimate() < 2_000_000.0);
    }

    #[test]
    fn picks_the_highest_rung_that_fits() {
        let ladder = [400_000, 1_200_000, 3_000_000];
        assert_eq!(choose(&ladder, 100_000.0), 0);
        assert_eq!(choose(&ladder, 1_300_000.0), 1);
        assert_eq!(choose(&ladder, 10_000_000.0), 2);
    }
}
