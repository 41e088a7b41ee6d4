//! Job consumers: `concurrency` loops, each taking one job at a time from the queue,
//! heartbeating while it runs, then acknowledging, retrying with backoff, or burying it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::analysis::Analysis;
use crate::app::App;
use crate::domain::asset::{AssetErrorCode, AssetErrorInfo, Change};
use crate::jobs::{backoff, JobKind};
use crate::metrics::metrics;
use crate::pipeline::{self, Outcome};
use crate::queue::{self, Delivery};

/// Runs `concurrency` consumer loops of the media kinds among `kinds` until `stop` fires;
/// with the `webhook` kind, also a webhook dispatcher ([`crate::deliveries`]) and one loop
/// that moves webhook jobs queued by earlier versions into the database.
pub async fn run(
    app: Arc<App>,
    analysis: Arc<Analysis>,
    kinds: Vec<JobKind>,
    concurrency: usize,
    name: String,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    let media: Vec<JobKind> = kinds
        .iter()
        .copied()
        .filter(|k| *k != JobKind::Webhook)
        .collect();
    let mut pools = Vec::new();
    if !media.is_empty() {
        pools.push((media, concurrency, "media"));
    }
    let mut loops = Vec::new();
    if kinds.contains(&JobKind::Webhook) {
        pools.push((vec![JobKind::Webhook], 1, "webhook-jobs"));
        loops.push(tokio::spawn(crate::deliveries::run(
            app.webhooks.clone(),
            format!("{name}-webhooks"),
            stop.clone(),
        )));
    }
    for (pool, n, label) in pools {
        for i in 0..n {
            let consumer = format!("{name}-{label}-{i}");
            loops.push(tokio::spawn(consume(
                app.clone(),
                analysis.clone(),
                pool.clone(),
                consumer,
                stop.clone(),
            )));
        }
    }
    tokio::spawn(watch_depth(app.clone(), stop.clone()));
    for l in loops {
        let _ = l.await;
    }
}

/// Keeps `sunomi_jobs_pending` current (every worker, and every API process, exports it: an
/// autoscaler can scrape either).
pub async fn watch_depth(app: Arc<App>, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        for kind in JobKind::ALL {
            if let Ok(d) = app.queue.depth(kind).await {
                let m = &metrics().jobs_pending;
                m.with_label_values(&[kind.name(), "waiting"])
                    .set(d.waiting as i64);
                m.with_label_values(&[kind.name(), "running"])
                    .set(d.running as i64);
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            _ = stop.changed() => return,
        }
    }
}

async fn consume(
    app: Arc<App>,
    analysis: Arc<Analysis>,
    kinds: Vec<JobKind>,
    consumer: String,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    while !*stop.borrow() {
        let received = tokio::select! {
            r = app.queue.receive(&kinds, &consumer, Duration::from_secs(2)) => r,
            _ = stop.changed() => return,
        };
        match received {
            Ok(Some(delivery)) => handle(&app, &analysis, &consumer, delivery).await,
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "queue unavailable; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

async fn handle(app: &Arc<App>, analysis: &Analysis, consumer: &str, delivery: Delivery) {
    let kind = delivery.job.kind;
    let k = kind.name();
    if let Some(at) = delivery
        .job
        .payload
        .get("enqueued_ms")
        .and_then(|v| v.as_u64())
    {
        if delivery.attempt == 1 {
            let waited = queue::now_ms().saturating_sub(at) as f64 / 1000.0;
            metrics()
                .job_start_latency
                .with_label_values(&[k])
                .observe(waited);
        }
    }
    tracing::info!(job = %delivery.job.id, kind = k, attempt = delivery.attempt, asset = ?delivery.job.asset_id, "job started");
    let started = Instant::now();
    let beat = {
        let app = app.clone();
        let d = delivery.clone();
        let consumer = consumer.to_string();
        let every = app.config.visibility() / 3;
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                if let Err(e) = app.queue.heartbeat(&d, &consumer).await {
                    tracing::warn!(error = %e, "heartbeat failed");
                }
            }
        })
    };
    let outcome = match kind {
        JobKind::Transcode => pipeline::run(app, analysis, &delivery).await,
        JobKind::Webhook => legacy_webhook(app, &delivery).await,
    };
    beat.abort();
    metrics()
        .job_duration
        .with_label_values(&[k])
        .observe(started.elapsed().as_secs_f64());
    let result = match outcome {
        Outcome::Done => {
            metrics().jobs_completed.with_label_values(&[k]).inc();
            app.queue.ack(&delivery).await
        }
        Outcome::Refused(error) => {
            metrics().jobs_completed.with_label_values(&[k]).inc();
            tracing::info!(job = %delivery.job.id, code = ?error.code, "source refused: {}", error.message);
            if let Some(id) = &delivery.job.asset_id {
                if let Err(e) = app.assets.change(id, Change::Errored(error)).await {
                    tracing::warn!(%id, error = %e, "could not record the asset's error");
                }
            }
            app.queue.ack(&delivery).await
        }
        Outcome::Retry(reason) => {
            metrics().jobs_failed.with_label_values(&[k]).inc();
            let max = match kind {
                JobKind::Transcode => app.config.jobs.max_attempts,
                JobKind::Webhook => app.config.jobs.webhook_max_attempts,
            };
            if delivery.attempt >= max {
                tracing::error!(job = %delivery.job.id, attempts = delivery.attempt, "job failed every attempt: {reason}");
                metrics().jobs_dead.with_label_values(&[k]).inc();
                on_dead(app, &delivery, &reason).await;
                app.queue.bury(&delivery, &reason).await
            } else {
                let cap = match kind {
                    JobKind::Transcode => app.config.jobs.backoff_max_secs,
                    JobKind::Webhook => app.config.jobs.webhook_backoff_max_secs,
                };
                let delay = backoff(
                    delivery.attempt,
                    Duration::from_millis(app.config.jobs.backoff_base_ms),
                    Duration::from_secs(cap),
                );
                tracing::warn!(job = %delivery.job.id, attempt = delivery.attempt, retry_in = ?delay, "job failed: {reason}");
                metrics().jobs_retried.with_label_values(&[k]).inc();
                queue::retry_later(app.queue.as_ref(), &delivery, delay).await
            }
        }
    };
    if let Err(e) = result {
        // The queue will deliver the job again after the visibility timeout.
        tracing::warn!(job = %delivery.job.id, error = %e, "could not settle the job");
    }
}

/// What a job's last failure means for its asset.
async fn on_dead(app: &Arc<App>, delivery: &Delivery, reason: &str) {
    match delivery.job.kind {
        JobKind::Transcode => {
            if let Some(id) = &delivery.job.asset_id {
                let error = AssetErrorInfo {
                    code: AssetErrorCode::ErrJobFailed,
                    message: format!(
                        "the transcode failed {} times (job {}): {reason}",
                        delivery.attempt, delivery.job.id
                    ),
                };
                if let Err(e) = app.assets.change(id, Change::Errored(error)).await {
                    tracing::warn!(%id, error = %e, "could not record the asset's error");
                }
            }
        }
        // A legacy webhook job only moves its message into the database.
        JobKind::Webhook => {}
    }
}

/// Moves a webhook job queued by an earlier version into the database's deliveries.
async fn legacy_webhook(app: &Arc<App>, delivery: &Delivery) -> Outcome {
    let Some(asset_id) = &delivery.job.asset_id else {
        return Outcome::Done;
    };
    match crate::deliveries::record(&app.webhooks, &delivery.job.payload, asset_id).await {
        Ok(()) => Outcome::Done,
        Err(e) => Outcome::Retry(e),
    }
}
