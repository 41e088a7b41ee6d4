//! The fleet: real edges as processes coordinated through a real `redis-server` on a free
//! port, over one shared store. Storage reads are counted with the edges' own metrics.

mod common;

use std::collections::HashMap;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::*;

const STORAGE_READS: &str = "sunomi_storage_reads_total";

/// A store with an 8 s 720p clip with audio published as each of `ids`.
fn store_with(dir: &std::path::Path, ids: &[&str]) -> String {
    let src = hd_clip_with_audio(dir, 8);
    let store = dir.join("store");
    let store = store.to_str().unwrap().to_string();
    for id in ids {
        transcode(&src, id, &store, &[]);
    }
    store
}

fn refs(edges: &[Edge]) -> Vec<&Edge> {
    edges.iter().collect()
}

fn segments_only(paths: &[String]) -> Vec<String> {
    paths
        .iter()
        .filter(|p| !p.ends_with("init.mp4"))
        .cloned()
        .collect()
}

/// Runs `clients` threads, client i on edge i mod n, each asking for every path (in an order
/// rotated by i); returns every body by path. Any failure fails the test.
fn crowd(edges: &[&Edge], clients: usize, paths: &[String]) -> HashMap<String, Vec<Vec<u8>>> {
    let results: Vec<Vec<(String, Vec<u8>)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..clients)
            .map(|i| {
                s.spawn(move || {
                    let edge = edges[i % edges.len()];
                    (0..paths.len())
                        .map(|j| {
                            let path = &paths[(i + j) % paths.len()];
                            (path.clone(), get_ok(&edge.url(path)))
                        })
                        .collect()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut by_path: HashMap<String, Vec<Vec<u8>>> = HashMap::new();
    for (path, body) in results.into_iter().flatten() {
        by_path.entry(path).or_default().push(body);
    }
    by_path
}

#[test]
fn a_crowd_on_three_edges_reads_each_segment_from_storage_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), &["crowd"]);
    let redis = RedisServer::start();
    let fleet = start_fleet(dir.path(), &store, &redis, 3, "");
    let edges = refs(&fleet);

    // Playlists through one edge: the playback record (absent: the id is a video id), the
    // manifest, the subtitle listing and each track head are read once, then shared
    // through Redis.
    let paths = media_object_paths(edges[0], "crowd");
    let tracks = paths.iter().filter(|p| p.ends_with("init.mp4")).count();
    assert_eq!(tracks, 4, "3 renditions and 1 audio track: {paths:?}");
    let metadata_reads = fleet_metric(&edges, STORAGE_READS);
    assert_eq!(
        metadata_reads,
        3.0 + tracks as f64,
        "playback record, manifest, subtitle listing, one head read per track"
    );

    let segments = segments_only(&paths);
    let bodies = crowd(&edges, 200, &paths);
    let segment_reads = fleet_metric(&edges, STORAGE_READS) - metadata_reads;
    eprintln!(
        "200 clients × {} objects on 3 edges: {segment_reads} storage reads for {} segments",
        paths.len(),
        segments.len()
    );
    assert_eq!(
        segment_reads,
        segments.len() as f64,
        "each segment read from storage once for the whole fleet (init segments come from the shared heads)"
    );
    assert!(
        fleet_metric(
            &edges,
            "sunomi_cache_requests_total{result=\"hit\",tier=\"peer\"}"
        ) > 0.0
    );
    assert_eq!(
        fleet_metric(&edges, "sunomi_peer_fetch_errors_total{reason=\"timeout\"}"),
        0.0
    );

    // Byte-identical to what a single edge (no Redis) serves.
    let single = Edge::start(&store, &[], &[]);
    for (path, got) in &bodies {
        let reference = get_ok(&single.url(path));
        assert_eq!(got.len(), 200);
        assert!(
            got.iter().all(|b| *b == reference),
            "{path} differs from a single edge"
        );
    }
}

