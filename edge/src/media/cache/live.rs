//! What a configuration reload may change while the edge serves: cache budgets and
//! lifetimes, admission and prefetch knobs, content keys and tokens, the playlist
//! `max-age`. [`Media`](crate::media::Media) holds one [`Live`] behind an `ArcSwap`; a reload builds
//! the next one from the new configuration and swaps it in whole, so each lookup sees either
//! the old settings or the new, never a half-applied mix (a request in flight during a
//! reload may make one lookup under each).
//!
//! moka caches cannot be resized or given a new lifetime in place: a cache whose settings
//! changed is rebuilt and every entry of the old one copied into it (values are shared
//! `Bytes`/`Arc`s, so nothing is copied but handles). Copied entries start a new lifetime.
//! A cache whose settings did not change is kept as it is.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use moka::future::Cache;
use moka::notification::RemovalCause;

use crate::access::auth::{Authorizer, HmacTokens};
use crate::access::keys::{self, KeyProvider};
use crate::media::catalog::Meta;
use crate::media::CacheKey;
use crate::ops::config::{Admission, EdgeConfig, EncryptionConfig};
use crate::ops::metrics::metrics;

/// The settings the caches are built with; a cache is rebuilt when its part changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CacheSettings {
    metadata_bytes: u64,
    metadata_ttl_secs: u64,
    stale_if_error_secs: u64,
    negative_ttl_secs: u64,
    segments_enabled: bool,
    segment_bytes: u64,
    admission_window_secs: u64,
}

impl CacheSettings {
    fn of(config: &EdgeConfig) -> CacheSettings {
        let c = &config.cache;
        CacheSettings {
            metadata_bytes: c.metadata_bytes,
            metadata_ttl_secs: c.metadata_ttl_secs.max(1),
            stale_if_error_secs: c.stale_if_error_secs,
            negative_ttl_secs: c.negative_ttl_secs.max(1),
            segments_enabled: c.segments_enabled,
            segment_bytes: c.segment_bytes,
            admission_window_secs: config.fleet.admission_window_secs.max(1),
        }
    }
}

/// Every in-memory cache of the edge.
pub(crate) struct Caches {
    settings: CacheSettings,
    pub meta: Cache<CacheKey, Meta>,
    /// Every metadata value as last filled, kept `metadata_ttl_secs + stale_if_error_secs`
    /// and served only when a fill fails because storage is unreachable. Purged with `meta`.
    pub stale: Option<Cache<CacheKey, Meta>>,
    /// Videos storage said it does not have (`Manifest` keys), for `negative_ttl_secs`:
    /// floods of unknown ids cost no storage reads. Apart from `meta` so its short lifetime
    /// costs the hot metadata cache nothing.
    pub missing: Cache<CacheKey, ()>,
    pub segments: Option<Cache<CacheKey, Bytes>>,
    /// Single flight for segments fetched from a peer but not admitted to `segments`:
    /// entries leave as soon as their fill completes.
    pub passing: Cache<CacheKey, Bytes>,
    /// Segment keys requested once on this edge (for `second-hit` admission).
    pub seen: Cache<CacheKey, ()>,
    /// Segment keys this edge filled by prefetch and nobody has asked for yet.
    pub prefetched: Cache<CacheKey, ()>,
    /// Route paths this edge recently asked to prefetch (each is asked once).
    pub prefetch_asked: Cache<String, ()>,
}

fn meta_weight(k: &CacheKey, v: &Meta) -> u32 {
    v.weight().saturating_add(k.weight() as u32)
}

/// A segment's memory: its mapping's whole pages when it is held in one (up to an eighth
/// more than its length), so `segment_bytes` bounds what the cache really holds.
fn segment_weight(k: &CacheKey, v: &Bytes) -> u32 {
    u32::try_from(crate::net::zero_copy::footprint(v) + k.weight()).unwrap_or(u32::MAX)
}

fn meta_cache(s: &CacheSettings) -> Cache<CacheKey, Meta> {
    Cache::builder()
        .name("metadata")
        .max_capacity(s.metadata_bytes)
        .weigher(meta_weight)
        .time_to_live(Duration::from_secs(s.metadata_ttl_secs))
        .support_invalidation_closures()
        .build()
}

