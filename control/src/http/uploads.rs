//! `/api/v1/uploads`: create an upload (Mux's direct upload: the app's server asks for one
//! and hands its browser the tus URL and a delegated upload token), read, cancel, revoke.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::ApiKey;
use super::problem::{errors, ApiError, ErrorCode};
use crate::app::{now_unix, AppError};
use crate::config::Config;
use crate::direct::{self, CompletedPart, DirectError, SignedPart};
use crate::domain::ids::UploadId;
use crate::domain::upload::{Upload, UploadStatus};
use crate::ingest::Uploads;
use crate::ingest::{self, NewUpload};
use crate::services::api_keys::ApiKeys;

/// Longest `passthrough`.
pub const MAX_PASSTHROUGH: usize = 255;
/// Most `meta` entries; longest key and value.
pub const MAX_META: (usize, usize, usize) = (16, 64, 512);

/// Asks for a new upload.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUpload {
    /// Echoed back on the asset (≤ 255 characters).
    pub passthrough: Option<String>,
    /// Metadata kept on the asset (≤ 16 entries; keys ≤ 64, values ≤ 512 characters).
    pub meta: Option<BTreeMap<String, String>>,
    /// The file's size in bytes, when known: the tus resource then exists at once and the
    /// browser can `PATCH` the returned `url` directly.
    #[serde(default, deserialize_with = "crate::json_int::opt_u64")]
    pub size: Option<u64>,
    /// On `s3://` stores: hand out pre-signed S3 multipart part URLs instead of tus, so the
    /// browser sends the file straight to the bucket (needs `size`), then calls `complete`.
    #[serde(default)]
    pub direct: bool,
}

/// A direct upload's parts.
#[derive(Debug, Serialize, ToSchema)]
pub struct DirectView {
    /// Bytes per part (the last may be shorter).
    pub part_size: u64,
    /// Every part with its pre-signed `PUT` URL (valid as long as the upload token).
    pub parts: Vec<SignedPart>,
    /// `POST` the parts' ETags here when every part is stored.
    pub complete_url: String,
}

/// The parts of a completed direct upload.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteDirect {
    /// Every part, numbered from 1 in order, with the ETag S3 answered.
    pub parts: Vec<CompletedPart>,
}

/// An upload as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct UploadView {
    /// The upload id.
    pub id: String,
    /// Status.
    pub status: UploadStatus,
    /// The asset the upload feeds.
    pub asset_id: String,
    /// The tus creation endpoint (`POST` it with the upload token when `size` was not given).
    pub tus_endpoint: String,
    /// The tus upload URL (`HEAD`/`PATCH`).
    pub url: String,
    /// Bytes received.
    pub offset: u64,
    /// Declared length.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub length: Option<u64>,
    /// The delegated upload token: shown once, at creation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upload_token: Option<String>,
    /// When the token stops working (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_expires_at: Option<String>,
    /// When an unfinished upload expires (RFC 3339).
    pub expires_at: String,
    /// A direct upload's parts (only when created with `direct`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direct: Option<DirectView>,
}

/// RFC 3339 of Unix seconds.
pub fn rfc3339(unix: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(unix)).to_string()
}

/// The base URL the caller reached this API at.
pub fn base_url(config: &Config, headers: &HeaderMap) -> String {
    if let Some(url) = &config.public_url {
        return url.trim_end_matches('/').to_string();
    }
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .map(str::to_string)
        .unwrap_or_else(|| config.listen.to_string());
    format!("http://{host}")
}

impl UploadView {
    /// The view of `u`.
    pub fn of(u: &Upload, base: &str, token: Option<String>) -> UploadView {
        UploadView {
            id: u.id.to_string(),
            status: u.status,
            asset_id: u.asset_id.to_string(),
            tus_endpoint: format!("{base}/api/v1/tus"),
            url: format!("{base}/api/v1/tus/{}", u.id),
            offset: u.offset,
            length: u.length,
            upload_token: token,
            token_expires_at: u.token_expires_at.map(rfc3339),
            expires_at: rfc3339(u.expires_at),
            direct: None,
        }
    }
}

/// Checks the uploader's passthrough and metadata.
pub fn check_asset_fields(
    passthrough: &Option<String>,
    meta: &BTreeMap<String, String>,
) -> Result<(), ApiError> {
    if passthrough
        .as_ref()
        .is_some_and(|p| p.chars().count() > MAX_PASSTHROUGH)
    {
        return Err(ApiError::bad_request(
            "passthrough is at most 255 characters",
        ));
    }
    let (entries, key_len, value_len) = MAX_META;
    if meta.len() > entries
        || meta.iter().any(|(k, v)| {
            k.is_empty() || k.chars().count() > key_len || v.chars().count() > value_len
        })
    {
        return Err(ApiError::bad_request(
            "meta has at most 16 entries, keys of 1-64 and values of at most 512 characters",
        ));
    }
    Ok(())
}

