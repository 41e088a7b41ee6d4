//! Playlists of every format (CMAF, TS, byte ranges) and subtitles, filtered and clipped by
//! the query, generated from the manifest and track heads and cached under a key that holds
//! the canonical filter.

use std::sync::Arc;

use bytes::Bytes;
use sunomi_packager::filter::{Filter, FilterError};
use sunomi_packager::manifest::Manifest;
use sunomi_packager::playlist::{
    self, AudioRendition, SegmentedTrack, SubtitleRendition, TsKeyFrame, VideoVariant,
};
use sunomi_packager::route::{Format, Route, TrackRef};
use sunomi_packager::segment::{self, Segment};
use sunomi_packager::ts::PSI_BYTES;

use super::{Media, Meta, Object, Playlist, RequestFlags};
use crate::error::EdgeError;
use crate::http;

fn bad_filter(e: FilterError) -> EdgeError {
    EdgeError::BadRequest(e.to_string())
}

impl Media {
    pub(super) async fn playlist(
        self: &Arc<Self>,
        route: &Route,
        filter: &Filter,
    ) -> Result<Object, EdgeError> {
        // The manifest (and so the publication status) is checked when the playlist is built;
        // both expire from the metadata cache on the same TTL, so a cached playlist never
        // outlives the status it was built under by more than a manifest would.
        let key = format!("p:{}?{}", route.to_path(), filter.canonical());
        let (meta, cache) = Self::cached(&self.meta, key, async {
            let manifest = self.manifest(route.video_id()).await?;
            let text = self.render_playlist(route, &manifest, filter).await?;
            let body = Bytes::from(text);
            Ok(Meta::Playlist(Arc::new(Playlist {
                etag: http::etag(&body[..]),
                gzip: Bytes::from(http::gzip(&body)),
                body,
            })))
        })
        .await?;
        let Meta::Playlist(p) = meta else {
            return Err(EdgeError::Internal("cache entry of the wrong kind".into()));
        };
        Ok(Object {
            body: p.body.clone(),
            gzip: Some(p.gzip.clone()),
            etag: p.etag.clone(),
            immutable: false,
            cache,
            content_range: None,
        })
    }

    /// A track's segments (cut with the video's `k`) and the range the filter's clip keeps.
    async fn clipped(
        &self,
        id: &str,
        path: &str,
        k: u32,
        filter: &Filter,
    ) -> Result<
        (
            Arc<sunomi_origin::TrackHead>,
            Vec<Segment>,
            std::ops::Range<usize>,
        ),
        EdgeError,
    > {
        let head = self.head(id, path).await?;
        let segments = segment::segments(&head.index, k);
        let keep = filter
            .clip(&segments, head.index.timescale)
            .map_err(bad_filter)?;
        Ok((head, segments, keep))
    }

    async fn render_playlist(
        self: &Arc<Self>,
        route: &Route,
        manifest: &Manifest,
        filter: &Filter,
    ) -> Result<String, EdgeError> {
        let id = route.video_id();
        let k = self.fragments_per_segment(id, manifest).await?;
        match route {
            Route::Master { format, .. } => self.master(id, manifest, k, *format, filter).await,
            Route::MediaPlaylist { format, track, .. } => {
                let path = Self::track_path(manifest, track)?;
                let (head, segments, keep) = self.clipped(id, path, k, filter).await?;
                Ok(playlist::media_playlist(
                    SegmentedTrack {
                        index: &head.index,
                        segments: &segments[keep],
                    },
                    *format,
                ))
            }
            Route::IFramePlaylist {
                format, rendition, ..
            } => {
                let r = manifest
                    .rendition(rendition)
                    .ok_or_else(|| EdgeError::NotFound(format!("no rendition {rendition}")))?;
                let (head, segments, keep) = self.clipped(id, &r.path, k, filter).await?;
                let track = SegmentedTrack {
                    index: &head.index,
                    segments: &segments[keep],
                };
                if *format == Format::Ts {
                    return self.ts_iframe_playlist(id, rendition, track).await;
                }
                Ok(playlist::iframe_playlist(track, &r.keyframe_ends, *format)?)
            }
            Route::SubtitlePlaylist { lang, .. } => {
                if self.subtitles(id, lang).await?.is_none() {
                    return Err(EdgeError::NotFound(format!("no usable subtitles {lang}")));
                }
                let first = manifest
                    .renditions
                    .first()
                    .ok_or_else(|| EdgeError::Internal("manifest without renditions".into()))?;
                let (head, segments, keep) = self.clipped(id, &first.path, k, filter).await?;
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

    async fn master(
        &self,
        id: &str,
        manifest: &Manifest,
        k: u32,
        format: Format,
        filter: &Filter,
    ) -> Result<String, EdgeError> {
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
        let video_heads =
            futures::future::try_join_all(renditions.iter().map(|r| self.head(id, &r.path)))
                .await?;
        let audio_heads =
            futures::future::try_join_all(audio.iter().map(|a| self.head(id, &a.path))).await?;
        let video_segments: Vec<_> = video_heads
            .iter()
            .map(|h| segment::segments(&h.index, k))
            .collect();
        let audio_segments: Vec<_> = audio_heads
            .iter()
            .map(|h| segment::segments(&h.index, k))
            .collect();
        let video: Vec<VideoVariant<'_>> = renditions
            .iter()
            .zip(&video_heads)
            .zip(&video_segments)
            .map(|((rendition, head), segments)| VideoVariant {
                rendition,
                track: SegmentedTrack {
                    index: &head.index,
                    segments,
                },
            })
            .collect();
        let audio: Vec<AudioRendition<'_>> = audio
            .iter()
            .zip(&audio_heads)
            .zip(&audio_segments)
            .map(|((audio, head), segments)| AudioRendition {
                audio,
                track: SegmentedTrack {
                    index: &head.index,
                    segments,
                },
            })
            .collect();
        if let Some(first) = video.first() {
            // A clip that misses the video is refused here rather than in every playlist.
            filter
                .clip(first.track.segments, first.track.index.timescale)
                .map_err(bad_filter)?;
        }
        let mut subtitles = Vec::new();
        if filter.subs_lang.as_deref() != Some("none") {
            for lang in self.subtitle_languages(id).await?.iter() {
                if filter.keeps_subtitles(lang) && self.subtitles(id, lang).await?.is_some() {
                    subtitles.push(SubtitleRendition {
                        language: lang.clone(),
                        default: false,
                    });
                }
            }
        }
        Ok(playlist::multivariant(
            &video,
            &audio,
            &subtitles,
            format,
            &filter.clip_query(),
        ))
    }

    /// The TS I-frame playlist: every segment of the rendition is remuxed (through the
    /// segment cache) to find where its key frames' packets are. The result is cached like
    /// any playlist, so this costs one pass over the rendition per metadata TTL.
    async fn ts_iframe_playlist(
        self: &Arc<Self>,
        id: &str,
        rendition: &str,
        track: SegmentedTrack<'_>,
    ) -> Result<String, EdgeError> {
        let ts = f64::from(track.index.timescale.max(1));
        let mut frames = Vec::new();
        for s in track.segments {
            let number = u64::from(s.number);
            let remuxed = self
                .ts_remux(id, rendition, number, &RequestFlags::default())
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
