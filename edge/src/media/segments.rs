//! Segments through the cache tiers: this edge's memory, then the key's owner edge, then
//! storage (under the fleet's fill lock), and prefetch of what players will ask next.
//!
//! - The owner of a segment (by its route path on the ring) fills it from storage and keeps
//!   it. A request marked as coming from a peer is always answered as owner, so a request is
//!   forwarded at most once.
//! - A non-owner asks the owner and keeps the answer if the admission rule lets it;
//!   otherwise concurrent requests still share one peer fetch (the `passing` single flight).
//! - When the owner fails or is slow the asker fills from storage itself, and keeps it, so
//!   peers that ask it (the lock holder) join that fill.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use sunomi_packager::route::{Route, TrackRef};
use sunomi_packager::segment;

use super::{CacheOutcome, Media, Object};
use crate::config::Admission;
use crate::error::EdgeError;
use crate::fleet::lock::LockOutcome;
use crate::http;
use crate::metrics::metrics;

/// Who is asking and what they will ask for next.
#[derive(Debug, Default, Clone)]
pub struct RequestFlags {
    /// Another edge forwarded this request: answer it here, never forward again.
    pub from_peer: bool,
    /// A prefetch: fill the cache; nobody is waiting for the bytes.
    pub prefetch: bool,
    /// The object the player says it will request next (CMCD `nor`), if any.
    pub next: Option<Route>,
    /// Playlist filter and clip from the query string.
    pub filter: sunomi_packager::filter::Filter,
    /// The `Range` header, for resources served by byte range (track files).
    pub range: Option<String>,
    /// Clear or encrypted delivery (`/v/{id}/aes/…`).
    pub protection: sunomi_packager::route::Protection,
    /// The request's key token (`exp=…&sig=…`), copied into the URIs playlists write.
    pub token: Option<String>,
    /// The raw query string (checked by the key authorizer).
    pub query: Option<String>,
}

/// Where a storage fill is for: the segment, and its location in the track file.
struct FillTarget<'a> {
    key: &'a str,
    route_path: &'a str,
    id: &'a str,
    path: &'a str,
    bytes: std::ops::Range<u64>,
}

fn tier(tier: &str, result: &str) {
    metrics().cache.with_label_values(&[tier, result]).inc();
}

impl Media {
    pub(super) async fn segment(
        self: &Arc<Self>,
        route: &Route,
        id: &str,
        track: &TrackRef,
        number: u64,
        flags: &RequestFlags,
    ) -> Result<Object, EdgeError> {
        let manifest = self.manifest(id).await?;
        let path = Self::track_path(&manifest, track)?;
        let k = self.fragments_per_segment(id, &manifest).await?;
        let head = self.head(id, path).await?;
        let seg = segment::segment(&head.index, k, number)?;
        let etag = http::etag((&head.version, seg.bytes.start, seg.bytes.end));
        let route_path = route.to_path();
        let key = format!("s:{route_path}@{}", head.version);
        let target = FillTarget {
            key: &key,
            route_path: &route_path,
            id,
            path,
            bytes: seg.bytes.clone(),
        };
        let (body, cache) = match &self.segments {
            None => (self.read_storage(&target).await?, CacheOutcome::Bypass),
            Some(segments) => {
                let owner = if flags.from_peer {
                    None
                } else {
                    self.fleet.owner(&route_path)
                };
                let found = match owner {
                    None => {
                        let fill = Box::pin(self.fill_as_owner(&target));
                        Self::cached(segments, key.clone(), fill).await?
                    }
                    Some(addr) => Box::pin(self.from_owner(segments, addr, &target)).await?,
                };
                if flags.prefetch {
                    if found.1 == CacheOutcome::Miss {
                        self.prefetched.insert(key.clone(), ()).await;
                    }
                } else {
                    self.note_prefetch_use(&key).await;
                    // Only the request that fetched the segment starts prefetches (not the
                    // ones that waited for it), so each miss asks once.
                    if matches!(found.1, CacheOutcome::Miss | CacheOutcome::Peer)
                        && !flags.from_peer
                    {
                        self.prefetch_after(route, &head, k, flags.next.as_ref());
                    }
                }
                found
            }
        };
        Ok(Object::immutable(body, etag, cache))
    }

    /// A non-owner's fetch: from the owner at `addr`, kept here if admitted; storage if the
    /// owner does not answer in time.
    async fn from_owner(
        self: &Arc<Self>,
        segments: &moka::future::Cache<String, Bytes>,
        addr: std::net::SocketAddr,
        target: &FillTarget<'_>,
    ) -> Result<(Bytes, CacheOutcome), EdgeError> {
        if let Some(b) = segments.get(target.key).await {
            tier("local", "hit");
            return Ok((b, CacheOutcome::Hit));
        }
        let admitted = self.admit(target.key).await;
        let via_peer = AtomicBool::new(false);
        let fetch = async {
            match self
                .fleet
                .peers()
                .fetch(addr, target.route_path, false)
                .await
            {
                Ok(reply) => {
                    tier("peer", if reply.owner_hit { "hit" } else { "miss" });
                    via_peer.store(true, Ordering::Relaxed);
                    Ok(reply.body)
                }
                Err(_) => {
                    tier("peer", "miss");
                    // Fill where a peer that asks us (we may now hold the lock) finds it.
                    let fill = self.fill_as_owner(target);
                    Ok(Self::cached(segments, target.key.to_string(), fill)
                        .await?
                        .0)
                }
            }
        };
        let cache = if admitted { segments } else { &self.passing };
        let (body, outcome) = Self::cached(cache, target.key.to_string(), fetch).await?;
        if !admitted {
            self.passing.invalidate(target.key).await;
        }
        let outcome = match outcome {
            CacheOutcome::Miss if via_peer.load(Ordering::Relaxed) => CacheOutcome::Peer,
            other => other,
        };
        Ok((body, outcome))
    }

