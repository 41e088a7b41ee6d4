//! Reports and the moderation queue over HTTP: anyone signed in reports a video they may see
//! and follows what came of it (`/api/v1/videos/{id}/reports`, `/api/v1/me/reports`);
//! moderators read the queue and decide (`/api/v1/moderation/…`). Everything here needs a
//! session; the queue needs the moderator role (403 otherwise).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::accounts::{SignedIn, UserView};
use super::problem::{errors, ApiError, ErrorCode};
use super::videos::VideoView;
use crate::app::rfc3339_of_ms;
use crate::config::Config;
use crate::db::reports::AuditEntry;
use crate::domain::reports::{QueueDecision, Report, ReportReason};
use crate::domain::warnings::ContentFlag;
use crate::services::accounts::Accounts;
use crate::services::moderation::{Moderation, ModerationError, NewReport};

impl From<ModerationError> for ApiError {
    fn from(e: ModerationError) -> Self {
        let text = e.to_string();
        match e {
            ModerationError::Input(_) => ApiError::bad_request(text),
            ModerationError::NotFound(what) => ApiError::not_found(what),
            ModerationError::Forbidden => ApiError::new(ErrorCode::Forbidden, text),
            ModerationError::AlreadyReported => ApiError::new(ErrorCode::AlreadyReported, text),
            ModerationError::Throttled => ApiError::new(ErrorCode::RateLimited, text)
                .with_header_value(axum::http::header::RETRY_AFTER, 3600u64.into()),
            ModerationError::Invalid(_) => ApiError::new(ErrorCode::InvalidState, text),
            ModerationError::App(a) => a.into(),
        }
    }
}

/// A report.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewReportBody {
    /// Why.
    pub reason: ReportReason,
    /// In your words (at most 1,000 characters).
    #[serde(default)]
    #[schema(max_length = 1000)]
    pub details: String,
    /// Where it starts in the video, in seconds (with `end_secs`, a range; alone, a moment).
    #[schema(minimum = 0)]
    pub start_secs: Option<f64>,
    /// Where it ends, in seconds (after `start_secs`, within the video).
    #[schema(minimum = 0)]
    pub end_secs: Option<f64>,
}

/// A report, as its reporter and moderators see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportView {
    /// `r_…`.
    pub id: String,
    /// The reported video.
    pub video_id: String,
    /// Why.
    pub reason: ReportReason,
    /// In the reporter's words.
    pub details: String,
    /// Where it starts, in seconds (absent: the whole video).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_secs: Option<f64>,
    /// Where it ends, in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_secs: Option<f64>,
    /// When (RFC 3339).
    pub created_at: String,
    /// `open`, or `decided` once a moderator has.
    pub status: String,
    /// What a moderator decided, once they have.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<QueueDecision>,
    /// What came of it, in words, once decided.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
}

impl ReportView {
    /// The view of `r`.
    pub fn of(r: &Report) -> ReportView {
        ReportView {
            id: r.id.clone(),
            video_id: r.video_id.clone(),
            reason: r.reason,
            details: r.details.clone(),
            start_secs: r.range_ms.map(|(s, _)| s as f64 / 1000.0),
            end_secs: r.range_ms.map(|(_, e)| e as f64 / 1000.0),
            created_at: rfc3339_of_ms(r.created_ms),
            status: if r.decision.is_some() {
                "decided"
            } else {
                "open"
            }
            .into(),
            decision: r.decision,
            outcome: r.decision.map(|d| d.outcome().to_string()),
        }
    }
}

errors!(ReportErrors: Unauthorized, CsrfFailed, InvalidRequest, UnsupportedMediaType, NotFound, AlreadyReported, RateLimited, Unavailable);

/// Report a video I may see: why, and where in it. A moderator decides; my report says what
/// came of it.
#[utoipa::path(post, path = "/api/v1/videos/{video_id}/reports", tag = "moderation",
    params(("video_id" = String, Path, description = "Video id"),
        ("X-CSRF-Token" = String, Header, description = "The session's CSRF token")),
    request_body = NewReportBody,
    responses(
        (status = 201, description = "Reported", body = ReportView),
        ReportErrors,
    ),
    security(("session" = [])))]
