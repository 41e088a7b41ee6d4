//! Trick play's pictures as resources of their own: one key frame cut out of its fragment
//! into a fragment that holds only it (`moof` with a one-sample `trun`, then its `mdat`).
//!
//! Clear I-frame playlists name byte ranges of the media segments. Encrypted profiles
//! cannot: `METHOD=AES-128` encrypts each resource whole (a range of a CBC stream is not
//! decryptable from its own IV), and under `cbcs` the ranges move as `senc` grows the
//! `moof`. So an encrypted I-frame playlist names these pieces, each protected like a
//! segment, and DASH's trick-play AdaptationSet addresses the same pieces by `$Number$`.
//! The sample keeps its decode time and lasts until the next key frame, so a run of pieces
//! is a continuous (if slow) track.

use crate::boxes::{boxed, full};
use crate::error::{PackagerError, Result};
use crate::fragment::parse_fragment;

/// `tfhd` flag: data offsets are relative to the `moof` (CMAF).
const TFHD_DEFAULT_BASE_IS_MOOF: u32 = 0x02_0000;
/// `trun` flags: data offset, and per-sample duration, size, flags and composition offset.
const TRUN_FIELDS: u32 = 0x01 | 0x100 | 0x200 | 0x400 | 0x800;
/// Sample flags of a sync sample that depends on no other (`sample_depends_on` = 2).
const SYNC_SAMPLE_FLAGS: u32 = 0x0200_0000;

