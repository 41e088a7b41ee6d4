//! `/api/v1/me/…`: what a signed-in person sets for themselves. Today: what they are warned
//! about (their content-warning policy, else the instance's).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::accounts::SignedIn;
use super::problem::{errors, ApiError};
use crate::domain::warnings::ContentPolicy;
use crate::services::accounts::Accounts;

/// A person's content-warning policy and where it comes from.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContentPolicyView {
    /// What applies to them now.
    pub policy: ContentPolicy,
    /// `true` when they chose it; `false` when it is the instance's.
    pub chosen: bool,
}

fn view(accounts: &Accounts, policy: Option<ContentPolicy>) -> ContentPolicyView {
    ContentPolicyView {
        chosen: policy.is_some(),
        policy: policy.unwrap_or_else(|| accounts.content_policy.clone()),
    }
}

errors!(GetContentPolicyErrors: Unauthorized, Unavailable);

/// What I am warned about: per content flag, `show`, `warn`, `blur` or `hide`.
#[utoipa::path(get, path = "/api/v1/me/content-policy", tag = "accounts",
    responses(
        (status = 200, description = "My content-warning policy", body = ContentPolicyView),
        GetContentPolicyErrors,
    ),
    security(("session" = [])))]
pub async fn content_policy(
    signed_in: SignedIn,
    State(accounts): State<Arc<Accounts>>,
) -> Json<ContentPolicyView> {
    Json(view(&accounts, signed_in.0.user.content_policy.clone()))
}

errors!(SetContentPolicyErrors: Unauthorized, CsrfFailed, InvalidRequest, UnsupportedMediaType, Unavailable);

/// Choose what I am warned about. Lists, feeds and search leave out what I `hide`; the watch
/// page asks before playing what I `warn` about or `blur`.
#[utoipa::path(put, path = "/api/v1/me/content-policy", tag = "accounts",
    params(("X-CSRF-Token" = String, Header, description = "The session's CSRF token")),
    request_body = ContentPolicy,
    responses(
        (status = 200, description = "My content-warning policy", body = ContentPolicyView),
        SetContentPolicyErrors,
    ),
    security(("session" = [])))]
pub async fn set_content_policy(
    signed_in: SignedIn,
    State(accounts): State<Arc<Accounts>>,
    body: Result<Json<ContentPolicy>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<ContentPolicyView>, ApiError> {
    let Json(policy) = body.map_err(super::json_rejection)?;
    accounts
        .set_content_policy(&signed_in.0.user, Some(policy.clone()))
        .await?;
    Ok(Json(view(&accounts, Some(policy))))
}

errors!(ResetContentPolicyErrors: Unauthorized, CsrfFailed, Unavailable);

/// Follow the instance's content-warning policy again.
#[utoipa::path(delete, path = "/api/v1/me/content-policy", tag = "accounts",
    params(("X-CSRF-Token" = String, Header, description = "The session's CSRF token")),
    responses(
        (status = 200, description = "The instance's policy, which now applies", body = ContentPolicyView),
        ResetContentPolicyErrors,
    ),
    security(("session" = [])))]
pub async fn reset_content_policy(
    signed_in: SignedIn,
    State(accounts): State<Arc<Accounts>>,
) -> Result<(StatusCode, Json<ContentPolicyView>), ApiError> {
    accounts.set_content_policy(&signed_in.0.user, None).await?;
    Ok((StatusCode::OK, Json(view(&accounts, None))))
}
