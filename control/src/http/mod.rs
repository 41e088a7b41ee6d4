//! The API (`/api/v1`): one module per resource, handlers thin over [`crate::app`] and
//! [`crate::ingest`], one error table ([`problem`]), authentication as an extractor
//! ([`auth`]), and the OpenAPI 3.1 document generated from the handlers ([`ApiDoc`]).

pub mod assets;
pub mod auth;
pub mod events;
pub mod jobs;
pub mod listener;
pub mod problem;
pub mod signing_keys;
pub mod streams;
pub mod tus;
pub mod uploads;
pub mod webhooks;

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::Router;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::app::App;
use crate::metrics::metrics;
use problem::ApiError;

/// The OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(title = "Sunomi control plane API", version = "1.0.0",
        description = "Uploads (tus 1.0), assets and their lifecycle, playback ids, events (SSE, Standard Webhooks), jobs. Errors are application/problem+json."),
    paths(
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
    components(schemas(problem::Problem, crate::asset::Event)),
    modifiers(&Security),
    tags(
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
pub fn openapi_json() -> String {
    ApiDoc::openapi().to_pretty_json().unwrap_or_default()
}

/// Maps a JSON body rejection to the error table.
pub fn json_rejection(e: JsonRejection) -> ApiError {
    match e {
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send Content-Type: application/json",
        ),
        other => ApiError::bad_request(other.body_text()),
    }
}

async fn openapi(State(_): State<Arc<App>>) -> Response {
    let mut resp = openapi_json().into_response();
    resp.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    resp
}

async fn not_found() -> ApiError {
    ApiError::not_found("route")
}

async fn count(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let resp = next.run(req).await;
    metrics()
        .api_requests
        .with_label_values(&[&route, resp.status().as_str()])
        .inc();
    resp
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
        .fallback(not_found)
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not take that method",
            )
        })
        .layer(middleware::from_fn(count))
        .with_state(app)
}

/// The admin router: `/metrics`, `/healthz`, `/readyz`.
pub fn admin_router(app: Arc<App>) -> Router {
    Router::new()
        .route("/metrics", get(|| async { crate::metrics::encode() }))
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
