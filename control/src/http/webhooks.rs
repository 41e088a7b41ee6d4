//! `/api/v1/webhooks/…`: endpoints made through the API (create, list, read, rotate the
//! secret, delete; the secret is shown only when made) beside the config file's, and every
//! message's delivery (paged listings, one message with its attempts, redelivery of a failed
//! one).

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::ApiKey;
use super::problem::{errors, ApiError, ErrorCode};
use crate::db::webhooks::{EndpointRecord, Filter};
use crate::deliveries::Webhooks;
use crate::domain::webhooks::{Delivery, DeliveryState};
use crate::services::webhook_admin::{Listed, WebhookAdminError, MAX_OVERLAP_SECS};

/// A webhook endpoint.
#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointView {
    /// `we_…` (made through the API) or the config file's id.
    pub id: String,
    /// Where messages are posted.
    pub url: String,
    /// What it is for.
    pub description: String,
    /// `api` or `config` (the config file's endpoints change only there).
    pub source: String,
    /// When it was made (API endpoints).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// The `whsec_…` secret: shown only in the answer that made or rotated it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl EndpointView {
    /// An endpoint of the config file.
    fn configured(id: &str, url: &str) -> EndpointView {
        EndpointView {
            id: id.to_string(),
            url: url.to_string(),
            description: String::new(),
            source: "config".into(),
            created_at: None,
            secret: None,
        }
    }

    fn of(e: &EndpointRecord) -> EndpointView {
        EndpointView {
            id: e.id.clone(),
            url: e.url.clone(),
            description: e.description.clone(),
            source: "api".into(),
            created_at: Some(e.created_at.clone()),
            secret: None,
        }
    }
}

/// What a new endpoint is.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEndpoint {
    /// An `http://` or `https://` URL on a public address (internal ones are refused unless
    /// the operator allows them), at most 2048 characters.
    #[schema(max_length = 2048, pattern = "^https?://[^/?#@]+")]
    pub url: String,
    /// What it is for (at most 500 characters).
    #[serde(default)]
    #[schema(max_length = 500)]
    pub description: String,
}

/// How to rotate a secret.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateSecret {
    /// Seconds the old secret keeps signing beside the new one (0–86400, default 86400);
    /// 0 retires it at once (a leaked secret).
    #[schema(minimum = 0, maximum = 86400)]
    #[serde(default, deserialize_with = "crate::json_int::opt_u64")]
    pub keep_previous_secs: Option<u64>,
}

impl EndpointView {
    /// An endpoint as listed.
    fn listed(e: &Listed<'_>) -> EndpointView {
        match e {
            Listed::Configured(id, url) => EndpointView::configured(id, url),
            Listed::Made(record) => EndpointView::of(record),
        }
    }
}

impl From<WebhookAdminError> for ApiError {
    fn from(e: WebhookAdminError) -> Self {
        match e {
            WebhookAdminError::NotFound(what) => ApiError::not_found(what),
            WebhookAdminError::Configured => ApiError::new(
                ErrorCode::ConfiguredEndpoint,
                "this endpoint is in the config file and changes only there",
            ),
            WebhookAdminError::Refused(m) => ApiError::new(ErrorCode::WebhookUrlRefused, m),
            WebhookAdminError::Full => ApiError::new(ErrorCode::LimitReached, e.to_string()),
            WebhookAdminError::NotFailed(_) => ApiError::new(ErrorCode::NotFailed, e.to_string()),
            WebhookAdminError::App(a) => a.into(),
        }
    }
}

errors!(CreateEndpointErrors: API_KEY, JSON_BODY, LimitReached, WebhookUrlRefused);

errors!(ListEndpointsErrors: API_KEY);

errors!(GetEndpointErrors: API_KEY, NotFound);

errors!(RotateSecretErrors: API_KEY, InvalidRequest, NotFound, ConfiguredEndpoint);

errors!(DeleteEndpointErrors: API_KEY, NotFound, ConfiguredEndpoint);

errors!(DeliveriesErrors: API_KEY, InvalidRequest);

errors!(DeliveryErrors: API_KEY, NotFound);

errors!(RedeliverErrors: API_KEY, NotFound, NotFailed);

/// Make a webhook endpoint. Its secret is in this answer and never again.
#[utoipa::path(post, path = "/api/v1/webhooks/endpoints", tag = "webhooks",
    request_body(content = CreateEndpoint, content_type = "application/json"),
    responses(
        (status = 201, description = "Made; the secret is shown only now", body = EndpointView),
        CreateEndpointErrors,
    ),
    security(("api_key" = [])))]
pub async fn create_endpoint(
    _key: ApiKey,
    State(webhooks): State<Arc<Webhooks>>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<EndpointView>), ApiError> {
    let ask: CreateEndpoint = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("invalid body: {e}")))?;
    let record = webhooks.create_endpoint(ask.url, ask.description).await?;
    let mut view = EndpointView::of(&record);
    view.secret = Some(record.secret);
    Ok((StatusCode::CREATED, Json(view)))
}

/// Every webhook endpoint: the config file's, then those made through the API.
#[utoipa::path(get, path = "/api/v1/webhooks/endpoints", tag = "webhooks",
    responses(
        (status = 200, description = "Every endpoint (without secrets)", body = Vec<EndpointView>),
        ListEndpointsErrors,
    ),
    security(("api_key" = [])))]
pub async fn list_endpoints(
    _key: ApiKey,
    State(webhooks): State<Arc<Webhooks>>,
) -> Result<Json<Vec<EndpointView>>, ApiError> {
    Ok(Json(
        webhooks
            .list_endpoints()
            .await?
            .iter()
            .map(EndpointView::listed)
            .collect(),
    ))
}

