//! The admin listener: `/metrics`, `/healthz`, `/readyz`, and `POST /purge`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use http::Response;
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;

use crate::fleet::purge::PurgeScope;
use crate::fleet::PurgeTarget;
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

impl Admin {
    /// Purges here at once, then fleet-wide. 200 when the fleet was told (or there is no
    /// fleet); 503 when only this edge purged because Redis did not answer (retrying is safe).
    async fn purge(&self, scope: PurgeScope) -> Response<Vec<u8>> {
        let label = match &scope {
            PurgeScope::Url { .. } => "url",
            PurgeScope::Video { .. } => "video",
            PurgeScope::All => "all",
        };
        metrics::metrics().purges.with_label_values(&[label]).inc();
        self.media.purge_local(&scope);
        let published = self.media.fleet().publish_purge(&scope).await;
        let (status, fleet, epoch) = match &published {
            Ok(Some(epoch)) => (200, "published", Some(*epoch)),
            Ok(None) => (200, "single-edge", None),
            Err(_) => (503, "unreachable: purged on this edge only, retry", None),
        };
        if let Err(e) = &published {
            tracing::warn!(error = %e, "purge not published to the fleet");
        }
        let body = serde_json::json!({ "purged": scope, "fleet": fleet, "epoch": epoch });
        let mut text_body = body.to_string().into_bytes();
        text_body.push(b'\n');
        text(status, "application/json", text_body)
    }
}

/// Reads `url=…`, `id=…` or `all=1` (exactly one) from a purge request's query.
fn parse_purge(query: &str) -> Result<PurgeScope, String> {
    let mut scopes = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_encoding::percent_decode_str(value)
            .decode_utf8()
            .map_err(|_| format!("{name}: not UTF-8"))?;
        scopes.push(match name {
            "url" => {
                // A full URL or just its path; the query part is not part of the object.
                let path = match value.split_once("://") {
                    Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]),
                    None => &value,
                };
                let path = path.split('?').next().unwrap_or(path);
                sunomi_packager::route::Route::parse(path)
                    .map_err(|e| format!("url {value:?} is not a Sunomi URL: {e}"))?;
                PurgeScope::Url {
                    path: path.to_string(),
                }
            }
            "id" => {
                if !sunomi_packager::names::is_valid_video_id(&value) {
                    return Err(format!("id {value:?} is not a valid video id"));
                }
                PurgeScope::Video {
                    id: value.into_owned(),
                }
            }
            "all" if value == "1" || value == "true" => PurgeScope::All,
            other => return Err(format!("unknown purge parameter {other:?}")),
        });
    }
    match scopes.len() {
        1 => Ok(scopes.remove(0)),
        0 => Err("say what to purge: ?url=PATH, ?id=VIDEO or ?all=1".into()),
        _ => Err("purge one thing at a time".into()),
    }
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
            "/purge" => {
                if session.req_header().method != http::Method::POST {
                    return text(405, "text/plain", b"purge takes POST\n".to_vec());
                }
                let query = session.req_header().uri.query().unwrap_or("");
                match parse_purge(query) {
                    Ok(scope) => self.purge(scope).await,
                    Err(reason) => text(400, "text/plain", format!("{reason}\n").into_bytes()),
                }
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purge_requests_name_one_scope() {
        assert_eq!(
            parse_purge("url=%2Fv%2Fabc%2F720p%2F1.m4s"),
            Ok(PurgeScope::Url {
                path: "/v/abc/720p/1.m4s".into()
            })
        );
        assert_eq!(
            parse_purge("url=http://edge:8080/v/abc/master.m3u8?x=1"),
            Ok(PurgeScope::Url {
                path: "/v/abc/master.m3u8".into()
            })
        );
        assert_eq!(
            parse_purge("id=abc"),
            Ok(PurgeScope::Video { id: "abc".into() })
        );
        assert_eq!(parse_purge("all=1"), Ok(PurgeScope::All));
        for bad in [
            "",
            "all=0",
            "id=../x",
            "url=/etc/passwd",
            "id=a&all=1",
            "nope=1",
            "url=%ff",
        ] {
            assert!(parse_purge(bad).is_err(), "{bad}");
        }
    }
}
