//! MPEG-DASH: the static MPD of a video, over the same CMAF tracks, init segments and media
//! segments as HLS fMP4 (`{track}/init.mp4`, `{track}/{n}.m4s`), so one cached segment
//! serves both protocols.
//!
//! One Period; one AdaptationSet per media type (video; each audio language; each subtitle
//! language as a sidecar WebVTT file). Every Representation has a `SegmentTemplate` with
//! `$Number$` and a `SegmentTimeline` (segment durations vary at the end and at scene-cut
//! fragments), `startNumber` the first segment kept and `presentationTimeOffset` its start,
//! so a clip's MPD starts at 0 like its HLS playlists. `@bandwidth` is the representation's
//! peak segment bit rate (the same figure HLS builds `BANDWIDTH` from), `@codecs` the RFC 6381
//! string read from the track.
//!
//! Trick play (DASH-IF IOP 3.2.9): an AdaptationSet marked with the `trickmode`
//! `EssentialProperty` pointing at the video set, one Representation per rendition whose
//! segments are its key frames as resources of their own (`{rendition}/iframes/$Number$.m4s`,
//! numbered by fragment; [`crate::iframe`]), the same pictures HLS's I-frame playlists name.
//!
//! Protected MPDs (`cenc` or `cbcs`, [`crate::cenc`]) put on each video AdaptationSet the
//! `mp4protection` descriptor with `cenc:default_KID` (the key id of the `tenc` boxes and of
//! the init segment's common `pssh`) and DASH-IF's ClearKey descriptor with the licence URL.
//! Players build ClearKey's `keyids` request from the default key id. No `cenc:pssh` is
//! written: dash.js hands any it finds to EME as `keyids` data, which EME refuses.

use std::fmt::Write as _;

use crate::bandwidth::{peak_bit_rate, SegmentSize};
use crate::cenc::Scheme;
use crate::playlist::{
    key_frame_peak, key_frames, AudioRendition, SegmentedTrack, SubtitleRendition, VideoVariant,
};
use crate::route::{AUDIO_DIR, IFRAMES_DIR, INIT, SEGMENT_EXT, SUBS_DIR, VTT_EXT};

/// The scheme of DASH-IF's trick-mode property: its value is the id of the AdaptationSet
/// whose pictures the trick-play set holds.
pub const TRICKMODE_SCHEME: &str = "http://dashif.org/guidelines/trickmode";

/// The profiles the MPD conforms to: DASH's live profile (SegmentTemplate) and CMAF.
pub const PROFILES: &str = "urn:mpeg:dash:profile:isoff-live:2011,urn:mpeg:dash:profile:cmaf:2019";

/// How an MPD's video is protected: the scheme, the key id its `tenc` boxes carry, and the
/// ClearKey licence URL (absolute, with its token), if the MPD is to name it.
#[derive(Debug, Clone, Copy)]
pub struct DashProtection<'a> {
    /// `cenc` or `cbcs`.
    pub scheme: Scheme,
    /// The key id.
    pub kid: [u8; 16],
    /// Where the ClearKey licence is asked for. Players resolve it against their page, not
    /// the MPD: only an absolute URL is of use, and without one the player is configured.
    pub licence: Option<&'a str>,
}

/// DASH-IF's ClearKey system id, as a `ContentProtection` scheme.
const CLEARKEY_SCHEME: &str = "urn:uuid:e2719d58-a985-b3c9-781a-b030af78d30e";
/// The namespaces protected MPDs use (`cenc:`, DASH-IF's `clearkey:` and `dashif:`).
const PROTECTION_NAMESPACES: &str = " xmlns:cenc=\"urn:mpeg:cenc:2013\" \
     xmlns:clearkey=\"http://dashif.org/guidelines/clearKey\" xmlns:dashif=\"https://dashif.org/CPS\"";

