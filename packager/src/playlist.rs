//! HLS playlists (RFC 8216) written with `m3u8-rs`: multivariant, media and I-frame.
//!
//! URIs are relative, so one playlist body serves any host name and any mount point.

use std::sync::atomic::Ordering;

use m3u8_rs::{
    AlternativeMedia, AlternativeMediaType, ByteRange, Map, MasterPlaylist, MediaPlaylist,
    MediaPlaylistType, MediaSegment, Resolution, VariantStream,
};

use crate::bandwidth::{average_bit_rate, peak_bit_rate, SegmentSize};
use crate::error::{PackagerError, Result};
use crate::manifest::{AudioTrack, Rendition};
use crate::route::{segment_file, TrackRef, IFRAME_PLAYLIST, INIT, MEDIA_PLAYLIST};
use crate::segment::Segment;
use crate::track::TrackIndex;

/// Group id of the audio renditions in the multivariant playlist.
pub const AUDIO_GROUP: &str = "aud";

/// EXTINF values are written with this many decimals (exact to the millisecond).
const EXTINF_DECIMALS: usize = 3;

/// A track with the segments the edge cut it into.
#[derive(Debug, Clone, Copy)]
pub struct SegmentedTrack<'a> {
    /// The track's index (from its head).
    pub index: &'a TrackIndex,
    /// Its segments, in order.
    pub segments: &'a [Segment],
}

impl SegmentedTrack<'_> {
    /// Milliseconds from the track's start to `time` (in the track's timescale), rounded.
    fn ms(&self, time: u64) -> u64 {
        let origin = self.segments.first().map_or(0, |s| s.start);
        let ts = u64::from(self.index.timescale.max(1));
        let rel = u128::from(time.saturating_sub(origin));
        ((rel * 1000 + u128::from(ts) / 2) / u128::from(ts)) as u64
    }

    /// Each segment's EXTINF in milliseconds. Computed as differences of rounded absolute
    /// boundaries, so the sum equals the rounded total exactly (no drift over long titles).
    pub fn extinf_ms(&self) -> Vec<u64> {
        self.segments
            .iter()
            .map(|s| self.ms(s.start + s.duration) - self.ms(s.start))
            .collect()
    }

    /// `EXT-X-TARGETDURATION`: the largest EXTINF rounded to the nearest second, at least 1.
    pub fn target_duration(&self) -> u64 {
        self.extinf_ms()
            .into_iter()
            .map(|ms| (ms + 500) / 1000)
            .max()
            .unwrap_or(1)
            .max(1)
    }

    /// Segment sizes and durations for bit rate computations.
    pub fn sizes(&self) -> Vec<SegmentSize> {
        let ts = f64::from(self.index.timescale.max(1));
        self.segments
            .iter()
            .map(|s| SegmentSize {
                bytes: s.len(),
                seconds: s.duration as f64 / ts,
            })
            .collect()
    }
}

fn write(f: impl FnOnce(&mut Vec<u8>) -> std::io::Result<()>) -> String {
    m3u8_rs::WRITE_OPT_FLOAT_PRECISION.store(EXTINF_DECIMALS, Ordering::Relaxed);
    let mut out = Vec::new();
    // Writing into a Vec cannot fail, and m3u8-rs writes only UTF-8.
    let _ = f(&mut out);
    String::from_utf8(out).unwrap_or_default()
}

fn init_map() -> Map {
    Map {
        uri: INIT.into(),
        ..Default::default()
    }
}

/// The media playlist of one track: VOD, EXT-X-MAP to its init segment, exact EXTINFs.
pub fn media_playlist(track: SegmentedTrack<'_>) -> String {
    let extinf = track.extinf_ms();
    let segments = track
        .segments
        .iter()
        .zip(extinf)
        .enumerate()
        .map(|(i, (s, ms))| MediaSegment {
            uri: segment_file(u64::from(s.number)),
            duration: ms as f32 / 1000.0,
            map: (i == 0).then(init_map),
            ..Default::default()
        })
        .collect();
    let playlist = MediaPlaylist {
        // EXT-X-MAP outside an I-frame playlist needs version 6.
        version: Some(6),
        target_duration: track.target_duration(),
        playlist_type: Some(MediaPlaylistType::Vod),
        independent_segments: true,
        segments,
        end_list: true,
        ..Default::default()
    };
    write(|w| playlist.write_to(w))
}

