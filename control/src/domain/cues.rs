//! Readable cues from a transcript: at most [`MAX_LINES`] lines of at most [`MAX_LINE_CHARS`]
//! characters, each cue on screen [`MIN_CUE_SECS`]–[`MAX_CUE_SECS`] (the usual subtitle
//! guidelines: BBC, Netflix's timed-text style guide), written as WebVTT.
//!
//! Speech-to-text segments are a phrase or a sentence with a start and an end; long ones are
//! cut at word boundaries into cues, each given a share of the segment's time proportional to
//! its characters.

use std::fmt::Write;

/// A stretch of speech.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// Start, seconds from the video's start.
    pub start: f64,
    /// End, seconds.
    pub end: f64,
    /// What was said.
    pub text: String,
}

/// What a transcriber heard.
#[derive(Debug, Clone, PartialEq)]
pub struct Transcript {
    /// The language spoken: an ISO 639-1 code (`en`), the name of the captions file.
    pub language: String,
    /// Speech, in order.
    pub segments: Vec<Segment>,
}

/// Characters a caption line holds at most.
pub const MAX_LINE_CHARS: usize = 42;
/// Lines a cue holds at most.
pub const MAX_LINES: usize = 2;
/// Shortest time a cue stays on screen (unless the next cue or the video's end comes first).
pub const MIN_CUE_SECS: f64 = 1.0;
/// Longest time a cue stays on screen.
pub const MAX_CUE_SECS: f64 = 7.0;

/// One caption cue.
#[derive(Debug, Clone, PartialEq)]
pub struct Cue {
    /// Start, seconds.
    pub start: f64,
    /// End, seconds.
    pub end: f64,
    /// Its lines.
    pub lines: Vec<String>,
}

