//! The edge against hostile storage and hostile clients: files changed under a running edge,
//! a vanished store, FIFOs, forged peer markers, unauthenticated purges, floods of unknown
//! ids, malformed tokens, HTTP corner cases. Each test is named for the defect it pins.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

/// Publishes a 13 s 854x480 pattern (three segments) (rungs 480p and 360p, no audio) as `id` into `store`.
fn publish(dir: &Path, store: &str, id: &str, color: &str) {
    let src = make_source(
        dir,
        &format!("{id}.mp4"),
        &[
            "-f",
            "lavfi",
            "-i",
            &format!("testsrc2=size=854x480:rate=25,drawbox=c={color}:t=fill:w=100:h=100"),
            "-t",
            "13",
        ],
    );
    transcode(&src, id, store, &[]);
}

fn store_with(dir: &Path, ids: &[&str]) -> String {
    let store = dir.join("store");
    let store = store.to_str().unwrap().to_string();
    for (i, id) in ids.iter().enumerate() {
        publish(dir, &store, id, ["red", "blue", "green"][i % 3]);
    }
    store
}

fn alive(edge: &mut Edge) {
    assert!(
        edge.process.0.try_wait().unwrap().is_none(),
        "the edge process died"
    );
    assert_eq!(get(&format!("{}/healthz", edge.admin)).status, 200);
}

fn reads(edge: &Edge) -> f64 {
    edge.metric("sunomi_storage_reads_total")
}

#[test]
fn sigbus_a_track_truncated_in_place_does_not_kill_the_edge() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), &["cut"]);
    let mut edge = Edge::start(&store, &[], &[]);
    // Cache segment 0 (and its head), then truncate the file in place, as `cp` over it does.
    get_ok(&edge.url("/v/cut/480p/0.m4s"));
    let track = Path::new(&store).join("videos/cut/video/480p.mp4");
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&track)
        .unwrap();
    f.set_len(20_000).unwrap();
    drop(f);
    // Derived objects of the cached segment, and uncached segments planned from the old
    // index: each gets an answer, none kills the process.
    for path in [
        "/v/cut/ts/480p/0.ts",
        "/v/cut/480p/1.m4s",
        "/v/cut/ts/480p/1.ts",
        "/v/cut/480p/2.m4s",
        "/v/cut/br/480p/track.mp4",
    ] {
        let r = get(&edge.url(path));
        assert_ne!(r.status, 0, "{path}: no answer");
        alive(&mut edge);
    }
    // A segment never cached (0 was asked for, 1 may have been prefetched) is re-planned
    // against the truncated file: it is not served from the old index (a 200 here would be
    // bytes the index does not describe).
    let r = get(&edge.url("/v/cut/480p/2.m4s"));
    assert!(r.status >= 500, "{}", r.status);
    assert!(edge.metric("sunomi_storage_replans_total") >= 1.0);
}

#[test]
fn a_replaced_track_file_is_never_mixed_with_its_old_index() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), &["old", "new"]);
    let edge = Edge::start(&store, &[], &[]);
    let before = get(&edge.url("/v/old/480p/0.m4s"));
    assert_eq!(before.status, 200);
    // Another valid track renamed into place, as a re-publish does.
    let videos = Path::new(&store).join("videos");
    let staged = videos.join("old/video/480p.mp4.new");
    std::fs::copy(videos.join("new/video/480p.mp4"), &staged).unwrap();
    std::fs::rename(&staged, videos.join("old/video/480p.mp4")).unwrap();
    // Segment 2 was never cached (0 was asked for, 1 may have been prefetched): it is
    // planned from the new file's index, not cut from the new bytes at the old offsets.
    let after = get(&edge.url("/v/old/480p/2.m4s"));
    assert_eq!(after.status, 200, "{}", after.text());
    assert_eq!(&after.body[4..8], b"moof", "a segment starts with its moof");
    // Byte for byte, and tagged, as by an edge that never saw the old file.
    let fresh = Edge::start(&store, &[], &[]);
    let expected = get(&fresh.url("/v/old/480p/2.m4s"));
    assert!(
        after.body == expected.body,
        "segment 2 differs from a fresh edge's"
    );
    assert_eq!(after.header("etag"), expected.header("etag"));
    // And the video's other objects follow the new file too.
    let init = get(&edge.url("/v/old/480p/init.mp4"));
    assert!(init.body == get_ok(&fresh.url("/v/old/480p/init.mp4")));
    assert_ne!(before.header("etag"), after.header("etag"));
    assert!(edge.metric("sunomi_storage_replans_total") >= 1.0);
}

