//! The run report: a versioned JSON document with the inputs, the environment and every
//! figure, written to `--out DIR/report.json`, plus the terminal table.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::client::ErrorKind;
use crate::stats::{Percentiles, Recorder};

/// Identifies the report format; bumped whenever a figure changes meaning.
pub const SCHEMA: &str = "sunomi-bench/1";

/// Where the run happened.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Environment {
    /// Host name.
    pub hostname: String,
    /// Logical CPUs.
    pub cpus: usize,
    /// Operating system and architecture.
    pub os: String,
    /// sunomi-bench version.
    pub version: String,
}

impl Environment {
    /// Reads this machine's description.
    pub fn here() -> Environment {
        Environment {
            hostname: std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|_| "unknown".into()),
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            os: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }
}

/// Client-side figures of a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Figures {
    /// Requests completed (successfully or not).
    pub requests: u64,
    /// Requests that failed, all kinds.
    pub errors: u64,
    /// Failures by kind.
    pub errors_by_kind: BTreeMap<ErrorKind, u64>,
    /// Responses by status code.
    pub statuses: BTreeMap<String, u64>,
    /// Body bytes received.
    pub bytes: u64,
    /// Seconds the run lasted.
    pub seconds: f64,
    /// Completed requests per second.
    pub requests_per_second: f64,
    /// Body bytes per second.
    pub bytes_per_second: f64,
    /// Latency to the end of the body, microseconds.
    pub latency_us: Percentiles,
    /// Time to first byte, microseconds.
    pub ttfb_us: Percentiles,
}

impl Figures {
    /// Summarises a merged recorder over a run of `seconds`.
    pub fn from_recorder(r: &Recorder, seconds: f64) -> Figures {
        let secs = seconds.max(1e-9);
        Figures {
            requests: r.requests,
            errors: r.error_count(),
            errors_by_kind: r.errors.clone(),
            statuses: r
                .statuses
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
            bytes: r.bytes,
            seconds,
            requests_per_second: r.requests as f64 / secs,
            bytes_per_second: r.bytes as f64 / secs,
            latency_us: Percentiles::of(&r.latency),
            ttfb_us: Percentiles::of(&r.ttfb),
        }
    }
}

/// A whole report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// [`SCHEMA`].
    pub schema: String,
    /// `hammer` or `players`.
    pub mode: String,
    /// Unix time the run started.
    pub started_unix: u64,
    /// The run's inputs as given.
    pub inputs: serde_json::Value,
    /// Where it ran.
    pub environment: Environment,
    /// Every figure.
    pub figures: Figures,
    /// Completed requests in each second of the run.
    pub requests_per_second_series: Vec<u64>,
    /// Body bytes in each second of the run.
    pub bytes_per_second_series: Vec<u64>,
    /// Client figures per object type (players mode: master, playlist, init, segment).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub by_type: BTreeMap<String, Figures>,
    /// What the simulated viewers saw (players mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub players: Option<PlayerFigures>,
    /// Server-side figures scraped from `--metrics` before and after the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<crate::scrape::ServerFigures>,
}

/// Viewer-side figures of a players run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PlayerFigures {
    /// Players run.
    pub players: u64,
    /// Players whose session failed (no playlist, unreachable...).
    pub failed: u64,
    /// Players that started playback.
    pub started: u64,
    /// Startup time, milliseconds.
    pub startup_ms: Percentiles,
    /// Stalls summed over players.
    pub stalls: u64,
    /// Stall time summed over players, seconds.
    pub stall_secs: f64,
    /// Rebuffer ratio (stall / (stall + play)) across players, in parts per million.
    pub rebuffer_ppm: Percentiles,
    /// Rung switches summed over players.
    pub switches: u64,
    /// Segments fetched per rung (index by ascending bandwidth).
    pub segments_by_rung: BTreeMap<String, u64>,
    /// Distinct failure reasons and how many players hit each.
    pub failures: BTreeMap<String, u64>,
    /// Players per title (catalog index).
    pub players_by_title: BTreeMap<String, u64>,
    /// Distinct objects requested by all players together, by object type.
    #[serde(default)]
    pub unique_objects: BTreeMap<String, u64>,
    /// Requests that failed on a player's edge and were answered at once by another.
    #[serde(default)]
    pub failovers: u64,
    /// Requests that failed on every edge tried (the player waited and retried).
    #[serde(default)]
    pub visible_failures: u64,
}

