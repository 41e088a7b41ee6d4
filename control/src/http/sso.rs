//! Signing in with another provider (`services::sso`): `GET /api/v1/auth/sso/{provider_id}`
//! sends the browser to the provider, `GET /api/v1/auth/sso/{provider_id}/callback` is where
//! it comes back. Both answer with redirects a browser follows; a failed sign-in goes to the
//! sign-in page with its reason as one word (`/signin?sso=expired`), which the page puts in
//! a sentence.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;

use super::accounts::{cookie, cookie_header, set_cookie};
use super::problem::{errors, ApiError, ErrorCode};
use super::uploads::base_url;
use crate::config::Config;
use crate::services::accounts::AccountError;
use crate::services::sso::{RedirectBack, SingleSignOn, SsoError};

/// The cookie holding the state of the sign-in this browser started.
const STATE_COOKIE: &str = "sunomi_sso";

/// Where to go once signed in.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StartParams {
    /// A path on this site (anything else: `/`).
    #[param(max_length = 512)]
    pub next: Option<String>,
}

/// What the provider sends back.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackParams {
    /// The authorization code.
    #[param(max_length = 2048)]
    pub code: Option<String>,
    /// The sign-in's state.
    #[param(max_length = 256)]
    pub state: Option<String>,
    /// Why the provider did not sign the person in.
    #[param(max_length = 256)]
    pub error: Option<String>,
    /// Who answered (RFC 9207): when present, it must be the provider's issuer.
    #[param(max_length = 512)]
    pub iss: Option<String>,
}

fn state_cookie(config: &Config, value: &str, max_age_secs: i64) -> HeaderValue {
    cookie_header(
        config,
        STATE_COOKIE,
        "/api/v1/auth/sso",
        value,
        max_age_secs,
    )
}

fn redirect_uri(config: &Config, headers: &HeaderMap, provider: &str) -> String {
    format!(
        "{}/api/v1/auth/sso/{provider}/callback",
        base_url(config, headers)
    )
}

/// A `302 Found` to `location` that no cache keeps.
fn found(location: &str) -> Response {
    let mut resp = StatusCode::FOUND.into_response();
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(location) {
        h.insert(header::LOCATION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

errors!(StartSsoErrors: InvalidRequest, NotFound, Unavailable);

/// Sign in with a provider: a redirect to it (the sign-in's state in a cookie).
#[utoipa::path(get, path = "/api/v1/auth/sso/{provider_id}", tag = "accounts", operation_id = "start_sso",
    params(("provider_id" = String, Path, description = "A configured provider's id"), StartParams),
    responses((status = 302, description = "To the provider's sign-in",
        headers(("Location" = String, description = "The provider's authorization URL"))),
        StartSsoErrors))]
pub async fn start(
    State(sso): State<Arc<SingleSignOn>>,
    State(config): State<Arc<Config>>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    params: Result<Query<StartParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let redirect = redirect_uri(&config, &headers, &provider);
    let (url, state) = match sso
        .start(&provider, params.next.as_deref(), &redirect)
        .await
    {
        Ok(x) => x,
        Err(SsoError::UnknownProvider) => return Err(ApiError::not_found("sign-in provider")),
        Err(SsoError::Account(e)) => return Err(e.into()),
        Err(e) => {
            tracing::warn!(provider, error = %e, "starting a sign-in failed");
            return Err(ApiError::new(ErrorCode::Unavailable, e.to_string())
                .with_header(header::RETRY_AFTER, "5"));
        }
    };
    let mut resp = found(&url);
    resp.headers_mut()
        .insert(header::SET_COOKIE, state_cookie(&config, &state, 600));
    Ok(resp)
}

/// The one word the sign-in page turns into a sentence.
fn reason(e: &SsoError) -> &'static str {
    match e {
        SsoError::UnknownProvider => "unknown",
        SsoError::UnknownAttempt => "expired",
        SsoError::Refused(_) => "refused",
        SsoError::Provider(_) => "provider",
        SsoError::NoEmail => "no_email",
        SsoError::Account(AccountError::EmailTaken) => "email_taken",
        SsoError::Account(AccountError::RegistrationClosed) => "closed",
        SsoError::Account(AccountError::Pending) => "pending",
        SsoError::Account(AccountError::Disabled) => "disabled",
        SsoError::Account(_) => "unavailable",
    }
}

/// Where a provider sends the browser back: signed in and on to where they were going, or
/// to the sign-in page with the reason it did not happen.
#[utoipa::path(get, path = "/api/v1/auth/sso/{provider_id}/callback", tag = "accounts", operation_id = "sso_callback",
    params(("provider_id" = String, Path, description = "A configured provider's id"), CallbackParams),
    responses((status = 302, description = "Signed in (a session cookie) and on to where they were going; or to `/signin?sso=REASON`",
        headers(("Location" = String, description = "Where to go")))))]
pub async fn callback(
    State(sso): State<Arc<SingleSignOn>>,
    State(config): State<Arc<Config>>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    params: Result<Query<CallbackParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let params = params.map(|Query(p)| p).unwrap_or(CallbackParams {
        code: None,
        state: None,
        error: None,
        iss: None,
    });
    let redirect = redirect_uri(&config, &headers, &provider);
    let back = RedirectBack {
        code: params.code.as_deref(),
        state: params.state.as_deref().unwrap_or(""),
        cookie_state: cookie(&headers, STATE_COOKIE),
        provider_error: params.error.as_deref(),
        issuer: params.iss.as_deref(),
    };
    let outcome = sso.finish(&provider, &back, &redirect).await;
    let mut resp = match outcome {
        Ok(done) => match done.session {
            Some(s) => {
                let mut resp = found(&done.next);
                let max_age = (s.expires_ms - crate::app::now_ms()) / 1000;
                resp.headers_mut()
                    .append(header::SET_COOKIE, set_cookie(&config, &s.token, max_age));
                resp
            }
            None => found("/signin?sso=pending"),
        },
        Err(e) => {
            if matches!(
                e,
                SsoError::Provider(_) | SsoError::Account(AccountError::App(_))
            ) {
                tracing::warn!(provider, error = %e, "a sign-in with a provider failed");
            }
            found(&format!("/signin?sso={}", reason(&e)))
        }
    };
    resp.headers_mut()
        .append(header::SET_COOKIE, state_cookie(&config, "", 0));
    resp
}
