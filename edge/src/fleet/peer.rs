//! Fetching an object from the edge that owns it: HTTP/1.1 through Pingora's upstream
//! connector (the one its proxy uses), so connections to peers are pooled and kept alive.
//! Requests carry [`PEER_HEADER`], which tells the owner to answer from its own cache or
//! storage and never forward again. A peer that fails to answer is *suspect* for a while:
//! its keys fall to the next member on the ring instead of costing every request a timeout.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::peer_auth::{unix_seconds, PeerAuth};
use crate::net::head::CACHE_STATUS_UNAVAILABLE;
use crate::net::http_client::HttpClient;
use crate::ops::metrics::metrics;

/// Request header marking a request from another edge: `{node} {unix time} {signature}`,
/// signed with the fleet secret (see [`super::peer_auth`]).
pub const PEER_HEADER: &str = "Sunomi-Peer";
/// Request header marking a peer request as a prefetch (the owner fills, sends no body);
/// covered by the peer signature.
pub const PREFETCH_HEADER: &str = "Sunomi-Prefetch";

/// The `Cache-Control` directive of a peer request that must not fill (RFC 9111 §5.2.1.7);
/// honoured only on requests carrying a valid [`PEER_HEADER`].
pub const ONLY_IF_CACHED: &str = "only-if-cached";

/// What a peer is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ask {
    /// Answer from memory, else fill (as the owner).
    Fill,
    /// Fill, send no body.
    Prefetch,
    /// Answer from memory only.
    CachedOnly,
}

/// Why a peer gave no object.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// No answer in time.
    #[error("peer {0} timed out")]
    Timeout(SocketAddr),
    /// Connecting, writing or reading failed.
    #[error("peer {addr}: {source}")]
    Io {
        /// The peer.
        addr: SocketAddr,
        /// What went wrong.
        source: Box<pingora::Error>,
    },
    /// Asked only for what it holds, the peer does not hold it.
    #[error("peer {0} does not hold it")]
    NotCached(SocketAddr),
    /// The peer answered 503 because storage (or the key service) failed it: the peer is
    /// well, what it depends on is not.
    #[error("peer {0} could not reach storage")]
    Unavailable(SocketAddr),
    /// The peer answered with something other than 200.
    #[error("peer {addr} answered {status}")]
    Status {
        /// The peer.
        addr: SocketAddr,
        /// Its status.
        status: u16,
    },
}

impl PeerError {
    /// Whether the failure says the peer itself is unwell (as opposed to the object).
    fn peer_unwell(&self) -> bool {
        match self {
            PeerError::Timeout(_) | PeerError::Io { .. } => true,
            PeerError::NotCached(_) | PeerError::Unavailable(_) => false,
            PeerError::Status { status, .. } => *status >= 500,
        }
    }

    fn reason(&self) -> &'static str {
        match self {
            PeerError::Timeout(_) => "timeout",
            PeerError::Io { .. } => "io",
            PeerError::NotCached(_) => "not_cached",
            PeerError::Unavailable(_) => "unavailable",
            PeerError::Status { .. } => "status",
        }
    }
}

/// What the owner sent back.
#[derive(Debug)]
pub struct PeerReply {
    /// The object (empty for a prefetch).
    pub body: Bytes,
    /// Whether the owner had it in memory (its `Cache-Status` said hit).
    pub owner_hit: bool,
    /// The owner's entity tag for it (names the track version it was cut from).
    pub etag: Option<String>,
}

/// Timeouts and pool size of peer requests.
#[derive(Debug, Clone, Copy)]
pub struct PeerSettings {
    /// TCP connect timeout.
    pub connect_timeout: Duration,
    /// Whole-request timeout.
    pub timeout: Duration,
    /// How long a failed peer is skipped.
    pub suspect_for: Duration,
    /// Idle connections kept.
    pub pool_size: usize,
}

/// The client edges use to ask each other.
pub struct PeerClient {
    node: String,
    auth: PeerAuth,
    client: HttpClient,
    settings: PeerSettings,
    suspects: Mutex<HashMap<SocketAddr, Instant>>,
}

