//! Pictures through the edge: thumbnails, the storyboard and animated previews, drawn by the
//! real picture service (`sunomi-origin pictures`) from a real transcode, judged by Pillow
//! (format, size, frames) and by FFmpeg's own extraction from the source (PSNR).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// A 12 s 720p clip transcoded as `pics`, its picture service, and an edge using it.
fn setup(dir: &Path) -> (PathBuf, PictureServer, Edge) {
    let src = hd_clip_with_audio(dir, 12);
    let store = dir.join("store");
    let store = store.to_str().unwrap();
    transcode(&src, "pics", store, &[]);
    let pictures = PictureServer::start(store);
    let edge = Edge::start(store, &pictures.edge_flags(), &PictureServer::EDGE_ENV);
    (src, pictures, edge)
}

/// Saves the body of `url` (which must answer 200 with `content_type`) as `dir/name`.
fn fetch(dir: &Path, url: &str, content_type: &str, name: &str) -> PathBuf {
    let r = get(url);
    assert_eq!(r.status, 200, "{url}: {}", r.text());
    assert_eq!(r.header("content-type"), Some(content_type), "{url}");
    let path = dir.join(name);
    std::fs::write(&path, &r.body).unwrap();
    path
}

/// What Pillow sees in an image file: format, size, frame count, frame durations (ms),
/// loop count, and the mean luma of the first frame.
fn pillow(path: &Path) -> serde_json::Value {
    const SCRIPT: &str = r#"
import json, sys
from PIL import Image, ImageStat
im = Image.open(sys.argv[1])
frames, durations = getattr(im, "n_frames", 1), []
for i in range(frames):
    im.seek(i)
    durations.append(im.info.get("duration", 0))
im.seek(0)
print(json.dumps({"format": im.format, "size": list(im.size), "frames": frames,
    "durations": durations, "loop": im.info.get("loop"),
    "luma": ImageStat.Stat(im.convert("L")).mean[0]}))
"#;
    let out = Command::new(python())
        .args(["-c", SCRIPT, path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "Pillow cannot read {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// FFmpeg's own picture of `source` at `seconds`, through `filter`, as `dir/name` (PNG).
fn reference(dir: &Path, source: &Path, seconds: f64, filter: &str, name: &str) -> PathBuf {
    let out = dir.join(name);
    let (ok, _, err) = run(
        "ffmpeg",
        &[
            "-v",
            "error",
            "-y",
            "-ss",
            &format!("{seconds:.3}"),
            "-i",
            source.to_str().unwrap(),
            "-frames:v",
            "1",
            "-vf",
            filter,
            out.to_str().unwrap(),
        ],
    );
    assert!(ok, "{err}");
    out
}

/// The PSNR (average over the planes, dB) of picture `a` against `b` (same size), through
/// `filter` applied to `a` first (a crop of a storyboard tile, a frame of an animation).
fn psnr(a: &Path, a_filter: &str, b: &Path) -> f64 {
    let graph = format!("[0:v]{a_filter},format=yuv444p[a];[1:v]format=yuv444p[b];[a][b]psnr");
    let (ok, _, err) = run(
        "ffmpeg",
        &[
            "-i",
            a.to_str().unwrap(),
            "-i",
            b.to_str().unwrap(),
            "-lavfi",
            &graph,
            "-frames:v",
            "1",
            "-f",
            "null",
            "-",
        ],
    );
    assert!(ok, "{err}");
    let value = err
        .split("average:")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no PSNR in {err}"));
    if value == "inf" {
        f64::INFINITY
    } else {
        value.parse().unwrap()
    }
}

#[test]
fn thumbnails_show_the_frame_at_their_time_in_the_size_and_fit_asked() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (src, pictures, edge) = setup(d);
    let base = edge.url("/v/pics");

    // The frame at `time`, in each format, against FFmpeg's extraction from the source.
    for (n, (time, ext, mime, format)) in [
        (1.5, "png", "image/png", "PNG"),
        (4.0, "jpg", "image/jpeg", "JPEG"),
        (7.3, "webp", "image/webp", "WEBP"),
        (11.9, "jpg", "image/jpeg", "JPEG"),
    ]
    .into_iter()
    .enumerate()
    {
        let url = format!("{base}/thumbnail.{ext}?time={time}&width=640&height=360");
        let got = fetch(d, &url, mime, &format!("t{n}.{ext}"));
        let seen = pillow(&got);
        assert_eq!(seen["format"], format, "{url}");
        assert_eq!(seen["size"], serde_json::json!([640, 360]), "{url}");
        let want = reference(d, &src, time, "scale=640:360", &format!("r{n}.png"));
        let db = psnr(&got, "null", &want);
        assert!(
            db >= 30.0,
            "{url}: PSNR {db:.1} dB against ffmpeg -ss {time}"
        );
    }

    // At 320×180 the picture is drawn from the picture track (180 lines, a key frame every
    // half second: `Manifest::picture_track`): still the frame at `time`. A JPEG or WebP
    // that is the whole scaled frame is scaled straight into the encoder's format, a PNG
    // through RGB: both are the frame.
    for (n, (time, ext, mime)) in [
        (0.0, "png", "image/png"),
        (1.5, "jpg", "image/jpeg"),
        (4.0, "webp", "image/webp"),
        (7.3, "png", "image/png"),
        (11.9, "jpg", "image/jpeg"),
    ]
    .into_iter()
    .enumerate()
    {
        let url = format!("{base}/thumbnail.{ext}?time={time}&width=320");
        let got = fetch(d, &url, mime, &format!("s{n}.{ext}"));
        assert_eq!(pillow(&got)["size"], serde_json::json!([320, 180]), "{url}");
        let want = reference(d, &src, time, "scale=320:180", &format!("sr{n}.png"));
        let db = psnr(&got, "null", &want);
        assert!(
            db >= 30.0,
            "{url}: PSNR {db:.1} dB against ffmpeg -ss {time}"
        );
    }

    // The picture track is for pictures only: no playlist names it and it is not served.
    let master = get(&format!("{base}/master.m3u8"));
    assert_eq!(master.status, 200);
    assert!(!master.text().contains("180p"), "{}", master.text());
    assert!(!get(&format!("{base}/manifest.mpd")).text().contains("180p"));
    for path in [
        "180p/media.m3u8",
        "180p/init.mp4",
        "180p/0.m4s",
        "br/180p/track.mp4",
    ] {
        assert_eq!(get(&format!("{base}/{path}")).status, 404, "{path}");
    }

    // The end itself shows the last frame (shown from 359/30 s): the same picture as asking
    // for that frame by its time.
    let end = get(&format!("{base}/thumbnail.png?time=12&width=320")).body;
    let last = get(&format!("{base}/thumbnail.png?time=11.966&width=320")).body;
    assert!(!end.is_empty());
    assert_eq!(end, last, "the end is the last frame");

    // One side asked: the other from the aspect. Both asked, preserved: fits inside.
    let one = fetch(
        d,
        &format!("{base}/thumbnail.jpg?time=2&width=320"),
        "image/jpeg",
        "w.jpg",
    );
    assert_eq!(pillow(&one)["size"], serde_json::json!([320, 180]));
    let fit = fetch(
        d,
        &format!("{base}/thumbnail.png?time=2&width=320&height=320"),
        "image/png",
        "fit.png",
    );
    assert_eq!(pillow(&fit)["size"], serde_json::json!([320, 180]));

    // Crop keeps the middle of a frame scaled to cover; pad puts black bars around it.
    let crop = fetch(
        d,
        &format!("{base}/thumbnail.png?time=5&width=320&height=320&fit_mode=crop"),
        "image/png",
        "crop.png",
    );
    assert_eq!(pillow(&crop)["size"], serde_json::json!([320, 320]));
    let want = reference(
        d,
        &src,
        5.0,
        "scale=569:320,crop=320:320:124:0",
        "crop-ref.png",
    );
    let db = psnr(&crop, "null", &want);
    assert!(db >= 30.0, "crop: PSNR {db:.1} dB");
    let pad = fetch(
        d,
        &format!("{base}/thumbnail.png?time=5&width=320&height=320&fit_mode=pad"),
        "image/png",
        "pad.png",
    );
    assert_eq!(pillow(&pad)["size"], serde_json::json!([320, 320]));
    let bar = psnr(
        &pad,
        "crop=320:70:0:0",
        &reference(
            d,
            &src,
            5.0,
            "scale=320:70,drawbox=c=black:t=fill",
            "bar.png",
        ),
    );
    assert!(
        bar.is_infinite() || bar >= 40.0,
        "the pad's top bar is black: {bar:.1} dB"
    );
    let middle = psnr(
        &pad,
        "crop=320:180:0:70",
        &reference(d, &src, 5.0, "scale=320:180", "mid.png"),
    );
    assert!(
        middle >= 30.0,
        "pad: the frame sits between the bars: {middle:.1} dB"
    );
    let smart = fetch(
        d,
        &format!("{base}/thumbnail.jpg?time=5&width=200&height=360&fit_mode=smartcrop"),
        "image/jpeg",
        "smart.jpg",
    );
    assert_eq!(pillow(&smart)["size"], serde_json::json!([200, 360]));

    // No time: the representative frame the transcoder chose, which is not black.
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("store/videos/pics/manifest.json")).unwrap())
            .unwrap();
    let poster_ms = manifest["poster_ms"]
        .as_u64()
        .expect("the manifest names its poster frame");
    let default = get(&format!("{base}/thumbnail.jpg?width=320")).body;
    let timed = get(&format!(
        "{base}/thumbnail.jpg?width=320&time={}.{:03}",
        poster_ms / 1000,
        poster_ms % 1000
    ))
    .body;
    assert_eq!(default, timed, "no time is the poster's time");
    let default_file = d.join("default.jpg");
    std::fs::write(&default_file, &default).unwrap();
    assert!(pillow(&default_file)["luma"].as_f64().unwrap() > 24.0);

    // The edge draws each picture once, however it is asked; it caches and purges it.
    let drawn = || edge.metric("sunomi_pictures_drawn_total{outcome=\"drawn\"}");
    let before = drawn();
    let first = get(&format!("{base}/thumbnail.webp?time=3&width=320"));
    assert_eq!(first.status, 200);
    let again = get(&format!(
        "{base}/thumbnail.webp?width=320&height=180&time=3.000"
    ));
    assert_eq!(again.body, first.body);
    assert_eq!(again.header("cache-status"), Some("sunomi; hit"));
    assert_eq!(again.header("etag"), first.header("etag"));
    assert!(again.header("cache-control").unwrap().contains("immutable"));
    assert_eq!(drawn(), before + 1.0);
    let purge = request(
        "POST",
        &format!("{}/purge?url=/v/pics/thumbnail.webp", edge.admin),
        &[],
    );
    assert_eq!(purge.status, 200, "{}", purge.text());
    assert_eq!(
        get(&format!("{base}/thumbnail.webp?time=3&width=320")).body,
        first.body
    );
    assert_eq!(drawn(), before + 2.0, "a purged picture is drawn again");
    assert_eq!(
        pictures.metric("sunomi_pictures_total{kind=\"thumbnail\",status=\"200\"}"),
        drawn(),
        "the service drew what the edge asked, no more"
    );
    // The service keeps a track's head by version: a cold picture of a track it has drawn
    // from costs it one storage read, its fragment.
    let reads = || pictures.metric("sunomi_picture_storage_reads_total{result=\"ok\"}");
    let before = reads();
    let cold = get(&format!("{base}/thumbnail.jpg?time=6.05&width=320"));
    assert_eq!(cold.status, 200);
    assert_eq!(
        cold.header("cache-status"),
        Some("sunomi; fwd=miss; stored")
    );
    assert_eq!(reads(), before + 1.0, "one read for a cold picture");
    assert!(edge.metric("sunomi_http_requests_total{route=\"thumbnail\",status=\"200\"}") > 0.0);

    // Every number is bounded; what is not a picture is refused.
    for bad in [
        "time=12.5",
        "time=-1",
        "time=abc",
        "width=0",
        "width=5000",
        "height=8",
        "fit_mode=stretch",
        "fps=10",
        "colour=red",
    ] {
        let r = get(&format!("{base}/thumbnail.jpg?{bad}"));
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
    }
    assert_eq!(get(&format!("{base}/thumbnail.gif")).status, 400);
    assert_eq!(get(&edge.url("/v/aes/thumbnail.jpg")).status, 404);
    assert_eq!(get(&edge.url("/v/pics/aes/thumbnail.jpg")).status, 400);
    assert_eq!(get(&edge.url("/v/nosuchvideo/thumbnail.jpg")).status, 404);
    let head = request(
        "HEAD",
        &format!("{base}/thumbnail.jpg?time=2&width=320"),
        &[],
    );
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
}

