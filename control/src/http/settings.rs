//! `/api/v1/me/…`: what a signed-in person sets for themselves: what they are warned about
//! (their content-warning policy, else the instance's) and two-factor sign-in.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
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

/// A two-factor secret to put in an authenticator app.
#[derive(Debug, Serialize, ToSchema)]
pub struct TwoFactorSetupView {
    /// The secret, base32 (to type in).
    pub secret: String,
    /// The `otpauth://totp/…` URL (for a QR code, or a tap on a phone).
    pub otpauth_url: String,
}

errors!(BeginTwoFactorErrors: Unauthorized, CsrfFailed, Unavailable);

/// Start setting up two-factor sign-in: a new secret for an authenticator app. It counts
/// once a code from it turns two-factor sign-in on (`PUT`).
#[utoipa::path(post, path = "/api/v1/me/two-factor", tag = "accounts",
    params(("X-CSRF-Token" = String, Header, description = "The session's CSRF token")),
    responses(
        (status = 201, description = "The secret being set up", body = TwoFactorSetupView),
        BeginTwoFactorErrors,
    ),
    security(("session" = [])))]
pub async fn begin_two_factor(
    signed_in: SignedIn,
    State(accounts): State<Arc<Accounts>>,
) -> Result<(StatusCode, Json<TwoFactorSetupView>), ApiError> {
    let setup = accounts.begin_two_factor(&signed_in.0.user).await?;
    Ok((
        StatusCode::CREATED,
        Json(TwoFactorSetupView {
            secret: setup.secret,
            otpauth_url: setup.otpauth_url,
        }),
    ))
}

/// A code from the authenticator app.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TwoFactorCode {
    /// The 6-digit code.
    #[schema(max_length = 64)]
    pub code: String,
}

/// Two-factor sign-in is on.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecoveryCodes {
    /// Ten single-use codes for when the authenticator is lost: shown only now.
    pub recovery_codes: Vec<String>,
}

errors!(EnableTwoFactorErrors: Unauthorized, CsrfFailed, InvalidRequest, UnsupportedMediaType, InvalidCode, NoTwoFactorSetup, Unavailable);

/// Turn two-factor sign-in on with a code from the secret being set up.
#[utoipa::path(put, path = "/api/v1/me/two-factor", tag = "accounts",
    params(("X-CSRF-Token" = String, Header, description = "The session's CSRF token")),
    request_body = TwoFactorCode,
    responses(
        (status = 200, description = "On; the recovery codes", body = RecoveryCodes),
        EnableTwoFactorErrors,
    ),
    security(("session" = [])))]
pub async fn enable_two_factor(
    signed_in: SignedIn,
    State(accounts): State<Arc<Accounts>>,
    body: Result<Json<TwoFactorCode>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<RecoveryCodes>, ApiError> {
    let Json(ask) = body.map_err(super::json_rejection)?;
    let recovery_codes = accounts
        .enable_two_factor(&signed_in.0.user, &ask.code)
        .await?;
    Ok(Json(RecoveryCodes { recovery_codes }))
}

/// Proof that it is me, to turn two-factor sign-in off.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TwoFactorOff {
    /// My password.
    #[schema(max_length = 256)]
    pub password: String,
    /// A code from the authenticator app, or a recovery code.
    #[schema(max_length = 64)]
    pub code: String,
}

errors!(DisableTwoFactorErrors: Unauthorized, CsrfFailed, InvalidRequest, UnsupportedMediaType, InvalidCredentials, InvalidCode, Unavailable);

/// Turn two-factor sign-in off (password and a code).
#[utoipa::path(post, path = "/api/v1/me/two-factor/disable", tag = "accounts",
    params(("X-CSRF-Token" = String, Header, description = "The session's CSRF token")),
    request_body = TwoFactorOff,
    responses(
        (status = 204, description = "Off"),
        DisableTwoFactorErrors,
    ),
    security(("session" = [])))]
pub async fn disable_two_factor(
    signed_in: SignedIn,
    State(accounts): State<Arc<Accounts>>,
    body: Result<Json<TwoFactorOff>, axum::extract::rejection::JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let Json(ask) = body.map_err(super::json_rejection)?;
    accounts
        .disable_two_factor(&signed_in.0.user, &ask.password, &ask.code)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
