//! Just-in-time packaging behind in-memory caches: turns a [`Route`] into bytes.
//!
//! [`Media`] decides who may have what (playback ids, tokens, availability, encryption
//! rules) and hands each route to its format. The formats (`playlists`, `subtitles`, `ts`,
//! `iframes`, `track_file`, `download`, `pictures`, `encryption`) are views built per
//! request over the two parts they may ask: the `catalog` (what storage holds, through the
//! metadata cache, shared in Redis) and the segment tiers (`cache::segments`: this edge's
//! memory, the owner edge, storage under the fleet's fill lock). Purges reach every edge
//! (`cache::purge`).

pub mod cache;
mod catalog;
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
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use bytes::Bytes;
use sunomi_origin::MediaReader;
use sunomi_packager::manifest::{Manifest, VideoStatus};
use sunomi_packager::playback::{PlaybackPolicy, TokenAudience};
use sunomi_packager::route::{Route, TrackRef};

use crate::error::EdgeError;
use crate::fleet::Fleet;
use crate::net::http;
use crate::ops::config::EdgeConfig;
use crate::ops::metrics::metrics;

pub use cache::key::CacheKey;
use cache::live::Live;
use cache::segments::Segments;
use catalog::Catalog;
use download::Downloads;
use encryption::Encryptor;
use iframes::IFrames;
use pictures::Images;
use playlists::Playlists;
use subtitles::Subtitles;
use track_file::TrackFiles;
use ts::TsSegments;

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

