//! HLS playlists (RFC 8216) written with `m3u8-rs`: multivariant, media and I-frame, for
//! each [`Format`] (CMAF segments, MPEG-TS, byte ranges into the track file), with subtitle
//! renditions.
//!
//! URIs are relative, so one playlist body serves any host name and any mount point. Each
//! playlist declares the lowest `EXT-X-VERSION` its tags allow.

use std::sync::atomic::Ordering;

use std::collections::HashMap;

use m3u8_rs::{
    AlternativeMedia, AlternativeMediaType, ByteRange, Key, KeyMethod, Map, MasterPlaylist,
    MediaPlaylist, MediaPlaylistType, MediaSegment, QuotedOrUnquoted, Resolution, VariantStream,
};

use crate::crypto::{iframe_iv, iv_attribute, segment_iv};

use crate::bandwidth::{average_bit_rate, peak_bit_rate, SegmentSize};
use crate::error::{PackagerError, Result};
use crate::manifest::{AudioTrack, Rendition};
use crate::route::{
    segment_file, Format, TrackRef, IFRAMES_DIR, IFRAME_PLAYLIST, INIT, MEDIA_PLAYLIST,
    SEGMENT_EXT, SUBS_DIR, TRACK_FILE, TS_EXT,
};
use crate::segment::Segment;
use crate::track::TrackIndex;

/// Group id of the audio renditions in the multivariant playlist.
pub const AUDIO_GROUP: &str = "aud";
/// Group id of the subtitle renditions in the multivariant playlist.
pub const SUBTITLE_GROUP: &str = "subs";

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

    /// Each segment's size and duration for bit rates. The durations are the EXTINF values
    /// as written: RFC 8216 §4.3.4.2 divides sizes by the segment durations the playlist
    /// states, so a client recomputing `BANDWIDTH` from the playlist gets the same figure.
    pub fn sizes(&self) -> Vec<SegmentSize> {
        self.segments
            .iter()
            .zip(self.extinf_ms())
            .map(|(s, ms)| SegmentSize {
                bytes: s.len(),
                seconds: ms as f64 / 1000.0,
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

fn byte_range(r: &std::ops::Range<u64>) -> ByteRange {
    ByteRange {
        length: r.end - r.start,
        offset: Some(r.start),
    }
}

/// The `EXT-X-MAP` of a track in `format` (TS has none: every segment starts with PAT/PMT).
fn init_map(track: &TrackIndex, format: Format) -> Option<Map> {
    match format {
        Format::Cmaf => Some(Map {
            uri: INIT.into(),
            ..Default::default()
        }),
        Format::ByteRange => Some(Map {
            uri: TRACK_FILE.into(),
            byte_range: Some(byte_range(&track.init)),
            ..Default::default()
        }),
        Format::Ts => None,
    }
}

/// How the segments of a media playlist are encrypted (`METHOD=AES-128`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encryption {
    /// The key's URI, relative to the playlist (with its token query, if any).
    pub key_uri: String,
    /// Segments before this number are clear (a clear lead for fast start).
    pub clear_lead: u64,
    /// `METHOD=SAMPLE-AES` (parts of samples) instead of `AES-128` (whole segments).
    pub sample_aes: bool,
    /// One IV for every segment (fMP4 `cbcs` uses the constant IV of its `tenc`); without
    /// it, each segment's number.
    pub constant_iv: Option<[u8; 16]>,
    /// With a key id: the key tag names it for EME's W3C ClearKey (`KEYFORMAT=
    /// "org.w3.clearkey"`, the URI a data URI of the key id) instead of the key's URL
    /// (`identity`), so a player decrypting `cbcs` through EME (hls.js) asks a ClearKey
    /// licence for it.
    pub clearkey_kid: Option<[u8; 16]>,
}

/// The `KEYFORMAT` of EME's W3C ClearKey key system.
pub const CLEARKEY_KEYFORMAT: &str = "org.w3.clearkey";

impl Encryption {
    /// The `EXT-X-KEY` of a resource encrypted under this with `iv` (unless the encryption
    /// has a constant IV).
    fn key_tag(&self, iv: [u8; 16]) -> Key {
        use base64::Engine;
        let method = if self.sample_aes {
            KeyMethod::SampleAES
        } else {
            KeyMethod::AES128
        };
        let iv = Some(iv_attribute(&self.constant_iv.unwrap_or(iv)));
        match &self.clearkey_kid {
            Some(kid) => Key {
                method,
                uri: Some(format!(
                    "data:text/plain;base64,{}",
                    base64::engine::general_purpose::STANDARD.encode(kid)
                )),
                iv,
                keyformat: Some(CLEARKEY_KEYFORMAT.into()),
                keyformatversions: Some("1".into()),
            },
            None => Key {
                method,
                uri: Some(self.key_uri.clone()),
                iv,
                ..Default::default()
            },
        }
    }
}

/// The media playlist of one track in `format`: VOD, exact EXTINFs; CMAF segments with an
/// `EXT-X-MAP` to the init segment (version 6), TS segments (version 3: float EXTINF and
/// explicit IVs only), or byte ranges into the track file, init included (version 6). With
/// `encryption`, every segment from the clear lead on has an `EXT-X-KEY` with an explicit IV
/// (the segment number); the init section, mapped before the first key, stays clear.
pub fn media_playlist(
    track: SegmentedTrack<'_>,
    format: Format,
    encryption: Option<&Encryption>,
) -> String {
    let extinf = track.extinf_ms();
    let segments = track
        .segments
        .iter()
        .zip(extinf)
        .enumerate()
        .map(|(i, (s, ms))| {
            let number = u64::from(s.number);
            let (uri, range) = match format {
                Format::Cmaf => (segment_file(number), None),
                Format::Ts => (format!("{number}{TS_EXT}"), None),
                Format::ByteRange => (TRACK_FILE.to_string(), Some(byte_range(&s.bytes))),
            };
            let key = encryption.map(|e| {
                if number >= e.clear_lead {
                    e.key_tag(segment_iv(number))
                } else {
                    Key {
                        method: KeyMethod::None,
                        ..Default::default()
                    }
                }
            });
            MediaSegment {
                uri,
                duration: ms as f32 / 1000.0,
                byte_range: range,
                map: if i == 0 {
                    init_map(track.index, format)
                } else {
                    None
                },
                key,
                ..Default::default()
            }
        })
        .collect();
    let playlist = MediaPlaylist {
        version: Some(if format == Format::Ts { 3 } else { 6 }),
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
    /// Its fragment's number in the track (from 0).
    pub fragment: u64,
    /// Segment holding it.
    pub segment: u64,
    /// Offset of its fragment's `moof` within the segment.
    pub offset: u64,
    /// Offset of the segment in the track file.
    pub segment_start: u64,
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
                fragment: i as u64,
                segment: u64::from(s.number),
                offset: f.offset - s.bytes.start,
                segment_start: s.bytes.start,
                length,
                seconds: f64::from(f.duration) / ts,
            });
        }
    }
    Ok(out)
}

