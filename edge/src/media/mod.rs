//! Just-in-time packaging behind in-memory caches: turns a [`Route`] into bytes, reading
//! storage through the origin reader only on a miss, one fill per key at a time. In a fleet,
//! segments come from their owner edge ([`segments`]), metadata from the copy shared in
//! Redis, and purges reach every edge ([`purge`]).

pub mod cache;
mod download;
mod encryption;
mod iframes;
mod pictures;
mod playlists;
mod signed;

/// Longest signed playback token accepted.
pub const MAX_PLAYBACK_TOKEN: usize = signed::MAX_TOKEN_LEN;
mod subtitles;
mod track_file;
mod ts;

pub use cache::segments::RequestFlags;
pub use download::Streamed;

use std::borrow::Cow;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use bytes::Bytes;
use moka::future::Cache;
use sunomi_origin::{MediaReader, TrackHead};
use sunomi_packager::manifest::{Manifest, VideoStatus};
use sunomi_packager::playback::{PlaybackPolicy, PlaybackRecord, TokenAudience};
use sunomi_packager::route::{Route, TrackRef};
use sunomi_packager::segment::{self, fragments_per_segment, nominal_fragment_duration};
use sunomi_packager::vtt::Vtt;

use crate::error::EdgeError;
use crate::fleet::Fleet;
use crate::net::http;
use crate::ops::config::EdgeConfig;
use crate::ops::metrics::metrics;

use cache::floors;
pub use cache::key::CacheKey;
use cache::live::Live;

/// How a response was found, for the `Cache-Status` header and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Served from memory.
    Hit,
    /// Waited for a fill another request had started (no storage read of its own).
    Coalesced,
    /// Made from storage by this request.
    Miss,
    /// Fetched from the owner edge by this request.
    Peer,
    /// Not cached by configuration (segments with the segment cache off).
    Bypass,
    /// Storage was unreachable: the last good copy, past its TTL but within
    /// `cache.stale_if_error_secs` (RFC 5861's stale-if-error).
    Stale,
}

impl CacheOutcome {
    /// The `Cache-Status` value (RFC 9211).
    pub fn header(self) -> &'static str {
        match self {
            CacheOutcome::Hit => "sunomi; hit",
            CacheOutcome::Coalesced => "sunomi; hit; detail=coalesced",
            CacheOutcome::Miss => "sunomi; fwd=miss; stored",
            CacheOutcome::Peer => "sunomi; fwd=peer",
            CacheOutcome::Bypass => "sunomi; fwd=bypass",
            CacheOutcome::Stale => "sunomi; hit; detail=stale-if-error",
        }
    }
}

/// A response body ready to send.
#[derive(Debug, Clone)]
pub struct Object {
    /// The bytes.
    pub body: Bytes,
    /// The same bytes gzipped, for playlists, and their entity tag.
    pub gzip: Option<(Bytes, http::EntityTag)>,
    /// Strong entity tag of `body`.
    pub etag: http::EntityTag,
    /// Whether the object never changes at this URL (segments and init segments).
    pub immutable: bool,
    /// How it was found.
    pub cache: CacheOutcome,
    /// For a part of a larger resource (byte-range mode): the part's range and the whole
    /// length. The body is that part; it is sent as 206.
    pub content_range: Option<(std::ops::Range<u64>, u64)>,
    /// Never to be stored by caches (content keys).
    pub private: bool,
    /// Milliseconds of media a media segment holds (0 for everything else): what a view
    /// ticket's tally counts (`crate::views`).
    pub media_ms: u64,
    /// A body too large to hold (a download): read piece by piece as it is sent, `body`
    /// then being empty.
    pub streamed: Option<Streamed>,
}

impl Object {
    /// A segment-like object: never changes at its URL, no gzip form, sent whole.
    pub fn immutable(body: Bytes, etag: http::EntityTag, cache: CacheOutcome) -> Object {
        Object {
            body,
            gzip: None,
            etag,
            immutable: true,
            cache,
            content_range: None,
            private: false,
            media_ms: 0,
            streamed: None,
        }
    }
}

