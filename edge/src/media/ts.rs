//! MPEG-TS segments, remuxed at request time from the CMAF segments of the same number (video
//! and the first audio track), which come through the usual tiers (memory, owner edge,
//! storage) — no second copy of anything is stored. The TS bytes are cached too, and
//! SAMPLE-AES (`/v/{id}/saes/ts/…`) is applied while remuxing.

use std::sync::Arc;

use sunomi_packager::codec::codec_config;
use sunomi_packager::crypto::segment_iv;
use sunomi_packager::edit::presentation_offset;
use sunomi_packager::route::{Protection, Route, TrackRef};
use sunomi_packager::ts::sample_aes::SampleAes;
use sunomi_packager::ts::{remux_encrypted, SampleAesMode, TrackSegment, TsSegment};
use sunomi_packager::PackagerError;

use super::cache::live::Live;
use super::cache::segments::Segments;
use super::catalog::Catalog;
use super::encryption;
use super::playlists::ts_audio;
use super::{CacheKey, Object, RequestFlags};
use crate::error::EdgeError;
use crate::net::http;

/// MPEG-TS segments: remuxed from the CMAF segments of the same number (SAMPLE-AES
/// applied while remuxing), cached beside them.
pub(in crate::media) struct TsSegments<'m> {
    /// What storage holds.
    pub catalog: &'m Catalog,
    /// The cache tiers segments come through.
    pub segments: &'m Arc<Segments>,
    /// The settings of this request (keys, clear lead).
    pub live: &'m Live,
}

impl TsSegments<'_> {
    /// TS segment `number` of `rendition` (SAMPLE-AES from the clear lead on when asked),
    /// cached beside the CMAF segments it is remuxed from.
    pub(super) async fn segment(
        &self,
        route: &Route,
        id: &str,
        rendition: &str,
        number: u64,
        flags: &RequestFlags,
    ) -> Result<Object, EdgeError> {
        let manifest = self.catalog.manifest(id).await?;
        let video_path = Catalog::track_path(&manifest, &TrackRef::Video(rendition.to_string()))?;
        let video_head = self.catalog.head(id, video_path).await?;
        // SAMPLE-AES is applied while remuxing (parts of each sample), from the clear lead on.
        let (encryption, kid) = if flags.protection == Protection::SampleAes
            && number >= self.live.encryption.clear_lead_segments
        {
            let (kid, key) = encryption::current_key(self.live, id).await?;
            let iv = segment_iv(number);
            (Some(SampleAes { key, iv }), kid)
        } else {
            (None, String::new())
        };
        // Clear-lead segments are plain TS (see `remux_encrypted`).
        let mode = match &encryption {
            Some(e) => SampleAesMode::On(e),
            None => SampleAesMode::Off,
        };
        let etag = http::etag(&[
            video_head.version.as_bytes(),
            b"ts",
            &number.to_be_bytes(),
            kid.as_bytes(),
        ]);
        let make = async {
            Ok::<_, EdgeError>(bytes::Bytes::from(
                self.remux(id, rendition, number, flags, mode).await?.bytes,
            ))
        };
        // SAMPLE-AES TS is remuxed encrypted (clear-lead segments signal encryption too),
        // not derived from the clear TS: its own key, by key id. AES-128 encrypts the clear
        // TS, so that shares the clear entry.
        let key = match flags.protection {
            Protection::SampleAes => {
                CacheKey::protected(Protection::SampleAes, route, &kid, &video_head.version)
            }
            _ => CacheKey::segment(route, &video_head.version),
        };
        let (body, cache) = self.segments.cached(key, make).await?;
        Ok(Object::immutable(body, etag, cache))
    }

    /// Remuxes TS segment `number` of `rendition` from its CMAF video segment and the audio
    /// segment of the same number.
    pub(super) async fn remux(
        &self,
        id: &str,
        rendition: &str,
        number: u64,
        flags: &RequestFlags,
        mode: SampleAesMode<'_>,
    ) -> Result<TsSegment, EdgeError> {
        let manifest = self.catalog.manifest(id).await?;
        let timeline = self.catalog.timeline(id, &manifest).await?;
        let video = TrackRef::Video(rendition.to_string());
        let cmaf_flags = RequestFlags {
            from_peer: flags.from_peer,
            prefetch: flags.prefetch,
            ..RequestFlags::default()
        };
        let part = |track: TrackRef| {
            let (catalog, segments) = (self.catalog, self.segments);
            let manifest = manifest.clone();
            let flags = cmaf_flags.clone();
            let timeline = timeline.clone();
            async move {
                let path = Catalog::track_path(&manifest, &track)?.to_string();
                let head = catalog.head(id, &path).await?;
                let seg = timeline.segment(&head.index, number)?;
                let route = Route::Segment {
                    id: id.to_string(),
                    track: track.clone(),
                    number,
                };
                let body = segments
                    .segment(&route, id, &track, number, &flags)
                    .await?
                    .body;
                Ok::<_, EdgeError>((head, seg.bytes.start, body))
            }
        };
        let audio_part = async {
            match ts_audio(&manifest) {
                // The audio track may end a segment early; such a TS segment is video only.
                Some(track) => match part(track).await {
                    Ok(p) => Ok(Some(p)),
                    Err(EdgeError::NotFound(_)) => Ok(None),
                    Err(e) => Err(e),
                },
                None => Ok(None),
            }
        };
        let (video_part, audio_part) =
            futures::future::try_join(Box::pin(part(video)), Box::pin(audio_part)).await?;
        let (vhead, vstart, vbytes) = video_part;
        let vconfig = codec_config(&vhead.init)?;
        let audio = match &audio_part {
            Some((ahead, astart, abytes)) => {
                Some((codec_config(&ahead.init)?, ahead, *astart, abytes))
            }
            None => None,
        };
        let remuxed = remux_encrypted(
            Some(TrackSegment {
                config: &vconfig,
                timescale: vhead.index.timescale,
                default_sample_duration: vhead.index.default_sample_duration,
                bytes: &vbytes,
                file_offset: vstart,
                presentation_offset: presentation_offset(&vhead.init)?,
            }),
            audio
                .as_ref()
                .map(|(config, head, start, bytes)| TrackSegment {
                    config,
                    timescale: head.index.timescale,
                    default_sample_duration: head.index.default_sample_duration,
                    bytes,
                    file_offset: *start,
                    presentation_offset: presentation_offset(&head.init).unwrap_or(0),
                }),
            number,
            mode,
        )
        .map_err(|e: PackagerError| EdgeError::from(e))?;
        Ok(remuxed)
    }
}
