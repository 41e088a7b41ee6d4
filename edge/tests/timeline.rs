//! Every media playlist of a presentation follows the media's own timestamps and covers the
//! same time: audio EXTINFs against the fragments' `tfdt` less the init's edit list (the AAC
//! priming), the audio ending with the video, clips holding the same segments on every track,
//! and TS timestamps agreeing with the fMP4 ones. Timestamps are read with a box reader written
//! here, independent of the packager's.

mod common;

use common::*;

/// The body of the first box of type `kind` directly inside `buf`.
fn child<'a>(buf: &'a [u8], kind: &[u8; 4]) -> Option<&'a [u8]> {
    let mut at = 0;
    while at + 8 <= buf.len() {
        let size = u32::from_be_bytes(buf[at..at + 4].try_into().unwrap()) as usize;
        if size < 8 || at + size > buf.len() {
            return None;
        }
        if &buf[at + 4..at + 8] == kind {
            return Some(&buf[at + 8..at + size]);
        }
        at += size;
    }
    None
}

/// `media_time` of the init's edit list (0 without one).
fn edit_media_time(init: &[u8]) -> u64 {
    let Some(elst) = child(init, b"moov")
        .and_then(|m| child(m, b"trak"))
        .and_then(|t| child(t, b"edts"))
        .and_then(|e| child(e, b"elst"))
    else {
        return 0;
    };
    match elst[0] {
        0 => u32::from_be_bytes(elst[12..16].try_into().unwrap()) as u64,
        _ => u64::from_be_bytes(elst[16..24].try_into().unwrap()),
    }
}

/// The track timescale of an init segment.
fn timescale(init: &[u8]) -> u64 {
    let mdhd = child(init, b"moov")
        .and_then(|m| child(m, b"trak"))
        .and_then(|t| child(t, b"mdia"))
        .and_then(|m| child(m, b"mdhd"))
        .unwrap();
    let at = if mdhd[0] == 1 { 20 } else { 12 };
    u32::from_be_bytes(mdhd[at..at + 4].try_into().unwrap()) as u64
}

/// `tfdt` of the first fragment of a segment.
fn first_tfdt(segment: &[u8]) -> u64 {
    let tfdt = child(segment, b"moof")
        .and_then(|m| child(m, b"traf"))
        .and_then(|t| child(t, b"tfdt"))
        .unwrap();
    if tfdt[0] == 1 {
        u64::from_be_bytes(tfdt[4..12].try_into().unwrap())
    } else {
        u32::from_be_bytes(tfdt[4..8].try_into().unwrap()) as u64
    }
}

/// (URI, EXTINF) of every segment of a media playlist.
fn segments(url: &str) -> Vec<(String, f64)> {
    let body = get_ok(url);
    let playlist = m3u8_rs::parse_media_playlist_res(&body).expect("media playlist");
    playlist
        .segments
        .iter()
        .map(|s| (resolve(url, &s.uri), f64::from(s.duration)))
        .collect()
}

/// Presentation start (seconds) of every segment of a track, from its `tfdt` and edit list.
fn presentation_starts(playlist: &str, init_url: &str) -> (Vec<f64>, Vec<f64>, u64) {
    let init = get_ok(init_url);
    let (offset, scale) = (edit_media_time(&init), timescale(&init));
    let segs = segments(playlist);
    let starts = segs
        .iter()
        // What the edit list trims before zero is not presented.
        .map(|(uri, _)| ((first_tfdt(&get_ok(uri)) as f64 - offset as f64) / scale as f64).max(0.0))
        .collect();
    (starts, segs.iter().map(|s| s.1).collect(), offset)
}

const AAC_FRAME: f64 = 1024.0 / 48_000.0;

#[test]
fn audio_playlists_follow_the_media_timestamps_and_end_with_the_video() {
    let dir = tempfile::tempdir().unwrap();
    // 18 s: the video has three 6 s segments; AAC runs a few frames past the last one.
    let src = hd_clip_with_audio(dir.path(), 18);
    let store = dir.path().join("store");
    transcode(&src, "t", store.to_str().unwrap(), &[]);
    let edge = Edge::start(store.to_str().unwrap(), &[], &[]);
    let (v_starts, v_inf, _) = presentation_starts(
        &edge.url("/v/t/360p/media.m3u8"),
        &edge.url("/v/t/360p/init.mp4"),
    );
    let (a_starts, a_inf, priming) = presentation_starts(
        &edge.url("/v/t/audio/und/media.m3u8"),
        &edge.url("/v/t/audio/und/init.mp4"),
    );
    // The AAC priming is trimmed by an edit list in the audio init.
    assert_eq!(
        priming, 1024,
        "the audio init's edit list trims the priming"
    );
    // Same segments on both tracks: no trailing sliver of audio after the video.
    assert_eq!(
        a_starts.len(),
        v_starts.len(),
        "audio {a_inf:?} video {v_inf:?}"
    );
    let total = |v: &[f64]| v.iter().sum::<f64>();
    assert!(
        (total(&a_inf) - total(&v_inf)).abs() <= AAC_FRAME + 1e-3,
        "audio covers {} s, video {} s",
        total(&a_inf),
        total(&v_inf)
    );
    let mut playlist_time = 0.0;
    for (n, (start, extinf)) in a_starts.iter().zip(&a_inf).enumerate() {
        // The playlist's timeline is the media's: each segment starts where its tfdt says.
        assert!(
            (start - playlist_time).abs() < 1e-3,
            "audio segment {n} starts at {start} s, the playlist says {playlist_time} s"
        );
        if let Some(next) = a_starts.get(n + 1) {
            assert!(
                (next - start - extinf).abs() < 1e-3,
                "audio segment {n}: EXTINF {extinf} but holds {} s",
                next - start
            );
        }
        // And within one AAC frame before the video segment of the same number.
        let lead = v_starts[n] - start;
        assert!(
            (-1e-6..AAC_FRAME + 1e-6).contains(&lead),
            "audio segment {n} starts {lead} s before video"
        );
        playlist_time += extinf;
    }
}