#[test]
fn a_removed_store_is_unavailable_and_not_ready() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), &["gone"]);
    let edge = Edge::start(&store, &[], &[]);
    assert_eq!(get(&format!("{}/readyz", edge.admin)).status, 200);
    std::fs::remove_dir_all(&store).unwrap();
    let r = get(&edge.url("/v/gone/master.m3u8"));
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(r.header("retry-after").is_some());
    assert!(!r.text().contains(&store), "{}", r.text());
    assert_eq!(get(&format!("{}/readyz", edge.admin)).status, 503);
}

#[test]
fn one_missing_rendition_leaves_the_rest_of_the_master() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), &["partial"]);
    std::fs::remove_file(Path::new(&store).join("videos/partial/video/480p.mp4")).unwrap();
    let edge = Edge::start(&store, &[], &[]);
    let master = get(&edge.url("/v/partial/master.m3u8"));
    assert_eq!(master.status, 200, "{}", master.text());
    let text = master.text();
    assert!(text.contains("360p/media.m3u8"), "{text}");
    assert!(!text.contains("480p/media.m3u8"), "{text}");
    assert_eq!(get(&edge.url("/v/partial/480p/0.m4s")).status, 404);
    get_ok(&edge.url("/v/partial/360p/0.m4s"));
}

#[test]
fn an_empty_track_file_is_a_bad_object_not_unavailable_storage() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), &["empty"]);
    std::fs::write(Path::new(&store).join("videos/empty/video/360p.mp4"), b"").unwrap();
    let edge = Edge::start(&store, &[], &[]);
    let r = get(&edge.url("/v/empty/360p/0.m4s"));
    assert_eq!(r.status, 500, "{}", r.text());
    assert!(r.header("retry-after").is_none());
    assert!(!r.text().contains("videos/"), "{}", r.text());
}

#[test]
fn a_fifo_in_place_of_a_manifest_does_not_hang_the_request() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), &["fifo"]);
    let manifest = Path::new(&store).join("videos/fifo/manifest.json");
    std::fs::remove_file(&manifest).unwrap();
    let (ok, _, err) = run("mkfifo", &[manifest.to_str().unwrap()]);
    assert!(ok, "{err}");
    let mut edge = Edge::start(&store, &[], &[]);
    let r = get(&edge.url("/v/fifo/master.m3u8"));
    assert_eq!(r.status, 500, "{}", r.text());
    alive(&mut edge);
}

#[test]
fn peer_and_prefetch_markers_from_clients_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), &["p"]);
    let edge = Edge::start(&store, &[], &[]);
    let used = edge.metric("sunomi_prefetch_total{result=\"used\"}");
    let reads_before = reads(&edge);
    for headers in [
        vec![("Sunomi-Peer", "edge-1")],
        vec![
            ("Sunomi-Peer", "edge-1 1800000000 00"),
            ("Sunomi-Prefetch", "1"),
        ],
        vec![(
            "Sunomi-Peer",
            "edge-1 1800000000 0000000000000000000000000000000000000000000000000000000000000000",
        )],
    ] {
        let r = request("GET", &edge.url("/v/p/360p/0.m4s"), &headers);
        assert_eq!(r.status, 403, "{headers:?}: {}", r.text());
    }
    assert_eq!(
        reads(&edge),
        reads_before,
        "refused before any storage read"
    );
    assert_eq!(edge.metric("sunomi_prefetch_total{result=\"used\"}"), used);
    assert_eq!(
        edge.metric("sunomi_refused_requests_total{boundary=\"peer\"}"),
        3.0
    );
}

