//! One keep-alive HTTP/1.1 connection and the outcome of each request on it.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use tokio::net::TcpStream;

/// Why a request failed. Every failure is counted by kind, never dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The TCP connection (or the HTTP handshake) could not be made.
    Connect,
    /// The whole request took longer than the timeout (slow servers, slow-loris bodies).
    Timeout,
    /// The server answered with a status other than 2xx.
    Status,
    /// The body ended before its Content-Length, or the connection broke mid-response.
    Truncated,
    /// A playlist that could not be parsed or names nothing playable.
    Playlist,
}

/// A parsed target URL: where to connect and what to ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `host:port` used in the Host header.
    pub authority: String,
    /// Path and query.
    pub path: String,
}

impl Target {
    /// Parses an `http://host:port/path` URL (plain HTTP only).
    pub fn parse(url: &str) -> Result<Target, String> {
        let uri: hyper::Uri = url
            .parse()
            .map_err(|e| format!("invalid URL {url:?}: {e}"))?;
        if uri.scheme_str() != Some("http") {
            return Err(format!("{url}: only http:// URLs are supported"));
        }
        let authority = uri
            .authority()
            .ok_or_else(|| format!("{url}: no host"))?
            .to_string();
        let authority = if authority.contains(':') {
            authority
        } else {
            format!("{authority}:80")
        };
        let path = uri
            .path_and_query()
            .map_or("/".to_string(), |p| p.to_string());
        Ok(Target { authority, path })
    }

    /// Resolves a (possibly relative) URI found in a playlist at this target.
    pub fn join(&self, uri: &str) -> Result<Target, String> {
        if uri.starts_with("http://") {
            return Target::parse(uri);
        }
        if uri.contains("://") {
            return Err(format!("{uri}: only http:// URLs are supported"));
        }
        let path = if uri.starts_with('/') {
            uri.to_string()
        } else {
            let base = self.path.split('?').next().unwrap_or("/");
            let dir = &base[..base.rfind('/').map_or(0, |i| i + 1)];
            format!("{dir}{uri}")
        };
        Ok(Target {
            authority: self.authority.clone(),
            path,
        })
    }
}

/// What one request achieved.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// HTTP status (0 when none was received).
    pub status: u16,
    /// Body bytes received.
    pub bytes: u64,
    /// Time to the response head.
    pub ttfb: Duration,
    /// Time to the end of the body.
    pub total: Duration,
    /// The failure, if any.
    pub error: Option<ErrorKind>,
    /// The body, when asked to keep it.
    pub body: Option<Bytes>,
}

/// Parses `Name: value` into a header (for `--header`).
pub fn parse_header(
    text: &str,
) -> Result<(hyper::header::HeaderName, hyper::header::HeaderValue), String> {
    let (name, value) = text
        .split_once(':')
        .ok_or_else(|| format!("{text:?}: a header is `Name: value`"))?;
    let name = hyper::header::HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|e| format!("{name:?}: {e}"))?;
    let value =
        hyper::header::HeaderValue::from_str(value.trim()).map_err(|e| format!("{text:?}: {e}"))?;
    Ok((name, value))
}

/// A connection to one server, reconnecting after failures.
pub struct Connection {
    authority: String,
    sender: Option<SendRequest<Full<Bytes>>>,
    timeout: Duration,
    headers: Vec<(hyper::header::HeaderName, hyper::header::HeaderValue)>,
    /// The method and body of every request (GET with none unless [`Connection::with_body`]).
    method: hyper::Method,
    body: Option<Bytes>,
}

async fn connect(authority: &str) -> Result<SendRequest<Full<Bytes>>, ()> {
    let addr: SocketAddr = match authority.parse() {
        Ok(a) => a,
        Err(_) => tokio::net::lookup_host(authority)
            .await
            .map_err(|_| ())?
            .next()
            .ok_or(())?,
    };
    let stream = TcpStream::connect(addr).await.map_err(|_| ())?;
    let _ = stream.set_nodelay(true);
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|_| ())?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

impl Connection {
    /// A connection (opened lazily) to `authority` with a per-request `timeout`.
    pub fn new(authority: &str, timeout: Duration) -> Self {
        Connection {
            authority: authority.to_string(),
            sender: None,
            timeout,
            headers: Vec::new(),
            method: hyper::Method::GET,
            body: None,
        }
    }

    /// Sends every request as `method` with `body` (e.g. a POST of JSON) instead of a GET.
    pub fn with_body(mut self, method: hyper::Method, body: Option<Bytes>) -> Self {
        self.method = method;
        self.body = body;
        self
    }

