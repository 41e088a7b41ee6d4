//! Who may call the API: an extractor, so a handler that takes [`ApiKey`] cannot run for an
//! unauthenticated request. Keys travel as `Authorization: Bearer sk_…`.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};

use super::accounts::{cookie, cookie_name, SignedIn};
use super::problem::{ApiError, ErrorCode};
use crate::config::Config;
use crate::domain::accounts::Role;
use crate::ingest::Uploads;
use crate::keycheck::Check;
use crate::services::accounts::Accounts;
use crate::services::api_keys::ApiKeys;

/// The address a request came from (the TCP peer: the API does not trust forwarding headers),
/// when the server recorded it.
pub fn client_addr(parts: &Parts) -> Option<IpAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}

/// The caller's address as an extractor (never refuses: `None` when not recorded).
pub struct ClientAddr(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(client_addr(parts)))
    }
}

/// 429 for an address that spent its budget of credentials that named nothing.
pub fn throttled(retry_after_secs: u64) -> ApiError {
    ApiError::new(
        ErrorCode::RateLimited,
        "too many unknown credentials from this address; slow down",
    )
    .with_header_value(header::RETRY_AFTER, retry_after_secs.into())
}

/// A key check's answer as the API gives it: the key's id, or 401, 429 or 503.
fn key_outcome(check: Check) -> Result<String, ApiError> {
    match check {
        Check::Valid(id) => Ok(id),
        Check::Invalid => Err(ApiError::unauthorized("the API key is unknown or revoked")),
        Check::Throttled(secs) => Err(throttled(secs)),
        Check::Unavailable(e) => {
            tracing::warn!(error = %e, "API key lookup failed");
            Err(ApiError::new(
                ErrorCode::Unavailable,
                "the key store did not answer; retry",
            )
            .with_header(header::RETRY_AFTER, "1"))
        }
    }
}

/// Proof that the request carried a valid API key, and which (its id, for audit trails) —
/// or, without an `Authorization` header, the session of an administrator (the admin pages
/// use the integrations' routes so): its CSRF token on unsafe methods, as every session
/// route. A session of anyone else is refused (403).
pub struct ApiKey {
    /// The key's id (the public part of `sk_{id}_…`), or `session:{account id}`.
    pub id: String,
}

/// The bearer credential of a request, if any.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

impl<S> FromRequestParts<S> for ApiKey
where
    Arc<ApiKeys>: FromRef<S>,
    Arc<Accounts>: FromRef<S>,
    Arc<Config>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let keys = Arc::<ApiKeys>::from_ref(state);
        let Some(key) = bearer(&parts.headers) else {
            let config = Arc::<Config>::from_ref(state);
            if cookie(&parts.headers, cookie_name(&config)).is_some() {
                let signed_in = SignedIn::from_request_parts(parts, state).await?;
                signed_in.require(Role::Admin)?;
                return Ok(ApiKey {
                    id: format!("session:{}", signed_in.0.user.id),
                });
            }
            return Err(ApiError::unauthorized(
                "send an API key as Authorization: Bearer sk_…",
            ));
        };
        let id = key_outcome(keys.authenticate(key, client_addr(parts)).await)?;
        Ok(ApiKey { id })
    }
}

/// Who calls a route of one upload (tus, direct-upload completion): an API key, or a
/// delegated upload token that must turn out to be that upload's.
pub enum UploadCaller {
    /// A valid API key.
    Key,
    /// An upload token, not yet checked against the upload.
    Token(String),
}

impl UploadCaller {
    /// The caller of a request from `client`: 401 without a bearer credential or with an
    /// unknown key (429 / 503 as for [`ApiKey`]).
    pub async fn of(
        keys: &ApiKeys,
        headers: &HeaderMap,
        client: Option<IpAddr>,
    ) -> Result<UploadCaller, ApiError> {
        let Some(credential) = bearer(headers) else {
            return Err(ApiError::unauthorized(
                "send an API key or an upload token as Authorization: Bearer …",
            ));
        };
        if credential.starts_with("ut_") {
            return Ok(UploadCaller::Token(credential.to_string()));
        }
        key_outcome(keys.authenticate(credential, client).await).map(|_| UploadCaller::Key)
    }

    /// Upload `id` if the caller may touch it now: 404 for no such upload, 401 for a token
    /// that is not its. Made-up upload tokens cost the caller's address, as made-up keys do
    /// (the same budget): past it a flood of them is answered 429 before any lookup.
    pub async fn load(
        &self,
        keys: &ApiKeys,
        uploads: &Uploads,
        client: Option<IpAddr>,
        id: &str,
    ) -> Result<crate::domain::upload::Upload, ApiError> {
        let token = matches!(self, UploadCaller::Token(_));
        if token {
            keys.checker.may_miss(client).map_err(throttled)?;
        }
        let miss = |e: ApiError| {
            if token {
                keys.checker.charge_miss(client);
            }
            e
        };
        let id = crate::domain::ids::UploadId::parse(id)
            .map_err(|_| miss(ApiError::not_found("upload")))?;
        let upload = crate::ingest::get(uploads, &id)
            .await
            .map_err(|e| match e {
                crate::app::AppError::NotFound => miss(ApiError::not_found("upload")),
                other => other.into(),
            })?;
        self.check(&upload).map_err(miss)?;
        Ok(upload)
    }

    /// 401 unless the caller may touch `upload` now.
    pub fn check(&self, upload: &crate::domain::upload::Upload) -> Result<(), ApiError> {
        match self {
            UploadCaller::Key => Ok(()),
            UploadCaller::Token(t)
                if crate::ingest::token_allows(upload, t, crate::app::now_unix()) =>
            {
                Ok(())
            }
            UploadCaller::Token(_) => Err(ApiError::unauthorized(
                "the upload token is not valid for this upload (expired, revoked or another upload's)",
            )),
        }
    }
}
