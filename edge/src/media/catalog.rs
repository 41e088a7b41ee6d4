//! The catalog: what storage holds of each video — playback records, manifests, track
//! heads, subtitle files — and the timeline every track is cut on, read through the
//! metadata cache (one fill per key, shared through Redis so storage is asked once per
//! fleet, stale-if-error, purge floors). Formats ask it for metadata and keep what they
//! derive (playlists, download plans) in the same cache through [`Catalog::cached_meta`];
//! it makes no format's bytes and reads no segment.

use std::future::Future;
use std::sync::Arc;

use arc_swap::ArcSwap;
use bytes::Bytes;
use sunomi_origin::{MediaReader, TrackHead};
use sunomi_packager::manifest::Manifest;
use sunomi_packager::playback::PlaybackRecord;
use sunomi_packager::route::TrackRef;
use sunomi_packager::segment::{self, fragments_per_segment, nominal_fragment_duration};
use sunomi_packager::vtt::{self, Vtt};

use super::cache::floors;
use super::cache::live::Live;
use super::cache::single_flight;
use super::{mark_stale, CacheKey, CacheOutcome};
use crate::error::EdgeError;
use crate::fleet::Fleet;
use crate::net::http;
use crate::ops::metrics::metrics;

/// How every track of a video is cut into segments (see [`Catalog::timeline`]).
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

/// A subtitle file that parsed: its bytes (served whole as the sidecar, with their entity
/// tag computed once) and its cues.
#[derive(Debug)]
pub(in crate::media) struct SubtitleFile {
    /// The file as stored.
    pub raw: Bytes,
    /// Its entity tag.
    pub etag: http::EntityTag,
    /// Its cues.
    pub vtt: Vtt,
}

/// What the metadata cache holds.
#[derive(Debug, Clone)]
pub(in crate::media) enum Meta {
    /// A playback id's record (`None`: it has none).
    Playback(Option<Arc<PlaybackRecord>>),
    Manifest(Arc<Manifest>),
    Track(Arc<TrackHead>),
    Playlist(Arc<super::playlists::Playlist>),
    /// Languages of a video's subtitle files.
    Languages(Arc<Vec<String>>),
    /// A subtitle file as stored and parsed (`None`: present but malformed, left out).
    Subtitles(Option<Arc<SubtitleFile>>),
    /// A planned progressive download.
    Download(Arc<super::download::DownloadPlan>),
}

