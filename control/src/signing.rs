//! Signing keys for signed playback: control creates an ES256 (P-256) or RS256 (RSA 2048)
//! key pair, stores the public half where edges read it (`keys/signing/{kid}.pub`, PEM SubjectPublicKeyInfo) and
//! hands the private half out once; whoever holds it mints playback tokens (JWTs: `kid`
//! header, `sub` = playback id, `aud` = `v`, `exp`).

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::Engine;
use jsonwebtoken::{encode, Algorithm, DecodingKey, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use sunomi_packager::playback::TokenAudience;
use utoipa::ToSchema;

use crate::domain::ids::random_token;

/// DER prefix of a P-256 SubjectPublicKeyInfo before the 65-byte uncompressed point.
const P256_SPKI_PREFIX: &[u8] = &[
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// The JWT algorithm a signing key signs with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum SigningAlgorithm {
    /// ECDSA P-256 with SHA-256 (short tokens; the default).
    #[default]
    ES256,
    /// RSASSA-PKCS1-v1_5 with SHA-256, 2048-bit keys (for token minters that only do RSA).
    RS256,
}

impl SigningAlgorithm {
    /// Its JWT name (`ES256`), as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlgorithm::ES256 => "ES256",
            SigningAlgorithm::RS256 => "RS256",
        }
    }

    /// The algorithm named `s`.
    pub fn parse(s: &str) -> Option<SigningAlgorithm> {
        [SigningAlgorithm::ES256, SigningAlgorithm::RS256]
            .into_iter()
            .find(|a| a.as_str() == s)
    }

    /// The algorithm of a public key (PEM SubjectPublicKeyInfo), if it is one we sign with.
    pub fn of_public_pem(pem: &str) -> Option<SigningAlgorithm> {
        if DecodingKey::from_ec_pem(pem.as_bytes()).is_ok() {
            Some(SigningAlgorithm::ES256)
        } else if DecodingKey::from_rsa_pem(pem.as_bytes()).is_ok() {
            Some(SigningAlgorithm::RS256)
        } else {
            None
        }
    }
}

/// A new key pair.
pub struct NewKey {
    /// Key id (the JWT `kid`).
    pub kid: String,
    /// Public key, PEM (SubjectPublicKeyInfo).
    pub public_pem: String,
    /// Private key, PEM (PKCS#8): shown once, never stored.
    pub private_pem: String,
    /// What it signs with.
    pub algorithm: SigningAlgorithm,
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

/// Generates a key pair for `algorithm`.
pub fn generate(algorithm: SigningAlgorithm) -> Result<NewKey, String> {
    let failed = |_| "key generation failed".to_string();
    let (spki, pkcs8) = match algorithm {
        SigningAlgorithm::ES256 => {
            let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).map_err(failed)?;
            let pkcs8 = pair.to_pkcs8v1().map_err(failed)?;
            let mut spki = P256_SPKI_PREFIX.to_vec();
            spki.extend_from_slice(pair.public_key().as_ref());
            (spki, pkcs8.as_ref().to_vec())
        }
        SigningAlgorithm::RS256 => {
            let pair = aws_lc_rs::rsa::KeyPair::generate(KeySize::Rsa2048).map_err(failed)?;
            let pkcs8: Pkcs8V1Der = pair.as_der().map_err(failed)?;
            let spki: PublicKeyX509Der = pair.public_key().as_der().map_err(failed)?;
            (spki.as_ref().to_vec(), pkcs8.as_ref().to_vec())
        }
    };
    Ok(NewKey {
        kid: random_token(16),
        public_pem: pem("PUBLIC KEY", &spki),
        private_pem: pem("PRIVATE KEY", &pkcs8),
        algorithm,
    })
}

#[derive(Serialize)]
struct Claims<'a> {
    sub: &'a str,
    aud: &'a str,
    exp: u64,
    iat: u64,
}

/// A playback token for `playback_id` granting `audience`, valid until `exp` (Unix seconds),
/// signed with the private key `private_pem` of key `kid` (ES256 for a P-256 key, RS256 for
/// an RSA key).
pub fn mint(
    kid: &str,
    private_pem: &str,
    playback_id: &str,
    audience: TokenAudience,
    now: u64,
    exp: u64,
) -> Result<String, String> {
    let (key, algorithm) = match EncodingKey::from_ec_pem(private_pem.as_bytes()) {
        Ok(k) => (k, Algorithm::ES256),
        Err(_) => (
            EncodingKey::from_rsa_pem(private_pem.as_bytes())
                .map_err(|e| format!("not a P-256 or RSA private key (PEM): {e}"))?,
            Algorithm::RS256,
        ),
    };
    let mut header = Header::new(algorithm);
    header.kid = Some(kid.to_string());
    let claims = Claims {
        sub: playback_id,
        aud: audience.as_str(),
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
        let k = generate(SigningAlgorithm::ES256).unwrap();
        let token = mint(
            &k.kid,
            &k.private_pem,
            "pid1",
            TokenAudience::Play,
            100,
            4_000_000_000,
        )
        .unwrap();
        let mut v = Validation::new(Algorithm::ES256);
        v.set_audience(&["v"]);
        let key = DecodingKey::from_ec_pem(k.public_pem.as_bytes()).unwrap();
        let data = decode::<serde_json::Value>(&token, &key, &v).unwrap();
        assert_eq!(data.claims["sub"], "pid1");
        assert_eq!(data.header.kid.as_deref(), Some(k.kid.as_str()));
        let other = generate(SigningAlgorithm::ES256).unwrap();
        let wrong = DecodingKey::from_ec_pem(other.public_pem.as_bytes()).unwrap();
        assert!(decode::<serde_json::Value>(&token, &wrong, &v).is_err());
        assert!(mint("k", "not a key", "p", TokenAudience::Play, 0, 1).is_err());
    }

    #[test]
    fn rsa_keys_sign_rs256_tokens() {
        let k = generate(SigningAlgorithm::RS256).unwrap();
        assert_eq!(
            SigningAlgorithm::of_public_pem(&k.public_pem),
            Some(SigningAlgorithm::RS256)
        );
        let token = mint(
            &k.kid,
            &k.private_pem,
            "pid1",
            TokenAudience::Play,
            100,
            4_000_000_000,
        )
        .unwrap();
        let mut v = Validation::new(Algorithm::RS256);
        v.set_audience(&["v"]);
        let key = DecodingKey::from_rsa_pem(k.public_pem.as_bytes()).unwrap();
        let data = decode::<serde_json::Value>(&token, &key, &v).unwrap();
        assert_eq!(data.header.alg, Algorithm::RS256);
        assert_eq!(data.claims["sub"], "pid1");
    }
}