#[test]
fn killing_an_edge_loses_no_request_and_the_ring_converges() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), &["kill"]);
    let redis = RedisServer::start();
    let mut fleet = start_fleet(dir.path(), &store, &redis, 3, "");
    let paths = media_object_paths(&fleet[0], "kill");
    let urls: Vec<Vec<String>> = fleet
        .iter()
        .map(|e| paths.iter().map(|p| e.url(p)).collect())
        .collect();
    let stop = AtomicBool::new(false);
    let (requests, failures) = (AtomicU64::new(0), AtomicU64::new(0));
    std::thread::scope(|s| {
        for c in 0..24 {
            let (urls, stop, requests, failures) = (&urls, &stop, &requests, &failures);
            let count = paths.len();
            s.spawn(move || {
                let mut j = c;
                while !stop.load(Ordering::Relaxed) {
                    let e = j % 3;
                    let p = (j / 3) % count;
                    // A client that fails retries once on another edge.
                    let ok =
                        get(&urls[e][p]).status == 200 || get(&urls[(e + 1) % 3][p]).status == 200;
                    requests.fetch_add(1, Ordering::Relaxed);
                    if !ok {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                    j += 1;
                }
            });
        }
        std::thread::sleep(Duration::from_millis(800));
        let _ = fleet[2].process.0.kill();
        let survivors = [&fleet[0], &fleet[1]];
        let converged = wait_members(&survivors, 2);
        std::thread::sleep(Duration::from_millis(800));
        stop.store(true, Ordering::Relaxed);
        eprintln!("ring converged {converged:?} after SIGKILL (heartbeat TTL 1.5 s)");
    });
    let _ = fleet.pop();
    assert!(requests.load(Ordering::Relaxed) > 100);
    assert_eq!(
        failures.load(Ordering::Relaxed),
        0,
        "a client saw a failure"
    );
}

#[test]
fn redis_down_loses_no_request_and_edges_rejoin_when_it_returns() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), &["steady", "later"]);
    let mut redis = RedisServer::start();
    let fleet = start_fleet(dir.path(), &store, &redis, 3, "");
    let edges = refs(&fleet);
    let paths = media_object_paths(edges[0], "steady");
    let stop = AtomicBool::new(false);
    let (requests, failures) = (AtomicU64::new(0), AtomicU64::new(0));
    std::thread::scope(|s| {
        for c in 0..12 {
            let (edges, paths, stop, requests, failures) =
                (&edges, &paths, &stop, &requests, &failures);
            s.spawn(move || {
                let mut j = c;
                while !stop.load(Ordering::Relaxed) {
                    let r = get(&edges[j % 3].url(&paths[(j / 3) % paths.len()]));
                    requests.fetch_add(1, Ordering::Relaxed);
                    if r.status != 200 {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                    j += 1;
                }
            });
        }
        std::thread::sleep(Duration::from_millis(500));
        redis.stop();
        wait_until(
            Duration::from_secs(30),
            "edges to notice redis is down",
            || {
                edges.iter().all(|e| {
                    e.metric("sunomi_redis_up") == 0.0 && e.metric("sunomi_fleet_members") == 1.0
                })
            },
        );
        // Request paths leave Redis alone while it is down: metadata read from storage
        // now (after a local purge) is not written to the dead Redis either.
        let purge = request("POST", &format!("{}/purge?id=steady", edges[0].admin), &[]);
        assert_eq!(purge.status, 503, "purged locally only: {}", purge.text());
        get_ok(&edges[0].url("/v/steady/master.m3u8"));
        assert_eq!(
            edges[0]
                .metric_opt("sunomi_redis_errors_total{op=\"meta_put\"}")
                .unwrap_or(0.0),
            0.0,
            "a shared-metadata write was sent to a Redis known to be down"
        );
        std::thread::sleep(Duration::from_millis(500));
        redis.restart();
        let rejoined = wait_members(&edges, 3);
        eprintln!("fleet re-formed {rejoined:?} after redis came back");
        std::thread::sleep(Duration::from_millis(300));
        stop.store(true, Ordering::Relaxed);
    });
    assert!(requests.load(Ordering::Relaxed) > 100);
    assert_eq!(
        failures.load(Ordering::Relaxed),
        0,
        "a request failed while redis was away"
    );
    assert!(fleet_metric(&edges, "sunomi_redis_errors_total{op=\"heartbeat\"}") > 0.0);

    // Coordinating again: a video nobody asked for yet is read once for the fleet.
    let paths = media_object_paths(edges[0], "later");
    let before = fleet_metric(&edges, STORAGE_READS);
    crowd(&edges, 30, &paths);
    assert_eq!(
        fleet_metric(&edges, STORAGE_READS) - before,
        segments_only(&paths).len() as f64
    );
}