fn stale_cache(s: &CacheSettings) -> Option<Cache<CacheKey, Meta>> {
    (s.stale_if_error_secs > 0).then(|| {
        Cache::builder()
            .name("stale")
            .max_capacity(s.metadata_bytes)
            .weigher(meta_weight)
            .time_to_live(Duration::from_secs(
                s.metadata_ttl_secs + s.stale_if_error_secs,
            ))
            .support_invalidation_closures()
            .build()
    })
}

fn missing_cache(s: &CacheSettings) -> Cache<CacheKey, ()> {
    Cache::builder()
        .name("missing")
        .max_capacity(100_000)
        .time_to_live(Duration::from_secs(s.negative_ttl_secs))
        .support_invalidation_closures()
        .build()
}

fn segment_cache(s: &CacheSettings) -> Option<Cache<CacheKey, Bytes>> {
    s.segments_enabled.then(|| {
        Cache::builder()
            .name("segments")
            .max_capacity(s.segment_bytes)
            .weigher(segment_weight)
            .support_invalidation_closures()
            .build()
    })
}

fn passing_cache(s: &CacheSettings) -> Cache<CacheKey, Bytes> {
    Cache::builder()
        .name("passing")
        .max_capacity(s.segment_bytes / 8 + 1)
        .weigher(segment_weight)
        .time_to_live(Duration::from_secs(5))
        .build()
}

fn seen_cache(s: &CacheSettings) -> Cache<CacheKey, ()> {
    Cache::builder()
        .name("seen")
        .max_capacity(1_000_000)
        .time_to_idle(Duration::from_secs(s.admission_window_secs))
        .support_invalidation_closures()
        .build()
}

/// Copies every entry of `old` into `new` and returns `new`.
async fn migrated<K, V>(old: &Cache<K, V>, new: Cache<K, V>) -> Cache<K, V>
where
    K: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    for (k, v) in old.iter() {
        new.insert(K::clone(&k), v).await;
    }
    new
}

impl Caches {
    /// Empty caches with `config`'s budgets.
    pub fn new(config: &EdgeConfig) -> Caches {
        let s = CacheSettings::of(config);
        Caches {
            meta: meta_cache(&s),
            stale: stale_cache(&s),
            missing: missing_cache(&s),
            segments: segment_cache(&s),
            passing: passing_cache(&s),
            seen: seen_cache(&s),
            prefetched: Cache::builder()
                .name("prefetched")
                .max_capacity(1_000_000)
                .time_to_live(Duration::from_secs(120))
                .support_invalidation_closures()
                .eviction_listener(|_k, _v, cause| {
                    // Expired or evicted before anyone asked for it: the prefetch was wasted.
                    if matches!(cause, RemovalCause::Expired | RemovalCause::Size) {
                        metrics().prefetch.with_label_values(&["wasted"]).inc();
                    }
                })
                .build(),
            prefetch_asked: Cache::builder()
                .name("prefetch-asked")
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(30))
                .support_invalidation_closures()
                .build(),
            settings: s,
        }
    }

    /// These caches under `config`'s budgets: the same caches where their settings did not
    /// change, rebuilt with the old entries copied in where they did.
    pub async fn resized(&self, config: &EdgeConfig) -> Caches {
        let (old, s) = (self.settings, CacheSettings::of(config));
        let metadata_changed =
            old.metadata_bytes != s.metadata_bytes || old.metadata_ttl_secs != s.metadata_ttl_secs;
        let meta = if metadata_changed {
            migrated(&self.meta, meta_cache(&s)).await
        } else {
            self.meta.clone()
        };
        let stale = match (&self.stale, stale_cache(&s)) {
            (Some(old_stale), Some(new_stale))
                if metadata_changed || old.stale_if_error_secs != s.stale_if_error_secs =>
            {
                Some(migrated(old_stale, new_stale).await)
            }
            (Some(old_stale), Some(_)) => Some(old_stale.clone()),
            (_, new_stale) => new_stale,
        };
        let missing = if old.negative_ttl_secs != s.negative_ttl_secs {
            migrated(&self.missing, missing_cache(&s)).await
        } else {
            self.missing.clone()
        };
        let segments = match (&self.segments, segment_cache(&s)) {
            (Some(old_segments), Some(new_segments)) if old.segment_bytes != s.segment_bytes => {
                Some(migrated(old_segments, new_segments).await)
            }
            (Some(old_segments), Some(_)) => Some(old_segments.clone()),
            (_, new_segments) => new_segments,
        };
        let passing = if old.segment_bytes != s.segment_bytes {
            migrated(&self.passing, passing_cache(&s)).await
        } else {
            self.passing.clone()
        };
        let seen = if old.admission_window_secs != s.admission_window_secs {
            migrated(&self.seen, seen_cache(&s)).await
        } else {
            self.seen.clone()
        };
        Caches {
            settings: s,
            meta,
            stale,
            missing,
            segments,
            passing,
            seen,
            prefetched: self.prefetched.clone(),
            prefetch_asked: self.prefetch_asked.clone(),
        }
    }
}