impl Meta {
    /// Bytes it holds, for the cache's budget.
    pub fn weight(&self) -> u32 {
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

/// What storage holds of each video, through the metadata cache. Shared by the request
/// path, the segment tiers and every format.
pub(in crate::media) struct Catalog {
    reader: MediaReader,
    fleet: Arc<Fleet>,
    /// The settings a reload swaps (the metadata caches among them), shared with the edge.
    live: Arc<ArcSwap<Live>>,
    /// Record versions purges announced (kept across reloads: what they guard is cached).
    floors: floors::Floors,
    /// The segment duration asked for, in milliseconds.
    target_ms: u32,
}

impl Catalog {
    /// A catalog reading `reader`, sharing metadata through `fleet`, cached as `live` says.
    pub fn new(
        reader: MediaReader,
        fleet: Arc<Fleet>,
        live: Arc<ArcSwap<Live>>,
        target_ms: u32,
    ) -> Catalog {
        Catalog {
            reader,
            fleet,
            live,
            floors: floors::Floors::default(),
            target_ms,
        }
    }

    /// The current live settings.
    pub fn live(&self) -> Arc<Live> {
        self.live.load_full()
    }

    /// The storage reader.
    pub fn reader(&self) -> &MediaReader {
        &self.reader
    }

    /// The record versions purges announced.
    pub fn floors(&self) -> &floors::Floors {
        &self.floors
    }

    /// [`Self::cached`] on the metadata cache, with stale-if-error: when a fill fails because
    /// storage is unreachable, the key's last good value (filled at most
    /// `metadata_ttl_secs + stale_if_error_secs` ago and not purged since) answers instead.
    ///
    /// `fill` makes the fill future from (a copy of) the key, only on a miss: an async
    /// block passed by value would sit in every caller's future at its full size (storage,
    /// Redis and moka's single flight: about 18 KB for a manifest), copied on every request
    /// that hits (measured: the warm media playlist's future was 21 KB).
    pub async fn cached_meta<G, F>(
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
    pub async fn fill_meta<G, F>(
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
            return single_flight(&self.live().caches.meta, key, fill).await;
        };
        let copy = key.clone();
        match single_flight(&self.live().caches.meta, key, fill).await {
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

    /// Playback id `id`'s record (or its absence), cached with the metadata and shared
    /// through Redis like a manifest (storage is asked once per fleet); purged with the id.
    pub async fn playback_record(
        &self,
        id: &str,
    ) -> Result<Option<Arc<PlaybackRecord>>, EdgeError> {
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
    pub async fn forget(&self, key: &CacheKey) {
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

    /// Video `id`'s manifest, whatever its availability ([`Media::check_available`](super::Media) gates
    /// on that).
    pub async fn manifest(&self, id: &str) -> Result<Arc<Manifest>, EdgeError> {
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

    /// Where `track` of `manifest` is stored, within the video (404 for a track it lacks).
    pub fn track_path<'m>(manifest: &'m Manifest, track: &TrackRef) -> Result<&'m str, EdgeError> {
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

    /// A track's head (init segment and index), through the metadata cache.
    pub async fn head(&self, id: &str, path: &str) -> Result<Arc<TrackHead>, EdgeError> {
        Ok(self.head_with_outcome(id, path).await?.0)
    }

    /// A track's head and whether it came from the cache (init segments are sliced from it).
    pub async fn head_with_outcome(
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
    pub async fn timeline(&self, id: &str, manifest: &Manifest) -> Result<Timeline, EdgeError> {
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

    /// Drops what this edge and the fleet's shared copy know of video `id`'s stored objects
    /// (manifest, heads, playlists, subtitles). Cached segments stay: their keys carry the
    /// version they were cut from, so they can never be served for another version.
    pub async fn forget_metadata(&self, id: &str) {
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

    /// The languages of the video's subtitle files (no files: none).
    pub async fn subtitle_languages(&self, id: &str) -> Result<Arc<Vec<String>>, EdgeError> {
        let key = CacheKey::subtitle_languages(id);
        let (meta, _) = self
            .cached_meta(key, move |_| async move {
                // Listed once per fleet: the list is shared like manifests and heads.
                let read = async {
                    let langs = match self.reader.subtitle_languages(id).await {
                        Ok(l) => l,
                        Err(sunomi_origin::ReadError::NotFound(_)) => Vec::new(),
                        Err(e) => return Err(EdgeError::from(e)),
                    };
                    Ok(langs.join(",").into_bytes())
                };
                let shared = self.fleet.shared_metadata(id, "subtitles", read).await?;
                let langs = String::from_utf8_lossy(&shared)
                    .split(',')
                    .filter(|l| sunomi_packager::names::is_valid_audio_track(l))
                    .map(str::to_owned)
                    .collect();
                Ok(Meta::Languages(Arc::new(langs)))
            })
            .await?;
        match meta {
            Meta::Languages(l) => Ok(l),
            _ => Err(EdgeError::Internal("cache entry of the wrong kind".into())),
        }
    }

    /// The subtitles in `lang`, as stored and parsed; `None` when the file is malformed.
    pub async fn subtitles(
        &self,
        id: &str,
        lang: &str,
    ) -> Result<Option<Arc<SubtitleFile>>, EdgeError> {
        Ok(self.subtitles_with_outcome(id, lang).await?.0)
    }

    /// The subtitles in `lang` and whether they came from memory.
    pub async fn subtitles_with_outcome(
        &self,
        id: &str,
        lang: &str,
    ) -> Result<(Option<Arc<SubtitleFile>>, CacheOutcome), EdgeError> {
        let key = CacheKey::subtitles(id, lang);
        let (meta, outcome) = self.cached_meta(key, move |_| async move {
            let raw = self.reader.subtitles(id, lang).await?;
            let parsed = std::str::from_utf8(&raw)
                .map_err(|_| vtt::VttError::Signature)
                .and_then(vtt::parse);
            Ok(Meta::Subtitles(match parsed {
                Ok(vtt) => Some(Arc::new(SubtitleFile {
                    etag: http::etag(&[&raw[..]]),
                    raw,
                    vtt,
                })),
                Err(e) => {
                    tracing::warn!(id, lang, error = %e, "subtitles left out: malformed WebVTT");
                    None
                }
            }))
        })
        .await?;
        match meta {
            Meta::Subtitles(v) => Ok((v, outcome)),
            _ => Err(EdgeError::Internal("cache entry of the wrong kind".into())),
        }
    }
}