/// How every track of a video is cut into segments (see [`Media::timeline`]).
#[derive(Debug, Clone)]
pub(crate) struct Timeline {
    /// Fragments per segment.
    pub k: u32,
    /// Segments in the presentation (those of the first video rendition).
    pub count: usize,
    /// The head of the rendition the timeline comes from (clips are chosen on it).
    pub video: Arc<TrackHead>,
}

impl Timeline {
    /// Segment `number` of a track of this video.
    pub fn segment(
        &self,
        index: &sunomi_packager::track::TrackIndex,
        number: u64,
    ) -> Result<segment::Segment, EdgeError> {
        Ok(segment::segment_within(index, self.k, self.count, number)?)
    }

    /// Every segment of a track of this video.
    pub fn segments(&self, index: &sunomi_packager::track::TrackIndex) -> Vec<segment::Segment> {
        segment::segments_within(index, self.k, self.count)
    }
}

/// A generated playlist and its gzip form.
#[derive(Debug)]
struct Playlist {
    body: Bytes,
    gzip: Bytes,
    etag: http::EntityTag,
    /// The gzip form's tag: the body's with `-gz` inside the quotes.
    gzip_etag: http::EntityTag,
}

/// What the metadata cache holds.
#[derive(Debug, Clone)]
enum Meta {
    /// A playback id's record (`None`: it has none).
    Playback(Option<Arc<PlaybackRecord>>),
    Manifest(Arc<Manifest>),
    Track(Arc<TrackHead>),
    Playlist(Arc<Playlist>),
    /// Languages of a video's subtitle files.
    Languages(Arc<Vec<String>>),
    /// A subtitle file as stored and parsed (`None`: present but malformed, left out).
    Subtitles(Option<Arc<SubtitleFile>>),
    /// A planned progressive download.
    Download(Arc<download::DownloadPlan>),
}

/// A subtitle file that parsed: its bytes (served whole as the sidecar, with their entity
/// tag computed once) and its cues.
#[derive(Debug)]
pub(crate) struct SubtitleFile {
    raw: Bytes,
    etag: http::EntityTag,
    vtt: Vtt,
}

impl Meta {
    fn weight(&self) -> u32 {
        let bytes = match self {
            Meta::Playback(_) => 128,
            Meta::Manifest(m) => {
                512 + m
                    .renditions
                    .iter()
                    .map(|r| 256 + r.keyframe_ends.len() * 4)
                    .sum::<usize>()
            }
            Meta::Track(t) => 256 + t.init.len() + t.index.fragments.len() * 40,
            Meta::Playlist(p) => 128 + p.body.len() + p.gzip.len(),
            Meta::Download(d) => d.weight(),
            Meta::Languages(l) => 64 + l.len() * 32,
            Meta::Subtitles(v) => {
                64 + v.as_ref().map_or(0, |f| {
                    f.raw.len()
                        + f.vtt
                            .cues
                            .iter()
                            .map(|c| 64 + c.text.len() + c.settings.len())
                            .sum::<usize>()
                })
            }
        };
        u32::try_from(bytes).unwrap_or(u32::MAX)
    }
}

/// The packaging service shared by every request.
pub struct Media {
    reader: MediaReader,
    fleet: Arc<Fleet>,
    /// What a reload may change (caches, knobs, keys), swapped whole.
    live: ArcSwap<Live>,
    target_ms: u32,
    /// Verifies signed playback tokens.
    signed: signed::Signed,
    /// Record versions purges announced (kept across reloads: what they guard is cached).
    floors: floors::Floors,
    /// The picture service pictures are drawn by.
    pictures: pictures::Pictures,
}

tokio::task_local! {
    /// Set while answering a request when one of its lookups fell back to a stale copy.
    static SERVED_STALE: std::cell::Cell<bool>;
}

