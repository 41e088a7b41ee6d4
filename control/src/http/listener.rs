//! The API listener's own accept loop, so the API has the bounds the edge has: at most
//! `api.max_connections` open connections (one more is answered 503 and closed at once),
//! a deadline for every request head (`api.header_timeout_secs`, which also closes a kept-
//! alive connection that sends nothing), and a body that sends nothing for
//! `api.body_idle_timeout_secs` ends there. Each request carries its TCP peer's address
//! (`ConnectInfo`), which key checks charge unknown key ids to. Shutdown stops accepting and
//! lets requests in flight finish, for at most [`DRAIN`].

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;
use tower_http::timeout::TimeoutBody;

use crate::config::ApiLimits;
use crate::metrics::metrics;

/// How long a shutdown waits for requests in flight.
pub const DRAIN: Duration = Duration::from_secs(30);

/// What a connection past the cap is told before it is closed.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nretry-after: 1\r\ncontent-type: application/problem+json\r\ncontent-length: 111\r\nconnection: close\r\n\r\n{\"type\":\"about:blank\",\"title\":\"Service Unavailable\",\"status\":503,\"detail\":\"too many connections\",\"code\":\"busy\"}";

/// Serves `router` on `listener` within `limits` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: &ApiLimits,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let header_timeout = Duration::from_secs(limits.header_timeout_secs);
    let body_idle = Duration::from_secs(limits.body_idle_timeout_secs);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, addr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors or the like: wait a little rather than spin.
                    tracing::warn!(error = %e, "accepting an API connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            metrics().api_connections_refused.inc();
            // Best effort, without waiting: the socket's buffer takes these few bytes.
            let _ = stream.try_write(BUSY);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(addr));
            let req = req.map(|b| Body::new(TimeoutBody::new(body_idle, b)));
            router.clone().oneshot(req)
        });
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(header_timeout)
            .serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        metrics().api_connections.inc();
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%addr, error = %e, "API connection ended");
            }
            metrics().api_connections.dec();
            drop(slot);
        });
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(DRAIN) => tracing::warn!("requests still in flight after the drain; closing"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_busy_answer_is_a_whole_http_response() {
        let text = std::str::from_utf8(BUSY).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(body.len(), len);
        assert!(serde_json::from_str::<serde_json::Value>(body).is_ok());
    }
}
