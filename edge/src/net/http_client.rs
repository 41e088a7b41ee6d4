//! A small HTTP/1.1 client on Pingora's upstream connector (the pooled, keep-alive client its
//! proxy uses): one request, whole body, connection returned to the pool. Used for peer edges
//! and the key service.

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
