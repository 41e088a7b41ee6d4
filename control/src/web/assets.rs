//! The web app's static files, embedded in the binary with a gzip copy of each made at build
//! time (`control/build.rs`): its own stylesheet and script (`control/web/static/`) and the
//! third-party scripts copied from npm. Nothing is loaded from anywhere else at run time,
//! and nothing is compressed per request.

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

macro_rules! embedded {
    ($name:literal, $kind:literal) => {
        (
            $name,
            $kind,
            include_bytes!(concat!(env!("OUT_DIR"), "/", $name)) as &[u8],
            include_bytes!(concat!(env!("OUT_DIR"), "/", $name, ".gz")) as &[u8],
        )
    };
}

/// (name, content type, bytes, gzip of the bytes)
const FILES: &[(&str, &str, &[u8], &[u8])] = &[
    embedded!("app.css", "text/css; charset=utf-8"),
    embedded!("app.js", "text/javascript; charset=utf-8"),
    embedded!("hls.min.js", "text/javascript; charset=utf-8"),
    embedded!("tus.min.js", "text/javascript; charset=utf-8"),
];

/// The names of embedded files that are empty: third-party scripts the build did not find
/// (npm was not run in `control/web`). `serve` warns about them at start.
pub fn missing() -> Vec<&'static str> {
    FILES
        .iter()
        .filter(|(_, _, bytes, _)| bytes.is_empty())
        .map(|(name, _, _, _)| *name)
        .collect()
}

/// Whether the request's `Accept-Encoding` takes gzip.
fn takes_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    == Some(0.0)
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

/// `GET /static/{file}`: the gzip copy when the client takes it.
pub async fn file(Path(name): Path<String>, headers: HeaderMap) -> Response {
    let Some((_, kind, bytes, gz)) = FILES.iter().find(|(n, _, _, _)| *n == name) else {
        return (StatusCode::NOT_FOUND, "no such file\n").into_response();
    };
    if bytes.is_empty() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "this build has no copy of this script: run `make deps` (npm ci in control/web) and build again\n",
        )
            .into_response();
    }
    let gzip = takes_gzip(&headers);
    let mut resp = if gzip { *gz } else { *bytes }.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    if gzip {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn each_gzip_copy_is_its_file() {
        for (name, _, bytes, gz) in FILES {
            if bytes.is_empty() {
                continue;
            }
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(*gz)
                .read_to_end(&mut out)
                .unwrap();
            assert_eq!(&out[..], *bytes, "{name}");
            assert!(gz.len() < bytes.len(), "{name} compresses");
        }
    }

    #[test]
    fn gzip_is_sent_only_to_those_who_take_it() {
        let with = |v: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(header::ACCEPT_ENCODING, HeaderValue::from_static(v));
            takes_gzip(&h)
        };
        assert!(with("gzip, deflate, br"));
        assert!(with("br;q=1.0, GZIP;q=0.5"));
        assert!(with("*"));
        assert!(!with("br"));
        assert!(!with("gzip;q=0, br"));
        assert!(!takes_gzip(&HeaderMap::new()));
    }
}
