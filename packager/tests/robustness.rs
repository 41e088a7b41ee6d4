//! Hostile bytes never panic the parsers, and a valid head survives the round trip.

#[path = "support/synth.rs"]
mod synth;

use proptest::prelude::*;
use sunomi_packager::fragment::parse_fragment;
use sunomi_packager::track::{scan_track_head, HeadScan, TrackKind};

#[test]
fn synthetic_two_hour_head_parses() {
    let head = synth::video_head(3600, 2, 1_000_000);
    let HeadScan::Complete(idx) = scan_track_head(&head).unwrap() else {
        panic!("incomplete")
    };
    assert_eq!(idx.fragments.len(), 3600);
    assert_eq!(idx.codec, "avc1.64001f");
    assert_eq!(idx.language, "und");
    assert_eq!(
        idx.kind,
        TrackKind::Video {
            width: 1280,
            height: 720,
            frame_rate: Some((30, 1))
        }
    );
    assert_eq!(idx.fragments[1].offset - idx.fragments[0].offset, 1_000_000);
    assert!((idx.duration_secs() - 7200.0).abs() < 1e-9);
}

#[test]
fn every_prefix_of_a_head_asks_for_more_or_fails_cleanly() {
    let head = synth::video_head(20, 2, 1000);
    for cut in 0..head.len() {
        match scan_track_head(&head[..cut]) {
            Ok(HeadScan::NeedMore { at_least }) => assert!(at_least > cut as u64),
            Ok(HeadScan::Complete(_)) => panic!("complete from {cut} of {} bytes", head.len()),
            Err(e) => panic!("prefix of {cut} bytes: {e}"),
        }
    }
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
        let _ = scan_track_head(&bytes);
        let _ = parse_fragment(&bytes, 0, 0);
    }

    #[test]
    fn mutated_heads_never_panic(flips in prop::collection::vec((any::<usize>(), any::<u8>()), 1..16)) {
        let mut head = synth::video_head(8, 2, 1000);
        for (at, value) in flips {
            let i = at % head.len();
            head[i] = value;
        }
        let _ = scan_track_head(&head);
    }
}