/// One webhook endpoint.
#[utoipa::path(get, path = "/api/v1/webhooks/endpoints/{endpoint_id}", tag = "webhooks",
    params(("endpoint_id" = String, Path, description = "Endpoint id")),
    responses(
        (status = 200, description = "The endpoint (without its secret)", body = EndpointView),
        GetEndpointErrors,
    ),
    security(("api_key" = [])))]
pub async fn get_endpoint(
    _key: ApiKey,
    State(webhooks): State<Arc<Webhooks>>,
    Path(id): Path<String>,
) -> Result<Json<EndpointView>, ApiError> {
    Ok(Json(EndpointView::listed(&webhooks.endpoint(&id).await?)))
}

/// Give an endpoint a new secret (shown only now). The old one keeps signing beside it for
/// `keep_previous_secs` (a day by default), so a receiver verifying either loses nothing.
#[utoipa::path(post, path = "/api/v1/webhooks/endpoints/{endpoint_id}/rotate-secret", tag = "webhooks",
    params(("endpoint_id" = String, Path, description = "Endpoint id")),
    request_body(content = Option<RotateSecret>, content_type = "application/json"),
    responses(
        (status = 200, description = "The new secret, shown only now", body = EndpointView),
        RotateSecretErrors,
    ),
    security(("api_key" = [])))]
pub async fn rotate_secret(
    _key: ApiKey,
    State(webhooks): State<Arc<Webhooks>>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<EndpointView>, ApiError> {
    let ask: RotateSecret = super::optional_json(&body)?;
    let keep = ask.keep_previous_secs.unwrap_or(MAX_OVERLAP_SECS);
    if keep > MAX_OVERLAP_SECS {
        return Err(ApiError::bad_request("keep_previous_secs is at most 86400"));
    }
    let record = webhooks.rotate_secret(&id, keep).await?;
    let mut view = EndpointView::of(&record);
    view.secret = Some(record.secret);
    Ok(Json(view))
}

/// Remove an endpoint: no message is addressed to it from now on, and those still pending
/// fail at their next attempt.
#[utoipa::path(delete, path = "/api/v1/webhooks/endpoints/{endpoint_id}", tag = "webhooks",
    params(("endpoint_id" = String, Path, description = "Endpoint id")),
    responses(
        (status = 204, description = "Removed"),
        DeleteEndpointErrors,
    ),
    security(("api_key" = [])))]
pub async fn delete_endpoint(
    _key: ApiKey,
    State(webhooks): State<Arc<Webhooks>>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    webhooks.delete_endpoint(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Which deliveries to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryParams {
    /// Messages per page (1–100, default 25).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// The `next` of the previous page.
    #[param(minimum = 1)]
    pub before: Option<i64>,
    /// Only messages in this state.
    pub state: Option<DeliveryState>,
    /// Only messages to this endpoint.
    pub endpoint_id: Option<String>,
    /// Only messages about this asset.
    pub asset_id: Option<String>,
}

/// A page of deliveries.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryList {
    /// Messages, newest first (their attempts: read one message).
    pub data: Vec<Delivery>,
    /// Pass as `before` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// Webhook messages, newest first, a page at a time.
#[utoipa::path(get, path = "/api/v1/webhooks/deliveries", tag = "webhooks",
    params(DeliveryParams),
    responses(
        (status = 200, description = "A page of messages", body = DeliveryList),
        DeliveriesErrors,
    ),
    security(("api_key" = [])))]
pub async fn deliveries(
    _key: ApiKey,
    State(webhooks): State<Arc<Webhooks>>,
    params: Result<Query<DeliveryParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<DeliveryList>, ApiError> {
    let Query(p) = params.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let limit = p.limit.unwrap_or(25);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::bad_request("limit is 1-100"));
    }
    if p.before.is_some_and(|b| b < 1) {
        return Err(ApiError::bad_request(
            "before is the next of a previous page",
        ));
    }
    let before = p.before;
    let filter = Filter {
        state: p.state,
        endpoint_id: p.endpoint_id,
        asset_id: p.asset_id,
    };
    let (page, more) = webhooks.deliveries(&filter, before, limit).await?;
    let next = more
        .then(|| page.last().map(|(seq, _)| seq.to_string()))
        .flatten();
    Ok(Json(DeliveryList {
        data: page.into_iter().map(|(_, d)| d).collect(),
        next,
    }))
}

/// One webhook message with every attempt.
#[utoipa::path(get, path = "/api/v1/webhooks/deliveries/{msg_id}", tag = "webhooks",
    params(("msg_id" = String, Path, description = "The message's webhook-id")),
    responses(
        (status = 200, description = "Every attempt", body = Delivery),
        DeliveryErrors,
    ),
    security(("api_key" = [])))]
pub async fn delivery(
    _key: ApiKey,
    State(webhooks): State<Arc<Webhooks>>,
    Path(msg_id): Path<String>,
) -> Result<Json<Delivery>, ApiError> {
    Ok(Json(webhooks.delivery(&msg_id).await?))
}

/// Try a failed message again, with a fresh count of attempts.
#[utoipa::path(post, path = "/api/v1/webhooks/deliveries/{msg_id}/redeliver", tag = "webhooks",
    params(("msg_id" = String, Path, description = "The message's webhook-id")),
    responses(
        (status = 202, description = "Pending again", body = Delivery),
        RedeliverErrors,
    ),
    security(("api_key" = [])))]
pub async fn redeliver(
    _key: ApiKey,
    State(webhooks): State<Arc<Webhooks>>,
    Path(msg_id): Path<String>,
) -> Result<(StatusCode, Json<Delivery>), ApiError> {
    Ok((
        StatusCode::ACCEPTED,
        Json(webhooks.redeliver(&msg_id).await?),
    ))
}
