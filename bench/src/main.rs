//! `sunomi-bench`: drive HLS servers and report what load testers need.

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use sunomi_bench::charts::{self, RunCharts};
use sunomi_bench::hammer::{self, HammerConfig};
use sunomi_bench::live::Live;
use sunomi_bench::players::{self, PlayerConfig};
use sunomi_bench::report::{compare, Environment, Figures, PlayerFigures, Report, SCHEMA};
use sunomi_bench::scrape::{self, ServerFigures};
use sunomi_bench::stats::Recorder;
use sunomi_bench::workload::{read_catalog, Arrival, Popularity, Scenario, BUILT_IN};

/// Sunomi bench: simulated HLS players and raw HTTP load against any HLS server, with
/// comparable JSON reports. (Catalogs, arrival processes, scenarios and charts are being built.)
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Raw HTTP load on fixed URLs: open loop at --rate (coordinated-omission corrected) or
    /// closed loop without it.
    Hammer {
        /// URLs to request, round-robin (http:// only).
        #[arg(long = "url", required = true, num_args = 1..)]
        urls: Vec<String>,
        /// Concurrent keep-alive connections.
        #[arg(long, default_value_t = 16)]
        connections: usize,
        /// Total requests per second (open loop); omit for closed loop.
        #[arg(long)]
        rate: Option<f64>,
        /// How long to send, e.g. 10s, 2m, 500ms.
        #[arg(long, default_value = "10s", value_parser = parse_duration)]
        duration: Duration,
        /// Per-request timeout.
        #[arg(long, default_value = "10s", value_parser = parse_duration)]
        timeout: Duration,
        #[command(flatten)]
        output: OutputArgs,
        /// Worker threads (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
        /// A header sent with every request, `Name: value` (repeatable), e.g. an API key.
        #[arg(long = "header")]
        headers: Vec<String>,
        /// A file of per-connection headers: connection i sends line i (mod lines), its
        /// `Name: value` headers separated by tabs (e.g. each viewer's session cookie and
        /// CSRF token).
        #[arg(long)]
        headers_file: Option<PathBuf>,
        /// The request method.
        #[arg(long, default_value = "GET")]
        method: String,
        /// A body sent with every request (with --method POST, say).
        #[arg(long)]
        body: Option<String>,
    },
    /// Simulated players: each fetches the multivariant playlist, adapts by throughput (EWMA,
    /// like hls.js) and fetches segments against a buffer model, in real time or faster.
    Players {
        /// Multivariant playlist URLs (the catalog when no --catalog is given).
        #[arg(long = "target", num_args = 1..)]
        targets: Vec<String>,
        /// Catalog file: one master URL or video id per line, most popular first.
        #[arg(long)]
        catalog: Option<PathBuf>,
        /// Base URL for ids in the catalog (e.g. http://edge:8080).
        #[arg(long)]
        base: Option<String>,
        /// Edges (host:port) to spread players over, round robin, whatever host the title
        /// URLs name (a fleet behind no load balancer).
        #[arg(long = "edge", num_args = 1..)]
        edges: Vec<String>,
        /// flash-crowd, zipf-catalog, cold-start, steady-state, or a TOML scenario file.
        #[arg(long)]
        scenario: Option<String>,
        /// Override the arrival process: all, poisson:RATE, ramp:SECONDS.
        #[arg(long, value_parser = Arrival::parse)]
        arrival: Option<Arrival>,
        /// Override popularity with Zipf(ALPHA) over the catalog order.
        #[arg(long)]
        zipf: Option<f64>,
        /// Seed for arrivals and title draws.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Number of players.
        #[arg(long, default_value_t = 10)]
        players: usize,
        /// Longest run; players also stop at the end of the content.
        #[arg(long, default_value = "60s", value_parser = parse_duration)]
        duration: Duration,
        /// Playback speed (media seconds per wall second).
        #[arg(long, default_value_t = 1.0)]
        speed: f64,
        /// Per-player link capacity in bits per second.
        #[arg(long)]
        bandwidth: Option<f64>,
        /// Buffer needed to start (and resume after a stall), seconds.
        #[arg(long, default_value_t = 2.0)]
        start_buffer: f64,
        /// Buffer the player fills up to, seconds.
        #[arg(long, default_value_t = 30.0)]
        max_buffer: f64,
        /// Per-request timeout.
        #[arg(long, default_value = "20s", value_parser = parse_duration)]
        timeout: Duration,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// A TCP proxy injecting faults for drills (e.g. in front of the S3 server): control it
    /// with `curl -X POST CONTROL/delay/300`, `/down`, `/up`.
    Proxy {
        /// Address clients connect to.
        #[arg(long)]
        listen: std::net::SocketAddr,
        /// Address of the real server.
        #[arg(long)]
        upstream: std::net::SocketAddr,
        /// Address of the control endpoint.
        #[arg(long)]
        control: std::net::SocketAddr,
    },
    /// Every figure of two reports side by side, with B/A ratios.
    Compare {
        /// Report A.
        a: PathBuf,
        /// Report B.
        b: PathBuf,
    },
}

