//! The API (`/api/v1`): one module per resource, handlers thin over [`crate::app`] and
//! [`crate::ingest`], one error table ([`problem`]), authentication as an extractor
//! ([`auth`]), and the OpenAPI 3.1 document generated from the handlers ([`ApiDoc`]).

pub mod accounts;
pub mod admin;
pub mod api_keys;
pub mod assets;
pub mod auth;
pub mod events;
pub mod jobs;
pub mod listener;
pub mod moderation;
pub mod notifications;
pub mod problem;
pub mod profiles;
pub mod search;
pub mod settings;
pub mod signing_keys;
pub mod social;
pub mod sso;
pub mod streams;
pub mod tus;
pub mod uploads;
pub mod video_captions;
pub mod videos;
pub mod views;
pub mod webhooks;

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRef, MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::Router;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::app::App;
use crate::config::Config;
use crate::deliveries::Webhooks;
use crate::ingest::Uploads;
use crate::keyring::SigningKeys;
use crate::metrics::metrics;
use crate::services::account_data::AccountData;
use crate::services::accounts::Accounts;
use crate::services::admin::Admin;
use crate::services::api_keys::ApiKeys;
use crate::services::assets::Assets;
use crate::services::captions::Captions;
use crate::services::jobs::Jobs;
use crate::services::moderation::Moderation;
use crate::services::notifications::Notifications;
use crate::services::page_tokens::PageTokens;
use crate::services::profiles::Profiles;
use crate::services::social::Social;
use crate::services::sso::SingleSignOn;
use crate::services::videos::Videos;
use crate::services::views::Views;
use problem::{ApiError, ErrorCode};

/// The OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(title = "Sunomi control plane API", version = "1.0.0",
        description = "Uploads (tus 1.0), assets and their lifecycle, playback ids, events (SSE, Standard Webhooks), jobs. Errors are application/problem+json."),
    paths(
        accounts::sign_up, accounts::sign_in, accounts::sign_out, accounts::me, sso::start,
        sso::callback,
        settings::content_policy, settings::set_content_policy, settings::reset_content_policy,
        settings::begin_two_factor, settings::enable_two_factor, settings::disable_two_factor,
        settings::rename, settings::change_password, settings::export, settings::delete_account,
        notifications::list, notifications::mark_read, admin::users, admin::change_user,
        videos::create_video, videos::list_videos, videos::my_videos, videos::get_video,
        videos::update_video, videos::delete_video, search::search, search::suggestions,
        video_captions::put, video_captions::delete,
        social::like, social::unlike, social::likes, social::channel, social::subscribe,
        social::unsubscribe, social::channel_videos, social::feed, social::comments,
        social::add_comment, social::edit_comment, social::delete_comment, views::count_view, profiles::picture, api_keys::list,
        api_keys::create, api_keys::revoke,
        profiles::set_picture, profiles::remove_picture, profiles::set_channel,
        moderation::report, moderation::my_reports, moderation::queue, moderation::decide,
        moderation::decide_registration, moderation::audit,
        uploads::create_upload, uploads::get_upload, uploads::cancel_upload, uploads::revoke_token,
        uploads::complete_direct,
        tus::options, tus::create, tus::head, tus::patch, tus::terminate,
        assets::list_assets, assets::get_asset, assets::delete_asset, assets::list_playback_ids,
        assets::create_playback_id, assets::delete_playback_id, assets::review, assets::list_reviews,
        assets::put_captions, assets::delete_captions,
        events::asset_events, events::all_events,
        jobs::queue, jobs::dead, jobs::retry,
        webhooks::create_endpoint, webhooks::list_endpoints, webhooks::get_endpoint,
        webhooks::rotate_secret, webhooks::delete_endpoint,
        webhooks::deliveries, webhooks::delivery, webhooks::redeliver,
        signing_keys::create, signing_keys::list, signing_keys::delete,
    ),
    components(schemas(problem::Problem, crate::domain::asset::Event, crate::domain::videos::Order)),
    modifiers(&Security),
    tags(
        (name = "accounts", description = "People: sign up, sign in and out (a session cookie; unsafe requests echo its CSRF token)"),
        (name = "videos", description = "People's videos: start one (an upload), list, read, edit, delete"),
        (name = "social", description = "Likes, channels and subscriptions, the feed, comments"),
        (name = "moderation", description = "Reports, and the moderation queue moderators decide"),
        (name = "uploads", description = "Direct uploads: create one, hand its tus URL and token to a browser"),
        (name = "tus", description = "The tus 1.0 resumable upload protocol"),
        (name = "assets", description = "Videos and their lifecycle"),
        (name = "events", description = "Server-Sent Events"),
        (name = "jobs", description = "The job queue"),
        (name = "playback", description = "Signing keys for signed playback ids"),
        (name = "webhooks", description = "Webhook endpoints and deliveries"),
    )
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API key: sk_…"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(utoipa::openapi::security::ApiKey::Cookie(
                utoipa::openapi::security::ApiKeyValue::with_description(
                    "sunomi_session",
                    "A person's session (`__Host-sunomi_session` under TLS), from sign-in",
                ),
            )),
        );
        components.add_security_scheme(
            "upload_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A delegated upload token (ut_…), for one upload"))
                    .build(),
            ),
        );
    }
}