    /// Whether a non-owner keeps a segment it fetched from the owner.
    async fn admit(&self, key: &str) -> bool {
        match self.admission {
            Admission::Always => true,
            Admission::Never => false,
            Admission::SecondHit => {
                if self.seen.contains_key(key) {
                    true
                } else {
                    self.seen.insert(key.to_string(), ()).await;
                    false
                }
            }
        }
    }

    /// The owner's fill: storage, under the fleet's fill lock. If another edge holds the
    /// lock (owners disagree while membership changes), ask it instead.
    async fn fill_as_owner(&self, target: &FillTarget<'_>) -> Result<Bytes, EdgeError> {
        let counted = |outcome: &str| {
            if self.fleet.is_clustered() {
                metrics().fill_locks.with_label_values(&[outcome]).inc();
            }
        };
        match self.fleet.lock(target.key).await {
            LockOutcome::Acquired(lock) => {
                counted("acquired");
                let result = self.read_storage(target).await;
                self.fleet.unlock(lock).await;
                result
            }
            LockOutcome::HeldBy(holder) => {
                counted("held");
                let m = metrics();
                m.lock_waits.inc();
                let started = std::time::Instant::now();
                let fetched = self
                    .fleet
                    .peers()
                    .fetch(holder, target.route_path, false)
                    .await;
                m.lock_wait_seconds.observe(started.elapsed().as_secs_f64());
                match fetched {
                    Ok(reply) => {
                        tier("peer", if reply.owner_hit { "hit" } else { "miss" });
                        Ok(reply.body)
                    }
                    Err(_) => self.read_storage(target).await,
                }
            }
            LockOutcome::Unavailable => {
                counted("unavailable");
                self.read_storage(target).await
            }
        }
    }

    async fn read_storage(&self, target: &FillTarget<'_>) -> Result<Bytes, EdgeError> {
        let result = self
            .reader
            .read_range(target.id, target.path, target.bytes.clone())
            .await;
        tier("storage", if result.is_ok() { "hit" } else { "miss" });
        tracing::debug!(
            key = target.key,
            ok = result.is_ok(),
            "segment read from storage"
        );
        Ok(result?)
    }

    async fn note_prefetch_use(&self, key: &str) {
        if self.prefetched.contains_key(key) && self.prefetched.remove(key).await.is_some() {
            metrics().prefetch.with_label_values(&["used"]).inc();
        }
    }

    /// Starts filling, in the background, the segments after `route` (and the one the
    /// player announced), each at its owner. Skips what is cached or already asked for, and
    /// everything beyond the concurrency cap.
    fn prefetch_after(
        self: &Arc<Self>,
        route: &Route,
        head: &sunomi_origin::TrackHead,
        k: u32,
        next: Option<&Route>,
    ) {
        let Route::Segment { id, track, number } = route else {
            return;
        };
        let mut wanted: Vec<Route> = (1..=u64::from(self.prefetch_segments))
            .map(|j| number + j)
            .filter(|n| segment::segment(&head.index, k, *n).is_ok())
            .map(|n| Route::Segment {
                id: id.clone(),
                track: track.clone(),
                number: n,
            })
            .collect();
        if let Some(next @ Route::Segment { id: next_id, .. }) = next {
            if next_id == id && !wanted.contains(next) {
                wanted.push(next.clone());
            }
        }
        for r in wanted {
            let path = r.to_path();
            if self.prefetch_asked.contains_key(&path) {
                continue;
            }
            if let Route::Segment { track: t, .. } = &r {
                if t == track {
                    let key = format!("s:{path}@{}", head.version);
                    if self.segments.as_ref().is_some_and(|c| c.contains_key(&key)) {
                        continue;
                    }
                }
            }
            let Ok(permit) = self.prefetch_slots.clone().try_acquire_owned() else {
                metrics().prefetch.with_label_values(&["skipped"]).inc();
                continue;
            };
            metrics().prefetch.with_label_values(&["issued"]).inc();
            let media = self.clone();
            tokio::spawn(async move {
                media.prefetch_asked.insert(path.clone(), ()).await;
                media.prefetch(&r, &path).await;
                drop(permit);
            });
        }
    }

    async fn prefetch(self: &Arc<Self>, route: &Route, path: &str) {
        let result = match self.fleet.owner(path) {
            None => {
                let flags = RequestFlags {
                    from_peer: true,
                    prefetch: true,
                    ..Default::default()
                };
                self.get(route, &flags).await.map(|_| ())
            }
            Some(addr) => self
                .fleet
                .peers()
                .fetch(addr, path, true)
                .await
                .map(|_| ())
                .map_err(|e| EdgeError::Unavailable(e.to_string())),
        };
        if let Err(e) = result {
            tracing::debug!(path, error = %e, "prefetch failed");
        }
    }
}
