//! Key frames as resources of their own (`/v/{id}/[aes/|saes/][ts/]{rendition}/iframes/{n}`):
//! what the encrypted profiles' I-frame playlists and DASH's trick-play track name.
//!
//! The piece is cut from the media segment that holds the fragment, which comes through the
//! usual tiers (memory, owner edge, storage), so trick play shares the segments normal
//! playback cached. The key frame becomes a one-sample fragment (packager
//! [`sunomi_packager::iframe`]), then, per format and protection: left as is (CMAF),
//! remuxed to a TS segment of its own with PAT and PMT, SAMPLE-AES applied (`cbcs` in fMP4,
//! Apple's SAMPLE-AES while remuxing TS) or `cenc`, and/or AES-128 applied to the whole
//! resource with the piece's IV. The result is cached like a segment.

use std::sync::Arc;

use bytes::Bytes;
use sunomi_packager::cenc::{protect_fragments, CommonEncryption};
use sunomi_packager::codec::{codec_config, CodecConfig};
use sunomi_packager::crypto::{encrypt_segment, iframe_iv};
use sunomi_packager::edit::presentation_offset;
use sunomi_packager::iframe::key_frame_fragment;
use sunomi_packager::route::{Format, Protection, Route, TrackRef};
use sunomi_packager::ts::sample_aes::SampleAes;
use sunomi_packager::ts::{remux_encrypted, SampleAesMode, TrackSegment};

use super::cache::live::Live;
use super::cache::segments::Segments;
use super::catalog::Catalog;
use super::encryption;
use super::{CacheKey, Object, RequestFlags};
use crate::error::EdgeError;
use crate::net::http;

/// How the piece is protected once cut: the content key's id and what it takes.
enum Protect {
    Clear,
    Aes128 { key: [u8; 16] },
    Common(CommonEncryption),
    SampleAesTs { key: [u8; 16] },
}

/// I-frame segments: the key frame of a fragment, cut from its CMAF segment.
pub(in crate::media) struct IFrames<'m> {
    /// What storage holds.
    pub catalog: &'m Catalog,
    /// The cache tiers segments come through.
    pub segments: &'m Arc<Segments>,
    /// The settings of this request (keys, clear lead).
    pub live: &'m Live,
}

