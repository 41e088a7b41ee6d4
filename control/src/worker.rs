//! Job consumers: `concurrency` loops, each taking one job at a time from the queue,
//! heartbeating while it runs, then acknowledging, retrying with backoff, or burying it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::analysis::Analysis;
use crate::app::{now_rfc3339, App};
use crate::asset::{AssetErrorCode, AssetErrorInfo, Change};
use crate::jobs::{backoff, JobKind};
use crate::metrics::metrics;
use crate::pipeline::{self, Outcome};
use crate::queue::{self, Delivery};
use crate::webhooks;

/// Webhook deliveries run at once per process.
pub const WEBHOOK_LOOPS: usize = 4;

/// Runs `concurrency` consumer loops of the media kinds among `kinds` (and
/// [`WEBHOOK_LOOPS`] of webhooks, when asked) until `stop` fires.
pub async fn run(
    app: Arc<App>,
    analysis: Arc<Analysis>,
    kinds: Vec<JobKind>,
    concurrency: usize,
    name: String,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    // Webhook deliveries are short and must not wait behind long transcodes: they get loops
    // of their own.
    let media: Vec<JobKind> = kinds
        .iter()
        .copied()
        .filter(|k| *k != JobKind::Webhook)
        .collect();
    let mut pools = Vec::new();
    if !media.is_empty() {
        pools.push((media, concurrency, "media"));
    }
    if kinds.contains(&JobKind::Webhook) {
        pools.push((vec![JobKind::Webhook], WEBHOOK_LOOPS, "webhook"));
    }
    let mut loops = Vec::new();
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
        JobKind::Webhook => deliver_webhook(app, &delivery).await,
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
                if let Err(e) = app.change(id, Change::Errored(error)).await {
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
                if let Err(e) = app.change(id, Change::Errored(error)).await {
                    tracing::warn!(%id, error = %e, "could not record the asset's error");
                }
            }
        }
        JobKind::Webhook => {
            if let Some(msg_id) = delivery.job.payload.get("msg_id").and_then(|v| v.as_str()) {
                let key = sunomi_origin::layout::webhook_delivery(msg_id);
                let _ = app
                    .records
                    .update::<webhooks::Delivery, (), _>(&key, |d| {
                        let mut d = d.clone();
                        d.state = "failed".into();
                        Ok(Some(d))
                    })
                    .await;
            }
        }
    }
}

/// Delivers one webhook message and records the attempt.
async fn deliver_webhook(app: &Arc<App>, delivery: &Delivery) -> Outcome {
    let p = &delivery.job.payload;
    let (Some(msg_id), Some(message)) =
        (p.get("msg_id").and_then(|v| v.as_str()), p.get("message"))
    else {
        return Outcome::Done; // malformed job: nothing sensible to retry
    };
    // The endpoint is named by its id and looked up now: its URL and secret as configured
    // today. (Jobs queued by earlier versions name a URL: the endpoint with that URL.)
    let endpoint = match (
        p.get("endpoint_id").and_then(|v| v.as_str()),
        p.get("url").and_then(|v| v.as_str()),
    ) {
        (Some(id), _) => app.webhook_endpoint(id),
        (None, Some(url)) => app
            .config
            .webhooks
            .iter()
            .find(|w| w.url == url)
            .and_then(|w| app.webhook_endpoint(&w.id())),
        (None, None) => None,
    };
    let Some((endpoint, signer)) = endpoint else {
        tracing::warn!(%msg_id, "webhook endpoint no longer configured; dropping the message");
        return Outcome::Done;
    };
    let url = endpoint.url.as_str();
    let body = serde_json::to_vec(message).unwrap_or_default();
    let timestamp = crate::app::now_unix();
    let signature = signer.sign(msg_id, timestamp, &body);
    let started = Instant::now();
    let sent = app
        .http
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", msg_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await;
    let (status, error) = match &sent {
        Ok(r) if r.status().is_success() => (Some(r.status().as_u16()), None),
        Ok(r) => (
            Some(r.status().as_u16()),
            Some(format!("endpoint answered {}", r.status())),
        ),
        Err(e) => (None, Some(format!("request failed: {e}"))),
    };
    let attempt = webhooks::Attempt {
        at: now_rfc3339(),
        status,
        error: error.clone(),
        duration_ms: started.elapsed().as_millis() as u64,
    };
    record_attempt(app, delivery, msg_id, url, message, attempt).await;
    match error {
        None => {
            metrics()
                .webhook_attempts
                .with_label_values(&["delivered"])
                .inc();
            Outcome::Done
        }
        Some(e) => {
            metrics()
                .webhook_attempts
                .with_label_values(&["failed"])
                .inc();
            Outcome::Retry(e)
        }
    }
}

async fn record_attempt(
    app: &App,
    delivery: &Delivery,
    msg_id: &str,
    url: &str,
    message: &serde_json::Value,
    attempt: webhooks::Attempt,
) {
    let key = sunomi_origin::layout::webhook_delivery(msg_id);
    let delivered = attempt.error.is_none();
    let state = if delivered { "delivered" } else { "pending" };
    let fresh = webhooks::Delivery {
        msg_id: msg_id.to_string(),
        endpoint: url.to_string(),
        event_type: message
            .get("type")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string(),
        asset_id: delivery
            .job
            .asset_id
            .as_ref()
            .map(|a| a.to_string())
            .unwrap_or_default(),
        state: state.into(),
        attempts: vec![attempt.clone()],
    };
    let result = match app.records.create(&key, &fresh).await {
        Err(crate::records::RecordError::Conflict) => app
            .records
            .update::<webhooks::Delivery, (), _>(&key, |d| {
                let mut d = d.clone();
                d.attempts.push(attempt.clone());
                if d.state != "delivered" {
                    d.state = state.into();
                }
                Ok(Some(d))
            })
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        other => other.map_err(|e| e.to_string()),
    };
    if let Err(e) = result {
        tracing::warn!(%msg_id, error = %e, "could not record a webhook attempt");
    }
}
