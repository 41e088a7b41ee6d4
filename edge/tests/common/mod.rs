//! Shared test harness: real FFmpeg sources, the real `sunomi-origin` binary, real edges as
//! processes on free ports, HTTP over loopback, and checks with ffmpeg/ffprobe.
#![allow(dead_code)]

mod certs;
mod pictures;
mod procs;
#[allow(unused_imports)] // Only the TLS tests make certificates.
pub use certs::*;
#[allow(unused_imports)] // Only the tests that judge pictures cut fragments.
pub use pictures::*;
pub use procs::*;

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Path of a workspace binary built next to this test's `sunomi-edge`.
pub fn binary(name: &str) -> PathBuf {
    let edge = PathBuf::from(env!("CARGO_BIN_EXE_sunomi-edge"));
    let path = edge.with_file_name(name);
    assert!(
        path.exists(),
        "{} is missing: build the workspace binaries first (`make test` does)",
        path.display()
    );
    path
}

/// A 1280x720 30 fps clip with a tone, `seconds` long.
pub fn hd_clip_with_audio(dir: &Path, seconds: u32) -> PathBuf {
    let t = seconds.to_string();
    make_source(
        dir,
        "hd.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=1280x720:rate=30",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=44100",
            "-t",
            &t,
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-c:a",
            "aac",
            "-shortest",
        ],
    )
}

/// A 1280x720 30 fps clip, `seconds` long, with two audio tracks: English (a 440 Hz tone,
/// the first and default) and French (660 Hz).
pub fn hd_clip_with_two_audio_tracks(dir: &Path, seconds: u32) -> PathBuf {
    let t = seconds.to_string();
    make_source(
        dir,
        "hd2.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=1280x720:rate=30",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=44100",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=660:sample_rate=44100",
            "-map",
            "0:v",
            "-map",
            "1:a",
            "-map",
            "2:a",
            "-t",
            &t,
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-c:a",
            "aac",
            "-metadata:s:a:0",
            "language=eng",
            "-metadata:s:a:1",
            "language=fra",
            "-disposition:a:0",
            "default",
            "-disposition:a:1",
            "0",
        ],
    )
}

/// Runs `sunomi-origin` with `args` and extra environment.
pub fn origin(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(binary("sunomi-origin"))
        .args(args)
        .envs(env.iter().copied())
        .env("RUST_LOG", "warn")
        .output()
        .expect("running sunomi-origin")
}

