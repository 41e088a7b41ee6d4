//! Dropping cached objects: by URL, by video, or everything. Which objects a purge covers
//! is decided by their [`CacheKey`] ([`CacheKey::purged_by`]), the one place that knows what
//! each cached object is and what it was made from.

use super::{CacheKey, Media};
use crate::fleet::purge::PurgeScope;
use crate::fleet::PurgeTarget;

impl PurgeTarget for Media {
    fn purge_local(&self, scope: &PurgeScope) {
        tracing::info!(?scope, "purging");
        if *scope == PurgeScope::All {
            self.meta.invalidate_all();
            if let Some(s) = &self.stale {
                s.invalidate_all();
            }
            self.missing.invalidate_all();
            if let Some(s) = &self.segments {
                s.invalidate_all();
            }
            self.passing.invalidate_all();
            self.seen.invalidate_all();
            self.prefetched.invalidate_all();
            self.prefetch_asked.invalidate_all();
            return;
        }
        let matches = {
            let scope = scope.clone();
            move |k: &CacheKey| k.purged_by(&scope)
        };
        let m = matches.clone();
        if let Err(e) = self.meta.invalidate_entries_if(move |k, _| m(k)) {
            tracing::warn!(error = %e, "purging metadata failed");
        }
        // What was purged must not come back as a stale copy while storage is down.
        if let Some(stale) = &self.stale {
            let m = matches.clone();
            if let Err(e) = stale.invalidate_entries_if(move |k, _| m(k)) {
                tracing::warn!(error = %e, "purging stale metadata failed");
            }
        }
        if let Some(cache) = &self.segments {
            let m = matches.clone();
            if let Err(e) = cache.invalidate_entries_if(move |k, _| m(k)) {
                tracing::warn!(error = %e, "purging segments failed");
            }
        }
        // `passing` holds an entry only while its fill runs; those are not purgeable.
        for set in [&self.missing, &self.seen, &self.prefetched] {
            let m = matches.clone();
            let _ = set.invalidate_entries_if(move |k, _| m(k));
        }
    }
}