/// The fragment holding only the first sample of the fragment that starts `buf`, which must
/// be a key frame, lasting `duration` (the time until the next key frame, in the track's
/// timescale). `buf` runs from the `moof` at least to the end of that sample (the range an
/// I-frame playlist names); `sequence` goes in `mfhd`.
pub fn key_frame_fragment(
    buf: &[u8],
    default_sample_duration: u32,
    duration: u32,
    sequence: u32,
) -> Result<Vec<u8>> {
    let fragment = parse_fragment(buf, 0, default_sample_duration)?;
    let first = fragment
        .samples
        .first()
        .ok_or(PackagerError::MissingBox("trun"))?;
    if !first.is_sync {
        return Err(PackagerError::Unsupported(
            "the fragment does not start with a key frame".into(),
        ));
    }
    let sample = usize::try_from(first.offset)
        .ok()
        .and_then(|start| Some(start..start.checked_add(usize::try_from(first.size).ok()?)?))
        .and_then(|range| buf.get(range))
        .ok_or_else(|| PackagerError::MalformedBox {
            kind: "mdat".into(),
            reason: "the key frame runs past the bytes given".into(),
        })?;

    let mfhd = boxed(b"mfhd", &full(0, 0, &sequence.to_be_bytes()));
    let tfhd = boxed(
        b"tfhd",
        &full(
            0,
            TFHD_DEFAULT_BASE_IS_MOOF,
            &fragment.track_id.to_be_bytes(),
        ),
    );
    let tfdt = boxed(b"tfdt", &full(1, 0, &fragment.decode_time.to_be_bytes()));
    // The data offset is known once the `moof` is: its size is fixed by the fields above.
    let trun_for = |data_offset: u32| {
        let mut rest = Vec::with_capacity(24);
        rest.extend_from_slice(&1u32.to_be_bytes());
        rest.extend_from_slice(&data_offset.to_be_bytes());
        rest.extend_from_slice(&duration.to_be_bytes());
        rest.extend_from_slice(&first.size.to_be_bytes());
        rest.extend_from_slice(&SYNC_SAMPLE_FLAGS.to_be_bytes());
        rest.extend_from_slice(&first.composition_offset.to_be_bytes());
        // Version 1: a signed composition offset.
        boxed(b"trun", &full(1, TRUN_FIELDS, &rest))
    };
    let moof_len = 8 + mfhd.len() + 8 + tfhd.len() + tfdt.len() + trun_for(0).len();
    let data_offset = u32::try_from(moof_len + 8).map_err(|_| PackagerError::MalformedBox {
        kind: "moof".into(),
        reason: "too large".into(),
    })?;
    let traf = boxed(b"traf", &[tfhd, tfdt, trun_for(data_offset)].concat());
    let mut out = boxed(b"moof", &[mfhd, traf].concat());
    out.reserve(sample.len() + 8);
    let mdat_len = u32::try_from(sample.len() + 8).map_err(|_| PackagerError::MalformedBox {
        kind: "mdat".into(),
        reason: "key frame larger than 4 GiB".into(),
    })?;
    out.extend_from_slice(&mdat_len.to_be_bytes());
    out.extend_from_slice(b"mdat");
    out.extend_from_slice(sample);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fragment::parse_fragment;

    /// A fragment of three samples (sizes 5, 3, 4; the first a key frame) whose `trun` uses
    /// defaults from `tfhd`, as encoders write them.
    fn fragment() -> Vec<u8> {
        let mut tfhd_rest = 7u32.to_be_bytes().to_vec(); // track 7
        tfhd_rest.extend_from_slice(&0x0001_0000u32.to_be_bytes()); // default: non-sync
        let tfhd = boxed(
            b"tfhd",
            &full(0, TFHD_DEFAULT_BASE_IS_MOOF | 0x20, &tfhd_rest),
        );
        let tfdt = boxed(b"tfdt", &full(1, 0, &90_000u64.to_be_bytes()));
        let trun_for = |offset: u32| {
            let mut rest = 3u32.to_be_bytes().to_vec();
            rest.extend_from_slice(&offset.to_be_bytes());
            rest.extend_from_slice(&0x0200_0000u32.to_be_bytes()); // first sample: sync
            for (size, cto) in [(5u32, 1024i32), (3, -512), (4, 0)] {
                rest.extend_from_slice(&size.to_be_bytes());
                rest.extend_from_slice(&cto.to_be_bytes());
            }
            boxed(b"trun", &full(1, 0x01 | 0x04 | 0x200 | 0x800, &rest))
        };
        let mfhd = boxed(b"mfhd", &full(0, 0, &9u32.to_be_bytes()));
        let len = 8 + mfhd.len() + 8 + tfhd.len() + tfdt.len() + trun_for(0).len();
        let traf = boxed(b"traf", &[tfhd, tfdt, trun_for(len as u32 + 8)].concat());
        let mut out = boxed(b"moof", &[mfhd, traf].concat());
        out.extend(boxed(b"mdat", b"KEYFRpqrstuv"));
        out
    }

    #[test]
    fn keeps_the_key_frame_with_its_times_and_nothing_else() {
        let whole = fragment();
        // The I-frame range: the moof to the end of the first sample.
        let end = parse_fragment(&whole, 0, 512)
            .unwrap()
            .first_sample_end()
            .unwrap() as usize;
        let piece = key_frame_fragment(&whole[..end], 512, 6000, 4).unwrap();
        let parsed = parse_fragment(&piece, 0, 0).unwrap();
        assert_eq!(parsed.track_id, 7);
        assert_eq!(parsed.decode_time, 90_000);
        assert_eq!(parsed.samples.len(), 1);
        let s = parsed.samples[0];
        assert!(s.is_sync);
        assert_eq!((s.size, s.duration, s.composition_offset), (5, 6000, 1024));
        let start = s.offset as usize;
        assert_eq!(&piece[start..start + 5], b"KEYFR");
        assert_eq!(piece.len(), start + 5, "the mdat holds the key frame only");
        assert_eq!(&piece[start - 4..start], b"mdat");
    }

    #[test]
    fn refuses_what_is_not_a_key_frame_or_is_cut_short() {
        let whole = fragment();
        assert!(matches!(
            key_frame_fragment(&whole[..whole.len() - 9], 512, 6000, 1),
            Err(PackagerError::MalformedBox { .. })
        ));
        let mut not_sync = whole.clone();
        // The first-sample flags say "non-sync" now.
        let at = not_sync
            .windows(4)
            .position(|w| w == 0x0200_0000u32.to_be_bytes())
            .unwrap();
        not_sync[at..at + 4].copy_from_slice(&0x0101_0000u32.to_be_bytes());
        assert!(matches!(
            key_frame_fragment(&not_sync, 512, 6000, 1),
            Err(PackagerError::Unsupported(_))
        ));
        assert!(key_frame_fragment(b"garbage", 512, 6000, 1).is_err());
    }
}