#[test]
fn admin_purge_needs_the_token_and_a_public_admin_needs_one_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), &["a"]);
    let token = "s3cret-admin-token-0123";
    let edge = Edge::start(&store, &[], &[("SUNOMI_ADMIN_TOKEN", token)]);
    let purge = format!("{}/purge?all=1", edge.admin);
    let r = request("POST", &purge, &[]);
    assert_eq!(r.status, 401, "{}", r.text());
    assert!(r.text().contains("Authorization: Bearer"), "{}", r.text());
    assert!(r.header("www-authenticate").is_some());
    let r = request(
        "POST",
        &purge,
        &[("Authorization", "Bearer wrong-token-0123456")],
    );
    assert_eq!(r.status, 401);
    let auth = format!("Bearer {token}");
    let r = request("POST", &purge, &[("Authorization", &auth)]);
    assert_eq!(r.status, 200, "{}", r.text());
    // Read-only endpoints stay open to monitoring.
    assert_eq!(get(&format!("{}/metrics", edge.admin)).status, 200);
    assert_eq!(
        edge.metric("sunomi_refused_requests_total{boundary=\"admin\"}"),
        2.0
    );

    // An admin listener on every interface without a token: refused at start, saying why.
    let out = Command::new(binary("sunomi-edge"))
        .args([
            "--store",
            &store,
            "--listen",
            &format!("127.0.0.1:{}", free_port()),
        ])
        .args(["--admin", &format!("0.0.0.0:{}", free_port())])
        .env_remove("SUNOMI_ADMIN_TOKEN")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("admin_token"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn unknown_ids_are_remembered_and_cost_two_storage_reads() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), &["known"]);
    let edge = Edge::start(&store, &[], &[]);
    let before = reads(&edge);
    for _ in 0..200 {
        assert_eq!(get(&edge.url("/v/nosuchvideo/master.m3u8")).status, 404);
    }
    // Its playback record (none) and its manifest as a video id (none), once each.
    assert_eq!(reads(&edge) - before, 2.0);
    // A purge of the id forgets the negative entry at once (control publishes, then purges).
    let r = request("POST", &format!("{}/purge?id=nosuchvideo", edge.admin), &[]);
    assert_eq!(r.status, 200);
    assert_eq!(get(&edge.url("/v/nosuchvideo/master.m3u8")).status, 404);
    assert_eq!(reads(&edge) - before, 4.0);
}

#[test]
fn the_subtitle_sidecar_and_whole_track_files_are_read_from_storage_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), &["s"]);
    let subs = Path::new(&store).join("videos/s/subs");
    std::fs::create_dir_all(&subs).unwrap();
    std::fs::write(
        subs.join("en.vtt"),
        "WEBVTT\n\n00:00:00.500 --> 00:00:02.000\nHello\n",
    )
    .unwrap();
    let edge = Edge::start(&store, &[], &[]);
    for path in ["/v/s/subs/en.vtt", "/v/s/br/360p/track.mp4"] {
        let first = get(&edge.url(path));
        assert_eq!(first.status, 200, "{path}: {}", first.text());
        let before = reads(&edge);
        for _ in 0..5 {
            let again = get(&edge.url(path));
            assert_eq!(again.body, first.body);
            assert!(
                again.header("cache-status").unwrap().contains("hit"),
                "{path}"
            );
        }
        assert_eq!(reads(&edge), before, "{path} read again");
    }
}

fn encryption_config(dir: &Path) -> String {
    let path = dir.join("enc.toml");
    std::fs::write(
        &path,
        "[encryption]\nmaster_key = \"000102030405060708090a0b0c0d0e0f\"\n\
         token_secret = \"0f0e0d0c0b0a09080706050403020100\"\nmax_token_ttl_secs = 3600\n",
    )
    .unwrap();
    path.to_str().unwrap().to_string()
}

