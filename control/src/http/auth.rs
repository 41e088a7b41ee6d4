//! Who may call the API: an extractor, so a handler that takes [`ApiKey`] cannot run for an
//! unauthenticated request. Keys travel as `Authorization: Bearer sk_…`.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};

use super::problem::ApiError;
use crate::app::App;

/// Proof that the request carried a valid API key, and which (its id, for audit trails).
pub struct ApiKey {
    /// The key's id (the public part of `sk_{id}_…`).
    pub id: String,
}

/// The bearer credential of a request, if any.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

impl FromRequestParts<Arc<App>> for ApiKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        let Some(key) = bearer(&parts.headers) else {
            return Err(ApiError::unauthorized(
                "send an API key as Authorization: Bearer sk_…",
            ));
        };
        if app.authenticate(key).await {
            Ok(ApiKey {
                id: crate::apikeys::key_id(key).unwrap_or_default().to_string(),
            })
        } else {
            Err(ApiError::unauthorized("the API key is unknown or revoked"))
        }
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
    /// The caller of a request: 401 without a bearer credential or with an unknown key.
    pub async fn of(app: &App, headers: &HeaderMap) -> Result<UploadCaller, ApiError> {
        let Some(credential) = bearer(headers) else {
            return Err(ApiError::unauthorized(
                "send an API key or an upload token as Authorization: Bearer …",
            ));
        };
        if credential.starts_with("ut_") {
            return Ok(UploadCaller::Token(credential.to_string()));
        }
        if app.authenticate(credential).await {
            Ok(UploadCaller::Key)
        } else {
            Err(ApiError::unauthorized("the API key is unknown or revoked"))
        }
    }

    /// 401 unless the caller may touch `upload` now.
    pub fn check(&self, upload: &crate::upload::Upload) -> Result<(), ApiError> {
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
