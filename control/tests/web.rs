//! The web app in a real browser: a person's journey (sign up, upload through the page,
//! status that changes by itself, playback, studio, sign out) driven by Playwright in
//! Debian's Chromium by the accessible names of the controls, with axe-core checking every
//! page at desktop and phone sizes (`control/web/tests/journey.mjs`). Screenshots are kept
//! in `target/tmp/web-screenshots/`.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::*;

fn web_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
        .join("web")
}

#[test]
fn a_person_signs_up_uploads_through_the_page_and_watches_it() {
    let web = web_dir();
    assert!(
        web.join("node_modules/playwright-core").exists(),
        "control/web/node_modules is missing: `make test` installs it (npm ci in control/web)"
    );
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    let edge = Edge::start(&store, &[], &[]);
    let control = Control::start(Options {
        store: store.clone(),
        config: format!(
            "edge_url = \"{}\"\nedge_admin_urls = [\"{}\"]\n",
            edge.base, edge.admin
        ),
        ..Default::default()
    });
    let file = clip(dir.path(), "walk.mp4", 8.0);
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("web-screenshots");
    let out = Command::new("node")
        .arg(web.join("tests/journey.mjs"))
        .arg(&control.base)
        .arg(&file)
        .arg(&shots)
        .current_dir(&web)
        .output()
        .expect("node must be installed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary: serde_json::Value = stdout
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_default();
    assert!(
        out.status.success(),
        "the journey failed: {}\n{}",
        serde_json::to_string_pretty(&summary).unwrap_or_default(),
        String::from_utf8_lossy(&out.stderr)
    );
    let statuses: Vec<&str> = summary["statuses"]
        .as_array()
        .map(|a| a.iter().filter_map(|s| s.as_str()).collect())
        .unwrap_or_default();
    assert_eq!(statuses.last(), Some(&"Ready"), "{statuses:?}");
    assert!(summary["played"]["currentTime"].as_f64().unwrap_or(0.0) >= 5.0);
    assert!(summary["played"]["width"].as_u64().unwrap_or(0) > 0);
    eprintln!(
        "{}",
        serde_json::to_string_pretty(&summary).unwrap_or_default()
    );
}
