//! The web app people use, served by `sunomi-control` at `/` on the API listener: pages
//! rendered on the server ([`pages`]) from the same services the API uses, with small
//! scripts that call `/api/v1` for what must be live; static files embedded in the binary
//! ([`assets`]). See ARCHITECTURE.md ("The web app") for why it is built this way.

pub mod assets;
pub mod html;
pub mod pages;

use axum::routing::get;
use axum::Router;

use crate::http::ApiState;

/// The pages and static files.
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/", get(pages::home))
        .route("/search", get(pages::search))
        .route("/signin", get(pages::sign_in))
        .route("/signup", get(pages::sign_up))
        .route("/upload", get(pages::upload))
        .route("/studio", get(pages::studio))
        .route("/studio/{video_id}", get(pages::edit_video))
        .route("/settings", get(pages::settings))
        .route("/reports", get(pages::my_reports))
        .route("/notifications", get(pages::notifications))
        .route("/admin", get(pages::admin))
        .route("/moderation", get(pages::moderation_queue))
        .route(
            "/moderation/videos/{video_id}",
            get(pages::moderation_review),
        )
        .route("/feed", get(pages::feed))
        .route("/channel/{channel_id}", get(pages::channel))
        .route("/watch/{video_id}", get(pages::watch))
        .route("/embed/{playback_id}", get(pages::embed))
        .route("/videos/{video_id}/poster.jpg", get(pages::poster))
        // Pages go gzipped to browsers that take it (a quick level: made per request); the
        // static files below carry their own gzip copies, made at build time.
        .layer(
            tower_http::compression::CompressionLayer::new()
                .gzip(true)
                .quality(tower_http::CompressionLevel::Fastest),
        )
        .route("/static/{file}", get(assets::file))
}
