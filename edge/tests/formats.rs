//! Every output of one mezzanine, judged by real clients: MPEG-TS (with a structural check of
//! the packets), byte-range playlists, filtered and clipped playlists, WebVTT subtitles.

mod common;

use std::collections::HashMap;
use std::path::Path;

use common::*;

/// Publishes an 8 s 720p clip with audio as `id`, with subtitles: a good English file whose
/// second cue crosses the first segment boundary, and a malformed French one.
fn publish(dir: &Path, id: &str) -> (String, Edge) {
    let src = hd_clip_with_audio(dir, 8);
    let store = dir.join("store");
    transcode(&src, id, store.to_str().unwrap(), &[]);
    let subs = store.join(format!("videos/{id}/subs"));
    std::fs::create_dir_all(&subs).unwrap();
    std::fs::write(
        subs.join("en.vtt"),
        "WEBVTT\n\n1\n00:00:01.000 --> 00:00:03.000\nFirst\n\n00:00:05.000 --> 00:00:07.500 align:start\nCrossing\n",
    )
    .unwrap();
    std::fs::write(subs.join("fr.vtt"), "not a subtitle file").unwrap();
    let store = store.to_str().unwrap().to_string();
    let edge = Edge::start(&store, &["--segment-target-ms", "6000"], &[]);
    (store, edge)
}

fn media(bytes: &[u8]) -> m3u8_rs::MediaPlaylist {
    m3u8_rs::parse_media_playlist_res(bytes).expect("valid media playlist")
}

fn master(bytes: &[u8]) -> m3u8_rs::MasterPlaylist {
    m3u8_rs::parse_master_playlist_res(bytes).expect("valid multivariant playlist")
}

/// What one PID looked like across a run of TS segments.
#[derive(Default, Debug)]
struct PidState {
    cc: Option<u8>,
    packets: u64,
}

/// Checks the packets of consecutive TS segments as one stream: 188-byte packets with sync
/// bytes, continuity counters continuous per PID across segments, PCR never going back, PAT
/// and PMT as the first two packets of every segment. Returns packets per PID.
fn check_ts(segments: &[Vec<u8>]) -> HashMap<u16, u64> {
    let mut pids: HashMap<u16, PidState> = HashMap::new();
    let mut last_pcr = None;
    for (n, seg) in segments.iter().enumerate() {
        assert!(
            !seg.is_empty() && seg.len() % 188 == 0,
            "segment {n}: {} bytes",
            seg.len()
        );
        for (i, p) in seg.chunks(188).enumerate() {
            assert_eq!(p[0], 0x47, "segment {n} packet {i}: sync byte");
            let pid = (u16::from(p[1] & 0x1f) << 8) | u16::from(p[2]);
            if i == 0 {
                assert_eq!(pid, 0, "segment {n} starts with the PAT");
            }
            if i == 1 {
                assert_eq!(pid, 0x1000, "segment {n} has the PMT second");
            }
            let afc = (p[3] >> 4) & 3;
            let cc = p[3] & 0x0f;
            let state = pids.entry(pid).or_default();
            if afc & 1 == 1 {
                if let Some(prev) = state.cc {
                    assert_eq!(
                        cc,
                        (prev + 1) & 0x0f,
                        "segment {n} packet {i}: PID {pid:#x} continuity"
                    );
                }
                state.cc = Some(cc);
            }
            state.packets += 1;
            if afc & 2 == 2 && p[4] > 0 && p[5] & 0x10 != 0 {
                let base = (u64::from(p[6]) << 25)
                    | (u64::from(p[7]) << 17)
                    | (u64::from(p[8]) << 9)
                    | (u64::from(p[9]) << 1)
                    | u64::from(p[10] >> 7);
                let pcr = base * 300 + ((u64::from(p[10] & 1) << 8) | u64::from(p[11]));
                if let Some(prev) = last_pcr {
                    assert!(pcr >= prev, "segment {n}: PCR went back");
                }
                last_pcr = Some(pcr);
            }
        }
    }
    assert!(last_pcr.is_some(), "no PCR at all");
    pids.into_iter().map(|(k, v)| (k, v.packets)).collect()
}

