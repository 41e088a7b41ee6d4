//! WebVTT subtitles for HLS: a strict-enough parser (so a damaged file is refused, not
//! half-served) and the segmenter that cuts cues on the video's segment boundaries, each
//! piece with an `X-TIMESTAMP-MAP` anchoring cue time 0 to the media's time 0. A cue that
//! crosses a boundary is repeated in both pieces (RFC 8216 §3.5).

use std::fmt::Write;

/// Why a WebVTT file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VttError {
    /// The file does not start with the `WEBVTT` signature.
    #[error("not WebVTT: the file must start with WEBVTT")]
    Signature,
    /// A timing line is malformed.
    #[error("line {line}: bad cue timing {text:?}")]
    Timing {
        /// 1-based line number.
        line: usize,
        /// The offending line.
        text: String,
    },
    /// A cue ends before it starts.
    #[error("line {line}: cue ends before it starts")]
    Backwards {
        /// 1-based line number.
        line: usize,
    },
    /// More cues than any subtitle file has.
    #[error("more than {0} cues")]
    TooMany(usize),
}

/// Upper bound on cues in a file (a feature film has a few thousand).
pub const MAX_CUES: usize = 200_000;

/// One cue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cue {
    /// Optional identifier line.
    pub id: Option<String>,
    /// Start, milliseconds from media time 0.
    pub start_ms: u64,
    /// End, milliseconds.
    pub end_ms: u64,
    /// Cue settings after the timing (`align:start line:0%`), as written.
    pub settings: String,
    /// The cue text (may span lines).
    pub text: String,
}

/// A parsed WebVTT file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Vtt {
    /// Cues in file order.
    pub cues: Vec<Cue>,
}

/// Parses `hh:mm:ss.ttt` or `mm:ss.ttt` into milliseconds.
fn timestamp(s: &str) -> Option<u64> {
    let (clock, frac) = s.split_once('.')?;
    if frac.len() != 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let parts: Vec<&str> = clock.split(':').collect();
    let num = |p: &str, max: Option<u64>| -> Option<u64> {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || p.len() > 10 {
            return None;
        }
        let v: u64 = p.parse().ok()?;
        max.is_none_or(|m| v <= m).then_some(v)
    };
    let (h, m, sec) = match parts.as_slice() {
        [h, m, s] if m.len() == 2 && s.len() == 2 => {
            (num(h, None)?, num(m, Some(59))?, num(s, Some(59))?)
        }
        [m, s] if m.len() == 2 && s.len() == 2 => (0, num(m, Some(59))?, num(s, Some(59))?),
        _ => return None,
    };
    Some(((h * 60 + m) * 60 + sec) * 1000 + frac.parse::<u64>().ok()?)
}

/// A WebVTT timestamp (`hh:mm:ss.ttt`) of `ms` milliseconds.
pub fn format_timestamp(ms: u64) -> String {
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

/// Parses a WebVTT file. Regions, styles and notes are skipped; cue text is kept as written.
pub fn parse(text: &str) -> Result<Vtt, VttError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.lines().enumerate().peekable();
    match lines.next() {
        Some((_, first))
            if first == "WEBVTT"
                || first.starts_with("WEBVTT ")
                || first.starts_with("WEBVTT\t") => {}
        _ => return Err(VttError::Signature),
    }
    let mut cues = Vec::new();
    // Skip the rest of the header block.
    while lines.peek().is_some_and(|(_, l)| !l.trim().is_empty()) {
        lines.next();
    }
    loop {
        while lines.peek().is_some_and(|(_, l)| l.trim().is_empty()) {
            lines.next();
        }
        let Some((n, first)) = lines.next() else {
            break;
        };
        let mut block = vec![(n, first)];
        while let Some((n, l)) = lines.peek().copied() {
            if l.trim().is_empty() {
                break;
            }
            block.push((n, l));
            lines.next();
        }
        if first.starts_with("NOTE") || first == "STYLE" || first == "REGION" {
            continue;
        }
        let (id, timing_at) = if block[0].1.contains("-->") {
            (None, 0)
        } else {
            (Some(block[0].1.to_string()), 1)
        };
        let Some(&(line, timing)) = block.get(timing_at) else {
            return Err(VttError::Timing {
                line: n + 1,
                text: first.to_string(),
            });
        };
        let bad = || VttError::Timing {
            line: line + 1,
            text: timing.to_string(),
        };
        let (start, rest) = timing.split_once("-->").ok_or_else(bad)?;
        let rest = rest.trim_start();
        let (end, settings) = rest
            .split_once([' ', '\t'])
            .map_or((rest, ""), |(e, s)| (e, s.trim()));
        let start_ms = timestamp(start.trim()).ok_or_else(bad)?;
        let end_ms = timestamp(end.trim()).ok_or_else(bad)?;
        if end_ms < start_ms {
            return Err(VttError::Backwards { line: line + 1 });
        }
        if cues.len() >= MAX_CUES {
            return Err(VttError::TooMany(MAX_CUES));
        }
        cues.push(Cue {
            id,
            start_ms,
            end_ms,
            settings: settings.to_string(),
            text: block[timing_at + 1..]
                .iter()
                .map(|(_, l)| *l)
                .collect::<Vec<_>>()
                .join("\n"),
        });
    }
    Ok(Vtt { cues })
}