pub async fn report(
    signed_in: SignedIn,
    State(moderation): State<Arc<Moderation>>,
    Path(id): Path<String>,
    body: Result<Json<NewReportBody>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<ReportView>), ApiError> {
    let Json(ask) = body.map_err(super::json_rejection)?;
    let new = NewReport {
        reason: ask.reason,
        details: ask.details,
        start_secs: ask.start_secs,
        end_secs: ask.end_secs,
    };
    let r = moderation.report(&signed_in.0.user, &id, new).await?;
    Ok((StatusCode::CREATED, Json(ReportView::of(&r))))
}

/// A list of reports.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportList {
    /// Newest first.
    pub data: Vec<ReportView>,
}

errors!(MyReportsErrors: Unauthorized, Unavailable);

/// My reports (the newest 100) and what came of them.
#[utoipa::path(get, path = "/api/v1/me/reports", tag = "moderation",
    responses(
        (status = 200, description = "My reports", body = ReportList),
        MyReportsErrors,
    ),
    security(("session" = [])))]
pub async fn my_reports(
    signed_in: SignedIn,
    State(moderation): State<Arc<Moderation>>,
) -> Result<Json<ReportList>, ApiError> {
    let reports = moderation.reports_of(&signed_in.0.user).await?;
    Ok(Json(ReportList {
        data: reports.iter().map(ReportView::of).collect(),
    }))
}

/// A video waiting for a moderator.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueueVideo {
    /// The video.
    pub video: VideoView,
    /// Held unpublished until someone decides.
    pub held: bool,
    /// Its open reports, oldest first.
    pub reports: Vec<ReportView>,
}

/// Everything waiting for a moderator.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueueView {
    /// Held and reported videos.
    pub videos: Vec<QueueVideo>,
    /// Accounts waiting for approval.
    pub registrations: Vec<UserView>,
}

errors!(QueueErrors: Unauthorized, Forbidden, Unavailable);

/// The moderation queue: held videos, reported videos, registrations awaiting approval.
#[utoipa::path(get, path = "/api/v1/moderation/queue", tag = "moderation",
    operation_id = "moderation_queue",
    responses(
        (status = 200, description = "The queue", body = QueueView),
        QueueErrors,
    ),
    security(("session" = [])))]
pub async fn queue(
    signed_in: SignedIn,
    State(moderation): State<Arc<Moderation>>,
    State(accounts): State<Arc<Accounts>>,
    State(config): State<Arc<Config>>,
) -> Result<Json<QueueView>, ApiError> {
    let user = &signed_in.0.user;
    let q = moderation.queue(user).await?;
    let policy = accounts.content_policy_of(Some(user));
    Ok(Json(QueueView {
        videos: q
            .videos
            .iter()
            .map(|i| QueueVideo {
                video: VideoView::of(&i.listed, &config.edge_url, &policy),
                held: i.held,
                reports: i.reports.iter().map(ReportView::of).collect(),
            })
            .collect(),
        registrations: q.registrations.iter().map(UserView::of).collect(),
    }))
}

/// A moderator's decision about a video.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VideoDecision {
    /// `approve` (publish as it is), `warn` (publish behind a content warning: name its
    /// `flags`), `block` (every edge answers 451) or `dismiss` (close its reports only).
    pub decision: QueueDecision,
    /// With `warn`: what viewers are warned about.
    #[serde(default)]
    pub flags: Vec<ContentFlag>,
    /// Why (1–500 characters, one line), kept in the audit log.
    #[schema(min_length = 1, max_length = 500)]
    pub reason: String,
}

errors!(DecideErrors: Unauthorized, CsrfFailed, Forbidden, InvalidRequest, UnsupportedMediaType, NotFound, InvalidState, Unavailable, PropagationPending);

/// Decide about a held or reported video. Its open reports close with the decision.
#[utoipa::path(post, path = "/api/v1/moderation/videos/{video_id}", tag = "moderation",
    params(("video_id" = String, Path, description = "Video id"),
        ("X-CSRF-Token" = String, Header, description = "The session's CSRF token")),
    request_body = VideoDecision,
    responses(
        (status = 200, description = "The video as it is now", body = VideoView),
        DecideErrors,
    ),
    security(("session" = [])))]
