//! Manifest filtering and clipping by URL query, in the manner of MediaPackage's
//! `aws.manifestfilter` and nginx-vod: `max_height`, `min_height`, `max_bitrate`,
//! `min_bitrate`, `audio_lang`, `subs_lang`, `start`, `end`.
//!
//! `start` and `end` are seconds from the start of the video; they snap outwards to segment
//! boundaries (the clip starts at the beginning of the segment holding `start` and ends at
//! the end of the segment holding `end`), so every segment stays whole and keeps its number
//! and URL — clipped playlists reuse the same cached segments. A multivariant playlist passes
//! the clip on to the media playlists it names.

use std::fmt::Write;
use std::ops::Range;

use crate::manifest::Rendition;
use crate::segment::Segment;

/// Why a query was refused (the edge answers 400 with this text).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// A parameter's value is not what it must be.
    #[error("{name}: {reason}")]
    Invalid {
        /// The parameter.
        name: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A parameter this edge does not know.
    #[error("unknown query parameter {0:?}")]
    Unknown(String),
    /// The filter leaves nothing to play.
    #[error("the filter leaves no {0}")]
    Empty(&'static str),
}

/// A parsed filter; the default keeps everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Smallest rendition height kept.
    pub min_height: Option<u32>,
    /// Largest rendition height kept.
    pub max_height: Option<u32>,
    /// Smallest rendition bit rate kept (its measured peak, bits/s).
    pub min_bitrate: Option<u64>,
    /// Largest rendition bit rate kept.
    pub max_bitrate: Option<u64>,
    /// Audio language kept (others are left out).
    pub audio_lang: Option<String>,
    /// Subtitle language kept (`none` leaves every subtitle out).
    pub subs_lang: Option<String>,
    /// Clip start, milliseconds.
    pub start_ms: Option<u64>,
    /// Clip end, milliseconds.
    pub end_ms: Option<u64>,
    /// `keyformat=clearkey`: SAMPLE-AES fMP4 playlists name their key for EME's W3C
    /// ClearKey instead of by URL (see [`crate::playlist::Encryption::clearkey_kid`]).
    pub clearkey: bool,
}

fn number<T: std::str::FromStr>(name: &'static str, value: &str) -> Result<T, FilterError> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(FilterError::Invalid {
            name,
            reason: format!("{value:?} is not a non-negative integer"),
        });
    }
    value.parse().map_err(|_| FilterError::Invalid {
        name,
        reason: format!("{value:?} is too large"),
    })
}

fn seconds(name: &'static str, value: &str) -> Result<u64, FilterError> {
    let invalid = || FilterError::Invalid {
        name,
        reason: format!("{value:?} is not a number of seconds"),
    };
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(invalid());
    }
    let secs: f64 = value.parse().map_err(|_| invalid())?;
    if !(0.0..=1.0e7).contains(&secs) {
        return Err(invalid());
    }
    Ok((secs * 1000.0).round() as u64)
}

fn language(name: &'static str, value: &str) -> Result<String, FilterError> {
    if (2..=3).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_lowercase())
        || (name == "subs_lang" && value == "none")
    {
        Ok(value.to_string())
    } else {
        Err(FilterError::Invalid {
            name,
            reason: format!("{value:?} is not a 2- or 3-letter lowercase language code"),
        })
    }
}

