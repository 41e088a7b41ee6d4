//! `POST /api/v1/videos/{id}/views`: the watch page hands in the receipt an edge gave its
//! player (`services::views`). Guests may call it; a signed-in person counts as their account
//! only with the session's CSRF token (otherwise as a guest).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::accounts::{csrf_passes, MaybeSignedIn};
use super::auth::ClientAddr;
use super::problem::{errors, ApiError, ErrorCode};
use crate::config::Config;
use crate::services::views::{ViewError, Views};

impl From<ViewError> for ApiError {
    fn from(e: ViewError) -> Self {
        let text = e.to_string();
        match e {
            ViewError::Invalid(_) => ApiError::new(ErrorCode::InvalidReceipt, text),
            ViewError::TooEarly(secs) => ApiError::new(ErrorCode::TooEarly, text)
                .with_header_value(axum::http::header::RETRY_AFTER, secs.into()),
            ViewError::Video(v) => v.into(),
        }
    }
}

/// A receipt to count.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ViewRequest {
    /// The `Sunomi-View-Receipt` an edge answered the player's media requests with.
    #[schema(
        max_length = 300,
        pattern = r"^r1\.[A-Za-z0-9_-]{1,64}\.[A-Za-z0-9_-]{1,64}\.[0-9]{1,19}\.[0-9]{1,19}\.[0-9]{1,19}\.[0-9a-f]{32}$"
    )]
    pub receipt: String,
}

/// What counting did.
#[derive(Debug, Serialize, ToSchema)]
pub struct ViewCount {
    /// Whether this receipt added a view (not when the receipt was counted before, or the
    /// viewer was counted for this video within the hour).
    pub counted: bool,
    /// The video's views now.
    pub views: i64,
}

errors!(CountViewErrors: JSON_BODY, InvalidReceipt, NotFound, TooEarly, Unavailable);

/// Count a view from an edge's receipt.
#[utoipa::path(post, path = "/api/v1/videos/{video_id}/views", tag = "social",
    params(("video_id" = String, Path, description = "Video id")),
    request_body = ViewRequest,
    responses((status = 200, description = "Counted, or already counted", body = ViewCount),
        CountViewErrors))]
pub async fn count_view(
    MaybeSignedIn(session): MaybeSignedIn,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    State(views): State<Arc<Views>>,
    State(config): State<Arc<Config>>,
    Path(id): Path<String>,
    body: Result<Json<ViewRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<ViewCount>, ApiError> {
    let Json(body) = body.map_err(super::json_rejection)?;
    let user = session
        .as_ref()
        .filter(|s| csrf_passes(&headers, s, &config))
        .map(|s| &s.user);
    let counted = views.count(user, addr, &id, &body.receipt).await?;
    Ok(Json(ViewCount {
        counted: counted.added,
        views: counted.views,
    }))
}
