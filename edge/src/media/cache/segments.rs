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

use arc_swap::ArcSwap;
use sunomi_origin::MediaReader;

use super::live::Live;
use super::single_flight;
use crate::error::EdgeError;
use crate::fleet::lock::LockOutcome;
use crate::fleet::Fleet;
use crate::media::catalog::{Catalog, Timeline};
use crate::media::pictures::Pictures;
use crate::media::{CacheKey, CacheOutcome, Object};
use crate::net::http;
use crate::net::zero_copy;
use crate::ops::config::Admission;
use crate::ops::metrics::metrics;

/// Who is asking and what they will ask for next.
#[derive(Debug, Default, Clone)]
pub struct RequestFlags {
    /// Another edge forwarded this request: answer it here, never forward again.
    pub from_peer: bool,
    /// A prefetch: fill the cache; nobody is waiting for the bytes.
    pub prefetch: bool,
    /// A peer wants the segment only if this edge holds it (`Cache-Control:
    /// only-if-cached`, honoured from peers only, for CMAF segments, the only objects peers
    /// look up that way): no fill, no forwarding.
    pub only_if_cached: bool,
    /// The object the player says it will request next (CMCD `nor`), if any.
    pub next: Option<Route>,
    /// Playlist filter and clip from the query string.
    pub filter: sunomi_packager::filter::Filter,
    /// The `Range` header, for resources served by byte range (track files).
    pub range: Option<String>,
    /// The `If-Range` header: the range applies only while the resource still has it.
    pub if_range: Option<String>,
    /// Clear or encrypted delivery (`/v/{id}/aes/…`).
    pub protection: sunomi_packager::route::Protection,
    /// The request's key token (`exp=…&sig=…`), copied into the URIs playlists write.
    pub token: Option<String>,
    /// The raw query string (checked by the key authorizer).
    pub query: Option<String>,
    /// The signed playback token (`?token=`), copied into the URIs playlists write.
    pub playback_token: Option<String>,
    /// The request body: a licence request's (empty for everything else).
    pub body: Bytes,
}

/// What a fill makes: bytes of a track file, or a picture the picture service draws.
pub(in crate::media) enum FillSource<'a> {
    /// Bytes `bytes` of the track file at `path`, which must still be `version` (the one
    /// the range was planned from).
    Track {
        /// The track file's path in the video.
        path: &'a str,
        /// The bytes.
        bytes: std::ops::Range<u64>,
        /// The track file's version.
        version: &'a str,
    },
    /// A picture: `spec` (a [`sunomi_packager::picture::PictureSpec`] query) drawn from the
    /// rendition's track file at `version`.
    Picture {
        /// Which file.
        file: sunomi_packager::picture::PictureFile,
        /// The spec's query.
        spec: &'a str,
        /// The version of the track file it is drawn from.
        version: &'a str,
    },
}

/// Where a fill is for: the object, who owns it in the fleet, and what makes it.
pub(in crate::media) struct FillTarget<'a> {
    /// The object's cache key.
    pub key: &'a CacheKey,
    /// The path (and query) a peer edge is asked for the object with.
    pub route_path: &'a str,
    /// What names its owner on the ring (the route path, or a picture's canonical form, so
    /// equal pictures asked in other words have one owner).
    pub ring_key: &'a str,
    /// The video.
    pub id: &'a str,
    /// What makes it.
    pub source: FillSource<'a>,
    /// The entity tag the object has (an owner edge must answer with the same one).
    pub etag: &'a str,
    /// Another edge forwarded this request: it is never forwarded again.
    pub from_peer: bool,
}

/// Which tier a request for a segment goes to first, given the owner the ring names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FirstTier {
    /// This edge fills it (from memory, else storage under the fill lock).
    Own,
    /// Ask the owner edge at this address.
    Owner(std::net::SocketAddr),
}

/// The tier choice: a request another edge forwarded is always answered here (a request
/// crosses the fleet at most once); otherwise the ring's owner, which may be this edge.
pub(crate) fn first_tier(owner: Option<std::net::SocketAddr>, from_peer: bool) -> FirstTier {
    match owner {
        Some(addr) if !from_peer => FirstTier::Owner(addr),
        _ => FirstTier::Own,
    }
}

/// Whether a non-owner keeps an object it fetched from the owner, given whether it was
/// requested here before within the admission window.
pub(crate) fn admits(admission: Admission, seen_before: bool) -> bool {
    match admission {
        Admission::Always => true,
        Admission::Never => false,
        Admission::SecondHit => seen_before,
    }
}

