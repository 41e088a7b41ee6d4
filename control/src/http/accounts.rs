//! `/api/v1/auth/*` and `/api/v1/me`: people sign up, sign in and out; the session rides in
//! an HttpOnly cookie (`Secure` and `__Host-` prefixed under TLS, `SameSite=Lax`), and every
//! unsafe request made with it carries the session's CSRF token in `X-CSRF-Token` and, when
//! the browser sends one, an `Origin` of this site ([`SignedIn`]).

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use utoipa::ToSchema;

use super::auth::ClientAddr;
use super::problem::{errors, ApiError, ErrorCode};
use crate::config::Config;
use crate::domain::accounts::{Role, User, UserStatus};
use crate::domain::warnings::ContentPolicy;
use crate::services::accounts::{AccountError, Accounts, NewSession, Session};

/// The header unsafe requests with a session echo the session's CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The session cookie's name: `__Host-sunomi_session` when cookies are `Secure` (the prefix
/// pins it to this host and path `/`), else `sunomi_session`.
pub fn cookie_name(config: &Config) -> &'static str {
    if config.secure_cookies() {
        "__Host-sunomi_session"
    } else {
        "sunomi_session"
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value for the session cookie: `value` for `max_age_secs` (0 clears it).
pub fn set_cookie(config: &Config, value: &str, max_age_secs: i64) -> HeaderValue {
    cookie_header(config, cookie_name(config), "/", value, max_age_secs)
}

/// A `Set-Cookie` value for cookie `name` under `path`: `value` for `max_age_secs` (0
/// clears it); HttpOnly, `SameSite=Lax`, and `Secure` when the site is served over TLS. Every
/// cookie the web app sets is made here.
pub fn cookie_header(
    config: &Config,
    name: &str,
    path: &str,
    value: &str,
    max_age_secs: i64,
) -> HeaderValue {
    let secure = if config.secure_cookies() {
        "; Secure"
    } else {
        ""
    };
    let text = format!(
        "{name}={value}; Path={path}; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}"
    );
    HeaderValue::from_str(&text).unwrap_or(HeaderValue::from_static(""))
}

/// Whether a request's `Origin`, when it has one, is this site (the `Host` it was sent to,
/// or the configured public URL).
fn same_origin(headers: &HeaderMap, config: &Config) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let origin_host = origin
        .split_once("://")
        .map_or(origin, |(_, rest)| rest)
        .trim_end_matches('/');
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let public = config
        .public_url
        .as_deref()
        .and_then(|u| u.split_once("://"))
        .map(|(_, rest)| rest.trim_end_matches('/'));
    Some(origin_host) == host || Some(origin_host) == public
}

/// Whether a request carries `session`'s CSRF token and comes from this site.
pub fn csrf_passes(headers: &HeaderMap, session: &Session, config: &Config) -> bool {
    let echoed = headers
        .get(CSRF_HEADER)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    let matches: bool = echoed.ct_eq(session.csrf.as_bytes()).into();
    matches && same_origin(headers, config)
}

/// A signed-in person (a session cookie that names a live session of an active account).
/// On unsafe methods the request must also carry the session's CSRF token and come from this
/// site: 403 `csrf_failed` otherwise.
pub struct SignedIn(pub Session);

impl<S> FromRequestParts<S> for SignedIn
where
    Arc<Accounts>: FromRef<S>,
    Arc<Config>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let config = Arc::<Config>::from_ref(state);
        let accounts = Arc::<Accounts>::from_ref(state);
        let Some(token) = cookie(&parts.headers, cookie_name(&config)) else {
            return Err(ApiError::new(ErrorCode::Unauthorized, "sign in first"));
        };
        let Some(session) = accounts.session(token).await? else {
            return Err(ApiError::new(
                ErrorCode::Unauthorized,
                "the session ended; sign in again",
            ));
        };
        if !parts.method.is_safe() && !csrf_passes(&parts.headers, &session, &config) {
            return Err(ApiError::new(
                ErrorCode::CsrfFailed,
                "send the session's CSRF token in X-CSRF-Token, from this site",
            ));
        }
        Ok(SignedIn(session))
    }
}

/// The signed-in person, if the request carries a live session (for reads that show more
/// to some: a private video to its owner). Never refuses, except when the database fails.
pub struct MaybeSignedIn(pub Option<Session>);

impl<S> FromRequestParts<S> for MaybeSignedIn
where
    Arc<Accounts>: FromRef<S>,
    Arc<Config>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let config = Arc::<Config>::from_ref(state);
        let Some(token) = cookie(&parts.headers, cookie_name(&config)) else {
            return Ok(MaybeSignedIn(None));
        };
        let accounts = Arc::<Accounts>::from_ref(state);
        Ok(MaybeSignedIn(accounts.session(token).await?))
    }
}

/// Whoever reads a page or a list: their session if any, and what they do about content
/// warnings (their own policy, else the instance's).
pub struct Viewer {
    /// The live session, if the request carries one.
    pub session: Option<Session>,
    /// Their content-warning policy.
    pub policy: ContentPolicy,
}