/// The piece of `vtt` for the segment spanning `start_ms..end_ms`: every cue that overlaps
/// it, behind `X-TIMESTAMP-MAP=MPEGTS:{mpegts},LOCAL:00:00:00.000` (`mpegts` is the media's
/// time 0 in 90 kHz units: 0 for fMP4, the TS time offset for MPEG-TS).
pub fn segment(vtt: &Vtt, start_ms: u64, end_ms: u64, mpegts: u64) -> String {
    let mut out = format!("WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:{mpegts},LOCAL:00:00:00.000\n");
    for cue in vtt
        .cues
        .iter()
        .filter(|c| c.start_ms < end_ms && c.end_ms > start_ms)
    {
        out.push('\n');
        if let Some(id) = &cue.id {
            let _ = writeln!(out, "{id}");
        }
        let _ = write!(
            out,
            "{} --> {}",
            format_timestamp(cue.start_ms),
            format_timestamp(cue.end_ms)
        );
        if !cue.settings.is_empty() {
            let _ = write!(out, " {}", cue.settings);
        }
        let _ = writeln!(out, "\n{}", cue.text);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\u{feff}WEBVTT - a title\nKind: captions\n\nNOTE a note\nthat spans\n\n1\n00:00:01.000 --> 00:00:04.500 align:start\nHello\nworld\n\n00:05.000 --> 00:07.000\nSecond\n\n00:00:05.500 --> 00:00:13.000\nCrossing\n";

    #[test]
    fn parses_cues_with_ids_settings_and_short_timestamps() {
        let v = parse(SAMPLE).unwrap();
        assert_eq!(v.cues.len(), 3);
        assert_eq!(v.cues[0].id.as_deref(), Some("1"));
        assert_eq!((v.cues[0].start_ms, v.cues[0].end_ms), (1000, 4500));
        assert_eq!(v.cues[0].settings, "align:start");
        assert_eq!(v.cues[0].text, "Hello\nworld");
        assert_eq!((v.cues[1].start_ms, v.cues[1].end_ms), (5000, 7000));
    }

    #[test]
    fn segments_repeat_crossing_cues_and_carry_the_map() {
        let v = parse(SAMPLE).unwrap();
        let first = segment(&v, 0, 6000, 900_000);
        assert!(first.starts_with("WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:900000,LOCAL:00:00:00.000\n"));
        assert!(first.contains("00:00:01.000 --> 00:00:04.500 align:start\nHello\nworld"));
        assert!(first.contains("Crossing"));
        let second = segment(&v, 6000, 12_000, 0);
        assert!(second.contains("Second") && second.contains("Crossing"));
        assert!(!second.contains("Hello"));
        let third = segment(&v, 12_000, 18_000, 0);
        assert!(third.contains("Crossing") && !third.contains("Second"));
        // Every piece parses back.
        for piece in [first, second, third] {
            parse(&piece).unwrap();
        }
    }

    #[test]
    fn damaged_files_are_refused() {
        for bad in [
            "",
            "WEBVTX\n",
            "WEBVTT\n\n00:01.000 -> 00:02.000\nx\n",
            "WEBVTT\n\n00:01.000 --> 00:00.500\nx\n",
            "WEBVTT\n\n00:61.000 --> 00:62.000\nx\n",
            "WEBVTT\n\n1:00.000 --> 1:01.000\nx\n",
            "WEBVTT\n\nan id only\n",
            "WEBVTT\n\n00:01.00 --> 00:02.000\nx\n",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse("WEBVTT\n").unwrap().cues.len(), 0);
    }
}
