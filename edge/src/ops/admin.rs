//! The admin listener: `/metrics`, `/healthz`, `/readyz`, `/config` (read-only, for
//! monitoring; `/config` shows the configuration in effect with its secrets redacted), and
//! `POST /purge`, `POST /reload`, `POST /leave` (leave the fleet's ring before stopping;
//! `/readyz` then answers 503) (mutating: with an admin token configured they require
//! `Authorization: Bearer {token}`; without one the listener is loopback-only, which the
//! configuration enforces at start).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use http::Response;
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;

use crate::fleet::purge::PurgeScope;
use crate::fleet::PurgeTarget;
use crate::media::Media;
use crate::ops::metrics;
use crate::ops::reload::Reloader;

/// Answers operators and monitoring.
pub struct Admin {
    media: Arc<Media>,
    reloader: Arc<Reloader>,
    token: Option<String>,
}

impl Admin {
    /// An admin app reporting on `media` and reloading through `reloader`; mutating calls
    /// need `token` when there is one.
    pub fn new(media: Arc<Media>, reloader: Arc<Reloader>, token: Option<String>) -> Self {
        Admin {
            media,
            reloader,
            token,
        }
    }

    /// `None` when the request may mutate (POST, with the admin token if one is set); the
    /// refusal to send otherwise.
    fn refuse_mutation(&self, session: &ServerSession) -> Option<Response<Vec<u8>>> {
        if session.req_header().method != http::Method::POST {
            return Some(text(
                405,
                "text/plain",
                b"this endpoint takes POST\n".to_vec(),
            ));
        }
        let token = self.token.as_ref()?;
        let given = session
            .req_header()
            .headers
            .get("Authorization")
            .and_then(|v| v.to_str().ok());
        let why = check_bearer(given, token).err()?;
        metrics::metrics()
            .refused
            .with_label_values(&["admin"])
            .inc();
        let mut resp = text(401, "text/plain", format!("{why}\n").into_bytes());
        if let Ok(v) = "Bearer realm=\"sunomi-admin\"".parse() {
            resp.headers_mut().insert("WWW-Authenticate", v);
        }
        Some(resp)
    }
}

/// Whether an `Authorization` header carries `token` as a bearer token (constant time in
/// the token's bytes). Why not, when it does not.
fn check_bearer(authorization: Option<&str>, token: &str) -> Result<(), &'static str> {
    let Some(value) = authorization else {
        return Err("this endpoint needs an Authorization: Bearer <admin token> header");
    };
    let Some(given) = value
        .get(..7)
        .filter(|scheme| scheme.eq_ignore_ascii_case("bearer "))
        .map(|_| value[7..].trim())
    else {
        return Err("the Authorization header must use the Bearer scheme");
    };
    let (a, b) = (given.as_bytes(), token.as_bytes());
    let differ = a.len() != b.len() || a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) != 0;
    if differ {
        return Err("the admin token is not valid");
    }
    Ok(())
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

/// Reads `url=…`, `id=…` or `all=1` (exactly one) from a purge request's query; `id=`
/// may carry `revision=N` (the record version the purge announces, see [`PurgeScope`]).
fn parse_purge(query: &str) -> Result<PurgeScope, String> {
    let mut scopes = Vec::new();
    let mut revision = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_encoding::percent_decode_str(value)
            .decode_utf8()
            .map_err(|_| format!("{name}: not UTF-8"))?;
        if name == "revision" {
            let n = value
                .parse::<u64>()
                .map_err(|_| format!("revision {value:?} is not a number"))?;
            revision = Some(n);
            continue;
        }
        scopes.push(match name {
            "url" => {
                // A full URL or just its path; the query part is not part of the object.
                let path = match value.split_once("://") {
                    Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]),
                    None => &value,
                };
                let path = path.split('?').next().unwrap_or(path);
                // Any served form (clear, `aes/`, `saes/`, `ts/`, `br/`) names an object.
                sunomi_packager::route::parse_request(path)
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
                    revision: None,
                }
            }
            "all" if value == "1" || value == "true" => PurgeScope::All,
            other => return Err(format!("unknown purge parameter {other:?}")),
        });
    }
    if let (Some(n), [PurgeScope::Video { revision, .. }]) = (revision, scopes.as_mut_slice()) {
        *revision = Some(n);
    } else if revision.is_some() {
        return Err("revision goes with id=".into());
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
                if let Some(refusal) = self.refuse_mutation(session) {
                    return refusal;
                }
                let query = session.req_header().uri.query().unwrap_or("");
                match parse_purge(query) {
                    Ok(scope) => self.purge(scope).await,
                    Err(reason) => text(400, "text/plain", format!("{reason}\n").into_bytes()),
                }
            }
            "/reload" => {
                if let Some(refusal) = self.refuse_mutation(session) {
                    return refusal;
                }
                let report = self.reloader.reload("admin").await;
                let status = if report.error.is_some() { 400 } else { 200 };
                let mut body = serde_json::to_vec(&report).unwrap_or_default();
                body.push(b'\n');
                text(status, "application/json", body)
            }
            "/leave" => {
                if let Some(refusal) = self.refuse_mutation(session) {
                    return refusal;
                }
                self.media.fleet().leave().await;
                tracing::info!("left the fleet's ring (admin /leave); /readyz now says so");
                text(200, "text/plain", b"left the ring\n".to_vec())
            }
            "/config" => {
                let mut body =
                    serde_json::to_vec_pretty(&self.reloader.effective()).unwrap_or_default();
                body.push(b'\n');
                text(200, "application/json", body)
            }
            "/readyz" => {
                if self.media.fleet().is_leaving() {
                    return text(503, "text/plain", b"leaving the fleet\n".to_vec());
                }
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
    fn bearer_tokens() {
        let token = "0123456789abcdef";
        assert_eq!(check_bearer(Some("Bearer 0123456789abcdef"), token), Ok(()));
        assert_eq!(check_bearer(Some("bearer 0123456789abcdef"), token), Ok(()));
        for bad in [
            None,
            Some("Bearer"),
            Some("Basic 0123456789abcdef"),
            Some("Bearer 0123456789abcdeF"),
            Some("Bearer 0123456789abcde"),
            Some("Bearer 0123456789abcdef0"),
        ] {
            assert!(check_bearer(bad, token).is_err(), "{bad:?}");
        }
    }

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
            Ok(PurgeScope::Video {
                id: "abc".into(),
                revision: None
            })
        );
        assert_eq!(
            parse_purge("id=abc&revision=12"),
            Ok(PurgeScope::Video {
                id: "abc".into(),
                revision: Some(12)
            })
        );
        assert!(parse_purge("revision=12").is_err());
        assert!(parse_purge("url=/v/abc/master.m3u8&revision=1").is_err());
        assert!(parse_purge("id=abc&revision=x").is_err());
        assert_eq!(parse_purge("all=1"), Ok(PurgeScope::All));
        assert_eq!(
            parse_purge("url=/v/abc/aes/ts/720p/1.ts"),
            Ok(PurgeScope::Url {
                path: "/v/abc/aes/ts/720p/1.ts".into()
            })
        );
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