/// The document as JSON.
pub fn openapi_json(config: &crate::config::Config) -> String {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    state_limits(&mut doc, config);
    admin_sessions(&mut doc);
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

/// Every route an API key opens also takes an administrator's session (`auth::ApiKey`):
/// the document says so beside each `api_key` requirement.
fn admin_sessions(doc: &mut serde_json::Value) {
    let Some(paths) = doc.get_mut("paths").and_then(|p| p.as_object_mut()) else {
        return;
    };
    for operation in paths
        .values_mut()
        .filter_map(|p| p.as_object_mut())
        .flat_map(|p| p.values_mut())
    {
        let Some(security) = operation.get_mut("security").and_then(|s| s.as_array_mut()) else {
            continue;
        };
        let by_key = security.iter().any(|s| s.get("api_key").is_some());
        let by_session = security.iter().any(|s| s.get("session").is_some());
        if by_key && !by_session {
            security.push(serde_json::json!({ "session": [] }));
        }
    }
}

/// Writes into the document what the handlers enforce that the derive cannot say: the
/// configured largest upload, and that a direct upload needs its size.
fn state_limits(doc: &mut serde_json::Value, config: &crate::config::Config) {
    let max = serde_json::Value::from(config.uploads.max_size);
    if let Some(create) = doc.pointer_mut("/components/schemas/CreateUpload") {
        if let Some(size) = create.pointer_mut("/properties/size") {
            size["maximum"] = max.clone();
        }
        create["if"] = serde_json::json!({
            "properties": { "direct": { "const": true } },
            "required": ["direct"],
        });
        create["then"] = serde_json::json!({
            "required": ["size"],
            "properties": { "size": { "type": "integer" } },
        });
        let (entries, key_len, value_len) = uploads::MAX_META;
        if let Some(meta) = create.pointer_mut("/properties/meta") {
            meta["maxProperties"] = entries.into();
            meta["propertyNames"] =
                serde_json::json!({ "type": "string", "minLength": 1, "maxLength": key_len });
            meta["additionalProperties"] =
                serde_json::json!({ "type": "string", "maxLength": value_len });
        }
        if let Some(p) = create.pointer_mut("/properties/passthrough") {
            p["maxLength"] = uploads::MAX_PASSTHROUGH.into();
        }
    }
    if let Some(params) = doc
        .pointer_mut("/paths/~1api~1v1~1tus/post/parameters")
        .and_then(|p| p.as_array_mut())
    {
        for p in params.iter_mut().filter(|p| p["name"] == "Upload-Length") {
            p["schema"]["maximum"] = max.clone();
        }
    }
}

/// An optional JSON body: empty, whitespace or `null` is `T::default()`; anything else
/// must be a `T` (400 otherwise).
pub fn optional_json<T: serde::de::DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice::<Option<T>>(body)
        .map(Option::unwrap_or_default)
        .map_err(|e| ApiError::bad_request(format!("invalid body: {e}")))
}

