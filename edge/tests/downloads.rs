//! Progressive MP4 downloads made just in time from the fMP4 tracks: a fast-start file
//! (`moov` before `mdat`) whose pictures and sound are the HLS segments' own, read whole or
//! by `Range`, with the same refusals as the rest of the media URLs.

mod common;

use std::path::Path;

use common::*;

/// Publishes an 8 s 720p clip with audio as `id` and serves it with 2 s segments.
fn publish(dir: &Path, id: &str) -> Edge {
    let src = hd_clip_with_audio(dir, 8);
    let store = dir.join("store");
    transcode(&src, id, store.to_str().unwrap(), &[]);
    Edge::start(
        store.to_str().unwrap(),
        &["--segment-target-ms", "2000"],
        &[],
    )
}

/// The top-level boxes of an MP4 file: (type, offset, size).
fn top_level_boxes(file: &[u8]) -> Vec<(String, usize, u64)> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while at + 8 <= file.len() {
        let mut size = u64::from(u32::from_be_bytes(file[at..at + 4].try_into().unwrap()));
        if size == 1 {
            size = u64::from_be_bytes(file[at + 8..at + 16].try_into().unwrap());
        }
        out.push((
            String::from_utf8_lossy(&file[at + 4..at + 8]).into_owned(),
            at,
            size,
        ));
        assert!(size >= 8, "box at {at} has size {size}");
        at += size as usize;
    }
    assert_eq!(at, file.len(), "the boxes cover the file exactly");
    out
}

/// The HLS fMP4 form of a track, as one file: its init segment, then every segment its
/// media playlist names.
fn hls_track(edge: &Edge, id: &str, dir: &str) -> Vec<u8> {
    let playlist = edge.url(&format!("/v/{id}/{dir}/media.m3u8"));
    let media = m3u8_rs::parse_media_playlist_res(&get_ok(&playlist)).unwrap();
    let mut file = get_ok(&edge.url(&format!("/v/{id}/{dir}/init.mp4")));
    for s in &media.segments {
        file.extend(get_ok(&resolve(&playlist, &s.uri)));
    }
    file
}

/// The MD5 of every packet's data in stream `stream` (`a`), as ffprobe reads them (data
/// only: how a file's edit list marks the priming packet is not hashed).
fn packet_hashes(input: &str, stream: &str) -> Vec<String> {
    let (ok, out, err) = run(
        "ffprobe",
        &[
            "-v",
            "error",
            "-select_streams",
            stream,
            "-show_entries",
            "packet=data_hash",
            "-show_data_hash",
            "MD5",
            "-of",
            "csv=p=0",
            input,
        ],
    );
    assert!(ok, "ffprobe on {input}: {err}");
    // Side data (the priming packet's skip count) may print fields of its own.
    out.split("MD5:")
        .skip(1)
        .map(|h| h.chars().take(32).collect())
        .collect()
}

/// `codec_type,codec_name,width,height` of each stream ffprobe sees in `input`.
fn probed_streams(input: &str) -> Vec<String> {
    let (ok, out, err) = run(
        "ffprobe",
        &[
            "-v",
            "error",
            "-show_entries",
            "stream=codec_type,codec_name,width,height",
            "-of",
            "csv=p=0",
            input,
        ],
    );
    assert!(ok, "ffprobe {input}: {err}");
    out.lines()
        .map(|l| l.trim_end_matches(',').to_string())
        .collect()
}