/// Asks every edge for `path` until each holds it (second-hit admission), then checks the
/// next answer is a local hit.
fn warm_everywhere(edges: &[&Edge], path: &str) {
    for e in edges {
        for _ in 0..2 {
            get_ok(&e.url(path));
        }
    }
    for e in edges {
        assert_eq!(
            get(&e.url(path)).header("Cache-Status"),
            Some("sunomi; hit")
        );
    }
}

/// Asks every edge for a purged `path`: it must be read from storage exactly once for the
/// fleet, and no edge may answer from a copy it held before the purge. (The one edge that
/// refilled may answer from that new copy if another edge's request made it refill.)
fn assert_refetched(edges: &[&Edge], path: &str) {
    let storage = "sunomi_cache_requests_total{result=\"hit\",tier=\"storage\"}";
    let before: Vec<f64> = edges.iter().map(|e| e.metric(storage)).collect();
    let statuses: Vec<String> = edges
        .iter()
        .map(|e| {
            let r = get(&e.url(path));
            assert_eq!(r.status, 200);
            r.header("Cache-Status").unwrap_or_default().to_string()
        })
        .collect();
    let reads: Vec<f64> = edges
        .iter()
        .zip(&before)
        .map(|(e, b)| e.metric(storage) - b)
        .collect();
    assert_eq!(
        reads.iter().sum::<f64>(),
        1.0,
        "refetched once: {reads:?} {statuses:?}"
    );
    let filler = reads.iter().position(|r| *r == 1.0).unwrap();
    for (i, status) in statuses.iter().enumerate() {
        if status == "sunomi; hit" {
            assert!(
                i == filler && statuses[..i].iter().any(|s| s == "sunomi; fwd=peer"),
                "edge {i} answered from a purged copy: {statuses:?}, reads {reads:?}"
            );
        }
    }
}

/// Purges `query` through edge `from` and waits until every other edge has applied it
/// (each application is observed in the purge lag histogram).
fn purge_everywhere(edges: &[&Edge], from: usize, query: &str) {
    let lag = "sunomi_purge_lag_seconds_count";
    let before: Vec<f64> = edges.iter().map(|e| e.metric(lag)).collect();
    let answer = purge(edges[from], query);
    assert_eq!(answer["fleet"], "published", "{answer}");
    let waited = wait_until(
        Duration::from_secs(10),
        "the purge to reach every edge",
        || {
            (0..edges.len())
                .filter(|i| *i != from)
                .all(|i| edges[i].metric(lag) > before[i])
        },
    );
    eprintln!("purge {query} applied on every edge after {waited:?}");
}

fn purge(edge: &Edge, query: &str) -> serde_json::Value {
    let r = request("POST", &format!("{}/purge?{query}", edge.admin), &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    serde_json::from_slice(&r.body).unwrap()
}

#[test]
fn a_purge_on_one_edge_is_refetched_on_every_edge() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), &["purged"]);
    let redis = RedisServer::start();
    let fleet = start_fleet(dir.path(), &store, &redis, 3, "prefetch_segments = 0\n");
    let edges = refs(&fleet);
    let paths = media_object_paths(edges[0], "purged");
    let path = segments_only(&paths)[1].clone();
    warm_everywhere(&edges, &path);

    purge_everywhere(&edges, 1, &format!("url={path}"));
    assert_refetched(&edges, &path);

    // A purge published while an edge's subscription is down still reaches it: the epoch
    // check on its next heartbeat replays the purge from the log.
    warm_everywhere(&edges, &path);
    redis.cli(&["CLIENT", "KILL", "TYPE", "pubsub"]);
    purge_everywhere(&edges, 0, "id=purged");
    assert_refetched(&edges, &path);

    // Bad purges are refused with the reason and purge nothing.
    for bad in ["", "url=/etc/passwd", "id=../x", "all=0"] {
        let r = request("POST", &format!("{}/purge?{bad}", edges[0].admin), &[]);
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
    }
    let r = request("GET", &format!("{}/purge?all=1", edges[0].admin), &[]);
    assert_eq!(r.status, 405);
}