errors!(CreateUploadErrors: API_KEY, JSON_BODY, TooLarge, DirectUploadUnsupported, S3Refused);

errors!(CompleteDirectErrors: API_KEY, JSON_BODY, NotFound, NotDirect, DirectUploadUnsupported, S3Refused, SizeMismatch, UploadEnded);

errors!(GetUploadErrors: API_KEY, NotFound);

errors!(CancelUploadErrors: API_KEY, NotFound, Conflict);

errors!(RevokeTokenErrors: API_KEY, NotFound);

/// Create an upload (and its asset, `waiting_upload`).
#[utoipa::path(post, path = "/api/v1/uploads", tag = "uploads",
    request_body = CreateUpload,
    responses(
        (status = 201, description = "Created; `upload_token` is shown only now", body = UploadView),
        CreateUploadErrors,
    ),
    security(("api_key" = [])))]
pub async fn create_upload(
    _key: ApiKey,
    State(uploads): State<Arc<Uploads>>,
    State(config): State<Arc<Config>>,
    headers: HeaderMap,
    body: Result<Json<CreateUpload>, JsonRejection>,
) -> Result<(StatusCode, Json<UploadView>), ApiError> {
    let Json(req) = body.map_err(super::json_rejection)?;
    let meta = req.meta.unwrap_or_default();
    check_asset_fields(&req.passthrough, &meta)?;
    if req.size.is_some_and(|s| s > config.uploads.max_size) {
        return Err(ApiError::new(
            ErrorCode::TooLarge,
            format!("the largest upload is {} bytes", config.uploads.max_size),
        ));
    }
    let new = NewUpload {
        length: req.size,
        metadata: BTreeMap::new(),
        passthrough: req.passthrough,
        meta,
        tus_created: req.size.is_some(),
        with_token: true,
        video: None,
        intake: None,
    };
    let base = base_url(&config, &headers);
    if !req.direct {
        let (upload, token) = ingest::create(&uploads, new).await?;
        return Ok((
            StatusCode::CREATED,
            Json(UploadView::of(&upload, &base, token)),
        ));
    }
    let size = req
        .size
        .ok_or_else(|| ApiError::bad_request("a direct upload needs its size"))?;
    let (upload, token) = ingest::create_direct(&uploads, new, size)
        .await
        .map_err(direct_error)?;
    let mut view = UploadView::of(&upload, &base, token);
    if let Some(d) = &upload.direct {
        let ttl = Duration::from_secs(config.uploads.token_ttl_secs);
        let parts = direct::sign(uploads.records.store(), &upload.asset_id, d, size, ttl)
            .await
            .map_err(direct_error)?;
        view.direct = Some(DirectView {
            part_size: d.part_size,
            parts,
            complete_url: format!("{base}/api/v1/uploads/{}/complete", upload.id),
        });
    }
    Ok((StatusCode::CREATED, Json(view)))
}

fn direct_error(e: DirectError) -> ApiError {
    match e {
        // The request is sound; this deployment's store cannot serve it.
        DirectError::Unsupported => ApiError::new(
            ErrorCode::DirectUploadUnsupported,
            "direct uploads need an s3:// store; use tus",
        ),
        DirectError::Invalid(m) => ApiError::bad_request(m),
        DirectError::Refused(m) => ApiError::new(ErrorCode::S3Refused, m),
        e @ DirectError::SizeMismatch { .. } => {
            ApiError::new(ErrorCode::SizeMismatch, e.to_string())
        }
        DirectError::App(a) => a.into(),
    }
}

/// Complete a direct upload: S3 assembles the parts, the pipeline goes on.
#[utoipa::path(post, path = "/api/v1/uploads/{upload_id}/complete", tag = "uploads",
    params(("upload_id" = String, Path, description = "Upload id")),
    request_body = CompleteDirect,
    responses(
        (status = 200, description = "Completed; the asset is `uploaded`", body = UploadView),
        CompleteDirectErrors,
    ),
    security(("api_key" = []), ("upload_token" = [])))]
