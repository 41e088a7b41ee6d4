//! Playlists of every format (CMAF, TS, byte ranges) and subtitles, filtered and clipped by
//! the query, generated from the manifest and track heads and cached under a key that holds
//! the canonical filter.

use std::sync::Arc;

use bytes::Bytes;
use sunomi_origin::TrackHead;
use sunomi_packager::cenc::Scheme;
use sunomi_packager::filter::{Filter, FilterError};
use sunomi_packager::manifest::{AudioTrack, Manifest, Rendition};
use sunomi_packager::playlist::{
    self, AudioRendition, Encryption, SegmentedTrack, SubtitleRendition, TsKeyFrame, VideoVariant,
};
use sunomi_packager::route::{request_path, Format, Protection, Route, TrackRef, PREFIX};
use sunomi_packager::segment::Segment;
use sunomi_packager::ts::PSI_BYTES;

use super::cache::live::Live;
use super::cache::segments::Segments;
use super::catalog::{Catalog, Meta, Timeline};
use super::encryption;
use super::ts::TsSegments;
use super::{CacheKey, CacheOutcome, Object, RequestFlags};
use crate::error::EdgeError;
use crate::net::http;
use crate::ops::metrics::metrics;

fn bad_filter(e: FilterError) -> EdgeError {
    EdgeError::BadRequest(e.to_string())
}

/// A generated playlist and its gzip form.
#[derive(Debug)]
pub(in crate::media) struct Playlist {
    /// The text.
    pub body: Bytes,
    /// Its gzip form.
    pub gzip: Bytes,
    /// The text's entity tag.
    pub etag: http::EntityTag,
    /// The gzip form's tag: the body's with `-gz` inside the quotes.
    pub gzip_etag: http::EntityTag,
}

/// Playlists and MPDs: written from the catalog's metadata and cached in it; they name
/// keys (from the live settings). Only the TS I-frame playlist reads segments (the TS
/// segments, to find its key frames' packets).
pub(in crate::media) struct Playlists<'m> {
    /// What storage holds.
    pub catalog: &'m Catalog,
    /// The cache tiers (for the TS segments a TS I-frame playlist indexes).
    pub segments: &'m Arc<Segments>,
    /// The settings of this request (keys, encryption, caches).
    pub live: &'m Live,
}

