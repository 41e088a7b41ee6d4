//! `/api/v1/videos`: people's videos. A signed-in person starts one (its upload's tus URL
//! and an upload-only token come back: the browser never holds an API key), anyone lists
//! the public ones and reads what they may see (someone else's private video is 404, never
//! 403), owners edit and delete their own.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::accounts::{SignedIn, Viewer};
use super::assets::playback_url;
use super::problem::{errors, ApiError, ErrorCode};
use super::uploads::{base_url, rfc3339};
use crate::config::Config;
use crate::db::videos::Listed;
use crate::domain::asset::{AssetStatus, PlaybackPolicy};
use crate::domain::videos::{Order, Visibility, MAX_DESCRIPTION, MAX_TITLE};
use crate::domain::warnings::{ContentFlag, ContentPolicy, WarningAction};
use crate::services::accounts::Accounts;
use crate::services::videos::{VideoEdit, VideoError, Videos};

impl From<VideoError> for ApiError {
    fn from(e: VideoError) -> Self {
        let text = e.to_string();
        match e {
            VideoError::Input(_) | VideoError::Empty => ApiError::bad_request(text),
            VideoError::NotFound => ApiError::not_found("video"),
            VideoError::Forbidden => ApiError::new(ErrorCode::Forbidden, text),
            VideoError::TooLarge(_) => ApiError::new(ErrorCode::TooLarge, text),
            VideoError::App(a) => a.into(),
        }
    }
}

/// Who made a video.
#[derive(Debug, Serialize, ToSchema)]
pub struct Owner {
    /// `u_…`.
    pub id: String,
    /// Their display name.
    pub display_name: String,
}

/// A video as people see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct VideoView {
    /// The video's id (its asset's).
    pub id: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// `public`, `unlisted` or `private`.
    pub visibility: Visibility,
    /// Who made it.
    pub owner: Owner,
    /// Where its media stand (`waiting_upload`, `transcoding`, `ready`, `blocked`, …).
    pub status: AssetStatus,
    /// Seconds, once validated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<f64>,
    /// The HLS URL on the edge fleet, for a ready public or unlisted video.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub playback_url: Option<String>,
    /// When it was made (RFC 3339).
    pub created_at: String,
    /// Views counted: players the edges served real media to, once per viewer an hour.
    pub views: i64,
    /// Why it failed, for a video that ended `errored`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<VideoProblem>,
    /// What viewers are warned about, for a video with content flags.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_warning: Option<ContentWarning>,
}

/// A video's content warning, and what this viewer's policy does about it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContentWarning {
    /// Every flag: its uploader's and moderation's.
    pub flags: Vec<ContentFlag>,
    /// The flags in words, for the warning ("This video may contain sensitive content
    /// related to: …").
    pub labels: Vec<String>,
    /// Its uploader's summary (may be empty).
    pub summary: String,
    /// What this viewer's policy does: `show` (no warning), `warn`, `blur` or `hide`.
    pub action: WarningAction,
    /// The flags its uploader set (the studio edits these; moderation's are a moderator's).
    pub uploader_flags: Vec<ContentFlag>,
}

impl ContentWarning {
    /// The warning on `l` for a viewer with `policy`; `None` for a video without flags.
    pub fn of(l: &Listed, policy: &ContentPolicy) -> Option<ContentWarning> {
        let flags = l.warnings();
        (!flags.is_empty()).then(|| ContentWarning {
            flags: flags.to_vec(),
            labels: flags
                .to_vec()
                .iter()
                .map(|f| f.label().to_string())
                .collect(),
            summary: l.video.warning_summary.clone(),
            action: policy.action_for(flags),
            uploader_flags: l.video.flags.to_vec(),
        })
    }
}

/// Why a video failed, for the person who uploaded it.
#[derive(Debug, Serialize, ToSchema)]
pub struct VideoProblem {
    /// The stable code (`ERR_NON_VIDEO`, …).
    pub code: crate::domain::asset::AssetErrorCode,
    /// What it means, in plain words.
    pub reason: String,
}