fn token(config: &str, id: &str, ttl: &str) -> std::process::Output {
    Command::new(binary("sunomi-edge"))
        .args(["--config", config, "token", "--id", id, "--ttl", ttl])
        .output()
        .unwrap()
}

#[test]
fn tokens_are_checked_on_every_protected_playlist_and_never_reflected_when_malformed() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), &["t"]);
    let config = encryption_config(dir.path());
    let edge = Edge::start(&store, &["--config", &config], &[]);
    let good = String::from_utf8(token(&config, "t", "600").stdout).unwrap();
    let good = good.trim();
    let (exp, sig) = good.split_once('&').unwrap();
    let forged = format!("{exp}&sig={}", "0".repeat(64));
    let huge = format!("{exp}&sig={}", "a".repeat(65_000));
    let plus = format!("exp=+{}&{sig}", exp.trim_start_matches("exp="));
    let upper = format!("{exp}&{}", sig.to_uppercase().replace("SIG=", "sig="));
    for profile in ["aes", "saes", "saes/ts", "aes/ts"] {
        let url = |q: &str| edge.url(&format!("/v/t/{profile}/master.m3u8?{q}"));
        let ok = get(&url(good));
        assert_eq!(ok.status, 200, "{profile}: {}", ok.text());
        for bad in [&forged, &huge, &plus, &upper] {
            let r = get(&url(bad));
            assert_eq!(r.status, 403, "{profile} {}", &bad[..bad.len().min(60)]);
            assert!(r.body.len() < 1000);
        }
    }
    // A token valid for longer than the edge accepts is neither minted nor honoured.
    let long = token(&config, "t", "86400");
    assert!(!long.status.success());
}

#[test]
fn purges_reach_encrypted_segments_by_id_and_by_url() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), &["e"]);
    let config = encryption_config(dir.path());
    let edge = Edge::start(&store, &["--config", &config], &[]);
    let status = |path: &str| {
        get(&edge.url(path))
            .header("cache-status")
            .unwrap_or_default()
            .to_string()
    };
    let paths = [
        "/v/e/aes/360p/1.m4s",
        "/v/e/saes/360p/1.m4s",
        "/v/e/aes/ts/360p/1.ts",
        "/v/e/saes/ts/360p/1.ts",
    ];
    for p in paths {
        status(p);
        assert!(status(p).contains("hit"), "{p} cached");
    }
    let r = request("POST", &format!("{}/purge?id=e", edge.admin), &[]);
    assert_eq!(r.status, 200);
    for p in paths {
        assert!(status(p).contains("fwd=miss"), "{p} purged by id");
    }
    for p in paths {
        let q = format!("{}/purge?url={p}", edge.admin);
        assert_eq!(request("POST", &q, &[]).status, 200, "purge url={p}");
        assert!(status(p).contains("fwd=miss"), "{p} purged by url");
    }
}

#[test]
fn if_range_that_does_not_match_gets_the_whole_body() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), &["r"]);
    let edge = Edge::start(&store, &[], &[]);
    for path in ["/v/r/360p/0.m4s", "/v/r/br/360p/track.mp4"] {
        let full = get(&edge.url(path));
        assert_eq!(full.status, 200);
        let etag = full.header("etag").unwrap().to_string();
        let ranged = |if_range: &str| {
            request(
                "GET",
                &edge.url(path),
                &[("Range", "bytes=0-99"), ("If-Range", if_range)],
            )
        };
        let r = ranged(&etag);
        assert_eq!(r.status, 206, "{path}");
        assert_eq!(r.body.len(), 100);
        for stale in ["\"0000000000000000\"", "Sat, 28 Nov 2026 08:00:00 GMT"] {
            let r = ranged(stale);
            assert_eq!(r.status, 200, "{path} {stale}");
            assert_eq!(r.body, full.body);
        }
    }
}

