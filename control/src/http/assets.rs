//! `/api/v1/assets`: read, list and delete assets; their playback ids.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::ApiKey;
use super::problem::{ApiError, Problem};
use crate::app::{App, AppError};
use crate::asset::{
    Asset, AssetErrorInfo, AssetStatus, Moderation, PlaybackIdInfo, PlaybackPolicy, RenditionInfo,
    Review, ReviewDecision, Stage,
};
use crate::ids::{AssetId, PlaybackId};

/// An asset as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AssetView {
    /// The asset id.
    pub id: String,
    /// Where it is in its life.
    pub status: AssetStatus,
    /// Transcode progress, 0–100.
    pub progress: u8,
    /// Per-stage state.
    pub stages: BTreeMap<String, Stage>,
    /// Duration in seconds once known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<f64>,
    /// Renditions once transcoded.
    pub renditions: Vec<RenditionInfo>,
    /// Why it errored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<AssetErrorInfo>,
    /// The uploader's passthrough text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passthrough: Option<String>,
    /// The uploader's metadata.
    pub meta: BTreeMap<String, String>,
    /// Playback ids.
    pub playback_ids: Vec<PlaybackIdInfo>,
    /// Moderation: every manual decision.
    pub moderation: Moderation,
    /// The multivariant playlist URL on the edge, once ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub playback_url: Option<String>,
    /// The upload it came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upload_id: Option<String>,
    /// Created (RFC 3339).
    pub created_at: String,
    /// Last changed (RFC 3339).
    pub updated_at: String,
}

/// The playback URL of `playback_id` on the edge fleet at `edge_url`.
pub fn playback_url(edge_url: &str, playback_id: &str) -> String {
    format!(
        "{}/v/{playback_id}/master.m3u8",
        edge_url.trim_end_matches('/')
    )
}

impl AssetView {
    /// The view of `asset` for an API whose edges are at `edge_url`.
    pub fn of(asset: &Asset, edge_url: &str) -> AssetView {
        AssetView {
            id: asset.id.to_string(),
            status: asset.status,
            progress: asset.progress,
            stages: asset.stages.clone(),
            duration: asset.duration,
            renditions: asset.renditions.clone(),
            errors: asset.errors.clone(),
            passthrough: asset.passthrough.clone(),
            meta: asset.meta.clone(),
            playback_ids: asset.playback_ids.clone(),
            moderation: asset.moderation.clone(),
            playback_url: (asset.status == AssetStatus::Ready)
                .then(|| asset.playback_ids.first())
                .flatten()
                .map(|p| playback_url(edge_url, p.id.as_str())),
            upload_id: asset.upload_id.as_ref().map(|u| u.to_string()),
            created_at: asset.created_at.clone(),
            updated_at: asset.updated_at.clone(),
        }
    }
}

/// Parses an asset id from a path.
pub fn asset_id(text: &str) -> Result<AssetId, ApiError> {
    AssetId::parse(text).map_err(|_| ApiError::not_found("asset"))
}

/// Reads an asset or answers 404.
pub async fn load(app: &App, id: &AssetId) -> Result<Asset, ApiError> {
    app.asset(id).await.map_err(|e| match e {
        AppError::NotFound => ApiError::not_found("asset"),
        other => other.into(),
    })
}

/// Get an asset.
#[utoipa::path(get, path = "/api/v1/assets/{asset_id}", tag = "assets",
    params(("asset_id" = String, Path, description = "Asset id")),
    responses(
        (status = 200, description = "The asset", body = AssetView),
        (status = 401, description = "No valid API key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such asset", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = [])))]
pub async fn get_asset(
    _key: ApiKey,
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<AssetView>, ApiError> {
    let id = asset_id(&id)?;
    let asset = load(&app, &id).await?;
    Ok(Json(AssetView::of(&asset, &app.config.edge_url)))
}

/// Paging of the asset list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Assets per page (1–100, default 25).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// Page number from 1 (default 1).
    #[param(minimum = 1, maximum = 1000000)]
    pub page: Option<u32>,
}

/// A page of assets.
#[derive(Debug, Serialize, ToSchema)]
pub struct AssetList {
    /// The assets, newest first.
    pub data: Vec<AssetView>,
    /// The page number.
    pub page: u32,
    /// Whether another page follows.
    pub has_more: bool,
}

