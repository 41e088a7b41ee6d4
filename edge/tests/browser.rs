//! A real browser: hls.js in headless Chromium plays the master playlist from the edge.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

/// Plays `url` for `seconds` with hls.js in Chromium; returns its JSON summary.
fn play(url: &str, seconds: u32) -> serde_json::Value {
    let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    assert!(
        scripts.join("node_modules/hls.js").exists() && scripts.join("node_modules/playwright-core").exists(),
        "hls.js and playwright-core are missing: `make test` installs them (npm ci in edge/tests/browser)"
    );
    let out = Command::new("node")
        .arg(scripts.join("play.mjs"))
        .arg(url)
        .arg(seconds.to_string())
        .current_dir(&scripts)
        .output()
        .expect("node must be installed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "playback of {url} failed: {stdout} {stderr}"
    );
    let summary: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or("{}")).expect("JSON summary");
    assert!(
        summary["currentTime"].as_f64().unwrap_or(0.0) >= f64::from(seconds),
        "{summary}"
    );
    summary
}

#[test]
fn hls_js_in_chromium_plays_cmaf_and_ts_with_subtitles() {
    let dir = tempfile::tempdir().unwrap();
    let src = hd_clip_with_audio(dir.path(), 14);
    let store = dir.path().join("store");
    transcode(&src, "browser", store.to_str().unwrap(), &[]);
    let subs = store.join("videos/browser/subs");
    std::fs::create_dir_all(&subs).unwrap();
    std::fs::write(
        subs.join("en.vtt"),
        "WEBVTT\n\n00:00:01.000 --> 00:00:07.000\nHello from Sunomi\n",
    )
    .unwrap();
    let config = dir.path().join("edge.toml");
    std::fs::write(
        &config,
        "[encryption]\nmaster_key = \"00112233445566778899aabbccddeeff\"\ntoken_secret = \"ffeeddccbbaa99887766554433221100\"\nclear_lead_segments = 1\n",
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let edge = Edge::start(store.to_str().unwrap(), &["--config", config], &[]);

    let cmaf = play(&edge.url("/v/browser/master.m3u8"), 10);
    assert_eq!(cmaf["levels"], 3, "{cmaf}");
    assert_eq!(cmaf["audioTracks"], 1, "{cmaf}");
    assert_eq!(cmaf["subtitleTracks"], 1, "{cmaf}");
    assert!(
        cmaf["textTracks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l == "en"),
        "the subtitle track shows in video.textTracks: {cmaf}"
    );

    // MPEG-TS: hls.js transmuxes it (audio muxed in, so no separate audio track).
    let ts = play(&edge.url("/v/browser/ts/master.m3u8"), 10);
    assert_eq!(ts["levels"], 3, "{ts}");
    assert!(
        ts["textTracks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l == "en"),
        "{ts}"
    );
}