/// The peak bit rate of a run of single key frames, each shown until the next: an I-frame
/// stream's `BANDWIDTH` (and a DASH trick-play representation's `@bandwidth`).
pub fn key_frame_peak(frames: &[SegmentSize]) -> u64 {
    frames
        .iter()
        .filter(|r| r.seconds > 0.0)
        .map(|r| (r.bytes as f64 * 8.0 / r.seconds).ceil() as u64)
        .max()
        .unwrap_or(0)
}

/// The I-frame playlist of a video track: one entry per fragment, a byte range from the
/// fragment's `moof` to the end of its key frame, inside the segment resource that holds it
/// (CMAF) or inside the track file (byte-range mode). TS uses [`ts_iframe_playlist`].
pub fn iframe_playlist(
    track: SegmentedTrack<'_>,
    keyframe_ends: &[u32],
    format: Format,
) -> Result<String> {
    let frames = key_frames(track, keyframe_ends)?;
    let segments = frames
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let (uri, offset) = match format {
                Format::ByteRange => (TRACK_FILE.to_string(), k.offset + k.segment_start),
                _ => (segment_file(k.segment), k.offset),
            };
            MediaSegment {
                uri,
                duration: k.seconds as f32,
                byte_range: Some(ByteRange {
                    length: k.length,
                    offset: Some(offset),
                }),
                map: if i == 0 {
                    init_map(track.index, format)
                } else {
                    None
                },
                ..Default::default()
            }
        })
        .collect();
    Ok(iframes_only(segments, frames.iter().map(|k| k.seconds)))
}

