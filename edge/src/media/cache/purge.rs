//! Dropping cached objects: by URL, by video, or everything. Which objects a purge covers
//! is decided by their [`CacheKey`] ([`CacheKey::purged_by`]), the one place that knows what
//! each cached object is and what it was made from.

use crate::fleet::purge::PurgeScope;
use crate::fleet::PurgeTarget;
use crate::media::{CacheKey, Media};

impl PurgeTarget for Media {
    fn purge_local(&self, scope: &PurgeScope) {
        tracing::info!(?scope, "purging");
        if let PurgeScope::Video {
            id,
            revision: Some(revision),
        } = scope
        {
            // Before anything is dropped: a fill finishing in between is caught by the floor.
            self.catalog
                .floors()
                .raise(id, *revision, std::time::Instant::now());
        }
        if *scope == PurgeScope::All {
            self.live().caches.meta.invalidate_all();
            if let Some(s) = &self.live().caches.stale {
                s.invalidate_all();
            }
            self.live().caches.missing.invalidate_all();
            if let Some(s) = &self.live().caches.segments {
                s.invalidate_all();
            }
            self.live().caches.passing.invalidate_all();
            self.live().caches.seen.invalidate_all();
            self.live().caches.prefetched.invalidate_all();
            self.live().caches.prefetch_asked.invalidate_all();
            return;
        }
        let matches = {
            let scope = scope.clone();
            move |k: &CacheKey| k.purged_by(&scope)
        };
        let m = matches.clone();
        if let Err(e) = self
            .live()
            .caches
            .meta
            .invalidate_entries_if(move |k, _| m(k))
        {
            tracing::warn!(error = %e, "purging metadata failed");
        }
        // What was purged must not come back as a stale copy while storage is down.
        if let Some(stale) = &self.live().caches.stale {
            let m = matches.clone();
            if let Err(e) = stale.invalidate_entries_if(move |k, _| m(k)) {
                tracing::warn!(error = %e, "purging stale metadata failed");
            }
        }
        if let Some(cache) = &self.live().caches.segments {
            let m = matches.clone();
            if let Err(e) = cache.invalidate_entries_if(move |k, _| m(k)) {
                tracing::warn!(error = %e, "purging segments failed");
            }
        }
        // `passing` holds an entry only while its fill runs; those are not purgeable.
        for set in [
            &self.live().caches.missing,
            &self.live().caches.seen,
            &self.live().caches.prefetched,
        ] {
            let m = matches.clone();
            let _ = set.invalidate_entries_if(move |k, _| m(k));
        }
    }
}