/// A key id as a UUID (`8-4-4-4-12` lowercase hex), as `cenc:default_KID` writes it.
fn uuid(kid: &[u8; 16]) -> String {
    let hex: String = kid.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// The `ContentProtection` descriptors of a protected AdaptationSet.
fn content_protection(out: &mut String, p: &DashProtection<'_>) {
    let _ = write!(
        out,
        "<ContentProtection schemeIdUri=\"urn:mpeg:dash:mp4protection:2011\" value=\"{}\" cenc:default_KID=\"{}\"/>\
         <ContentProtection schemeIdUri=\"{CLEARKEY_SCHEME}\" value=\"ClearKey1.0\"",
        p.scheme.name(),
        uuid(&p.kid),
    );
    match p.licence {
        Some(url) => {
            let url = attr(url);
            let _ = write!(
                out,
                "><clearkey:Laurl Lic_type=\"EME-1.0\">{url}</clearkey:Laurl>\
                 <dashif:Laurl>{url}</dashif:Laurl></ContentProtection>"
            );
        }
        None => out.push_str("/>"),
    }
}

/// `Content-Type` of an MPD.
pub const CONTENT_TYPE: &str = "application/dash+xml";

/// Escapes text for an XML attribute value.
fn attr(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// An ISO 8601 duration of `secs` seconds, to the millisecond (`PT12.345S`).
fn duration(secs: f64) -> String {
    let ms = (secs.max(0.0) * 1000.0).round() as u64;
    format!("PT{}.{:03}S", ms / 1000, ms % 1000)
}

/// `uri` with `query` appended (none when it is empty).
fn with_query(uri: &str, query: &str) -> String {
    if query.is_empty() {
        uri.to_string()
    } else {
        format!("{uri}?{query}")
    }
}

/// One entry of a `SegmentTimeline`: a segment's start and duration, in the timescale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    start: u64,
    duration: u64,
}

/// The `SegmentTimeline` of `spans`: runs of equal, contiguous durations as one `S` with a
/// repeat count; `@t` only where the timeline starts or jumps (an `S` without it starts where
/// the previous one ended), so a long title's audio, whose AAC-aligned segments alternate
/// two durations, costs a few bytes per segment.
fn timeline(out: &mut String, spans: &[Span]) {
    out.push_str("<SegmentTimeline>");
    let mut i = 0;
    let mut end: Option<u64> = None;
    while i < spans.len() {
        let first = &spans[i];
        let mut repeat = 0;
        while let Some(next) = spans.get(i + repeat + 1) {
            let prev = &spans[i + repeat];
            if next.duration != first.duration || next.start != prev.start + prev.duration {
                break;
            }
            repeat += 1;
        }
        if end == Some(first.start) {
            let _ = write!(out, "<S d=\"{}\"", first.duration);
        } else {
            let _ = write!(out, "<S t=\"{}\" d=\"{}\"", first.start, first.duration);
        }
        if repeat > 0 {
            let _ = write!(out, " r=\"{repeat}\"");
        }
        out.push_str("/>");
        let last = &spans[i + repeat];
        end = Some(last.start + last.duration);
        i += repeat + 1;
    }
    out.push_str("</SegmentTimeline>");
}

/// The `SegmentTemplate` of a track in folder `dir`.
fn template(out: &mut String, dir: &str, track: SegmentedTrack<'_>, query: &str) {
    let spans: Vec<Span> = track
        .segments
        .iter()
        .map(|s| Span {
            start: s.start,
            duration: s.duration,
        })
        .collect();
    let first = track.segments.first().map_or(0, |s| u64::from(s.number));
    let media = format!("{dir}/$Number${SEGMENT_EXT}");
    template_of(
        out,
        &format!("{dir}/{INIT}"),
        &media,
        track,
        first,
        &spans,
        query,
    );
}

/// A `SegmentTemplate` naming `init` and `media`, its numbers from `first`.
fn template_of(
    out: &mut String,
    init: &str,
    media: &str,
    track: SegmentedTrack<'_>,
    first: u64,
    spans: &[Span],
    query: &str,
) {
    let _ = write!(
        out,
        "<SegmentTemplate timescale=\"{}\" initialization=\"{}\" media=\"{}\" startNumber=\"{first}\" presentationTimeOffset=\"{}\">",
        track.index.timescale,
        attr(&with_query(init, query)),
        attr(&with_query(media, query)),
        spans.first().map_or(0, |s| s.start),
    );
    timeline(out, spans);
    out.push_str("</SegmentTemplate>");
}

/// The trick-play AdaptationSet `set_id` of the video set `main_id`: for each rendition with
/// usable key frames, a Representation of its key frames over the segments kept (nothing
/// when no rendition has any).
fn trick_play(
    out: &mut String,
    set_id: u32,
    main_id: u32,
    video: &[VideoVariant<'_>],
    query: &str,
    protection: Option<&DashProtection<'_>>,
) -> bool {
    let mut body = String::new();
    for v in video {
        let Ok(frames) = key_frames(v.track, &v.rendition.keyframe_ends) else {
            continue;
        };
        if frames.is_empty() {
            continue;
        }
        let index = v.track.index;
        let spans: Vec<Span> = frames
            .iter()
            .filter_map(|k| index.fragments.get(k.fragment as usize))
            .map(|f| Span {
                start: f.time,
                duration: u64::from(f.duration),
            })
            .collect();
        let sizes: Vec<SegmentSize> = frames
            .iter()
            .map(|k| SegmentSize {
                bytes: k.length,
                seconds: k.seconds,
            })
            .collect();
        // Shown at the rendition's frame rate, one key frame per fragment is this many
        // times normal speed.
        let fps =
            f64::from(v.rendition.frame_rate.num) / f64::from(v.rendition.frame_rate.den.max(1));
        let longest = frames.iter().map(|k| k.seconds).fold(0.0, f64::max);
        let rate = (longest * fps).round().max(1.0) as u64;
        let r = v.rendition;
        let _ = write!(
            body,
            "<Representation id=\"{}-trick\" bandwidth=\"{}\" codecs=\"{}\" width=\"{}\" height=\"{}\" \
             sar=\"1:1\" maxPlayoutRate=\"{rate}\" codingDependency=\"false\">",
            attr(&r.name),
            key_frame_peak(&sizes).max(1),
            attr(&index.codec),
            r.width,
            r.height,
        );
        let media = format!("{}/{IFRAMES_DIR}/$Number${SEGMENT_EXT}", r.name);
        let first = frames.first().map_or(0, |k| k.fragment);
        template_of(
            &mut body,
            &format!("{}/{INIT}", r.name),
            &media,
            v.track,
            first,
            &spans,
            query,
        );
        body.push_str("</Representation>\n");
    }
    if body.is_empty() {
        return false;
    }
    let _ = writeln!(
        out,
        "<AdaptationSet id=\"{set_id}\" contentType=\"video\" mimeType=\"video/mp4\" \
         segmentAlignment=\"true\" startWithSAP=\"1\">"
    );
    if let Some(p) = protection {
        content_protection(out, p);
    }
    let _ = writeln!(
        out,
        "<EssentialProperty schemeIdUri=\"{TRICKMODE_SCHEME}\" value=\"{main_id}\"/>"
    );
    out.push_str(&body);
    out.push_str("</AdaptationSet>\n");
    true
}

/// A representation's `@bandwidth`: its peak segment bit rate over windows of 0.5–1.5 ×
/// `target` seconds.
fn bandwidth(track: SegmentedTrack<'_>, target: f64) -> u64 {
    peak_bit_rate(&track.sizes(), target).max(1)
}

/// The frame rate as DASH writes it (`30` or `30000/1001`).
fn frame_rate(num: u32, den: u32) -> String {
    if den == 1 || den == 0 {
        num.to_string()
    } else {
        format!("{num}/{den}")
    }
}

/// The static MPD of `video` renditions (highest first), `audio` tracks and `subtitles`
/// (`subtitle_sizes`: each one's pieces on the video's segments, for its `@bandwidth`).
/// `query` (a playback token) is carried by every URL the MPD names;
/// `subtitles_fit` is false for a clip that does not start at the video's start (the
/// sidecar WebVTT files keep the video's own times, which would not line up): the MPD then
/// names none. With `protection`, the video (trick play too) is protected as it says.
pub fn mpd(
    video: &[VideoVariant<'_>],
    audio: &[AudioRendition<'_>],
    subtitles: &[SubtitleRendition],
    subtitle_sizes: &[Vec<SegmentSize>],
    query: &str,
    subtitles_fit: bool,
    protection: Option<&DashProtection<'_>>,
) -> String {
    let target = video
        .iter()
        .map(|v| v.track.target_duration())
        .max()
        .unwrap_or(1) as f64;
    let length = video
        .first()
        .map(|v| {
            let ts = f64::from(v.track.index.timescale.max(1));
            v.track.segments.iter().map(|s| s.duration).sum::<u64>() as f64 / ts
        })
        .unwrap_or(0.0);
    let mut out = String::with_capacity(2048);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = write!(
        out,
        "<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\"{} profiles=\"{PROFILES}\" type=\"static\" \
         mediaPresentationDuration=\"{}\" minBufferTime=\"{}\">\n<Period id=\"0\" start=\"PT0S\">\n",
        if protection.is_some() {
            PROTECTION_NAMESPACES
        } else {
            ""
        },
        duration(length),
        duration(target),
    );
    let mut set_id = 0;
    if !video.is_empty() {
        let max_width = video.iter().map(|v| v.rendition.width).max().unwrap_or(0);
        let max_height = video.iter().map(|v| v.rendition.height).max().unwrap_or(0);
        let _ = writeln!(
            out,
            "<AdaptationSet id=\"{set_id}\" contentType=\"video\" mimeType=\"video/mp4\" \
             segmentAlignment=\"true\" startWithSAP=\"1\" maxWidth=\"{max_width}\" maxHeight=\"{max_height}\">"
        );
        if let Some(p) = protection {
            content_protection(&mut out, p);
            out.push('\n');
        }
        set_id += 1;
        for v in video {
            let r = v.rendition;
            let _ = write!(
                out,
                "<Representation id=\"{}\" bandwidth=\"{}\" codecs=\"{}\" width=\"{}\" height=\"{}\" \
                 frameRate=\"{}\" sar=\"1:1\">",
                attr(&r.name),
                bandwidth(v.track, target),
                attr(&v.track.index.codec),
                r.width,
                r.height,
                frame_rate(r.frame_rate.num, r.frame_rate.den),
            );
            template(&mut out, &r.name, v.track, query);
            out.push_str("</Representation>\n");
        }
        out.push_str("</AdaptationSet>\n");
        if trick_play(&mut out, set_id, set_id - 1, video, query, protection) {
            set_id += 1;
        }
    }
    for (i, a) in audio.iter().enumerate() {
        let t = a.audio;
        let role = if i == 0 { "main" } else { "alternate" };
        let _ = write!(
            out,
            "<AdaptationSet id=\"{set_id}\" contentType=\"audio\" mimeType=\"audio/mp4\" lang=\"{}\" \
             segmentAlignment=\"true\" startWithSAP=\"1\">\
             <Role schemeIdUri=\"urn:mpeg:dash:role:2011\" value=\"{role}\"/>\n\
             <Representation id=\"audio-{}\" bandwidth=\"{}\" codecs=\"{}\" audioSamplingRate=\"{}\">\
             <AudioChannelConfiguration schemeIdUri=\"urn:mpeg:dash:23003:3:audio_channel_configuration:2011\" value=\"{}\"/>",
            attr(&t.language),
            attr(&t.name),
            bandwidth(a.track, target),
            attr(&a.track.index.codec),
            t.sample_rate,
            t.channels,
        );
        set_id += 1;
        template(&mut out, &format!("{AUDIO_DIR}/{}", t.name), a.track, query);
        out.push_str("</Representation>\n</AdaptationSet>\n");
    }
    if subtitles_fit {
        for (i, s) in subtitles.iter().enumerate() {
            let rate = subtitle_sizes
                .get(i)
                .map_or(0, |sizes| peak_bit_rate(sizes, target))
                .max(1);
            let _ = write!(
                out,
                "<AdaptationSet id=\"{set_id}\" contentType=\"text\" mimeType=\"text/vtt\" lang=\"{}\">\
                 <Role schemeIdUri=\"urn:mpeg:dash:role:2011\" value=\"subtitle\"/>\n\
                 <Representation id=\"subs-{}\" bandwidth=\"{rate}\"><BaseURL>{}</BaseURL></Representation>\n\
                 </AdaptationSet>\n",
                attr(&s.language),
                attr(&s.language),
                attr(&with_query(&format!("{SUBS_DIR}/{}{VTT_EXT}", s.language), query)),
            );
            set_id += 1;
        }
    }
    out.push_str("</Period>\n</MPD>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(start: u64, duration: u64) -> Span {
        Span { start, duration }
    }

    #[test]
    fn a_timeline_runs_equal_contiguous_durations_together() {
        let mut out = String::new();
        let segments = [
            seg(3000, 1000),
            seg(4000, 1000),
            seg(5000, 1000),
            seg(6000, 400),
            // A gap: the next `S` says where it starts.
            seg(7000, 400),
        ];
        timeline(&mut out, &segments);
        assert_eq!(
            out,
            "<SegmentTimeline><S t=\"3000\" d=\"1000\" r=\"2\"/><S d=\"400\"/><S t=\"7000\" d=\"400\"/></SegmentTimeline>"
        );
    }

    #[test]
    fn durations_and_attributes_are_written_as_xml_wants_them() {
        assert_eq!(duration(12.3456), "PT12.346S");
        assert_eq!(duration(0.0), "PT0.000S");
        assert_eq!(attr("a&b=\"c\"<"), "a&amp;b=&quot;c&quot;&lt;");
        assert_eq!(with_query("720p/init.mp4", ""), "720p/init.mp4");
        assert_eq!(
            with_query("720p/init.mp4", "start=1&end=2"),
            "720p/init.mp4?start=1&end=2"
        );
        assert_eq!(frame_rate(30000, 1001), "30000/1001");
        assert_eq!(frame_rate(25, 1), "25");
        assert_eq!(
            uuid(&[
                0x10, 0x77, 0xef, 0xec, 0xc0, 0xb2, 0x4d, 0x02, 0xac, 0xe3, 0x3c, 0x1e, 0x52, 0xe2,
                0xfb, 0x4b
            ]),
            "1077efec-c0b2-4d02-ace3-3c1e52e2fb4b"
        );
    }
}