/// What an owner's fill does when another edge holds the fill lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LockHeld {
    /// Ask the holder (its fill is under way; joining it saves a storage read).
    AskHolder,
    /// Read storage here.
    ReadStorage,
}

/// A request another edge forwarded is never forwarded again, not even to the lock holder:
/// it reads storage itself. Any other request asks the holder.
pub(crate) fn when_lock_held(from_peer: bool) -> LockHeld {
    if from_peer {
        LockHeld::ReadStorage
    } else {
        LockHeld::AskHolder
    }
}

/// Segment numbers to prefetch after segment `number`: the next `count` that exist (by
/// `exists`), then the player's announced next segment `next` if it is another one.
pub(crate) fn prefetch_numbers(
    number: u64,
    count: u32,
    exists: impl Fn(u64) -> bool,
    next: Option<u64>,
) -> Vec<u64> {
    let mut wanted: Vec<u64> = (1..=u64::from(count))
        .filter_map(|j| number.checked_add(j))
        .filter(|n| exists(*n))
        .collect();
    if let Some(n) = next {
        if n != number && !wanted.contains(&n) && exists(n) {
            wanted.push(n);
        }
    }
    wanted
}

fn tier(tier: &str, result: &str) {
    metrics().cache.with_label_values(&[tier, result]).inc();
}

/// Segment-sized objects — CMAF segments, pictures, and what formats derive from them (TS,
/// encrypted and I-frame segments) — through the cache tiers. Formats ask it for segment
/// `n` of a track ([`Segments::segment`]), for an object drawn elsewhere
/// ([`Segments::through_tiers`]) or for one they make themselves ([`Segments::cached`]).
pub(in crate::media) struct Segments {
    /// Where a segment's track file and its range are looked up.
    catalog: Arc<Catalog>,
    /// Reads the ranges.
    reader: MediaReader,
    fleet: Arc<Fleet>,
    /// The settings a reload swaps (the segment caches among them), shared with the edge.
    live: Arc<ArcSwap<Live>>,
    /// The picture service pictures are drawn by.
    pictures: Pictures,
}

impl Segments {
    /// The tiers of this edge in `fleet`, reading storage through `reader`.
    pub fn new(
        catalog: Arc<Catalog>,
        reader: MediaReader,
        fleet: Arc<Fleet>,
        live: Arc<ArcSwap<Live>>,
        pictures: Pictures,
    ) -> Segments {
        Segments {
            catalog,
            reader,
            fleet,
            live,
            pictures,
        }
    }

    /// The catalog segments are looked up in.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The storage reader (for ranges a format reads through [`Segments::cached`]).
    pub fn reader(&self) -> &MediaReader {
        &self.reader
    }

    fn live(&self) -> Arc<Live> {
        self.live.load_full()
    }

    /// A segment-sized object made by `make`, through the segment cache (single flight),
    /// or made directly when the segment cache is off. For objects this edge derives (no
    /// owner edge is asked).
    pub async fn cached<F>(
        &self,
        key: CacheKey,
        make: F,
    ) -> Result<(Bytes, CacheOutcome), EdgeError>
    where
        F: std::future::Future<Output = Result<Bytes, EdgeError>>,
    {
        match &self.live().caches.segments {
            Some(cache) => single_flight(cache, key, make).await,
            None => Ok((make.await?, CacheOutcome::Bypass)),
        }
    }

    /// CMAF segment `number` of `track` of video `id` (`route` names it): from memory, the
    /// owner edge or storage; the segments after it are prefetched.
    pub async fn segment(
        self: &Arc<Self>,
        route: &Route,
        id: &str,
        track: &TrackRef,
        number: u64,
        flags: &RequestFlags,
    ) -> Result<Object, EdgeError> {
        let manifest = self.catalog.manifest(id).await?;
        let path = Catalog::track_path(&manifest, track)?;
        let timeline = self.catalog.timeline(id, &manifest).await?;
        let head = self.catalog.head(id, path).await?;
        let seg = timeline.segment(&head.index, number)?;
        let etag = http::etag(&[
            head.version.as_bytes(),
            &seg.bytes.start.to_be_bytes(),
            &seg.bytes.end.to_be_bytes(),
        ]);
        let route_path = route.to_path();
        let key = CacheKey::segment(route, &head.version);
        let target = FillTarget {
            key: &key,
            route_path: &route_path,
            ring_key: &route_path,
            id,
            source: FillSource::Track {
                path,
                bytes: seg.bytes.clone(),
                version: &head.version,
            },
            etag: &etag,
            from_peer: flags.from_peer,
        };
        let (body, cache) = self.through_tiers(&target, flags).await?;
        if self.live().caches.segments.is_some() {
            if flags.prefetch {
                if cache == CacheOutcome::Miss {
                    self.live().caches.prefetched.insert(key.clone(), ()).await;
                }
            } else {
                let prefetched = self.note_prefetch_use(&key).await;
                // Only the request that fetched the segment starts prefetches (not the ones
                // that waited for it), so each miss asks once; so does the first use of a
                // prefetched segment, so the fill stays ahead of the player (otherwise every
                // other segment would be a miss).
                if (prefetched || matches!(cache, CacheOutcome::Miss | CacheOutcome::Peer))
                    && !flags.from_peer
                {
                    self.prefetch_after(route, &head, &timeline, flags.next.as_ref());
                }
            }
        }
        Ok(Object {
            media_ms: seg.duration.saturating_mul(1000) / u64::from(head.index.timescale.max(1)),
            streamed: None,
            ..Object::immutable(body, etag, cache)
        })
    }