/// Presentation times and key flags of the video packets of a file, by ffprobe.
fn video_packets(file: &Path) -> Vec<(f64, bool)> {
    let (ok, out, err) = run(
        "ffprobe",
        &[
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "packet=pts_time,flags",
            "-of",
            "csv=p=0",
            file.to_str().unwrap(),
        ],
    );
    assert!(ok, "{err}");
    out.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut parts = l.split(',');
            let pts: f64 = parts.next().unwrap().parse().unwrap();
            (pts, parts.next().unwrap_or("").contains('K'))
        })
        .collect()
}

#[test]
fn mpeg_ts_is_structurally_sound_continuous_and_decodes() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, edge) = publish(dir.path(), "tsv");
    let master_url = edge.url("/v/tsv/ts/master.m3u8");
    let m = master(&get_ok(&master_url));
    let variants: Vec<_> = m.variants.iter().filter(|v| !v.is_i_frame).collect();
    assert_eq!(variants.len(), 3);
    assert!(m
        .alternatives
        .iter()
        .all(|a| a.media_type != m3u8_rs::AlternativeMediaType::Audio));
    for v in &variants {
        assert!(
            v.codecs.as_deref().unwrap().contains("mp4a.40.2"),
            "audio muxed in"
        );
        assert!(!v.codecs.as_deref().unwrap().contains("wvtt"));
    }
    let duration = decodes_cleanly(&master_url);
    assert!((duration - 8.0).abs() < 0.2, "duration {duration}");

    for v in &variants {
        let url = resolve(&master_url, &v.uri);
        let text = get_ok(&url);
        assert!(String::from_utf8_lossy(&text).contains("#EXT-X-VERSION:3"));
        let playlist = media(&text);
        let segments: Vec<Vec<u8>> = playlist
            .segments
            .iter()
            .map(|s| {
                let r = get(&resolve(&url, &s.uri));
                assert_eq!(r.status, 200);
                assert_eq!(r.header("Content-Type"), Some("video/mp2t"));
                r.body
            })
            .collect();
        let packets = check_ts(&segments);
        assert!(packets.contains_key(&0x100) && packets.contains_key(&0x101));
        // Each segment alone decodes and starts on a key frame; together their timestamps
        // run on without a gap.
        let joined = dir.path().join("joined.ts");
        std::fs::write(&joined, segments.concat()).unwrap();
        let frames = video_packets(&joined);
        assert_eq!(frames.len(), 8 * 30, "every frame of the source");
        let mut pts: Vec<f64> = frames.iter().map(|f| f.0).collect();
        pts.sort_by(f64::total_cmp);
        assert!(
            pts.windows(2)
                .all(|w| (w[1] - w[0] - 1.0 / 30.0).abs() < 0.002),
            "continuous PTS"
        );
        let mut offset = 0;
        for (n, seg) in segments.iter().enumerate() {
            let file = dir.path().join(format!("seg{n}.ts"));
            std::fs::write(&file, seg).unwrap();
            let f = video_packets(&file);
            assert!(f[0].1, "segment {n} starts with a key frame");
            offset += f.len();
        }
        assert_eq!(offset, frames.len());
        // BANDWIDTH covers the real TS bit rate of every segment.
        for (s, bytes) in playlist.segments.iter().zip(&segments) {
            let rate = bytes.len() as f64 * 8.0 / f64::from(s.duration);
            assert!(
                rate <= v.bandwidth as f64,
                "{} segment rate {rate} > BANDWIDTH {}",
                v.uri,
                v.bandwidth
            );
        }
    }

    // I-frame playlists point at key frames inside the TS segments.
    let iframes = m.variants.iter().find(|v| v.is_i_frame).unwrap();
    let url = resolve(&master_url, &iframes.uri);
    let text = String::from_utf8(get_ok(&url)).unwrap();
    assert!(text.contains("#EXT-X-I-FRAMES-ONLY") && text.contains("#EXT-X-VERSION:5"));
    let (ok, _, err) = run("ffmpeg", &["-v", "error", "-i", &url, "-f", "null", "-"]);
    assert!(ok && err.trim().is_empty(), "{err}");
    let frames = media(text.as_bytes());
    assert_eq!(frames.segments.len(), 4, "one per 2 s fragment");
}

