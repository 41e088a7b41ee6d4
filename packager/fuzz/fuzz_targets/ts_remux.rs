//! Any bytes as a video and an audio segment remuxed to TS: the first two bytes say where the
//! video part ends. The output, when there is one, must be whole 188-byte packets that start
//! with PAT and PMT.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sunomi_packager::codec::{AacConfig, AvcConfig, CodecConfig};
use sunomi_packager::ts::sample_aes::SampleAes;
use sunomi_packager::ts::{remux_encrypted, SampleAesMode, TrackSegment};

fuzz_target!(|data: &[u8]| {
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
    };
    let key = SampleAes {
        key: [1; 16],
        iv: [2; 16],
    };
    // The low bit of the first byte also picks SAMPLE-AES encryption.
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
});
