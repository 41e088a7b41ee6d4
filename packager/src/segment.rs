//! Grouping a track's fragments into HLS segments.
//!
//! Segment `n` is fragments `n*k .. n*k+k` (the last segment may be shorter), where `k` comes
//! from the target duration and the fragment duration. Every rendition of a video uses the same
//! `k`, so segment `n` starts at the same instant across the ladder.

use std::ops::Range;

use crate::error::{PackagerError, Result};
use crate::track::{FragmentRef, TrackIndex};

/// The default HLS segment duration, in milliseconds.
pub const DEFAULT_TARGET_MS: u32 = 6_000;

/// How many fragments make one segment for a target duration: `round(target / fragment)`, at
/// least one. `fragment_duration` is in `timescale` units.
pub fn fragments_per_segment(target_ms: u32, fragment_duration: u32, timescale: u32) -> u32 {
    if fragment_duration == 0 || timescale == 0 {
        return 1;
    }
    let target = u128::from(target_ms) * u128::from(timescale);
    let fragment = u128::from(fragment_duration) * 1000;
    let k = (target + fragment / 2) / fragment;
    u32::try_from(k).unwrap_or(u32::MAX).max(1)
}

/// The nominal fragment duration of a track: the most common one (robust to a short last
/// fragment and to audio fragments that wobble by one frame).
pub fn nominal_fragment_duration(index: &TrackIndex) -> u32 {
    let mut durations: Vec<u32> = index.fragments.iter().map(|f| f.duration).collect();
    durations.sort_unstable();
    durations.get(durations.len() / 2).copied().unwrap_or(0)
}

/// One HLS segment of a track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Segment number, from 0.
    pub number: u32,
    /// The fragments it is made of (indexes into [`TrackIndex::fragments`]).
    pub fragments: Range<usize>,
    /// Its bytes in the track file: whole `moof`+`mdat` fragments, passed through unchanged.
    pub bytes: Range<u64>,
    /// Start time in the track's timescale.
    pub start: u64,
    /// Duration in the track's timescale.
    pub duration: u64,
}

impl Segment {
    /// Size in bytes.
    pub fn len(&self) -> u64 {
        self.bytes.end - self.bytes.start
    }

