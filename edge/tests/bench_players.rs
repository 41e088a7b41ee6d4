//! The bench suite against a real edge: a flash crowd of simulated players, with the edge's
//! own metrics scraped into the same report. Client and server must agree on every request.

mod common;

use std::process::Command;

use common::*;

#[test]
fn flash_crowd_through_sunomi_bench_matches_the_edge_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let src = hd_clip_with_audio(dir.path(), 8);
    let store = dir.path().join("store");
    let store = store.to_str().unwrap();
    transcode(&src, "crowd", store, &[]);
    let edge = Edge::start(store, &[], &[]);
    let out = dir.path().join("report");
    let run = Command::new(binary("sunomi-bench"))
        .args(["players", "--target", &edge.url("/v/crowd/master.m3u8")])
        .args([
            "--scenario",
            "flash-crowd",
            "--players",
            "20",
            "--speed",
            "8",
            "--duration",
            "60s",
        ])
        .args(["--metrics", &format!("{}/metrics", edge.admin)])
        .arg("--html")
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["schema"], "sunomi-bench/1");
    for chart in [
        "latency_cdf.svg",
        "requests_per_second.svg",
        "bandwidth.svg",
        "startup.svg",
        "rebuffer.svg",
        "index.html",
    ] {
        assert!(out.join(chart).exists(), "{chart} was not written");
    }
    // Every segment request is logged with its time and outcome, for figures per period of
    // a run.
    let log = std::fs::read_to_string(out.join("segments.tsv")).unwrap();
    assert_eq!(
        log.lines().count() as u64 - 1,
        report["by_type"]["segment"]["requests"].as_u64().unwrap(),
        "one line per segment request"
    );
    assert_eq!(
        log.lines().next(),
        Some("seconds\tpath\toutcome\twaited_ms")
    );
    assert!(
        log.lines()
            .skip(1)
            .all(|l| l.split('\t').nth(2) == Some("ok")),
        "a healthy edge: every request ok"
    );
    let players = &report["players"];
    assert_eq!(players["players"], 20);
    assert_eq!(players["started"], 20, "{players}");
    assert_eq!(players["failed"], 0, "{players}");
    assert_eq!(report["figures"]["errors"], 0);
    let client_requests = report["figures"]["requests"].as_f64().unwrap();
    let server = &report["server"];
    let served: f64 = server["deltas"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| k.starts_with("sunomi_http_requests_total{"))
        .map(|(_, v)| v.as_f64().unwrap())
        .sum();
    assert_eq!(
        served, client_requests,
        "the edge counted every request the players made"
    );
    // 20 players on one new title: the first fill reads storage, the rest hit memory.
    assert!(server["hit_ratio"].as_f64().unwrap() > 0.8, "{server}");
    assert!(server["storage_reads"].as_f64().unwrap() >= 1.0);
}