/// Greedy word wrap into lines of at most [`MAX_LINE_CHARS`] characters (a longer word is
/// cut).
fn wrap(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let mut word = word.to_string();
        while word.chars().count() > MAX_LINE_CHARS {
            let head: String = word.chars().take(MAX_LINE_CHARS).collect();
            word = word.chars().skip(MAX_LINE_CHARS).collect();
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            lines.push(head);
        }
        let needed = line.chars().count() + usize::from(!line.is_empty()) + word.chars().count();
        if needed > MAX_LINE_CHARS && !line.is_empty() {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// Cuts one segment into cues of at most [`MAX_LINES`] lines, sharing its time by characters.
/// The words of `text` cut into the fewest cues of at most [`MAX_LINES`] wrapped lines, the
/// cues balanced by characters (no one-word cue after a full one).
fn balanced_groups(text: &str) -> Vec<Vec<String>> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let total: usize = words.iter().map(|w| w.chars().count() + 1).sum();
    let mut cues = wrap(text).len().div_ceil(MAX_LINES).max(1);
    loop {
        let target = total.div_ceil(cues);
        let mut groups: Vec<Vec<String>> = Vec::with_capacity(cues);
        let mut current: Vec<&str> = Vec::new();
        let mut chars = 0;
        for (i, w) in words.iter().enumerate() {
            let len = w.chars().count() + 1;
            let left = words.len() - i;
            let cues_left = cues - groups.len();
            // Close this cue once it reaches its share, keeping a word for every cue left.
            if !current.is_empty()
                && chars + len / 2 > target
                && cues_left > 1
                && left >= cues_left - 1
            {
                groups.push(wrap(&current.join(" ")));
                current.clear();
                chars = 0;
            }
            current.push(w);
            chars += len;
        }
        if !current.is_empty() {
            groups.push(wrap(&current.join(" ")));
        }
        if groups.iter().all(|g| g.len() <= MAX_LINES) || cues >= words.len().max(1) {
            // A word longer than two lines is already cut by `wrap`; give up balancing it.
            return groups
                .into_iter()
                .flat_map(|g| {
                    g.chunks(MAX_LINES)
                        .map(<[String]>::to_vec)
                        .collect::<Vec<_>>()
                })
                .collect();
        }
        cues += 1;
    }
}

fn segment_cues(s: &Segment) -> Vec<Cue> {
    let groups = balanced_groups(&s.text);
    let total: usize = groups
        .iter()
        .map(|g| g.iter().map(|l| l.chars().count()).sum::<usize>())
        .sum();
    let span = (s.end - s.start).max(0.0);
    let mut at = s.start;
    groups
        .into_iter()
        .map(|g| {
            let chars: usize = g.iter().map(|l| l.chars().count()).sum();
            let share = if total == 0 {
                0.0
            } else {
                span * chars as f64 / total as f64
            };
            let cue = Cue {
                start: at,
                end: at + share,
                lines: g,
            };
            at += share;
            cue
        })
        .collect()
}

/// Shapes `transcript` into readable cues inside `0..duration` seconds.
pub fn shape(transcript: &Transcript, duration: f64) -> Vec<Cue> {
    let mut cues: Vec<Cue> = transcript
        .segments
        .iter()
        .filter(|s| !s.text.trim().is_empty() && s.start.is_finite() && s.end.is_finite())
        .flat_map(segment_cues)
        .collect();
    cues.sort_by(|a, b| a.start.total_cmp(&b.start));
    // Timing: no overlap, on screen at least MIN (where there is room) and at most MAX.
    let duration = if duration.is_finite() && duration > 0.0 {
        duration
    } else {
        f64::MAX
    };
    for i in 0..cues.len() {
        let next_start = cues.get(i + 1).map_or(duration, |c| c.start.min(duration));
        let cue = &mut cues[i];
        cue.start = cue.start.clamp(0.0, duration);
        let wanted = cue.end.max(cue.start + MIN_CUE_SECS);
        let limit = next_start.max(cue.start);
        cue.end = wanted.min(cue.start + MAX_CUE_SECS).min(limit);
        if cue.end - cue.start < MIN_CUE_SECS {
            // Not enough room before the next cue: let the next one start a little later.
            let end = (cue.start + MIN_CUE_SECS).min(duration);
            if let Some(next) = cues.get_mut(i + 1) {
                if next.start < end {
                    next.start = end.min(next.end.max(end));
                }
            }
            cues[i].end = end;
        }
    }
    cues.retain(|c| c.end > c.start);
    cues
}

fn timestamp(out: &mut String, secs: f64) {
    let ms = (secs.max(0.0) * 1000.0).round() as u64;
    let _ = write!(
        out,
        "{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    );
}

/// WebVTT text of `cues`.
pub fn to_webvtt(cues: &[Cue]) -> String {
    let mut out = String::from("WEBVTT\n\n");
    for (i, cue) in cues.iter().enumerate() {
        let _ = writeln!(out, "{}", i + 1);
        timestamp(&mut out, cue.start);
        out.push_str(" --> ");
        timestamp(&mut out, cue.end);
        out.push('\n');
        for line in &cue.lines {
            // A line that is empty or holds "-->" would end or break the cue.
            out.push_str(&line.replace("-->", "→"));
            out.push('\n');
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transcript(segments: &[(f64, f64, &str)]) -> Transcript {
        Transcript {
            language: "en".into(),
            segments: segments
                .iter()
                .map(|&(start, end, text)| Segment {
                    start,
                    end,
                    text: text.into(),
                })
                .collect(),
        }
    }

    fn readable(cues: &[Cue]) {
        for c in cues {
            assert!(c.lines.len() <= MAX_LINES, "{c:?}");
            assert!(
                c.lines.iter().all(|l| l.chars().count() <= MAX_LINE_CHARS),
                "{c:?}"
            );
            let d = c.end - c.start;
            assert!(
                (MIN_CUE_SECS - 1e-9..=MAX_CUE_SECS + 1e-9).contains(&d),
                "{c:?}"
            );
        }
        assert!(cues.windows(2).all(|w| w[0].end <= w[1].start + 1e-9));
    }

    #[test]
    fn a_long_sentence_is_cut_into_two_line_cues_of_readable_length() {
        let text = "The quick brown fox jumps over the lazy dog while the five boxing wizards jump quickly and a sphinx of black quartz judges my vow";
        let cues = shape(&transcript(&[(0.5, 12.5, text)]), 20.0);
        assert!(cues.len() >= 2, "{cues:?}");
        readable(&cues);
        let words: Vec<String> = cues.iter().flat_map(|c| c.lines.clone()).collect();
        assert_eq!(words.join(" "), text, "no word lost or reordered");
    }

    #[test]
    fn cues_of_a_segment_are_balanced_not_greedy() {
        // Greedy wrapping gives two full lines and then one word alone.
        let text = "Welcome to Sunomi. This video was uploaded through the control plane, transcoded once into";
        let cues = shape(&transcript(&[(0.0, 7.0, text)]), 10.0);
        readable(&cues);
        assert_eq!(cues.len(), 2, "{cues:?}");
        let sizes: Vec<usize> = cues
            .iter()
            .map(|c| c.lines.iter().map(|l| l.chars().count()).sum())
            .collect();
        assert!(sizes.iter().all(|&n| n >= 30), "balanced: {sizes:?}");
        let words: Vec<String> = cues.iter().flat_map(|c| c.lines.clone()).collect();
        assert_eq!(words.join(" "), text);
    }

    #[test]
    fn short_and_long_segments_are_held_between_one_and_seven_seconds() {
        let cues = shape(
            &transcript(&[(1.0, 1.2, "Hi."), (4.0, 20.0, "A very slow sentence.")]),
            30.0,
        );
        readable(&cues);
        assert_eq!(cues[0].end, 2.0);
        assert_eq!(cues[1].end, 11.0);
    }

    #[test]
    fn crowded_cues_push_the_next_one_and_stop_at_the_end() {
        let cues = shape(
            &transcript(&[(0.0, 0.3, "One."), (0.4, 0.8, "Two."), (9.5, 9.9, "Three.")]),
            10.0,
        );
        assert_eq!((cues[0].start, cues[0].end), (0.0, 1.0));
        assert_eq!((cues[1].start, cues[1].end), (1.0, 2.0));
        assert_eq!(cues[2].end, 10.0, "never past the video's end");
    }

    #[test]
    fn the_webvtt_parses_with_the_packagers_parser() {
        let cues = shape(&transcript(&[(0.0, 3.0, "Hello --> world")]), 5.0);
        let text = to_webvtt(&cues);
        let vtt = sunomi_packager::vtt::parse(&text).unwrap();
        assert_eq!(vtt.cues.len(), 1);
        assert_eq!(vtt.cues[0].start_ms, 0);
        assert_eq!(vtt.cues[0].end_ms, 3000);
        assert_eq!(vtt.cues[0].text, "Hello → world");
    }
}