/// `sunomi-bench players` against `edges`, scraping all of them; returns the report.
fn bench_flash_crowd(
    dir: &std::path::Path,
    name: &str,
    edges: &[&Edge],
    id: &str,
) -> serde_json::Value {
    let out = dir.join(name);
    let mut cmd = Command::new(binary("sunomi-bench"));
    cmd.args([
        "players",
        "--target",
        &edges[0].url(&format!("/v/{id}/master.m3u8")),
    ])
    .args([
        "--scenario",
        "flash-crowd",
        "--players",
        "60",
        "--speed",
        "8",
    ])
    .args(["--duration", "60s"])
    .arg("--edge")
    .args(edges.iter().map(|e| e.base.trim_start_matches("http://")))
    .arg("--metrics")
    .args(edges.iter().map(|e| format!("{}/metrics", e.admin)))
    .arg("--out")
    .arg(&out);
    let run = cmd.output().unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    eprintln!("{name}:\n{}", String::from_utf8_lossy(&run.stdout));
    serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap()
}

#[test]
fn a_flash_crowd_through_sunomi_bench_on_three_edges_and_on_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), &["fleetcrowd", "onecrowd"]);
    let redis = RedisServer::start();
    let fleet = start_fleet(dir.path(), &store, &redis, 3, "");
    let three = bench_flash_crowd(dir.path(), "three", &refs(&fleet), "fleetcrowd");
    let single = Edge::start(&store, &[], &[]);
    let one = bench_flash_crowd(dir.path(), "one", &[&single], "onecrowd");
    let mut per_unique = Vec::new();
    for report in [&three, &one] {
        assert_eq!(report["players"]["started"], 60, "{}", report["players"]);
        assert_eq!(report["figures"]["errors"], 0);
        let tiers = &report["server"]["tiers"];
        let storage_reads = tiers["storage"]["hits"].as_f64().unwrap();
        let unique = report["players"]["unique_objects"]["segment"]
            .as_f64()
            .unwrap();
        let prefetched = report["server"]["deltas"]
            .get("sunomi_prefetch_total{result=\"issued\"}")
            .and_then(|v| v.as_f64())
            .unwrap_or(0.0);
        // Each segment once, plus at most the prefetches of segments no player asked for.
        assert!(
            storage_reads >= 1.0 && storage_reads <= unique + prefetched,
            "{tiers}"
        );
        per_unique.push(storage_reads / unique);
    }
    eprintln!(
        "storage reads per unique segment: 3 edges {:.3} vs 1 edge {:.3}; tiers {} vs {}; throughput {} vs {} req/s",
        per_unique[0],
        per_unique[1],
        three["server"]["tiers"],
        one["server"]["tiers"],
        three["figures"]["requests_per_second"],
        one["figures"]["requests_per_second"],
    );
}

