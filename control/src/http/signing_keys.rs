//! `/api/v1/signing-keys`: the keys playback tokens are signed with. Creating one returns
//! its private key once; only the public half is stored (in the database, projected where
//! edges read it: [`crate::keyring`]).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::ApiKey;
use super::problem::{errors, ApiError, ErrorCode};
use crate::keyring::SigningKeys;
use crate::keyring::{self, KeyringError};
use crate::signing::SigningAlgorithm;

/// A signing key.
#[derive(Debug, Serialize, ToSchema)]
pub struct SigningKeyView {
    /// Key id: the `kid` header of the tokens it signs.
    pub id: String,
    /// Public key, PEM.
    pub public_key: String,
    /// Private key, PEM (PKCS#8): only in the answer that creates the key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_key: Option<String>,
    /// The JWT `alg` its tokens use.
    pub algorithm: SigningAlgorithm,
}

/// What key to create (the body may be empty: an ES256 key).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSigningKey {
    /// `ES256` (default) or `RS256`.
    #[serde(default)]
    pub algorithm: SigningAlgorithm,
}

errors!(CreateErrors: API_KEY, InvalidRequest, LimitReached, Conflict, PropagationPending);

errors!(ListErrors: API_KEY);

errors!(DeleteErrors: API_KEY, NotFound, PropagationPending);

/// Create a signing key (ES256 unless the body asks for RS256).
#[utoipa::path(post, path = "/api/v1/signing-keys", tag = "playback", operation_id = "create_signing_key",
    request_body(content = Option<CreateSigningKey>, content_type = "application/json"),
    responses(
        CreateErrors,
        (status = 201, description = "The key; its private half is shown only now", body = SigningKeyView),
    ),
    security(("api_key" = [])))]
pub async fn create(
    _key: ApiKey,
    State(signing_keys): State<Arc<SigningKeys>>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<SigningKeyView>), ApiError> {
    let ask: CreateSigningKey = super::optional_json(&body)?;
    let k = keyring::create(&signing_keys, ask.algorithm).await?;
    Ok((
        StatusCode::CREATED,
        Json(SigningKeyView {
            id: k.kid,
            public_key: k.public_pem,
            private_key: Some(k.private_pem),
            algorithm: k.algorithm,
        }),
    ))
}

/// List signing keys (public halves).
#[utoipa::path(get, path = "/api/v1/signing-keys", tag = "playback", operation_id = "list_signing_keys",
    responses(
        (status = 200, description = "Every signing key", body = Vec<SigningKeyView>),
        ListErrors,
    ),
    security(("api_key" = [])))]
pub async fn list(
    _key: ApiKey,
    State(signing_keys): State<Arc<SigningKeys>>,
) -> Result<Json<Vec<SigningKeyView>>, ApiError> {
    let out = keyring::list(&signing_keys)
        .await?
        .into_iter()
        .map(|k| SigningKeyView {
            id: k.id,
            public_key: k.public_key,
            private_key: None,
            algorithm: k.algorithm,
        })
        .collect();
    Ok(Json(out))
}

/// Delete a signing key: tokens it signed stop working (edges re-read keys within a minute).
#[utoipa::path(delete, path = "/api/v1/signing-keys/{key_id}", tag = "playback", operation_id = "delete_signing_key",
    params(("key_id" = String, Path, description = "Key id")),
    responses(
        (status = 204, description = "Deleted"),
        DeleteErrors,
    ),
    security(("api_key" = [])))]
pub async fn delete(
    _key: ApiKey,
    State(signing_keys): State<Arc<SigningKeys>>,
    Path(kid): Path<String>,
) -> Result<StatusCode, ApiError> {
    keyring::delete(&signing_keys, &kid).await?;
    Ok(StatusCode::NO_CONTENT)
}

impl From<KeyringError> for ApiError {
    fn from(e: KeyringError) -> Self {
        match e {
            KeyringError::Full => ApiError::new(ErrorCode::LimitReached, e.to_string()),
            KeyringError::NotFound => ApiError::not_found("signing key"),
            KeyringError::App(e) => e.into(),
        }
    }
}
