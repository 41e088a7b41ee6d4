//! Takedowns hold: once the API acknowledges a block (or an approval), every edge of a
//! fleet answers accordingly within a second, whatever the interleaving — concurrent
//! decisions, and a purge that lands while an edge is filling the manifest it read before it.

mod common;

use std::time::{Duration, Instant};

use common::*;

const FLEET_SECRET: &str = "00112233445566778899aabbccddeeff";

/// A published asset behind a control plane on Redis, a worker, and `edges` edges.
struct Fleet {
    _dir: tempfile::TempDir,
    _redis: RedisServer,
    _worker: Process,
    control: Control,
    api: Api,
    edges: Vec<Edge>,
    id: String,
    playback: String,
}

fn fleet(edges: usize, edge_env: &[(String, String)]) -> Fleet {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    let redis = RedisServer::start();
    let config = "[transcode]\npreset = \"ultrafast\"\n";
    let control = Control::start(Options {
        store: store.clone(),
        redis: Some(redis.url()),
        config: config.into(),
        ..Default::default()
    });
    let api = control.api(&create_key(&store, &[]));
    let worker = worker(&store, &redis.url(), config, &[]);
    let mut env = edge_env.to_vec();
    env.push(("SUNOMI_FLEET_SECRET".into(), FLEET_SECRET.into()));
    let edges = (0..edges)
        .map(|_| Edge::start(&store, &["--redis", &redis.url()], &env))
        .collect();
    let src = clip(dir.path(), "clip.mp4", 2.0);
    let (code, out, err) = upload_cli(&src, &api, true);
    assert_eq!(code, 0, "{err}");
    let id = out.lines().next().unwrap().to_string();
    let playback = out
        .lines()
        .last()
        .unwrap()
        .split("/v/")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string();
    Fleet {
        _dir: dir,
        _redis: redis,
        _worker: worker,
        control,
        api,
        edges,
        id,
        playback,
    }
}

impl Fleet {
    fn review(&self, decision: &str) -> Reply {
        self.api.send(
            "POST",
            &format!("/api/v1/assets/{}/moderation", self.id),
            &[("content-type", "application/json")],
            format!(r#"{{"decision":"{decision}","reason":"interleaving test"}}"#).into_bytes(),
        )
    }

    /// What each edge answers for the master playlist.
    fn answers(&self) -> Vec<u16> {
        self.edges
            .iter()
            .map(|e| http_status(&format!("{}/v/{}/master.m3u8", e.base, self.playback)))
            .collect()
    }
}

/// The status an edge must answer for an asset in `status`.
fn expected(status: &str) -> u16 {
    match status {
        "ready" => 200,
        "blocked" => 451,
        other => panic!("asset in {other}"),
    }
}

#[test]
fn concurrent_approve_and_block_pairs_leave_every_edge_agreeing_with_the_asset() {
    let f = fleet(3, &[]);
    assert_eq!(f.answers(), [200, 200, 200]);
    for pair in 0..50 {
        let (approve, block) = std::thread::scope(|s| {
            let a = s.spawn(|| f.review("approve"));
            let b = s.spawn(|| f.review("block"));
            (a.join().unwrap(), b.join().unwrap())
        });
        assert_eq!(approve.status, 200, "pair {pair}: {:?}", approve.json());
        assert_eq!(block.status, 200, "pair {pair}: {:?}", block.json());
        let status = f.api.asset(&f.id)["status"].as_str().unwrap().to_string();
        let want = expected(&status);
        // Acknowledged means propagated: the edges agree now, and keep agreeing.
        let deadline = Instant::now() + Duration::from_secs(1);
        let mut seen = f.answers();
        while seen.iter().any(|&s| s != want) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
            seen = f.answers();
        }
        assert!(
            seen.iter().all(|&s| s == want),
            "pair {pair}: the asset is {status} but the edges answer {seen:?}"
        );
        // Every edge's metadata is warm here; a stale copy would show on the next look too.
        std::thread::sleep(Duration::from_millis(100));
        assert!(
            f.answers().iter().all(|&s| s == want),
            "pair {pair}: an edge went back"
        );
    }
    // The audit trail has every decision (the record keeps the newest ten).
    let trail = f
        .api
        .get(&format!("/api/v1/assets/{}/reviews?limit=100", f.id))
        .json();
    assert_eq!(trail["data"].as_array().unwrap().len(), 100, "{trail}");
    assert!(trail.get("next").is_none());
    let on_record = f.api.asset(&f.id)["moderation"]["reviews"].clone();
    assert_eq!(on_record.as_array().unwrap().len(), 10);
    drop(f.control);
}

#[test]
fn a_purge_racing_an_edge_fill_leaves_nothing_stale_cached() {
    // Every manifest fill of this edge holds 1.5 s between its storage read and its return.
    let f = fleet(
        1,
        &[("SUNOMI_EDGE_TEST_FILL_DELAY_MS".into(), "1500".into())],
    );
    let edge = &f.edges[0];
    let master = format!("{}/v/{}/master.m3u8", edge.base, f.playback);
    let race = |decision: &str, want: u16| {
        // Forget what the edge holds, so the next request fills from storage.
        let purged = reqwest::blocking::Client::new()
            .post(format!("{}/purge?id={}", edge.admin, f.id))
            .send()
            .unwrap();
        assert_eq!(purged.status().as_u16(), 200);
        // A player's request reads the manifest as it is, then waits in the hook...
        let filling = {
            let master = master.clone();
            std::thread::spawn(move || http_status(&master))
        };
        std::thread::sleep(Duration::from_millis(500));
        // ...while the decision is made: the projection is written and the purge lands.
        let r = f.review(decision);
        assert_eq!(r.status, 200, "{:?}", r.json());
        // The fill that began before the decision finishes after it; it may answer its own
        // player with what it read, but nothing it read stays cached.
        let _ = filling.join().unwrap();
        assert_eq!(
            http_status(&master),
            want,
            "a stale manifest stayed cached after {decision}"
        );
    };
    race("block", 451);
    race("approve", 200);
    race("block", 451);
}