impl IFrames<'_> {
    /// The key frame starting fragment `number` of `rendition`, in `format`, protected as
    /// the request asks.
    pub(super) async fn iframe(
        &self,
        route: &Route,
        id: &str,
        format: Format,
        rendition: &str,
        number: u64,
        flags: &RequestFlags,
    ) -> Result<Object, EdgeError> {
        let manifest = self.catalog.manifest(id).await?;
        let r = manifest
            .rendition(rendition)
            .ok_or_else(|| EdgeError::NotFound(format!("no rendition {rendition}")))?;
        let head = self.catalog.head(id, &r.path).await?;
        let timeline = self.catalog.timeline(id, &manifest).await?;
        let n = usize::try_from(number)
            .ok()
            .filter(|&n| n < head.index.fragments.len())
            .ok_or_else(|| EdgeError::NotFound(format!("no fragment {number}")))?;
        let fragment = &head.index.fragments[n];
        let length = r.keyframe_ends.get(n).copied().unwrap_or(0);
        if !fragment.starts_with_sap || length == 0 || length > fragment.size {
            return Err(EdgeError::NotFound(format!(
                "fragment {number} does not start with a usable key frame"
            )));
        }
        let segment = timeline
            .segments(&head.index)
            .into_iter()
            .find(|s| s.fragments.contains(&n))
            .ok_or_else(|| EdgeError::NotFound(format!("fragment {number} is in no segment")))?;

        let (kid, protect) = match (flags.protection, format) {
            (Protection::Clear, _) => (String::new(), Protect::Clear),
            (Protection::Aes128, _) => {
                let (kid, key) = encryption::current_key(self.live, id).await?;
                (kid, Protect::Aes128 { key })
            }
            (Protection::SampleAes, Format::Ts) => {
                let (kid, key) = encryption::current_key(self.live, id).await?;
                (kid, Protect::SampleAesTs { key })
            }
            (protection, _) => {
                let scheme = protection
                    .common_scheme()
                    .ok_or_else(|| EdgeError::NotFound("no key frames in this profile".into()))?;
                let track = TrackRef::Video(rendition.to_string()).dir();
                let (kid, params) =
                    encryption::common_params(self.live, id, scheme, &track).await?;
                (kid, Protect::Common(params))
            }
        };
        let clear_etag = http::etag(&[
            head.version.as_bytes(),
            b"iframe",
            format.name().as_bytes(),
            &number.to_be_bytes(),
        ]);
        let etag = http::etag(&[clear_etag.as_bytes(), kid.as_bytes()]);
        let key = match flags.protection {
            Protection::Clear => CacheKey::segment(route, &head.version),
            p => CacheKey::protected(p, route, &kid, &clear_etag),
        };

        let make = async {
            let track = TrackRef::Video(rendition.to_string());
            let segment_route = Route::Segment {
                id: id.to_string(),
                track: track.clone(),
                number: u64::from(segment.number),
            };
            let segment_flags = RequestFlags {
                from_peer: flags.from_peer,
                ..RequestFlags::default()
            };
            let body = Box::pin(self.segments.segment(
                &segment_route,
                id,
                &track,
                u64::from(segment.number),
                &segment_flags,
            ))
            .await?
            .body;
            let start = usize::try_from(fragment.offset - segment.bytes.start)
                .map_err(|_| EdgeError::Internal("fragment offset".into()))?;
            let end = start + length as usize;
            if end > body.len() {
                return Err(EdgeError::Changed(format!(
                    "segment {} of {rendition} is shorter than its index",
                    segment.number
                )));
            }
            let piece = body.slice(start..end);
            let head = head.clone();
            let default_duration = head.index.default_sample_duration;
            let duration = fragment.duration;
            let out = tokio::task::spawn_blocking(move || {
                cut(
                    &head,
                    &piece,
                    default_duration,
                    duration,
                    number,
                    format,
                    &protect,
                )
            })
            .await
            .map_err(|e| EdgeError::Internal(format!("cutting a key frame: {e}")))??;
            Ok::<_, EdgeError>(Bytes::from(out))
        };
        let (body, cache) = self.segments.cached(key, make).await?;
        Ok(Object::immutable(body, etag, cache))
    }
}

/// The key frame at the start of `piece` as a resource of its own (see the module doc).
fn cut(
    head: &sunomi_origin::TrackHead,
    piece: &[u8],
    default_duration: u32,
    duration: u32,
    number: u64,
    format: Format,
    protect: &Protect,
) -> Result<Vec<u8>, EdgeError> {
    let sequence = u32::try_from(number + 1).unwrap_or(u32::MAX);
    let fragment = key_frame_fragment(piece, default_duration, duration, sequence)?;
    let iv = iframe_iv(number);
    let resource = match format {
        Format::Ts => {
            let config = codec_config(&head.init)?;
            let sample_aes = match protect {
                Protect::SampleAesTs { key } => Some(SampleAes { key: *key, iv }),
                _ => None,
            };
            let mode = match &sample_aes {
                Some(s) => SampleAesMode::On(s),
                None => SampleAesMode::Off,
            };
            let video = TrackSegment {
                config: &config,
                timescale: head.index.timescale,
                default_sample_duration: default_duration,
                bytes: &fragment,
                file_offset: 0,
                presentation_offset: presentation_offset(&head.init)?,
            };
            remux_encrypted(Some(video), None, number, mode)?.bytes
        }
        _ => match protect {
            Protect::Common(params) => {
                let CodecConfig::Avc(avc) = codec_config(&head.init)? else {
                    return Err(EdgeError::Internal(
                        "a protected video track is not H.264".into(),
                    ));
                };
                protect_fragments(&fragment, 0, default_duration, avc.nal_length_size, params)?
            }
            _ => fragment,
        },
    };
    Ok(match protect {
        Protect::Aes128 { key } => encrypt_segment(key, &iv, &resource),
        _ => resource,
    })
}
