//! The S3 path: the same end-to-end checks against a real S3 API (s3s-fs on loopback).

mod common;

use std::time::Duration;

use common::*;

/// The store the tests publish to (bucket `media`, prefix `sunomi`).
const STORE: &str = "s3://media/sunomi";

/// An S3 server over `dir/s3` with a `seconds`-long HD clip published as `id`, and the
/// environment that reaches it.
fn published_on_s3(
    dir: &std::path::Path,
    id: &str,
    seconds: u32,
) -> (S3Server, Vec<(String, String)>) {
    let s3 = S3Server::start(&dir.join("s3"));
    let env = s3.env();
    let src = hd_clip_with_audio(dir, seconds);
    transcode(&src, id, STORE, &env_refs(&env));
    (s3, env)
}

fn env_refs(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// A clip published on S3 for a fleet: Redis, and a config of the fleet test settings
/// (with `fleet_extra`'s keys), no prefetch, and storage requests that fail fast.
struct S3Fleet {
    s3: S3Server,
    env: Vec<(String, String)>,
    redis: RedisServer,
    config: std::path::PathBuf,
}

impl S3Fleet {
    fn start(dir: &std::path::Path, id: &str, seconds: u32, fleet_extra: &str) -> S3Fleet {
        let (s3, env) = published_on_s3(dir, id, seconds);
        let config = dir.join("fleet.toml");
        std::fs::write(
            &config,
            format!(
                "{}prefetch_segments = 0\n[storage]\nrequest_timeout_ms = 1000\nmax_retries = 0\n",
                fleet_config(fleet_extra)
            ),
        )
        .unwrap();
        S3Fleet {
            s3,
            env,
            redis: RedisServer::start(),
            config,
        }
    }

    /// Starts one more edge of the fleet.
    fn edge(&self) -> Edge {
        let flags = [
            "--redis",
            &self.redis.url(),
            "--config",
            self.config.to_str().unwrap(),
        ];
        Edge::start(STORE, &flags, &env_refs(&self.env))
    }
}

#[test]
fn s3_store_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("s3");
    let (_s3, env_owned) = published_on_s3(dir.path(), "s3clip", 7);
    let env = env_refs(&env_owned);
    assert!(
        root.join("media/sunomi/videos/s3clip/manifest.json")
            .exists(),
        "the manifest went through the S3 API into the bucket"
    );
    // Pictures from S3 too: the picture service reads the bucket through the same API.
    let pictures = PictureServer::start_with_env(STORE, &env);
    let mut edge_env = env.clone();
    edge_env.extend(PictureServer::EDGE_ENV);
    let edge = Edge::start(STORE, &pictures.edge_flags(), &edge_env);
    verify_stream(
        &edge.base,
        "s3clip",
        &Expect {
            frames: 210,
            resolutions: vec![(1280, 720), (854, 480), (640, 360)],
            audio: true,
        },
    );
    assert_eq!(get(&format!("{}/readyz", edge.admin)).status, 200);
    assert_eq!(get(&edge.url("/v/absent/master.m3u8")).status, 404);

    // The first thumbnail reads the manifest, the picture track's head (its version is the
    // object's entity tag) and a fragment; the service keeps the head by that version, so a
    // thumbnail at another time reads its fragment alone.
    let reads = || pictures.metric("sunomi_picture_storage_reads_total{result=\"ok\"}");
    let first = get(&edge.url("/v/s3clip/thumbnail.jpg?time=1.5&width=320"));
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(first.header("content-type"), Some("image/jpeg"));
    assert!(first.body.starts_with(&[0xff, 0xd8, 0xff]), "a JPEG");
    let after_first = reads();
    assert!(
        after_first >= 3.0,
        "{after_first} reads for the first picture"
    );
    let second = get(&edge.url("/v/s3clip/thumbnail.jpg?time=4.5&width=320"));
    assert_eq!(second.status, 200, "{}", second.text());
    assert_ne!(second.body, first.body, "another frame");
    assert_eq!(reads(), after_first + 1.0, "one read for a cold picture");
}

/// Stale-if-error: with storage unreachable, what the edge already has keeps playing —
/// playlists (and the manifest, heads and records they are made from) for
/// `stale_if_error_secs` past their TTL, cached segments as long as they are cached — and
/// what it never had is 503. A purge drops the stale copies too: purged content never comes
/// back while storage is down.
#[test]
fn cached_playlists_and_segments_outlive_a_storage_outage() {
    let dir = tempfile::tempdir().unwrap();
    let (mut s3, env_owned) = published_on_s3(dir.path(), "outage", 7);
    let env = env_refs(&env_owned);
    let config = dir.path().join("edge.toml");
    std::fs::write(
        &config,
        "[cache]\nmetadata_ttl_secs = 1\nstale_if_error_secs = 600\n[storage]\nrequest_timeout_ms = 1000\nmax_retries = 0\n[fleet]\nprefetch_segments = 0\n",
    )
    .unwrap();
    let edge = Edge::start(STORE, &["--config", config.to_str().unwrap()], &env);
    let master = edge.url("/v/outage/master.m3u8");
    let media = edge.url("/v/outage/720p/media.m3u8");
    let first = edge.url("/v/outage/720p/0.m4s");
    let before: Vec<Response> = [&master, &media, &first].iter().map(|u| get(u)).collect();
    assert!(before.iter().all(|r| r.status == 200));
    // The last segment of the playlist: never asked for, so never cached.
    let last = before[1]
        .text()
        .lines()
        .rfind(|l| l.ends_with(".m4s"))
        .unwrap()
        .to_string();
    assert_ne!(last, "0.m4s", "the clip has several segments");
    let never = edge.url(&format!("/v/outage/720p/{last}"));

    s3.stop();
    // Past the metadata TTL: every metadata entry must be filled again, and cannot be.
    std::thread::sleep(Duration::from_millis(2500));
    for (url, was) in [&master, &media, &first].iter().zip(&before) {
        let r = get(url);
        assert_eq!(r.status, 200, "{url} during the outage");
        assert_eq!(r.body, was.body, "{url}: the same bytes");
    }
    let r = get(&media);
    assert!(
        r.headers
            .get("cache-status")
            .is_some_and(|v| v.contains("stale-if-error")),
        "{:?}",
        r.headers
    );
    assert_eq!(get(&never).status, 503, "never cached: nothing to serve");
    assert!(edge.metric("sunomi_stale_served_total") > 0.0);

    // Purged while storage is down: no stale copy comes back.
    let purge = request("POST", &format!("{}/purge?id=outage", edge.admin), &[]);
    assert_eq!(purge.status, 200);
    assert_eq!(get(&master).status, 503);

    s3.restart();
    assert_eq!(get(&master).status, 200, "back with storage");
}

