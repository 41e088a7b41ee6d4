//! Webhook delivery: records each message in the database when the relay applies the change
//! that implies it, and posts due messages from there.
//!
//! Every process that delivers webhooks (workers with the `webhook` kind, and `serve` without
//! Redis) runs one dispatcher. It leases due messages ([`crate::db::webhooks::lease`]), posts
//! each with the body it was recorded with, signed by the secrets its endpoint has *now*
//! (looked up by id at every attempt), and records the attempt and what follows in one
//! transaction: delivered, retried later with doubling delays, or failed after
//! `jobs.webhook_max_attempts` (or at once when the endpoint is gone). A dispatcher that
//! dies mid-post leaves a lease that runs out, so the message is posted again, with the same
//! `webhook-id`: receivers deduplicate on it. Delivered and failed messages are kept for
//! [`RETENTION`], then pruned.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{watch, Semaphore};

use crate::app::{now_ms, now_rfc3339, now_unix};
use crate::config::JobConfig;
use crate::db::webhooks::{self, Due, NewDelivery, Next};
use crate::db::Db;
use crate::domain::ids::AssetId;
use crate::domain::webhooks::{signature_header, Attempt};
use crate::jobs::backoff;
use crate::metrics::metrics;
use crate::services::endpoints::Endpoints;

/// What deliveries need: the database (messages and attempts), the endpoints (where a
/// message goes and its secrets, looked up when it is sent), the outbound policy and its
/// clients, and the retry settings.
pub struct Webhooks {
    /// The state of record.
    pub db: Db,
    /// The endpoints.
    pub endpoints: Arc<Endpoints>,
    /// Where requests to endpoints made through the API may go.
    pub outbound: crate::outbound::Policy,
    /// The client for the config file's endpoints (the operator's own).
    pub http: reqwest::Client,
    /// The client for endpoints made through the API: it resolves names only to addresses
    /// [`Webhooks::outbound`] allows.
    pub guarded_http: reqwest::Client,
    /// Attempts and backoff (`[jobs]`).
    pub retry: JobConfig,
}

/// Messages posted at once per process.
pub const CONCURRENCY: usize = 8;
/// How long a dispatcher holds a message it is posting (well past the HTTP timeout).
const LEASE_MS: i64 = 60_000;
/// How often an idle dispatcher looks for due messages.
const POLL: Duration = Duration::from_millis(100);
/// How long delivered and failed messages stay listed.
pub const RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);
/// How often finished messages past [`RETENTION`] are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Records the message a relay's `webhook` effect (or a queued job of an earlier version)
/// carries: `{endpoint_id | url, msg_id, message}`. Recording one twice keeps the first.
pub async fn record(
    wh: &Webhooks,
    payload: &serde_json::Value,
    asset_id: &AssetId,
) -> Result<(), String> {
    let (Some(msg_id), Some(message)) = (
        payload.get("msg_id").and_then(|v| v.as_str()),
        payload.get("message"),
    ) else {
        tracing::warn!(%payload, "webhook message without an id or body; dropped");
        return Ok(());
    };
    // Messages queued by versions before endpoint ids name their endpoint by URL.
    let endpoint_id = match (
        payload.get("endpoint_id").and_then(|v| v.as_str()),
        payload.get("url").and_then(|v| v.as_str()),
    ) {
        (Some(id), _) => id.to_string(),
        (None, Some(url)) => match wh.endpoints.configured().find(|(_, u)| *u == url) {
            Some((id, _)) => id.to_string(),
            None => {
                tracing::warn!(%msg_id, %url, "webhook for an endpoint no longer configured; dropped");
                return Ok(());
            }
        },
        (None, None) => return Ok(()),
    };
    let delivery = NewDelivery {
        msg_id: msg_id.to_string(),
        endpoint_id,
        asset_id: asset_id.to_string(),
        event_type: message
            .get("type")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string(),
        body: message.to_string(),
    };
    webhooks::enqueue(&wh.db, &delivery, now_ms())
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Posts due messages until `stop` fires: up to [`CONCURRENCY`] at once, a new lease as
/// soon as a slot frees while messages are due, a look every [`POLL`] while none is.
pub async fn run(wh: Arc<Webhooks>, name: String, mut stop: watch::Receiver<bool>) {
    let slots = Arc::new(Semaphore::new(CONCURRENCY));
    let mut pruned = Instant::now() - PRUNE_EVERY;
    let mut measured = Instant::now() - Duration::from_secs(5);
    while !*stop.borrow() {
        housekeeping(&wh, &mut measured, &mut pruned).await;
        // A free slot first: a lease takes only what can be posted at once.
        let first = tokio::select! {
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
            _ = stop.changed() => return,
        };
        let free = 1 + slots.available_permits() as i64;
        // A token of this lease alone: `webhooks::lease` reads back the rows leased to
        // (holder, expiry), and two leases in one millisecond would otherwise both read the
        // first one's rows and post them twice.
        let by = format!("{name}.{}", crate::domain::ids::random_token(8));
        let due = match webhooks::lease(&wh.db, &by, now_ms(), LEASE_MS, free).await {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!(error = %e, "could not lease webhook messages");
                Vec::new()
            }
        };
        if due.is_empty() {
            drop(first);
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                _ = stop.changed() => {}
            }
            continue;
        }
        let mut first = Some(first);
        for d in due {
            let slot = match first.take() {
                Some(p) => p,
                None => match slots.clone().acquire_owned().await {
                    Ok(p) => p,
                    Err(_) => return,
                },
            };
            let wh = wh.clone();
            let by = by.clone();
            tokio::spawn(async move {
                deliver(&wh, &by, &d).await;
                drop(slot);
            });
        }
    }
}