#[test]
fn byte_range_playlists_address_the_track_file() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, edge) = publish(dir.path(), "brv");
    let master_url = edge.url("/v/brv/br/master.m3u8");
    let duration = decodes_cleanly(&master_url);
    assert!((duration - 8.0).abs() < 0.2, "duration {duration}");
    let url = edge.url("/v/brv/br/720p/media.m3u8");
    let playlist = media(&get_ok(&url));
    let cmaf = media(&get_ok(&edge.url("/v/brv/720p/media.m3u8")));
    for (i, (s, c)) in playlist.segments.iter().zip(&cmaf.segments).enumerate() {
        assert_eq!(s.uri, "track.mp4");
        let r = s.byte_range.as_ref().unwrap();
        let offset = r.offset.unwrap();
        let range = format!("bytes={}-{}", offset, offset + r.length - 1);
        let part = request(
            "GET",
            &edge.url("/v/brv/br/720p/track.mp4"),
            &[("Range", &range)],
        );
        assert_eq!(part.status, 206);
        let expected = format!("bytes {}-{}/", offset, offset + r.length - 1);
        assert!(part.header("Content-Range").unwrap().starts_with(&expected));
        let segment = get_ok(&resolve(&edge.url("/v/brv/720p/media.m3u8"), &c.uri));
        assert_eq!(part.body, segment, "byte range {i} is CMAF segment {i}");
    }
    // Beyond the file: 416 with the length.
    let r = request(
        "GET",
        &edge.url("/v/brv/br/720p/track.mp4"),
        &[("Range", "bytes=999999999-")],
    );
    assert_eq!(r.status, 416);
}

#[test]
fn filters_and_clips_by_query() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, edge) = publish(dir.path(), "flt");
    let m = master(&get_ok(&edge.url("/v/flt/master.m3u8?max_height=480")));
    let heights: Vec<u64> = m
        .variants
        .iter()
        .filter(|v| !v.is_i_frame)
        .map(|v| v.resolution.unwrap().height)
        .collect();
    assert_eq!(heights, [480, 360]);
    let m = master(&get_ok(
        &edge.url("/v/flt/master.m3u8?min_height=700&subs_lang=none"),
    ));
    assert_eq!(m.variants.iter().filter(|v| !v.is_i_frame).count(), 1);
    assert!(m
        .alternatives
        .iter()
        .all(|a| a.media_type != m3u8_rs::AlternativeMediaType::Subtitles));

    // A clip snaps to whole segments and is passed on to every media playlist.
    let url = edge.url("/v/flt/master.m3u8?start=2.5&end=5");
    let m = master(&get_ok(&url));
    assert!(m
        .variants
        .iter()
        .all(|v| v.uri.ends_with("?start=2.500&end=5")));
    let clipped = media(&get_ok(&resolve(&url, &m.variants[0].uri)));
    assert_eq!(clipped.segments.len(), 1);
    assert_eq!(clipped.segments[0].uri, "0.m4s");
    let duration = decodes_cleanly(&url);
    assert!((duration - 6.0).abs() < 0.2, "clip duration {duration}");

    for (query, reason) in [
        ("max_height=abc", "max_height"),
        ("start=9&end=3", "start"),
        ("max_height=100", "no video rendition"),
        ("audio_lang=xx", "no audio track"),
        ("start=60", "clip"),
        ("colour=red", "unknown query parameter"),
    ] {
        let r = get(&edge.url(&format!("/v/flt/master.m3u8?{query}")));
        assert_eq!(r.status, 400, "{query}");
        assert!(r.text().contains(reason), "{query}: {}", r.text());
    }
    // Segments ignore queries players add (CMCD).
    assert_eq!(
        get(&edge.url("/v/flt/720p/0.m4s?CMCD=bl%3D100")).status,
        200
    );
}