#[test]
fn the_storyboard_tiles_are_where_its_index_says() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (src, _pictures, edge) = setup(d);
    let base = edge.url("/v/pics");

    let vtt = get(&format!("{base}/storyboard.vtt"));
    assert_eq!(vtt.status, 200, "{}", vtt.text());
    assert_eq!(vtt.header("content-type"), Some("text/vtt; charset=utf-8"));
    let text = vtt.text();
    assert!(text.starts_with("WEBVTT\n"), "{text}");
    // Cues: start, end, and the tile's rectangle.
    let lines: Vec<&str> = text.lines().collect();
    let mut cues = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if let Some((start, end)) = line.split_once(" --> ") {
            let secs = |t: &str| {
                let p: Vec<f64> = t.split(':').map(|x| x.parse().unwrap()).collect();
                p[0] * 3600.0 + p[1] * 60.0 + p[2]
            };
            let (url, xywh) = lines[i + 1].split_once("#xywh=").unwrap();
            assert_eq!(url, "storyboard.jpg");
            let r: Vec<u32> = xywh.split(',').map(|v| v.parse().unwrap()).collect();
            cues.push((secs(start), secs(end), r));
        }
    }
    assert!(
        cues.len() >= 5,
        "one tile per key frame of a 12 s clip: {text}"
    );
    assert_eq!(cues[0].0, 0.0);
    assert!((cues.last().unwrap().1 - 12.0).abs() < 0.1, "{text}");
    assert!(
        cues.windows(2).all(|w| w[0].1 == w[1].0),
        "contiguous cues: {text}"
    );

    let image = fetch(
        d,
        &format!("{base}/storyboard.jpg"),
        "image/jpeg",
        "board.jpg",
    );
    let seen = pillow(&image);
    let (w, h) = (cues[0].2[2], cues[0].2[3]);
    assert_eq!((w, h), (256, 144));
    let columns = cues.len().min(10) as u32;
    let rows = (cues.len() as u32).div_ceil(columns);
    assert_eq!(seen["size"], serde_json::json!([columns * w, rows * h]));
    for (n, (start, _, r)) in cues.iter().enumerate() {
        assert_eq!(
            (r[0], r[1]),
            ((n as u32 % columns) * w, (n as u32 / columns) * h)
        );
        let want = reference(
            d,
            &src,
            *start,
            &format!("scale={w}:{h}"),
            &format!("tile{n}.png"),
        );
        let db = psnr(&image, &format!("crop={w}:{h}:{}:{}", r[0], r[1]), &want);
        assert!(db >= 30.0, "tile {n} at {start} s: PSNR {db:.1} dB");
    }

    // The JSON index says the same; `format=webp` names the WebP image, which is as large.
    let json: serde_json::Value =
        serde_json::from_slice(&get(&format!("{base}/storyboard.json?format=webp")).body).unwrap();
    assert_eq!(json["url"], "storyboard.webp");
    assert_eq!(json["tile_width"], 256);
    let tiles = json["tiles"].as_array().unwrap();
    assert_eq!(tiles.len(), cues.len());
    for (t, (start, _, r)) in tiles.iter().zip(&cues) {
        assert_eq!(t["start"].as_f64().unwrap(), *start);
        assert_eq!(
            (
                t["x"].as_u64().unwrap() as u32,
                t["y"].as_u64().unwrap() as u32
            ),
            (r[0], r[1])
        );
    }
    let webp = fetch(
        d,
        &format!("{base}/storyboard.webp"),
        "image/webp",
        "board.webp",
    );
    assert_eq!(pillow(&webp)["size"], seen["size"]);
    assert_eq!(
        get(&format!("{base}/storyboard.vtt?format=gif")).status,
        400
    );
    assert_eq!(get(&format!("{base}/storyboard.jpg?width=100")).status, 400);
}