impl PeerClient {
    /// A client that names itself `node` to the peers it asks, signing with `auth`.
    pub fn new(node: String, auth: PeerAuth, settings: PeerSettings) -> PeerClient {
        PeerClient {
            node,
            auth,
            client: HttpClient::new(settings.pool_size, settings.connect_timeout),
            settings,
            suspects: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `addr` may be asked (it has not failed recently).
    pub fn usable(&self, addr: &SocketAddr) -> bool {
        let Ok(mut suspects) = self.suspects.lock() else {
            return true;
        };
        match suspects.get(addr) {
            Some(until) if *until > Instant::now() => false,
            Some(_) => {
                suspects.remove(addr);
                true
            }
            None => true,
        }
    }

    fn suspect(&self, addr: SocketAddr) {
        if let Ok(mut suspects) = self.suspects.lock() {
            suspects.insert(addr, Instant::now() + self.settings.suspect_for);
        }
    }

    /// Asks the owner at `addr` for `path`. A prefetch sends `HEAD`: the owner fills its
    /// cache and sends no body.
    pub async fn fetch(
        &self,
        addr: SocketAddr,
        path: &str,
        prefetch: bool,
    ) -> Result<PeerReply, PeerError> {
        let ask = if prefetch { Ask::Prefetch } else { Ask::Fill };
        self.ask(addr, path, ask).await
    }

    /// Asks the edge at `addr` for `path` only if it holds it in memory
    /// (`Cache-Control: only-if-cached`): it never fills, and answers 504 when it does not
    /// hold it ([`PeerError::NotCached`], which says nothing about the peer's health).
    pub async fn fetch_cached(&self, addr: SocketAddr, path: &str) -> Result<PeerReply, PeerError> {
        self.ask(addr, path, Ask::CachedOnly).await
    }

    async fn ask(&self, addr: SocketAddr, path: &str, ask: Ask) -> Result<PeerReply, PeerError> {
        let started = Instant::now();
        let result =
            match tokio::time::timeout(self.settings.timeout, self.exchange(addr, path, ask)).await
            {
                Ok(r) => r,
                Err(_) => Err(PeerError::Timeout(addr)),
            };
        let m = metrics();
        match &result {
            // The histogram is the owner's latency; a memory-only lookup is not an owner's.
            Ok(_) if ask == Ask::CachedOnly => {}
            Ok(reply) => {
                m.peer_seconds
                    .with_label_values(&[if reply.owner_hit { "hit" } else { "miss" }])
                    .observe(started.elapsed().as_secs_f64());
            }
            // Not holding what it was asked for only if held is an answer, not a failure.
            Err(PeerError::NotCached(_)) => {}
            Err(e) => {
                m.peer_errors.with_label_values(&[e.reason()]).inc();
                if e.peer_unwell() {
                    tracing::warn!(error = %e, "peer failed; skipping it for a while");
                    m.peer_suspected.inc();
                    self.suspect(addr);
                }
            }
        }
        result
    }

    async fn exchange(
        &self,
        addr: SocketAddr,
        path: &str,
        ask: Ask,
    ) -> Result<PeerReply, PeerError> {
        let prefetch = ask == Ask::Prefetch;
        let method = if prefetch { "HEAD" } else { "GET" };
        let marker = self
            .auth
            .sign(method, path, &self.node, prefetch, unix_seconds())
            .ok_or(PeerError::Status { addr, status: 0 })?;
        let mut headers = vec![(PEER_HEADER, marker.as_str())];
        match ask {
            Ask::Prefetch => headers.push((PREFETCH_HEADER, "1")),
            Ask::CachedOnly => headers.push(("Cache-Control", ONLY_IF_CACHED)),
            Ask::Fill => {}
        }
        let reply = self
            .client
            .request(addr, method, path, &headers, &["Cache-Status", "ETag"])
            .await
            .map_err(|source| PeerError::Io { addr, source })?;
        if ask == Ask::CachedOnly && reply.status == 504 {
            return Err(PeerError::NotCached(addr));
        }
        if reply.status == 503 && reply.headers[0].as_deref() == Some(CACHE_STATUS_UNAVAILABLE) {
            return Err(PeerError::Unavailable(addr));
        }
        if reply.status != 200 {
            return Err(PeerError::Status {
                addr,
                status: reply.status,
            });
        }
        let owner_hit = reply.headers[0]
            .as_deref()
            .is_some_and(|v| v.starts_with("sunomi; hit"));
        Ok(PeerReply {
            body: reply.body,
            owner_hit,
            etag: reply.headers[1].clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_failures_of_the_peer_itself_make_it_suspect() {
        let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
        assert!(PeerError::Timeout(addr).peer_unwell());
        // A 503 without the storage marker: overloaded (the connection cap) or unwell.
        assert!(PeerError::Status { addr, status: 503 }.peer_unwell());
        assert!(PeerError::Status { addr, status: 500 }.peer_unwell());
        // About the object, or about what the peer depends on: the peer is well.
        assert!(!PeerError::Status { addr, status: 404 }.peer_unwell());
        assert!(!PeerError::Unavailable(addr).peer_unwell());
        assert!(!PeerError::NotCached(addr).peer_unwell());
    }
}