impl Playlists<'_> {
    /// A playlist, from the metadata cache when it is there. The lookup is kept apart from
    /// the fill: the fill's future (manifest, track heads, rendering) is large, and building
    /// and boxing it for every request was measured at about a tenth of a warm playlist's
    /// CPU (`deploy/local/bench-playlists.sh` with `PROFILE=1`).
    pub(super) async fn playlist(
        &self,
        route: &Route,
        flags: &RequestFlags,
    ) -> Result<Object, EdgeError> {
        if flags.filter.clearkey && !Self::names_cbcs_keys(route, flags.protection) {
            return Err(EdgeError::BadRequest(
                "keyformat=clearkey applies to SAMPLE-AES fMP4 HLS playlists (/v/{id}/saes/…)"
                    .into(),
            ));
        }
        let key = Self::playlist_key(route, flags);
        let cached = self.live.caches.meta.get(&key).await;
        let (meta, cache) = match cached {
            Some(meta) => {
                metrics().cache_local_hits.inc();
                (meta, CacheOutcome::Hit)
            }
            None => Box::pin(self.fill_playlist(key, route, flags)).await?,
        };
        let Meta::Playlist(p) = meta else {
            return Err(EdgeError::Internal("cache entry of the wrong kind".into()));
        };
        Ok(Object {
            body: p.body.clone(),
            gzip: Some((p.gzip.clone(), p.gzip_etag.clone())),
            etag: p.etag.clone(),
            immutable: false,
            cache,
            content_range: None,
            private: false,
            media_ms: 0,
            streamed: None,
        })
    }

    /// Whether playlist `route` under `protection` is HLS over `cbcs` fMP4 (whose key tags
    /// `keyformat=clearkey` changes).
    fn names_cbcs_keys(route: &Route, protection: Protection) -> bool {
        let format = match route {
            Route::Master { format, .. }
            | Route::MediaPlaylist { format, .. }
            | Route::IFramePlaylist { format, .. }
            | Route::SubtitlePlaylist { format, .. } => *format,
            _ => return false,
        };
        protection == Protection::SampleAes && format == Format::Cmaf
    }

    /// The cache key of a playlist: its route, protection, canonical filter and the tokens
    /// it carries (an encrypted playlist carries the viewer's token in its key URIs, a signed
    /// one its playback token in every URI).
    fn playlist_key(route: &Route, flags: &RequestFlags) -> CacheKey {
        let tokens = match &flags.playback_token {
            Some(t) => format!("{}|{t}", flags.token.as_deref().unwrap_or("")),
            None => flags.token.clone().unwrap_or_default(),
        };
        CacheKey::playlist(flags.protection, route, &flags.filter.canonical(), &tokens)
    }

    /// Builds a playlist into the metadata cache (single flight, stale-if-error).
    ///
    /// The manifest (and so the publication status) is checked when the playlist is built;
    /// both expire from the metadata cache on the same TTL, so a cached playlist never
    /// outlives the status it was built under by more than a manifest would.
    async fn fill_playlist(
        &self,
        key: CacheKey,
        route: &Route,
        flags: &RequestFlags,
    ) -> Result<(Meta, CacheOutcome), EdgeError> {
        self.catalog
            .cached_meta(key, move |_| async move {
                let manifest = self.catalog.manifest(route.video_id()).await?;
                let mut text = self.render_playlist(route, &manifest, flags).await?;
                // (The MPD writes the token into its URLs itself.)
                if let (Some(t), false) =
                    (&flags.playback_token, matches!(route, Route::Mpd { .. }))
                {
                    text = sunomi_packager::playlist::add_query(&text, &format!("token={t}"));
                }
                let body = Bytes::from(text);
                let etag = http::etag(&[&body[..]]);
                Ok(Meta::Playlist(Arc::new(Playlist {
                    gzip_etag: http::gzip_etag(&etag),
                    etag,
                    gzip: Bytes::from(http::gzip(&body)),
                    body,
                })))
            })
            .await
    }

    /// A track's segments (cut on the video's timeline) and the range the filter's clip
    /// keeps. The clip is chosen once, on the video's own timestamps, and applied to every
    /// track by segment number: audio, subtitles and video of a clip always hold the same
    /// segments.
    async fn clipped(
        &self,
        id: &str,
        path: &str,
        timeline: &Timeline,
        filter: &Filter,
    ) -> Result<
        (
            Arc<sunomi_origin::TrackHead>,
            Vec<Segment>,
            std::ops::Range<usize>,
        ),
        EdgeError,
    > {
        let head = self.catalog.head(id, path).await?;
        let segments = timeline.segments(&head.index);
        let keep = Self::clip(timeline, filter)?;
        let keep = keep.start.min(segments.len())..keep.end.min(segments.len());
        Ok((head, segments, keep))
    }

    /// The segment numbers a filter's clip keeps, chosen on the video's timeline.
    fn clip(timeline: &Timeline, filter: &Filter) -> Result<std::ops::Range<usize>, EdgeError> {
        let video = timeline.segments(&timeline.video.index);
        filter
            .clip(&video, timeline.video.index.timescale)
            .map_err(bad_filter)
    }

    async fn render_playlist(
        &self,
        route: &Route,
        manifest: &Manifest,
        flags: &RequestFlags,
    ) -> Result<String, EdgeError> {
        let filter = &flags.filter;
        let id = route.video_id();
        let timeline = self.catalog.timeline(id, manifest).await?;
        match route {
            Route::Master { format, .. } => {
                self.master(id, manifest, &timeline, *format, flags).await
            }
            Route::Mpd { .. } => self.mpd(route, manifest, &timeline, flags).await,
            Route::MediaPlaylist { format, track, .. } => {
                let path = Catalog::track_path(manifest, track)?;
                let (head, segments, keep) = self.clipped(id, path, &timeline, filter).await?;
                let encryption = match (flags.protection, format, track) {
                    (Protection::Clear, _, _) => None,
                    // fMP4 SAMPLE-AES (`cbcs`) protects the video; audio stays clear.
                    (Protection::SampleAes, Format::Cmaf, TrackRef::Audio(_)) => None,
                    (Protection::SampleAes, Format::Cmaf, _) => {
                        let (_, params) =
                            encryption::common_params(self.live, id, Scheme::Cbcs, "").await?;
                        Some(Encryption {
                            constant_iv: Some(params.iv),
                            clear_lead: 0,
                            clearkey_kid: filter.clearkey.then_some(params.kid),
                            ..self.encryption_for(route, flags)
                        })
                    }
                    _ => Some(self.encryption_for(route, flags)),
                };
                Ok(playlist::media_playlist(
                    SegmentedTrack {
                        index: &head.index,
                        segments: &segments[keep],
                    },
                    *format,
                    encryption.as_ref(),
                ))
            }
            Route::IFramePlaylist {
                format, rendition, ..
            } => {
                let r = manifest
                    .rendition(rendition)
                    .ok_or_else(|| EdgeError::NotFound(format!("no rendition {rendition}")))?;
                let (head, segments, keep) = self.clipped(id, &r.path, &timeline, filter).await?;
                let track = SegmentedTrack {
                    index: &head.index,
                    segments: &segments[keep],
                };
                if flags.protection != Protection::Clear {
                    let encryption = match (flags.protection, format) {
                        (Protection::SampleAes, Format::Cmaf) => {
                            let (_, params) =
                                encryption::common_params(self.live, id, Scheme::Cbcs, "").await?;
                            Encryption {
                                constant_iv: Some(params.iv),
                                clearkey_kid: filter.clearkey.then_some(params.kid),
                                ..self.encryption_for(route, flags)
                            }
                        }
                        _ => self.encryption_for(route, flags),
                    };
                    return Ok(playlist::protected_iframe_playlist(
                        track,
                        &r.keyframe_ends,
                        *format,
                        &encryption,
                    )?);
                }
                if *format == Format::Ts {
                    return self.ts_iframe_playlist(id, rendition, track).await;
                }
                Ok(playlist::iframe_playlist(track, &r.keyframe_ends, *format)?)
            }
            Route::SubtitlePlaylist { lang, .. } => {
                if self.catalog.subtitles(id, lang).await?.is_none() {
                    return Err(EdgeError::NotFound(format!("no usable subtitles {lang}")));
                }
                // Subtitle pieces follow the video's segments.
                let head = &timeline.video;
                let segments = timeline.segments(&head.index);
                let keep = Self::clip(&timeline, filter)?;
                Ok(playlist::subtitle_playlist(
                    lang,
                    SegmentedTrack {
                        index: &head.index,
                        segments: &segments[keep],
                    },
                ))
            }
            _ => Err(EdgeError::Internal("not a playlist route".into())),
        }
    }

    /// The key tag of an encrypted media playlist: the current key's URI relative to the
    /// playlist, carrying the viewer's token.
    fn encryption_for(&self, route: &Route, flags: &RequestFlags) -> Encryption {
        let id = route.video_id();
        let kid = self.live.keys.current_key_id(id);
        let key = Route::Key {
            id: id.to_string(),
            kid,
        };
        Encryption {
            key_uri: Self::key_relative(route, flags, &key),
            clear_lead: self.live.encryption.clear_lead_segments,
            sample_aes: flags.protection == Protection::SampleAes,
            constant_iv: None,
            clearkey_kid: None,
        }
    }

    /// The URI of `target` (a key route of the same video) relative to `route`'s path as
    /// requested, with the request's key token.
    fn key_relative(route: &Route, flags: &RequestFlags, target: &Route) -> String {
        let id = route.video_id();
        let path = request_path(flags.protection, route);
        // Folders between `/v/{id}/` and the playlist: that many `../` reach the video root.
        let depth = path[PREFIX.len() + id.len() + 1..].matches('/').count();
        let target = target.to_path();
        let mut uri = format!(
            "{}{}",
            "../".repeat(depth),
            &target[PREFIX.len() + id.len() + 1..]
        );
        if let Some(token) = &flags.token {
            uri.push('?');
            uri.push_str(token);
        }
        uri
    }

    /// What a multivariant playlist or an MPD presents: the renditions and audio tracks the
    /// filter keeps whose track files are in storage (with their heads and segments), the
    /// subtitle languages, the segments the clip keeps, and the query the media URLs carry.
    async fn presentation<'m>(
        &self,
        id: &str,
        manifest: &'m Manifest,
        timeline: &Timeline,
        format: Format,
        flags: &RequestFlags,
    ) -> Result<Presentation<'m>, EdgeError> {
        let filter = &flags.filter;
        let renditions: Vec<_> = manifest
            .renditions
            .iter()
            .filter(|r| filter.keeps_rendition(r))
            .collect();
        if renditions.is_empty() {
            return Err(bad_filter(FilterError::Empty("video rendition")));
        }
        let audio: Vec<_> = manifest
            .audio
            .iter()
            .filter(|a| filter.keeps_audio(&a.language) || filter.keeps_audio(&a.name))
            .collect();
        if audio.is_empty() && filter.audio_lang.is_some() {
            return Err(bad_filter(FilterError::Empty("audio track")));
        }
        // A track file missing from storage leaves its variant out (logged); the rest of
        // the ladder plays. Other failures (storage down) fail the playlist.
        let (renditions, video_heads) = self.present(id, renditions, |r| r.path.as_str()).await?;
        if renditions.is_empty() {
            return Err(EdgeError::Unavailable(format!(
                "no rendition of video {id} is in storage"
            )));
        }
        let (audio, audio_heads) = self.present(id, audio, |a| a.path.as_str()).await?;
        let video_segments: Vec<_> = video_heads
            .iter()
            .map(|h| timeline.segments(&h.index))
            .collect();
        let audio_segments: Vec<_> = audio_heads
            .iter()
            .map(|h| timeline.segments(&h.index))
            .collect();
        // A clip that misses the video is refused here rather than in every playlist.
        let keep = Self::clip(timeline, filter)?;
        let mut subtitles = Vec::new();
        let mut subtitle_sizes = Vec::new();
        if filter.subs_lang.as_deref() != Some("none") {
            let video_segments = timeline.segments(&timeline.video.index);
            for lang in self.catalog.subtitle_languages(id).await?.iter() {
                if !filter.keeps_subtitles(lang) {
                    continue;
                }
                if let Some(file) = self.catalog.subtitles(id, lang).await? {
                    subtitles.push(SubtitleRendition {
                        language: lang.clone(),
                        default: false,
                        auto_generated: manifest.auto_captions.contains(lang),
                    });
                    subtitle_sizes.push(super::subtitles::piece_sizes(
                        &file.vtt,
                        &timeline.video.index,
                        &video_segments,
                        format,
                    ));
                }
            }
        }
        // Media URLs carry the clip and the viewer's token.
        let media_query = [Some(filter.clip_query()), flags.token.clone()]
            .into_iter()
            .flatten()
            .filter(|q| !q.is_empty())
            .collect::<Vec<_>>()
            .join("&");
        Ok(Presentation {
            video: renditions
                .into_iter()
                .zip(video_heads)
                .zip(video_segments)
                .map(|((r, h), s)| (r, h, s))
                .collect(),
            audio: audio
                .into_iter()
                .zip(audio_heads)
                .zip(audio_segments)
                .map(|((a, h), s)| (a, h, s))
                .collect(),
            subtitles,
            subtitle_sizes,
            keep,
            media_query,
        })
    }

    async fn master(
        &self,
        id: &str,
        manifest: &Manifest,
        timeline: &Timeline,
        format: Format,
        flags: &RequestFlags,
    ) -> Result<String, EdgeError> {
        let p = self
            .presentation(id, manifest, timeline, format, flags)
            .await?;
        // Bit rates over the whole tracks; the media playlists cut the clip.
        let (video, audio) = p.tracks(None);
        Ok(playlist::multivariant(
            &video,
            &audio,
            &p.subtitles,
            &p.subtitle_sizes,
            format,
            &p.media_query,
            // Encrypted profiles name key-frame resources, which byte-range mode has not.
            flags.protection == Protection::Clear || format != Format::ByteRange,
        ))
    }

    /// The DASH MPD: the same tracks, filter and clip as the multivariant playlist, each
    /// representation's timeline the segments the clip keeps. The playback token, when there
    /// is one, is in every URL it names (as in every URI of a signed HLS playlist). Clear, or
    /// with the video under Common Encryption (`saes/` is `cbcs`, `cenc/` is `cenc`) and,
    /// where the edge knows its public URL, the absolute ClearKey licence URL carrying the
    /// request's key token; not under `aes/` (whole-segment AES-128 is HLS's alone).
    async fn mpd(
        &self,
        route: &Route,
        manifest: &Manifest,
        timeline: &Timeline,
        flags: &RequestFlags,
    ) -> Result<String, EdgeError> {
        let id = route.video_id();
        let protection = match flags.protection {
            Protection::Clear => None,
            Protection::Aes128 => {
                return Err(EdgeError::NotFound(
                    "DASH is served clear, cbcs (saes/) or cenc (cenc/)".into(),
                ))
            }
            p => {
                let scheme = p
                    .common_scheme()
                    .ok_or_else(|| EdgeError::Internal("a protection without a scheme".into()))?;
                let (_, params) = encryption::common_params(self.live, id, scheme, "").await?;
                let licence = self.live.encryption.public_url.as_ref().map(|base| {
                    let path = Route::Licence { id: id.to_string() }.to_path();
                    match &flags.token {
                        Some(token) => format!("{base}{path}?{token}"),
                        None => format!("{base}{path}"),
                    }
                });
                Some((scheme, params.kid, licence))
            }
        };
        let protection = protection.as_ref().map(|(scheme, kid, licence)| {
            sunomi_packager::dash::DashProtection {
                scheme: *scheme,
                kid: *kid,
                licence: licence.as_deref(),
            }
        });
        let p = self
            .presentation(id, manifest, timeline, Format::Cmaf, flags)
            .await?;
        let (video, audio) = p.tracks(Some(p.keep.clone()));
        // Segments are the HLS segments, URL for URL (one cached object serves both): the
        // clip is in the timeline, not in their URLs; only a playback token goes along.
        let query = flags
            .playback_token
            .as_ref()
            .map(|t| format!("token={t}"))
            .unwrap_or_default();
        Ok(sunomi_packager::dash::mpd(
            &video,
            &audio,
            &p.subtitles,
            &p.subtitle_sizes,
            &query,
            p.keep.start == 0,
            protection.as_ref(),
        ))
    }

    /// The tracks of `items` whose track file (at `path(item)`) is in storage, with their
    /// heads; missing ones are logged and left out.
    async fn present<'m, T>(
        &self,
        id: &str,
        items: Vec<&'m T>,
        path: impl Fn(&T) -> &str,
    ) -> Result<(Vec<&'m T>, Vec<Arc<sunomi_origin::TrackHead>>), EdgeError> {
        let heads =
            futures::future::join_all(items.iter().map(|t| self.catalog.head(id, path(t)))).await;
        let mut kept = Vec::with_capacity(items.len());
        let mut kept_heads = Vec::with_capacity(items.len());
        for (item, head) in items.into_iter().zip(heads) {
            match head {
                Ok(h) => {
                    kept.push(item);
                    kept_heads.push(h);
                }
                Err(EdgeError::NotFound(_)) => {
                    tracing::warn!(
                        id,
                        track = path(item),
                        "track file missing from storage; variant left out"
                    );
                }
                Err(e) => return Err(e),
            }
        }
        Ok((kept, kept_heads))
    }

    /// The TS I-frame playlist: every segment of the rendition is remuxed (through the
    /// segment cache) to find where its key frames' packets are. The result is cached like
    /// any playlist, so this costs one pass over the rendition per metadata TTL.
    async fn ts_iframe_playlist(
        &self,
        id: &str,
        rendition: &str,
        track: SegmentedTrack<'_>,
    ) -> Result<String, EdgeError> {
        let ts = f64::from(track.index.timescale.max(1));
        let mut frames = Vec::new();
        for s in track.segments {
            let number = u64::from(s.number);
            let remuxer = TsSegments {
                catalog: self.catalog,
                segments: self.segments,
                live: self.live,
            };
            let remuxed = remuxer
                .remux(
                    id,
                    rendition,
                    number,
                    &RequestFlags::default(),
                    sunomi_packager::ts::SampleAesMode::Off,
                )
                .await?;
            let durations = track.index.fragments[s.fragments.clone()]
                .iter()
                .map(|f| f64::from(f.duration) / ts);
            for (range, seconds) in remuxed.key_frames.iter().zip(durations) {
                frames.push(TsKeyFrame {
                    segment: number,
                    range: range.clone(),
                    seconds,
                });
            }
        }
        Ok(playlist::ts_iframe_playlist(&frames, PSI_BYTES))
    }
}

