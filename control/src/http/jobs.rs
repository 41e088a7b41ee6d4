//! `/api/v1/jobs`: queue depth, dead letters, retries; `/api/v1/webhooks/deliveries`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use sunomi_origin::layout;
use utoipa::ToSchema;

use super::auth::ApiKey;
use super::problem::{ApiError, Problem};
use crate::app::{App, AppError};
use crate::asset::{AssetStatus, Change};
use crate::ids::JobId;
use crate::jobs::{Job, JobKind};
use crate::queue::{DeadLetter, Depth};
use crate::webhooks;

/// The queue at a glance.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueueView {
    /// Jobs waiting and running, by kind.
    pub depth: BTreeMap<String, Depth>,
    /// Jobs in the dead letters.
    pub dead: usize,
}

/// Queue depth by kind.
#[utoipa::path(get, path = "/api/v1/jobs", tag = "jobs",
    responses(
        (status = 200, description = "Jobs waiting and running by kind", body = QueueView),
        (status = 401, description = "No valid API key", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Queue unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = [])))]
pub async fn queue(_key: ApiKey, State(app): State<Arc<App>>) -> Result<Json<QueueView>, ApiError> {
    let mut depth = BTreeMap::new();
    for kind in JobKind::ALL {
        depth.insert(
            kind.name().to_string(),
            app.queue.depth(kind).await.map_err(AppError::from)?,
        );
    }
    let dead = app
        .queue
        .dead_letters()
        .await
        .map_err(AppError::from)?
        .len();
    Ok(Json(QueueView { depth, dead }))
}

/// Dead letters: jobs that failed every attempt.
#[utoipa::path(get, path = "/api/v1/jobs/dead", tag = "jobs",
    responses(
        (status = 200, description = "Dead letters, oldest first", body = Vec<DeadLetter>),
        (status = 401, description = "No valid API key", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Queue unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = [])))]
pub async fn dead(
    _key: ApiKey,
    State(app): State<Arc<App>>,
) -> Result<Json<Vec<DeadLetter>>, ApiError> {
    Ok(Json(
        app.queue.dead_letters().await.map_err(AppError::from)?,
    ))
}

/// Requeue a dead job with fresh attempts.
#[utoipa::path(post, path = "/api/v1/jobs/{job_id}/retry", tag = "jobs",
    params(("job_id" = String, Path, description = "Job id")),
    responses(
        (status = 202, description = "Queued again", body = Job),
        (status = 401, description = "No valid API key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such dead job", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Queue unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = [])))]
pub async fn retry(
    _key: ApiKey,
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Job>), ApiError> {
    let id = JobId::parse(&id).map_err(|_| ApiError::not_found("dead job"))?;
    let job = app
        .queue
        .revive(&id)
        .await
        .map_err(AppError::from)?
        .ok_or_else(|| ApiError::not_found("dead job"))?;
    if let (JobKind::Transcode, Some(asset)) = (job.kind, &job.asset_id) {
        if let Ok(a) = app.asset(asset).await {
            if a.status == AssetStatus::Errored {
                // The one way out of `errored`: the revived job then starts from `uploaded`.
                let retried = Change::Retried {
                    job_id: job.id.to_string(),
                };
                if let Err(e) = app.change(asset, retried).await {
                    tracing::warn!(%asset, error = %e, "the asset cannot be retried");
                }
            }
        }
    }
    Ok((StatusCode::ACCEPTED, Json(job)))
}

/// One webhook message's delivery record.
#[utoipa::path(get, path = "/api/v1/webhooks/deliveries/{msg_id}", tag = "webhooks",
    params(("msg_id" = String, Path, description = "The message's webhook-id")),
    responses(
        (status = 200, description = "Every attempt", body = webhooks::Delivery),
        (status = 401, description = "No valid API key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such message", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = [])))]
pub async fn delivery(
    _key: ApiKey,
    State(app): State<Arc<App>>,
    Path(msg_id): Path<String>,
) -> Result<Json<webhooks::Delivery>, ApiError> {
    if msg_id.is_empty()
        || msg_id.len() > 200
        || !msg_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(ApiError::not_found("message"));
    }
    match app
        .records
        .find::<webhooks::Delivery>(&layout::webhook_delivery(&msg_id))
        .await
    {
        Ok(Some(d)) => Ok(Json(d.value)),
        Ok(None) => Err(ApiError::not_found("message")),
        Err(e) => Err(AppError::from(e).into()),
    }
}

/// Every webhook message's delivery record.
#[utoipa::path(get, path = "/api/v1/webhooks/deliveries", tag = "webhooks",
    responses(
        (status = 200, description = "Delivery records", body = Vec<webhooks::Delivery>),
        (status = 401, description = "No valid API key", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = [])))]
pub async fn deliveries(
    _key: ApiKey,
    State(app): State<Arc<App>>,
) -> Result<Json<Vec<webhooks::Delivery>>, ApiError> {
    let keys = app
        .records
        .list(layout::WEBHOOK_DELIVERIES)
        .await
        .map_err(AppError::from)?;
    let mut out = Vec::new();
    for key in keys.iter().filter(|k| k.ends_with(".json")).take(1000) {
        if let Ok(Some(d)) = app.records.find::<webhooks::Delivery>(key).await {
            out.push(d.value);
        }
    }
    Ok(Json(out))
}
