//! Who watches what, and when: catalogs with Zipf popularity, arrival processes, and the
//! scenarios built from them (named built-ins or TOML files).

use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// Zipf(α) over ranks 1..=n: rank k is chosen with probability ∝ 1/k^α.
#[derive(Debug, Clone)]
pub struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    /// The distribution over `n` titles (at least one) with exponent `alpha` (≥ 0).
    pub fn new(n: usize, alpha: f64) -> Zipf {
        let n = n.max(1);
        let weights: Vec<f64> = (1..=n)
            .map(|k| 1.0 / (k as f64).powf(alpha.max(0.0)))
            .collect();
        let total: f64 = weights.iter().sum();
        let mut acc = 0.0;
        let cdf = weights
            .iter()
            .map(|w| {
                acc += w / total;
                acc
            })
            .collect();
        Zipf { cdf }
    }

    /// Probability of the title at `index` (0 = most popular).
    pub fn probability(&self, index: usize) -> f64 {
        let prev = if index == 0 { 0.0 } else { self.cdf[index - 1] };
        self.cdf.get(index).map_or(0.0, |c| c - prev)
    }

    /// Draws a title index.
    pub fn sample(&self, rng: &mut impl Rng) -> usize {
        let u: f64 = rng.gen();
        self.cdf.partition_point(|&c| c < u).min(self.cdf.len() - 1)
    }
}

/// When players arrive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Arrival {
    /// Everyone at t = 0 (a flash crowd).
    AllAtOnce,
    /// A Poisson process of `rate` arrivals per second.
    Poisson {
        /// Mean arrivals per second.
        rate: f64,
    },
    /// Evenly spread over `seconds`.
    Ramp {
        /// Length of the ramp.
        seconds: f64,
    },
}

impl Arrival {
    /// Parses `all`, `poisson:RATE` or `ramp:SECONDS`.
    pub fn parse(s: &str) -> Result<Arrival, String> {
        let bad = || format!("arrival {s:?}: use all, poisson:RATE or ramp:SECONDS");
        match s.split_once(':') {
            None if s == "all" => Ok(Arrival::AllAtOnce),
            Some(("poisson", r)) => match r.parse::<f64>() {
                Ok(rate) if rate > 0.0 && rate.is_finite() => Ok(Arrival::Poisson { rate }),
                _ => Err(bad()),
            },
            Some(("ramp", r)) => match r.parse::<f64>() {
                Ok(seconds) if seconds >= 0.0 && seconds.is_finite() => {
                    Ok(Arrival::Ramp { seconds })
                }
                _ => Err(bad()),
            },
            _ => Err(bad()),
        }
    }
}

/// How titles are handed to players.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Popularity {
    /// Zipf(α) over the catalog order (first line most popular).
    Zipf {
        /// The exponent (1.0 is the classic web-video fit).
        alpha: f64,
    },
    /// Player i gets title i mod n: every title equally, nothing shared by chance.
    RoundRobin,
}

/// One player's plan: when it starts and which title it plays.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Start {
    /// Offset from the run's start.
    pub at: Duration,
    /// Index into the catalog.
    pub title: usize,
}

/// Plans `players` arrivals over a catalog of `titles`, reproducibly from `seed`.
pub fn plan(
    players: usize,
    titles: usize,
    arrival: &Arrival,
    popularity: Popularity,
    seed: u64,
) -> Vec<Start> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let zipf = match popularity {
        Popularity::Zipf { alpha } => Some(Zipf::new(titles, alpha)),
        Popularity::RoundRobin => None,
    };
    let mut t = 0.0f64;
    (0..players)
        .map(|i| {
            let at = match arrival {
                Arrival::AllAtOnce => 0.0,
                Arrival::Poisson { rate } => {
                    let u: f64 = rng.gen_range(f64::EPSILON..1.0);
                    t += -u.ln() / rate;
                    t
                }
                Arrival::Ramp { seconds } => {
                    if players > 1 {
                        seconds * i as f64 / (players - 1) as f64
                    } else {
                        0.0
                    }
                }
            };
            let title = match &zipf {
                Some(z) => z.sample(&mut rng),
                None => i % titles.max(1),
            };
            Start {
                at: Duration::from_secs_f64(at),
                title,
            }
        })
        .collect()
}

/// A workload: arrivals, popularity and player settings, from a built-in name or TOML.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Name shown in reports.
    pub name: String,
    /// Arrival process.
    pub arrival: Arrival,
    /// How titles are chosen.
    pub popularity: Popularity,
    /// Use only the first title of the catalog (everyone on the same video).
    #[serde(default)]
    pub single_title: bool,
}

/// The built-in scenarios, by name.
pub const BUILT_IN: [&str; 4] = ["flash-crowd", "zipf-catalog", "cold-start", "steady-state"];

