//! A real browser: hls.js in headless Chromium plays the master playlist from the edge.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

#[test]
fn hls_js_in_chromium_plays_ten_seconds() {
    let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    assert!(
        scripts.join("node_modules/hls.js").exists() && scripts.join("node_modules/playwright-core").exists(),
        "hls.js and playwright-core are missing: `make test` installs them (npm ci in edge/tests/browser)"
    );
    let dir = tempfile::tempdir().unwrap();
    let src = hd_clip_with_audio(dir.path(), 14);
    let store = dir.path().join("store");
    let store = store.to_str().unwrap();
    transcode(&src, "browser", store, &[]);
    let edge = Edge::start(store, &[], &[]);
    let out = Command::new("node")
        .arg(scripts.join("play.mjs"))
        .arg(edge.url("/v/browser/master.m3u8"))
        .arg("10")
        .current_dir(&scripts)
        .output()
        .expect("node must be installed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "playback failed: {stdout} {stderr}");
    let summary: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or("{}")).expect("JSON summary");
    assert!(
        summary["currentTime"].as_f64().unwrap_or(0.0) >= 10.0,
        "{summary}"
    );
    assert_eq!(summary["levels"], 3, "{summary}");
    assert_eq!(summary["audioTracks"], 1, "{summary}");
}