pub async fn complete_direct(
    State(api_keys): State<Arc<ApiKeys>>,
    State(uploads): State<Arc<Uploads>>,
    State(config): State<Arc<Config>>,
    super::auth::ClientAddr(client): super::auth::ClientAddr,
    headers: HeaderMap,
    Path(id): Path<String>,
    request: axum::extract::Request,
) -> Result<Json<UploadView>, ApiError> {
    // The credential first: a stranger's body is never read.
    let who = super::auth::UploadCaller::of(&api_keys, &headers, client).await?;
    let upload = who.load(&api_keys, &uploads, client, &id).await?;
    let id = upload.id.clone();
    let body: Result<Json<CompleteDirect>, JsonRejection> =
        <Json<CompleteDirect> as axum::extract::FromRequest<()>>::from_request(request, &()).await;
    let Json(req) = body.map_err(super::json_rejection)?;
    let Some(d) = &upload.direct else {
        return Err(ApiError::new(
            ErrorCode::NotDirect,
            "not a direct upload (its bytes go through tus)",
        ));
    };
    match upload.status {
        UploadStatus::AssetCreated => {
            return Ok(Json(UploadView::of(
                &upload,
                &base_url(&config, &headers),
                None,
            )))
        }
        UploadStatus::Waiting if !upload.expired(now_unix()) => {}
        _ => {
            return Err(ApiError::new(
                ErrorCode::UploadEnded,
                "the upload expired or ended",
            ))
        }
    }
    match direct::complete(
        uploads.records.store(),
        &upload.asset_id,
        d,
        upload.length.unwrap_or(0),
        &req.parts,
    )
    .await
    {
        Ok(()) => {}
        Err(e @ DirectError::SizeMismatch { .. }) => {
            // The parts are spent (S3 assembled them): the upload cannot go on.
            let error = crate::domain::asset::AssetErrorInfo {
                code: crate::domain::asset::AssetErrorCode::ErrUploadSizeMismatch,
                message: e.to_string(),
            };
            uploads
                .assets
                .end_upload(
                    &id,
                    UploadStatus::Errored,
                    Some("video.upload.errored"),
                    error,
                )
                .await?;
            return Err(direct_error(e));
        }
        Err(e) => return Err(direct_error(e)),
    }
    let upload = ingest::direct_done(&uploads, &id).await?;
    Ok(Json(UploadView::of(
        &upload,
        &base_url(&config, &headers),
        None,
    )))
}

fn upload_id(text: &str) -> Result<UploadId, ApiError> {
    UploadId::parse(text).map_err(|_| ApiError::not_found("upload"))
}

async fn load(uploads: &Uploads, id: &UploadId) -> Result<Upload, ApiError> {
    ingest::get(uploads, id).await.map_err(|e| match e {
        AppError::NotFound => ApiError::not_found("upload"),
        other => other.into(),
    })
}

/// Get an upload.
#[utoipa::path(get, path = "/api/v1/uploads/{upload_id}", tag = "uploads",
    params(("upload_id" = String, Path, description = "Upload id")),
    responses(
        (status = 200, description = "The upload", body = UploadView),
        GetUploadErrors,
    ),
    security(("api_key" = [])))]
pub async fn get_upload(
    _key: ApiKey,
    State(config): State<Arc<Config>>,
    State(uploads): State<Arc<Uploads>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<UploadView>, ApiError> {
    let upload = load(&uploads, &upload_id(&id)?).await?;
    Ok(Json(UploadView::of(
        &upload,
        &base_url(&config, &headers),
        None,
    )))
}

/// Cancel an unfinished upload (its asset ends `errored`, `ERR_UPLOAD_CANCELLED`).
#[utoipa::path(put, path = "/api/v1/uploads/{upload_id}/cancel", tag = "uploads",
    params(("upload_id" = String, Path, description = "Upload id")),
    responses(
        (status = 200, description = "The upload, cancelled (or as it was, if it had already ended)", body = UploadView),
        CancelUploadErrors,
    ),
    security(("api_key" = [])))]
pub async fn cancel_upload(
    _key: ApiKey,
    State(uploads): State<Arc<Uploads>>,
    State(config): State<Arc<Config>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<UploadView>, ApiError> {
    let id = upload_id(&id)?;
    load(&uploads, &id).await?;
    let upload = ingest::end(&uploads, &id, UploadStatus::Cancelled).await?;
    Ok(Json(UploadView::of(
        &upload,
        &base_url(&config, &headers),
        None,
    )))
}

/// Revoke an upload's delegated token.
#[utoipa::path(delete, path = "/api/v1/uploads/{upload_id}/token", tag = "uploads",
    params(("upload_id" = String, Path, description = "Upload id")),
    responses(
        (status = 204, description = "Revoked"),
        RevokeTokenErrors,
    ),
    security(("api_key" = [])))]
pub async fn revoke_token(
    _key: ApiKey,
    State(uploads): State<Arc<Uploads>>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = upload_id(&id)?;
    load(&uploads, &id).await?;
    ingest::revoke_token(&uploads, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