impl VideoView {
    /// The view of a listed video, whose edges are at `edge_url`, for a viewer with `policy`.
    pub fn of(l: &Listed, edge_url: &str, policy: &ContentPolicy) -> VideoView {
        let public_id = l
            .asset
            .playback_ids
            .iter()
            .find(|p| p.policy == PlaybackPolicy::Public);
        VideoView {
            id: l.video.asset_id.clone(),
            title: l.video.title.clone(),
            description: l.video.description.clone(),
            visibility: l.video.visibility,
            owner: Owner {
                id: l.video.owner_id.clone(),
                display_name: l.owner_name.clone(),
            },
            status: l.asset.status,
            duration: l.asset.duration,
            playback_url: (l.asset.status == AssetStatus::Ready)
                .then_some(public_id)
                .flatten()
                .map(|p| playback_url(edge_url, p.id.as_str())),
            created_at: l.video.created_at.clone(),
            views: l.views,
            error: l.asset.errors.as_ref().map(|e| VideoProblem {
                code: e.code,
                reason: e.code.plain().to_string(),
            }),
            content_warning: ContentWarning::of(l, policy),
        }
    }
}

/// A new video.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateVideo {
    /// 1–100 characters, not only spaces.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub title: String,
    /// At most 5,000 characters.
    #[serde(default)]
    #[schema(
        max_length = 5000,
        pattern = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"
    )]
    pub description: String,
    /// Default `public`.
    #[serde(default)]
    pub visibility: Visibility,
    /// The file's size in bytes.
    #[schema(minimum = 1)]
    #[serde(deserialize_with = "crate::json_int::u64")]
    pub size: u64,
    /// The spoken language, for the captions (two or three lowercase letters: `en`, `fr`);
    /// absent: detected.
    #[schema(pattern = "^[a-z]{2,3}$")]
    pub language: Option<String>,
}

/// Where the browser sends the file.
#[derive(Debug, Serialize, ToSchema)]
pub struct VideoUpload {
    /// The upload's id.
    pub id: String,
    /// The tus upload URL (`PATCH` it, `HEAD` it to resume).
    pub url: String,
    /// The upload-only token (`Authorization: Bearer ut_…`), shown once.
    pub token: String,
    /// When the token stops working (RFC 3339).
    pub token_expires_at: String,
}

/// A video just started, and where its file goes.
#[derive(Debug, Serialize, ToSchema)]
pub struct NewVideo {
    /// The video.
    pub video: VideoView,
    /// Its upload.
    pub upload: VideoUpload,
}

errors!(CreateVideoErrors: Unauthorized, CsrfFailed, InvalidRequest, UnsupportedMediaType, TooLarge, Unavailable, PropagationPending, InvalidState);

/// Start a video: its upload comes back (tus URL and upload-only token).
#[utoipa::path(post, path = "/api/v1/videos", tag = "videos",
    params(("X-CSRF-Token" = String, Header, description = "The session's CSRF token")),
    request_body = CreateVideo,
    responses(
        (status = 201, description = "The video and its upload", body = NewVideo),
        CreateVideoErrors,
    ),
    security(("session" = [])))]
pub async fn create_video(
    signed_in: SignedIn,
    State(videos): State<Arc<Videos>>,
    State(config): State<Arc<Config>>,
    headers: HeaderMap,
    body: Result<Json<CreateVideo>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<NewVideo>), ApiError> {
    let Json(ask) = body.map_err(super::json_rejection)?;
    let user = &signed_in.0.user;
    if let Some(lang) = &ask.language {
        super::assets::caption_lang(lang)?;
    }
    let (video, upload, token) = videos
        .create(
            user,
            &ask.title,
            &ask.description,
            ask.visibility,
            ask.size,
            ask.language.as_deref(),
        )
        .await?;
    let listed = videos.get(Some(user), &video.asset_id).await?;
    Ok((
        StatusCode::CREATED,
        Json(NewVideo {
            // A new video has no content flags: no policy applies yet.
            video: VideoView::of(&listed, &config.edge_url, &ContentPolicy::default()),
            upload: VideoUpload {
                id: upload.id.to_string(),
                url: format!("{}/api/v1/tus/{}", base_url(&config, &headers), upload.id),
                token,
                token_expires_at: rfc3339(upload.token_expires_at.unwrap_or_default()),
            },
        }),
    ))
}

