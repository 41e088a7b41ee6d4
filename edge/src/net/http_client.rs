//! A small HTTP/1.1 client on Pingora's upstream connector (the pooled, keep-alive client its
//! proxy uses): one request, whole body, connection returned to the pool. Used for peer edges,
//! and through [`ServiceClient`] for the services the edge asks (key service, picture service).

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use pingora::connectors::http::v1::Connector;
use pingora::connectors::ConnectorOptions;
use pingora::http::RequestHeader;
use pingora::upstreams::peer::HttpPeer;

/// How long an idle pooled connection is kept.
const IDLE: Duration = Duration::from_secs(60);

/// An answer: status, the headers asked for, body.
#[derive(Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Values of the response headers named in the request, in the same order.
    pub headers: Vec<Option<String>>,
    /// The body (empty for HEAD).
    pub body: Bytes,
}

/// A pool of keep-alive connections.
pub struct HttpClient {
    connector: Connector,
    connect_timeout: Duration,
}

impl HttpClient {
    /// A client keeping up to `pool_size` idle connections.
    pub fn new(pool_size: usize, connect_timeout: Duration) -> HttpClient {
        HttpClient {
            connector: Connector::new(Some(ConnectorOptions::new(pool_size))),
            connect_timeout,
        }
    }

    /// Sends `method path` to `addr` with `headers` and reads the whole answer, returning the
    /// values of `want` response headers. No overall timeout: callers wrap it.
    pub async fn request(
        &self,
        addr: SocketAddr,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        want: &[&str],
    ) -> pingora::Result<Reply> {
        let mut peer = HttpPeer::new(addr, false, String::new());
        peer.options.connection_timeout = Some(self.connect_timeout);
        peer.options.idle_timeout = Some(IDLE);
        let (mut session, _reused) = self.connector.get_http_session(&peer).await?;
        let mut req = RequestHeader::build(method, path.as_bytes(), Some(headers.len() + 1))?;
        req.insert_header("Host", addr.to_string())?;
        for (name, value) in headers {
            req.insert_header(name.to_string(), value.to_string())?;
        }
        session.write_request_header(Box::new(req)).await?;
        session.read_response().await?;
        let status = session.get_status().map_or(0, |s| s.as_u16());
        let header = |name: &str| {
            session
                .get_header(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let headers = want.iter().map(|n| header(n)).collect();
        let length = header("Content-Length")
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(0);
        let mut body = BytesMut::with_capacity(if method == "HEAD" { 0 } else { length });
        while let Some(chunk) = session.read_body_ref().await? {
            body.extend_from_slice(chunk);
        }
        self.connector
            .release_http_session(session, &peer, Some(IDLE))
            .await;
        Ok(Reply {
            status,
            headers,
            body: body.freeze(),
        })
    }
}

/// Splits `http://host:port/rest` into `host:port` and `rest` (without its leading `/`, empty
/// when there is none). `None` for another scheme or without a host.
pub fn split_http_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("http://")?;
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host = authority
        .rsplit_once(':')
        .map_or(authority, |(host, _)| host);
    (!host.is_empty()).then_some((authority, path))
}

/// Why a request to a service failed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// Its name did not resolve.
    #[error("resolving {authority}: {source}")]
    Resolve {
        /// The service's `host:port`.
        authority: String,
        /// The resolver's error.
        source: std::io::Error,
    },
    /// Its name resolved to no address.
    #[error("{0} has no address")]
    NoAddress(String),
    /// No whole answer within the deadline.
    #[error("timed out")]
    TimedOut,
    /// The connection or the exchange failed.
    #[error("{0}")]
    Failed(String),
}

/// A plain-HTTP service the edge asks (the key service, the picture service): its
/// `host:port` resolved on every request (a cluster Service name follows its endpoints),
/// connections pooled, every request within one deadline.
pub struct ServiceClient {
    client: HttpClient,
    authority: String,
    timeout: Duration,
}

impl ServiceClient {
    /// A client of the service at `authority` (`host:port`), each request within `timeout`.
    pub fn new(authority: &str, timeout: Duration) -> ServiceClient {
        ServiceClient {
            client: HttpClient::new(16, Duration::from_secs(2)),
            authority: authority.to_string(),
            timeout,
        }
    }

    /// The service's `host:port`.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// `GET path` with `headers`: the whole answer, whatever its status.
    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Result<Reply, ServiceError> {
        let addr: SocketAddr = tokio::net::lookup_host(&self.authority)
            .await
            .map_err(|source| ServiceError::Resolve {
                authority: self.authority.clone(),
                source,
            })?
            .next()
            .ok_or_else(|| ServiceError::NoAddress(self.authority.clone()))?;
        tokio::time::timeout(
            self.timeout,
            self.client.request(addr, "GET", path, headers, &[]),
        )
        .await
        .map_err(|_| ServiceError::TimedOut)?
        .map_err(|e| ServiceError::Failed(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_urls_split_into_authority_and_path() {
        assert_eq!(split_http_url("http://keys:8080"), Some(("keys:8080", "")));
        assert_eq!(split_http_url("http://keys:8080/"), Some(("keys:8080", "")));
        assert_eq!(
            split_http_url("http://keys:8080/v1/keys"),
            Some(("keys:8080", "v1/keys"))
        );
        assert_eq!(split_http_url("https://keys:8080"), None);
        assert_eq!(split_http_url("http:///v1"), None);
        assert_eq!(split_http_url("http://:1"), None);
        assert_eq!(split_http_url("keys:8080"), None);
    }

    #[tokio::test]
    async fn a_service_that_does_not_resolve_or_answer_is_a_clear_error() {
        // No port: the resolver refuses it at once (no name server is asked).
        let unknown = ServiceClient::new("keys", Duration::from_secs(5));
        let e = unknown.get("/", &[]).await.unwrap_err();
        assert!(matches!(e, ServiceError::Resolve { .. }), "{e}");
        // A listener that accepts and never answers: the deadline ends the request.
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = silent.local_addr().unwrap();
        let service = ServiceClient::new(&addr.to_string(), Duration::from_millis(200));
        let e = service.get("/", &[]).await.unwrap_err();
        assert!(matches!(e, ServiceError::TimedOut), "{e}");
        drop(silent);
    }
}