/// The packaging service shared by every request: decides who may have what (playback
/// ids, tokens, availability, encryption rules) and hands each route to its format. The
/// formats ask two narrow parts for what they need: the [`Catalog`] (what storage holds,
/// through the metadata cache) and the [`Segments`] (segment-sized objects through the cache
/// tiers); none of them holds the edge's state.
pub struct Media {
    catalog: Arc<Catalog>,
    segments: Arc<Segments>,
    /// What a reload may change (caches, knobs, keys), swapped whole; shared with the
    /// catalog and the segment tiers.
    live: Arc<ArcSwap<Live>>,
    fleet: Arc<Fleet>,
    /// Verifies signed playback tokens.
    signed: signed::Signed,
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

impl Media {
    /// Builds the service with the cache budgets, knobs and keys of `config`, coordinated
    /// through `fleet`.
    pub fn new(
        reader: MediaReader,
        fleet: Arc<Fleet>,
        config: &EdgeConfig,
    ) -> Result<Media, String> {
        let live = Arc::new(ArcSwap::from_pointee(Live::new(config)?));
        let catalog = Arc::new(Catalog::new(
            reader.clone(),
            fleet.clone(),
            live.clone(),
            config.segment_target_ms,
        ));
        let segments = Arc::new(Segments::new(
            catalog.clone(),
            reader,
            fleet.clone(),
            live.clone(),
            pictures::Pictures::new(&config.pictures)?,
        ));
        Ok(Media {
            catalog,
            segments,
            live,
            fleet,
            signed: signed::Signed::new(),
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
        self.catalog.reader()
    }

    /// Publishes cache sizes to metrics.
    pub fn report_cache_sizes(&self) {
        let m = metrics();
        let live = self.live();
        m.cache_bytes
            .with_label_values(&["metadata"])
            .set(live.caches.meta.weighted_size() as i64);
        if let Some(s) = &live.caches.segments {
            m.cache_bytes
                .with_label_values(&["segments"])
                .set(s.weighted_size() as i64);
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
        match self.catalog.playback_record(id).await? {
            Some(r) => {
                let needed = route.audience();
                let audience = match (r.policy, flags.playback_token.as_deref()) {
                    (PlaybackPolicy::Public, None) => needed,
                    (_, token) => {
                        let now = crate::fleet::peer_auth::unix_seconds();
                        // Boxed: the check may read the signing keys from storage; out of
                        // line, a public id's request future stays small.
                        Box::pin(self.signed.check(self.catalog.reader(), token, id, now))
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
                let manifest = self.catalog.manifest(id).await?;
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
            None => self.catalog.manifest(id).await?,
        };
        match (m.status, audience) {
            (VideoStatus::Published, _) | (_, TokenAudience::Review) => Ok(()),
            (VideoStatus::Blocked, _) => Err(EdgeError::Blocked),
            (VideoStatus::Pending, _) => Err(EdgeError::NotFound(format!(
                "video {id} is not published yet"
            ))),
        }
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
        encryption::check_protection(&self.live(), route, flags)?;
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
                self.catalog.forget_metadata(id).await;
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

    async fn answer(
        self: &Arc<Self>,
        route: &Route,
        flags: &RequestFlags,
    ) -> Result<Object, EdgeError> {
        let live = self.live();
        let (catalog, segments) = (&*self.catalog, &self.segments);
        let encryptor = Encryptor {
            catalog,
            segments,
            live: &live,
        };
        // Boxed: the segment paths (peer fetch, fill lock, storage, remux) are large
        // futures; out of line, every request's future stays small.
        match route {
            r if r.is_playlist() => {
                let playlists = Playlists {
                    catalog,
                    segments,
                    live: &live,
                };
                playlists.playlist(route, flags).await
            }
            Route::Key { id, kid } => encryptor.content_key(id, kid, flags).await,
            Route::Licence { id } => encryptor.clearkey_licence(id, flags).await,
            Route::Init { id, track } => {
                let clear = init(catalog, id, track).await?;
                Box::pin(encryptor.protect_common(route, flags, clear)).await
            }
            Route::Segment { id, track, number } => {
                let clear = Box::pin(segments.segment(route, id, track, *number, flags)).await;
                let clear = Box::pin(encryptor.protect(route, *number, flags, clear)).await?;
                Box::pin(encryptor.protect_common(route, flags, clear)).await
            }
            Route::TsSegment {
                id,
                rendition,
                number,
            } => {
                let ts = TsSegments {
                    catalog,
                    segments,
                    live: &live,
                };
                let clear = Box::pin(ts.segment(route, id, rendition, *number, flags)).await;
                encryptor.protect(route, *number, flags, clear).await
            }
            Route::TrackFile { id, track } => {
                Box::pin(TrackFiles { catalog, segments }.track_file(id, track, flags)).await
            }
            Route::IFrame {
                id,
                format,
                rendition,
                number,
            } => {
                let iframes = IFrames {
                    catalog,
                    segments,
                    live: &live,
                };
                Box::pin(iframes.iframe(route, id, *format, rendition, *number, flags)).await
            }
            Route::SubtitleSegment {
                id,
                format,
                lang,
                number,
            } => {
                Subtitles { catalog }
                    .subtitle_segment(id, *format, lang, *number)
                    .await
            }
            Route::SubtitleFile { id, lang } => Subtitles { catalog }.subtitle_file(id, lang).await,
            Route::Download { id, file } => {
                Box::pin(Downloads { catalog, segments }.download(route, id, file)).await
            }
            Route::Picture { id, file } => {
                let images = Images { catalog, segments };
                Box::pin(images.picture(route, id, *file, flags)).await
            }
            _ => Err(EdgeError::Internal(format!(
                "no handler for {}",
                route.kind()
            ))),
        }
    }
}

/// An init segment: sliced from the track's head as the catalog holds it.
async fn init(catalog: &Catalog, id: &str, track: &TrackRef) -> Result<Object, EdgeError> {
    let manifest = catalog.manifest(id).await?;
    let path = Catalog::track_path(&manifest, track)?;
    let (head, cache) = catalog.head_with_outcome(id, path).await?;
    Ok(Object::immutable(
        head.init.clone(),
        http::etag(&[head.version.as_bytes(), b"init"]),
        cache,
    ))
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
