//! Any bytes as a track head: scanning, segment planning, playlists and the codec
//! configuration must answer or refuse, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sunomi_packager::playlist::{media_playlist, SegmentedTrack};
use sunomi_packager::route::Format;
use sunomi_packager::track::{scan_track_head, HeadScan};

fuzz_target!(|data: &[u8]| {
    let _ = sunomi_packager::codec::codec_config(data);
    if let Ok(HeadScan::Complete(index)) = scan_track_head(data) {
        for k in 1..=3 {
            let segments = sunomi_packager::segment::segments(&index, k);
            for format in [Format::Cmaf, Format::Ts, Format::ByteRange] {
                let _ = media_playlist(
                    SegmentedTrack {
                        index: &index,
                        segments: &segments,
                    },
                    format,
                    None,
                );
            }
        }
    }
});