#[test]
fn subtitles_are_segmented_on_video_boundaries() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, edge) = publish(dir.path(), "sub");
    for (prefix, mpegts) in [("", 0u64), ("ts/", 900_000)] {
        let master_url = edge.url(&format!("/v/sub/{prefix}master.m3u8"));
        let m = master(&get_ok(&master_url));
        let subs: Vec<_> = m
            .alternatives
            .iter()
            .filter(|a| a.media_type == m3u8_rs::AlternativeMediaType::Subtitles)
            .collect();
        assert_eq!(subs.len(), 1, "the malformed French file is left out");
        assert_eq!(subs[0].language.as_deref(), Some("en"));
        assert!(subs[0].autoselect);
        let text = String::from_utf8(get_ok(&master_url)).unwrap();
        assert!(
            text.contains("FORCED=NO") && !text.contains("wvtt"),
            "{text}"
        );
        assert!(m
            .variants
            .iter()
            .filter(|v| !v.is_i_frame)
            .all(|v| v.subtitles.as_deref() == Some("subs")));

        let url = resolve(&master_url, subs[0].uri.as_ref().unwrap());
        let playlist = media(&get_ok(&url));
        let video = media(&get_ok(&resolve(&master_url, &m.variants[0].uri)));
        assert_eq!(playlist.segments.len(), video.segments.len());
        let pieces: Vec<String> = playlist
            .segments
            .iter()
            .map(|s| String::from_utf8(get_ok(&resolve(&url, &s.uri))).unwrap())
            .collect();
        for p in &pieces {
            assert!(
                p.starts_with(&format!(
                    "WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:{mpegts},LOCAL:00:00:00.000\n"
                )),
                "{p}"
            );
        }
        assert!(pieces[0].contains("First") && pieces[0].contains("Crossing"));
        assert!(pieces[1].contains("Crossing") && !pieces[1].contains("First"));
        assert!(pieces[0].contains("00:00:05.000 --> 00:00:07.500 align:start"));
    }
    assert_eq!(get(&edge.url("/v/sub/subs/fr.m3u8")).status, 404);
    // The whole file as a sidecar, as stored; the malformed one is not offered.
    let sidecar = get(&edge.url("/v/sub/subs/en.vtt"));
    assert_eq!(sidecar.status, 200);
    assert_eq!(
        sidecar.header("Content-Type"),
        Some("text/vtt; charset=utf-8")
    );
    assert!(sidecar.text().starts_with("WEBVTT\n\n1\n00:00:01.000"));
    assert_eq!(get(&edge.url("/v/sub/subs/fr.vtt")).status, 404);
    assert_eq!(get(&edge.url("/v/sub/subs/de/0.vtt")).status, 404);
    // The video still plays with subtitles in the multivariant playlist.
    let duration = decodes_cleanly(&edge.url("/v/sub/master.m3u8"));
    assert!((duration - 8.0).abs() < 0.2);
}

/// BANDWIDTH counts the subtitles that play with a variant (RFC 8216 §4.3.4.2): against the
/// same master without them (`subs_lang=none`), each variant declares exactly the peak bit
/// rate of the subtitle pieces as served, in every format.
#[test]
fn bandwidth_counts_the_subtitles_that_play_with_each_variant() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, edge) = publish(dir.path(), "subrate");
    for prefix in ["", "ts/", "br/"] {
        let with_url = edge.url(&format!("/v/subrate/{prefix}master.m3u8"));
        let with = master(&get_ok(&with_url));
        let without = master(&get_ok(&format!("{with_url}?subs_lang=none")));
        let subs = with
            .alternatives
            .iter()
            .find(|a| a.media_type == m3u8_rs::AlternativeMediaType::Subtitles)
            .expect("the English subtitles");
        let subs_url = resolve(&with_url, subs.uri.as_deref().unwrap());
        let pieces = media(&get_ok(&subs_url));
        let sizes: Vec<(u64, f64)> = pieces
            .segments
            .iter()
            .map(|s| {
                let bytes = get_ok(&resolve(&subs_url, &s.uri)).len() as u64;
                (bytes, f64::from(s.duration))
            })
            .collect();
        let variants: Vec<_> = with.variants.iter().filter(|v| !v.is_i_frame).collect();
        let plain: Vec<_> = without.variants.iter().filter(|v| !v.is_i_frame).collect();
        assert_eq!(variants.len(), plain.len());
        for (v, p) in variants.iter().zip(&plain) {
            let target = media(&get_ok(&resolve(&with_url, &v.uri))).target_duration as f64;
            let peak = rfc_peak(&sizes, target);
            let added = (v.bandwidth - p.bandwidth) as f64;
            assert!(
                peak > 0.0 && added >= peak && added < peak + 1.0,
                "{prefix}{}: BANDWIDTH adds {added} for subtitles peaking at {peak}",
                v.uri
            );
        }
    }
}