/// The I-frame playlist of a video track in an encrypted profile (CMAF or TS): one entry per
/// fragment naming its key frame as a resource of its own (`iframes/{n}.m4s` after the
/// init segment, or `iframes/{n}.ts` with its own PAT and PMT), each under an `EXT-X-KEY`:
/// `AES-128` with the piece's own IV ([`iframe_iv`]), or `SAMPLE-AES` with the constant IV
/// of `cbcs` (fMP4) or the piece's IV (TS). There is no clear lead: trick play shows only
/// encrypted pictures. Byte ranges cannot work here (see [`crate::iframe`]).
pub fn protected_iframe_playlist(
    track: SegmentedTrack<'_>,
    keyframe_ends: &[u32],
    format: Format,
    encryption: &Encryption,
) -> Result<String> {
    let ext = match format {
        Format::Cmaf => SEGMENT_EXT,
        Format::Ts => TS_EXT,
        Format::ByteRange => {
            return Err(PackagerError::Unsupported(
                "byte-range mode has no encrypted I-frame playlist".into(),
            ))
        }
    };
    let frames = key_frames(track, keyframe_ends)?;
    let segments = frames
        .iter()
        .enumerate()
        .map(|(i, k)| MediaSegment {
            uri: format!("{IFRAMES_DIR}/{}{ext}", k.fragment),
            duration: k.seconds as f32,
            map: if i == 0 {
                init_map(track.index, format)
            } else {
                None
            },
            key: Some(encryption.key_tag(iframe_iv(k.fragment))),
            ..Default::default()
        })
        .collect();
    Ok(iframes_only(segments, frames.iter().map(|k| k.seconds)))
}

/// The subtitle media playlist of `lang`: one WebVTT piece per segment of `track` (the
/// video's first rendition), so cues line up with the media segments (version 3).
pub fn subtitle_playlist(lang: &str, track: SegmentedTrack<'_>) -> String {
    let segments = track
        .segments
        .iter()
        .zip(track.extinf_ms())
        .map(|(s, ms)| MediaSegment {
            uri: format!("{lang}/{}{}", s.number, crate::route::VTT_EXT),
            duration: ms as f32 / 1000.0,
            ..Default::default()
        })
        .collect();
    let playlist = MediaPlaylist {
        version: Some(3),
        target_duration: track.target_duration(),
        playlist_type: Some(MediaPlaylistType::Vod),
        segments,
        end_list: true,
        ..Default::default()
    };
    write(|w| playlist.write_to(w))
}

/// A key frame inside a remuxed TS segment.
#[derive(Debug, Clone, PartialEq)]
pub struct TsKeyFrame {
    /// Segment number.
    pub segment: u64,
    /// Byte range of the packets holding the key frame's PES.
    pub range: std::ops::Range<u64>,
    /// Seconds until the next key frame.
    pub seconds: f64,
}

/// The I-frame playlist of a TS rendition: each key frame's packets, with the segment's
/// PAT and PMT (its first `psi_bytes`) as the `EXT-X-MAP` (version 5).
pub fn ts_iframe_playlist(frames: &[TsKeyFrame], psi_bytes: u64) -> String {
    let mut previous_segment = None;
    let segments = frames
        .iter()
        .map(|k| {
            let uri = format!("{}{TS_EXT}", k.segment);
            let map = (previous_segment != Some(k.segment)).then(|| Map {
                uri: uri.clone(),
                byte_range: Some(ByteRange {
                    length: psi_bytes,
                    offset: Some(0),
                }),
                ..Default::default()
            });
            previous_segment = Some(k.segment);
            MediaSegment {
                uri,
                duration: k.seconds as f32,
                byte_range: Some(byte_range(&k.range)),
                map,
                ..Default::default()
            }
        })
        .collect();
    iframes_only(segments, frames.iter().map(|k| k.seconds))
}

fn iframes_only(segments: Vec<MediaSegment>, seconds: impl Iterator<Item = f64>) -> String {
    let target = seconds.map(|s| s.round() as u64).max().unwrap_or(1).max(1);
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
    write(|w| playlist.write_to(w))
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

/// A subtitle track as the multivariant playlist describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubtitleRendition {
    /// Language code (also its URL name).
    pub language: String,
    /// Whether players should show it by default.
    pub default: bool,
    /// Whether speech-to-text made it (its name says so: "English (auto-generated)").
    pub auto_generated: bool,
}