/// One key frame of a video track: where it is and how long until the next one.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyFrame {
    /// Segment holding it.
    pub segment: u64,
    /// Offset of its fragment's `moof` within the segment.
    pub offset: u64,
    /// Bytes from that `moof` to the end of the key frame.
    pub length: u64,
    /// Seconds until the next key frame.
    pub seconds: f64,
}

/// Every key frame of `track` (one per fragment), given each fragment's `moof`-to-end-of-first-
/// sample length (from the manifest).
pub fn key_frames(track: SegmentedTrack<'_>, keyframe_ends: &[u32]) -> Result<Vec<KeyFrame>> {
    let fragments = &track.index.fragments;
    if keyframe_ends.len() != fragments.len() {
        return Err(PackagerError::Manifest(format!(
            "{} key frame lengths for {} fragments",
            keyframe_ends.len(),
            fragments.len()
        )));
    }
    let ts = f64::from(track.index.timescale.max(1));
    let mut out = Vec::with_capacity(fragments.len());
    for s in track.segments {
        for i in s.fragments.clone() {
            let f = &fragments[i];
            let length = u64::from(keyframe_ends[i]);
            if !f.starts_with_sap || length == 0 || length > u64::from(f.size) {
                return Err(PackagerError::Unsupported(format!(
                    "fragment {i} does not start with a usable key frame"
                )));
            }
            out.push(KeyFrame {
                segment: u64::from(s.number),
                offset: f.offset - s.bytes.start,
                length,
                seconds: f64::from(f.duration) / ts,
            });
        }
    }
    Ok(out)
}

/// The I-frame playlist of a video track: one entry per fragment, a byte range from the
/// fragment's `moof` to the end of its key frame, inside the segment resource that holds it.
pub fn iframe_playlist(track: SegmentedTrack<'_>, keyframe_ends: &[u32]) -> Result<String> {
    let frames = key_frames(track, keyframe_ends)?;
    let target = frames
        .iter()
        .map(|k| k.seconds.round() as u64)
        .max()
        .unwrap_or(1)
        .max(1);
    let segments = frames
        .iter()
        .enumerate()
        .map(|(i, k)| MediaSegment {
            uri: segment_file(k.segment),
            duration: k.seconds as f32,
            byte_range: Some(ByteRange {
                length: k.length,
                offset: Some(k.offset),
            }),
            map: (i == 0).then(init_map),
            ..Default::default()
        })
        .collect();
    let playlist = MediaPlaylist {
        // EXT-X-MAP in an I-frame playlist needs version 5.
        version: Some(5),
        target_duration: target,
        playlist_type: Some(MediaPlaylistType::Vod),
        i_frames_only: true,
        independent_segments: true,
        segments,
        end_list: true,
        ..Default::default()
    };
    Ok(write(|w| playlist.write_to(w)))
}

/// A video rendition as the multivariant playlist describes it.
#[derive(Debug, Clone, Copy)]
pub struct VideoVariant<'a> {
    /// The rendition's manifest entry.
    pub rendition: &'a Rendition,
    /// Its track and segments.
    pub track: SegmentedTrack<'a>,
}

/// An audio rendition as the multivariant playlist describes it.
#[derive(Debug, Clone, Copy)]
pub struct AudioRendition<'a> {
    /// The track's manifest entry.
    pub audio: &'a AudioTrack,
    /// Its track and segments.
    pub track: SegmentedTrack<'a>,
}

fn language_name(code: &str) -> &str {
    match code {
        "en" | "eng" => "English",
        "fr" | "fra" | "fre" => "Français",
        "de" | "deu" | "ger" => "Deutsch",
        "es" | "spa" => "Español",
        "it" | "ita" => "Italiano",
        "ja" | "jpn" => "日本語",
        "zh" | "zho" | "chi" => "中文",
        _ => "Original",
    }
}

