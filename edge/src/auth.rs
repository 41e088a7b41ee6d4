//! The authorization hook in front of content keys: a token in the URL query,
//! `exp={unix seconds}&sig={hex HMAC-SHA256(secret, "{video}:{exp}")}`, checked for expiry
//! and compared in constant time. Players get it on the master playlist URL (from whatever
//! sells access: `sunomi-edge token` makes one); the edge copies it into every URI it writes
//! for that viewer, so the key requests carry it.

use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Why a request was refused (403).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No token in the URL.
    #[error("a token is required (exp and sig in the query)")]
    Missing,
    /// The token's time is past.
    #[error("the token has expired")]
    Expired,
    /// The signature does not match (or the token is malformed).
    #[error("the token is not valid for this video")]
    Invalid,
    /// This edge has no token secret.
    #[error("tokens are not configured on this edge")]
    NotConfigured,
}

/// Decides whether a request may have keys of a video.
pub trait Authorizer: Send + Sync {
    /// Checks the token in `query` for `video`.
    fn authorize(&self, video: &str, query: Option<&str>) -> Result<(), AuthError>;
}

/// HMAC-signed tokens with an expiry.
pub struct HmacTokens {
    secret: Option<Vec<u8>>,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl HmacTokens {
    /// Tokens signed with `secret` (None: every key request is refused).
    pub fn new(secret: Option<Vec<u8>>) -> HmacTokens {
        HmacTokens { secret }
    }

    fn mac(&self, video: &str, exp: u64) -> Result<Hmac<Sha256>, AuthError> {
        let secret = self.secret.as_deref().ok_or(AuthError::NotConfigured)?;
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(secret).map_err(|_| AuthError::NotConfigured)?;
        mac.update(video.as_bytes());
        mac.update(b":");
        mac.update(exp.to_string().as_bytes());
        Ok(mac)
    }

    /// A token for `video` valid for `ttl_secs` from now, as a query string.
    pub fn sign(&self, video: &str, ttl_secs: u64) -> Result<String, AuthError> {
        let exp = now().saturating_add(ttl_secs);
        let sig = hex::encode(self.mac(video, exp)?.finalize().into_bytes());
        Ok(format!("exp={exp}&sig={sig}"))
    }
}

/// The `exp` and `sig` of a query, as a token query string (for copying into URIs).
pub fn token_query(query: Option<&str>) -> Option<String> {
    let (exp, sig) = token_parts(query?)?;
    Some(format!("exp={exp}&sig={sig}"))
}

fn token_parts(query: &str) -> Option<(&str, &str)> {
    let mut exp = None;
    let mut sig = None;
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("exp", v)) => exp = Some(v),
            Some(("sig", v)) => sig = Some(v),
            _ => {}
        }
    }
    Some((exp?, sig?))
}

impl Authorizer for HmacTokens {
    fn authorize(&self, video: &str, query: Option<&str>) -> Result<(), AuthError> {
        let (exp, sig) = query.and_then(token_parts).ok_or(AuthError::Missing)?;
        let exp: u64 = exp.parse().map_err(|_| AuthError::Invalid)?;
        let sig = hex::decode(sig).map_err(|_| AuthError::Invalid)?;
        // The signature is checked before the expiry, in constant time (verify_slice), so
        // the answer says nothing about a forged token but that it is forged.
        self.mac(video, exp)?
            .verify_slice(&sig)
            .map_err(|_| AuthError::Invalid)?;
        if exp < now() {
            return Err(AuthError::Expired);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_tokens_pass_and_anything_else_fails() {
        let t = HmacTokens::new(Some(vec![1; 32]));
        let q = t.sign("v1", 60).unwrap();
        assert_eq!(t.authorize("v1", Some(&q)), Ok(()));
        assert_eq!(t.authorize("v1", Some(&format!("a=b&{q}"))), Ok(()));
        assert_eq!(t.authorize("v2", Some(&q)), Err(AuthError::Invalid));
        assert_eq!(t.authorize("v1", None), Err(AuthError::Missing));
        assert_eq!(
            t.authorize("v1", Some("exp=1&sig=zz")),
            Err(AuthError::Invalid)
        );
        let other = HmacTokens::new(Some(vec![2; 32]));
        assert_eq!(other.authorize("v1", Some(&q)), Err(AuthError::Invalid));
        // An expired but genuine token.
        let exp = now() - 10;
        let sig = hex::encode(t.mac("v1", exp).unwrap().finalize().into_bytes());
        assert_eq!(
            t.authorize("v1", Some(&format!("exp={exp}&sig={sig}"))),
            Err(AuthError::Expired)
        );
        assert_eq!(
            HmacTokens::new(None).authorize("v1", Some(&q)),
            Err(AuthError::NotConfigured)
        );
        assert_eq!(token_query(Some(&format!("max_height=1&{q}"))), Some(q));
    }
}