/// A waiter for shared metadata stops waiting as soon as the edge filling it lets the fill
/// lock go without sharing a value (its storage read failed) and reads storage itself;
/// waiting out `lock_wait_ms` instead would, during a storage outage, add it to every
/// metadata lookup of the fleet. It does not wait at all for a holder that is no member of
/// the fleet (an edge killed while holding a lock leaves it behind until it expires). Here
/// `lock_wait_ms` is ten minutes; each request is still answered (the test's client gives up
/// after 30 s).
#[test]
fn a_fill_lock_let_go_or_left_by_a_dead_edge_ends_the_wait() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_pattern(dir.path(), "held", "320x240", 4);
    store_pattern(dir.path(), "left", "320x240", 4);
    let redis = RedisServer::start();
    let edges = start_fleet(dir.path(), &store, &redis, 2, "lock_wait_ms = 600000\n");
    let hold = |id: &str, holder: &str, ms: &str| {
        for field in ["playback", "manifest"] {
            let key = format!("sunomi:fill:meta:{id}:{field}");
            redis.cli(&["SET", &key, &format!("0123456789abcdef {holder}"), "PX", ms]);
        }
    };
    // The other edge "fills" the playback record and the manifest, fails, lets go.
    hold("held", edges[1].base.trim_start_matches("http://"), "300");
    let r = get(&edges[0].url("/v/held/master.m3u8"));
    assert_eq!(r.status, 200, "{}", r.text());
    let waits = edges[0].metric("sunomi_fill_lock_waits_total");
    assert!(waits >= 1.0, "it did wait for a live member");

    // A holder that is no member: not waited for, though its locks live on.
    hold("left", "127.0.0.1:9", "600000");
    let r = get(&edges[0].url("/v/left/master.m3u8"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(edges[0].metric("sunomi_fill_lock_waits_total"), waits);
}

/// A non-owner that keeps what it fetches (`admission = "always"`) and whose owner fails
/// fills the segment itself. It once waited on its own single flight instead — a second
/// lookup of the same key in the same cache from inside the first — and the request hung
/// forever, as did every later request for that segment on that edge (found by the chaos
/// drill: requests for one segment timing out for tens of seconds after a fault).
#[test]
fn a_non_owner_whose_owner_is_dead_fills_an_admitted_segment_itself() {
    let dir = tempfile::tempdir().unwrap();
    // 120 s: 20 segments of one rendition, so B owns some of them. With 30 s (5 segments)
    // A owned all of them in 1 run in 32, and the test failed for want of a dead owner to ask.
    let store = store_pattern(dir.path(), "orphan", "320x240", 120);
    let redis = RedisServer::start();
    let mut edges = start_fleet(
        dir.path(),
        &store,
        &redis,
        2,
        // B stays a member in A's eyes for the whole test (its heartbeat outlives it), so
        // A is sure to ask the dead owner however slowly this machine runs the test.
        "admission = \"always\"\nprefetch_segments = 0\nheartbeat_ttl_ms = 600000\n",
    );
    let paths: Vec<String> = media_object_paths(&edges[0], "orphan")
        .into_iter()
        .filter(|p| p.ends_with(".m4s"))
        .collect();
    assert!(paths.len() >= 20, "{paths:?}");
    // B dies; A still counts it a member, so the first segment B owns is asked of a dead
    // owner (then B is suspect for a while and its keys are A's).
    let mut b = edges.pop().unwrap();
    b.process.0.kill().unwrap();
    b.process.0.wait().unwrap();
    let a = &edges[0];
    for path in &paths {
        let r = get(&a.url(path));
        assert_eq!(r.status, 200, "{path}");
    }
    assert!(
        a.metric(r#"sunomi_peer_fetch_errors_total{reason="io"}"#) >= 1.0,
        "A asked the dead owner"
    );
}

/// `sunomi-edge leave` (a Kubernetes preStop hook): with the admin token, the edge leaves
/// the ring at once — the others count one member fewer long before its heartbeat would have
/// expired, it stays out (no heartbeat brings it back), its /readyz fails — and it still
/// answers players until it is stopped. Without the token, nothing happens.
#[test]
fn an_edge_told_to_leave_drops_out_of_the_ring_and_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), &["leave"]);
    let redis = RedisServer::start();
    let config = dir.path().join("fleet.toml");
    // A long heartbeat TTL: only leaving can drop the edge within the test's wait.
    std::fs::write(&config, fleet_config("heartbeat_ttl_ms = 60000\n")).unwrap();
    let config = config.to_str().unwrap();
    let token = "a-long-admin-token-0123456789";
    let env = [("SUNOMI_ADMIN_TOKEN", token)];
    let edges: Vec<Edge> = (0..2)
        .map(|_| Edge::start(&store, &["--redis", &redis.url(), "--config", config], &env))
        .collect();
    wait_members(&edges.iter().collect::<Vec<_>>(), 2);
    let admin = edges[1].admin.trim_start_matches("http://").to_string();
    let leave = |token: Option<&str>| {
        let mut cmd = Command::new(binary("sunomi-edge"));
        cmd.args(["leave", "--admin", &admin, "--wait-secs", "0"])
            .env_remove("SUNOMI_ADMIN_TOKEN");
        if let Some(t) = token {
            cmd.env("SUNOMI_ADMIN_TOKEN", t);
        }
        cmd.output().unwrap()
    };

    let refused = leave(None);
    assert!(!refused.status.success(), "no token, no leaving");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("401"));
    assert_eq!(get(&format!("{}/readyz", edges[1].admin)).status, 200);

    let left = leave(Some(token));
    assert!(
        left.status.success(),
        "{}",
        String::from_utf8_lossy(&left.stderr)
    );
    assert_eq!(get(&format!("{}/readyz", edges[1].admin)).status, 503);
    let took = wait_members(&[&edges[0]], 1);
    eprintln!("the other edge dropped it {took:?} after it left (heartbeat TTL 60 s)");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(edges[0].metric("sunomi_fleet_members"), 1.0, "it stays out");
    let master = media_object_paths(&edges[1], "leave")[0].clone();
    assert_eq!(
        get(&edges[1].url(&master)).status,
        200,
        "it still serves players"
    );
}
