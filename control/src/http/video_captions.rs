//! `/api/v1/videos/{id}/captions/{lang}`: an uploader's captions for their own video, with
//! their session (the studio): upload or replace WebVTT, delete. The same checks and the same
//! service as the API-key route on assets; someone else's video is 404 (or 403 when they may
//! see but not change it).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;

use super::accounts::SignedIn;
use super::assets::{caption_lang, webvtt_body, WebVttFile};
use super::problem::{errors, ApiError};
use crate::app::AppError;
use crate::domain::asset::CaptionSource;
use crate::domain::ids::AssetId;
use crate::services::captions::Captions;
use crate::services::videos::Videos;

errors!(PutVideoCaptionsErrors: Unauthorized, CsrfFailed, Forbidden, InvalidRequest, InvalidBody, NotFound, TooLarge, Unavailable, PropagationPending, InvalidState);

/// Upload (or replace) my video's captions in one language (WebVTT).
#[utoipa::path(put, path = "/api/v1/videos/{video_id}/captions/{lang}", tag = "videos",
    params(
        ("video_id" = String, Path, description = "Video id"),
        ("lang" = String, Path, description = "Language code: two or three lowercase letters (en, por, und)", pattern = "^[a-z]{2,3}$"),
        ("X-CSRF-Token" = String, Header, description = "The session's CSRF token"),
    ),
    request_body(content = WebVttFile, content_type = "text/vtt", description = "A WebVTT file"),
    responses(
        (status = 204, description = "Stored"),
        PutVideoCaptionsErrors,
    ),
    security(("session" = [])))]
pub async fn put(
    signed_in: SignedIn,
    State(videos): State<Arc<Videos>>,
    State(captions): State<Arc<Captions>>,
    Path((id, lang)): Path<(String, String)>,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<StatusCode, ApiError> {
    caption_lang(&lang)?;
    let listed = videos.editable(&signed_in.0.user, &id).await?;
    let body = webvtt_body(body)?;
    let id = AssetId::parse(&listed.video.asset_id).map_err(|_| ApiError::not_found("video"))?;
    captions
        .put(&id, &lang, body, CaptionSource::Uploaded)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

errors!(DeleteVideoCaptionsErrors: Unauthorized, CsrfFailed, Forbidden, InvalidRequest, NotFound, Unavailable, PropagationPending);

/// Delete my video's captions in one language.
#[utoipa::path(delete, path = "/api/v1/videos/{video_id}/captions/{lang}", tag = "videos",
    params(
        ("video_id" = String, Path, description = "Video id"),
        ("lang" = String, Path, description = "Language code: two or three lowercase letters (en, por, und)", pattern = "^[a-z]{2,3}$"),
        ("X-CSRF-Token" = String, Header, description = "The session's CSRF token"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        DeleteVideoCaptionsErrors,
    ),
    security(("session" = [])))]
pub async fn delete(
    signed_in: SignedIn,
    State(videos): State<Arc<Videos>>,
    State(captions): State<Arc<Captions>>,
    Path((id, lang)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    caption_lang(&lang)?;
    let listed = videos.editable(&signed_in.0.user, &id).await?;
    let id = AssetId::parse(&listed.video.asset_id).map_err(|_| ApiError::not_found("video"))?;
    captions.delete(&id, &lang).await.map_err(|e| match e {
        AppError::NotFound => ApiError::not_found("captions"),
        other => other.into(),
    })?;
    Ok(StatusCode::NO_CONTENT)
}
