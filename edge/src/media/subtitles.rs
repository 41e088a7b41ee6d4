//! Subtitles: the WebVTT files stored beside a video (`subs/{lang}.vtt`), parsed once per
//! metadata TTL and cut into pieces on the video's segment boundaries. A file that does not
//! parse is logged and left out; the video still plays.

use std::sync::Arc;

use bytes::Bytes;
use sunomi_packager::bandwidth::SegmentSize;
use sunomi_packager::playlist::SegmentedTrack;
use sunomi_packager::route::Format;
use sunomi_packager::segment::Segment;
use sunomi_packager::track::TrackIndex;
use sunomi_packager::ts::TIME_OFFSET_90K;
use sunomi_packager::vtt::{self, Vtt};

use super::{CacheKey, CacheOutcome, Media, Meta, Object, SubtitleFile};
use crate::error::EdgeError;
use crate::net::http;

impl Media {
    /// The languages of the video's subtitle files (no files: none).
    pub(super) async fn subtitle_languages(&self, id: &str) -> Result<Arc<Vec<String>>, EdgeError> {
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
    pub(super) async fn subtitles(
        &self,
        id: &str,
        lang: &str,
    ) -> Result<Option<Arc<SubtitleFile>>, EdgeError> {
        Ok(self.subtitles_with_outcome(id, lang).await?.0)
    }

    /// The subtitles in `lang` and whether they came from memory.
    async fn subtitles_with_outcome(
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

    /// The whole stored subtitle file, as a sidecar; only if it parses (what players get
    /// is what the playlists would offer). Served from the bytes cached with the parse.
    pub(super) async fn subtitle_file(&self, id: &str, lang: &str) -> Result<Object, EdgeError> {
        self.manifest(id).await?;
        let (file, cache) = self.subtitles_with_outcome(id, lang).await?;
        let file =
            file.ok_or_else(|| EdgeError::NotFound(format!("no usable subtitles {lang}")))?;
        Ok(Object {
            etag: file.etag.clone(),
            body: file.raw.clone(),
            gzip: None,
            immutable: false,
            cache,
            content_range: None,
            private: false,
            media_ms: 0,
            streamed: None,
        })
    }

    pub(super) async fn subtitle_segment(
        &self,
        id: &str,
        format: Format,
        lang: &str,
        number: u64,
    ) -> Result<Object, EdgeError> {
        let manifest = self.manifest(id).await?;
        let file = self
            .subtitles(id, lang)
            .await?
            .ok_or_else(|| EdgeError::NotFound(format!("no usable subtitles {lang}")))?;
        let timeline = self.timeline(id, &manifest).await?;
        let head = &timeline.video;
        let seg = timeline.segment(&head.index, number)?;
        let body = Bytes::from(piece(&file.vtt, &head.index, &seg, format));
        Ok(Object {
            etag: http::etag(&[&body[..]]),
            body,
            gzip: None,
            // The file can be replaced (a new transcription): cached like a playlist.
            immutable: false,
            cache: super::CacheOutcome::Hit,
            content_range: None,
            private: false,
            media_ms: 0,
            streamed: None,
        })
    }
}

/// The cues of `vtt` within video segment `seg` (of the track `video`), as the WebVTT piece of
/// a subtitle playlist in `format` (its `X-TIMESTAMP-MAP` fits the format's timestamps).
fn piece(vtt: &Vtt, video: &TrackIndex, seg: &Segment, format: Format) -> String {
    let origin = video.fragments.first().map_or(0, |f| f.time);
    let ts = u128::from(video.timescale.max(1));
    let ms = |t: u64| (u128::from(t.saturating_sub(origin)) * 1000 / ts) as u64;
    let mpegts = if format == Format::Ts {
        TIME_OFFSET_90K
    } else {
        0
    };
    vtt::segment(vtt, ms(seg.start), ms(seg.start + seg.duration), mpegts)
}

/// The size and duration of every piece of `vtt` cut on `segments` of the video track
/// `video` (durations as the subtitle playlist states them): what a subtitle rendition adds
/// to a variant's `BANDWIDTH`.
pub(super) fn piece_sizes(
    vtt: &Vtt,
    video: &TrackIndex,
    segments: &[Segment],
    format: Format,
) -> Vec<SegmentSize> {
    let seconds = SegmentedTrack {
        index: video,
        segments,
    }
    .extinf_ms();
    segments
        .iter()
        .zip(seconds)
        .map(|(seg, ms)| SegmentSize {
            bytes: piece(vtt, video, seg, format).len() as u64,
            seconds: ms as f64 / 1000.0,
        })
        .collect()
}
