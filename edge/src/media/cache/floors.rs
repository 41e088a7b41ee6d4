//! Revision floors: what purges told this edge about the control plane's record versions.
//!
//! A purge of a video (or playback id) may carry the version of the record it announces
//! ([`PurgeScope::Video`]'s `revision`). From then on a manifest or playback record of that id
//! projected from an older version is stale wherever it comes from — a fill that read storage
//! before the purge and finished after it, a shared copy in Redis written by such a fill, a
//! stale-if-error copy — and is never served: it is dropped and read again from storage.
//! Checked on every lookup (not only when filling), so no interleaving of a fill's insert
//! with the purge can leave an old copy behind.
//!
//! A floor is kept for [`FLOOR_TTL`], longer than any cached copy lives (metadata TTL plus
//! the stale-if-error window), and the check costs one atomic load while no floor is held.
//!
//! [`PurgeScope::Video`]: crate::fleet::purge::PurgeScope::Video

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::RwLock;
use std::time::{Duration, Instant};

/// How long a floor is kept.
pub const FLOOR_TTL: Duration = Duration::from_secs(3600);
/// Floors kept at most (the oldest are dropped first beyond it).
const MAX_FLOORS: usize = 100_000;

/// Per-id revision floors.
#[derive(Debug, Default)]
pub struct Floors {
    any: AtomicBool,
    by_id: RwLock<HashMap<String, (u64, Instant)>>,
}

impl Floors {
    /// Raises `id`'s floor to `revision` (never lowers it) at `now`.
    pub fn raise(&self, id: &str, revision: u64, now: Instant) {
        let mut map = self.by_id.write().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, (_, at)| now.saturating_duration_since(*at) < FLOOR_TTL);
        if map.len() >= MAX_FLOORS && !map.contains_key(id) {
            let oldest = map
                .iter()
                .min_by_key(|(_, (_, at))| *at)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                map.remove(&k);
            }
        }
        let entry = map.entry(id.to_string()).or_insert((0, now));
        entry.0 = entry.0.max(revision);
        entry.1 = now;
        self.any.store(true, Ordering::Release);
    }

    /// The lowest revision of `id` this edge may still serve (0: any) at `now`.
    pub fn floor(&self, id: &str, now: Instant) -> u64 {
        if !self.any.load(Ordering::Acquire) {
            return 0;
        }
        let map = self.by_id.read().unwrap_or_else(|p| p.into_inner());
        match map.get(id) {
            Some((rev, at)) if now.saturating_duration_since(*at) < FLOOR_TTL => *rev,
            _ => 0,
        }
    }

    /// Whether a copy of `id` at `revision` is older than what a purge announced.
    pub fn is_stale(&self, id: &str, revision: u64) -> bool {
        revision < self.floor(id, Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floors_only_rise_and_expire() {
        let f = Floors::default();
        let t = Instant::now();
        assert_eq!(f.floor("v", t), 0);
        f.raise("v", 5, t);
        f.raise("v", 3, t);
        assert_eq!(f.floor("v", t), 5);
        assert_eq!(f.floor("w", t), 0);
        assert!(f.is_stale("v", 4));
        assert!(!f.is_stale("v", 5));
        assert_eq!(f.floor("v", t + FLOOR_TTL), 0);
        f.raise("gone", u64::MAX, t);
        assert!(f.is_stale("gone", u64::MAX - 1));
    }
}
