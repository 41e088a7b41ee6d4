//! Every input the fuzzers (`packager/fuzz`) ever crashed on, replayed through the same calls
//! on stable Rust: each must now be answered or refused without a panic. To add one, drop
//! the crash file into `tests/fuzz_regressions/{target}/`.

use std::path::Path;

use sunomi_packager::codec::{codec_config, AacConfig, AvcConfig, CodecConfig};
use sunomi_packager::fragment::{parse_fragment, samples_of};
use sunomi_packager::track::{scan_track_head, HeadScan};
use sunomi_packager::ts::sample_aes::SampleAes;
use sunomi_packager::ts::{remux_encrypted, SampleAesMode, TrackSegment};
use sunomi_packager::vtt;

fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz_regressions")
        .join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (name, std::fs::read(e.path()).unwrap())
        })
        .collect()
}

#[test]
fn track_heads() {
    for (name, data) in inputs("track_head") {
        let _ = codec_config(&data);
        if let Ok(HeadScan::Complete(index)) = scan_track_head(&data) {
            for k in 1..=3 {
                let _ = sunomi_packager::segment::segments(&index, k);
            }
        }
        eprintln!("replayed track_head/{name}");
    }
}

#[test]
fn fragments() {
    for (name, data) in inputs("fragment") {
        let _ = parse_fragment(&data, 0, 512);
        let _ = samples_of(&data, 0, 512);
        eprintln!("replayed fragment/{name}");
    }
}

#[test]
fn ts_remuxes() {
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
    for (name, data) in inputs("ts_remux") {
        if data.len() < 2 {
            continue;
        }
        let split = (usize::from(data[0]) << 8 | usize::from(data[1])).min(data.len() - 2);
        let (video, audio) = data[2..].split_at(split);
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
            assert_eq!(out.bytes.len() % 188, 0, "{name}");
        }
        eprintln!("replayed ts_remux/{name}");
    }
}

#[test]
fn vtts() {
    for (name, data) in inputs("vtt") {
        if let Ok(text) = std::str::from_utf8(&data) {
            if let Ok(v) = vtt::parse(text) {
                for (start, end) in [(0, 6_000), (6_000, 12_000), (0, u64::MAX / 2)] {
                    assert!(
                        vtt::parse(&vtt::segment(&v, start, end, 900_000)).is_ok(),
                        "{name}"
                    );
                }
            }
        }
        eprintln!("replayed vtt/{name}");
    }
}