impl SubtitleRendition {
    /// The `NAME` players show: the language's name, marked when the captions were
    /// generated.
    pub fn name(&self) -> String {
        let language = language_name(&self.language);
        if self.auto_generated {
            format!("{language} (auto-generated)")
        } else {
            language.to_string()
        }
    }
}

/// Overhead bound of TS over CMAF for `BANDWIDTH`: 188/184 packetization, PES and ADTS
/// headers, AUD and parameter sets per access unit, and the padding packets (at most 15 per
/// PID) and PSI of each segment. The `moof` bytes CMAF carries and TS does not are ignored,
/// so this errs high.
fn ts_segment_bytes(cmaf_bytes: u64) -> u64 {
    cmaf_bytes * 188 / 184 * 105 / 100 + 34 * 188
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

/// `BANDWIDTH` and `AVERAGE-BANDWIDTH` of a variant (RFC 8216 §4.3.4.2: the largest sum of
/// the peak segment bit rates of the renditions that play together).
///
/// - Separate renditions (CMAF, byte ranges): each rendition's peak is taken over its own
///   windows of 0.5–1.5 × the target duration, then the video's peak and the highest audio
///   peak are added. Adding per-segment sizes first and taking one peak is lower whenever the
///   audio's busiest window is not the video's, which is what the RFC rules out.
/// - Muxed (`muxed`, TS): segment `n` of the variant *is* video segment `n` plus audio
///   segment `n`, over the video's duration, so the peak is taken over those combined
///   segments (when the counts differ, the sum of the peaks bounds it).
fn variant_bit_rates(
    video: &[SegmentSize],
    audio: &[Vec<SegmentSize>],
    target: f64,
    muxed: bool,
) -> (u64, u64) {
    if muxed && audio.iter().all(|a| a.len() == video.len()) {
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

/// The multivariant playlist of `format`: one EXT-X-MEDIA per audio track (CMAF and byte
/// ranges; TS muxes the first audio track into every variant) and per subtitle track, one
/// EXT-X-STREAM-INF and one EXT-X-I-FRAME-STREAM-INF per video rendition (highest first).
///
/// `BANDWIDTH` is the RFC 8216 peak segment bit rate of the video plus the highest audio
/// peak plus the highest subtitle peak (`subtitle_sizes`: each subtitle rendition's pieces),
/// each over its own windows (TS: video and audio of the muxed segments); `AVERAGE-BANDWIDTH`
/// likewise with averages (for TS, of the bound on the remuxed size). A
/// rendition without usable key frame data gets no I-frame entry. Subtitle CODECS are never
/// listed (`wvtt` is not an HLS codec string).
pub fn multivariant(
    video: &[VideoVariant<'_>],
    audio: &[AudioRendition<'_>],
    subtitles: &[SubtitleRendition],
    subtitle_sizes: &[Vec<SegmentSize>],
    format: Format,
    media_query: &str,
    iframes: bool,
) -> String {
    // Media playlist URIs carry `media_query` (a clip) so players get the clipped playlists.
    let q = |uri: String| {
        if media_query.is_empty() {
            uri
        } else {
            format!("{uri}?{media_query}")
        }
    };
    let audio = if format == Format::Ts {
        &audio[..audio.len().min(1)]
    } else {
        audio
    };
    let target = video
        .iter()
        .map(|v| v.track.target_duration())
        .max()
        .unwrap_or(1) as f64;
    let audio_sizes: Vec<Vec<SegmentSize>> = audio.iter().map(|a| a.track.sizes()).collect();
    let separate_audio = format != Format::Ts && !audio.is_empty();
    let subtitle_media = subtitles.iter().map(|t| AlternativeMedia {
        media_type: AlternativeMediaType::Subtitles,
        uri: Some(q(format!("{SUBS_DIR}/{}.m3u8", t.language))),
        group_id: SUBTITLE_GROUP.into(),
        language: Some(t.language.clone()),
        name: t.name(),
        default: t.default,
        autoselect: true,
        other_attributes: Some(HashMap::from([(
            "FORCED".to_string(),
            QuotedOrUnquoted::Unquoted("NO".into()),
        )])),
        ..Default::default()
    });
    let alternatives = audio
        .iter()
        .filter(|_| separate_audio)
        .enumerate()
        .map(|(i, a)| AlternativeMedia {
            media_type: AlternativeMediaType::Audio,
            uri: Some(q(format!(
                "{}/{MEDIA_PLAYLIST}",
                TrackRef::Audio(a.audio.name.clone()).dir()
            ))),
            group_id: AUDIO_GROUP.into(),
            language: Some(a.audio.language.clone()),
            name: language_name(&a.audio.language).into(),
            default: i == 0,
            autoselect: true,
            channels: Some(a.audio.channels.to_string()),
            ..Default::default()
        })
        .chain(subtitle_media)
        .collect();
    let subtitle_peak = subtitle_sizes
        .iter()
        .map(|s| peak_bit_rate(s, target))
        .max()
        .unwrap_or(0);
    let subtitle_average = subtitle_sizes
        .iter()
        .map(|s| average_bit_rate(s))
        .max()
        .unwrap_or(0);
    let mut variants = Vec::new();
    let mut iframe_variants = Vec::new();
    for v in video {
        let (mut bandwidth, mut average_bandwidth) =
            variant_bit_rates(&v.track.sizes(), &audio_sizes, target, !separate_audio);
        if format == Format::Ts {
            // Bound the remuxed size per segment: scale by the segment's byte overhead.
            let ts = |rate: u64| {
                let per_segment = (rate as f64 * target / 8.0) as u64;
                (ts_segment_bytes(per_segment) as f64 * 8.0 / target).ceil() as u64
            };
            bandwidth = ts(bandwidth);
            average_bandwidth = ts(average_bandwidth);
        }
        // The subtitles play along (RFC 8216 §4.3.4.2 counts every rendition that does).
        bandwidth += subtitle_peak;
        average_bandwidth += subtitle_average;
        let codecs = match audio.first() {
            Some(a) => format!("{},{}", v.rendition.codec, a.audio.codec),
            None => v.rendition.codec.clone(),
        };
        let resolution = Some(Resolution {
            width: u64::from(v.rendition.width),
            height: u64::from(v.rendition.height),
        });
        variants.push(VariantStream {
            uri: q(format!("{}/{MEDIA_PLAYLIST}", v.rendition.name)),
            bandwidth,
            average_bandwidth: Some(average_bandwidth),
            codecs: Some(codecs),
            resolution,
            frame_rate: Some(round3(v.rendition.frame_rate.as_f64())),
            audio: separate_audio.then(|| AUDIO_GROUP.to_string()),
            subtitles: (!subtitles.is_empty()).then(|| SUBTITLE_GROUP.to_string()),
            ..Default::default()
        });
        if let Some(frames) = key_frames(v.track, &v.rendition.keyframe_ends)
            .ok()
            .filter(|_| iframes)
        {
            // TS key frames carry PES and packet overhead on top of the CMAF sample.
            let scale = |bytes: u64| match format {
                Format::Ts => ts_segment_bytes(bytes),
                _ => bytes,
            };
            let rates: Vec<SegmentSize> = frames
                .iter()
                .map(|k| SegmentSize {
                    bytes: scale(k.length),
                    seconds: k.seconds,
                })
                .collect();
            let peak = key_frame_peak(&rates);
            iframe_variants.push(VariantStream {
                is_i_frame: true,
                uri: q(format!("{}/{IFRAME_PLAYLIST}", v.rendition.name)),
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

/// Appends `query` (`name=value`, already URL-safe) to every URI a playlist holds: the
/// URI lines and the `URI="…"` attributes (`EXT-X-MAP`, `EXT-X-MEDIA`, `EXT-X-KEY`,
/// `EXT-X-I-FRAME-STREAM-INF`), after `&` when the URI has a query and `?` otherwise. The
/// edge uses it to carry a viewer's signed playback token into every request a player makes.
pub fn add_query(playlist: &str, query: &str) -> String {
    let join = |uri: &str| {
        let sep = if uri.contains('?') { '&' } else { '?' };
        format!("{uri}{sep}{query}")
    };
    let mut out = String::with_capacity(playlist.len() + query.len() * 16);
    for line in playlist.split_inclusive('\n') {
        let (body, end) = match line.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (line, ""),
        };
        if body.is_empty() {
            out.push_str(line);
            continue;
        }
        if !body.starts_with('#') {
            out.push_str(&join(body));
        } else if let Some(start) = body.find("URI=\"") {
            let from = start + 5;
            match body[from..].find('"') {
                Some(len) => {
                    out.push_str(&body[..from]);
                    out.push_str(&join(&body[from..from + len]));
                    out.push_str(&body[from + len..]);
                }
                None => out.push_str(body),
            }
        } else {
            out.push_str(body);
        }
        out.push_str(end);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_query_reaches_every_uri() {
        let text = "#EXTM3U\n#EXT-X-MAP:URI=\"init.mp4\"\n#EXT-X-KEY:METHOD=AES-128,URI=\"../keys/k.key?exp=1&sig=2\",IV=0x01\n#EXTINF:2.000,\n0.m4s\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",NAME=\"und\",URI=\"audio/und/media.m3u8\"\n720p/media.m3u8?clip=1-2\n";
        let out = add_query(text, "token=abc");
        assert_eq!(
            out,
            "#EXTM3U\n#EXT-X-MAP:URI=\"init.mp4?token=abc\"\n#EXT-X-KEY:METHOD=AES-128,URI=\"../keys/k.key?exp=1&sig=2&token=abc\",IV=0x01\n#EXTINF:2.000,\n0.m4s?token=abc\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",NAME=\"und\",URI=\"audio/und/media.m3u8?token=abc\"\n720p/media.m3u8?clip=1-2&token=abc\n"
        );
        assert_eq!(add_query("#EXTM3U\n", "token=x"), "#EXTM3U\n");
    }

    #[test]
    fn key_tags_name_the_key_by_url_or_for_clearkey_by_its_id() {
        let mut e = Encryption {
            key_uri: "../keys/k1.key?exp=1&sig=2".into(),
            clear_lead: 0,
            sample_aes: true,
            constant_iv: Some([7; 16]),
            clearkey_kid: None,
        };
        let identity = e.key_tag([1; 16]);
        assert_eq!(identity.uri.as_deref(), Some("../keys/k1.key?exp=1&sig=2"));
        assert_eq!(
            identity.keyformat, None,
            "identity is the default KEYFORMAT"
        );
        assert_eq!(identity.iv, Some(iv_attribute(&[7; 16])), "the constant IV");
        e.clearkey_kid = Some(*b"0123456789abcdef");
        let clearkey = e.key_tag([1; 16]);
        assert_eq!(clearkey.method, KeyMethod::SampleAES);
        assert_eq!(
            clearkey.uri.as_deref(),
            Some("data:text/plain;base64,MDEyMzQ1Njc4OWFiY2RlZg==")
        );
        assert_eq!(clearkey.keyformat.as_deref(), Some("org.w3.clearkey"));
        assert_eq!(clearkey.keyformatversions.as_deref(), Some("1"));
    }

    fn sizes(v: &[(u64, f64)]) -> Vec<SegmentSize> {
        v.iter()
            .map(|&(bytes, seconds)| SegmentSize { bytes, seconds })
            .collect()
    }

    #[test]
    fn bandwidth_of_separate_renditions_sums_each_ones_own_peak() {
        // The audio's busiest segment is not the video's: summing per segment first would
        // give max(1.1 MB, 0.7 MB) / 6 s, below RFC 8216's sum of peaks.
        let video = sizes(&[(1_000_000, 6.0), (500_000, 6.0)]);
        let audio = vec![sizes(&[(100_000, 6.0), (200_000, 6.0)])];
        let (peak, avg) = variant_bit_rates(&video, &audio, 6.0, false);
        assert_eq!(peak, 1_333_334 + 266_667);
        assert_eq!(avg, 1_000_000 + 200_000);
        // Muxed (TS): a segment holds both, so the combined segments are the rendition.
        let (peak, _) = variant_bit_rates(&video, &audio, 6.0, true);
        assert_eq!(peak, 1_466_667);
        // No audio: the video alone.
        assert_eq!(variant_bit_rates(&video, &[], 6.0, false).0, 1_333_334);
    }
}