/// Maps a JSON body rejection to the error table.
pub fn json_rejection(e: JsonRejection) -> ApiError {
    match e {
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "send Content-Type: application/json",
        ),
        other => ApiError::bad_request(other.body_text()),
    }
}

async fn openapi(State(config): State<Arc<Config>>) -> Response {
    let mut resp = openapi_json(&config).into_response();
    resp.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    resp
}

async fn not_found() -> ApiError {
    ApiError::not_found("route")
}

/// Counts every answer by route and status, and every error answer whose code its
/// operation does not document ([`problem::documented`]).
async fn count(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().clone();
    let resp = next.run(req).await;
    metrics()
        .api_requests
        .with_label_values(&[&route, resp.status().as_str()])
        .inc();
    if let Some(code) = resp.extensions().get::<ErrorCode>() {
        let method = method.as_str();
        let listed = problem::documented()
            .get(&(method.to_string(), route.clone()))
            .map(|codes| codes.contains(code.code()));
        if listed == Some(false) {
            tracing::warn!(%route, %method, code = code.code(), "an error the document does not list");
            metrics()
                .api_undocumented_errors
                .with_label_values(&[&route, method, code.code()])
                .inc();
        }
    }
    resp
}

/// What the API's handlers are given: each takes the services it uses by type
/// (`State<Arc<Assets>>`, …), never the whole [`App`].
#[derive(Clone)]
pub struct ApiState(Arc<App>);

macro_rules! services_by_type {
    ($($ty:ty => $field:ident),+ $(,)?) => {
        $(impl FromRef<ApiState> for $ty {
            fn from_ref(state: &ApiState) -> $ty {
                state.0.$field.clone()
            }
        })+
    };
}

services_by_type! {
    Arc<Config> => config,
    Arc<Assets> => assets,
    Arc<Captions> => captions,
    Arc<Uploads> => uploads,
    Arc<ApiKeys> => api_keys,
    Arc<Jobs> => jobs,
    Arc<SigningKeys> => signing_keys,
    Arc<Webhooks> => webhooks,
    Arc<Accounts> => accounts,
    Arc<Videos> => videos,
    Arc<Social> => social,
    Arc<Moderation> => moderation,
    Arc<AccountData> => account_data,
    Arc<Notifications> => notifications,
    Arc<Admin> => admin,
    Arc<Views> => views,
    Arc<SingleSignOn> => sso,
    Arc<PageTokens> => page_tokens,
    Arc<Profiles> => profiles,
}

impl FromRef<ApiState> for crate::web::pages::watch::Players {
    fn from_ref(state: &ApiState) -> Self {
        crate::web::pages::watch::Players {
            views: state.0.views.clone(),
            page_tokens: state.0.page_tokens.clone(),
        }
    }
}

impl FromRef<ApiState> for events::Streams {
    fn from_ref(state: &ApiState) -> events::Streams {
        events::Streams {
            bus: state.0.bus.clone(),
            assets: state.0.assets.clone(),
            api_keys: state.0.api_keys.clone(),
            max_per_key: state.0.config.api.max_streams_per_key,
        }
    }
}

