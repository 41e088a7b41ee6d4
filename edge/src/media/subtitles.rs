//! Subtitles: the WebVTT files stored beside a video (`subs/{lang}.vtt`), parsed once per
//! metadata TTL and cut into pieces on the video's segment boundaries. A file that does not
//! parse is logged and left out; the video still plays.

use bytes::Bytes;
use sunomi_packager::bandwidth::SegmentSize;
use sunomi_packager::playlist::SegmentedTrack;
use sunomi_packager::route::Format;
use sunomi_packager::segment::Segment;
use sunomi_packager::track::TrackIndex;
use sunomi_packager::ts::TIME_OFFSET_90K;
use sunomi_packager::vtt::{self, Vtt};

use super::catalog::Catalog;
use super::Object;
use crate::error::EdgeError;
use crate::net::http;

/// Subtitle sidecars and segments: cut from the files the catalog holds.
pub(in crate::media) struct Subtitles<'m> {
    /// What storage holds.
    pub catalog: &'m Catalog,
}

impl Subtitles<'_> {
    /// The whole stored subtitle file, as a sidecar; only if it parses (what players get
    /// is what the playlists would offer). Served from the bytes cached with the parse.
    pub(super) async fn subtitle_file(&self, id: &str, lang: &str) -> Result<Object, EdgeError> {
        self.catalog.manifest(id).await?;
        let (file, cache) = self.catalog.subtitles_with_outcome(id, lang).await?;
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

    /// Subtitle segment `number` in `lang`: the cues of the video's segment `number`, in
    /// `format` (WebVTT, with the TS timestamp map when the video is TS).
    pub(super) async fn subtitle_segment(
        &self,
        id: &str,
        format: Format,
        lang: &str,
        number: u64,
    ) -> Result<Object, EdgeError> {
        let manifest = self.catalog.manifest(id).await?;
        let file = self
            .catalog
            .subtitles(id, lang)
            .await?
            .ok_or_else(|| EdgeError::NotFound(format!("no usable subtitles {lang}")))?;
        let timeline = self.catalog.timeline(id, &manifest).await?;
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
