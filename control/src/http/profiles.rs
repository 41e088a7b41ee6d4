//! Channels' pictures and descriptions: `GET /api/v1/channels/{id}/picture` for everyone;
//! `PUT`/`DELETE /api/v1/me/picture` and `PUT /api/v1/me/channel` for a person's own, with
//! their session.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::accounts::SignedIn;
use super::problem::{errors, ApiError, ErrorCode};
use super::social::picture_url;
use crate::services::profiles::{ProfileError, Profiles, MAX_DESCRIPTION};

impl From<ProfileError> for ApiError {
    fn from(e: ProfileError) -> Self {
        let text = e.to_string();
        match e {
            ProfileError::Invalid(_) => ApiError::bad_request(text),
            ProfileError::TooLarge => ApiError::new(ErrorCode::TooLarge, text),
            ProfileError::App(a) => a.into(),
        }
    }
}

/// An image file, as a request body.
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct ImageFile(pub Vec<u8>);

errors!(PictureErrors: NotFound, Unavailable);

/// A channel's picture: a 256 × 256 JPEG.
#[utoipa::path(get, path = "/api/v1/channels/{channel_id}/picture", tag = "social", operation_id = "channel_picture",
    params(("channel_id" = String, Path, description = "The channel's account id"),
        ("v" = Option<i64>, Query, description = "The picture's version, from `picture_url`: a new picture is a new URL (the answer is the same whatever it is)")),
    responses((status = 200, description = "The picture", content_type = "image/jpeg", body = ImageFile),
        PictureErrors))]
pub async fn picture(
    State(profiles): State<Arc<Profiles>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let Some((jpeg, version)) = profiles.picture(&id).await? else {
        return Err(ApiError::not_found("picture"));
    };
    let mut resp = jpeg.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg"));
    // Its URL carries its version (`?v=`): a new picture is a new URL.
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    if let Ok(tag) = HeaderValue::from_str(&format!("\"{version}\"")) {
        h.insert(header::ETAG, tag);
    }
    Ok(resp)
}

/// Where my new picture is.
#[derive(Debug, Serialize, ToSchema)]
pub struct PictureSet {
    /// Its URL.
    pub picture_url: String,
}

errors!(SetPictureErrors: Unauthorized, CsrfFailed, InvalidRequest, InvalidBody, TooLarge, Unavailable);

/// Set my channel's picture: a JPEG, PNG, WebP or GIF of at most 2 MB and 8192 pixels a
/// side, stored as its centre square at 256 × 256.
#[utoipa::path(put, path = "/api/v1/me/picture", tag = "accounts",
    params(("X-CSRF-Token" = String, Header, description = "The session's CSRF token")),
    request_body(content = ImageFile, content_type = "application/octet-stream", description = "The image file"),
    responses((status = 200, description = "Stored", body = PictureSet), SetPictureErrors),
    security(("session" = [])))]
pub async fn set_picture(
    signed_in: SignedIn,
    State(profiles): State<Arc<Profiles>>,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Json<PictureSet>, ApiError> {
    let body = body.map_err(|e| {
        let code = match e.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::TooLarge,
            _ => ErrorCode::InvalidBody,
        };
        ApiError::new(code, e.body_text())
    })?;
    let user = &signed_in.0.user;
    let version = profiles.set_picture(user, &body).await?;
    Ok(Json(PictureSet {
        picture_url: picture_url(&user.id, version),
    }))
}

errors!(RemovePictureErrors: Unauthorized, CsrfFailed, Unavailable);

/// Remove my channel's picture.
#[utoipa::path(delete, path = "/api/v1/me/picture", tag = "accounts",
    params(("X-CSRF-Token" = String, Header, description = "The session's CSRF token")),
    responses((status = 204, description = "Removed"), RemovePictureErrors),
    security(("session" = [])))]
pub async fn remove_picture(
    signed_in: SignedIn,
    State(profiles): State<Arc<Profiles>>,
) -> Result<StatusCode, ApiError> {
    profiles.remove_picture(&signed_in.0.user).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// My channel's words.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelAbout {
    /// At most 1,000 characters (may be empty); line breaks kept.
    #[schema(
        max_length = 1000,
        pattern = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"
    )]
    pub description: String,
}

errors!(ChannelAboutErrors: Unauthorized, CsrfFailed, InvalidRequest, UnsupportedMediaType, Unavailable);

/// Set my channel's description.
#[utoipa::path(put, path = "/api/v1/me/channel", tag = "accounts",
    params(("X-CSRF-Token" = String, Header, description = "The session's CSRF token")),
    request_body = ChannelAbout,
    responses((status = 200, description = "Stored", body = ChannelAbout), ChannelAboutErrors),
    security(("session" = [])))]
pub async fn set_channel(
    signed_in: SignedIn,
    State(profiles): State<Arc<Profiles>>,
    body: Result<Json<ChannelAbout>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<ChannelAbout>, ApiError> {
    let Json(ask) = body.map_err(super::json_rejection)?;
    if ask.description.chars().count() > MAX_DESCRIPTION {
        return Err(ApiError::bad_request(format!(
            "a description is at most {MAX_DESCRIPTION} characters"
        )));
    }
    profiles
        .set_description(&signed_in.0.user, &ask.description)
        .await?;
    Ok(Json(ChannelAbout {
        description: ask.description.trim().to_string(),
    }))
}