/// Sends raw bytes and returns the status line.
fn raw_status(addr: &str, request: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut buf = [0u8; 512];
    let n = s.read(&mut buf).unwrap_or(0);
    String::from_utf8_lossy(&buf[..n])
        .lines()
        .next()
        .unwrap_or("")
        .to_string()
}

#[test]
fn http11_without_host_is_a_bad_request() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), &["h"]);
    let edge = Edge::start(&store, &[], &[]);
    let addr = edge.base.trim_start_matches("http://");
    let no_host = raw_status(addr, "GET /v/h/master.m3u8 HTTP/1.1\r\n\r\n");
    assert!(no_host.contains(" 400 "), "{no_host}");
    let with_host = raw_status(addr, "GET /v/h/master.m3u8 HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(with_host.contains(" 200 "), "{with_host}");
    let http10 = raw_status(addr, "GET /v/h/master.m3u8 HTTP/1.0\r\n\r\n");
    assert!(http10.contains(" 200 "), "{http10}");
}

#[test]
fn a_malformed_request_head_is_a_bad_request_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), &["m"]);
    let edge = Edge::start(&store, &[], &[]);
    let addr = edge.base.trim_start_matches("http://");
    let counted = r#"sunomi_http_requests_total{route="invalid",status="400"}"#;
    for head in [
        "GET /v/m/master.m3u8 HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n",
        "\x01\x02 not http at all\r\n\r\n",
    ] {
        let before = edge.metric_opt(counted).unwrap_or(0.0);
        let status = raw_status(addr, head);
        assert!(status.contains(" 400 "), "{head:?}: {status}");
        assert_eq!(edge.metric(counted), before + 1.0, "{head:?} is counted");
    }
    // The edge still answers.
    let ok = raw_status(addr, "GET /v/m/master.m3u8 HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(ok.contains(" 200 "), "{ok}");
}

/// Sends `request` on a new connection and reads everything until the server closes it
/// (within 10 s; a connection still open then fails the test).
fn exchange_until_closed(addr: &str, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 16384];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => panic!("the edge did not close the connection: {e}; read {got:?}"),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// The status codes of the responses in `wire`, in order.
fn statuses(wire: &str) -> Vec<&str> {
    wire.match_indices("HTTP/1.1 ")
        .map(|(at, _)| &wire[at + 9..at + 12])
        .collect()
}

