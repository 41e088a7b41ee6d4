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
        b.iter(|| multivariant(black_box(&variants), &[], &[], Format::Cmaf, ""))
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

criterion_group!(benches, bench);
criterion_main!(benches);