/// Counts a stale copy served and marks the request being answered (if any: prefetches run
/// outside requests).
fn mark_stale() {
    metrics().stale_served.inc();
    let _ = SERVED_STALE.try_with(|c| c.set(true));
}

/// Test hook, in debug builds only: `SUNOMI_EDGE_TEST_FILL_DELAY_MS` holds every manifest
/// fill this long between its storage read and its return, so a test can land a purge
/// between the two (the race [`floors`] closes).
async fn test_hook_fill_delay() {
    #[cfg(debug_assertions)]
    if let Some(ms) = std::env::var("SUNOMI_EDGE_TEST_FILL_DELAY_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
}

fn unshare(e: Arc<EdgeError>) -> EdgeError {
    Arc::try_unwrap(e).unwrap_or_else(|shared| (*shared).clone())
}

impl Media {
    /// Builds the service with the cache budgets, knobs and keys of `config`, coordinated
    /// through `fleet`.
    pub fn new(
        reader: MediaReader,
        fleet: Arc<Fleet>,
        config: &EdgeConfig,
    ) -> Result<Media, String> {
        Ok(Media {
            floors: floors::Floors::default(),
            signed: signed::Signed::new(),
            reader,
            live: ArcSwap::from_pointee(Live::new(config)?),
            target_ms: config.segment_target_ms,
            pictures: pictures::Pictures::new(&config.pictures)?,
            fleet,
        })
    }

    /// Applies what can change live of `config` (see [`live`]); the rest stays as started.
    pub async fn reconfigure(&self, config: &EdgeConfig) -> Result<(), String> {
        let next = self.live.load_full().reconfigured(config).await?;
        self.live.store(Arc::new(next));
        Ok(())
    }

    /// The current live settings.
    fn live(&self) -> Arc<Live> {
        self.live.load_full()
    }

    /// The `Cache-Control` value of playlists (`public, max-age={playlist_max_age_secs}`),
    /// made once per configuration.
    pub fn playlist_cache_control(&self) -> ::http::HeaderValue {
        self.live.load().playlist_cache_control.clone()
    }

    /// The fleet this edge belongs to.
    pub fn fleet(&self) -> &Arc<Fleet> {
        &self.fleet
    }

    /// The reader (for readiness probes).
    pub fn reader(&self) -> &MediaReader {
        &self.reader
    }

    /// Publishes cache sizes to metrics.
    pub fn report_cache_sizes(&self) {
        let m = metrics();
        m.cache_bytes
            .with_label_values(&["metadata"])
            .set(self.live().caches.meta.weighted_size() as i64);
        if let Some(s) = &self.live().caches.segments {
            m.cache_bytes
                .with_label_values(&["segments"])
                .set(s.weighted_size() as i64);
        }
    }

    /// Looks `key` up in `cache`, filling it with `fill` on a miss. Concurrent misses for one
    /// key run one fill; the others wait for it.
    async fn cached<V, F>(
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

    /// [`Self::cached`] on the metadata cache, with stale-if-error: when a fill fails because
    /// storage is unreachable, the key's last good value (filled at most
    /// `metadata_ttl_secs + stale_if_error_secs` ago and not purged since) answers instead.
    ///
    /// `fill` makes the fill future from (a copy of) the key, only on a miss: an async
    /// block passed by value would sit in every caller's future at its full size (storage,
    /// Redis and moka's single flight: about 18 KB for a manifest), copied on every request
    /// that hits (measured: the warm media playlist's future was 21 KB).
    async fn cached_meta<G, F>(
        &self,
        key: CacheKey,
        fill: G,
    ) -> Result<(Meta, CacheOutcome), EdgeError>
    where
        G: FnOnce(CacheKey) -> F,
        F: Future<Output = Result<Meta, EdgeError>>,
    {
        if let Some(v) = self.live().caches.meta.get(&key).await {
            metrics().cache_local_hits.inc();
            return Ok((v, CacheOutcome::Hit));
        }
        Box::pin(self.fill_meta(key, fill)).await
    }

    /// The miss path of [`Self::cached_meta`].
    async fn fill_meta<G, F>(
        &self,
        key: CacheKey,
        fill: G,
    ) -> Result<(Meta, CacheOutcome), EdgeError>
    where
        G: FnOnce(CacheKey) -> F,
        F: Future<Output = Result<Meta, EdgeError>>,
    {
        let fill = fill(key.clone());
        let Some(stale) = &self.live().caches.stale else {
            return Self::cached(&self.live().caches.meta, key, fill).await;
        };
        let copy = key.clone();
        match Self::cached(&self.live().caches.meta, key, fill).await {
            Ok((v, outcome)) => {
                if outcome == CacheOutcome::Miss {
                    stale.insert(copy, v.clone()).await;
                }
                Ok((v, outcome))
            }
            Err(e @ EdgeError::Unavailable(_)) => match stale.get(&copy).await {
                Some(v) => {
                    mark_stale();
                    Ok((v, CacheOutcome::Stale))
                }
                None => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    /// A segment-sized object through the segment cache (single flight), or made directly
    /// when the segment cache is off.
    async fn cached_segment<F>(
        &self,
        key: CacheKey,
        make: F,
    ) -> Result<(Bytes, CacheOutcome), EdgeError>
    where
        F: Future<Output = Result<Bytes, EdgeError>>,
    {
        match &self.live().caches.segments {
            Some(cache) => Self::cached(cache, key, make).await,
            None => Ok((make.await?, CacheOutcome::Bypass)),
        }
    }

    /// The route for the video that `/v/{id}/…` plays, and what the request may do with it.
    /// `id` is a playback id (`playback/{id}.json`), or, without a record, a video published
    /// as its own public playback id — unless that video is reachable only through playback
    /// ids (404). A signed id needs a token; a public one plays without, and a token on it
    /// must be valid (a review token is how a moderator plays a public id's video before
    /// it is published). Requests from peer edges already carry the video id.
    ///
    /// Also returns the video's manifest when resolving needed it (a video that is its own
    /// playback id), so the availability check does not look it up again.
    async fn resolve<'r>(
        &self,
        route: &'r Route,
        flags: &RequestFlags,
    ) -> Result<(Cow<'r, Route>, TokenAudience, Option<Arc<Manifest>>), EdgeError> {
        if flags.from_peer {
            return Ok((Cow::Borrowed(route), TokenAudience::Play, None));
        }
        let id = route.video_id();
        match self.playback_record(id).await? {
            Some(r) => {
                let needed = route.audience();
                let audience = match (r.policy, flags.playback_token.as_deref()) {
                    (PlaybackPolicy::Public, None) => needed,
                    (_, token) => {
                        let now = crate::fleet::peer_auth::unix_seconds();
                        // Boxed: the check may read the signing keys from storage; out of
                        // line, a public id's request future stays small.
                        Box::pin(self.signed.check(&self.reader, token, id, now))
                            .await
                            .map_err(|reason| {
                                metrics().refused.with_label_values(&["token"]).inc();
                                EdgeError::Forbidden(reason)
                            })?
                    }
                };
                // Mux's audiences: a video token plays, a thumbnail token shows thumbnails,
                // and neither does the other's job.
                if !audience.grants(needed) {
                    metrics().refused.with_label_values(&["token"]).inc();
                    return Err(EdgeError::Forbidden(format!(
                        "the token is for audience {:?}, this needs {:?}",
                        audience.as_str(),
                        needed.as_str()
                    )));
                }
                Ok((Cow::Owned(route.with_video_id(&r.video_id)), audience, None))
            }
            None => {
                let manifest = self.manifest(id).await?;
                if manifest.playback_ids_only {
                    return Err(EdgeError::NotFound(format!("no playback id {id}")));
                }
                Ok((Cow::Borrowed(route), TokenAudience::Play, Some(manifest)))
            }
        }
    }

    /// Whether video `id` plays for a request with `audience`: a published video for anyone;
    /// a pending (in review) or blocked one only with a review token — otherwise 404 and 451.
    /// The one place the edge gates on availability; every player's request passes it
    /// before anything is read or served from a cache.
    /// `manifest` is video `id`'s when the caller has it at hand.
    async fn check_available(
        &self,
        id: &str,
        audience: TokenAudience,
        manifest: Option<Arc<Manifest>>,
    ) -> Result<(), EdgeError> {
        let m = match manifest {
            Some(m) => m,
            None => self.manifest(id).await?,
        };
        match (m.status, audience) {
            (VideoStatus::Published, _) | (_, TokenAudience::Review) => Ok(()),
            (VideoStatus::Blocked, _) => Err(EdgeError::Blocked),
            (VideoStatus::Pending, _) => Err(EdgeError::NotFound(format!(
                "video {id} is not published yet"
            ))),
        }
    }

    /// Playback id `id`'s record (or its absence), cached with the metadata and shared
    /// through Redis like a manifest (storage is asked once per fleet); purged with the id.
    async fn playback_record(&self, id: &str) -> Result<Option<Arc<PlaybackRecord>>, EdgeError> {
        let key = CacheKey::playback(id);
        let record = match self.live().caches.meta.get(&key).await {
            Some(Meta::Playback(r)) => r,
            // Boxed: out of line, the future of every request that hits stays small.
            _ => Box::pin(self.fill_playback_record(id, key)).await?,
        };
        match &record {
            Some(r) if self.floors.is_stale(id, r.revision) => {
                Box::pin(self.reread_playback_record(id)).await
            }
            _ => Ok(record),
        }
    }

    /// Playback id `id`'s record read from storage again, because the copy at hand is older
    /// than a purge announced ([`floors`]): every cached copy goes, and a record storage
    /// still gives older is not served (503: storage has not caught up).
    async fn reread_playback_record(
        &self,
        id: &str,
    ) -> Result<Option<Arc<PlaybackRecord>>, EdgeError> {
        let key = CacheKey::playback(id);
        self.forget(&key).await;
        let record = self.reader.playback(id).await?.map(Arc::new);
        if let Some(r) = &record {
            self.not_behind(id, r.revision, "playback record")?;
        }
        self.live()
            .caches
            .meta
            .insert(key, Meta::Playback(record.clone()))
            .await;
        Ok(record)
    }

    /// `Err(Unavailable)` when what storage gave of `id` (a `what`) is still older than a
    /// purge announced: storage has not caught up, and nothing older is served.
    fn not_behind(&self, id: &str, revision: u64, what: &str) -> Result<(), EdgeError> {
        if self.floors.is_stale(id, revision) {
            return Err(EdgeError::Unavailable(format!(
                "storage holds an older {what} of {id} than was purged"
            )));
        }
        Ok(())
    }

    /// Drops `key` from the metadata cache and its stale copy.
    async fn forget(&self, key: &CacheKey) {
        self.live().caches.meta.invalidate(key).await;
        if let Some(stale) = &self.live().caches.stale {
            stale.invalidate(key).await;
        }
    }

    /// The miss path of [`Self::playback_record`].
    async fn fill_playback_record(
        &self,
        id: &str,
        key: CacheKey,
    ) -> Result<Option<Arc<PlaybackRecord>>, EdgeError> {
        const ABSENT: &[u8] = b"null";
        let read = async {
            Ok::<_, EdgeError>(match self.reader.playback(id).await? {
                Some(r) => r.to_json(),
                None => ABSENT.to_vec(),
            })
        };
        let bytes = match self.fleet.shared_metadata(id, "playback", read).await {
            Ok(b) => b,
            Err(e @ EdgeError::Unavailable(_)) => {
                return match self.stale_value(&key).await {
                    Some(Meta::Playback(r)) => Ok(r),
                    _ => Err(e),
                };
            }
            Err(e) => return Err(e),
        };
        let record = if bytes == ABSENT {
            None
        } else {
            let r = PlaybackRecord::from_json(&bytes)
                .map_err(|e| EdgeError::Internal(format!("shared playback record {id}: {e}")))?;
            Some(Arc::new(r))
        };
        if let Some(stale) = &self.live().caches.stale {
            stale
                .insert(key.clone(), Meta::Playback(record.clone()))
                .await;
        }
        self.live()
            .caches
            .meta
            .insert(key, Meta::Playback(record.clone()))
            .await;
        Ok(record)
    }

    /// The stale copy of `key` (stale-if-error), counted when found.
    async fn stale_value(&self, key: &CacheKey) -> Option<Meta> {
        let v = self.live().caches.stale.as_ref()?.get(key).await?;
        mark_stale();
        Some(v)
    }

    /// Video `id`'s manifest, whatever its availability ([`Media::check_available`] gates
    /// on that).
    async fn manifest(&self, id: &str) -> Result<Arc<Manifest>, EdgeError> {
        let missing = || EdgeError::NotFound(format!("no video {id}"));
        let (meta, _) = self
            .cached_meta(CacheKey::manifest(id), move |key| async move {
                if self.live().caches.missing.contains_key(&key) {
                    return Err(missing());
                }
                let read = async {
                    let m = self.reader.manifest(id).await?;
                    test_hook_fill_delay().await;
                    Ok::<_, EdgeError>(m.to_json())
                };
                let json = match self.fleet.shared_metadata(id, "manifest", read).await {
                    Ok(json) => json,
                    // Remembered for a short while, so floods of unknown ids cost no storage
                    // reads; a purge of the id (control publishes, then purges) forgets it.
                    Err(EdgeError::NotFound(_)) => {
                        self.live().caches.missing.insert(key.clone(), ()).await;
                        return Err(missing());
                    }
                    Err(e) => return Err(e),
                };
                let m = Manifest::from_json(&json)
                    .map_err(|e| EdgeError::Internal(format!("shared manifest of {id}: {e}")))?;
                Ok(Meta::Manifest(Arc::new(m)))
            })
            .await?;
        let Meta::Manifest(mut m) = meta else {
            return Err(EdgeError::Internal("cache entry of the wrong kind".into()));
        };
        if self.floors.is_stale(id, m.revision) {
            m = Box::pin(self.reread_manifest(id)).await?;
        }
        Ok(m)
    }

    /// Video `id`'s manifest read from storage again, because the copy at hand is older than
    /// a purge announced ([`floors`]): every cached copy goes, and a manifest storage still
    /// gives older is not served (503: storage has not caught up).
    async fn reread_manifest(&self, id: &str) -> Result<Arc<Manifest>, EdgeError> {
        let key = CacheKey::manifest(id);
        self.forget(&key).await;
        let m = Arc::new(self.reader.manifest(id).await?);
        self.not_behind(id, m.revision, "manifest")?;
        self.live()
            .caches
            .meta
            .insert(key, Meta::Manifest(m.clone()))
            .await;
        Ok(m)
    }

    fn track_path<'m>(manifest: &'m Manifest, track: &TrackRef) -> Result<&'m str, EdgeError> {
        match track {
            TrackRef::Video(r) => manifest
                .rendition(r)
                .map(|r| r.path.as_str())
                .ok_or_else(|| EdgeError::NotFound(format!("no rendition {r}"))),
            TrackRef::Audio(t) => manifest
                .audio_track(t)
                .map(|a| a.path.as_str())
                .ok_or_else(|| EdgeError::NotFound(format!("no audio track {t}"))),
        }
    }

    async fn head(&self, id: &str, path: &str) -> Result<Arc<TrackHead>, EdgeError> {
        Ok(self.head_with_outcome(id, path).await?.0)
    }

    /// A track's head and whether it came from the cache (init segments are sliced from it).
    async fn head_with_outcome(
        &self,
        id: &str,
        path: &str,
    ) -> Result<(Arc<TrackHead>, CacheOutcome), EdgeError> {
        let key = CacheKey::track_head(id, path);
        let (meta, outcome) = self
            .cached_meta(key, move |_| async move {
                let read = async {
                    Ok::<_, EdgeError>(self.reader.track_head(id, path).await?.to_shared())
                };
                let shared = self
                    .fleet
                    .shared_metadata(id, &format!("track:{path}"), read)
                    .await?;
                let head = TrackHead::from_shared(Bytes::from(shared)).map_err(|e| {
                    EdgeError::Internal(format!("shared track head {id}/{path}: {e}"))
                })?;
                Ok(Meta::Track(Arc::new(head)))
            })
            .await?;
        match meta {
            Meta::Track(t) => Ok((t, outcome)),
            _ => Err(EdgeError::Internal("cache entry of the wrong kind".into())),
        }
    }

    /// How a video is cut into segments: `k` and the segment count come from its first
    /// rendition in storage, so every track of the video cuts at the same instants and has
    /// as many segments as the video (see [`segment::segment_within`]).
    async fn timeline(&self, id: &str, manifest: &Manifest) -> Result<Timeline, EdgeError> {
        // The first rendition in storage (one missing file does not take the video down).
        let mut head = Err(EdgeError::Internal("manifest without renditions".into()));
        for r in &manifest.renditions {
            head = self.head(id, &r.path).await;
            if !matches!(head, Err(EdgeError::NotFound(_))) {
                break;
            }
        }
        let video = head?;
        let k = fragments_per_segment(
            self.target_ms,
            nominal_fragment_duration(&video.index),
            video.index.timescale,
        );
        Ok(Timeline {
            k,
            count: segment::segment_count(video.index.fragments.len(), k),
            video,
        })
    }

    /// Answers a route; `flags` say who asks (a player, a peer, a prefetch) and what the
    /// player will ask next. An answer made from any stale copy (storage unreachable) says
    /// so in its cache outcome.
    pub async fn get(
        self: &Arc<Self>,
        route: &Route,
        flags: &RequestFlags,
    ) -> Result<Object, EdgeError> {
        SERVED_STALE
            .scope(std::cell::Cell::new(false), async {
                let mut result = self.get_now(route, flags).await;
                if SERVED_STALE.with(std::cell::Cell::get) {
                    if let Ok(obj) = &mut result {
                        obj.cache = CacheOutcome::Stale;
                    }
                }
                result
            })
            .await
    }

    async fn get_now(
        self: &Arc<Self>,
        route: &Route,
        flags: &RequestFlags,
    ) -> Result<Object, EdgeError> {
        let started = Instant::now();
        let (resolved, audience, manifest) = self.resolve(route, flags).await?;
        let route = &resolved;
        if !flags.from_peer {
            self.check_available(route.video_id(), audience, manifest)
                .await?;
        }
        self.check_protection(route, flags)?;
        let mut result = match self.answer(route, flags).await {
            // A stored object is no longer the version its index was read from (replaced
            // or truncated): forget the video's metadata here and in the fleet, plan again
            // once. Still changing: 503, the client retries.
            Err(EdgeError::Changed(what)) => {
                let id = route.video_id();
                tracing::info!(
                    id,
                    what,
                    "stored object changed since it was indexed; planning again"
                );
                metrics().replans.inc();
                self.forget_metadata(id).await;
                self.answer(route, flags).await
            }
            other => other,
        };
        if let Ok(obj) = &mut result {
            // A reviewer's answers (perhaps of a video not published) stay with them.
            if audience == TokenAudience::Review {
                obj.private = true;
            }
            if !matches!(obj.cache, CacheOutcome::Hit | CacheOutcome::Peer) {
                metrics()
                    .packaging_seconds
                    .with_label_values(&[route.kind()])
                    .observe(started.elapsed().as_secs_f64());
            }
        }
        result
    }

    /// Drops what this edge and the fleet's shared copy know of video `id`'s stored objects
    /// (manifest, heads, playlists, subtitles). Cached segments stay: their keys carry the
    /// version they were cut from, so they can never be served for another version.
    async fn forget_metadata(&self, id: &str) {
        let id = id.to_owned();
        self.fleet.forget_shared(&id).await;
        if let Some(stale) = &self.live().caches.stale {
            let id = id.clone();
            let _ = stale.invalidate_entries_if(move |k, _| k.video() == id);
        }
        if let Err(e) = self
            .live()
            .caches
            .meta
            .invalidate_entries_if(move |k, _| k.video() == id)
        {
            tracing::warn!(error = %e, "forgetting metadata failed");
        }
    }

    async fn answer(
        self: &Arc<Self>,
        route: &Route,
        flags: &RequestFlags,
    ) -> Result<Object, EdgeError> {
        // Boxed: the segment paths (peer fetch, fill lock, storage, remux) are large
        // futures; out of line, every request's future stays small.
        match route {
            r if r.is_playlist() => self.playlist(route, flags).await,
            Route::Key { id, kid } => self.content_key(id, kid, flags).await,
            Route::Licence { id } => self.clearkey_licence(id, flags).await,
            Route::Init { id, track } => {
                let clear = self.init(id, track).await?;
                Box::pin(self.protect_common(route, flags, clear)).await
            }
            Route::Segment { id, track, number } => {
                let clear = Box::pin(self.segment(route, id, track, *number, flags)).await;
                let clear = Box::pin(self.protect(route, *number, flags, clear)).await?;
                Box::pin(self.protect_common(route, flags, clear)).await
            }
            Route::TsSegment {
                id,
                rendition,
                number,
            } => {
                let clear = Box::pin(self.ts_segment(route, id, rendition, *number, flags)).await;
                self.protect(route, *number, flags, clear).await
            }
            Route::TrackFile { id, track } => Box::pin(self.track_file(id, track, flags)).await,
            Route::IFrame {
                id,
                format,
                rendition,
                number,
            } => Box::pin(self.iframe(route, id, *format, rendition, *number, flags)).await,
            Route::SubtitleSegment {
                id,
                format,
                lang,
                number,
            } => self.subtitle_segment(id, *format, lang, *number).await,
            Route::SubtitleFile { id, lang } => self.subtitle_file(id, lang).await,
            Route::Download { id, file } => Box::pin(self.download(route, id, file)).await,
            Route::Picture { id, file } => Box::pin(self.picture(route, id, *file, flags)).await,
            _ => Err(EdgeError::Internal(format!(
                "no handler for {}",
                route.kind()
            ))),
        }
    }

    async fn init(&self, id: &str, track: &TrackRef) -> Result<Object, EdgeError> {
        let manifest = self.manifest(id).await?;
        let path = Self::track_path(&manifest, track)?;
        let (head, cache) = self.head_with_outcome(id, path).await?;
        Ok(Object::immutable(
            head.init.clone(),
            http::etag(&[head.version.as_bytes(), b"init"]),
            cache,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sunomi_packager::route::parse_request;

    /// A request's future is allocated and moved on every request, hit or miss. The fill
    /// paths (storage, Redis, moka's single flight, signed-token checks) are boxed out of
    /// line so that a request answered from memory does not carry them: a warm media
    /// playlist's future was 21 KB before they were (docs/PERFORMANCE.md).
    #[tokio::test]
    async fn a_request_future_leaves_the_fill_paths_out_of_line() {
        let dir = tempfile::tempdir().unwrap();
        let config = EdgeConfig::default();
        let store = sunomi_origin::Store::open(dir.path().to_str().unwrap()).unwrap();
        let fleet = Arc::new(Fleet::new(&config).await.unwrap());
        let media = Arc::new(Media::new(MediaReader::new(store), fleet, &config).unwrap());
        // One future type for every route: its size is that of the largest path kept inline.
        let (_, route) = parse_request("/v/clip/720p/media.m3u8").unwrap();
        let size = std::mem::size_of_val(&media.get(&route, &RequestFlags::default()));
        assert!(size <= 4096, "a request's future is {size} bytes");
    }
}