impl Viewer {
    /// The signed-in account, if any.
    pub fn user(&self) -> Option<&User> {
        self.session.as_ref().map(|s| &s.user)
    }
}

impl<S> FromRequestParts<S> for Viewer
where
    Arc<Accounts>: FromRef<S>,
    Arc<Config>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let MaybeSignedIn(session) = MaybeSignedIn::from_request_parts(parts, state).await?;
        let accounts = Arc::<Accounts>::from_ref(state);
        let policy = accounts.content_policy_of(session.as_ref().map(|s| &s.user));
        Ok(Viewer { session, policy })
    }
}

impl SignedIn {
    /// 403 unless the person's role includes `role`.
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.0.user.role.allows(role) {
            Ok(())
        } else {
            Err(ApiError::new(
                ErrorCode::Forbidden,
                format!("this needs the {} role", role.as_str()),
            ))
        }
    }
}

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> Self {
        let text = e.to_string();
        match e {
            AccountError::Input(_) => ApiError::bad_request(text),
            AccountError::RegistrationClosed => ApiError::new(ErrorCode::RegistrationClosed, text),
            AccountError::EmailTaken => ApiError::new(ErrorCode::EmailTaken, text),
            AccountError::BadCredentials => ApiError::new(ErrorCode::InvalidCredentials, text),
            AccountError::Locked(secs) => ApiError::new(ErrorCode::AccountLocked, text)
                .with_header_value(header::RETRY_AFTER, secs.into()),
            AccountError::Throttled(secs) => ApiError::new(ErrorCode::RateLimited, text)
                .with_header_value(header::RETRY_AFTER, secs.into()),
            AccountError::Pending => ApiError::new(ErrorCode::AccountPending, text),
            AccountError::Disabled => ApiError::new(ErrorCode::AccountDisabled, text),
            AccountError::TwoFactorRequired => ApiError::new(ErrorCode::TwoFactorRequired, text),
            AccountError::BadCode => ApiError::new(ErrorCode::InvalidCode, text),
            AccountError::NoTwoFactorSetup => ApiError::new(ErrorCode::NoTwoFactorSetup, text),
            AccountError::TwoFactorOn => ApiError::new(ErrorCode::TwoFactorOn, text),
            AccountError::App(a) => a.into(),
        }
    }
}

/// An account as its owner sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    /// `u_…`.
    pub id: String,
    /// The sign-in email (lower-cased).
    pub email: String,
    /// The name people see.
    pub display_name: String,
    /// `user`, `moderator` or `admin`.
    pub role: Role,
    /// `active`, or `pending` while an administrator has not approved it.
    pub status: UserStatus,
    /// When it was made.
    pub created_at: String,
    /// Whether signing in needs a two-factor code.
    pub two_factor: bool,
}

impl UserView {
    /// The view of `u`.
    pub fn of(u: &User) -> UserView {
        UserView {
            id: u.id.clone(),
            email: u.email.clone(),
            display_name: u.display_name.clone(),
            role: u.role,
            status: u.status,
            created_at: u.created_at.clone(),
            two_factor: u.totp_secret.is_some(),
        }
    }
}

/// The signed-in person and the token unsafe requests echo.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    /// The account.
    pub user: UserView,
    /// Send it in `X-CSRF-Token` with every unsafe request made with the session cookie.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csrf_token: Option<String>,
}

/// A registration.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignUp {
    /// The sign-in email (compared lower-cased): a local part, `@`, a dotted domain; no
    /// spaces or control characters inside.
    #[schema(
        max_length = 254,
        pattern = r"^\s*[^@\s\x00-\x1f\x7f-\x9f]+@[^@\s\x00-\x1f\x7f-\x9f.][^@\s\x00-\x1f\x7f-\x9f]*\.[^@\s\x00-\x1f\x7f-\x9f]*[^@\s\x00-\x1f\x7f-\x9f.]\s*$"
    )]
    pub email: String,
    /// 10–256 characters, not the email.
    #[schema(min_length = 10, max_length = 256)]
    pub password: String,
    /// The name people see: 1–50 characters, not only spaces, no control characters.
    #[schema(
        min_length = 1,
        max_length = 50,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub display_name: String,
}

/// A sign-in.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    /// The sign-in email.
    #[schema(max_length = 254)]
    pub email: String,
    /// The password.
    #[schema(max_length = 256)]
    pub password: String,
    /// For an account with two-factor sign-in: the authenticator's 6-digit code, or a
    /// recovery code.
    #[serde(default)]
    #[schema(max_length = 64)]
    pub code: Option<String>,
}

fn signed_in(config: &Config, status: StatusCode, s: NewSession) -> Response {
    let max_age = (s.expires_ms - crate::app::now_ms()) / 1000;
    let mut resp = (
        status,
        Json(Me {
            user: UserView::of(&s.user),
            csrf_token: Some(s.csrf),
        }),
    )
        .into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, set_cookie(config, &s.token, max_age));
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

fn cross_site() -> ApiError {
    ApiError::new(ErrorCode::CsrfFailed, "this request came from another site")
}

