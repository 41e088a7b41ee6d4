//! API keys and delegated upload tokens. A key is shown once, when created; storage keeps
//! only its SHA-256 (`keys/api/{key_id}.json`). A key reads `sk_{key_id}_{secret}`, so the
//! record is found by id and the hash compared in constant time.
//!
//! Upload tokens (`ut_{upload_id}_{secret}`) are scoped to one upload, expire, and are
//! revoked by clearing their hash from the upload's record: a browser uploads with one and
//! never sees an API key.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::domain::ids::{random_token, UploadId};

/// An API key's stored record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyRecord {
    /// The key id (the public part of the key).
    pub id: String,
    /// A label for people.
    pub name: String,
    /// SHA-256 of the whole key, hex.
    pub hash: String,
    /// Created (RFC 3339).
    pub created_at: String,
    /// Revoked (RFC 3339); a revoked key authenticates nothing.
    #[serde(default)]
    pub revoked_at: Option<String>,
}

/// SHA-256 of `secret`, hex.
pub fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Whether `secret` hashes to `expected_hex` (constant time).
pub fn matches(secret: &str, expected_hex: &str) -> bool {
    hash(secret)
        .as_bytes()
        .ct_eq(expected_hex.as_bytes())
        .into()
}

/// A new API key and its record.
pub fn new_key(name: &str, now: &str) -> (String, KeyRecord) {
    let id = random_token(12);
    let key = format!("sk_{id}_{}", random_token(32));
    let record = KeyRecord {
        id,
        name: name.to_string(),
        hash: hash(&key),
        created_at: now.to_string(),
        revoked_at: None,
    };
    (key, record)
}

/// The key id inside an API key, if it has the key's shape.
pub fn key_id(key: &str) -> Option<&str> {
    let rest = key.strip_prefix("sk_")?;
    let (id, secret) = rest.split_once('_')?;
    let ok = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric());
    (ok(id) && ok(secret) && id.len() <= 32).then_some(id)
}

/// A new upload token for `upload`.
pub fn new_upload_token(upload: &UploadId) -> String {
    format!("ut_{upload}_{}", random_token(32))
}

/// The upload an upload token is scoped to, if it has the token's shape.
pub fn upload_token_scope(token: &str) -> Option<UploadId> {
    let rest = token.strip_prefix("ut_")?;
    let (id, secret) = rest.rsplit_once('_')?;
    if secret.is_empty() || !secret.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    UploadId::parse(id).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_verify_by_hash_only() {
        let (key, record) = new_key("ci", "t");
        assert_eq!(key_id(&key), Some(record.id.as_str()));
        assert!(matches(&key, &record.hash));
        assert!(!matches(&format!("{key}x"), &record.hash));
        assert!(!record.hash.contains(&key));
        for bad in ["", "sk_", "sk_a", "sk__b", "sk_a_", "pk_a_b", "sk_a/b_c"] {
            assert_eq!(key_id(bad), None, "{bad}");
        }
    }

    #[test]
    fn upload_tokens_name_their_upload() {
        let id = UploadId::generate();
        let token = new_upload_token(&id);
        assert_eq!(upload_token_scope(&token), Some(id));
        assert_eq!(upload_token_scope("ut_../x_abc"), None);
        assert_eq!(upload_token_scope("sk_a_b"), None);
    }
}
