//! Signed playback: a playback id with the `signed` policy plays only with `?token=` — a JWT
//! signed by a key the control plane created (ES256 or RS256, `kid` header), whose public
//! half is in storage (`keys/signing/{kid}.pub`). Claims: `sub` = the playback id, `aud` =
//! `v` (play while published) or `review` (play whatever the video's availability, for those
//! who decide on it: [`TokenAudience`]), `exp`, optional `nbf`. The algorithm comes from the key, never from the token, so
//! `alg: none` and HS256-signed-with-the-public-key tokens are refused. A token is verified
//! once; later requests with it cost a cache lookup.

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use moka::future::Cache;
use serde::Deserialize;
use sunomi_origin::MediaReader;
use sunomi_packager::playback::TokenAudience;

/// Longest token accepted.
pub const MAX_TOKEN_LEN: usize = 4096;

/// A public key and the one algorithm it verifies.
struct VerifyKey {
    key: DecodingKey,
    alg: Algorithm,
}

/// What a verified token allows.
#[derive(Clone)]
struct Verified {
    sub: String,
    exp: u64,
    audience: TokenAudience,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    exp: u64,
    aud: Aud,
}

/// An `aud` claim: one name, or a list of them (RFC 7519 §4.1.3).
#[derive(Deserialize)]
#[serde(untagged)]
enum Aud {
    One(String),
    Many(Vec<String>),
}

impl Aud {
    /// What the claim grants: review when it names review (review grants everything), else
    /// the first audience it names (a token is minted for one: `v`, `t`, `s` or `g`). The
    /// verifier has already checked that it names one of them.
    fn grant(&self) -> TokenAudience {
        let names: Vec<TokenAudience> = match self {
            Aud::One(a) => TokenAudience::parse(a).into_iter().collect(),
            Aud::Many(all) => all.iter().filter_map(|a| TokenAudience::parse(a)).collect(),
        };
        if names.contains(&TokenAudience::Review) {
            TokenAudience::Review
        } else {
            names.first().copied().unwrap_or(TokenAudience::Play)
        }
    }
}

/// Verifies playback tokens, with caches of keys and of verified tokens.
pub(crate) struct Signed {
    keys: Cache<String, Option<Arc<VerifyKey>>>,
    verified: Cache<String, Verified>,
}

impl Signed {
    /// Keys are re-read from storage after a minute (a new key is usable at once: an
    /// unknown `kid` is looked up, then remembered as absent for the same minute).
    pub fn new() -> Signed {
        Signed {
            keys: Cache::builder()
                .max_capacity(10_000)
                .time_to_live(Duration::from_secs(60))
                .build(),
            verified: Cache::builder()
                .max_capacity(200_000)
                .time_to_live(Duration::from_secs(300))
                .build(),
        }
    }

    /// What `token` lets its holder do with playback id `pid` at `now` (Unix seconds); the
    /// error is the reason, for a 403.
    pub async fn check(
        &self,
        reader: &MediaReader,
        token: Option<&str>,
        pid: &str,
        now: u64,
    ) -> Result<TokenAudience, String> {
        let token = token.ok_or("this playback id is signed: add ?token=")?;
        if let Some(v) = self.verified.get(token).await {
            return allow(&v, pid, now);
        }
        let header = decode_header(token).map_err(|_| "malformed token".to_string())?;
        let kid = header.kid.ok_or("the token names no signing key (kid)")?;
        if kid.is_empty() || kid.len() > 64 || !kid.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err("malformed key id".into());
        }
        let key = self.key(reader, &kid).await?.ok_or("unknown signing key")?;
        if header.alg != key.alg {
            return Err("the token's algorithm is not its key's".into());
        }
        let mut validation = Validation::new(key.alg);
        validation.set_audience(&TokenAudience::ALL.map(TokenAudience::as_str));
        validation.sub = Some(pid.to_string());
        validation.validate_nbf = true;
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "sub", "aud"]);
        let data = decode::<Claims>(token, &key.key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            match e.kind() {
                ErrorKind::ExpiredSignature => "the token has expired".to_string(),
                ErrorKind::ImmatureSignature => "the token is not valid yet".to_string(),
                ErrorKind::InvalidSubject => "the token is for another playback id".to_string(),
                ErrorKind::InvalidAudience => "the token is not for playback".to_string(),
                ErrorKind::InvalidSignature => "the token's signature is wrong".to_string(),
                _ => "invalid token".to_string(),
            }
        })?;
        let v = Verified {
            audience: data.claims.aud.grant(),
            sub: data.claims.sub,
            exp: data.claims.exp,
        };
        let answer = allow(&v, pid, now);
        self.verified.insert(token.to_string(), v).await;
        answer
    }

    async fn key(&self, reader: &MediaReader, kid: &str) -> Result<Option<Arc<VerifyKey>>, String> {
        if let Some(k) = self.keys.get(kid).await {
            return Ok(k);
        }
        let pem = reader
            .signing_key(kid)
            .await
            .map_err(|e| format!("signing keys unavailable: {e}"))?;
        let key = pem.and_then(|pem| parse_key(&pem)).map(Arc::new);
        self.keys.insert(kid.to_string(), key.clone()).await;
        Ok(key)
    }
}

fn allow(v: &Verified, pid: &str, now: u64) -> Result<TokenAudience, String> {
    if v.sub != pid {
        return Err("the token is for another playback id".into());
    }
    if v.exp <= now {
        return Err("the token has expired".into());
    }
    Ok(v.audience)
}

/// A PEM public key (SubjectPublicKeyInfo): P-256 for ES256 or RSA for RS256.
fn parse_key(pem: &[u8]) -> Option<VerifyKey> {
    let text = std::str::from_utf8(pem).ok()?;
    if let Ok(key) = DecodingKey::from_ec_pem(text.as_bytes()) {
        return Some(VerifyKey {
            key,
            alg: Algorithm::ES256,
        });
    }
    DecodingKey::from_rsa_pem(text.as_bytes())
        .ok()
        .map(|key| VerifyKey {
            key,
            alg: Algorithm::RS256,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(aud: serde_json::Value) -> TokenAudience {
        let claims: Claims =
            serde_json::from_value(serde_json::json!({"sub": "p", "exp": 1, "aud": aud})).unwrap();
        claims.aud.grant()
    }

    #[test]
    fn a_review_audience_grants_review_and_any_other_grants_play() {
        assert_eq!(grant("v".into()), TokenAudience::Play);
        assert_eq!(grant("review".into()), TokenAudience::Review);
        assert_eq!(grant(serde_json::json!(["v"])), TokenAudience::Play);
        assert_eq!(grant("t".into()), TokenAudience::Thumbnail);
        assert_eq!(
            grant(serde_json::json!(["s", "g"])),
            TokenAudience::Storyboard
        );
        assert_eq!(
            grant(serde_json::json!(["g", "review"])),
            TokenAudience::Review
        );
        assert_eq!(
            grant(serde_json::json!(["v", "review"])),
            TokenAudience::Review
        );
    }

    #[test]
    fn a_verified_token_allows_its_own_id_until_it_expires() {
        let v = Verified {
            sub: "p".into(),
            exp: 100,
            audience: TokenAudience::Review,
        };
        assert_eq!(allow(&v, "p", 99), Ok(TokenAudience::Review));
        assert!(allow(&v, "q", 99).is_err());
        assert!(allow(&v, "p", 100).is_err());
    }
}