#[test]
fn a_rendition_downloads_as_a_fast_start_mp4_with_the_hls_pictures_and_sound() {
    let dir = tempfile::tempdir().unwrap();
    let edge = publish(dir.path(), "dl");
    let url = edge.url("/v/dl/download/720p.mp4");
    let r = get(&url);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("video/mp4"));
    assert_eq!(
        r.header("content-disposition"),
        Some("attachment; filename=\"dl-720p.mp4\"")
    );
    assert_eq!(r.header("accept-ranges"), Some("bytes"));
    assert_eq!(
        r.header("content-length"),
        Some(r.body.len().to_string().as_str())
    );
    assert!(r.header("cache-control").unwrap().contains("immutable"));
    let file = r.body;

    // Fast start: ftyp, moov, then one mdat to the end of the file.
    let boxes = top_level_boxes(&file);
    let kinds: Vec<&str> = boxes.iter().map(|(k, _, _)| k.as_str()).collect();
    assert_eq!(kinds, ["ftyp", "moov", "mdat"], "{boxes:?}");

    let saved = dir.path().join("dl-720p.mp4");
    std::fs::write(&saved, &file).unwrap();
    let saved = saved.to_str().unwrap();
    assert_eq!(probed_streams(saved), ["h264,video,1280,720", "aac,audio"]);

    // The pictures are the HLS segments', decoded (framemd5), in order; the sound is the
    // HLS audio track's packets.
    let hls_video = dir.path().join("hls-720p.mp4");
    std::fs::write(&hls_video, hls_track(&edge, "dl", "720p")).unwrap();
    let hls_audio = dir.path().join("hls-audio.mp4");
    std::fs::write(&hls_audio, hls_track(&edge, "dl", "audio/und")).unwrap();
    let pictures = picture_hashes(&[], saved);
    assert_eq!(pictures.len(), 240, "8 s at 30 fps");
    assert_eq!(pictures, picture_hashes(&[], hls_video.to_str().unwrap()));
    let sound = packet_hashes(saved, "a");
    assert!(!sound.is_empty());
    assert_eq!(sound, packet_hashes(hls_audio.to_str().unwrap(), "a"));
    let duration = decodes_cleanly(saved);
    assert!((duration - 8.0).abs() < 0.1, "duration {duration}");

    // Read by range: any part is the same bytes as the whole file's, across the head and
    // the chunks; a suffix; past the end is 416 with the length.
    let len = file.len();
    let head_end = boxes[2].1 + 8;
    for (range, expected) in [
        (format!("bytes=0-{}", head_end + 99), 0..head_end + 100),
        (
            format!("bytes={}-{}", head_end - 10, len / 2),
            head_end - 10..len / 2 + 1,
        ),
        (format!("bytes={}-", len - 12_345), len - 12_345..len),
        ("bytes=-5000".to_string(), len - 5000..len),
    ] {
        let part = request("GET", &url, &[("Range", &range)]);
        assert_eq!(part.status, 206, "{range}");
        assert_eq!(
            part.header("content-range"),
            Some(format!("bytes {}-{}/{len}", expected.start, expected.end - 1).as_str()),
            "{range}"
        );
        assert!(part.body == file[expected.clone()], "{range}: other bytes");
    }
    let past = request("GET", &url, &[("Range", &format!("bytes={len}-"))]);
    assert_eq!(past.status, 416);
    assert_eq!(
        past.header("content-range"),
        Some(format!("bytes */{len}").as_str())
    );
    // Conditional: the entity tag it was served with.
    let etag = r.headers["etag"].clone();
    let stale = request(
        "GET",
        &url,
        &[("Range", "bytes=0-9"), ("If-Range", "\"other\"")],
    );
    assert_eq!((stale.status, stale.body.len()), (200, len));
    let fresh = request(
        "GET",
        &url,
        &[("Range", "bytes=0-9"), ("If-Range", etag.as_str())],
    );
    assert_eq!((fresh.status, fresh.body.len()), (206, 10));
    assert_eq!(
        request("GET", &url, &[("If-None-Match", etag.as_str())]).status,
        304
    );
    let head = request("HEAD", &url, &[]);
    assert_eq!(head.status, 200);
    assert_eq!(
        head.header("content-length"),
        Some(len.to_string().as_str())
    );
    assert!(head.body.is_empty());

    // Players seek in it over HTTP (ffmpeg reads the moov, then ranges from the middle).
    let (ok, out, err) = run(
        "ffmpeg",
        &[
            "-v",
            "error",
            "-ss",
            "5",
            "-i",
            &url,
            "-map",
            "0:v",
            "-frames:v",
            "1",
            "-f",
            "framemd5",
            "-",
        ],
    );
    assert!(ok && err.trim().is_empty(), "seeking over HTTP: {err}");
    let seeked = out.lines().rfind(|l| !l.starts_with('#')).unwrap();
    let seeked = seeked.rsplit(',').next().unwrap().trim();
    assert_eq!(seeked, pictures[150], "the picture at 5 s");
}

