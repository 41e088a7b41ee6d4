//! The trust boundary between edges: a request marked as coming from a peer (answered here,
//! never forwarded; optionally a prefetch) is honoured only when the fleet's shared secret
//! signed it. The `Sunomi-Peer` header carries `{node} {unix seconds} {signature}`, where the
//! signature is hex HMAC-SHA256 over the method, the path, the node, the time and whether it
//! is a prefetch. A signature older or newer than [`MAX_SKEW_SECS`] is refused, so a captured
//! header is good for one path for a short while only.
//!
//! Pure: the time is passed in.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How far a peer's clock (and a request's age) may be off, seconds.
pub const MAX_SKEW_SECS: u64 = 30;

/// The current Unix time in seconds, as markers carry it.
pub fn unix_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Why a peer marker was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeerAuthError {
    /// This edge is in no fleet (no secret): nobody is a peer.
    #[error("this edge takes no peer requests")]
    NoFleet,
    /// The header is not `{node} {time} {signature}`.
    #[error("malformed peer marker")]
    Malformed,
    /// The time is too far from now.
    #[error("stale peer marker")]
    Stale,
    /// The signature does not match.
    #[error("peer marker not signed by this fleet")]
    BadSignature,
}

/// Signs and checks peer markers with the fleet's secret.
#[derive(Clone)]
pub struct PeerAuth {
    secret: Option<Vec<u8>>,
}

impl std::fmt::Debug for PeerAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerAuth")
            .field("secret", &self.secret.as_ref().map(|_| "…"))
            .finish()
    }
}

impl PeerAuth {
    /// Markers signed with `secret` (None: every marker is refused).
    pub fn new(secret: Option<Vec<u8>>) -> PeerAuth {
        PeerAuth { secret }
    }

    fn mac(
        &self,
        method: &str,
        path: &str,
        node: &str,
        time: u64,
        prefetch: bool,
    ) -> Option<Hmac<Sha256>> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.secret.as_deref()?).ok()?;
        for part in [method, path, node, &time.to_string(), &prefetch.to_string()] {
            mac.update(part.as_bytes());
            mac.update(b"\n");
        }
        Some(mac)
    }

    /// The header value for a request from `node` at `now` (None without a secret).
    pub fn sign(
        &self,
        method: &str,
        path: &str,
        node: &str,
        prefetch: bool,
        now: u64,
    ) -> Option<String> {
        let mac = self.mac(method, path, node, now, prefetch)?;
        Some(format!(
            "{node} {now} {}",
            hex::encode(mac.finalize().into_bytes())
        ))
    }

    /// Checks a header value for `method` and `path` at `now`; the asking node's name.
    pub fn verify(
        &self,
        method: &str,
        path: &str,
        value: &str,
        prefetch: bool,
        now: u64,
    ) -> Result<String, PeerAuthError> {
        if self.secret.is_none() {
            return Err(PeerAuthError::NoFleet);
        }
        let mut parts = value.split(' ');
        let (Some(node), Some(time), Some(sig), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(PeerAuthError::Malformed);
        };
        if node.is_empty() || node.len() > 256 || time.len() > 20 || sig.len() != 64 {
            return Err(PeerAuthError::Malformed);
        }
        let time: u64 = time.parse().map_err(|_| PeerAuthError::Malformed)?;
        let sig = hex::decode(sig).map_err(|_| PeerAuthError::Malformed)?;
        let mac = self
            .mac(method, path, node, time, prefetch)
            .ok_or(PeerAuthError::NoFleet)?;
        mac.verify_slice(&sig)
            .map_err(|_| PeerAuthError::BadSignature)?;
        if time.abs_diff(now) > MAX_SKEW_SECS {
            return Err(PeerAuthError::Stale);
        }
        Ok(node.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_markers_pass_and_anything_else_is_refused() {
        let auth = PeerAuth::new(Some(vec![7; 32]));
        let now = 1_800_000_000;
        let path = "/v/a/720p/3.m4s";
        let h = auth.sign("GET", path, "edge-1", false, now).unwrap();
        assert_eq!(
            auth.verify("GET", path, &h, false, now + 5),
            Ok("edge-1".into())
        );
        // Bound to the method, the path and the prefetch flag.
        let refused = |m: &str, p: &str, v: &str, pre: bool, t: u64| auth.verify(m, p, v, pre, t);
        assert_eq!(
            refused("HEAD", path, &h, false, now),
            Err(PeerAuthError::BadSignature)
        );
        assert_eq!(
            refused("GET", "/v/a/720p/4.m4s", &h, false, now),
            Err(PeerAuthError::BadSignature)
        );
        assert_eq!(
            refused("GET", path, &h, true, now),
            Err(PeerAuthError::BadSignature)
        );
        assert_eq!(
            refused("GET", path, &h, false, now + MAX_SKEW_SECS + 1),
            Err(PeerAuthError::Stale)
        );
        // What a client could send.
        for forged in ["1", "edge-1", "edge-1 1800000000 00", "a b c d", ""] {
            assert_eq!(
                refused("GET", path, forged, false, now),
                Err(PeerAuthError::Malformed),
                "{forged}"
            );
        }
        let other = PeerAuth::new(Some(vec![8; 32]));
        let forged = other.sign("GET", path, "edge-1", false, now).unwrap();
        assert_eq!(
            refused("GET", path, &forged, false, now),
            Err(PeerAuthError::BadSignature)
        );
        assert_eq!(
            PeerAuth::new(None).verify("GET", path, &h, false, now),
            Err(PeerAuthError::NoFleet)
        );
        assert_eq!(PeerAuth::new(None).sign("GET", path, "n", false, now), None);
    }
}