#[test]
fn animated_previews_loop_the_span_asked_at_its_frame_rate() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (src, _pictures, edge) = setup(d);
    let base = edge.url("/v/pics");

    let gif = fetch(
        d,
        &format!("{base}/animated.gif?start=2&end=4&fps=10&width=320"),
        "image/gif",
        "a.gif",
    );
    let seen = pillow(&gif);
    assert_eq!(seen["format"], "GIF");
    assert_eq!(seen["size"], serde_json::json!([320, 180]));
    assert_eq!(seen["frames"], 20);
    assert_eq!(seen["loop"], 0, "loops forever");
    assert!(seen["durations"]
        .as_array()
        .unwrap()
        .iter()
        .all(|d| d == 100));
    // Frame k shows the source at start + k / fps (a 256-colour palette: a lower bar).
    for k in [0u32, 7, 19] {
        let t = 2.0 + f64::from(k) / 10.0;
        let want = reference(d, &src, t, "scale=320:180", &format!("g{k}.png"));
        let db = psnr(&gif, &format!("select=eq(n\\,{k})"), &want);
        assert!(
            db >= 22.0,
            "GIF frame {k}: PSNR {db:.1} dB against the source at {t} s"
        );
    }

    let webp = fetch(d, &format!("{base}/animated.webp"), "image/webp", "a.webp");
    let seen = pillow(&webp);
    assert_eq!(seen["format"], "WEBP");
    assert_eq!(seen["size"], serde_json::json!([320, 180]));
    assert_eq!(seen["frames"], 75, "5 s at 15 fps by default");

    for bad in [
        "start=1&end=12",
        "start=5&end=4",
        "width=641",
        "fps=0",
        "fps=31",
        "start=13",
        "time=1",
    ] {
        let r = get(&format!("{base}/animated.gif?{bad}"));
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
    }
}

