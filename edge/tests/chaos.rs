//! The chaos drill, short: `deploy/local/chaos.sh` with a small catalog and fast faults.
//! Three edges, Redis and an S3 server behind a fault proxy, under simulated players; an edge
//! killed, Redis killed and restarted empty, storage slow then unreachable, an edge upgraded
//! in place. No player may see a failure.

mod common;

use std::process::Command;

use common::*;

#[test]
fn the_short_chaos_drill_ends_with_no_player_visible_failure() {
    let work = tempfile::tempdir().unwrap();
    let script = manifest_dir().join("../deploy/local/chaos.sh");
    let bin_dir = binary("sunomi-bench").parent().unwrap().to_path_buf();
    let out = Command::new("bash")
        .arg(&script)
        .envs([
            ("PLAYERS", "60"),
            ("TITLES", "3"),
            ("SECONDS_OF_MEDIA", "30"),
            ("SPEED", "1"),
            ("FAULT_GAP", "5"),
            ("OUTAGE", "6"),
        ])
        .env("WORK", work.path())
        .env("BIN_DIR", &bin_dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the drill failed:\n{stdout}\n{stderr}"
    );

    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(work.path().join("report/report.json")).unwrap())
            .unwrap();
    let players = &report["players"];
    assert_eq!(players["players"], 60);
    assert_eq!(players["started"], 60, "{players}");
    assert_eq!(players["failed"], 0, "{players}");
    assert_eq!(players["visible_failures"], 0, "{players}");
    // No request hung until the bench's timeout: a stuck fill shows as timeouts even when
    // failover hides them from the viewer (the one the full drill found, a fill waiting on its
    // own single flight, is covered by fleet.rs
    // `a_non_owner_whose_owner_is_dead_fills_an_admitted_segment_itself`).
    for (kind, figures) in report["by_type"].as_object().unwrap() {
        let errors = &figures["errors_by_kind"];
        assert!(errors.get("timeout").is_none(), "{kind}: {errors}");
    }

    let faults = std::fs::read_to_string(work.path().join("faults.tsv")).unwrap();
    for fault in [
        "SIGKILL edge 1",
        "edge 1 restarted",
        "SIGKILL redis",
        "redis back, empty",
        "storage slow",
        "storage unreachable",
        "storage back",
        "edge 0 upgraded in place",
    ] {
        assert!(faults.contains(fault), "{fault} did not happen:\n{faults}");
    }
    // Players were still playing when the last fault struck: the run covers every fault.
    let timeline = std::fs::read_to_string(work.path().join("run/timeline.tsv")).unwrap();
    let upgrade_at: f64 = faults
        .lines()
        .find(|l| l.ends_with("edge 0 upgraded in place"))
        .and_then(|l| l.split('\t').next())
        .and_then(|t| t.parse().ok())
        .unwrap();
    let requests_at = |t: f64| {
        timeline
            .lines()
            .skip(1)
            .filter_map(|l| {
                let mut f = l.split('\t');
                Some((
                    f.next()?.parse::<f64>().ok()?,
                    f.next()?.parse::<f64>().ok()?,
                ))
            })
            .take_while(|(s, _)| *s <= t)
            .last()
            .map_or(0.0, |(_, r)| r)
    };
    assert!(
        requests_at(upgrade_at + 3.0) > requests_at(upgrade_at),
        "no requests after the upgrade:\n{timeline}"
    );
    let phases = std::fs::read_to_string(work.path().join("phases.txt")).unwrap();
    assert!(
        phases.contains("player-visible request failures 0"),
        "{phases}"
    );
    assert!(work.path().join("timeline.svg").exists());
}

/// This package's folder: where cargo says at run time (a test binary built in another
/// checkout, from a shared build cache, still reads this checkout's files), else where it
/// was built.
fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}