/// List assets, newest first.
#[utoipa::path(get, path = "/api/v1/assets", tag = "assets",
    params(ListParams),
    responses(
        (status = 200, description = "A page of assets", body = AssetList),
        (status = 400, description = "Bad paging", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid API key", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = [])))]
pub async fn list_assets(
    _key: ApiKey,
    State(app): State<Arc<App>>,
    params: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<AssetList>, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let limit = params.limit.unwrap_or(25);
    let page = params.page.unwrap_or(1);
    if !(1..=100).contains(&limit) || page == 0 || page > 1_000_000 {
        return Err(ApiError::bad_request(
            "limit is 1-100 and page counts from 1",
        ));
    }
    let ids = app.asset_ids().await?;
    let start = ((page - 1) as usize).saturating_mul(limit as usize);
    let mut data = Vec::new();
    for id in ids.iter().skip(start).take(limit as usize) {
        match app.asset(id).await {
            Ok(a) => data.push(AssetView::of(&a, &app.config.edge_url)),
            Err(AppError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Json(AssetList {
        data,
        page,
        has_more: ids.len() > start + limit as usize,
    }))
}

/// Delete an asset: every object under `videos/{id}/` and a fleet-wide purge.
#[utoipa::path(delete, path = "/api/v1/assets/{asset_id}", tag = "assets",
    params(("asset_id" = String, Path, description = "Asset id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No valid API key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such asset", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = [])))]
pub async fn delete_asset(
    _key: ApiKey,
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = asset_id(&id)?;
    app.delete_asset(&id).await.map_err(|e| match e {
        AppError::NotFound => ApiError::not_found("asset"),
        other => other.into(),
    })?;
    Ok(StatusCode::NO_CONTENT)
}

/// List an asset's playback ids.
#[utoipa::path(get, path = "/api/v1/assets/{asset_id}/playback-ids", tag = "assets",
    params(("asset_id" = String, Path, description = "Asset id")),
    responses(
        (status = 200, description = "Playback ids", body = Vec<PlaybackIdInfo>),
        (status = 401, description = "No valid API key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such asset", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = [])))]
pub async fn list_playback_ids(
    _key: ApiKey,
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<Vec<PlaybackIdInfo>>, ApiError> {
    let id = asset_id(&id)?;
    Ok(Json(load(&app, &id).await?.playback_ids))
}

/// Asks for a new playback id.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePlaybackId {
    /// `public` (signed playback ids arrive with signed playback).
    pub policy: PlaybackPolicy,
}

/// Add a playback id to an asset.
#[utoipa::path(post, path = "/api/v1/assets/{asset_id}/playback-ids", tag = "assets",
    params(("asset_id" = String, Path, description = "Asset id")),
    request_body = CreatePlaybackId,
    responses(
        (status = 201, description = "The new playback id", body = PlaybackIdInfo),
        (status = 400, description = "Invalid request", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid API key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such asset", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = [])))]
pub async fn create_playback_id(
    _key: ApiKey,
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    body: Result<Json<CreatePlaybackId>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<PlaybackIdInfo>), ApiError> {
    let id = asset_id(&id)?;
    let Json(req) = body.map_err(super::json_rejection)?;
    let p = app
        .add_playback_id(&id, req.policy)
        .await
        .map_err(|e| match e {
            AppError::NotFound => ApiError::not_found("asset"),
            other => other.into(),
        })?;
    Ok((StatusCode::CREATED, Json(p)))
}

/// Revoke a playback id: every edge stops serving it (the media stay).
#[utoipa::path(delete, path = "/api/v1/assets/{asset_id}/playback-ids/{playback_id}", tag = "assets",
    params(
        ("asset_id" = String, Path, description = "Asset id"),
        ("playback_id" = String, Path, description = "Playback id"),
    ),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "No valid API key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such asset or playback id", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = [])))]