/// Where a run's report goes and what it includes (shared by every mode).
#[derive(clap::Args)]
struct OutputArgs {
    /// Folder for report.json and the charts.
    #[arg(long, default_value = "bench-out")]
    out: PathBuf,
    /// Prometheus endpoints to scrape before and after (e.g. each edge's admin /metrics);
    /// several are added up, so a fleet reads as one server.
    #[arg(long, num_args = 1..)]
    metrics: Vec<String>,
    /// Also write index.html with the table and every chart.
    #[arg(long)]
    html: bool,
}

/// Parses `10s`, `2m`, `500ms`, `1h` or a bare number of seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((s, "s"), |i| (&s[..i], &s[i..]));
    let n: f64 = num.parse().map_err(|_| format!("invalid duration {s:?}"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("invalid duration unit in {s:?} (ms, s, m, h)")),
    };
    if !(secs > 0.0 && secs.is_finite()) {
        return Err(format!("duration {s:?} must be positive"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Writes report.json, the charts and (optionally) index.html into `out`, and prints the table.
fn publish(report: &Report, run: &RunCharts<'_>, out: &std::path::Path, html: bool) -> Result<()> {
    let table = report.table();
    print!("{table}");
    let path = report
        .write(out)
        .with_context(|| format!("writing {}", out.display()))?;
    let files = charts::write_all(out, run).map_err(|e| anyhow::anyhow!("drawing charts: {e}"))?;
    if html {
        charts::html(
            out,
            &format!("sunomi-bench {}", report.mode),
            &table,
            &files,
        )
        .with_context(|| format!("writing {}/index.html", out.display()))?;
    }
    println!(
        "report: {} (+{} charts{})",
        path.display(),
        files.len(),
        if html { ", index.html" } else { "" }
    );
    Ok(())
}

/// Runs `work` with a live progress line on the terminal.
async fn with_progress<T, F>(work: impl FnOnce(std::sync::Arc<Live>) -> F) -> Result<T>
where
    F: std::future::Future<Output = Result<T>>,
{
    let live = Live::new();
    let ticker = live.report_every_second(false);
    let result = work(live).await;
    if let Some(t) = ticker {
        t.abort();
    }
    result
}

/// Runs `work` between two scrapes of `metrics` (when any are given).
async fn with_scrapes<T>(
    metrics: &[String],
    work: impl std::future::Future<Output = Result<T, String>>,
) -> Result<(T, Option<ServerFigures>)> {
    if metrics.is_empty() {
        return Ok((work.await.map_err(anyhow::Error::msg)?, None));
    }
    let before = scrape::scrape_all(metrics)
        .await
        .map_err(anyhow::Error::msg)?;
    let result = work.await.map_err(anyhow::Error::msg)?;
    let after = scrape::scrape_all(metrics)
        .await
        .map_err(anyhow::Error::msg)?;
    Ok((result, Some(ServerFigures::between(&before, &after))))
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Hammer {
            urls,
            connections,
            rate,
            duration,
            timeout,
            output,
            threads,
            headers,
            headers_file,
            method,
            body,
        } => {
            let connection_headers = match headers_file {
                Some(f) => std::fs::read_to_string(&f)
                    .with_context(|| format!("reading {}", f.display()))?
                    .lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(str::to_owned)
                    .collect(),
                None => Vec::new(),
            };
            let config = HammerConfig {
                urls,
                connections,
                rate,
                duration,
                timeout,
                headers,
                connection_headers,
                method,
                body,
            };
            let mut rt = tokio::runtime::Builder::new_multi_thread();
            if let Some(t) = threads {
                rt.worker_threads(t.max(1));
            }
            let rt = rt.enable_all().build().context("starting the runtime")?;
            let started_unix = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let started = Instant::now();
            let (recorder, server) = rt.block_on(with_progress(|live| {
                with_scrapes(&output.metrics, hammer::run_with(&config, live))
            }))?;
            let seconds = started.elapsed().as_secs_f64();
            let report = Report {
                schema: SCHEMA.into(),
                mode: "hammer".into(),
                started_unix,
                inputs: serde_json::to_value(&config)?,
                environment: Environment::here(),
                figures: Figures::from_recorder(&recorder, seconds),
                requests_per_second_series: recorder.per_second.clone(),
                bytes_per_second_series: recorder.bytes_per_second.clone(),
                by_type: Default::default(),
                players: None,
                server,
            };
            let run = RunCharts {
                latency: vec![("all".to_string(), &recorder.latency)],
                requests_per_second: &recorder.per_second,
                bytes_per_second: &recorder.bytes_per_second,
                startup_secs: Vec::new(),
                rebuffer_ratios: Vec::new(),
            };
            publish(&report, &run, &output.out, output.html)
        }
        Command::Players {
            targets,
            catalog,
            base,
            edges,
            scenario,
            arrival,
            zipf,
            seed,
            players,
            duration,
            speed,
            bandwidth,
            start_buffer,
            max_buffer,
            timeout,
            output,
        } => {
            let targets = match &catalog {
                Some(path) => {
                    let text = std::fs::read_to_string(path)
                        .with_context(|| format!("reading {}", path.display()))?;
                    read_catalog(&text, base.as_deref()).map_err(anyhow::Error::msg)?
                }
                None if targets.is_empty() => anyhow::bail!("give --target URL… or --catalog FILE"),
                None => targets,
            };
            let mut scenario = match scenario.as_deref() {
                None => Scenario {
                    name: "custom".into(),
                    arrival: Arrival::AllAtOnce,
                    popularity: Popularity::RoundRobin,
                    single_title: false,
                },
                Some(name) => match Scenario::built_in(name, players, duration) {
                    Some(s) => s,
                    None if name.ends_with(".toml") => {
                        let text = std::fs::read_to_string(name)
                            .with_context(|| format!("reading {name}"))?;
                        Scenario::from_toml(&text).map_err(|e| anyhow::anyhow!("{name}: {e}"))?
                    }
                    None => anyhow::bail!(
                        "unknown scenario {name:?}: one of {} or a .toml file",
                        BUILT_IN.join(", ")
                    ),
                },
            };
            if let Some(a) = arrival {
                scenario.arrival = a;
            }
            if let Some(alpha) = zipf {
                scenario.popularity = Popularity::Zipf { alpha };
            }
            let config = PlayerConfig {
                targets,
                scenario,
                seed,
                players,
                duration,
                speed,
                bandwidth_bps: bandwidth,
                start_buffer_secs: start_buffer,
                max_buffer_secs: max_buffer,
                timeout,
                edges,
            };
            let rt = tokio::runtime::Runtime::new().context("starting the runtime")?;
            let started_unix = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let started = Instant::now();
            let (result, server) = rt.block_on(with_progress(|live| {
                with_scrapes(&output.metrics, players::run_with(&config, live))
            }))?;
            let seconds = started.elapsed().as_secs_f64();
            let mut all = Recorder::default();
            for r in result.by_type.values() {
                all.merge(r);
            }
            let report = Report {
                schema: SCHEMA.into(),
                mode: "players".into(),
                started_unix,
                inputs: serde_json::to_value(&config)?,
                environment: Environment::here(),
                figures: Figures::from_recorder(&all, seconds),
                requests_per_second_series: all.per_second.clone(),
                bytes_per_second_series: all.bytes_per_second.clone(),
                by_type: result
                    .by_type
                    .iter()
                    .map(|(k, r)| (k.clone(), Figures::from_recorder(r, seconds)))
                    .collect(),
                players: Some(PlayerFigures {
                    unique_objects: result.unique_objects.clone(),
                    ..PlayerFigures::from_sessions(&result.sessions)
                }),
                server,
            };
            let run = RunCharts {
                latency: result
                    .by_type
                    .iter()
                    .map(|(k, r)| (k.clone(), &r.latency))
                    .collect(),
                requests_per_second: &all.per_second,
                bytes_per_second: &all.bytes_per_second,
                startup_secs: result
                    .sessions
                    .iter()
                    .filter_map(|s| s.startup_secs)
                    .collect(),
                rebuffer_ratios: result.sessions.iter().map(|s| s.rebuffer_ratio()).collect(),
            };
            publish(&report, &run, &output.out, output.html)?;
            write_segment_log(&output.out, &result.segment_requests)
        }
        Command::Proxy {
            listen,
            upstream,
            control,
        } => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()?;
            rt.block_on(sunomi_bench::proxy::run(listen, upstream, control))
                .with_context(|| format!("proxying {listen} to {upstream}"))?;
            Ok(())
        }
        Command::Compare { a, b } => {
            let a = Report::read(&a).map_err(anyhow::Error::msg)?;
            let b = Report::read(&b).map_err(anyhow::Error::msg)?;
            print!("{}", compare(&a, &b));
            Ok(())
        }
    }
}

/// `segments.tsv` next to the report: every segment request (seconds since the run
/// started, path, outcome: ok, failover or failed, milliseconds the player waited), for
/// figures per period of a run.
fn write_segment_log(dir: &std::path::Path, requests: &[players::SegmentRequest]) -> Result<()> {
    use std::io::Write;
    let path = dir.join("segments.tsv");
    let file =
        std::fs::File::create(&path).with_context(|| format!("writing {}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    writeln!(out, "seconds\tpath\toutcome\twaited_ms")?;
    for r in requests {
        let waited = r.waited.as_secs_f64() * 1e3;
        writeln!(
            out,
            "{:.3}\t{}\t{}\t{waited:.0}",
            r.at,
            r.path,
            r.outcome.as_str()
        )?;
    }
    out.flush()?;
    Ok(())
}

fn main() {
    if let Err(e) = run(Cli::parse()) {
        eprintln!(
            "sunomi-bench: error: {}",
            format!("{e:#}").replace('\n', " ")
        );
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("1y").is_err());
        assert!(parse_duration("").is_err());
    }
}