/// Storage down and a segment's owner without it: the copy another edge holds is found
/// (asked `only-if-cached`, so nobody fills) instead of a 503. Copies sit off their owner
/// whenever the ring changes; here the segments were read while edge A was alone, then B
/// joined and owns about half of them.
#[test]
fn with_storage_down_a_copy_held_off_its_owner_is_found_in_the_fleet() {
    let dir = tempfile::tempdir().unwrap();
    // 18 s: 3 segments in each of 4 tracks, so B owns some of the 11 read (none: 1 in 2048).
    let mut fleet = S3Fleet::start(dir.path(), "siblings", 18, "");
    let a = fleet.edge();
    let mut paths: Vec<String> = media_object_paths(&a, "siblings")
        .into_iter()
        .filter(|p| p.ends_with(".m4s"))
        .collect();
    assert_eq!(paths.len(), 12, "{paths:?}");
    // One segment nobody reads: held nowhere.
    let unread = paths.pop().unwrap();
    let bodies: Vec<Vec<u8>> = paths.iter().map(|p| get_ok(&a.url(p))).collect();
    let b = fleet.edge();
    wait_members(&[&a, &b], 2);

    fleet.s3.stop();
    for (path, body) in paths.iter().zip(&bodies) {
        let r = get(&b.url(path));
        assert_eq!(r.status, 200, "{path} through B with storage down");
        assert_eq!(&r.body, body, "{path}: A's bytes");
    }
    let hit = r#"sunomi_sibling_lookups_total{result="hit"}"#;
    let miss = r#"sunomi_sibling_lookups_total{result="miss"}"#;
    assert!(
        b.metric(hit) >= 1.0,
        "B owns some segments and found A's copies"
    );
    assert_eq!(b.metric(miss), 0.0);
    assert_eq!(
        b.metric(r#"sunomi_peer_fetch_errors_total{reason="status"}"#),
        0.0,
        "an edge that does not hold a segment answers 504, which is no peer failure"
    );
    assert_eq!(get(&b.url(&unread)).status, 503, "held nowhere: {unread}");
    assert_eq!(b.metric(miss), 1.0, "one memory-only lookup, no fill");
    assert_eq!(
        a.metric(hit) + a.metric(miss),
        0.0,
        "A was asked, it did not ask"
    );

    fleet.s3.restart();
    assert_eq!(get(&b.url(&unread)).status, 200, "back with storage");
}

/// An owner whose storage fails answers 503 marked as storage's failure, not its own
/// (`Cache-Status: …; detail=unavailable`): the edge that asked keeps it on the ring. Once
/// storage is back, segments go through their owner again at once, so storage still sees each
/// one once per fleet, instead of every edge reading it for as long as the owner would have
/// been skipped (here 10 minutes, so a skipped owner would show).
#[test]
fn an_owner_failed_by_its_storage_is_not_skipped() {
    let dir = tempfile::tempdir().unwrap();
    // 18 s: 12 segments, so A owns some of them (none: 1 in 4096).
    let mut fleet = S3Fleet::start(dir.path(), "owners", 18, "peer_suspect_ms = 600000\n");
    let a = fleet.edge();
    let b = fleet.edge();
    wait_members(&[&a, &b], 2);
    let paths: Vec<String> = media_object_paths(&b, "owners")
        .into_iter()
        .filter(|p| p.ends_with(".m4s"))
        .collect();
    assert_eq!(paths.len(), 12, "{paths:?}");

    fleet.s3.stop();
    for path in &paths {
        assert_eq!(get(&b.url(path)).status, 503, "{path}: read nowhere yet");
    }
    let unavailable = b.metric(r#"sunomi_peer_fetch_errors_total{reason="unavailable"}"#);
    assert!(unavailable >= 1.0, "B asked A for the segments A owns");
    assert_eq!(
        b.metric(r#"sunomi_peer_fetch_errors_total{reason="status"}"#),
        0.0,
        "every 503 of A said storage failed it"
    );
    assert_eq!(
        b.metric("sunomi_peer_suspected_total"),
        0.0,
        "A was never skipped"
    );

    fleet.s3.restart();
    let through_owner = paths
        .iter()
        .filter(|path| {
            let r = get(&b.url(path));
            assert_eq!(r.status, 200, "{path}: back with storage");
            r.header("cache-status") == Some("sunomi; fwd=peer")
        })
        .count();
    assert_eq!(
        through_owner as f64, unavailable,
        "each segment A owns came through A again"
    );
}
