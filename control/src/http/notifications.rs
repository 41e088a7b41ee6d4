//! `/api/v1/me/notifications`: a signed-in person's notifications — a subscription's new
//! video, a comment on their video or a reply, their video ready, blocked, held or failed, a
//! report decided — and marking them read.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::accounts::SignedIn;
use super::problem::{errors, ApiError};
use crate::app::rfc3339_of_ms;
use crate::domain::notifications::{Notification, NotificationKind};
use crate::services::notifications::Notifications;

/// A notification.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationView {
    /// Its id.
    pub id: String,
    /// What it is about.
    pub kind: NotificationKind,
    /// What it says.
    pub text: String,
    /// Where it leads (a path of the web app).
    pub url: String,
    /// The video it is about.
    pub video_id: String,
    /// When (RFC 3339).
    pub created_at: String,
    /// Whether it was read.
    pub read: bool,
}

impl NotificationView {
    /// The view of `n`.
    pub fn of(n: &Notification) -> NotificationView {
        NotificationView {
            id: n.id.clone(),
            kind: n.kind,
            text: n.text(),
            url: n.link(),
            video_id: n.video_id.clone(),
            created_at: rfc3339_of_ms(n.created_ms),
            read: n.read,
        }
    }
}

/// My notifications.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationList {
    /// The newest 50, newest first.
    pub data: Vec<NotificationView>,
    /// How many are unread in all.
    pub unread: i64,
}

errors!(NotificationsErrors: Unauthorized, Unavailable);

/// My newest notifications and how many are unread.
#[utoipa::path(get, path = "/api/v1/me/notifications", tag = "accounts",
    responses(
        (status = 200, description = "My notifications", body = NotificationList),
        NotificationsErrors,
    ),
    security(("session" = [])))]
pub async fn list(
    signed_in: SignedIn,
    State(notifications): State<Arc<Notifications>>,
) -> Result<Json<NotificationList>, ApiError> {
    let (list, unread) = notifications.of(&signed_in.0.user).await?;
    Ok(Json(NotificationList {
        data: list.iter().map(NotificationView::of).collect(),
        unread,
    }))
}

/// Which notifications were read.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MarkRead {
    /// These (at most 100); absent: all of mine.
    #[schema(max_items = 100)]
    pub ids: Option<Vec<String>>,
}

errors!(MarkReadErrors: Unauthorized, CsrfFailed, InvalidRequest, UnsupportedMediaType, Unavailable);

/// Mark some or all of my notifications read.
#[utoipa::path(post, path = "/api/v1/me/notifications/read", tag = "accounts",
    params(("X-CSRF-Token" = String, Header, description = "The session's CSRF token")),
    request_body = MarkRead,
    responses(
        (status = 204, description = "Marked"),
        MarkReadErrors,
    ),
    security(("session" = [])))]
pub async fn mark_read(
    signed_in: SignedIn,
    State(notifications): State<Arc<Notifications>>,
    body: Result<Json<MarkRead>, axum::extract::rejection::JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let Json(ask) = body.map_err(super::json_rejection)?;
    if ask.ids.as_ref().is_some_and(|ids| ids.len() > 100) {
        return Err(ApiError::bad_request("at most 100 ids at once"));
    }
    notifications
        .mark_read(&signed_in.0.user, ask.ids.as_deref())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
