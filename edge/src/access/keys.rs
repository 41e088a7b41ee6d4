//! Content keys for encrypted delivery, behind one trait: a local key store deriving each
//! video's key from a master secret (rotation by key id: every id stays derivable, new
//! playlists use the current one), or an HTTP key service. Keys are cached briefly.

use std::time::Duration;

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use moka::future::Cache;
use sha2::Sha256;

use crate::net::http_client::{split_http_url, ServiceClient};
use crate::ops::config::{EncryptionConfig, KeySource};

/// A 128-bit content key.
pub type ContentKey = [u8; 16];

/// Why no key could be had.
#[derive(Debug, Clone, thiserror::Error)]
pub enum KeyError {
    /// Encryption is not configured (no master key or key service).
    #[error("encryption is not configured on this edge")]
    NotConfigured,
    /// The key service failed or answered something that is not a key.
    #[error("key service: {0}")]
    Service(String),
}

/// Where keys come from.
#[async_trait]
pub trait KeyProvider: Send + Sync {
    /// The key id new playlists of `video` use.
    fn current_key_id(&self, video: &str) -> String;
    /// The key `kid` of `video`.
    async fn key(&self, video: &str, kid: &str) -> Result<ContentKey, KeyError>;
}

/// Keys derived from a master secret: HMAC-SHA256(master, "sunomi-content-key\0{video}\0{kid}"),
/// first 16 bytes. Nothing to store, any edge derives the same key.
pub struct LocalKeyStore {
    master: Option<Vec<u8>>,
    current: String,
}

impl LocalKeyStore {
    /// A store over `master` (None: not configured).
    pub fn new(master: Option<Vec<u8>>, current: String) -> LocalKeyStore {
        LocalKeyStore { master, current }
    }
}

/// Derives a key (shared with tests through the same function).
pub fn derive_key(master: &[u8], video: &str, kid: &str) -> ContentKey {
    // HMAC accepts keys of any length; this cannot fail.
    let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(master) {
        Ok(m) => m,
        Err(_) => return [0; 16],
    };
    mac.update(b"sunomi-content-key\0");
    mac.update(video.as_bytes());
    mac.update(b"\0");
    mac.update(kid.as_bytes());
    let out = mac.finalize().into_bytes();
    let mut key = [0u8; 16];
    key.copy_from_slice(&out[..16]);
    key
}

#[async_trait]
impl KeyProvider for LocalKeyStore {
    fn current_key_id(&self, _video: &str) -> String {
        self.current.clone()
    }

    async fn key(&self, video: &str, kid: &str) -> Result<ContentKey, KeyError> {
        let master = self.master.as_deref().ok_or(KeyError::NotConfigured)?;
        Ok(derive_key(master, video, kid))
    }
}

/// Keys from an HTTP key service: `GET {base}/{video}/{kid}` answering the 16 raw bytes or
/// 32 hex digits. Answers are cached for `key_cache_secs`.
pub struct HttpKeyService {
    service: ServiceClient,
    prefix: String,
    current: String,
    cache: Cache<String, ContentKey>,
}

impl HttpKeyService {
    /// A client of the service at `url` (`http://host:port/prefix`).
    pub fn new(url: &str, current: String, cache_secs: u64) -> Result<HttpKeyService, String> {
        let (authority, prefix) = split_http_url(url)
            .ok_or_else(|| format!("key service URL {url:?} is not http://host:port/…"))?;
        Ok(HttpKeyService {
            service: ServiceClient::new(authority, Duration::from_secs(5)),
            prefix: prefix.trim_end_matches('/').to_string(),
            current,
            cache: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(cache_secs.max(1)))
                .build(),
        })
    }

    async fn fetch(&self, video: &str, kid: &str) -> Result<ContentKey, KeyError> {
        let path = if self.prefix.is_empty() {
            format!("/{video}/{kid}")
        } else {
            format!("/{}/{video}/{kid}", self.prefix)
        };
        let reply = self
            .service
            .get(&path, &[])
            .await
            .map_err(|e| KeyError::Service(e.to_string()))?;
        if reply.status != 200 {
            return Err(KeyError::Service(format!("answered {}", reply.status)));
        }
        let body = reply.body;
        let bytes = if body.len() == 16 {
            body.to_vec()
        } else {
            hex::decode(body.trim_ascii())
                .map_err(|_| KeyError::Service("answer is not a 16-byte key".into()))?
        };
        bytes
            .try_into()
            .map_err(|_| KeyError::Service("answer is not a 16-byte key".into()))
    }
}

#[async_trait]
impl KeyProvider for HttpKeyService {
    fn current_key_id(&self, _video: &str) -> String {
        self.current.clone()
    }

    async fn key(&self, video: &str, kid: &str) -> Result<ContentKey, KeyError> {
        let cache_key = format!("{video}/{kid}");
        self.cache
            .try_get_with(cache_key, self.fetch(video, kid))
            .await
            .map_err(|e| (*e).clone())
    }
}

use crate::ops::config::hex_secret as secret;

/// The key provider `config` names.
pub fn provider(config: &EncryptionConfig) -> Result<Box<dyn KeyProvider>, String> {
    match config.key_source {
        KeySource::Local => Ok(Box::new(LocalKeyStore::new(
            secret(&config.master_key, "SUNOMI_MASTER_KEY"),
            config.current_key_id.clone(),
        ))),
        KeySource::Http => Ok(Box::new(HttpKeyService::new(
            config.key_service_url.as_deref().unwrap_or_default(),
            config.current_key_id.clone(),
            config.key_cache_secs,
        )?)),
    }
}

/// The token secret `config` names (config or env SUNOMI_TOKEN_SECRET).
pub fn token_secret(config: &EncryptionConfig) -> Option<Vec<u8>> {
    secret(&config.token_secret, "SUNOMI_TOKEN_SECRET")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_differ_by_video_and_id_and_are_stable() {
        let m = [7u8; 32];
        let a = derive_key(&m, "v1", "k1");
        assert_eq!(a, derive_key(&m, "v1", "k1"));
        assert_ne!(a, derive_key(&m, "v2", "k1"));
        assert_ne!(a, derive_key(&m, "v1", "k2"));
        assert_ne!(a, derive_key(&[8u8; 32], "v1", "k1"));
    }
}
