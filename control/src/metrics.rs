//! Prometheus metrics of the control plane (names start with `sunomi_`), in one registry
//! served on the admin listener.

use std::sync::OnceLock;

use prometheus::{
    Counter, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry,
};

use crate::jobs::JobKind;

/// Every metric.
pub struct Metrics {
    /// The registry `/metrics` encodes.
    pub registry: Registry,
    /// `sunomi_api_requests_total{route,status}`.
    pub api_requests: IntCounterVec,
    /// `sunomi_api_undocumented_errors_total{route,method,code}`: error answers whose code
    /// the route's OpenAPI operation does not list (a defect to fix in the document or the
    /// handler).
    pub api_undocumented_errors: IntCounterVec,
    /// `sunomi_jobs_enqueued_total{kind}`.
    pub jobs_enqueued: IntCounterVec,
    /// `sunomi_jobs_completed_total{kind}`.
    pub jobs_completed: IntCounterVec,
    /// `sunomi_jobs_failed_total{kind}`: attempts that failed.
    pub jobs_failed: IntCounterVec,
    /// `sunomi_jobs_retried_total{kind}`.
    pub jobs_retried: IntCounterVec,
    /// `sunomi_jobs_dead_total{kind}`.
    pub jobs_dead: IntCounterVec,
    /// `sunomi_job_duration_seconds{kind}`.
    pub job_duration: HistogramVec,
    /// `sunomi_job_start_latency_seconds{kind}`: enqueue to worker start.
    pub job_start_latency: HistogramVec,
    /// `sunomi_jobs_pending{kind,state}`: waiting and running jobs (what autoscalers use).
    pub jobs_pending: IntGaugeVec,
    /// `sunomi_upload_bytes_total`.
    pub upload_bytes: IntCounter,
    /// `sunomi_webhook_attempts_total{result}`.
    pub webhook_attempts: IntCounterVec,
    /// Time an analysis stage ran, by stage (`captions`, `moderation`) and backend.
    pub analysis_duration: HistogramVec,
    /// Frames the offline moderator classified.
    pub analysis_frames: IntCounter,
    /// Seconds of audio the offline transcriber transcribed (with the captions histogram:
    /// the real-time factor).
    pub analysis_audio_seconds: Counter,
    /// `sunomi_api_connections`: open API connections.
    pub api_connections: IntGauge,
    /// `sunomi_api_connections_refused_total`: connections past `api.max_connections`.
    pub api_connections_refused: IntCounter,
    /// `sunomi_outbox_pending`: outbox rows not yet applied (the database's view, every
    /// process's relays together).
    pub outbox_pending: IntGauge,
    /// `sunomi_outbox_oldest_seconds`: age of the oldest row not yet applied (an edge fleet or
    /// queue that does not take effects shows here first).
    pub outbox_oldest: IntGauge,
    /// `sunomi_asset_reads_total{source}`: assets read to answer the API, from `memory`
    /// (the PostgreSQL-notified cache) or the `database`.
    pub asset_reads: IntCounterVec,
    /// `sunomi_asset_pages_total{source}`: pages of the asset listing answered from `memory`
    /// or the `database`.
    pub asset_pages: IntCounterVec,
    /// `sunomi_webhook_pending`: webhook messages not yet delivered (the database's view).
    pub webhook_pending: IntGauge,
    /// `sunomi_webhook_oldest_seconds`: wait of the oldest message not yet delivered (an
    /// endpoint that is down shows here).
    pub webhook_oldest: IntGauge,
    /// `sunomi_outbox_applied_total{result}`: effects this process applied (`done`) or
    /// gave back to retry (`failed`).
    pub outbox_applied: IntCounterVec,
    /// `sunomi_db_pool_connections{state}`: this process's database connections, `in_use`
    /// and `idle`, sampled when scraped.
    pub db_pool: IntGaugeVec,
    /// `sunomi_db_up`: 1 when the database answered a ping at the last scrape, else 0.
    pub db_up: IntGauge,
    /// `sunomi_intake_objects_total{outcome}`: S3 intake object versions by what became of
    /// them: `created`, `duplicate`, `stale`, `superseded`, `refused`, `ignored`.
    pub intake_objects: IntCounterVec,
    /// `sunomi_intake_messages_total{result}`: SQS messages read: `done` (deleted),
    /// `retry` (left for another delivery), `malformed` (left for the dead-letter queue).
    pub intake_messages: IntCounterVec,
}