/// `BANDWIDTH` and `AVERAGE-BANDWIDTH` of a variant: its video segments together with the
/// audio segments a player fetches beside them.
///
/// Segments line up across tracks, so segment `n` of the variant is video segment `n` plus the
/// largest audio segment `n` of the group, over the video segment's duration — exactly what a
/// player downloads per segment. If the segment counts differ, the audio's own peak and
/// average are added instead (an upper bound).
fn variant_bit_rates(video: &[SegmentSize], audio: &[Vec<SegmentSize>], target: f64) -> (u64, u64) {
    if audio.is_empty() {
        return (peak_bit_rate(video, target), average_bit_rate(video));
    }
    if audio.iter().all(|a| a.len() == video.len()) {
        let combined: Vec<SegmentSize> = video
            .iter()
            .enumerate()
            .map(|(i, v)| SegmentSize {
                bytes: v.bytes + audio.iter().map(|a| a[i].bytes).max().unwrap_or(0),
                seconds: v.seconds,
            })
            .collect();
        return (
            peak_bit_rate(&combined, target),
            average_bit_rate(&combined),
        );
    }
    let audio_peak = audio
        .iter()
        .map(|a| peak_bit_rate(a, target))
        .max()
        .unwrap_or(0);
    let audio_avg = audio.iter().map(|a| average_bit_rate(a)).max().unwrap_or(0);
    (
        peak_bit_rate(video, target) + audio_peak,
        average_bit_rate(video) + audio_avg,
    )
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The multivariant playlist: one EXT-X-MEDIA per audio track, one EXT-X-STREAM-INF and one
/// EXT-X-I-FRAME-STREAM-INF per video rendition (highest first).
///
/// `BANDWIDTH` is the RFC 8216 peak segment bit rate of the video plus the highest audio peak;
/// `AVERAGE-BANDWIDTH` likewise with averages. `keyframe_ends` gives, per rendition, what
/// [`iframe_playlist`] needs; a rendition without usable key frame data gets no I-frame entry.
pub fn multivariant(video: &[VideoVariant<'_>], audio: &[AudioRendition<'_>]) -> String {
    let target = video
        .iter()
        .map(|v| v.track.target_duration())
        .max()
        .unwrap_or(1) as f64;
    let audio_sizes: Vec<Vec<SegmentSize>> = audio.iter().map(|a| a.track.sizes()).collect();
    let alternatives = audio
        .iter()
        .enumerate()
        .map(|(i, a)| AlternativeMedia {
            media_type: AlternativeMediaType::Audio,
            uri: Some(format!(
                "{}/{MEDIA_PLAYLIST}",
                TrackRef::Audio(a.audio.name.clone()).dir()
            )),
            group_id: AUDIO_GROUP.into(),
            language: Some(a.audio.language.clone()),
            name: language_name(&a.audio.language).into(),
            default: i == 0,
            autoselect: true,
            channels: Some(a.audio.channels.to_string()),
            ..Default::default()
        })
        .collect();
    let mut variants = Vec::new();
    let mut iframe_variants = Vec::new();
    for v in video {
        let (bandwidth, average_bandwidth) =
            variant_bit_rates(&v.track.sizes(), &audio_sizes, target);
        let codecs = match audio.first() {
            Some(a) => format!("{},{}", v.rendition.codec, a.audio.codec),
            None => v.rendition.codec.clone(),
        };
        let resolution = Some(Resolution {
            width: u64::from(v.rendition.width),
            height: u64::from(v.rendition.height),
        });
        variants.push(VariantStream {
            uri: format!("{}/{MEDIA_PLAYLIST}", v.rendition.name),
            bandwidth,
            average_bandwidth: Some(average_bandwidth),
            codecs: Some(codecs),
            resolution,
            frame_rate: Some(round3(v.rendition.frame_rate.as_f64())),
            audio: (!audio.is_empty()).then(|| AUDIO_GROUP.to_string()),
            ..Default::default()
        });
        if let Ok(frames) = key_frames(v.track, &v.rendition.keyframe_ends) {
            let rates: Vec<SegmentSize> = frames
                .iter()
                .map(|k| SegmentSize {
                    bytes: k.length,
                    seconds: k.seconds,
                })
                .collect();
            let peak = rates
                .iter()
                .filter(|r| r.seconds > 0.0)
                .map(|r| (r.bytes as f64 * 8.0 / r.seconds).ceil() as u64)
                .max()
                .unwrap_or(0);
            iframe_variants.push(VariantStream {
                is_i_frame: true,
                uri: format!("{}/{IFRAME_PLAYLIST}", v.rendition.name),
                bandwidth: peak,
                average_bandwidth: Some(average_bit_rate(&rates)),
                codecs: Some(v.rendition.codec.clone()),
                resolution,
                ..Default::default()
            });
        }
    }
    variants.extend(iframe_variants);
    let playlist = MasterPlaylist {
        independent_segments: true,
        alternatives,
        variants,
        ..Default::default()
    };
    write(|w| playlist.write_to(w))
}
