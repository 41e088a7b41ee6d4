//! `/api/v1/api-keys`: the integrations' API keys — list, make one (its secret shown once),
//! revoke. For an API key or an administrator's session (the admin page).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::ApiKey;
use super::problem::{errors, ApiError};
use crate::apikeys::KeyRecord;
use crate::app::AppError;
use crate::services::api_keys::ApiKeys;

/// An API key (never its secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyView {
    /// Its id: the public part of `sk_{id}_…`.
    pub id: String,
    /// Its label.
    pub name: String,
    /// When it was made (RFC 3339).
    pub created_at: String,
    /// When it was revoked; a revoked key authenticates nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
}

impl ApiKeyView {
    fn of(r: KeyRecord) -> ApiKeyView {
        ApiKeyView {
            id: r.id,
            name: r.name,
            created_at: r.created_at,
            revoked_at: r.revoked_at,
        }
    }
}

/// A new key and, this once, its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct NewApiKey {
    /// The key.
    #[serde(flatten)]
    pub key: ApiKeyView,
    /// The whole key (`sk_…`) to send as `Authorization: Bearer`: shown only now.
    pub secret: String,
}

/// What to call a new key.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    /// A label (1–100 characters).
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]+$"
    )]
    pub name: String,
}

errors!(ListApiKeysErrors: API_KEY);

/// Every API key, revoked ones too, oldest first.
#[utoipa::path(get, path = "/api/v1/api-keys", tag = "playback", operation_id = "list_api_keys",
    responses((status = 200, description = "The keys", body = Vec<ApiKeyView>), ListApiKeysErrors),
    security(("api_key" = []), ("session" = [])))]
pub async fn list(
    _key: ApiKey,
    State(keys): State<Arc<ApiKeys>>,
) -> Result<Json<Vec<ApiKeyView>>, ApiError> {
    let all = keys.list().await.map_err(AppError::from)?;
    Ok(Json(all.into_iter().map(ApiKeyView::of).collect()))
}

errors!(CreateApiKeyErrors: API_KEY, InvalidRequest, UnsupportedMediaType);

/// Make an API key. Its secret is in this answer and never again.
#[utoipa::path(post, path = "/api/v1/api-keys", tag = "playback", operation_id = "create_api_key",
    request_body = CreateApiKey,
    responses((status = 201, description = "Made", body = NewApiKey), CreateApiKeyErrors),
    security(("api_key" = []), ("session" = [])))]
pub async fn create(
    _key: ApiKey,
    State(keys): State<Arc<ApiKeys>>,
    body: Result<Json<CreateApiKey>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<NewApiKey>), ApiError> {
    let Json(ask) = body.map_err(super::json_rejection)?;
    let name = ask.name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::bad_request("a key's name is 1-100 characters"));
    }
    let (secret, record) = keys.create(name).await.map_err(AppError::from)?;
    Ok((
        StatusCode::CREATED,
        Json(NewApiKey {
            key: ApiKeyView::of(record),
            secret,
        }),
    ))
}

errors!(RevokeApiKeyErrors: API_KEY, NotFound);

/// Revoke an API key: it authenticates nothing from now on.
#[utoipa::path(delete, path = "/api/v1/api-keys/{key_id}", tag = "playback", operation_id = "revoke_api_key",
    params(("key_id" = String, Path, description = "The key's id")),
    responses((status = 204, description = "Revoked"), RevokeApiKeyErrors),
    security(("api_key" = []), ("session" = [])))]
pub async fn revoke(
    _key: ApiKey,
    State(keys): State<Arc<ApiKeys>>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if keys.revoke(&id).await.map_err(AppError::from)? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("API key"))
    }
}
