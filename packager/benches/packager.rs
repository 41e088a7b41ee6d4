//! Packager hot paths: parsing a 2-hour title's head, generating playlists, planning and
//! slicing a segment.

#[path = "../tests/support/synth.rs"]
mod synth;

use std::hint::black_box;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sunomi_packager::manifest::{FrameRate, Rendition};
use sunomi_packager::playlist::{media_playlist, multivariant, SegmentedTrack, VideoVariant};
use sunomi_packager::route::Format;
use sunomi_packager::segment::{segment, segments};
use sunomi_packager::track::{scan_track_head, HeadScan, TrackIndex};

fn two_hours() -> (Vec<u8>, TrackIndex) {
    let head = synth::video_head(3600, 2, 600_000);
    let HeadScan::Complete(idx) = scan_track_head(&head).unwrap() else {
        panic!("incomplete head")
    };
    (head, idx)
}

fn rendition(name: &str, fragments: usize) -> Rendition {
    Rendition {
        name: name.into(),
        width: 1280,
        height: 720,
        frame_rate: FrameRate { num: 30, den: 1 },
        codec: "avc1.64001f".into(),
        target_bit_rate: 2_500_000,
        peak_bit_rate: 2_600_000,
        average_bit_rate: 2_400_000,
        path: format!("video/{name}.mp4"),
        keyframe_ends: vec![40_000; fragments],
    }
}

fn bench(c: &mut Criterion) {
    let (head, idx) = two_hours();
    let mut g = c.benchmark_group("index");
    g.throughput(Throughput::Bytes(head.len() as u64));
    g.bench_function("parse_2h_head", |b| {
        b.iter(|| scan_track_head(black_box(&head)).unwrap())
    });
    g.finish();

    let segs = segments(&idx, 3);
    let mut g = c.benchmark_group("playlist");
    g.bench_function("media_2h", |b| {
        b.iter(|| {
            media_playlist(
                SegmentedTrack {
                    index: black_box(&idx),
                    segments: &segs,
                },
                Format::Cmaf,
                None,
            )
        })
    });
    let names = ["2160p", "1440p", "1080p", "720p", "480p", "360p"];
    let renditions: Vec<_> = names
        .iter()
        .map(|n| rendition(n, idx.fragments.len()))
        .collect();
    let variants: Vec<_> = renditions
        .iter()
        .map(|r| VideoVariant {
            rendition: r,
            track: SegmentedTrack {
                index: &idx,
                segments: &segs,
            },
        })
        .collect();
    g.bench_function("multivariant_6_rungs_2h", |b| {
        b.iter(|| multivariant(black_box(&variants), &[], &[], &[], Format::Cmaf, "", true))
    });
    g.finish();

    // A segment is planned from the index and served as a slice of the bytes read: no copy.
    let file = Bytes::from(vec![7u8; 2 * 1024 * 1024]);
    let mut g = c.benchmark_group("segment");
    g.bench_function("plan_and_slice", |b| {
        let mut n = 0u64;
        b.iter(|| {
            n = (n + 7) % segs.len() as u64;
            let s = segment(black_box(&idx), 3, n).unwrap();
            let len = (s.len() as usize).min(file.len());
            black_box(file.slice(0..len))
        })
    });
    g.finish();
}

/// TS remux throughput in output bytes per second on one core, beside a plain copy of the same
/// number of bytes (the reference the issue sets: remux ≥ 25 % of memcpy).
fn ts(c: &mut Criterion) {
    use sunomi_packager::codec::{AacConfig, AvcConfig, CodecConfig};
    use sunomi_packager::ts::{remux, TrackSegment};
    // A 6 s segment of 720p at ~2.5 Mb/s (3 fragments × 60 frames) with its AAC.
    let video = synth::video_segment(3, 60, 2_500_000);
    let audio = synth::audio_segment(3, 94);
    let vconfig = CodecConfig::Avc(AvcConfig {
        nal_length_size: 4,
        sps: vec![vec![0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40, 0x50]],
        pps: vec![vec![0x68, 0xeb, 0xe3, 0xcb]],
    });
    let aconfig = CodecConfig::Aac(AacConfig {
        object_type: 2,
        frequency_index: 3,
        channel_config: 2,
    });
    let run = || {
        remux(
            Some(TrackSegment {
                config: &vconfig,
                timescale: 15_360,
                default_sample_duration: 512,
                bytes: &video,
                file_offset: 0,
                presentation_offset: 0,
            }),
            Some(TrackSegment {
                config: &aconfig,
                timescale: 48_000,
                default_sample_duration: 1024,
                bytes: &audio,
                file_offset: 0,
                presentation_offset: 0,
            }),
            7,
        )
        .unwrap()
    };
    let out_len = run().bytes.len();
    let mut g = c.benchmark_group("ts");
    g.throughput(Throughput::Bytes(out_len as u64));
    g.bench_function("remux_6s_720p_segment", |b| b.iter(|| black_box(run())));
    let source = vec![0x5au8; out_len];
    g.bench_function("memcpy_same_bytes", |b| {
        b.iter(|| {
            let mut dst = Vec::with_capacity(out_len);
            dst.extend_from_slice(black_box(&source));
            black_box(dst)
        })
    });
    g.finish();
}

criterion_group!(benches, bench, ts);
criterion_main!(benches);