errors!(SignUpErrors: InvalidRequest, UnsupportedMediaType, CsrfFailed, RegistrationClosed, EmailTaken, Unavailable);

/// Register. With open registration the account is active and signed in (201 and a session
/// cookie); with registration by approval it waits for an administrator (202, no cookie).
#[utoipa::path(post, path = "/api/v1/auth/signup", tag = "accounts",
    request_body = SignUp,
    responses(
        (status = 201, description = "Registered and signed in (Set-Cookie: the session)", body = Me),
        (status = 202, description = "Registered; waits for an administrator's approval", body = Me),
        SignUpErrors,
    ))]
pub async fn sign_up(
    State(accounts): State<Arc<Accounts>>,
    State(config): State<Arc<Config>>,
    headers: HeaderMap,
    body: Result<Json<SignUp>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(ask) = body.map_err(super::json_rejection)?;
    if !same_origin(&headers, &config) {
        return Err(cross_site());
    }
    let (user, session) = accounts
        .sign_up(&ask.email, &ask.password, &ask.display_name)
        .await?;
    Ok(match session {
        Some(s) => signed_in(&config, StatusCode::CREATED, s),
        None => (
            StatusCode::ACCEPTED,
            Json(Me {
                user: UserView::of(&user),
                csrf_token: None,
            }),
        )
            .into_response(),
    })
}

errors!(SignInErrors: InvalidRequest, UnsupportedMediaType, InvalidCredentials, TwoFactorRequired, InvalidCode, CsrfFailed, AccountPending, AccountDisabled, AccountLocked, RateLimited, Unavailable);

/// Sign in: a new session every time (Set-Cookie), whatever cookie the request carried.
#[utoipa::path(post, path = "/api/v1/auth/signin", tag = "accounts",
    request_body = SignIn,
    responses(
        (status = 200, description = "Signed in (Set-Cookie: the session)", body = Me),
        SignInErrors,
    ))]
pub async fn sign_in(
    State(accounts): State<Arc<Accounts>>,
    State(config): State<Arc<Config>>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    body: Result<Json<SignIn>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(ask) = body.map_err(super::json_rejection)?;
    if !same_origin(&headers, &config) {
        return Err(cross_site());
    }
    if ask.code.as_ref().is_some_and(|c| c.len() > 64) {
        return Err(ApiError::bad_request("a code is at most 64 characters"));
    }
    let session = accounts
        .sign_in(&ask.email, &ask.password, ask.code.as_deref(), client)
        .await?;
    Ok(signed_in(&config, StatusCode::OK, session))
}

errors!(SignOutErrors: Unauthorized, CsrfFailed, Unavailable);

/// Sign out: the session ends (the cookie is cleared).
#[utoipa::path(post, path = "/api/v1/auth/signout", tag = "accounts",
    params(("X-CSRF-Token" = String, Header, description = "The session's CSRF token")),
    responses(
        (status = 204, description = "Signed out"),
        SignOutErrors,
    ),
    security(("session" = [])))]
pub async fn sign_out(
    signed_in: SignedIn,
    State(accounts): State<Arc<Accounts>>,
    State(config): State<Arc<Config>>,
) -> Result<Response, ApiError> {
    accounts.sign_out(&signed_in.0).await?;
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, set_cookie(&config, "", 0));
    Ok(resp)
}

errors!(MeErrors: Unauthorized, Unavailable);

/// The signed-in person, and the CSRF token for unsafe requests.
#[utoipa::path(get, path = "/api/v1/me", tag = "accounts",
    responses(
        (status = 200, description = "The account", body = Me),
        MeErrors,
    ),
    security(("session" = [])))]
pub async fn me(signed_in: SignedIn) -> Json<Me> {
    Json(Me {
        user: UserView::of(&signed_in.0.user),
        csrf_token: Some(signed_in.0.csrf),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_read_from_any_cookie_header() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; sunomi_session=tok"),
        );
        h.append(header::COOKIE, HeaderValue::from_static("b=2"));
        assert_eq!(cookie(&h, "sunomi_session"), Some("tok"));
        assert_eq!(cookie(&h, "b"), Some("2"));
        assert_eq!(cookie(&h, "sunomi"), None);
    }

    #[test]
    fn cookies_are_http_only_lax_and_secure_under_tls() {
        let mut config = Config::default();
        let plain = set_cookie(&config, "t", 60);
        assert_eq!(
            plain.to_str().unwrap(),
            "sunomi_session=t; Path=/; HttpOnly; SameSite=Lax; Max-Age=60"
        );
        config.public_url = Some("https://video.example".into());
        let tls = set_cookie(&config, "t", 60);
        assert!(tls
            .to_str()
            .unwrap()
            .starts_with("__Host-sunomi_session=t;"));
        assert!(tls.to_str().unwrap().ends_with("; Secure"));
    }

    #[test]
    fn only_this_sites_origin_is_same_origin() {
        let config = Config::default();
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8090"));
        assert!(
            same_origin(&h, &config),
            "no Origin: not a browser's cross-site request"
        );
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:8090"),
        );
        assert!(same_origin(&h, &config));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        assert!(!same_origin(&h, &config));
    }
}