/// The API router.
pub fn router(app: Arc<App>) -> Router {
    let tus_routes = Router::new()
        .route("/api/v1/tus", post(tus::create).options(tus::options))
        .route(
            "/api/v1/tus/{upload_id}",
            axum::routing::head(tus::head)
                .patch(tus::patch)
                .delete(tus::terminate)
                .options(tus::options),
        )
        .layer(middleware::from_fn(tus::protocol));
    Router::new()
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/auth/signup", post(accounts::sign_up))
        .route("/api/v1/auth/signin", post(accounts::sign_in))
        .route("/api/v1/auth/signout", post(accounts::sign_out))
        .route(
            "/api/v1/me",
            get(accounts::me)
                .patch(settings::rename)
                .delete(settings::delete_account),
        )
        .route("/api/v1/me/password", post(settings::change_password))
        .route("/api/v1/me/notifications", get(notifications::list))
        .route("/api/v1/admin/users", get(admin::users))
        .route(
            "/api/v1/admin/users/{user_id}",
            axum::routing::patch(admin::change_user),
        )
        .route(
            "/api/v1/me/notifications/read",
            post(notifications::mark_read),
        )
        .route("/api/v1/me/export", get(settings::export))
        .route("/api/v1/me/videos", get(videos::my_videos))
        .route("/api/v1/search", get(search::search))
        .route(
            "/api/v1/videos/{video_id}/captions/{lang}",
            put(video_captions::put).delete(video_captions::delete),
        )
        .route("/api/v1/search/suggestions", get(search::suggestions))
        .route("/api/v1/me/feed", get(social::feed))
        .route("/api/v1/me/reports", get(moderation::my_reports))
        .route(
            "/api/v1/videos/{video_id}/reports",
            post(moderation::report),
        )
        .route("/api/v1/moderation/queue", get(moderation::queue))
        .route("/api/v1/moderation/audit", get(moderation::audit))
        .route(
            "/api/v1/moderation/videos/{video_id}",
            post(moderation::decide),
        )
        .route(
            "/api/v1/moderation/registrations/{user_id}",
            post(moderation::decide_registration),
        )
        .route(
            "/api/v1/me/two-factor",
            post(settings::begin_two_factor).put(settings::enable_two_factor),
        )
        .route(
            "/api/v1/me/two-factor/disable",
            post(settings::disable_two_factor),
        )
        .route(
            "/api/v1/me/content-policy",
            get(settings::content_policy)
                .put(settings::set_content_policy)
                .delete(settings::reset_content_policy),
        )
        .route(
            "/api/v1/videos/{video_id}/like",
            put(social::like).delete(social::unlike),
        )
        .route("/api/v1/videos/{video_id}/likes", get(social::likes))
        .route("/api/v1/videos/{video_id}/views", post(views::count_view))
        .route(
            "/api/v1/channels/{channel_id}/picture",
            get(profiles::picture),
        )
        .route(
            "/api/v1/me/picture",
            put(profiles::set_picture).delete(profiles::remove_picture),
        )
        .route("/api/v1/me/channel", put(profiles::set_channel))
        .route(
            "/api/v1/api-keys",
            get(api_keys::list).post(api_keys::create),
        )
        .route("/api/v1/api-keys/{key_id}", delete(api_keys::revoke))
        .route("/api/v1/auth/sso/{provider_id}", get(sso::start))
        .route(
            "/api/v1/auth/sso/{provider_id}/callback",
            get(sso::callback),
        )
        .route(
            "/api/v1/videos/{video_id}/comments",
            get(social::comments).post(social::add_comment),
        )
        .route(
            "/api/v1/comments/{comment_id}",
            axum::routing::patch(social::edit_comment).delete(social::delete_comment),
        )
        .route("/api/v1/channels/{channel_id}", get(social::channel))
        .route(
            "/api/v1/channels/{channel_id}/subscription",
            put(social::subscribe).delete(social::unsubscribe),
        )
        .route(
            "/api/v1/channels/{channel_id}/videos",
            get(social::channel_videos),
        )
        .route(
            "/api/v1/videos",
            post(videos::create_video).get(videos::list_videos),
        )
        .route(
            "/api/v1/videos/{video_id}",
            get(videos::get_video)
                .patch(videos::update_video)
                .delete(videos::delete_video),
        )
        .route("/api/v1/uploads", post(uploads::create_upload))
        .route("/api/v1/uploads/{upload_id}", get(uploads::get_upload))
        .route(
            "/api/v1/uploads/{upload_id}/cancel",
            put(uploads::cancel_upload),
        )
        .route(
            "/api/v1/uploads/{upload_id}/token",
            delete(uploads::revoke_token),
        )
        .route(
            "/api/v1/uploads/{upload_id}/complete",
            post(uploads::complete_direct),
        )
        .route("/api/v1/assets", get(assets::list_assets))
        .route(
            "/api/v1/assets/{asset_id}",
            get(assets::get_asset).delete(assets::delete_asset),
        )
        .route(
            "/api/v1/assets/{asset_id}/playback-ids",
            get(assets::list_playback_ids).post(assets::create_playback_id),
        )
        .route(
            "/api/v1/assets/{asset_id}/playback-ids/{playback_id}",
            delete(assets::delete_playback_id),
        )
        .route("/api/v1/assets/{asset_id}/moderation", post(assets::review))
        .route(
            "/api/v1/assets/{asset_id}/reviews",
            get(assets::list_reviews),
        )
        .route(
            "/api/v1/assets/{asset_id}/captions/{lang}",
            put(assets::put_captions).delete(assets::delete_captions),
        )
        .route(
            "/api/v1/assets/{asset_id}/events",
            get(events::asset_events),
        )
        .route("/api/v1/events", get(events::all_events))
        .route(
            "/api/v1/signing-keys",
            post(signing_keys::create).get(signing_keys::list),
        )
        .route(
            "/api/v1/signing-keys/{key_id}",
            delete(signing_keys::delete),
        )
        .route("/api/v1/jobs", get(jobs::queue))
        .route("/api/v1/jobs/dead", get(jobs::dead))
        .route("/api/v1/jobs/{job_id}/retry", post(jobs::retry))
        .route(
            "/api/v1/webhooks/endpoints",
            post(webhooks::create_endpoint).get(webhooks::list_endpoints),
        )
        .route(
            "/api/v1/webhooks/endpoints/{endpoint_id}",
            get(webhooks::get_endpoint).delete(webhooks::delete_endpoint),
        )
        .route(
            "/api/v1/webhooks/endpoints/{endpoint_id}/rotate-secret",
            post(webhooks::rotate_secret),
        )
        .route("/api/v1/webhooks/deliveries", get(webhooks::deliveries))
        .route(
            "/api/v1/webhooks/deliveries/{msg_id}",
            get(webhooks::delivery),
        )
        .route(
            "/api/v1/webhooks/deliveries/{msg_id}/redeliver",
            post(webhooks::redeliver),
        )
        .merge(tus_routes)
        .merge(crate::web::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                ErrorCode::MethodNotAllowed,
                "this route does not take that method",
            )
        })
        .layer(middleware::from_fn(count))
        .with_state(ApiState(app))
}