impl PlayerFigures {
    /// Summarises player sessions.
    pub fn from_sessions(sessions: &[crate::players::Session]) -> PlayerFigures {
        let mut startup = hdrhistogram::Histogram::<u64>::new(3).expect("valid histogram");
        let mut rebuffer = hdrhistogram::Histogram::<u64>::new(3).expect("valid histogram");
        let mut f = PlayerFigures {
            players: sessions.len() as u64,
            ..Default::default()
        };
        for s in sessions {
            if let Some(reason) = &s.failure {
                f.failed += 1;
                *f.failures.entry(reason.clone()).or_default() += 1;
            }
            if let Some(secs) = s.startup_secs {
                f.started += 1;
                let _ = startup.record((secs * 1000.0).round().max(0.0) as u64);
            }
            *f.players_by_title.entry(s.title.to_string()).or_default() += 1;
            f.stalls += s.stalls;
            f.stall_secs += s.stall_secs;
            f.failovers += s.failovers;
            f.visible_failures += s.visible_failures;
            f.switches += s.switches;
            let _ = rebuffer.record((s.rebuffer_ratio() * 1e6).round() as u64);
            for (rung, n) in &s.segments_by_rung {
                *f.segments_by_rung.entry(rung.to_string()).or_default() += n;
            }
        }
        f.startup_ms = Percentiles::of(&startup);
        f.rebuffer_ppm = Percentiles::of(&rebuffer);
        f
    }
}

impl Report {
    /// Segment reads from storage (the edge's `storage` tier) per distinct segment the
    /// players asked for: 1.0 means each segment was read once for the whole fleet.
    pub fn storage_reads_per_unique_segment(&self) -> Option<f64> {
        let unique = *self.players.as_ref()?.unique_objects.get("segment")?;
        let reads = self.server.as_ref()?.tiers.get("storage")?.hits;
        (unique > 0).then(|| reads / unique as f64)
    }

    /// Writes `report.json` into `dir` (created if needed).
    pub fn write(&self, dir: &Path) -> std::io::Result<std::path::PathBuf> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("report.json");
        let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(&path, json)?;
        Ok(path)
    }

    /// Reads a report, refusing other schemas.
    pub fn read(path: &Path) -> Result<Report, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let report: Report =
            serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        if report.schema != SCHEMA {
            return Err(format!(
                "{}: schema {:?}, this build reads {SCHEMA:?}",
                path.display(),
                report.schema
            ));
        }
        Ok(report)
    }

    /// The terminal table.
    pub fn table(&self) -> String {
        let f = &self.figures;
        let mut out = String::new();
        let mut row = |k: &str, v: String| out.push_str(&format!("{k:<24} {v}\n"));
        row("requests", f.requests.to_string());
        row("requests/s", format!("{:.1}", f.requests_per_second));
        row(
            "throughput",
            format!("{:.2} MB/s", f.bytes_per_second / 1e6),
        );
        row("errors", format!("{} {:?}", f.errors, f.errors_by_kind));
        row("statuses", format!("{:?}", f.statuses));
        for (kind, t) in &self.by_type {
            row(
                &format!("{kind} requests"),
                format!(
                    "{}  p50 {} µs  p99 {} µs  errors {}",
                    t.requests, t.latency_us.p50, t.latency_us.p99, t.errors
                ),
            );
        }
        if let Some(p) = &self.players {
            row(
                "players",
                format!("{} ({} started, {} failed)", p.players, p.started, p.failed),
            );
            row(
                "startup",
                format!(
                    "p50 {} ms  p90 {} ms  p99 {} ms",
                    p.startup_ms.p50, p.startup_ms.p90, p.startup_ms.p99
                ),
            );
            row("stalls", format!("{} ({:.2} s)", p.stalls, p.stall_secs));
            row(
                "failed requests",
                format!(
                    "{} answered by another edge, {} failed everywhere tried",
                    p.failovers, p.visible_failures
                ),
            );
            row(
                "rebuffer ratio",
                format!(
                    "p50 {:.4}  p99 {:.4}  max {:.4}",
                    p.rebuffer_ppm.p50 as f64 / 1e6,
                    p.rebuffer_ppm.p99 as f64 / 1e6,
                    p.rebuffer_ppm.max as f64 / 1e6
                ),
            );
            row("rung switches", p.switches.to_string());
            row("unique objects", format!("{:?}", p.unique_objects));
            row("segments by rung", format!("{:?}", p.segments_by_rung));
            for (reason, n) in &p.failures {
                row("failure", format!("{n} × {reason}"));
            }
        }
        if let Some(sv) = &self.server {
            row(
                "server hit ratio",
                format!(
                    "{:.4} ({} hits, {} misses)",
                    sv.hit_ratio, sv.cache_hits, sv.cache_misses
                ),
            );
            row("server byte hit ratio", format!("{:.4}", sv.byte_hit_ratio));
            for (tier, t) in &sv.tiers {
                row(
                    &format!("tier {tier}"),
                    format!("{} hits, {} misses", t.hits, t.misses),
                );
            }
            if let Some(r) = self.storage_reads_per_unique_segment() {
                row("storage reads per unique segment", format!("{r:.3}"));
            }
            row(
                "storage reads",
                format!(
                    "{} ({:.2} MB)",
                    sv.storage_reads,
                    sv.storage_read_bytes / 1e6
                ),
            );
        }
        for (name, p) in [("latency", &f.latency_us), ("ttfb", &f.ttfb_us)] {
            row(
                name,
                format!(
                    "p50 {} µs  p90 {} µs  p99 {} µs  p99.9 {} µs  max {} µs",
                    p.p50, p.p90, p.p99, p.p999, p.max
                ),
            );
        }
        out
    }
}

