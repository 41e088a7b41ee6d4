//! What each fuzz target does with its input, shared by the cargo-fuzz targets
//! (`packager/fuzz`) and the stable replay of the inputs they crashed on
//! (`tests/fuzz_regressions.rs`): answer or refuse, never panic, and keep the invariants
//! asserted here.
#![allow(dead_code)]

use sunomi_packager::cenc::{protect_fragments, protect_init, CommonEncryption, Scheme};
use sunomi_packager::codec::{codec_config, AacConfig, AvcConfig, CodecConfig};
use sunomi_packager::fragment::{parse_fragment, samples_of};
use sunomi_packager::playlist::{media_playlist, SegmentedTrack};
use sunomi_packager::route::Format;
use sunomi_packager::track::{scan_track_head, HeadScan};
use sunomi_packager::ts::sample_aes::SampleAes;
use sunomi_packager::ts::{remux_encrypted, SampleAesMode, TrackSegment};
use sunomi_packager::vtt;

const CBCS: CommonEncryption = CommonEncryption {
    scheme: Scheme::Cbcs,
    key: [1; 16],
    kid: [2; 16],
    iv: [3; 16],
};
const CENC: CommonEncryption = CommonEncryption {
    scheme: Scheme::Cenc,
    ..CBCS
};

/// Any bytes as a track head: scan, segment plans, playlists, codec configuration, common
/// encryption of the init.
pub fn track_head(data: &[u8]) {
    let _ = codec_config(data);
    let _ = protect_init(data, &CBCS);
    let _ = protect_init(data, &CENC);
    if let Ok(HeadScan::Complete(index)) = scan_track_head(data) {
        for k in 1..=3 {
            let segments = sunomi_packager::segment::segments(&index, k);
            for format in [Format::Cmaf, Format::Ts, Format::ByteRange] {
                let track = SegmentedTrack {
                    index: &index,
                    segments: &segments,
                };
                let _ = media_playlist(track, format, None);
            }
        }
    }
}

/// Any bytes as fragments: every sample returned lies inside the input; common encryption
/// answers or refuses.
pub fn fragment(data: &[u8]) {
    let _ = parse_fragment(data, 0, 512);
    let _ = protect_fragments(data, 0, 512, 4, &CBCS);
    let _ = protect_fragments(data, 0, 512, 4, &CENC);
    if let Ok(samples) = samples_of(data, 0, 512) {
        let range = data.as_ptr_range();
        for s in samples {
            assert!(s.data.is_empty() || range.contains(&s.data.as_ptr()));
        }
    }
}

/// Any bytes as a video and an audio segment remuxed to TS (the first two bytes say where
/// the video part ends; the low bit of the first also picks SAMPLE-AES): the output is whole
/// 188-byte packets with sync bytes, and key frame ranges inside it.
pub fn ts_remux(data: &[u8]) {
    if data.len() < 2 {
        return;
    }
    let split = (usize::from(data[0]) << 8 | usize::from(data[1])).min(data.len() - 2);
    let (video, audio) = data[2..].split_at(split);
    let vconfig = CodecConfig::Avc(AvcConfig {
        nal_length_size: 4,
        sps: vec![vec![0x67, 0x64, 0x00, 0x1f]],
        pps: vec![vec![0x68, 0xeb]],
    });
    let aconfig = CodecConfig::Aac(AacConfig {
        object_type: 2,
        frequency_index: 3,
        channel_config: 2,
    });
    let track = |config, timescale, duration, bytes| TrackSegment {
        config,
        timescale,
        default_sample_duration: duration,
        bytes,
        file_offset: 0,
        presentation_offset: 0,
    };
    let key = SampleAes {
        key: [1; 16],
        iv: [2; 16],
    };
    let mode = if data[0] & 1 == 1 {
        SampleAesMode::On(&key)
    } else {
        SampleAesMode::Off
    };
    if let Ok(out) = remux_encrypted(
        Some(track(&vconfig, 15_360, 512, video)),
        (!audio.is_empty()).then(|| track(&aconfig, 48_000, 1024, audio)),
        u64::from(data[0]),
        mode,
    ) {
        assert_eq!(out.bytes.len() % 188, 0);
        assert!(out.bytes.chunks(188).all(|p| p[0] == 0x47));
        assert!(out
            .key_frames
            .iter()
            .all(|r| r.end <= out.bytes.len() as u64));
    }
}

/// Any text as WebVTT: every piece the segmenter writes from a parsed file parses again.
pub fn vtt(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(v) = vtt::parse(text) {
        for (start, end) in [(0, 6_000), (6_000, 12_000), (0, u64::MAX / 2)] {
            let piece = vtt::segment(&v, start, end, 900_000);
            assert!(
                vtt::parse(&piece).is_ok(),
                "a written piece does not parse: {piece:?}"
            );
        }
    }
}