/// Which page.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Page number, from 1.
    #[param(minimum = 1, maximum = 100000)]
    pub page: Option<u32>,
    /// Videos per page (1–100, default 24).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

/// A page of videos.
#[derive(Debug, Serialize, ToSchema)]
pub struct VideoList {
    /// Newest first.
    pub data: Vec<VideoView>,
    /// This page's number.
    pub page: u32,
    /// Whether another page follows.
    pub has_more: bool,
}

impl VideoList {
    /// Page `page` of `found` (whether `more` follow), for edges at `edge_url` and a viewer
    /// with `policy`.
    pub fn of(
        found: &[Listed],
        page: u32,
        has_more: bool,
        edge_url: &str,
        policy: &ContentPolicy,
    ) -> VideoList {
        VideoList {
            data: found
                .iter()
                .map(|l| VideoView::of(l, edge_url, policy))
                .collect(),
            page,
            has_more,
        }
    }
}

/// `(page, limit, offset)` of `?page=&limit=` (1–100,000 and 1–100), or 400.
pub fn paging(
    params: Result<Query<PageParams>, axum::extract::rejection::QueryRejection>,
) -> Result<(u32, u32, u64), ApiError> {
    let Query(p) = params.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let page = p.page.unwrap_or(1);
    let limit = p.limit.unwrap_or(24);
    if !(1..=100_000).contains(&page) || !(1..=100).contains(&limit) {
        return Err(ApiError::bad_request("page is 1-100000 and limit 1-100"));
    }
    Ok((page, limit, u64::from(page - 1) * u64::from(limit)))
}

errors!(ListVideosErrors: InvalidRequest, Unavailable);

/// The order of a list of public videos.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrderParams {
    /// `newest` (default) or `popular` (most viewed first).
    pub sort: Option<Order>,
}

/// Public videos that are ready, newest (or most viewed) first; without those the caller's
/// content policy hides.
#[utoipa::path(get, path = "/api/v1/videos", tag = "videos",
    params(PageParams, OrderParams),
    responses(
        (status = 200, description = "A page of public videos", body = VideoList),
        ListVideosErrors,
    ))]
pub async fn list_videos(
    viewer: Viewer,
    State(videos): State<Arc<Videos>>,
    State(config): State<Arc<Config>>,
    params: Result<Query<PageParams>, axum::extract::rejection::QueryRejection>,
    order: Result<Query<OrderParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<VideoList>, ApiError> {
    let (page, limit, offset) = paging(params)?;
    let Query(order) = order.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let (found, has_more) = videos
        .public_page(
            viewer.policy.hidden(),
            order.sort.unwrap_or_default(),
            limit,
            offset,
        )
        .await?;
    Ok(Json(VideoList::of(
        &found,
        page,
        has_more,
        &config.edge_url,
        &viewer.policy,
    )))
}

errors!(MyVideosErrors: Unauthorized, InvalidRequest, Unavailable);

/// The signed-in person's videos, in any state, newest first.
#[utoipa::path(get, path = "/api/v1/me/videos", tag = "videos",
    params(PageParams),
    responses(
        (status = 200, description = "A page of my videos", body = VideoList),
        MyVideosErrors,
    ),
    security(("session" = [])))]
