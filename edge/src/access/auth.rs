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
    /// The signature does not match.
    #[error("the token is not valid for this video")]
    Invalid,
    /// `exp` or `sig` is not in canonical form (decimal without sign or leading zeros, at
    /// most 20 digits; 64 lower-case hex digits), or only one of them is present.
    #[error("the token is malformed (exp: decimal seconds, sig: 64 lower-case hex digits)")]
    Malformed,
    /// The token expires further ahead than this edge accepts.
    #[error("the token's lifetime is longer than this edge accepts")]
    TooLongLived,
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
    max_ttl_secs: u64,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl HmacTokens {
    /// Tokens signed with `secret` (None: every key request is refused), expiring at most
    /// `max_ttl_secs` ahead.
    pub fn new(secret: Option<Vec<u8>>, max_ttl_secs: u64) -> HmacTokens {
        HmacTokens {
            secret,
            max_ttl_secs,
        }
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

/// The token of a query, as a token query string for copying into URIs: `Ok(None)` when the
/// query has none, an error when it has a malformed one. Only canonical tokens pass, so what
/// is copied into playlists is at most 94 bytes and has one spelling per token.
pub fn token_query(query: Option<&str>) -> Result<Option<String>, AuthError> {
    Ok(token_parts(query.unwrap_or(""))?.map(|(exp, sig)| format!("exp={exp}&sig={sig}")))
}

fn is_canonical_exp(v: &str) -> bool {
    (1..=20).contains(&v.len())
        && v.bytes().all(|b| b.is_ascii_digit())
        && (v == "0" || !v.starts_with('0'))
        && v.parse::<u64>().is_ok()
}

fn is_canonical_sig(v: &str) -> bool {
    v.len() == 64 && v.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn token_parts(query: &str) -> Result<Option<(&str, &str)>, AuthError> {
    let mut exp = None;
    let mut sig = None;
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("exp", v)) if exp.is_none() => exp = Some(v),
            Some(("sig", v)) if sig.is_none() => sig = Some(v),
            Some(("exp" | "sig", _)) => return Err(AuthError::Malformed),
            _ => {}
        }
    }
    match (exp, sig) {
        (None, None) => Ok(None),
        (Some(e), Some(s)) if is_canonical_exp(e) && is_canonical_sig(s) => Ok(Some((e, s))),
        _ => Err(AuthError::Malformed),
    }
}

impl Authorizer for HmacTokens {
    fn authorize(&self, video: &str, query: Option<&str>) -> Result<(), AuthError> {
        let (exp, sig) = token_parts(query.unwrap_or(""))?.ok_or(AuthError::Missing)?;
        let exp: u64 = exp.parse().map_err(|_| AuthError::Malformed)?;
        let sig = hex::decode(sig).map_err(|_| AuthError::Malformed)?;
        // The signature is checked before the expiry, in constant time (verify_slice), so
        // the answer says nothing about a forged token but that it is forged.
        self.mac(video, exp)?
            .verify_slice(&sig)
            .map_err(|_| AuthError::Invalid)?;
        let now = now();
        if exp < now {
            return Err(AuthError::Expired);
        }
        if exp - now > self.max_ttl_secs {
            return Err(AuthError::TooLongLived);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_tokens_pass_and_anything_else_fails() {
        let t = HmacTokens::new(Some(vec![1; 32]), 3600);
        let q = t.sign("v1", 60).unwrap();
        assert_eq!(t.authorize("v1", Some(&q)), Ok(()));
        assert_eq!(t.authorize("v1", Some(&format!("a=b&{q}"))), Ok(()));
        assert_eq!(t.authorize("v2", Some(&q)), Err(AuthError::Invalid));
        assert_eq!(t.authorize("v1", None), Err(AuthError::Missing));
        assert_eq!(
            t.authorize("v1", Some("exp=1&sig=zz")),
            Err(AuthError::Malformed)
        );
        let other = HmacTokens::new(Some(vec![2; 32]), 3600);
        assert_eq!(other.authorize("v1", Some(&q)), Err(AuthError::Invalid));
        // An expired but genuine token.
        let exp = now() - 10;
        let sig = hex::encode(t.mac("v1", exp).unwrap().finalize().into_bytes());
        assert_eq!(
            t.authorize("v1", Some(&format!("exp={exp}&sig={sig}"))),
            Err(AuthError::Expired)
        );
        assert_eq!(
            HmacTokens::new(None, 3600).authorize("v1", Some(&q)),
            Err(AuthError::NotConfigured)
        );
        assert_eq!(
            token_query(Some(&format!("max_height=1&{q}"))),
            Ok(Some(q.clone()))
        );
        assert_eq!(token_query(Some("max_height=1")), Ok(None));
        assert_eq!(token_query(None), Ok(None));
        // Genuine but valid for longer than the edge accepts.
        let far = HmacTokens::new(Some(vec![1; 32]), 10_000)
            .sign("v1", 7200)
            .unwrap();
        assert_eq!(t.authorize("v1", Some(&far)), Err(AuthError::TooLongLived));
    }

    #[test]
    fn only_canonical_tokens_are_read() {
        let t = HmacTokens::new(Some(vec![1; 32]), 3600);
        let q = t.sign("v1", 60).unwrap();
        let (exp, sig) = q.split_once('&').unwrap();
        let exp = exp.trim_start_matches("exp=");
        let sig = sig.trim_start_matches("sig=");
        for bad in [
            format!("exp=+{exp}&{sig}"),
            format!("exp=0{exp}&sig={sig}"),
            format!("exp={exp}&sig={}", sig.to_uppercase()),
            format!("exp={exp}&sig={sig}00"),
            format!("exp={exp}&sig={}", "a".repeat(65_000)),
            format!("exp={exp}"),
            format!("sig={sig}"),
            format!("exp={exp}&sig={sig}&sig={sig}"),
            format!("exp={}&sig={sig}", "9".repeat(21)),
        ] {
            assert_eq!(token_query(Some(&bad)), Err(AuthError::Malformed), "{bad}");
            assert_eq!(
                t.authorize("v1", Some(&bad)),
                Err(AuthError::Malformed),
                "{bad}"
            );
        }
    }
}
