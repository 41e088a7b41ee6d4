//! `/api/v1/jobs`: queue depth, dead letters, retries.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::ApiKey;
use super::problem::{errors, ApiError};

use crate::domain::ids::JobId;
use crate::jobs::Job;
use crate::queue::{DeadLetter, Depth};
use crate::services::assets::Assets;
use crate::services::jobs::Jobs;

/// The queue at a glance.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueueView {
    /// Jobs waiting and running, by kind.
    pub depth: BTreeMap<String, Depth>,
    /// Jobs in the dead letters.
    pub dead: u64,
}

errors!(QueueErrors: API_KEY);

errors!(DeadErrors: API_KEY);

errors!(RetryErrors: API_KEY, NotFound);

/// Queue depth by kind.
#[utoipa::path(get, path = "/api/v1/jobs", tag = "jobs",
    responses(
        (status = 200, description = "Jobs waiting and running by kind", body = QueueView),
        QueueErrors,
    ),
    security(("api_key" = [])))]
pub async fn queue(
    _key: ApiKey,
    State(jobs): State<Arc<Jobs>>,
) -> Result<Json<QueueView>, ApiError> {
    let (depth, dead) = jobs.depths().await?;
    Ok(Json(QueueView { depth, dead }))
}

/// Dead letters listed at most (retrying them lists the next).
const DEAD_PAGE: usize = 100;

/// Dead letters: jobs that failed every attempt (the oldest 100).
#[utoipa::path(get, path = "/api/v1/jobs/dead", tag = "jobs",
    responses(
        (status = 200, description = "Dead letters, oldest first", body = Vec<DeadLetter>),
        DeadErrors,
    ),
    security(("api_key" = [])))]
pub async fn dead(
    _key: ApiKey,
    State(jobs): State<Arc<Jobs>>,
) -> Result<Json<Vec<DeadLetter>>, ApiError> {
    Ok(Json(jobs.dead_letters(DEAD_PAGE).await?))
}

/// Requeue a dead job with fresh attempts.
#[utoipa::path(post, path = "/api/v1/jobs/{job_id}/retry", tag = "jobs",
    params(("job_id" = String, Path, description = "Job id")),
    responses(
        (status = 202, description = "Queued again", body = Job),
        RetryErrors,
    ),
    security(("api_key" = [])))]
pub async fn retry(
    _key: ApiKey,
    State(jobs): State<Arc<Jobs>>,
    State(assets): State<Arc<Assets>>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Job>), ApiError> {
    let id = JobId::parse(&id).map_err(|_| ApiError::not_found("dead job"))?;
    let job = jobs
        .revive(&id, &assets)
        .await?
        .ok_or_else(|| ApiError::not_found("dead job"))?;
    Ok((StatusCode::ACCEPTED, Json(job)))
}