#[test]
fn a_fleet_draws_each_picture_once_and_the_service_takes_only_its_edges() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let src = hd_clip_with_audio(d, 6);
    let store = d.join("store");
    let store = store.to_str().unwrap();
    transcode(&src, "fleetpics", store, &[]);
    let pictures = PictureServer::start(store);
    let redis = RedisServer::start();
    let config = d.join("fleet.toml");
    std::fs::write(&config, fleet_config("")).unwrap();
    let url = redis.url();
    let mut flags = vec![
        "--redis",
        url.as_str(),
        "--config",
        config.to_str().unwrap(),
    ];
    flags.extend(pictures.edge_flags());
    let edges: Vec<Edge> = (0..3)
        .map(|_| Edge::start(store, &flags, &PictureServer::EDGE_ENV))
        .collect();
    let all: Vec<&Edge> = edges.iter().collect();
    wait_members(&all, 3);

    // Every edge, asked the same pictures in other words at once: one drawing each.
    let asks = [
        "time=2&width=320",
        "width=320&time=2.0",
        "width=320&height=180&time=2",
    ];
    std::thread::scope(|s| {
        for (n, edge) in edges.iter().enumerate() {
            for ask in asks {
                let url = edge.url(&format!("/v/fleetpics/thumbnail.jpg?{ask}"));
                s.spawn(move || assert_eq!(get(&url).status, 200, "edge {n}: {url}"));
            }
        }
    });
    let bodies: Vec<Vec<u8>> = edges
        .iter()
        .map(|e| get(&e.url("/v/fleetpics/thumbnail.jpg?time=2&width=320")).body)
        .collect();
    assert!(bodies.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(
        pictures.metric("sunomi_pictures_total{kind=\"thumbnail\",status=\"200\"}"),
        1.0,
        "the fleet drew the picture once"
    );

    // The service answers the edges' secret only.
    let path = format!(
        "{}/pictures/fleetpics/thumbnail.jpg?rendition=360p&time=0&end=0&fps=0&fit_mode=preserve&scaled=320x180&size=320x180&at=0,0",
        pictures.url
    );
    assert_eq!(get(&path).status, 401);
    assert_eq!(
        request("GET", &path, &[("Authorization", "Bearer 00")]).status,
        401
    );
    let ok = request(
        "GET",
        &path,
        &[("Authorization", &format!("Bearer {PICTURES_SECRET}"))],
    );
    assert_eq!(ok.status, 200);
    let stale = request(
        "GET",
        &path,
        &[
            ("Authorization", &format!("Bearer {PICTURES_SECRET}")),
            ("X-Sunomi-Track-Version", "not-the-version"),
        ],
    );
    assert_eq!(
        stale.status, 409,
        "a picture planned on another version of the track"
    );
    let huge = path.replace("size=320x180", "size=9000x9000");
    let r = request(
        "GET",
        &huge,
        &[("Authorization", &format!("Bearer {PICTURES_SECRET}"))],
    );
    assert_eq!(r.status, 400);
}