/// Planning reads the tracks' `moof`s, not their samples; a range reads only the segments
/// holding it.
#[test]
fn a_download_reads_storage_only_for_what_it_sends() {
    let dir = tempfile::tempdir().unwrap();
    let edge = publish(dir.path(), "dlr");
    let url = edge.url("/v/dlr/download/720p.mp4");
    let read = || edge.metric("sunomi_storage_read_bytes_total");
    let before = read();
    let head = request("HEAD", &url, &[]);
    assert_eq!(head.status, 200);
    let len: f64 = head.header("content-length").unwrap().parse().unwrap();
    let planned = read();
    // The track heads (64 KiB each) and one small read per fragment.
    assert!(
        planned - before < len / 4.0,
        "planning a {len}-byte file read {} bytes",
        planned - before
    );
    let tail = request("GET", &url, &[("Range", "bytes=-5000")]);
    assert_eq!((tail.status, tail.body.len()), (206, 5000));
    let sent = read();
    // The last video and audio segments, out of four of each.
    assert!(
        sent - planned < len / 2.0,
        "5000 bytes of a {len}-byte file read {} bytes",
        sent - planned
    );
    let whole = get_ok(&url);
    assert_eq!(whole.len() as f64, len);
    assert!(whole[whole.len() - 5000..] == tail.body[..]);
}

#[test]
fn audio_downloads_alone_and_what_cannot_be_downloaded_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let edge = publish(dir.path(), "dla");
    let url = edge.url("/v/dla/download/audio.m4a");
    let r = get(&url);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("audio/mp4"));
    assert_eq!(
        r.header("content-disposition"),
        Some("attachment; filename=\"dla-audio.m4a\"")
    );
    assert_eq!(&r.body[8..12], b"M4A ");
    let saved = dir.path().join("dla-audio.m4a");
    std::fs::write(&saved, &r.body).unwrap();
    let saved = saved.to_str().unwrap();
    assert_eq!(probed_streams(saved), ["aac,audio"]);
    let hls_audio = dir.path().join("hls-audio.mp4");
    std::fs::write(&hls_audio, hls_track(&edge, "dla", "audio/und")).unwrap();
    assert_eq!(
        packet_hashes(saved, "a"),
        packet_hashes(hls_audio.to_str().unwrap(), "a")
    );
    // Each rung of the ladder downloads, and a second request is the same file.
    for rung in ["360p", "480p"] {
        let a = get_ok(&edge.url(&format!("/v/dla/download/{rung}.mp4")));
        let b = get_ok(&edge.url(&format!("/v/dla/download/{rung}.mp4")));
        assert!(a == b, "{rung}");
    }
    for (path, status) in [
        ("/v/dla/download/1080p.mp4", 404),
        ("/v/nosuch/download/720p.mp4", 404),
        ("/v/dla/download/720.mp4", 400),
        ("/v/dla/download/audio.mp4", 400),
        ("/v/dla/aes/download/720p.mp4", 400),
        ("/v/dla/ts/download/720p.mp4", 400),
    ] {
        assert_eq!(get(&edge.url(path)).status, status, "{path}");
    }
    let posted = post(&edge.url("/v/dla/download/720p.mp4"), "text/plain", b"x");
    assert_eq!(posted.status, 405);
    assert!(edge.metric("sunomi_http_requests_total{route=\"download\",status=\"200\"}") >= 5.0);
}