fn build() -> Result<Metrics, prometheus::Error> {
    let registry = Registry::new();
    let counter_vec = |name: &str, help: &str, labels: &[&str]| {
        let c = IntCounterVec::new(Opts::new(name, help), labels)?;
        registry.register(Box::new(c.clone()))?;
        Ok::<_, prometheus::Error>(c)
    };
    let hist = |name: &str, help: &str, buckets: Vec<f64>| {
        let h = HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets), &["kind"])?;
        registry.register(Box::new(h.clone()))?;
        Ok::<_, prometheus::Error>(h)
    };
    let m = Metrics {
        api_requests: counter_vec(
            "sunomi_api_requests_total",
            "API requests by route and status.",
            &["route", "status"],
        )?,
        intake_objects: counter_vec(
            "sunomi_intake_objects_total",
            "S3 intake object versions by outcome.",
            &["outcome"],
        )?,
        intake_messages: counter_vec(
            "sunomi_intake_messages_total",
            "S3 intake queue messages by result.",
            &["result"],
        )?,
        api_undocumented_errors: counter_vec(
            "sunomi_api_undocumented_errors_total",
            "Error answers whose code the route's OpenAPI operation does not list.",
            &["route", "method", "code"],
        )?,
        jobs_enqueued: counter_vec("sunomi_jobs_enqueued_total", "Jobs enqueued.", &["kind"])?,
        jobs_completed: counter_vec("sunomi_jobs_completed_total", "Jobs completed.", &["kind"])?,
        jobs_failed: counter_vec(
            "sunomi_jobs_failed_total",
            "Job attempts that failed.",
            &["kind"],
        )?,
        jobs_retried: counter_vec(
            "sunomi_jobs_retried_total",
            "Jobs scheduled for another attempt.",
            &["kind"],
        )?,
        jobs_dead: counter_vec(
            "sunomi_jobs_dead_total",
            "Jobs moved to the dead letters.",
            &["kind"],
        )?,
        job_duration: hist(
            "sunomi_job_duration_seconds",
            "Time a job attempt ran.",
            prometheus::exponential_buckets(0.01, 2.0, 18)?,
        )?,
        job_start_latency: hist(
            "sunomi_job_start_latency_seconds",
            "Time from enqueue to a worker starting the job.",
            prometheus::exponential_buckets(0.001, 2.0, 16)?,
        )?,
        jobs_pending: {
            let g = IntGaugeVec::new(
                Opts::new("sunomi_jobs_pending", "Jobs waiting and running, by kind."),
                &["kind", "state"],
            )?;
            registry.register(Box::new(g.clone()))?;
            g
        },
        upload_bytes: {
            let c = IntCounter::new("sunomi_upload_bytes_total", "Upload bytes stored.")?;
            registry.register(Box::new(c.clone()))?;
            c
        },
        webhook_attempts: counter_vec(
            "sunomi_webhook_attempts_total",
            "Webhook delivery attempts by result.",
            &["result"],
        )?,
        analysis_duration: {
            let h = HistogramVec::new(
                HistogramOpts::new(
                    "sunomi_analysis_duration_seconds",
                    "Time an analysis stage ran, by stage and backend.",
                )
                .buckets(prometheus::exponential_buckets(0.05, 2.0, 16)?),
                &["stage", "backend"],
            )?;
            registry.register(Box::new(h.clone()))?;
            h
        },
        analysis_frames: {
            let c = IntCounter::new(
                "sunomi_analysis_frames_total",
                "Frames the offline moderator classified.",
            )?;
            registry.register(Box::new(c.clone()))?;
            c
        },
        analysis_audio_seconds: {
            let c = Counter::new(
                "sunomi_analysis_audio_seconds_total",
                "Seconds of audio the offline transcriber transcribed.",
            )?;
            registry.register(Box::new(c.clone()))?;
            c
        },
        api_connections: {
            let g = IntGauge::new("sunomi_api_connections", "Open API connections.")?;
            registry.register(Box::new(g.clone()))?;
            g
        },
        api_connections_refused: {
            let c = IntCounter::new(
                "sunomi_api_connections_refused_total",
                "API connections refused past api.max_connections.",
            )?;
            registry.register(Box::new(c.clone()))?;
            c
        },
        outbox_pending: {
            let g = IntGauge::new(
                "sunomi_outbox_pending",
                "Outbox rows not yet applied (all relays).",
            )?;
            registry.register(Box::new(g.clone()))?;
            g
        },
        outbox_oldest: {
            let g = IntGauge::new(
                "sunomi_outbox_oldest_seconds",
                "Age of the oldest outbox row not yet applied.",
            )?;
            registry.register(Box::new(g.clone()))?;
            g
        },
        asset_reads: counter_vec(
            "sunomi_asset_reads_total",
            "Assets read to answer the API, by where they came from.",
            &["source"],
        )?,
        asset_pages: counter_vec(
            "sunomi_asset_pages_total",
            "Pages of the asset listing answered, by where they came from.",
            &["source"],
        )?,
        webhook_pending: {
            let g = IntGauge::new(
                "sunomi_webhook_pending",
                "Webhook messages not yet delivered (every endpoint).",
            )?;
            registry.register(Box::new(g.clone()))?;
            g
        },
        webhook_oldest: {
            let g = IntGauge::new(
                "sunomi_webhook_oldest_seconds",
                "Wait of the oldest webhook message not yet delivered.",
            )?;
            registry.register(Box::new(g.clone()))?;
            g
        },
        outbox_applied: counter_vec(
            "sunomi_outbox_applied_total",
            "Outbox effects applied by this process, by result.",
            &["result"],
        )?,
        db_pool: {
            let g = IntGaugeVec::new(
                Opts::new(
                    "sunomi_db_pool_connections",
                    "Database connections of this process, by state (in_use, idle).",
                ),
                &["state"],
            )?;
            registry.register(Box::new(g.clone()))?;
            g
        },
        db_up: {
            let g = IntGauge::new(
                "sunomi_db_up",
                "1 when the database answered a ping at the last scrape, else 0.",
            )?;
            registry.register(Box::new(g.clone()))?;
            g
        },
        registry,
    };
    for outcome in [
        "created",
        "duplicate",
        "stale",
        "superseded",
        "refused",
        "ignored",
    ] {
        m.intake_objects.with_label_values(&[outcome]);
    }
    for result in ["done", "retry", "malformed"] {
        m.intake_messages.with_label_values(&[result]);
    }
    for kind in JobKind::ALL {
        let k = kind.name();
        for c in [
            &m.jobs_enqueued,
            &m.jobs_completed,
            &m.jobs_failed,
            &m.jobs_retried,
            &m.jobs_dead,
        ] {
            c.with_label_values(&[k]);
        }
        m.job_duration.with_label_values(&[k]);
        m.job_start_latency.with_label_values(&[k]);
        m.jobs_pending.with_label_values(&[k, "waiting"]);
        m.jobs_pending.with_label_values(&[k, "running"]);
    }
    for r in ["delivered", "failed"] {
        m.webhook_attempts.with_label_values(&[r]);
    }
    for s in ["memory", "database"] {
        m.asset_reads.with_label_values(&[s]);
        m.asset_pages.with_label_values(&[s]);
    }
    for r in ["done", "failed"] {
        m.outbox_applied.with_label_values(&[r]);
    }
    Ok(m)
}

/// The metrics (created on first use).
pub fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    // Fixed, valid names and labels: building cannot fail.
    METRICS.get_or_init(|| build().expect("metric definitions are valid"))
}

/// Samples the database's side of the metrics for a scrape: the pool's connections, and
/// whether a ping answers within two seconds.
pub async fn observe_database(db: &crate::db::Db) {
    let m = metrics();
    let size = i64::from(db.pool().size());
    let idle = i64::try_from(db.pool().num_idle()).unwrap_or(0);
    m.db_pool.with_label_values(&["idle"]).set(idle);
    m.db_pool
        .with_label_values(&["in_use"])
        .set((size - idle).max(0));
    let ping = tokio::time::timeout(std::time::Duration::from_secs(2), db.ping()).await;
    m.db_up.set(i64::from(matches!(ping, Ok(Ok(())))));
}

/// The text exposition of every metric.
pub fn encode() -> String {
    let mut out = String::new();
    let families = metrics().registry.gather();
    if let Err(e) = prometheus::TextEncoder::new().encode_utf8(&families, &mut out) {
        tracing::error!(error = %e, "could not encode metrics");
    }
    out
}
