//! The web app's static files, embedded in the binary: its own stylesheet and script
//! (`control/web/static/`) and the third-party scripts `control/build.rs` copied from npm.
//! Nothing is loaded from anywhere else at run time.

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// (name, content type, bytes)
const FILES: &[(&str, &str, &[u8])] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_bytes!("../../web/static/app.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../web/static/app.js"),
    ),
    (
        "hls.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!(concat!(env!("OUT_DIR"), "/hls.min.js")),
    ),
    (
        "tus.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!(concat!(env!("OUT_DIR"), "/tus.min.js")),
    ),
];

/// The names of embedded files that are empty: third-party scripts the build did not find
/// (npm was not run in `control/web`). `serve` warns about them at start.
pub fn missing() -> Vec<&'static str> {
    FILES
        .iter()
        .filter(|(_, _, bytes)| bytes.is_empty())
        .map(|(name, _, _)| *name)
        .collect()
}

/// `GET /static/{file}`.
pub async fn file(Path(name): Path<String>) -> Response {
    let Some((_, kind, bytes)) = FILES.iter().find(|(n, _, _)| *n == name) else {
        return (StatusCode::NOT_FOUND, "no such file\n").into_response();
    };
    if bytes.is_empty() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "this build has no copy of this script: run `make deps` (npm ci in control/web) and build again\n",
        )
            .into_response();
    }
    let mut resp = bytes.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}