/// Transcodes `input` as video `id` into `store`, failing the test if it fails.
pub fn transcode(input: &Path, id: &str, store: &str, env: &[(&str, &str)]) {
    let input = input.to_str().unwrap();
    let out = origin(
        &[
            "transcode",
            input,
            "--id",
            id,
            "--store",
            store,
            "--preset",
            "ultrafast",
        ],
        env,
    );
    assert!(
        out.status.success(),
        "transcode failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Makes a `seconds`-long silent test pattern of `size` (`WxH`) at 25 fps and transcodes it
/// as `id` into the store `dir/store`; returns the store's path.
pub fn store_pattern(dir: &Path, id: &str, size: &str, seconds: u32) -> String {
    let src = make_source(
        dir,
        &format!("{id}.mp4"),
        &[
            "-f",
            "lavfi",
            "-i",
            &format!("testsrc2=size={size}:rate=25"),
            "-t",
            &seconds.to_string(),
        ],
    );
    let store = dir.join("store").to_str().unwrap().to_string();
    transcode(&src, id, &store, &[]);
    store
}

/// [`store_pattern`], then an edge on that store started with `edge_flags`.
pub fn serve_pattern(dir: &Path, id: &str, size: &str, seconds: u32, edge_flags: &[&str]) -> Edge {
    let store = store_pattern(dir, id, size, seconds);
    Edge::start(&store, edge_flags, &[])
}

/// The secret the test picture services and their edges share.
pub const PICTURES_SECRET: &str = "7069637475726573207365637265742121";

/// A running picture service (`sunomi-origin pictures`) over a store.
pub struct PictureServer {
    pub process: Process,
    pub url: String,
}

impl PictureServer {
    /// Starts one on a free port and waits until it answers.
    pub fn start(store: &str) -> PictureServer {
        Self::start_with_env(store, &[])
    }

    /// Starts one with extra environment (an S3 store's endpoint and credentials).
    pub fn start_with_env(store: &str, env: &[(&str, &str)]) -> PictureServer {
        let listen = format!("127.0.0.1:{}", free_port());
        let child = Command::new(binary("sunomi-origin"))
            .args(["pictures", "--store", store, "--listen", &listen])
            .envs(env.iter().copied())
            .env("SUNOMI_PICTURES_SECRET", PICTURES_SECRET)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting sunomi-origin pictures");
        let mut server = PictureServer {
            process: Process(child),
            url: format!("http://{listen}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while get(&format!("{}/healthz", server.url)).status != 200 {
            if let Ok(Some(status)) = server.process.0.try_wait() {
                panic!("sunomi-origin pictures exited early: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "the picture service did not come up"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    /// The flags an edge using this service takes (the secret goes in [`Self::EDGE_ENV`]).
    pub fn edge_flags(&self) -> [&str; 2] {
        ["--pictures", &self.url]
    }

    /// The environment an edge using a test picture service needs.
    pub const EDGE_ENV: [(&'static str, &'static str); 1] =
        [("SUNOMI_PICTURES_SECRET", PICTURES_SECRET)];

    /// The value of a series on the service's `/metrics` (0 when absent: the service
    /// registers a series on its first picture).
    pub fn metric(&self, series: &str) -> f64 {
        get(&format!("{}/metrics", self.url))
            .text()
            .lines()
            .find_map(|l| {
                l.strip_prefix(series)
                    .filter(|v| v.starts_with(' '))
                    .and_then(|v| v.trim().parse().ok())
            })
            .unwrap_or(0.0)
    }
}

/// A running edge.
pub struct Edge {
    pub process: Process,
    pub base: String,
    pub admin: String,
}

impl Edge {
    /// Starts `sunomi-edge` on free ports with `extra` flags and waits until it answers.
    pub fn start(store: &str, extra: &[&str], env: &[(&str, &str)]) -> Edge {
        let (port, admin_port) = (free_port(), free_port());
        let listen = format!("127.0.0.1:{port}");
        let admin = format!("127.0.0.1:{admin_port}");
        let child = Command::new(binary("sunomi-edge"))
            .args(["--store", store, "--listen", &listen, "--admin", &admin])
            .args(extra)
            .envs(env.iter().copied())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting sunomi-edge");
        let mut edge = Edge {
            process: Process(child),
            base: format!("http://{listen}"),
            admin: format!("http://{admin}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = edge.process.0.try_wait() {
                panic!("sunomi-edge exited early: {status}");
            }
            // The admin listener can answer before the player listener is bound: wait for
            // both, or a test's first request may be refused.
            if get(&format!("{}/healthz", edge.admin)).status == 200
                && std::net::TcpStream::connect(&listen).is_ok()
            {
                return edge;
            }
            assert!(Instant::now() < deadline, "sunomi-edge did not come up");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// URL of `path` on this edge.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The value of a metric line (exact name with labels) on the admin listener. A series
    /// the edge does not export fails the test: an absent series must never pass for 0.
    pub fn metric(&self, series: &str) -> f64 {
        self.metric_opt(series)
            .unwrap_or_else(|| panic!("the edge exports no series {series}"))
    }

    /// The value of a metric line, if the edge exports it.
    pub fn metric_opt(&self, series: &str) -> Option<f64> {
        let text = get(&format!("{}/metrics", self.admin)).text();
        text.lines().find_map(|l| {
            l.strip_prefix(series)
                .filter(|v| v.starts_with(' '))
                .and_then(|v| v.trim().parse().ok())
        })
    }
}

/// An HTTP response.
pub struct Response {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

/// Sends a request with optional headers; any status is returned, transport errors give 0.
pub fn request(method: &str, url: &str, headers: &[(&str, &str)]) -> Response {
    send(method, url, headers, None)
}

/// POSTs `body` with its `Content-Type`.
pub fn post(url: &str, content_type: &str, body: &[u8]) -> Response {
    send("POST", url, &[("Content-Type", content_type)], Some(body))
}

fn send(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> Response {
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(30))
        .build();
    let mut req = agent.request(method, url);
    for (k, v) in headers {
        req = req.set(k, v);
    }
    let sent = match body {
        Some(b) => req.send_bytes(b),
        None => req.call(),
    };
    let resp = match sent {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(_) => {
            return Response {
                status: 0,
                headers: HashMap::new(),
                body: Vec::new(),
            }
        }
    };
    let status = resp.status();
    let headers = resp
        .headers_names()
        .into_iter()
        .filter_map(|n| {
            resp.header(&n)
                .map(|v| (n.to_ascii_lowercase(), v.to_string()))
        })
        .collect();
    let mut body = Vec::new();
    let _ = resp
        .into_reader()
        .take(256 * 1024 * 1024)
        .read_to_end(&mut body);
    Response {
        status,
        headers,
        body,
    }
}

/// GET with no extra headers.
pub fn get(url: &str) -> Response {
    request("GET", url, &[])
}

/// GET that must succeed.
pub fn get_ok(url: &str) -> Vec<u8> {
    let r = get(url);
    assert_eq!(r.status, 200, "GET {url}: {}", r.text());
    r.body
}

/// What a transcoded video must look like from the edge.
pub struct Expect {
    /// Video frames per rendition (source seconds × fps).
    pub frames: u64,
    /// Renditions as (width, height), highest first.
    pub resolutions: Vec<(u64, u64)>,
    /// Whether an audio rendition is advertised.
    pub audio: bool,
}

fn m3u8_master(bytes: &[u8]) -> m3u8_rs::MasterPlaylist {
    m3u8_rs::parse_master_playlist_res(bytes).expect("valid multivariant playlist")
}

fn m3u8_media(bytes: &[u8]) -> m3u8_rs::MediaPlaylist {
    m3u8_rs::parse_media_playlist_res(bytes).expect("valid media playlist")
}

/// Resolves a playlist-relative URI against the URL of the playlist.
pub fn resolve(playlist_url: &str, uri: &str) -> String {
    let base = &playlist_url[..playlist_url.rfind('/').unwrap() + 1];
    format!("{base}{uri}")
}

/// The first frame of `init + segment`: (is key frame, presentation time in seconds).
fn first_frame(dir: &Path, init: &[u8], segment: &[u8], stream: &str) -> (bool, f64) {
    let file = dir.join(format!("probe-{stream}.mp4"));
    std::fs::write(&file, [init, segment].concat()).unwrap();
    let (ok, out, err) = run(
        "ffprobe",
        &[
            "-v",
            "error",
            "-select_streams",
            stream,
            "-show_frames",
            "-read_intervals",
            "%+#1",
            "-show_entries",
            "frame=key_frame,pts_time",
            "-of",
            "csv=p=0",
            file.to_str().unwrap(),
        ],
    );
    assert!(ok, "ffprobe failed: {err}");
    let line = out.lines().next().unwrap_or_default().to_string();
    let mut parts = line.split(',');
    let key = parts.next() == Some("1");
    let pts = parts
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or(f64::NAN);
    (key, pts)
}

/// Independent implementation of the RFC 8216 peak segment bit rate, for checking.
pub fn rfc_peak(sizes: &[(u64, f64)], target: f64) -> f64 {
    let mut peak = 0f64;
    for i in 0..sizes.len() {
        let (mut b, mut d) = (0u64, 0f64);
        for s in &sizes[i..] {
            b += s.0;
            d += s.1;
            if d > 1.5 * target + 1e-9 {
                break;
            }
            if d >= 0.5 * target - 1e-9 {
                peak = peak.max(b as f64 * 8.0 / d);
            }
        }
    }
    peak
}

struct FetchedTrack {
    sizes: Vec<(u64, f64)>,
    starts: Vec<f64>,
}

fn fetch_track(
    dir: &Path,
    playlist_url: &str,
    stream: &str,
    check_keyframes: bool,
) -> FetchedTrack {
    let media = m3u8_media(&get_ok(playlist_url));
    assert!(media.end_list, "VOD playlists end with ENDLIST");
    assert_eq!(media.playlist_type, Some(m3u8_rs::MediaPlaylistType::Vod));
    let map = media.segments[0]
        .map
        .as_ref()
        .expect("EXT-X-MAP on the first segment");
    let init = get_ok(&resolve(playlist_url, &map.uri));
    let mut sizes = Vec::new();
    let mut starts = Vec::new();
    for seg in &media.segments {
        assert!(
            seg.duration.round() as u64 <= media.target_duration,
            "EXTINF {} over TARGETDURATION {}",
            seg.duration,
            media.target_duration
        );
        let url = resolve(playlist_url, &seg.uri);
        let body = get_ok(&url);
        let (key, pts) = first_frame(dir, &init, &body, stream);
        if check_keyframes {
            assert!(key, "{url} does not start with a key frame");
        }
        sizes.push((body.len() as u64, f64::from(seg.duration)));
        starts.push(pts);
    }
    FetchedTrack { sizes, starts }
}

/// Fetches every playlist and segment of video `id` from `base` and checks what players rely on.
pub fn verify_stream(base: &str, id: &str, expect: &Expect) {
    let dir = tempfile::tempdir().unwrap();
    let master_url = format!("{base}/v/{id}/master.m3u8");
    let master = m3u8_master(&get_ok(&master_url));
    assert!(master.independent_segments);
    let audio = master
        .alternatives
        .iter()
        .find(|a| a.media_type == m3u8_rs::AlternativeMediaType::Audio);
    assert_eq!(audio.is_some(), expect.audio, "audio rendition advertised");
    let audio_track = audio.map(|a| {
        assert!(
            a.default && a.autoselect && a.language.is_some() && a.channels.as_deref() == Some("2")
        );
        fetch_track(
            dir.path(),
            &resolve(&master_url, a.uri.as_ref().unwrap()),
            "a:0",
            false,
        )
    });

    let variants: Vec<_> = master.variants.iter().filter(|v| !v.is_i_frame).collect();
    let resolutions: Vec<_> = variants
        .iter()
        .map(|v| v.resolution.map(|r| (r.width, r.height)).unwrap())
        .collect();
    assert_eq!(resolutions, expect.resolutions);
    let mut video_starts: Option<Vec<f64>> = None;
    for v in &variants {
        let codecs = v.codecs.as_deref().unwrap();
        assert!(codecs.starts_with("avc1."), "{codecs}");
        assert_eq!(codecs.contains("mp4a.40.2"), expect.audio, "{codecs}");
        assert!(v.frame_rate.is_some() && v.average_bandwidth.is_some());
        let url = resolve(&master_url, &v.uri);
        let track = fetch_track(dir.path(), &url, "v:0", true);
        match &video_starts {
            None => video_starts = Some(track.starts.clone()),
            Some(first) => {
                assert_eq!(
                    first.len(),
                    track.starts.len(),
                    "same segment count on every rung"
                );
                for (a, b) in first.iter().zip(&track.starts) {
                    assert!(
                        (a - b).abs() < 1e-3,
                        "segment boundaries differ across rungs: {a} vs {b}"
                    );
                }
            }
        }
        // BANDWIDTH covers RFC 8216's peak of the renditions that play together (the video's
        // peak plus the audio's, each over its own 0.5–1.5 × target windows), and not by
        // more than 10 %.
        let target = m3u8_media(&get_ok(&url)).target_duration as f64;
        let peak = rfc_peak(&track.sizes, target)
            + audio_track
                .as_ref()
                .map_or(0.0, |a| rfc_peak(&a.sizes, target));
        let bw = v.bandwidth as f64;
        assert!(bw >= peak, "BANDWIDTH {bw} below measured peak {peak}");
        assert!(
            bw <= peak * 1.10,
            "BANDWIDTH {bw} more than 10 % over measured peak {peak}"
        );
        // Every frame of the source, decoded.
        let (ok, out, err) = run(
            "ffprobe",
            &[
                "-v",
                "error",
                "-count_frames",
                "-select_streams",
                "v:0",
                "-show_entries",
                "stream=nb_read_frames",
                "-of",
                "csv=p=0",
                &url,
            ],
        );
        assert!(ok, "ffprobe {url}: {err}");
        let frames: i64 = out
            .lines()
            .find(|l| !l.trim().is_empty())
            .and_then(|l| l.trim().trim_end_matches(',').parse().ok())
            .unwrap_or_else(|| panic!("no frame count in {out:?}"));
        assert!(
            (frames - expect.frames as i64).abs() <= 1,
            "{url}: decoded {frames} frames, source has {}",
            expect.frames
        );
    }
    if let (Some(a), Some(v)) = (&audio_track, &video_starts) {
        for (n, (va, aa)) in v.iter().zip(&a.starts).enumerate() {
            assert!(
                (va - aa).abs() <= 1024.0 / 48_000.0 + 1e-3,
                "audio segment {n} starts at {aa}, video at {va}"
            );
        }
    }
    // I-frame playlists: byte ranges point at each fragment's moof inside the segment.
    for v in master.variants.iter().filter(|v| v.is_i_frame) {
        let url = resolve(&master_url, &v.uri);
        let iframes = m3u8_media(&get_ok(&url));
        assert!(iframes.i_frames_only && !iframes.segments.is_empty());
        let first = &iframes.segments[0];
        let range = first.byte_range.as_ref().expect("BYTERANGE");
        let offset = range.offset.unwrap_or(0);
        let r = request(
            "GET",
            &resolve(&url, &first.uri),
            &[(
                "Range",
                &format!("bytes={}-{}", offset, offset + range.length - 1),
            )],
        );
        assert_eq!(r.status, 206);
        assert_eq!(&r.body[4..8], b"moof");
    }
    // The whole presentation decodes without a single error.
    let (ok, _, err) = run(
        "ffmpeg",
        &[
            "-v",
            "error",
            "-i",
            &master_url,
            "-map",
            "0",
            "-f",
            "null",
            "-",
        ],
    );
    assert!(
        ok && err.trim().is_empty(),
        "ffmpeg decoding the master printed: {err}"
    );
}

/// The fleet secret of test fleets.
pub const FLEET_TEST_SECRET: &str = "00112233445566778899aabbccddeeff";

/// Fleet timings for tests: heartbeats every 200 ms, gone after 1.5 s.
pub const FLEET_TEST_CONFIG: &str = "[fleet]
secret = \"00112233445566778899aabbccddeeff\"
heartbeat_interval_ms = 200
heartbeat_ttl_ms = 1500
join_after_polls = 2
leave_after_polls = 1
peer_timeout_ms = 3000
peer_suspect_ms = 3000
";

/// Starts `n` edges on `store` coordinated through `redis`, with [`FLEET_TEST_CONFIG`] plus
/// `extra_config` (more keys of the `[fleet]` table; a key it sets replaces the default's),
/// and waits until every edge sees all `n`.
pub fn start_fleet(
    dir: &Path,
    store: &str,
    redis: &RedisServer,
    n: usize,
    extra_config: &str,
) -> Vec<Edge> {
    let config = dir.join(format!("fleet-{}.toml", free_port()));
    std::fs::write(&config, fleet_config(extra_config)).unwrap();
    let config = config.to_str().unwrap().to_string();
    let url = redis.url();
    let edges: Vec<Edge> = (0..n)
        .map(|_| Edge::start(store, &["--redis", &url, "--config", &config], &[]))
        .collect();
    wait_members(&edges.iter().collect::<Vec<_>>(), n);
    edges
}

/// [`FLEET_TEST_CONFIG`] with the `[fleet]` keys of `extra` added, replacing defaults of the
/// same name (TOML refuses a key given twice).
pub fn fleet_config(extra: &str) -> String {
    let key = |line: &str| line.split('=').next().unwrap_or("").trim().to_string();
    let overridden: Vec<String> = extra.lines().filter(|l| l.contains('=')).map(key).collect();
    let defaults: String = FLEET_TEST_CONFIG
        .lines()
        .filter(|l| !l.contains('=') || !overridden.contains(&key(l)))
        .map(|l| format!("{l}\n"))
        .collect();
    format!("{defaults}{extra}")
}

/// Waits until every edge counts `n` fleet members; returns how long it took.
pub fn wait_members(edges: &[&Edge], n: usize) -> Duration {
    wait_until(
        Duration::from_secs(30),
        &format!("{n} fleet members"),
        || {
            edges
                .iter()
                .all(|e| e.metric("sunomi_fleet_members") == n as f64)
        },
    )
}

/// Polls `condition` every 20 ms until it holds; returns the time it took, panics after
/// `limit` (a guard against hanging, not a performance threshold).
pub fn wait_until(limit: Duration, what: &str, mut condition: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !condition() {
        assert!(started.elapsed() < limit, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
    started.elapsed()
}

/// A metric summed over edges.
pub fn fleet_metric(edges: &[&Edge], series: &str) -> f64 {
    edges.iter().map(|e| e.metric(series)).sum()
}

/// Every init and segment path of video `id` (all renditions and audio), read through `edge`.
pub fn media_object_paths(edge: &Edge, id: &str) -> Vec<String> {
    let master_url = edge.url(&format!("/v/{id}/master.m3u8"));
    let master = m3u8_master(&get_ok(&master_url));
    let mut playlists: Vec<String> = master
        .variants
        .iter()
        .filter(|v| !v.is_i_frame)
        .map(|v| resolve(&master_url, &v.uri))
        .collect();
    playlists.extend(
        master
            .alternatives
            .iter()
            .filter_map(|a| a.uri.as_ref().map(|u| resolve(&master_url, u))),
    );
    let mut paths = Vec::new();
    for url in playlists {
        let media = m3u8_media(&get_ok(&url));
        if let Some(map) = media.segments.first().and_then(|s| s.map.as_ref()) {
            paths.push(resolve(&url, &map.uri));
        }
        paths.extend(media.segments.iter().map(|s| resolve(&url, &s.uri)));
    }
    paths
        .into_iter()
        .map(|u| u.trim_start_matches(&edge.base).to_string())
        .collect()
}

/// Decodes every stream of `url` with ffmpeg (nothing may be printed at level error) and
/// returns its duration as ffprobe reports it.
pub fn decodes_cleanly(url: &str) -> f64 {
    let (ok, _, err) = run(
        "ffmpeg",
        &["-v", "error", "-i", url, "-map", "0", "-f", "null", "-"],
    );
    assert!(ok && err.trim().is_empty(), "ffmpeg on {url}: {err}");
    probed_duration(url)
}

/// The duration ffprobe reports for `url`, seconds.
pub fn probed_duration(url: &str) -> f64 {
    let (ok, out, err) = run(
        "ffprobe",
        &[
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
            url,
        ],
    );
    assert!(ok, "ffprobe {url}: {err}");
    out.trim().parse().unwrap_or(0.0)
}

/// Validates MPD `text` against the MPEG-DASH schema (ISO/IEC 23009-1's DASH-MPD.xsd, in
/// tests/schemas/dash) with xmlschema from PyPI.
pub fn mpd_schema_valid(dir: &Path, text: &str) {
    let file = dir.join("checked.mpd");
    std::fs::write(&file, text).unwrap();
    let package = std::env::var("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string());
    let script = Path::new(&package).join("tests/schemas/dash/validate.py");
    let out = std::process::Command::new(python())
        .arg(script)
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the MPD is not valid against DASH-MPD.xsd:\n{}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
}