/// The admin router: `/metrics`, `/healthz`, `/readyz`.
pub fn admin_router(app: Arc<App>) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(|State(app): State<Arc<App>>| async move { app.metrics_text().await }),
        )
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/readyz",
            get(|State(app): State<Arc<App>>| async move {
                match app.ready().await {
                    Ok(()) => (StatusCode::OK, "ready\n".to_string()),
                    Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")),
                }
            }),
        )
        .with_state(app)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use problem::ErrorCode;
    use tower::ServiceExt;

    #[test]
    fn the_document_lists_each_operations_codes() {
        let table = problem::documented();
        let delete = &table[&(
            "DELETE".to_string(),
            "/api/v1/assets/{asset_id}".to_string(),
        )];
        assert!(delete.contains("not_found") && delete.contains("propagation_pending"));
        assert!(!delete.contains("limit_reached"));
        let head = &table[&("HEAD".to_string(), "/api/v1/tus/{upload_id}".to_string())];
        assert!(head.contains("upload_expired") && head.contains("tus_version"));
    }

    #[tokio::test]
    async fn an_error_the_route_does_not_document_is_counted() {
        let series = |code: &str| {
            metrics()
                .api_undocumented_errors
                .with_label_values(&["/api/v1/assets/{asset_id}", "GET", code])
                .get()
        };
        let before = (series("limit_reached"), series("not_found"));
        let app = Router::new()
            .route(
                "/api/v1/assets/{asset_id}",
                get(
                    |axum::extract::Path(id): axum::extract::Path<String>| async move {
                        match id.as_str() {
                            "listed" => ApiError::not_found("asset"),
                            _ => ApiError::new(ErrorCode::LimitReached, "not this route's"),
                        }
                    },
                ),
            )
            .layer(middleware::from_fn(count));
        for id in ["listed", "unlisted"] {
            let req = Request::get(format!("/api/v1/assets/{id}"))
                .body(Body::empty())
                .unwrap();
            let resp = app.clone().oneshot(req).await.unwrap();
            assert!(resp.status().is_client_error());
        }
        assert_eq!(series("not_found"), before.1);
        assert_eq!(series("limit_reached"), before.0 + 1);
    }
}
