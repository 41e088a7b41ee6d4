//! The admin listener: `/metrics`, `/healthz`, `/readyz`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use http::Response;
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;

use crate::media::Media;
use crate::metrics;

/// Answers operators and monitoring.
pub struct Admin {
    media: Arc<Media>,
}

impl Admin {
    /// An admin app reporting on `media`.
    pub fn new(media: Arc<Media>) -> Self {
        Admin { media }
    }
}

fn text(status: u16, content_type: &str, body: Vec<u8>) -> Response<Vec<u8>> {
    Response::builder()
        .status(status)
        .header("Content-Type", content_type)
        .header("Content-Length", body.len())
        .header("Cache-Control", "no-store")
        .body(body)
        .unwrap_or_else(|_| Response::new(Vec::new()))
}

#[async_trait]
impl ServeHttp for Admin {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        match session.req_header().uri.path() {
            "/metrics" => {
                self.media.report_cache_sizes();
                text(200, "text/plain; version=0.0.4", metrics::render())
            }
            "/healthz" => text(200, "text/plain", b"ok\n".to_vec()),
            "/readyz" => {
                let probe =
                    tokio::time::timeout(Duration::from_secs(3), self.media.reader().probe()).await;
                match probe {
                    Ok(Ok(())) => text(200, "text/plain", b"ready\n".to_vec()),
                    Ok(Err(e)) => text(503, "text/plain", format!("storage: {e}\n").into_bytes()),
                    Err(_) => text(503, "text/plain", b"storage: timed out\n".to_vec()),
                }
            }
            _ => text(404, "text/plain", b"not found\n".to_vec()),
        }
    }
}