/// Keeps the backlog gauges current (every 5 s) and prunes finished messages (hourly).
async fn housekeeping(wh: &Webhooks, measured: &mut Instant, pruned: &mut Instant) {
    if measured.elapsed() >= Duration::from_secs(5) {
        *measured = Instant::now();
        if let Ok((n, oldest_ms)) = webhooks::backlog(&wh.db, now_ms()).await {
            metrics().webhook_pending.set(n);
            metrics().webhook_oldest.set(oldest_ms / 1000);
        }
    }
    if pruned.elapsed() >= PRUNE_EVERY {
        *pruned = Instant::now();
        let before = now_ms() - RETENTION.as_millis() as i64;
        match webhooks::prune(&wh.db, before).await {
            Ok(n) if n > 0 => tracing::info!(n, "pruned old webhook messages"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "could not prune webhook messages"),
        }
    }
}

/// Posts one leased message and records the attempt.
async fn deliver(wh: &Webhooks, by: &str, due: &Due) {
    let target = match wh.endpoints.target(&due.endpoint_id).await {
        Ok(t) => t,
        Err(e) => {
            // Its lease runs out and it is tried again.
            tracing::warn!(msg_id = %due.msg_id, error = %e, "could not look up a webhook endpoint");
            return;
        }
    };
    let started = Instant::now();
    let (status, error) = match &target {
        None => (None, Some("the endpoint no longer exists".to_string())),
        Some(t) => post(wh, t, due).await,
    };
    let attempt = Attempt {
        at: now_rfc3339(),
        status,
        error: error.clone(),
        duration_ms: started.elapsed().as_millis() as u64,
    };
    let attempts = u32::try_from(due.attempts + 1).unwrap_or(u32::MAX);
    let next = match (&error, &target) {
        (None, _) => Next::Delivered,
        (Some(_), None) => Next::Failed,
        (Some(_), Some(_)) if attempts >= wh.retry.webhook_max_attempts => Next::Failed,
        (Some(_), Some(_)) => {
            let delay = backoff(
                attempts,
                Duration::from_millis(wh.retry.backoff_base_ms),
                Duration::from_secs(wh.retry.webhook_backoff_max_secs),
            );
            Next::RetryAt(now_ms() + delay.as_millis() as i64)
        }
    };
    let result = if error.is_none() {
        "delivered"
    } else {
        "failed"
    };
    metrics()
        .webhook_attempts
        .with_label_values(&[result])
        .inc();
    if next == Next::Failed {
        tracing::warn!(msg_id = %due.msg_id, attempts, error = ?error, "webhook message failed for good");
    }
    match webhooks::record_attempt(&wh.db, &due.msg_id, by, &attempt, next).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!(msg_id = %due.msg_id, "webhook lease ran out before the attempt was recorded")
        }
        Err(e) => {
            tracing::warn!(msg_id = %due.msg_id, error = %e, "could not record a webhook attempt")
        }
    }
}

/// Posts `due` to `target`: the answer's status, and why it failed when it did.
async fn post(
    wh: &Webhooks,
    target: &crate::services::endpoints::WebhookTarget,
    due: &Due,
) -> (Option<u16>, Option<String>) {
    let client = if target.guarded {
        // Names are checked by the guarded client's resolver; an address written in the URL
        // is checked here.
        if let Err(e) = literal_allowed(wh, &target.url) {
            return (None, Some(e));
        }
        &wh.guarded_http
    } else {
        &wh.http
    };
    let timestamp = now_unix();
    let signature = signature_header(&target.signers, &due.msg_id, timestamp, due.body.as_bytes());
    let sent = client
        .post(&target.url)
        .header("content-type", "application/json")
        .header("webhook-id", &due.msg_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(due.body.clone())
        .send()
        .await;
    match sent {
        Ok(r) if r.status().is_success() => (Some(r.status().as_u16()), None),
        Ok(r) => (
            Some(r.status().as_u16()),
            Some(format!("endpoint answered {}", r.status())),
        ),
        Err(e) => (None, Some(format!("request failed: {}", chain(&e)))),
    }
}

/// `e` and every error under it, as one line (a refused address is said deep inside).
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

/// `Err` when `url`'s host is an IP address the outbound policy refuses.
fn literal_allowed(wh: &Webhooks, url: &str) -> Result<(), String> {
    let ip = match url::Url::parse(url)
        .ok()
        .and_then(|u| u.host().map(|h| h.to_owned()))
    {
        Some(url::Host::Ipv4(ip)) => std::net::IpAddr::V4(ip),
        Some(url::Host::Ipv6(ip)) => std::net::IpAddr::V6(ip),
        _ => return Ok(()),
    };
    wh.outbound
        .check_ip(ip)
        .map_err(|kind| format!("{ip} is a {kind} address; refused by the outbound policy"))
}