/// The audio track muxed into TS segments: the first of the manifest.
pub(super) fn ts_audio(manifest: &Manifest) -> Option<TrackRef> {
    manifest
        .audio
        .first()
        .map(|a| TrackRef::Audio(a.name.clone()))
}

/// The tracks a multivariant playlist or MPD presents ([`Media::presentation`]).
struct Presentation<'m> {
    /// Video renditions with their heads and segments, highest first.
    video: Vec<(&'m Rendition, Arc<TrackHead>, Vec<Segment>)>,
    /// Audio tracks with their heads and segments.
    audio: Vec<(&'m AudioTrack, Arc<TrackHead>, Vec<Segment>)>,
    /// Subtitle languages.
    subtitles: Vec<SubtitleRendition>,
    /// Each subtitle rendition's pieces (sizes and durations), in the same order.
    subtitle_sizes: Vec<Vec<sunomi_packager::bandwidth::SegmentSize>>,
    /// The segment numbers the clip keeps.
    keep: std::ops::Range<usize>,
    /// The query media URLs carry (clip, viewer token).
    media_query: String,
}

impl Presentation<'_> {
    /// The tracks as the writers take them, with every segment or (`keep`) the clip's.
    fn tracks(
        &self,
        keep: Option<std::ops::Range<usize>>,
    ) -> (Vec<VideoVariant<'_>>, Vec<AudioRendition<'_>>) {
        let cut = |segments: &'_ [Segment]| -> std::ops::Range<usize> {
            match &keep {
                Some(k) => k.start.min(segments.len())..k.end.min(segments.len()),
                None => 0..segments.len(),
            }
        };
        let video = self
            .video
            .iter()
            .map(|(rendition, head, segments)| VideoVariant {
                rendition,
                track: SegmentedTrack {
                    index: &head.index,
                    segments: &segments[cut(segments)],
                },
            })
            .collect();
        let audio = self
            .audio
            .iter()
            .map(|(audio, head, segments)| AudioRendition {
                audio,
                track: SegmentedTrack {
                    index: &head.index,
                    segments: &segments[cut(segments)],
                },
            })
            .collect();
        (video, audio)
    }
}
