//! `/api/v1/me/…`: what a signed-in person sets for themselves — their name and password,
//! what they are warned about (their content-warning policy, else the instance's),
//! two-factor sign-in — and their data: export it, delete the account.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::accounts::{set_cookie, SignedIn, UserView};
use super::problem::{errors, ApiError};
use crate::config::Config;
use crate::domain::warnings::ContentPolicy;
use crate::services::account_data::{AccountData, AccountExport};
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

errors!(BeginTwoFactorErrors: Unauthorized, CsrfFailed, TwoFactorOn, Unavailable);

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

/// A new display name.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rename {
    /// 1–50 characters, not only spaces, no control characters.
    #[schema(
        min_length = 1,
        max_length = 50,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub display_name: String,
}

errors!(RenameErrors: Unauthorized, CsrfFailed, InvalidRequest, UnsupportedMediaType, Unavailable);

/// Change my display name (my channel's name, everywhere).
#[utoipa::path(patch, path = "/api/v1/me", tag = "accounts",
    params(("X-CSRF-Token" = String, Header, description = "The session's CSRF token")),
    request_body = Rename,
    responses(
        (status = 200, description = "My account", body = UserView),
        RenameErrors,
    ),
    security(("session" = [])))]
pub async fn rename(
    signed_in: SignedIn,
    State(data): State<Arc<AccountData>>,
    body: Result<Json<Rename>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<UserView>, ApiError> {
    let Json(ask) = body.map_err(super::json_rejection)?;
    let user = data.rename(&signed_in.0.user, &ask.display_name).await?;
    Ok(Json(UserView::of(&user)))
}

/// A new password.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPassword {
    /// The password now.
    #[schema(max_length = 256)]
    pub current_password: String,
    /// 10–256 characters, not the email.
    #[schema(min_length = 10, max_length = 256)]
    pub new_password: String,
}

errors!(PasswordErrors: Unauthorized, CsrfFailed, InvalidRequest, UnsupportedMediaType, InvalidCredentials, Unavailable);

/// Change my password. Every other session of mine ends.
#[utoipa::path(post, path = "/api/v1/me/password", tag = "accounts",
    params(("X-CSRF-Token" = String, Header, description = "The session's CSRF token")),
    request_body = NewPassword,
    responses(
        (status = 204, description = "Changed"),
        PasswordErrors,
    ),
    security(("session" = [])))]
pub async fn change_password(
    signed_in: SignedIn,
    State(data): State<Arc<AccountData>>,
    body: Result<Json<NewPassword>, axum::extract::rejection::JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let Json(ask) = body.map_err(super::json_rejection)?;
    data.change_password(&signed_in.0, &ask.current_password, &ask.new_password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

errors!(ExportErrors: Unauthorized, Unavailable);

/// Everything Sunomi keeps about me, as one JSON file.
#[utoipa::path(get, path = "/api/v1/me/export", tag = "accounts",
    responses(
        (status = 200, description = "My data (Content-Disposition: attachment)", body = AccountExport),
        ExportErrors,
    ),
    security(("session" = [])))]
pub async fn export(
    signed_in: SignedIn,
    State(data): State<Arc<AccountData>>,
) -> Result<Response, ApiError> {
    let export = data.export(&signed_in.0.user).await?;
    let mut resp = Json(export).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"sunomi-export.json\""),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// Proof that it is me, to delete my account.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteAccount {
    /// My password.
    #[schema(max_length = 256)]
    pub password: String,
    /// With two-factor sign-in on: a code, or a recovery code.
    #[serde(default)]
    #[schema(max_length = 64)]
    pub code: Option<String>,
}

errors!(DeleteAccountErrors: Unauthorized, CsrfFailed, InvalidRequest, UnsupportedMediaType, InvalidCredentials, TwoFactorRequired, InvalidCode, Unavailable, PropagationPending);

/// Delete my account for good: my videos (gone from every edge first), likes,
/// subscriptions, reports and sessions; my comments stay as removed.
#[utoipa::path(delete, path = "/api/v1/me", tag = "accounts",
    params(("X-CSRF-Token" = String, Header, description = "The session's CSRF token")),
    request_body = DeleteAccount,
    responses(
        (status = 204, description = "Deleted (Set-Cookie clears the session)"),
        DeleteAccountErrors,
    ),
    security(("session" = [])))]
pub async fn delete_account(
    signed_in: SignedIn,
    State(data): State<Arc<AccountData>>,
    State(config): State<Arc<Config>>,
    body: Result<Json<DeleteAccount>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(ask) = body.map_err(super::json_rejection)?;
    data.delete(&signed_in.0.user, &ask.password, ask.code.as_deref())
        .await?;
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, set_cookie(&config, "", 0));
    Ok(resp)
}