impl Scenario {
    /// A built-in scenario for `players` players over `duration`.
    ///
    /// - `flash-crowd`: everyone at once on the same new title;
    /// - `zipf-catalog`: Poisson arrivals over the run, titles by Zipf(1.0);
    /// - `cold-start`: everyone at once, each on a different title (caches see only misses);
    /// - `steady-state`: Poisson arrivals, Zipf(0.8), the long-run mix.
    pub fn built_in(name: &str, players: usize, duration: Duration) -> Option<Scenario> {
        let rate = (players as f64 / duration.as_secs_f64().max(1.0)).max(0.1);
        let s = |arrival, popularity, single_title| Scenario {
            name: name.to_string(),
            arrival,
            popularity,
            single_title,
        };
        Some(match name {
            "flash-crowd" => s(Arrival::AllAtOnce, Popularity::RoundRobin, true),
            "zipf-catalog" => s(
                Arrival::Poisson { rate: rate * 2.0 },
                Popularity::Zipf { alpha: 1.0 },
                false,
            ),
            "cold-start" => s(Arrival::AllAtOnce, Popularity::RoundRobin, false),
            "steady-state" => s(
                Arrival::Poisson { rate },
                Popularity::Zipf { alpha: 0.8 },
                false,
            ),
            _ => return None,
        })
    }

    /// Parses a scenario file.
    pub fn from_toml(text: &str) -> Result<Scenario, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }
}

/// Reads a catalog: one master playlist URL or video id per line (`#` comments, blanks
/// ignored). Ids become `{base}/v/{id}/master.m3u8`.
pub fn read_catalog(text: &str, base: Option<&str>) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.contains("://") {
            out.push(line.to_string());
        } else {
            let base = base.ok_or_else(|| {
                format!("catalog line {}: {line:?} is an id; pass --base URL", n + 1)
            })?;
            out.push(format!(
                "{}/v/{line}/master.m3u8",
                base.trim_end_matches('/')
            ));
        }
    }
    if out.is_empty() {
        return Err("the catalog is empty".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zipf_sampling_matches_its_distribution() {
        // Chi-square goodness of fit, 20 titles, 200 000 draws, fixed seed.
        let n = 20;
        let z = Zipf::new(n, 1.0);
        let mut rng = SmallRng::seed_from_u64(7);
        let draws = 200_000;
        let mut counts = vec![0u64; n];
        for _ in 0..draws {
            counts[z.sample(&mut rng)] += 1;
        }
        let chi2: f64 = (0..n)
            .map(|k| {
                let expected = z.probability(k) * draws as f64;
                (counts[k] as f64 - expected).powi(2) / expected
            })
            .sum();
        // Critical value for 19 degrees of freedom at p = 0.001.
        assert!(chi2 < 43.82, "chi-square {chi2}, counts {counts:?}");
        assert!(counts[0] > counts[1] && counts[1] > counts[4]);
        let total: f64 = (0..n).map(|k| z.probability(k)).sum();
        assert!((total - 1.0).abs() < 1e-9);
    }

    #[test]
    fn arrivals() {
        let all = plan(5, 3, &Arrival::AllAtOnce, Popularity::RoundRobin, 1);
        assert!(all.iter().all(|s| s.at.is_zero()));
        assert_eq!(
            all.iter().map(|s| s.title).collect::<Vec<_>>(),
            [0, 1, 2, 0, 1]
        );
        let ramp = plan(
            5,
            1,
            &Arrival::Ramp { seconds: 4.0 },
            Popularity::RoundRobin,
            1,
        );
        assert_eq!(ramp[4].at, Duration::from_secs(4));
        assert_eq!(ramp[2].at, Duration::from_secs(2));
        let poisson = plan(
            20_000,
            1,
            &Arrival::Poisson { rate: 100.0 },
            Popularity::RoundRobin,
            3,
        );
        let span = poisson.last().unwrap().at.as_secs_f64();
        assert!(
            (span - 200.0).abs() < 10.0,
            "20 000 arrivals at 100/s span {span} s"
        );
        assert!(poisson.windows(2).all(|w| w[0].at <= w[1].at));
    }

    #[test]
    fn scenarios_and_catalogs() {
        for name in BUILT_IN {
            assert!(
                Scenario::built_in(name, 100, Duration::from_secs(60)).is_some(),
                "{name}"
            );
        }
        assert!(Scenario::built_in("nope", 1, Duration::from_secs(1)).is_none());
        let s = Scenario::from_toml(
            "name = \"mine\"\narrival = { kind = \"ramp\", seconds = 30.0 }\npopularity = { kind = \"zipf\", alpha = 1.2 }\n",
        )
        .unwrap();
        assert_eq!(s.arrival, Arrival::Ramp { seconds: 30.0 });
        assert!(Scenario::from_toml("name = 1").is_err());
        let c = read_catalog(
            "# titles\nabc\n\nhttp://h:1/v/x/master.m3u8\n",
            Some("http://e:8080/"),
        )
        .unwrap();
        assert_eq!(
            c,
            [
                "http://e:8080/v/abc/master.m3u8",
                "http://h:1/v/x/master.m3u8"
            ]
        );
        assert!(read_catalog("abc", None).is_err());
        assert!(read_catalog("# nothing\n", None).is_err());
        assert_eq!(
            Arrival::parse("poisson:5"),
            Ok(Arrival::Poisson { rate: 5.0 })
        );
        assert!(Arrival::parse("poisson:-1").is_err());
        assert!(Arrival::parse("sometimes").is_err());
    }
}