#[test]
fn http1_framing_refuses_bodies_and_oversized_heads_then_closes() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), &["f"]);
    let edge = Edge::start(&store, &[], &[]);
    let addr = edge.base.trim_start_matches("http://");
    let get = "GET /v/f/master.m3u8 HTTP/1.1\r\nHost: x\r\n";
    let many_fields = format!("{get}{}\r\n", "X-A: b\r\n".repeat(101));
    let long_head = format!("{get}X-Long: {}\r\n\r\n", "a".repeat(130 * 1024));
    let cases: [(&str, String, &str); 7] = [
        (
            "a GET with a body",
            format!("{get}Content-Length: 5\r\n\r\nhello"),
            "413",
        ),
        (
            "a POST body over 16 KiB",
            format!(
                "POST /v/f/keys/clearkey HTTP/1.1\r\nHost: x\r\nContent-Length: 16385\r\n\r\n{}",
                " ".repeat(16385)
            ),
            "413",
        ),
        (
            "a chunked body",
            format!("{get}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
            "413",
        ),
        (
            "two lengths",
            format!("{get}Content-Length: 0\r\nContent-Length: 2\r\n\r\n"),
            "400",
        ),
        ("two hosts", format!("{get}Host: y\r\n\r\n"), "400"),
        ("101 fields", many_fields, "431"),
        ("a 130 KiB head", long_head, "431"),
    ];
    for (what, request, status) in cases {
        let series = format!(r#"sunomi_http_requests_total{{route="invalid",status="{status}"}}"#);
        let before = edge.metric_opt(&series).unwrap_or(0.0);
        // The request that follows on the same connection is never answered: the edge closes
        // after the refusal rather than read a body as a request.
        let wire = exchange_until_closed(addr, format!("{request}{get}\r\n").as_bytes());
        assert_eq!(statuses(&wire), [status], "{what}: {wire}");
        assert!(wire.contains("Connection: close\r\n"), "{what}: {wire}");
        assert_eq!(edge.metric(&series), before + 1.0, "{what} is counted");
    }
    // A POST's body (at most 16 KiB: a licence request's) is read as its body, never as a
    // request: the POST is answered (405 here: only licences take POST), then the request
    // that follows it on the connection.
    let body = "GET /v/f/nope.m3u8 HTTP/1.1\r\nHost: x\r\n\r\n";
    let post = format!(
        "POST /v/f/master.m3u8 HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}{get}Connection: close\r\n\r\n",
        body.len()
    );
    // Sent in two writes, the body's second half late: the edge waits for the whole body.
    let (first, second) = post.split_at(post.find("nope").unwrap());
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(first.as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    s.write_all(second.as_bytes()).unwrap();
    let mut wire = Vec::new();
    let _ = s.read_to_end(&mut wire);
    let wire = String::from_utf8_lossy(&wire);
    assert_eq!(statuses(&wire), ["405", "200"], "{wire}");
    assert!(
        wire.contains("Allow: GET, HEAD, OPTIONS, POST\r\n"),
        "{wire}"
    );
    // A zero length is no body: answered, and the connection kept.
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(format!("{get}Content-Length: 0\r\n\r\n").as_bytes())
        .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = [0u8; 4096];
    let n = s.read(&mut buf).unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200 OK\r\n"));
    assert!(!closed_by_server(&mut s, Duration::from_millis(500)));
}

#[test]
fn http1_keeps_alive_by_version_and_answers_pipelined_requests_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), &["p"]);
    let edge = Edge::start(&store, &[], &[]);
    let addr = edge.base.trim_start_matches("http://");
    // Three requests in one write; the last asks to close.
    let pipelined = "GET /v/p/master.m3u8 HTTP/1.1\r\nHost: x\r\n\r\n\
                     HEAD /v/p/master.m3u8 HTTP/1.1\r\nHost: x\r\n\r\n\
                     GET /v/nope/master.m3u8 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let wire = exchange_until_closed(addr, pipelined.as_bytes());
    assert_eq!(statuses(&wire), ["200", "200", "404"], "{wire}");
    let master = get_ok(&edge.url("/v/p/master.m3u8"));
    // The GET carries the playlist; the HEAD the same length and no body: the third
    // response starts right after the HEAD's head.
    let get_body_at = wire.find("\r\n\r\n").unwrap() + 4;
    assert_eq!(
        &wire.as_bytes()[get_body_at..get_body_at + master.len()],
        &master[..]
    );
    let head_at = get_body_at + master.len();
    assert!(wire[head_at..].starts_with("HTTP/1.1 200 OK\r\n"), "{wire}");
    let head_end = head_at + wire[head_at..].find("\r\n\r\n").unwrap() + 4;
    assert!(wire[head_at..head_end].contains(&format!("Content-Length: {}\r\n", master.len())));
    assert!(wire[head_end..].starts_with("HTTP/1.1 404 "), "{wire}");
    assert!(wire[head_end..].contains("Connection: close\r\n"));
    for response in wire.split("HTTP/1.1 ").skip(1) {
        assert!(response.contains("\r\nDate: "), "{response}");
    }

    // HTTP/1.0 closes unless asked to keep the connection, and then says it does.
    let wire = exchange_until_closed(addr, b"GET /v/p/master.m3u8 HTTP/1.0\r\n\r\n");
    assert_eq!(statuses(&wire), ["200"]);
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"GET /v/p/master.m3u8 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = vec![0u8; 65536];
    let n = s.read(&mut buf).unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.contains("Connection: keep-alive\r\n"), "{text}");
    assert!(!closed_by_server(&mut s, Duration::from_millis(500)));

    // The absolute form of a target is served by its path.
    let wire = exchange_until_closed(
        addr,
        b"GET http://x/v/p/master.m3u8 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(statuses(&wire), ["200"], "{wire}");
}

