//! The picture service's HTTP listener (`sunomi-origin pictures`).
//!
//! Who may call it: the edges, and only them. Every picture request carries
//! `Authorization: Bearer {secret}` (the hex secret shared with the edges' `[pictures]`),
//! compared in constant time; without it, 401. Requests:
//! - `GET {SERVICE_PATH}/{video}/{file}?{spec}` with [`VERSION_HEADER`]: the picture, or
//!   404 (no such video, rendition or frame), 409 (the track is at another version: the
//!   edge plans again), 400 (a spec out of bounds), 503 (storage failed or every worker is
//!   busy), 500.
//! - `GET /healthz` and `GET /metrics` (Prometheus), open: they tell nothing about media.
//!
//! The work a caller can make is bounded by the spec's bounds (`sunomi_packager::picture`),
//! [`super::MAX_READ_BYTES`], the decoder's frame cap and the worker slots.

use std::convert::Infallible;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use prometheus::{Encoder, HistogramVec, IntCounterVec, TextEncoder};
use sunomi_packager::names;
use sunomi_packager::picture::{PictureFile, PictureSpec, SERVICE_PATH, VERSION_HEADER};

use super::PictureMaker;
use crate::reader::{ReadEvent, ReadObserver};

struct Metrics {
    pictures: IntCounterVec,
    seconds: HistogramVec,
    storage_reads: IntCounterVec,
}

fn metrics() -> &'static Metrics {
    static M: OnceLock<Metrics> = OnceLock::new();
    M.get_or_init(|| Metrics {
        pictures: prometheus::register_int_counter_vec!(
            "sunomi_pictures_total",
            "Picture requests answered, by file kind and status",
            &["kind", "status"]
        )
        .unwrap_or_else(|_| {
            IntCounterVec::new(prometheus::opts!("unused", "unused"), &["kind", "status"])
                .expect("static metric")
        }),
        seconds: prometheus::register_histogram_vec!(
            "sunomi_picture_draw_seconds",
            "Time to read, decode and encode a picture, by file kind",
            &["kind"],
            vec![0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]
        )
        .unwrap_or_else(|_| {
            HistogramVec::new(prometheus::histogram_opts!("unused", "unused"), &["kind"])
                .expect("static metric")
        }),
        storage_reads: prometheus::register_int_counter_vec!(
            "sunomi_picture_storage_reads_total",
            "Storage requests of the picture service (manifests, track heads, fragments), by result",
            &["result"]
        )
        .unwrap_or_else(|_| {
            IntCounterVec::new(prometheus::opts!("unused", "unused"), &["result"])
                .expect("static metric")
        }),
    })
}

/// Counts the service's storage requests in `sunomi_picture_storage_reads_total`.
struct StorageReads;

impl ReadObserver for StorageReads {
    fn observe(&self, event: ReadEvent) {
        let result = if event.ok { "ok" } else { "failed" };
        metrics().storage_reads.with_label_values(&[result]).inc();
    }
}

/// What the service's reader reports its storage requests to: with the pictures drawn, an
/// operator sees how many reads a picture costs (one, its fragments, once the track's head
/// is kept).
pub fn storage_observer() -> Arc<dyn ReadObserver> {
    Arc::new(StorageReads)
}

/// Equal in time independent of where they differ (the secret is compared byte by byte).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn text(status: u16, body: impl Into<String>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.into())));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// The service: a maker and the bearer token callers must present.
pub struct PictureService {
    maker: PictureMaker,
    authorization: String,
}

impl PictureService {
    /// A service drawing with `maker` for callers presenting `secret` (hex).
    pub fn new(maker: PictureMaker, secret: &str) -> PictureService {
        PictureService {
            maker,
            authorization: format!("Bearer {secret}"),
        }
    }

    /// Answers one request.
    pub async fn answer(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        if req.method() != Method::GET {
            return text(405, "only GET");
        }
        let path = req.uri().path();
        match path {
            "/healthz" => return text(200, "ok"),
            "/metrics" => {
                let mut out = Vec::new();
                let _ = TextEncoder::new().encode(&prometheus::gather(), &mut out);
                return text(200, String::from_utf8_lossy(&out).into_owned());
            }
            _ => {}
        }
        let Some((video, file)) = path
            .strip_prefix(SERVICE_PATH)
            .and_then(|p| p.strip_prefix('/'))
            .and_then(|p| p.split_once('/'))
        else {
            return text(404, "no such path");
        };
        let authorized = req
            .headers()
            .get(hyper::header::AUTHORIZATION)
            .is_some_and(|v| constant_time_eq(v.as_bytes(), self.authorization.as_bytes()));
        if !authorized {
            return text(401, "a picture request needs the edges' bearer token");
        }
        let Some(file) = PictureFile::parse(file).filter(|_| names::is_valid_video_id(video))
        else {
            return text(404, "no such picture");
        };
        let spec = match PictureSpec::from_query(file, req.uri().query().unwrap_or("")) {
            Ok(spec) => spec,
            Err(e) => return text(400, e.to_string()),
        };
        let version = req
            .headers()
            .get(VERSION_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let kind = match file.kind() {
            sunomi_packager::picture::PictureKind::Thumbnail => "thumbnail",
            sunomi_packager::picture::PictureKind::Storyboard => "storyboard",
            sunomi_packager::picture::PictureKind::Animated => "animated",
        };
        let started = std::time::Instant::now();
        let result = self.maker.draw(video, &spec, version.as_deref()).await;
        let m = metrics();
        m.seconds
            .with_label_values(&[kind])
            .observe(started.elapsed().as_secs_f64());
        let response = match result {
            Ok(body) => {
                let mut r = Response::new(Full::new(body));
                r.headers_mut().insert(
                    hyper::header::CONTENT_TYPE,
                    hyper::header::HeaderValue::from_static(file.content_type()),
                );
                r
            }
            Err(e) => {
                if e.status() >= 500 {
                    tracing::warn!(video, error = %e, "picture failed");
                }
                text(e.status(), e.to_string())
            }
        };
        m.pictures
            .with_label_values(&[kind, response.status().as_str()])
            .inc();
        response
    }
}

/// Serves `service` on `listener` until `shutdown` completes (connections in flight finish
/// their request).
pub async fn serve(
    listener: tokio::net::TcpListener,
    service: Arc<PictureService>,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let _ = metrics();
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => accepted?,
            () = &mut shutdown => return Ok(()),
        };
        let service = service.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let service = service.clone();
                async move { Ok::<_, Infallible>(service.answer(req).await) }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await
            {
                tracing::debug!(error = %e, "picture connection ended");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_whole() {
        assert!(constant_time_eq(b"Bearer ab", b"Bearer ab"));
        assert!(!constant_time_eq(b"Bearer ab", b"Bearer ac"));
        assert!(!constant_time_eq(b"Bearer a", b"Bearer ab"));
    }
}
