//! The cache: what every cached object is called (`key`), the caches and knobs a reload
//! swaps whole (`live`), the tiers an object comes through — this edge's memory, its owner
//! edge, storage or the picture service under the fleet's fill lock, and prefetch
//! (`segments`) — and what a purge drops and the record versions it leaves behind
//! (`purge`, `floors`). The formats in [`crate::media`] ask it for objects; it makes no
//! format's bytes (a segment is a range of a track file, a picture the picture service's).

pub(super) mod floors;
pub mod key;
pub(super) mod live;
pub(super) mod purge;
pub(super) mod segments;

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use moka::future::Cache;

use crate::error::EdgeError;
use crate::media::{CacheKey, CacheOutcome};
use crate::ops::metrics::metrics;

/// Looks `key` up in `cache`, filling it with `fill` on a miss. Concurrent misses for one
/// key run one fill; the others wait for it (and say so: [`CacheOutcome::Coalesced`]).
pub(in crate::media) async fn single_flight<V, F>(
    cache: &Cache<CacheKey, V>,
    key: CacheKey,
    fill: F,
) -> Result<(V, CacheOutcome), EdgeError>
where
    V: Clone + Send + Sync + 'static,
    F: Future<Output = Result<V, EdgeError>>,
{
    if let Some(v) = cache.get(&key).await {
        metrics().cache_local_hits.inc();
        return Ok((v, CacheOutcome::Hit));
    }
    let ran = AtomicBool::new(false);
    // Boxed: moka keeps the fill inside its own future; out of line, the futures of
    // nested lookups (playlist → manifest → track head) stay small on the stack.
    let fill = Box::pin(fill);
    let value = Box::pin(cache.try_get_with(key, async {
        ran.store(true, Ordering::Relaxed);
        fill.await
    }))
    .await
    .map_err(unshare)?;
    if ran.load(Ordering::Relaxed) {
        metrics().cache_local_misses.inc();
        Ok((value, CacheOutcome::Miss))
    } else {
        metrics().cache_local_hits.inc();
        metrics().coalesced.inc();
        Ok((value, CacheOutcome::Coalesced))
    }
}

/// A fill's error as every waiter's own.
fn unshare(e: Arc<EdgeError>) -> EdgeError {
    Arc::try_unwrap(e).unwrap_or_else(|shared| (*shared).clone())
}
