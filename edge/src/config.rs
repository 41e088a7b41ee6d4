//! The edge's configuration: one `serde(default)` struct, loaded from TOML, overridden by
//! flags and environment, checked by [`EdgeConfig::validate`].

use serde::Deserialize;

/// Everything an operator can tune.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EdgeConfig {
    /// Object store holding the videos (directory, `file:///dir`, `s3://bucket/prefix`, `memory://`).
    pub store: Option<String>,
    /// Address players connect to.
    pub listen: String,
    /// Address of the admin listener (`/metrics`, `/healthz`, `/readyz`).
    pub admin: String,
    /// HLS segment target duration in milliseconds (whole fragments are grouped to reach it).
    pub segment_target_ms: u32,
    /// Worker threads per listener (0: one per core).
    pub threads: usize,
    /// In-memory caches.
    pub cache: CacheConfig,
    /// Object storage client behaviour.
    pub storage: StorageConfig,
    /// Graceful shutdown.
    pub shutdown: ShutdownConfig,
}

/// Cache budgets and lifetimes.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheConfig {
    /// Bytes of media segments kept in memory.
    pub segment_bytes: u64,
    /// Bytes of manifests, track indexes and playlists kept in memory.
    pub metadata_bytes: u64,
    /// Seconds a manifest, track index or playlist is reused before storage is asked again
    /// (how soon a re-published video is seen without a purge).
    pub metadata_ttl_secs: u64,
    /// Keep segments in memory. Off, every segment request reads storage (for benchmarking
    /// the packager, or when a CDN in front does all the caching).
    pub segments_enabled: bool,
    /// `max-age` sent with playlists.
    pub playlist_max_age_secs: u64,
}

/// How the edge talks to object storage.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// TCP connect timeout, milliseconds.
    pub connect_timeout_ms: u64,
    /// Whole-request timeout, milliseconds.
    pub request_timeout_ms: u64,
    /// Retries of a failed request before answering 503.
    pub max_retries: usize,
    /// `Retry-After` seconds sent with a 503.
    pub retry_after_secs: u64,
}

/// How SIGTERM is handled.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ShutdownConfig {
    /// Seconds the listeners stay open after SIGTERM (for load balancers to notice).
    pub grace_period_secs: u64,
    /// Seconds given to in-flight requests after that before exiting.
    pub timeout_secs: u64,
}

impl Default for EdgeConfig {
    fn default() -> Self {
        EdgeConfig {
            store: None,
            listen: "127.0.0.1:8080".into(),
            admin: "127.0.0.1:9090".into(),
            segment_target_ms: sunomi_packager::segment::DEFAULT_TARGET_MS,
            threads: 0,
            cache: CacheConfig::default(),
            storage: StorageConfig::default(),
            shutdown: ShutdownConfig::default(),
        }
    }
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            segment_bytes: 512 * 1024 * 1024,
            metadata_bytes: 64 * 1024 * 1024,
            metadata_ttl_secs: 60,
            segments_enabled: true,
            playlist_max_age_secs: 60,
        }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            connect_timeout_ms: 2_000,
            request_timeout_ms: 10_000,
            max_retries: 2,
            retry_after_secs: 5,
        }
    }
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        ShutdownConfig {
            grace_period_secs: 1,
            timeout_secs: 3,
        }
    }
}

impl EdgeConfig {
    /// Parses a TOML configuration file's text.
    pub fn from_toml(text: &str) -> Result<EdgeConfig, toml::de::Error> {
        toml::from_str(text)
    }

    /// Checks values that would make the edge misbehave rather than fail to start.
    pub fn validate(&self) -> Result<(), String> {
        if self.store.as_deref().is_none_or(str::is_empty) {
            return Err("no store: pass --store or set `store` in the config".into());
        }
        for (name, addr) in [("listen", &self.listen), ("admin", &self.admin)] {
            if addr.parse::<std::net::SocketAddr>().is_err() {
                return Err(format!("{name} address {addr:?} is not HOST:PORT"));
            }
        }
        if self.listen == self.admin {
            return Err("listen and admin addresses must differ".into());
        }
        if !(500..=60_000).contains(&self.segment_target_ms) {
            return Err(format!(
                "segment_target_ms {} is outside 500..=60000",
                self.segment_target_ms
            ));
        }
        if self.cache.metadata_bytes < 1024 * 1024 {
            return Err("cache.metadata_bytes must be at least 1 MiB".into());
        }
        Ok(())
    }

    /// Worker threads to run per listener.
    pub fn worker_threads(&self) -> usize {
        if self.threads > 0 {
            self.threads
        } else {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_once_a_store_is_set() {
        let mut c = EdgeConfig::default();
        assert!(c.validate().is_err());
        c.store = Some("memory://".into());
        assert!(c.validate().is_ok());
    }

    #[test]
    fn toml_overrides_only_what_it_names() {
        let c = EdgeConfig::from_toml("store = \"/tmp/x\"\n[cache]\nsegments_enabled = false\n")
            .unwrap();
        assert!(!c.cache.segments_enabled);
        assert_eq!(c.cache.metadata_ttl_secs, 60);
        assert!(EdgeConfig::from_toml("bogus = 1").is_err());
    }

    #[test]
    fn bad_values_are_refused() {
        let mut c = EdgeConfig {
            store: Some("memory://".into()),
            ..Default::default()
        };
        c.segment_target_ms = 10;
        assert!(c.validate().is_err());
        c.segment_target_ms = 6000;
        c.admin = c.listen.clone();
        assert!(c.validate().is_err());
    }
}