pub async fn delete_playback_id(
    _key: ApiKey,
    State(app): State<Arc<App>>,
    Path((id, pid)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let id = asset_id(&id)?;
    let pid = PlaybackId::parse(&pid).map_err(|_| ApiError::not_found("playback id"))?;
    app.remove_playback_id(&id, &pid)
        .await
        .map_err(|e| match e {
            AppError::NotFound => ApiError::not_found("playback id"),
            other => other.into(),
        })?;
    Ok(StatusCode::NO_CONTENT)
}

/// A person's moderation decision.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewRequest {
    /// `approve` (publish) or `block` (the edge answers 451).
    pub decision: ReviewDecision,
    /// Why (1–500 characters), kept in the audit trail.
    pub reason: String,
}

/// Approve or block a published (or blocked) asset by hand.
#[utoipa::path(post, path = "/api/v1/assets/{asset_id}/moderation", tag = "assets",
    params(("asset_id" = String, Path, description = "Asset id")),
    request_body = ReviewRequest,
    responses(
        (status = 200, description = "The asset after the decision", body = AssetView),
        (status = 400, description = "Invalid request", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid API key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such asset", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The asset is not ready or blocked", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = [])))]
pub async fn review(
    key: ApiKey,
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    body: Result<Json<ReviewRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<AssetView>, ApiError> {
    let id = asset_id(&id)?;
    let Json(req) = body.map_err(super::json_rejection)?;
    let reason = req.reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(ApiError::bad_request("reason is 1-500 characters"));
    }
    let review = Review {
        decision: req.decision,
        reason: reason.to_string(),
        by: key.id,
        at: crate::app::now_rfc3339(),
    };
    let asset = app.review(&id, review).await.map_err(|e| match e {
        AppError::NotFound => ApiError::not_found("asset"),
        other => other.into(),
    })?;
    Ok(Json(AssetView::of(&asset, &app.config.edge_url)))
}

/// Checks a caption language code (a language code as audio tracks use: `en`, `pt-br`, `und`).
fn caption_lang(lang: &str) -> Result<(), ApiError> {
    if sunomi_packager::names::is_valid_audio_track(lang) {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "{lang:?} is not a language code (en, pt-br, und…)"
        )))
    }
}

/// Upload (or replace) an asset's captions in one language: WebVTT, checked by the
/// packager's parser before it is stored; every edge is purged so playlists list it.
#[utoipa::path(put, path = "/api/v1/assets/{asset_id}/captions/{lang}", tag = "assets",
    params(
        ("asset_id" = String, Path, description = "Asset id"),
        ("lang" = String, Path, description = "Language code (en, pt-br…)"),
    ),
    request_body(content = String, content_type = "text/vtt", description = "A WebVTT file"),
    responses(
        (status = 204, description = "Stored"),
        (status = 400, description = "Not WebVTT, or not a language code", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid API key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such asset", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Larger than 2 MB", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = [])))]
pub async fn put_captions(
    _key: ApiKey,
    State(app): State<Arc<App>>,
    Path((id, lang)): Path<(String, String)>,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<StatusCode, ApiError> {
    let id = asset_id(&id)?;
    caption_lang(&lang)?;
    let body = body.map_err(|e| ApiError::new(e.status(), "invalid_body", e.body_text()))?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::bad_request("captions must be UTF-8 WebVTT"))?;
    sunomi_packager::vtt::parse(text)
        .map_err(|e| ApiError::bad_request(format!("not valid WebVTT: {e}")))?;
    load(&app, &id).await?;
    app.put_captions(&id, &lang, body).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Delete an asset's captions in one language (every edge is purged).
#[utoipa::path(delete, path = "/api/v1/assets/{asset_id}/captions/{lang}", tag = "assets",
    params(
        ("asset_id" = String, Path, description = "Asset id"),
        ("lang" = String, Path, description = "Language code"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Not a language code", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid API key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such asset or captions", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = [])))]
pub async fn delete_captions(
    _key: ApiKey,
    State(app): State<Arc<App>>,
    Path((id, lang)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let id = asset_id(&id)?;
    caption_lang(&lang)?;
    load(&app, &id).await?;
    app.delete_captions(&id, &lang).await.map_err(|e| match e {
        AppError::NotFound => ApiError::not_found("captions"),
        other => other.into(),
    })?;
    Ok(StatusCode::NO_CONTENT)
}