    /// An object through the cache tiers: this edge's memory, the owner edge (the ring's
    /// pick for `target.ring_key`), then `target.source` under the fleet's fill lock; and,
    /// when storage fails, a copy another edge holds.
    pub async fn through_tiers(
        self: &Arc<Self>,
        target: &FillTarget<'_>,
        flags: &RequestFlags,
    ) -> Result<(Bytes, CacheOutcome), EdgeError> {
        let Some(segments) = &self.live().caches.segments else {
            return Ok((self.read_source(target).await?, CacheOutcome::Bypass));
        };
        if flags.only_if_cached {
            // Another edge, whose storage read failed, looks for a copy: memory only.
            return match segments.get(target.key).await {
                Some(body) => Ok((body, CacheOutcome::Hit)),
                None => Err(EdgeError::NotCached),
            };
        }
        let tier = first_tier(self.fleet.owner(target.ring_key), flags.from_peer);
        let found = match tier {
            FirstTier::Own => {
                let fill =
                    Box::pin(async { self.fill_as_owner(target).await.map(zero_copy::keep) });
                single_flight(segments, target.key.clone(), fill).await
            }
            FirstTier::Owner(addr) => Box::pin(self.from_owner(segments, addr, target)).await,
        };
        match found {
            // Only the edge a player asked looks further, so a lookup costs the fleet at most
            // MAX_SIBLINGS memory reads.
            Err(e @ EdgeError::Unavailable(_)) if !flags.from_peer => {
                match Box::pin(self.copy_from_siblings(segments, target)).await {
                    Some(found) => Ok(found),
                    None => Err(e),
                }
            }
            other => other,
        }
    }