#[test]
fn a_clip_holds_the_same_segments_on_every_track() {
    let dir = tempfile::tempdir().unwrap();
    let src = hd_clip_with_audio(dir.path(), 20);
    let store = dir.path().join("store");
    transcode(&src, "c", store.to_str().unwrap(), &[]);
    let edge = Edge::start(store.to_str().unwrap(), &[], &[]);
    let master_url = edge.url("/v/c/master.m3u8?start=6&end=18");
    let body = get_ok(&master_url);
    let master = m3u8_rs::parse_master_playlist_res(&body).unwrap();
    let video_url = resolve(&master_url, &master.variants[0].uri);
    let audio_url = resolve(&master_url, master.alternatives[0].uri.as_ref().unwrap());
    let video = segments(&video_url);
    let audio = segments(&audio_url);
    let names = |s: &[(String, f64)]| -> Vec<String> {
        s.iter()
            .map(|(u, _)| {
                u.rsplit('/')
                    .next()
                    .unwrap()
                    .split('?')
                    .next()
                    .unwrap()
                    .to_string()
            })
            .collect()
    };
    assert_eq!(names(&video), vec!["1.m4s", "2.m4s"], "{video:?}");
    assert_eq!(names(&audio), names(&video), "{audio:?}");
    let duration = |s: &[(String, f64)]| s.iter().map(|x| x.1).sum::<f64>();
    assert!(
        (duration(&audio) - duration(&video)).abs() <= AAC_FRAME + 1e-3,
        "audio {} s, video {} s",
        duration(&audio),
        duration(&video)
    );
    // Players report the clip's duration as the video segments it holds (one frame).
    let probed = probed_duration(&master_url);
    assert!(
        (probed - duration(&video)).abs() <= 1.0 / 30.0 + AAC_FRAME,
        "ffprobe says {probed} s, the video segments hold {} s",
        duration(&video)
    );
}

/// The PTS (seconds) of the first PES of `pid` in a TS segment.
fn first_pts(ts: &[u8], pid: u16) -> Option<f64> {
    for packet in ts.chunks(188) {
        let p = (u16::from(packet[1] & 0x1f) << 8) | u16::from(packet[2]);
        let start = packet[1] & 0x40 != 0;
        if p != pid || !start {
            continue;
        }
        let mut at = 4;
        if packet[3] & 0x20 != 0 {
            at += 1 + packet[4] as usize;
        }
        let pes = &packet[at..];
        if pes[7] & 0x80 == 0 {
            continue;
        }
        let b = &pes[9..14];
        let pts = (u64::from(b[0] >> 1) & 0x07) << 30
            | u64::from(b[1]) << 22
            | u64::from(b[2] >> 1) << 15
            | u64::from(b[3]) << 7
            | u64::from(b[4] >> 1);
        return Some(pts as f64 / 90_000.0);
    }
    None
}

#[test]
fn ts_audio_starts_with_its_video_like_the_fmp4_presentation() {
    let dir = tempfile::tempdir().unwrap();
    let src = hd_clip_with_audio(dir.path(), 13);
    let store = dir.path().join("store");
    transcode(&src, "x", store.to_str().unwrap(), &[]);
    let edge = Edge::start(store.to_str().unwrap(), &[], &[]);
    for n in 0..3 {
        let ts = get_ok(&edge.url(&format!("/v/x/ts/360p/{n}.ts")));
        // PIDs as the packager writes them: video 0x100, audio 0x101.
        let video = first_pts(&ts, 0x100).expect("video PES");
        let audio = first_pts(&ts, 0x101).expect("audio PES");
        let lead = video - audio;
        // Segment 0's audio starts with the priming, one frame before the picture.
        assert!(
            (-1e-3..AAC_FRAME + 1e-3).contains(&lead),
            "TS segment {n}: audio PTS {audio}, video PTS {video}"
        );
    }
}