    /// Whether the segment holds no bytes (never true for a planned segment).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Number of segments a track of `fragment_count` fragments has with `k` per segment.
pub fn segment_count(fragment_count: usize, k: u32) -> usize {
    let k = k.max(1) as usize;
    fragment_count.div_ceil(k)
}

/// Segment `number` of `index`, with `k` fragments per segment.
pub fn segment(index: &TrackIndex, k: u32, number: u64) -> Result<Segment> {
    segment_within(index, k, usize::MAX, number)
}

/// Segment `number` of `index` when the presentation has `count` segments (those of its first
/// video rendition): the track never has more, and its last segment takes every remaining
/// fragment. An audio track that runs a few frames past the video's end therefore ends with
/// the video instead of adding a 20 ms segment no video segment matches.
pub fn segment_within(index: &TrackIndex, k: u32, count: usize, number: u64) -> Result<Segment> {
    let own = segment_count(index.fragments.len(), k);
    let count = own.min(count.max(1));
    let out_of_range = || PackagerError::SegmentOutOfRange {
        index: number,
        count: count as u64,
    };
    let n = usize::try_from(number).map_err(|_| out_of_range())?;
    if n >= count {
        return Err(out_of_range());
    }
    let k = k.max(1) as usize;
    let first = n * k;
    let last = if n + 1 == count {
        index.fragments.len()
    } else {
        (first + k).min(index.fragments.len())
    };
    let frags: &[FragmentRef] = &index.fragments[first..last];
    let (Some(head), Some(tail)) = (frags.first(), frags.last()) else {
        return Err(out_of_range());
    };
    Ok(Segment {
        number: n as u32,
        fragments: first..last,
        bytes: head.offset..tail.range().end,
        start: head.time,
        duration: frags.iter().map(|f| u64::from(f.duration)).sum(),
    })
}

/// Every segment of `index`, in order.
pub fn segments(index: &TrackIndex, k: u32) -> Vec<Segment> {
    segments_within(index, k, usize::MAX)
}

/// Every segment of `index` in a presentation of `count` segments (see [`segment_within`]).
pub fn segments_within(index: &TrackIndex, k: u32, count: usize) -> Vec<Segment> {
    let count = segment_count(index.fragments.len(), k).min(count.max(1));
    (0..count as u64)
        .filter_map(|n| segment_within(index, k, count, n).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::track::TrackKind;
    use proptest::prelude::*;

    fn index(sizes: &[u32], duration: u32) -> TrackIndex {
        let mut offset = 1000;
        let mut time = 0;
        let fragments = sizes
            .iter()
            .map(|&size| {
                let f = FragmentRef {
                    offset,
                    size,
                    time,
                    duration,
                    starts_with_sap: true,
                };
                offset += u64::from(size);
                time += u64::from(duration);
                f
            })
            .collect();
        TrackIndex {
            track_id: 1,
            timescale: 90_000,
            codec: "avc1.64001f".into(),
            language: "und".into(),
            kind: TrackKind::Video {
                width: 640,
                height: 360,
                frame_rate: None,
            },
            default_sample_duration: 3000,
            init: 0..1000,
            fragments,
        }
    }

    #[test]
    fn six_second_target_over_two_second_fragments_takes_three() {
        assert_eq!(fragments_per_segment(6000, 180_000, 90_000), 3);
        assert_eq!(fragments_per_segment(6000, 2002, 1000), 3);
        assert_eq!(fragments_per_segment(1000, 180_000, 90_000), 1);
        assert_eq!(fragments_per_segment(6000, 0, 90_000), 1);
    }

    #[test]
    fn last_segment_is_shorter() {
        let idx = index(&[10, 20, 30, 40, 50, 60, 70], 180_000);
        let segs = segments(&idx, 3);
        assert_eq!(segs.len(), 3);
        assert_eq!(segs[2].fragments, 6..7);
        assert_eq!(segs[2].bytes, 1210..1280);
        assert_eq!(segs[1].start, 540_000);
        assert!(segment(&idx, 3, 3).is_err());
        assert!(segment(&idx, 3, u64::MAX).is_err());
    }

    proptest! {
        #[test]
        fn segments_tile_the_fragments_exactly(
            sizes in prop::collection::vec(1u32..5_000_000, 1..400),
            k in 1u32..10,
            duration in 1u32..1_000_000,
        ) {
            let idx = index(&sizes, duration);
            let segs = segments(&idx, k);
            prop_assert_eq!(segs.len(), sizes.len().div_ceil(k as usize));
            let mut expected_offset = idx.fragments[0].offset;
            let mut expected_time = 0u64;
            for (n, s) in segs.iter().enumerate() {
                prop_assert_eq!(s.number as usize, n);
                prop_assert_eq!(s.bytes.start, expected_offset);
                prop_assert_eq!(s.start, expected_time);
                prop_assert!(s.fragments.len() <= k as usize && !s.fragments.is_empty());
                if n + 1 < segs.len() {
                    prop_assert_eq!(s.fragments.len(), k as usize);
                }
                expected_offset = s.bytes.end;
                expected_time += s.duration;
            }
            let total: u64 = sizes.iter().map(|&s| u64::from(s)).sum();
            prop_assert_eq!(expected_offset - idx.fragments[0].offset, total);
            prop_assert_eq!(expected_time, u64::from(duration) * sizes.len() as u64);
        }

        #[test]
        fn k_is_the_rounded_ratio(target_ms in 500u32..20_000, frag_ms in 100u32..10_000) {
            let k = fragments_per_segment(target_ms, frag_ms, 1000);
            let exact = f64::from(target_ms) / f64::from(frag_ms);
            prop_assert!(k >= 1);
            prop_assert!((f64::from(k) - exact.max(1.0)).abs() <= 0.5 + 1e-9);
        }
    }

    #[test]
    fn a_track_longer_than_the_video_ends_with_it() {
        // 10 audio fragments, 3 per segment, in a presentation of 3 segments (9 video
        // fragments): the last segment takes fragments 6..10, not 6..9 plus a fourth.
        let audio = index(&[100; 10], 96_256);
        let segs = segments_within(&audio, 3, 3);
        assert_eq!(segs.len(), 3);
        assert_eq!(segs[2].fragments, 6..10);
        assert_eq!(segs[2].duration, 4 * 96_256);
        assert!(segment_within(&audio, 3, 3, 3).is_err());
        // A presentation longer than the track changes nothing.
        assert_eq!(segments_within(&audio, 3, 10), segments(&audio, 3));
        assert_eq!(segments(&audio, 3).len(), 4);
    }
}
