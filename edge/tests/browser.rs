//! Real browsers: hls.js, Shaka Player and dash.js in headless Chromium play what the edge
//! serves, every format and protection, and report what a viewer would see; a plain
//! `<video>` element plays a progressive download.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

/// Plays `url` for `seconds` with `player` (`hls`, `shaka` or `dashjs`) in Chromium; returns its JSON
/// summary, or why it did not play.
fn try_play(player: &str, url: &str, seconds: u32) -> Result<serde_json::Value, String> {
    try_play_with(player, url, seconds, "")
}

/// [`try_play`] with extra Chromium flags.
fn try_play_with(
    player: &str,
    url: &str,
    seconds: u32,
    chromium_flags: &str,
) -> Result<serde_json::Value, String> {
    try_play_env(player, url, seconds, chromium_flags, &[])
}

/// [`try_play_with`] with variables for play.mjs (`CLEARKEY_LICENCE`).
fn try_play_env(
    player: &str,
    url: &str,
    seconds: u32,
    chromium_flags: &str,
    env: &[(&str, &str)],
) -> Result<serde_json::Value, String> {
    let scripts = manifest_dir().join("tests/browser");
    for module in ["hls.js", "shaka-player", "playwright-core"] {
        assert!(
            scripts.join("node_modules").join(module).exists(),
            "{module} is missing: `make test` installs it (npm ci in edge/tests/browser)"
        );
    }
    let out = Command::new("node")
        .arg(scripts.join("play.mjs"))
        .args([player, url, &seconds.to_string()])
        .env("CHROMIUM_FLAGS", chromium_flags)
        .envs(env.iter().copied())
        .current_dir(&scripts)
        .output()
        .expect("node must be installed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let summary: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap_or(""))
        .map_err(|_| format!("{player} {url}: no summary: {stdout} {stderr}"))?;
    if !out.status.success() || summary["currentTime"].as_f64().unwrap_or(0.0) < f64::from(seconds)
    {
        return Err(format!("{player} {url}: {summary}"));
    }
    Ok(summary)
}

/// Plays `url` and fails the test if it does not play.
fn play(player: &str, url: &str, seconds: u32) -> serde_json::Value {
    try_play(player, url, seconds).unwrap_or_else(|e| panic!("{e}"))
}

/// A signed viewer token for `id` (`exp=…&sig=…`).
fn token(config: &str, id: &str) -> String {
    let out = Command::new(binary("sunomi-edge"))
        .args(["--config", config, "token", "--id", id, "--ttl", "3600"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A 20 s 720p clip with English and French audio and English subtitles, and an edge
/// serving it with keys.
fn setup(dir: &Path) -> (Edge, String) {
    let src = hd_clip_with_two_audio_tracks(dir, 20);
    let store = dir.join("store");
    transcode(&src, "browser", store.to_str().unwrap(), &[]);
    let subs = store.join("videos/browser/subs");
    std::fs::create_dir_all(&subs).unwrap();
    std::fs::write(
        subs.join("en.vtt"),
        "WEBVTT\n\n00:00:01.000 --> 00:00:07.000\nHello from Sunomi\n",
    )
    .unwrap();
    let config = dir.join("edge.toml");
    std::fs::write(
        &config,
        "[encryption]\nmaster_key = \"00112233445566778899aabbccddeeff\"\ntoken_secret = \"ffeeddccbbaa99887766554433221100\"\nclear_lead_segments = 1\n",
    )
    .unwrap();
    let config = config.to_str().unwrap().to_string();
    let edge = Edge::start(store.to_str().unwrap(), &["--config", &config], &[]);
    (edge, config)
}

#[test]
fn hls_js_in_chromium_plays_cmaf_and_ts_with_subtitles() {
    let dir = tempfile::tempdir().unwrap();
    let (edge, _) = setup(dir.path());
    let cmaf = play("hls", &edge.url("/v/browser/master.m3u8"), 10);
    assert_eq!(cmaf["levels"], 3, "{cmaf}");
    assert_eq!(cmaf["audioTracks"], 2, "both languages: {cmaf}");
    assert_eq!(cmaf["subtitleTracks"], 1, "{cmaf}");
    let has_en = |summary: &serde_json::Value| {
        summary["textTracks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l == "en")
    };
    assert!(
        has_en(&cmaf),
        "the subtitle track shows in video.textTracks: {cmaf}"
    );
    // MPEG-TS: hls.js transmuxes it (audio muxed in, so no separate audio track).
    let ts = play("hls", &edge.url("/v/browser/ts/master.m3u8"), 10);
    assert_eq!(ts["levels"], 3, "{ts}");
    assert!(has_en(&ts), "{ts}");
}

/// Every output format and protection, in both web players: 10 s each without a fatal
/// error. SAMPLE-AES TS is also played rung by rung (each rung's slices are encrypted
/// differently; a player that picks the lowest rung would hide a rung that does not decrypt).
#[test]
fn hls_js_and_shaka_play_every_format_and_protection() {
    let dir = tempfile::tempdir().unwrap();
    let (edge, config) = setup(dir.path());
    let t = token(&config, "browser");
    let mut cases = vec![
        ("CMAF".to_string(), "/v/browser/master.m3u8".to_string()),
        ("TS".into(), "/v/browser/ts/master.m3u8".into()),
        ("byte ranges".into(), "/v/browser/br/master.m3u8".into()),
        (
            "AES-128 CMAF".into(),
            format!("/v/browser/aes/master.m3u8?{t}"),
        ),
        (
            "AES-128 TS".into(),
            format!("/v/browser/aes/ts/master.m3u8?{t}"),
        ),
        (
            "SAMPLE-AES TS".into(),
            format!("/v/browser/saes/ts/master.m3u8?{t}"),
        ),
    ];
    for rung in ["720p", "480p", "360p"] {
        cases.push((
            format!("SAMPLE-AES TS {rung}"),
            format!("/v/browser/saes/ts/{rung}/media.m3u8?{t}"),
        ));
    }
    let mut failures = Vec::new();
    for player in ["hls", "shaka"] {
        for (name, path) in &cases {
            // Shaka refuses encrypted MPEG-2 TS through MSE by design (its error 4040,
            // HLS_MSE_ENCRYPTED_MP2T_NOT_SUPPORTED); SAMPLE-AES TS is for hls.js and Apple.
            if player == "shaka" && name.starts_with("SAMPLE-AES TS") {
                continue;
            }
            match try_play(player, &edge.url(path), 10) {
                Ok(summary) => eprintln!("{player} plays {name}: {summary}"),
                Err(e) => failures.push(format!("{player} does not play {name}: {e}")),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A clip plays in both players, and they report its duration as the video segments it
/// holds (within one frame): audio does not outlast the picture.
#[test]
fn a_clip_plays_for_the_duration_of_its_video_segments() {
    let dir = tempfile::tempdir().unwrap();
    let (edge, _) = setup(dir.path());
    let master = edge.url("/v/browser/master.m3u8?start=6&end=18");
    let body = get_ok(&master);
    let parsed = m3u8_rs::parse_master_playlist_res(&body).unwrap();
    let video = resolve(&master, &parsed.variants[0].uri);
    let media = m3u8_rs::parse_media_playlist_res(&get_ok(&video)).unwrap();
    let expected: f64 = media.segments.iter().map(|s| f64::from(s.duration)).sum();
    assert!(expected >= 11.9, "the clip holds {expected} s");
    for player in ["hls", "shaka"] {
        let summary = play(player, &master, 10);
        let duration = summary["duration"].as_f64().unwrap_or(0.0);
        assert!(
            (duration - expected).abs() <= 1.0 / 30.0 + 1e-3,
            "{player} reports {duration} s for a clip of {expected} s: {summary}"
        );
    }
}

/// DASH in Shaka Player and dash.js: the MPD over the HLS segments plays with its three
/// rungs, its audio and its subtitles; a clip of it plays for the length of its video
/// segments.
#[test]
fn shaka_and_dash_js_play_the_dash_mpd_and_a_clip_of_it() {
    let dir = tempfile::tempdir().unwrap();
    let (edge, _) = setup(dir.path());
    let master = edge.url("/v/browser/master.m3u8?start=6&end=18");
    let parsed = m3u8_rs::parse_master_playlist_res(&get_ok(&master)).unwrap();
    let video = resolve(&master, &parsed.variants[0].uri);
    let media = m3u8_rs::parse_media_playlist_res(&get_ok(&video)).unwrap();
    let expected: f64 = media.segments.iter().map(|s| f64::from(s.duration)).sum();
    for player in ["shaka", "dashjs"] {
        let full = play(player, &edge.url("/v/browser/manifest.mpd"), 10);
        assert_eq!(full["levels"], 3, "{player}: {full}");
        assert_eq!(full["audioTracks"], 2, "{player}: {full}");
        assert_eq!(full["subtitleTracks"], 1, "{player}: {full}");
        let clip = play(
            player,
            &edge.url("/v/browser/manifest.mpd?start=6&end=18"),
            8,
        );
        let duration = clip["duration"].as_f64().unwrap_or(0.0);
        assert!(
            (duration - expected).abs() <= 1.0 / 30.0 + 1e-3,
            "{player} reports {duration} s for a clip of {expected} s: {clip}"
        );
    }
}

/// DASH under Common Encryption in Chromium: Shaka Player and dash.js ask the edge's W3C
/// ClearKey licence (through EME's `org.w3.clearkey`) for the keys of the `cenc` MPD and the
/// `cbcs` one, and play 10 s of each with their rungs and audio.
#[test]
fn shaka_and_dash_js_play_cenc_and_cbcs_dash_and_hls_js_cbcs_hls_with_keys_from_the_clearkey_licence(
) {
    let dir = tempfile::tempdir().unwrap();
    let (edge, config) = setup(dir.path());
    let t = token(&config, "browser");
    let licence = edge.url(&format!("/v/browser/keys/clearkey?{t}"));
    let granted = "sunomi_http_requests_total{route=\"licence\",status=\"200\"}";
    let mut failures = Vec::new();
    for player in ["shaka", "dashjs"] {
        for profile in ["cenc", "saes"] {
            let before = edge.metric_opt(granted).unwrap_or(0.0);
            let url = edge.url(&format!("/v/browser/{profile}/manifest.mpd?{t}"));
            match try_play_env(player, &url, 10, "", &[("CLEARKEY_LICENCE", &licence)]) {
                Ok(summary) => {
                    eprintln!("{player} plays {profile} DASH: {summary}");
                    assert_eq!(summary["levels"], 3, "{player} {profile}: {summary}");
                    assert_eq!(summary["audioTracks"], 2, "{player} {profile}: {summary}");
                    // The keys came from the licence (the video cannot play without them).
                    assert!(
                        edge.metric_opt(granted).unwrap_or(0.0) > before,
                        "{player} {profile}: no licence was granted"
                    );
                }
                Err(e) => failures.push(format!("{player} does not play {profile} DASH: {e}")),
            }
        }
    }
    // HLS over the same `cbcs` media: hls.js decrypts `cbcs` only through EME, so its
    // playlists name the key for ClearKey (`keyformat=clearkey`: a data URI of the key id,
    // KEYFORMAT="org.w3.clearkey") and it asks the same licence; Shaka plays the default
    // form, which names the key by URL.
    let before = edge.metric_opt(granted).unwrap_or(0.0);
    let url = edge.url(&format!(
        "/v/browser/saes/master.m3u8?{t}&keyformat=clearkey"
    ));
    match try_play_env("hls", &url, 10, "", &[("CLEARKEY_LICENCE", &licence)]) {
        Ok(summary) => {
            eprintln!("hls.js plays SAMPLE-AES fMP4 through ClearKey: {summary}");
            assert_eq!(summary["levels"], 3, "{summary}");
            assert_eq!(summary["audioTracks"], 2, "{summary}");
            assert!(
                edge.metric_opt(granted).unwrap_or(0.0) > before,
                "hls.js: no licence was granted"
            );
        }
        Err(e) => failures.push(format!("hls.js does not play SAMPLE-AES fMP4: {e}")),
    }
    let identity = edge.url(&format!("/v/browser/saes/master.m3u8?{t}"));
    if let Err(e) = try_play("shaka", &identity, 10) {
        failures.push(format!("Shaka does not play SAMPLE-AES fMP4: {e}"));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A P-256 key pair made by the `openssl` CLI: (PKCS#8 private PEM, SPKI public PEM).
fn openssl_p256(dir: &Path) -> (String, String) {
    let private = dir.join("p256.pem");
    let ok = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl ecparam -name prime256v1 -genkey -noout | openssl pkcs8 -topk8 -nocrypt -out {}",
            private.display()
        ))
        .status()
        .expect("openssl must be installed (make test installs it)");
    assert!(ok.success());
    let public = Command::new("openssl")
        .args(["ec", "-pubout", "-in"])
        .arg(&private)
        .output()
        .unwrap();
    assert!(public.status.success());
    (
        std::fs::read_to_string(&private).unwrap(),
        String::from_utf8(public.stdout).unwrap(),
    )
}

#[test]
fn hls_js_and_shaka_play_a_signed_playback_id_with_its_token_and_chromium_its_download() {
    let dir = tempfile::tempdir().unwrap();
    let (edge, _config) = setup(dir.path());
    let store = dir.path().join("store");
    let (private, public) = openssl_p256(dir.path());
    std::fs::create_dir_all(store.join("keys/signing")).unwrap();
    std::fs::write(store.join("keys/signing/browserkid.pub"), public).unwrap();
    std::fs::create_dir_all(store.join("playback")).unwrap();
    std::fs::write(
        store.join("playback/signedbrowser.json"),
        r#"{"id":"signedbrowser","video_id":"browser","policy":"signed"}"#,
    )
    .unwrap();
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 600;
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some("browserkid".into());
    let token = jsonwebtoken::encode(
        &header,
        &serde_json::json!({ "sub": "signedbrowser", "aud": "v", "exp": exp }),
        &jsonwebtoken::EncodingKey::from_ec_pem(private.as_bytes()).unwrap(),
    )
    .unwrap();
    let master = edge.url("/v/signedbrowser/master.m3u8");
    assert_eq!(get(&master).status, 403, "no token, no playback");
    // `play` fails on any content error (parsing, decrypting, appending) or a fatal one.
    play("hls", &format!("{master}?token={token}"), 6);
    // The MPD of a signed playback id carries the token in every URL it names, and plays.
    let mpd = edge.url("/v/signedbrowser/manifest.mpd");
    assert_eq!(get(&mpd).status, 403, "no token, no MPD");
    let text = get(&format!("{mpd}?token={token}")).text();
    let urls = text.matches("initialization=\"").count()
        + text.matches("media=\"").count()
        + text.matches("<BaseURL>").count();
    assert!(urls >= 5, "{text}");
    assert_eq!(
        text.matches(&format!("?token={token}")).count(),
        urls,
        "{text}"
    );
    play("shaka", &format!("{mpd}?token={token}"), 6);
    // A download of it needs the token too, is named after the playback id, and plays in a
    // plain <video> element: Chromium reads the moov, then ranges of the mdat.
    let download = edge.url("/v/signedbrowser/download/720p.mp4");
    assert_eq!(get(&download).status, 403, "no token, no download");
    let head = request("HEAD", &format!("{download}?token={token}"), &[]);
    assert_eq!(head.status, 200);
    assert_eq!(
        head.header("content-disposition"),
        Some("attachment; filename=\"signedbrowser-720p.mp4\"")
    );
    let native = play("native", &format!("{download}?token={token}"), 6);
    assert_eq!(
        (native["width"].as_u64(), native["height"].as_u64()),
        (Some(1280), Some(720))
    );
    let duration = native["duration"].as_f64().unwrap_or(0.0);
    assert!((duration - 20.0).abs() < 0.1, "{native}");
}

/// base64(SHA-256(SubjectPublicKeyInfo)) of a PEM certificate: what Chromium's
/// `--ignore-certificate-errors-spki-list` takes.
fn spki_hash(cert: &Path) -> String {
    let script = format!(
        "openssl x509 -pubkey -noout -in '{}' | openssl pkey -pubin -outform der \
         | openssl dgst -sha256 -binary | base64",
        cert.display()
    );
    let out = Command::new("sh").args(["-c", &script]).output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn hls_js_plays_over_https_with_http2() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(&dir.path().join("tls"));
    let leaf = ca.leaf("edge", &["localhost", "127.0.0.1"]);
    let tls = format!("127.0.0.1:{}", free_port());
    let flags = leaf.edge_flags(&tls);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let edge = serve_pattern(dir.path(), "tlsplay", "640x360", 12, &flags);
    // The browser trusts the test's CA (its key, through a flag) and nothing else: a
    // certificate the CA did not sign would fail the page.
    let flags = format!(
        "--ignore-certificate-errors-spki-list={}",
        spki_hash(&ca.cert)
    );
    let url = format!("https://{tls}/v/tlsplay/master.m3u8");
    let summary = try_play_with("hls", &url, 8, &flags).unwrap_or_else(|e| panic!("{e}"));
    let protocols = summary["protocols"].as_array().cloned().unwrap_or_default();
    assert!(
        protocols.iter().any(|p| p == "h2"),
        "hls.js fetched over {protocols:?}, not HTTP/2"
    );
    // The same edge still serves plain HTTP.
    assert_eq!(get(&edge.url("/v/tlsplay/master.m3u8")).status, 200);
}

/// This package's folder: where cargo says at run time (a test binary built in another
/// checkout, from a shared build cache, still reads this checkout's files), else where it
/// was built.
fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}