impl Filter {
    /// Parses a query string (without `?`). Unknown parameters are refused, except the CMCD
    /// data players may add (`CMCD`) and an empty query.
    pub fn parse(query: &str) -> Result<Filter, FilterError> {
        let mut f = Filter::default();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            match name {
                "min_height" => f.min_height = Some(number("min_height", value)?),
                "max_height" => f.max_height = Some(number("max_height", value)?),
                "min_bitrate" => f.min_bitrate = Some(number("min_bitrate", value)?),
                "max_bitrate" => f.max_bitrate = Some(number("max_bitrate", value)?),
                "audio_lang" => f.audio_lang = Some(language("audio_lang", value)?),
                "subs_lang" => f.subs_lang = Some(language("subs_lang", value)?),
                "start" => f.start_ms = Some(seconds("start", value)?),
                "end" => f.end_ms = Some(seconds("end", value)?),
                "keyformat" => {
                    f.clearkey = match value {
                        "clearkey" => true,
                        "identity" => false,
                        _ => {
                            return Err(FilterError::Invalid {
                                name: "keyformat",
                                reason: format!("{value:?} is not clearkey or identity"),
                            })
                        }
                    }
                }
                // CMCD data players add, the key token and the signed playback token
                // (checked elsewhere).
                "CMCD" | "exp" | "sig" | "token" => {}
                other => return Err(FilterError::Unknown(other.chars().take(64).collect())),
            }
        }
        if let (Some(a), Some(b)) = (f.min_height, f.max_height) {
            if a > b {
                return Err(FilterError::Invalid {
                    name: "min_height",
                    reason: "is above max_height".into(),
                });
            }
        }
        if let (Some(a), Some(b)) = (f.min_bitrate, f.max_bitrate) {
            if a > b {
                return Err(FilterError::Invalid {
                    name: "min_bitrate",
                    reason: "is above max_bitrate".into(),
                });
            }
        }
        if let (Some(s), Some(e)) = (f.start_ms, f.end_ms) {
            if s >= e {
                return Err(FilterError::Invalid {
                    name: "start",
                    reason: "must be before end".into(),
                });
            }
        }
        Ok(f)
    }

    /// Whether the filter changes anything.
    pub fn is_empty(&self) -> bool {
        *self == Filter::default()
    }

    /// A canonical query string (fixed order), for cache keys: equal filters, equal keys.
    pub fn canonical(&self) -> String {
        let mut q = String::new();
        let mut put = |name: &str, value: Option<String>| {
            if let Some(v) = value {
                let _ = write!(q, "{}{name}={v}", if q.is_empty() { "" } else { "&" });
            }
        };
        put("min_height", self.min_height.map(|v| v.to_string()));
        put("max_height", self.max_height.map(|v| v.to_string()));
        put("min_bitrate", self.min_bitrate.map(|v| v.to_string()));
        put("max_bitrate", self.max_bitrate.map(|v| v.to_string()));
        put("audio_lang", self.audio_lang.clone());
        put("subs_lang", self.subs_lang.clone());
        put("start", self.start_ms.map(ms_text));
        put("end", self.end_ms.map(ms_text));
        put("keyformat", self.clearkey.then(|| "clearkey".to_string()));
        q
    }

    /// The part a multivariant playlist passes on to its media playlists (the clip, and the
    /// key format their key tags take).
    pub fn clip_query(&self) -> String {
        Filter {
            start_ms: self.start_ms,
            end_ms: self.end_ms,
            clearkey: self.clearkey,
            ..Filter::default()
        }
        .canonical()
    }

    /// Whether a video rendition passes the height and bit rate bounds.
    pub fn keeps_rendition(&self, r: &Rendition) -> bool {
        self.min_height.is_none_or(|h| r.height >= h)
            && self.max_height.is_none_or(|h| r.height <= h)
            && self.min_bitrate.is_none_or(|b| r.peak_bit_rate >= b)
            && self.max_bitrate.is_none_or(|b| r.peak_bit_rate <= b)
    }

    /// Whether an audio track in `lang` is kept.
    pub fn keeps_audio(&self, lang: &str) -> bool {
        self.audio_lang.as_deref().is_none_or(|l| l == lang)
    }

    /// Whether a subtitle track in `lang` is kept.
    pub fn keeps_subtitles(&self, lang: &str) -> bool {
        self.subs_lang.as_deref().is_none_or(|l| l == lang)
    }

    /// The segments (indexes into `segments`) the clip keeps, snapped outwards to whole
    /// segments; the whole track without a clip. Fails when the clip misses the video.
    pub fn clip(&self, segments: &[Segment], timescale: u32) -> Result<Range<usize>, FilterError> {
        if self.start_ms.is_none() && self.end_ms.is_none() {
            return Ok(0..segments.len());
        }
        let origin = segments.first().map_or(0, |s| s.start);
        let ms = |t: u64| (u128::from(t - origin) * 1000 / u128::from(timescale.max(1))) as u64;
        let start = self.start_ms.unwrap_or(0);
        let end = self.end_ms.unwrap_or(u64::MAX);
        let first = segments
            .iter()
            .position(|s| ms(s.start + s.duration) > start);
        let last = segments.iter().rposition(|s| ms(s.start) < end);
        match (first, last) {
            (Some(a), Some(b)) if a <= b => Ok(a..b + 1),
            _ => Err(FilterError::Empty("segment in the clip")),
        }
    }
}

fn ms_text(ms: u64) -> String {
    if ms.is_multiple_of(1000) {
        (ms / 1000).to_string()
    } else {
        format!("{}.{:03}", ms / 1000, ms % 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segments(n: u32, secs: u64) -> Vec<Segment> {
        (0..n)
            .map(|i| Segment {
                number: i,
                fragments: 0..0,
                bytes: 0..0,
                start: u64::from(i) * secs * 1000,
                duration: secs * 1000,
            })
            .collect()
    }

    #[test]
    fn parses_and_canonicalises() {
        let f = Filter::parse("end=30&max_height=720&audio_lang=en&start=7.5&CMCD=x").unwrap();
        assert_eq!(f.max_height, Some(720));
        assert_eq!(f.start_ms, Some(7500));
        assert_eq!(
            f.canonical(),
            "max_height=720&audio_lang=en&start=7.500&end=30"
        );
        assert_eq!(f.clip_query(), "start=7.500&end=30");
        assert!(Filter::parse("").unwrap().is_empty());
        // The key format is passed on with the clip; `identity` is the default.
        let f = Filter::parse("keyformat=clearkey&max_height=480&exp=1&sig=2").unwrap();
        assert!(f.clearkey);
        assert_eq!(f.canonical(), "max_height=480&keyformat=clearkey");
        assert_eq!(f.clip_query(), "keyformat=clearkey");
        assert!(Filter::parse("keyformat=identity").unwrap().is_empty());
    }

    #[test]
    fn bad_values_say_why() {
        for (q, needle) in [
            ("max_height=abc", "max_height"),
            ("max_height=-1", "max_height"),
            ("min_height=800&max_height=400", "min_height"),
            ("start=10&end=5", "start"),
            ("start=1e3", "start"),
            ("audio_lang=English", "audio_lang"),
            ("keyformat=com.apple.streamingkeydelivery", "keyformat"),
            ("bogus=1", "bogus"),
            ("max_bitrate=99999999999999999999999", "max_bitrate"),
        ] {
            let e = Filter::parse(q).unwrap_err().to_string();
            assert!(e.contains(needle), "{q}: {e}");
        }
    }

    #[test]
    fn clips_snap_outwards_to_segments() {
        let s = segments(10, 6);
        let f = |q: &str| Filter::parse(q).unwrap();
        assert_eq!(f("").clip(&s, 1000).unwrap(), 0..10);
        assert_eq!(f("start=7&end=20").clip(&s, 1000).unwrap(), 1..4);
        assert_eq!(f("start=6&end=12").clip(&s, 1000).unwrap(), 1..2);
        assert_eq!(f("start=59").clip(&s, 1000).unwrap(), 9..10);
        assert_eq!(f("end=0.5").clip(&s, 1000).unwrap(), 0..1);
        assert!(f("start=60").clip(&s, 1000).is_err());
    }
}