pub async fn decide(
    signed_in: SignedIn,
    State(moderation): State<Arc<Moderation>>,
    State(accounts): State<Arc<Accounts>>,
    State(config): State<Arc<Config>>,
    Path(id): Path<String>,
    body: Result<Json<VideoDecision>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<VideoView>, ApiError> {
    let Json(ask) = body.map_err(super::json_rejection)?;
    let user = &signed_in.0.user;
    let listed = moderation
        .decide(user, &id, ask.decision, &ask.flags, &ask.reason)
        .await?;
    Ok(Json(VideoView::of(
        &listed,
        &config.edge_url,
        &accounts.content_policy_of(Some(user)),
    )))
}

/// A moderator's decision about a registration.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegistrationDecision {
    /// `approve` (the account may sign in) or `reject` (it is disabled).
    #[schema(pattern = "^(approve|reject)$")]
    pub decision: String,
    /// Why (1–500 characters, one line), kept in the audit log.
    #[schema(min_length = 1, max_length = 500)]
    pub reason: String,
}

errors!(RegistrationErrors: Unauthorized, CsrfFailed, Forbidden, InvalidRequest, UnsupportedMediaType, NotFound, InvalidState, Unavailable);

/// Approve or reject an account waiting for approval.
#[utoipa::path(post, path = "/api/v1/moderation/registrations/{user_id}", tag = "moderation",
    params(("user_id" = String, Path, description = "Account id"),
        ("X-CSRF-Token" = String, Header, description = "The session's CSRF token")),
    request_body = RegistrationDecision,
    responses(
        (status = 200, description = "The account as it is now", body = UserView),
        RegistrationErrors,
    ),
    security(("session" = [])))]
pub async fn decide_registration(
    signed_in: SignedIn,
    State(moderation): State<Arc<Moderation>>,
    Path(id): Path<String>,
    body: Result<Json<RegistrationDecision>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<UserView>, ApiError> {
    let Json(ask) = body.map_err(super::json_rejection)?;
    let approve = match ask.decision.as_str() {
        "approve" => true,
        "reject" => false,
        _ => return Err(ApiError::bad_request("decision is approve or reject")),
    };
    let account = moderation
        .decide_registration(&signed_in.0.user, &id, approve, &ask.reason)
        .await?;
    Ok(Json(UserView::of(&account)))
}

/// One decision in the audit log.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditView {
    /// `l_…`.
    pub id: String,
    /// When (RFC 3339).
    pub at: String,
    /// Who (an account id).
    pub actor_id: String,
    /// What: `video.approve`, `video.warn:violence`, `video.block`, `video.dismiss`,
    /// `registration.approve`, `registration.reject`.
    pub action: String,
    /// On what (a video or account id).
    pub subject: String,
    /// Why.
    pub reason: String,
}

impl AuditView {
    fn of(e: &AuditEntry) -> AuditView {
        AuditView {
            id: e.id.clone(),
            at: rfc3339_of_ms(e.at_ms),
            actor_id: e.actor_id.clone(),
            action: e.action.clone(),
            subject: e.subject.clone(),
            reason: e.reason.clone(),
        }
    }
}

/// The audit log.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditList {
    /// Newest first (at most 200).
    pub data: Vec<AuditView>,
}

errors!(AuditErrors: Unauthorized, Forbidden, Unavailable);

/// Who decided what, on what, why and when.
#[utoipa::path(get, path = "/api/v1/moderation/audit", tag = "moderation",
    responses(
        (status = 200, description = "The newest decisions", body = AuditList),
        AuditErrors,
    ),
    security(("session" = [])))]
pub async fn audit(
    signed_in: SignedIn,
    State(moderation): State<Arc<Moderation>>,
) -> Result<Json<AuditList>, ApiError> {
    let entries = moderation.audit_log(&signed_in.0.user).await?;
    Ok(Json(AuditList {
        data: entries.iter().map(AuditView::of).collect(),
    }))
}