/// Everything a reload swaps at once.
pub(crate) struct Live {
    pub caches: Caches,
    pub admission: Admission,
    pub prefetch_segments: u32,
    pub prefetch_slots: Arc<tokio::sync::Semaphore>,
    prefetch_concurrency: usize,
    pub keys: Arc<dyn KeyProvider>,
    pub authorizer: Arc<dyn Authorizer>,
    pub encryption: EncryptionConfig,
    /// `Cache-Control` of playlists: `public, max-age={cache.playlist_max_age_secs}`.
    pub playlist_cache_control: http::HeaderValue,
}

impl Live {
    /// The first settings, with empty caches.
    pub fn new(config: &EdgeConfig) -> Result<Live, String> {
        let (keys, authorizer) = Self::keys(&config.encryption)?;
        Ok(Self::with(config, Caches::new(config), keys, authorizer))
    }

    /// The settings of `config`, keeping what did not change (caches and their entries, the
    /// key provider and its cache, the prefetch slots in use).
    pub async fn reconfigured(&self, config: &EdgeConfig) -> Result<Live, String> {
        let (keys, authorizer) = if config.encryption == self.encryption {
            (self.keys.clone(), self.authorizer.clone())
        } else {
            Self::keys(&config.encryption)?
        };
        let caches = self.caches.resized(config).await;
        let mut next = Self::with(config, caches, keys, authorizer);
        if self.prefetch_concurrency == next.prefetch_concurrency {
            next.prefetch_slots = self.prefetch_slots.clone();
        }
        Ok(next)
    }

    #[allow(clippy::type_complexity)]
    fn keys(
        encryption: &EncryptionConfig,
    ) -> Result<(Arc<dyn KeyProvider>, Arc<dyn Authorizer>), String> {
        let keys: Arc<dyn KeyProvider> = Arc::from(keys::provider(encryption)?);
        let authorizer: Arc<dyn Authorizer> = Arc::new(HmacTokens::new(
            keys::token_secret(encryption),
            encryption.max_token_ttl_secs,
        ));
        Ok((keys, authorizer))
    }

    fn with(
        config: &EdgeConfig,
        caches: Caches,
        keys: Arc<dyn KeyProvider>,
        authorizer: Arc<dyn Authorizer>,
    ) -> Live {
        let fleet = &config.fleet;
        Live {
            caches,
            admission: fleet.admission,
            prefetch_segments: if config.cache.segments_enabled {
                fleet.prefetch_segments
            } else {
                0
            },
            prefetch_slots: Arc::new(tokio::sync::Semaphore::new(
                fleet.prefetch_concurrency.max(1),
            )),
            prefetch_concurrency: fleet.prefetch_concurrency.max(1),
            keys,
            authorizer,
            encryption: config.encryption.clone(),
            // Digits and ASCII only: always a valid header value.
            playlist_cache_control: http::HeaderValue::from_str(&format!(
                "public, max-age={}",
                config.cache.playlist_max_age_secs
            ))
            .unwrap_or_else(|_| http::HeaderValue::from_static("public, max-age=60")),
        }
    }
}