pub async fn my_videos(
    signed_in: SignedIn,
    State(videos): State<Arc<Videos>>,
    State(accounts): State<Arc<Accounts>>,
    State(config): State<Arc<Config>>,
    params: Result<Query<PageParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<VideoList>, ApiError> {
    let (page, limit, offset) = paging(params)?;
    let user = &signed_in.0.user;
    let (found, has_more) = videos.owned_page(user, limit, offset).await?;
    Ok(Json(VideoList::of(
        &found,
        page,
        has_more,
        &config.edge_url,
        &accounts.content_policy_of(Some(user)),
    )))
}

errors!(GetVideoErrors: NotFound, Unavailable);

/// One video, if the caller may see it (a private video is its owner's).
#[utoipa::path(get, path = "/api/v1/videos/{video_id}", tag = "videos",
    params(("video_id" = String, Path, description = "Video id")),
    responses(
        (status = 200, description = "The video", body = VideoView),
        GetVideoErrors,
    ))]
pub async fn get_video(
    viewer: Viewer,
    State(videos): State<Arc<Videos>>,
    State(config): State<Arc<Config>>,
    Path(id): Path<String>,
) -> Result<Json<VideoView>, ApiError> {
    let listed = videos.get(viewer.user(), &id).await?;
    Ok(Json(VideoView::of(
        &listed,
        &config.edge_url,
        &viewer.policy,
    )))
}

/// What to change (absent fields stay).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateVideo {
    /// 1–100 characters, not only spaces.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub title: Option<String>,
    /// At most 5,000 characters.
    #[schema(
        max_length = 5000,
        pattern = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"
    )]
    pub description: Option<String>,
    /// `public`, `unlisted` or `private`.
    pub visibility: Option<Visibility>,
    /// The content flags I warn viewers about (replacing mine; a moderator's stay).
    pub flags: Option<Vec<ContentFlag>>,
    /// What the flags are about, in my words (at most 500 characters, one line).
    #[schema(max_length = 500, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    pub warning_summary: Option<String>,
}

errors!(UpdateVideoErrors: Unauthorized, CsrfFailed, InvalidRequest, UnsupportedMediaType, Forbidden, NotFound, Unavailable, PropagationPending, InvalidState);

/// Change my video's title, description or visibility.
#[utoipa::path(patch, path = "/api/v1/videos/{video_id}", tag = "videos",
    params(("video_id" = String, Path, description = "Video id"),
        ("X-CSRF-Token" = String, Header, description = "The session's CSRF token")),
    request_body = UpdateVideo,
    responses(
        (status = 200, description = "The video as it is now", body = VideoView),
        UpdateVideoErrors,
    ),
    security(("session" = [])))]
pub async fn update_video(
    signed_in: SignedIn,
    State(videos): State<Arc<Videos>>,
    State(accounts): State<Arc<Accounts>>,
    State(config): State<Arc<Config>>,
    Path(id): Path<String>,
    body: Result<Json<UpdateVideo>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<VideoView>, ApiError> {
    let Json(ask) = body.map_err(super::json_rejection)?;
    let edit = VideoEdit {
        title: ask.title,
        description: ask.description,
        visibility: ask.visibility,
        flags: ask.flags,
        warning_summary: ask.warning_summary,
    };
    let user = &signed_in.0.user;
    let listed = videos.update(user, &id, edit).await?;
    Ok(Json(VideoView::of(
        &listed,
        &config.edge_url,
        &accounts.content_policy_of(Some(user)),
    )))
}

errors!(DeleteVideoErrors: Unauthorized, CsrfFailed, Forbidden, NotFound, Unavailable, PropagationPending);

/// Delete my video: its media go, and every edge stops serving it.
#[utoipa::path(delete, path = "/api/v1/videos/{video_id}", tag = "videos",
    params(("video_id" = String, Path, description = "Video id"),
        ("X-CSRF-Token" = String, Header, description = "The session's CSRF token")),
    responses(
        (status = 204, description = "Deleted"),
        DeleteVideoErrors,
    ),
    security(("session" = [])))]
pub async fn delete_video(
    signed_in: SignedIn,
    State(videos): State<Arc<Videos>>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    videos.delete(&signed_in.0.user, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Bounds the document states for titles and descriptions (kept beside the checks).
const _: () = assert!(MAX_TITLE == 100 && MAX_DESCRIPTION == 5000);