    /// Sends `headers` (e.g. `Authorization`) with every request.
    pub fn with_headers(
        mut self,
        headers: Vec<(hyper::header::HeaderName, hyper::header::HeaderValue)>,
    ) -> Self {
        self.headers = headers;
        self
    }

    /// Requests `path` (a GET unless [`Connection::with_body`]), reading the whole body
    /// (kept when `keep_body`).
    pub async fn get(&mut self, path: &str, keep_body: bool) -> Outcome {
        self.get_capped(path, keep_body, None).await
    }

    /// Requests `path` reading the body no faster than `cap_bps` bits per second (a player on a
    /// slow link), when given.
    pub async fn get_capped(
        &mut self,
        path: &str,
        keep_body: bool,
        cap_bps: Option<f64>,
    ) -> Outcome {
        let started = Instant::now();
        let failed = |kind, status, bytes, ttfb| Outcome {
            status,
            bytes,
            ttfb,
            total: started.elapsed(),
            error: Some(kind),
            body: None,
        };
        match tokio::time::timeout(
            self.timeout,
            self.exchange(path, keep_body, cap_bps, started),
        )
        .await
        {
            Ok(Ok(outcome)) => outcome,
            Ok(Err((kind, status, bytes, ttfb))) => {
                self.sender = None;
                failed(kind, status, bytes, ttfb)
            }
            Err(_) => {
                self.sender = None;
                failed(ErrorKind::Timeout, 0, 0, Duration::ZERO)
            }
        }
    }

    async fn exchange(
        &mut self,
        path: &str,
        keep_body: bool,
        cap_bps: Option<f64>,
        started: Instant,
    ) -> Result<Outcome, (ErrorKind, u16, u64, Duration)> {
        let ready = match self.sender.as_mut() {
            Some(s) => s.ready().await.is_ok(),
            None => false,
        };
        if !ready {
            let s = connect(&self.authority)
                .await
                .map_err(|_| (ErrorKind::Connect, 0, 0, Duration::ZERO))?;
            self.sender = Some(s);
        }
        let sender = self
            .sender
            .as_mut()
            .ok_or((ErrorKind::Connect, 0, 0, Duration::ZERO))?;
        let mut builder = Request::builder()
            .method(self.method.clone())
            .uri(path)
            .header(hyper::header::HOST, &self.authority)
            .header(hyper::header::USER_AGENT, "sunomi-bench");
        for (k, v) in &self.headers {
            builder = builder.header(k, v);
        }
        let req = builder
            .body(Full::new(self.body.clone().unwrap_or_default()))
            .map_err(|_| (ErrorKind::Connect, 0, 0, Duration::ZERO))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|_| (ErrorKind::Truncated, 0, 0, started.elapsed()))?;
        let ttfb = started.elapsed();
        let status = resp.status().as_u16();
        let declared = resp
            .headers()
            .get(hyper::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let mut body = resp.into_body();
        let mut bytes = 0u64;
        let mut kept = keep_body.then(Vec::new);
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|_| (ErrorKind::Truncated, status, bytes, ttfb))?;
            if let Some(data) = frame.data_ref() {
                bytes += data.len() as u64;
                if let Some(k) = kept.as_mut() {
                    k.extend_from_slice(data);
                }
                if let Some(cap) = cap_bps.filter(|c| *c > 0.0) {
                    let due = ttfb + Duration::from_secs_f64(bytes as f64 * 8.0 / cap);
                    if let Some(wait) = due.checked_sub(started.elapsed()) {
                        tokio::time::sleep(wait).await;
                    }
                }
            }
        }
        if declared.is_some_and(|d| d != bytes) {
            return Err((ErrorKind::Truncated, status, bytes, ttfb));
        }
        Ok(Outcome {
            status,
            bytes,
            ttfb,
            total: started.elapsed(),
            error: (!(200..300).contains(&status)).then_some(ErrorKind::Status),
            body: kept.map(Bytes::from),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_and_join() {
        let t = Target::parse("http://127.0.0.1:8080/v/a/master.m3u8").unwrap();
        assert_eq!(t.authority, "127.0.0.1:8080");
        assert_eq!(
            t.join("720p/media.m3u8").unwrap().path,
            "/v/a/720p/media.m3u8"
        );
        assert_eq!(t.join("/x/y.m4s").unwrap().path, "/x/y.m4s");
        assert_eq!(
            Target::parse("http://example.com/").unwrap().authority,
            "example.com:80"
        );
        assert!(Target::parse("https://example.com/").is_err());
        assert!(Target::parse("not a url").is_err());
    }
}
