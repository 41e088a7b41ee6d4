//! Bit rates players are told about, computed from segment sizes and durations.

/// One segment's size and duration, as far as bit rates are concerned.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SegmentSize {
    /// Bytes in the segment.
    pub bytes: u64,
    /// Duration in seconds.
    pub seconds: f64,
}

/// The peak segment bit rate of RFC 8216 §4.3.4.2 (`BANDWIDTH`): the largest bit rate of any
/// run of contiguous segments whose total duration is between 0.5 and 1.5 times the target
/// duration. Falls back to the whole stream's rate when no run qualifies (very short media).
pub fn peak_bit_rate(segments: &[SegmentSize], target_duration: f64) -> u64 {
    let (lo, hi) = (0.5 * target_duration, 1.5 * target_duration);
    let mut peak = 0f64;
    for start in 0..segments.len() {
        let (mut bytes, mut secs) = (0u64, 0f64);
        for s in &segments[start..] {
            bytes += s.bytes;
            secs += s.seconds;
            if secs > hi + 1e-9 {
                break;
            }
            if secs + 1e-9 >= lo && secs > 0.0 {
                peak = peak.max(bytes as f64 * 8.0 / secs);
            }
        }
    }
    if peak == 0.0 {
        return average_bit_rate(segments);
    }
    peak.ceil() as u64
}

/// The average bit rate of the whole stream (`AVERAGE-BANDWIDTH`).
pub fn average_bit_rate(segments: &[SegmentSize]) -> u64 {
    let bytes: u64 = segments.iter().map(|s| s.bytes).sum();
    let secs: f64 = segments.iter().map(|s| s.seconds).sum();
    if secs <= 0.0 {
        return 0;
    }
    (bytes as f64 * 8.0 / secs).ceil() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(bytes: u64, seconds: f64) -> SegmentSize {
        SegmentSize { bytes, seconds }
    }

    #[test]
    fn peak_is_the_largest_single_segment_when_segments_hit_the_target() {
        let segs = [seg(750_000, 6.0), seg(1_500_000, 6.0), seg(600_000, 6.0)];
        assert_eq!(peak_bit_rate(&segs, 6.0), 2_000_000);
        assert_eq!(average_bit_rate(&segs), 1_266_667);
    }

    #[test]
    fn a_short_last_segment_counts_only_with_its_neighbour() {
        // Alone the 1 s segment is 8 Mb/s, but 1 s < 0.5 × 6 s: it only counts joined to the one before.
        let segs = [seg(750_000, 6.0), seg(1_000_000, 1.0)];
        assert_eq!(peak_bit_rate(&segs, 6.0), 2_000_000);
    }

    #[test]
    fn media_shorter_than_half_the_target_uses_the_average() {
        let segs = [seg(100_000, 1.0)];
        assert_eq!(peak_bit_rate(&segs, 6.0), 800_000);
        assert_eq!(peak_bit_rate(&[], 6.0), 0);
    }
}
