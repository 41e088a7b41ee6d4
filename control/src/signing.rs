//! Signing keys for signed playback: control creates an ES256 (P-256) key pair, stores the
//! public half where edges read it (`keys/signing/{kid}.pub`, PEM SubjectPublicKeyInfo) and
//! hands the private half out once; whoever holds it mints playback tokens (JWTs: `kid`
//! header, `sub` = playback id, `aud` = `v`, `exp`).

use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::Engine;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde::Serialize;

use crate::ids::random_token;

/// DER prefix of a P-256 SubjectPublicKeyInfo before the 65-byte uncompressed point.
const P256_SPKI_PREFIX: &[u8] = &[
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// A new key pair.
pub struct NewKey {
    /// Key id (the JWT `kid`).
    pub kid: String,
    /// Public key, PEM (SubjectPublicKeyInfo).
    pub public_pem: String,
    /// Private key, PEM (PKCS#8): shown once, never stored.
    pub private_pem: String,
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Generates a P-256 key pair.
pub fn generate() -> Result<NewKey, String> {
    let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
        .map_err(|_| "key generation failed".to_string())?;
    let pkcs8 = pair
        .to_pkcs8v1()
        .map_err(|_| "key encoding failed".to_string())?;
    let mut spki = P256_SPKI_PREFIX.to_vec();
    spki.extend_from_slice(pair.public_key().as_ref());
    Ok(NewKey {
        kid: random_token(16),
        public_pem: pem("PUBLIC KEY", &spki),
        private_pem: pem("PRIVATE KEY", pkcs8.as_ref()),
    })
}

#[derive(Serialize)]
struct Claims<'a> {
    sub: &'a str,
    aud: &'a str,
    exp: u64,
    iat: u64,
}

/// A playback token for `playback_id`, valid until `exp` (Unix seconds), signed with the
/// private key `private_pem` of key `kid`.
pub fn mint(
    kid: &str,
    private_pem: &str,
    playback_id: &str,
    now: u64,
    exp: u64,
) -> Result<String, String> {
    let key = EncodingKey::from_ec_pem(private_pem.as_bytes())
        .map_err(|e| format!("not a P-256 private key (PEM): {e}"))?;
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(kid.to_string());
    let claims = Claims {
        sub: playback_id,
        aud: "v",
        exp,
        iat: now,
    };
    encode(&header, &claims, &key).map_err(|e| format!("signing failed: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{decode, DecodingKey, Validation};

    #[test]
    fn minted_tokens_verify_with_the_public_key_only() {
        let k = generate().unwrap();
        let token = mint(&k.kid, &k.private_pem, "pid1", 100, 4_000_000_000).unwrap();
        let mut v = Validation::new(Algorithm::ES256);
        v.set_audience(&["v"]);
        let key = DecodingKey::from_ec_pem(k.public_pem.as_bytes()).unwrap();
        let data = decode::<serde_json::Value>(&token, &key, &v).unwrap();
        assert_eq!(data.claims["sub"], "pid1");
        assert_eq!(data.header.kid.as_deref(), Some(k.kid.as_str()));
        let other = generate().unwrap();
        let wrong = DecodingKey::from_ec_pem(other.public_pem.as_bytes()).unwrap();
        assert!(decode::<serde_json::Value>(&token, &wrong, &v).is_err());
        assert!(mint("k", "not a key", "p", 0, 1).is_err());
    }
}