#[test]
fn logs_carry_no_colour_codes_when_not_on_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), &["l"]);
    let mut child = Command::new(binary("sunomi-edge"))
        .args(["--store", &store])
        .args(["--listen", &format!("127.0.0.1:{}", free_port())])
        .args(["--admin", &format!("127.0.0.1:{}", free_port())])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    child.kill().unwrap();
    child.wait().unwrap();
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(log.contains("sunomi-edge starting"), "{log}");
    assert!(!log.contains('\u{1b}'), "{log}");
}

/// Reads until the server closes the connection (EOF or reset); false if it is still open
/// after `limit`.
fn closed_by_server(s: &mut TcpStream, limit: Duration) -> bool {
    s.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                return false
            }
            Err(_) => return true,
        }
    }
}

#[test]
fn idle_and_slow_connections_are_bounded_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), &["c"]);
    let config = dir.path().join("conn.toml");
    std::fs::write(
        &config,
        "[connections]\nmax = 20\nheader_timeout_ms = 1000\nidle_timeout_ms = 1000\n",
    )
    .unwrap();
    let edge = Edge::start(&store, &["--config", config.to_str().unwrap()], &[]);
    let addr = edge.base.trim_start_matches("http://").to_string();
    // Twenty idle connections fill the cap: the next client is told so at once, and the
    // admin listener still answers.
    let idle: Vec<TcpStream> = (0..20)
        .map(|_| TcpStream::connect(&addr).unwrap())
        .collect();
    // Once the edge has taken all twenty (not after a fixed pause: a loaded machine may
    // accept them later than that).
    wait_until(
        Duration::from_secs(10),
        "the edge to hold 20 connections",
        || edge.metric("sunomi_connections_open{listener=\"player\"}") >= 20.0,
    );
    let busy = get(&edge.url("/v/c/master.m3u8"));
    assert_eq!(busy.status, 503, "{}", busy.text());
    assert_eq!(busy.header("retry-after"), Some("1"));
    assert_eq!(busy.text(), "too many open connections\n");
    assert_eq!(get(&format!("{}/readyz", edge.admin)).status, 200);
    // Connections that send nothing are closed after the header timeout, freeing the cap.
    for mut s in idle {
        assert!(
            closed_by_server(&mut s, Duration::from_secs(20)),
            "an idle connection stayed open"
        );
    }
    get_ok(&edge.url("/v/c/master.m3u8"));
    // A client dripping a header byte by byte gains nothing: the deadline is total.
    let mut slow = TcpStream::connect(&addr).unwrap();
    slow.write_all(b"GET /v/c/master.m3u8 HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let mut closed = false;
    for _ in 0..100 {
        std::thread::sleep(Duration::from_millis(100));
        if slow.write_all(b"X-Drip: 1\r\n").is_err() {
            closed = true;
            break;
        }
    }
    assert!(
        closed || closed_by_server(&mut slow, Duration::from_secs(5)),
        "a slow header kept its connection"
    );
    // A kept-alive connection idle after its response is closed too.
    let mut kept = TcpStream::connect(&addr).unwrap();
    kept.write_all(b"GET /v/c/master.m3u8 HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert!(
        closed_by_server(&mut kept, Duration::from_secs(20)),
        "an idle keep-alive stayed open"
    );
    assert!(edge.metric("sunomi_connections_refused_total{listener=\"player\"}") >= 1.0);
    assert!(edge.metric("sunomi_connection_timeouts_total{listener=\"player\"}") >= 21.0);
}