/// Every numeric leaf of a JSON value as `dotted.path → number` (series excluded).
pub fn flatten(value: &serde_json::Value) -> BTreeMap<String, f64> {
    fn walk(prefix: &str, v: &serde_json::Value, out: &mut BTreeMap<String, f64>) {
        match v {
            serde_json::Value::Number(n) => {
                if let Some(x) = n.as_f64() {
                    out.insert(prefix.to_string(), x);
                }
            }
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&key, v, out);
                }
            }
            _ => {}
        }
    }
    let mut out = BTreeMap::new();
    walk("", value, &mut out);
    out
}

/// The figures of a report (client, per type and viewer-side) flattened for comparison.
fn all_figures(r: &Report) -> BTreeMap<String, f64> {
    let value = serde_json::json!({
        "figures": r.figures,
        "by_type": r.by_type,
        "players": r.players,
        "server": r.server.as_ref().map(|s| serde_json::json!({
            "cache_hits": s.cache_hits, "cache_misses": s.cache_misses, "hit_ratio": s.hit_ratio,
            "response_bytes": s.response_bytes, "storage_reads": s.storage_reads,
            "storage_read_bytes": s.storage_read_bytes, "byte_hit_ratio": s.byte_hit_ratio,
            "tiers": s.tiers,
        })),
        "storage_reads_per_unique_segment": r.storage_reads_per_unique_segment(),
    });
    flatten(&value)
}

/// The `compare` table: every figure of two reports side by side with B/A ratios.
pub fn compare(a: &Report, b: &Report) -> String {
    let fa = all_figures(a);
    let fb = all_figures(b);
    let mut keys: Vec<&String> = fa.keys().chain(fb.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut out = format!("{:<32} {:>16} {:>16} {:>10}\n", "figure", "A", "B", "B/A");
    for k in keys {
        let (x, y) = (fa.get(k), fb.get(k));
        let ratio = match (x, y) {
            (Some(x), Some(y)) if *x != 0.0 => format!("{:.3}", y / x),
            _ => "-".into(),
        };
        let show = |v: Option<&f64>| v.map_or("-".to_string(), |v| format!("{v:.2}"));
        out.push_str(&format!(
            "{k:<32} {:>16} {:>16} {ratio:>10}\n",
            show(x),
            show(y)
        ));
    }
    out
}
