//! `hammer`: raw HTTP load on fixed URLs, open loop at a fixed rate (latency measured from
//! each request's scheduled time, correcting coordinated omission as wrk2 does) or closed loop
//! (each connection sends as soon as the previous response ends).

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use std::sync::Arc;

use crate::client::{parse_header, Connection, Target};
use crate::live::Live;
use crate::stats::Recorder;

/// What to run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HammerConfig {
    /// URLs, used round-robin.
    pub urls: Vec<String>,
    /// Concurrent connections.
    pub connections: usize,
    /// Total requests per second across connections (open loop); `None` for closed loop.
    pub rate: Option<f64>,
    /// How long to send.
    pub duration: Duration,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Headers sent with every request (`Name: value`). Never written into reports (they
    /// may hold credentials).
    #[serde(skip, default)]
    pub headers: Vec<String>,
    /// Per-connection headers: connection `i` sends entry `i mod len`, each `Name: value`
    /// headers separated by tabs (a signed-in viewer's cookie and CSRF token). Never written
    /// into reports.
    #[serde(skip, default)]
    pub connection_headers: Vec<String>,
    /// The method (default GET).
    #[serde(default = "get")]
    pub method: String,
    /// A body sent with every request (e.g. JSON with `--method POST`).
    #[serde(default)]
    pub body: Option<String>,
}

fn get() -> String {
    "GET".into()
}

/// Runs the load and returns every connection's figures merged.
pub async fn run(config: &HammerConfig) -> Result<Recorder, String> {
    run_with(config, Live::new()).await
}

/// [`run`], counting into `live` as it goes (for progress lines).
pub async fn run_with(config: &HammerConfig, live: Arc<Live>) -> Result<Recorder, String> {
    if config.urls.is_empty() {
        return Err("no URLs".into());
    }
    if config.connections == 0 {
        return Err("connections must be at least 1".into());
    }
    if config.rate.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
        return Err("rate must be a positive number".into());
    }
    let targets = config
        .urls
        .iter()
        .map(|u| Target::parse(u))
        .collect::<Result<Vec<_>, _>>()?;
    config
        .headers
        .iter()
        .map(String::as_str)
        .chain(config.connection_headers.iter().flat_map(|l| l.split('\t')))
        .map(parse_header)
        .collect::<Result<Vec<_>, _>>()?;
    hyper::Method::from_bytes(config.method.as_bytes())
        .map_err(|_| format!("{:?} is not an HTTP method", config.method))?;
    let started = Instant::now();
    let deadline = started + config.duration;
    let mut tasks = Vec::with_capacity(config.connections);
    for i in 0..config.connections {
        let targets = targets.clone();
        let config = config.clone();
        let live = live.clone();
        tasks.push(tokio::spawn(async move {
            connection_loop(i, &targets, &config, started, deadline, &live).await
        }));
    }
    let mut total = Recorder::default();
    for t in tasks {
        let r = t
            .await
            .map_err(|e| format!("a connection task failed: {e}"))?;
        total.merge(&r);
    }
    Ok(total)
}

async fn connection_loop(
    index: usize,
    targets: &[Target],
    config: &HammerConfig,
    started: Instant,
    deadline: Instant,
    live: &Live,
) -> Recorder {
    let mut rec = Recorder::default();
    // Checked in `run_with`.
    let own = match config.connection_headers.len() {
        0 => None,
        n => Some(config.connection_headers[index % n].as_str()),
    };
    let headers: Vec<_> = config
        .headers
        .iter()
        .map(String::as_str)
        .chain(own.into_iter().flat_map(|l| l.split('\t')))
        .filter_map(|h| parse_header(h).ok())
        .collect();
    let method = hyper::Method::from_bytes(config.method.as_bytes()).unwrap_or_default();
    let body = config.body.clone().map(bytes::Bytes::from);
    let mut conns: Vec<Connection> = targets
        .iter()
        .map(|t| {
            Connection::new(&t.authority, config.timeout)
                .with_headers(headers.clone())
                .with_body(method.clone(), body.clone())
        })
        .collect();
    // Open loop: this connection owns every `connections`-th slot of the global schedule.
    let interval = config
        .rate
        .map(|r| Duration::from_secs_f64(config.connections as f64 / r));
    let offset = config
        .rate
        .map(|r| Duration::from_secs_f64(index as f64 / r))
        .unwrap_or_default();
    let mut k: u64 = 0;
    loop {
        let scheduled = match interval {
            Some(iv) => started + offset + iv.mul_f64(k as f64),
            None => Instant::now(),
        };
        if scheduled >= deadline {
            break;
        }
        if let Some(wait) = scheduled.checked_duration_since(Instant::now()) {
            tokio::time::sleep(wait).await;
        }
        let which = (index + k as usize) % targets.len();
        let outcome = conns[which].get(&targets[which].path, false).await;
        let done = Instant::now();
        let latency = done.duration_since(scheduled);
        let second = done.duration_since(started).as_secs() as usize;
        rec.record(&outcome, latency, second);
        live.request(latency, outcome.bytes, outcome.error.is_some());
        k += 1;
    }
    rec
}