    /// A non-owner's fetch: from the owner at `addr`, kept here if admitted; storage if the
    /// owner does not answer in time.
    async fn from_owner(
        self: &Arc<Self>,
        segments: &moka::future::Cache<CacheKey, Bytes>,
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
                // The owner planned from the same version of the track file: its bytes are
                // the ones this edge would read.
                Ok(reply) if reply.etag.as_deref() == Some(target.etag) => {
                    tier("peer", if reply.owner_hit { "hit" } else { "miss" });
                    via_peer.store(true, Ordering::Relaxed);
                    Ok(if admitted {
                        zero_copy::keep(reply.body)
                    } else {
                        reply.body
                    })
                }
                // Failed, or answered from another version of the track file (one of us has
                // a stale index: reading storage against ours tells which).
                _ => {
                    tier("peer", "miss");
                    // Filled here, never through `Self::cached` again: this future already
                    // is the key's single flight in `cache`, which is `segments` when the
                    // object is admitted, and a second `try_get_with` of the same key from
                    // inside the first waits for itself forever (every later request for the
                    // segment on this edge hung). Admitted, the outer flight stores it in
                    // `segments`; otherwise it is stored there too, so a peer that asks us
                    // (we may now hold the fill lock) finds it.
                    let body = zero_copy::keep(self.fill_as_owner(target).await?);
                    if !admitted {
                        segments.insert(target.key.clone(), body.clone()).await;
                    }
                    Ok(body)
                }
            }
        };
        let cache = if admitted {
            segments
        } else {
            &self.live().caches.passing
        };
        let (body, outcome) = single_flight(cache, target.key.clone(), fetch).await?;
        if !admitted {
            self.live().caches.passing.invalidate(target.key).await;
        }
        let outcome = match outcome {
            CacheOutcome::Miss if via_peer.load(Ordering::Relaxed) => CacheOutcome::Peer,
            other => other,
        };
        Ok((body, outcome))
    }

    /// Storage could not give the segment (the owner's read failed too): asks other edges
    /// for a copy they hold in memory (`Cache-Control: only-if-cached`; none fills). Copies
    /// live off their owner after the ring changed (an edge restarted, Redis lost) or where a
    /// non-owner admitted them; without this a storage outage fails every request whose owner
    /// lacks the segment although the fleet holds it. All asked at once, the first copy of
    /// this version (same entity tag) wins and is kept here.
    async fn copy_from_siblings(
        &self,
        segments: &moka::future::Cache<CacheKey, Bytes>,
        target: &FillTarget<'_>,
    ) -> Option<(Bytes, CacheOutcome)> {
        let siblings = self.fleet.siblings(target.ring_key);
        if siblings.is_empty() {
            return None;
        }
        let asks = siblings.into_iter().map(|addr| {
            Box::pin(async move {
                let reply = self
                    .fleet
                    .peers()
                    .fetch_cached(addr, target.route_path)
                    .await;
                tracing::debug!(
                    key = %target.key,
                    %addr,
                    found = ?reply.as_ref().map(|r| r.etag.as_deref() == Some(target.etag)),
                    "sibling lookup"
                );
                match reply {
                    Ok(reply) if reply.etag.as_deref() == Some(target.etag) => Ok(reply.body),
                    _ => Err(()),
                }
            })
        });
        let found = futures::future::select_ok(asks)
            .await
            .ok()
            .map(|(body, _)| body);
        let result = if found.is_some() { "hit" } else { "miss" };
        metrics().siblings.with_label_values(&[result]).inc();
        let body = zero_copy::keep(found?);
        tier("peer", "hit");
        segments.insert(target.key.clone(), body.clone()).await;
        Some((body, CacheOutcome::Peer))
    }

    /// Whether a non-owner keeps a segment it fetched from the owner.
    async fn admit(&self, key: &CacheKey) -> bool {
        let seen_before = self.live().caches.seen.contains_key(key);
        if !seen_before && self.live().admission == Admission::SecondHit {
            self.live().caches.seen.insert(key.clone(), ()).await;
        }
        admits(self.live().admission, seen_before)
    }

    /// The owner's fill: storage, under the fleet's fill lock. If another edge holds the
    /// lock (owners disagree while membership changes), ask it instead — unless this
    /// request was itself forwarded by a peer (it crosses the fleet at most once).
    async fn fill_as_owner(&self, target: &FillTarget<'_>) -> Result<Bytes, EdgeError> {
        let counted = |outcome: &str| {
            if self.fleet.is_clustered() {
                metrics().fill_locks.with_label_values(&[outcome]).inc();
            }
        };
        match self.fleet.lock(&target.key.to_string()).await {
            LockOutcome::Acquired(lock) => {
                counted("acquired");
                let result = self.read_source(target).await;
                self.fleet.unlock(lock).await;
                result
            }
            LockOutcome::HeldBy(_) if when_lock_held(target.from_peer) == LockHeld::ReadStorage => {
                counted("held");
                self.read_source(target).await
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
                    Ok(reply) if reply.etag.as_deref() == Some(target.etag) => {
                        tier("peer", if reply.owner_hit { "hit" } else { "miss" });
                        Ok(reply.body)
                    }
                    _ => self.read_source(target).await,
                }
            }
            LockOutcome::Unavailable => {
                counted("unavailable");
                self.read_source(target).await
            }
        }
    }

    /// Makes the object from its source: a ranged read of storage, or the picture service.
    async fn read_source(&self, target: &FillTarget<'_>) -> Result<Bytes, EdgeError> {
        match &target.source {
            FillSource::Track {
                path,
                bytes,
                version,
            } => {
                let result = self
                    .reader
                    .read_range(target.id, path, bytes.clone(), version)
                    .await;
                tier("storage", if result.is_ok() { "hit" } else { "miss" });
                tracing::debug!(
                    key = %target.key,
                    ok = result.is_ok(),
                    "segment read from storage"
                );
                Ok(result?)
            }
            FillSource::Picture {
                file,
                spec,
                version,
            } => self.pictures.draw(target.id, *file, spec, version).await,
        }
    }

    /// Counts the first use of a segment this edge prefetched; returns whether this was it.
    async fn note_prefetch_use(&self, key: &CacheKey) -> bool {
        let first_use = self.live().caches.prefetched.contains_key(key)
            && self.live().caches.prefetched.remove(key).await.is_some();
        if first_use {
            metrics().prefetch.with_label_values(&["used"]).inc();
        }
        first_use
    }

    /// Starts filling, in the background, the segments after `route` (and the one the
    /// player announced), each at its owner. Skips what is cached or already asked for, and
    /// everything beyond the concurrency cap.
    fn prefetch_after(
        self: &Arc<Self>,
        route: &Route,
        head: &sunomi_origin::TrackHead,
        timeline: &Timeline,
        next: Option<&Route>,
    ) {
        let Route::Segment { id, track, number } = route else {
            return;
        };
        // The player's announced next object counts when it is a segment of the same track
        // (another rung's head is not at hand to check it exists; its owner checks).
        let announced = match next {
            Some(Route::Segment {
                id: next_id,
                track: next_track,
                number: n,
            }) if next_id == id && next_track == track => Some(*n),
            _ => None,
        };
        let exists = |n: u64| timeline.segment(&head.index, n).is_ok();
        let mut wanted: Vec<Route> =
            prefetch_numbers(*number, self.live().prefetch_segments, exists, announced)
                .into_iter()
                .map(|n| Route::Segment {
                    id: id.clone(),
                    track: track.clone(),
                    number: n,
                })
                .collect();
        if let Some(other @ Route::Segment { id: next_id, .. }) = next {
            if next_id == id && announced.is_none() && !wanted.contains(other) {
                wanted.push(other.clone());
            }
        }
        for r in wanted {
            let path = r.to_path();
            if self.live().caches.prefetch_asked.contains_key(&path) {
                continue;
            }
            if let Route::Segment { track: t, .. } = &r {
                if t == track {
                    let key = CacheKey::segment(&r, &head.version);
                    if self
                        .live()
                        .caches
                        .segments
                        .as_ref()
                        .is_some_and(|c| c.contains_key(&key))
                    {
                        continue;
                    }
                }
            }
            let Ok(permit) = self.live().prefetch_slots.clone().try_acquire_owned() else {
                metrics().prefetch.with_label_values(&["skipped"]).inc();
                continue;
            };
            metrics().prefetch.with_label_values(&["issued"]).inc();
            let media = self.clone();
            tokio::spawn(async move {
                media
                    .live()
                    .caches
                    .prefetch_asked
                    .insert(path.clone(), ())
                    .await;
                media.prefetch(&r, &path).await;
                drop(permit);
            });
        }
    }

    async fn prefetch(self: &Arc<Self>, route: &Route, path: &str) {
        let result = match self.fleet.owner(path) {
            None => {
                let Route::Segment { id, track, number } = route else {
                    return;
                };
                let flags = RequestFlags {
                    from_peer: true,
                    prefetch: true,
                    ..Default::default()
                };
                Box::pin(self.segment(route, id, track, *number, &flags))
                    .await
                    .map(|_| ())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_requests_are_answered_here_and_players_go_to_the_owner() {
        let owner: std::net::SocketAddr = "10.0.0.2:8080".parse().unwrap();
        assert_eq!(first_tier(None, false), FirstTier::Own);
        assert_eq!(first_tier(None, true), FirstTier::Own);
        assert_eq!(first_tier(Some(owner), false), FirstTier::Owner(owner));
        assert_eq!(first_tier(Some(owner), true), FirstTier::Own);
    }

    #[test]
    fn a_forwarded_request_is_not_forwarded_to_the_lock_holder() {
        assert_eq!(when_lock_held(true), LockHeld::ReadStorage);
        assert_eq!(when_lock_held(false), LockHeld::AskHolder);
    }

    #[test]
    fn admission_rules() {
        assert!(admits(Admission::Always, false));
        assert!(!admits(Admission::Never, true));
        assert!(!admits(Admission::SecondHit, false));
        assert!(admits(Admission::SecondHit, true));
    }

    #[test]
    fn prefetch_takes_the_next_segments_that_exist_and_the_announced_one() {
        let exists = |n: u64| n < 10;
        assert_eq!(prefetch_numbers(3, 2, exists, None), vec![4, 5]);
        assert_eq!(prefetch_numbers(8, 4, exists, None), vec![9]);
        assert_eq!(prefetch_numbers(9, 1, exists, None), Vec::<u64>::new());
        assert_eq!(prefetch_numbers(3, 1, exists, Some(7)), vec![4, 7]);
        assert_eq!(prefetch_numbers(3, 1, exists, Some(4)), vec![4]);
        assert_eq!(prefetch_numbers(3, 1, exists, Some(3)), vec![4]);
        assert_eq!(prefetch_numbers(3, 0, exists, Some(42)), Vec::<u64>::new());
        assert_eq!(
            prefetch_numbers(u64::MAX, 2, |_| true, None),
            Vec::<u64>::new()
        );
    }
}
