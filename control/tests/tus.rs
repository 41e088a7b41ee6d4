//! tus 1.0 as an independent client sees it (tuspy, the official Python client), including
//! resuming after a killed connection and after a control restart, and the protocol's
//! answers to everything a client can get wrong.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use base64::Engine;
use common::*;
use sha2::Digest;

fn tuspy(args: &[&str]) -> String {
    let out = Command::new(python())
        .arg(judge("tus_judge.py"))
        .args(args)
        .output()
        .expect("running the tus judge");
    assert!(
        out.status.success(),
        "tuspy {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn asset_of(api: &Api, upload_url: &str) -> String {
    let id = upload_url.rsplit('/').next().unwrap();
    let u = api.get(&format!("/api/v1/uploads/{id}")).json();
    u["asset_id"].as_str().expect("asset id").to_string()
}

fn source_of(store: &str, asset: &str) -> Vec<u8> {
    std::fs::read(Path::new(store).join("videos").join(asset).join("source")).expect("source")
}

#[test]
fn tuspy_uploads_in_chunks_and_resumes_after_a_killed_connection_and_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    let control = Control::start(Options {
        store: store.clone(),
        ..Default::default()
    });
    let key = create_key(&store, &[]);
    let api = control.api(&key);
    let src = clip(dir.path(), "clip.mp4", 8.0);
    let file = src.to_str().unwrap();
    let original = std::fs::read(&src).unwrap();
    assert!(
        original.len() > 600_000,
        "the clip must span several chunks"
    );
    let endpoint = format!("{}/api/v1/tus", control.base);
    let chunk = "131072";

    // Two chunks, then the client stops.
    let out = tuspy(&["upload", &endpoint, &key, file, chunk, "2"]);
    let url = out.lines().next().unwrap().to_string();
    assert!(out.contains("offset 262144"), "{out}");

    // A killed connection part way through a chunk: what arrived is kept.
    tuspy(&["cut", &url, &key, file, "100000"]);
    let head = api.send("HEAD", &url, &[("tus-resumable", "1.0.0")], vec![]);
    assert_eq!(head.status, 200);
    let after_cut: u64 = head.header("upload-offset").unwrap().parse().unwrap();
    assert!(
        (262_144..=362_144).contains(&after_cut),
        "offset after the cut: {after_cut}"
    );
    assert_eq!(
        head.header("upload-length"),
        Some(original.len().to_string().as_str())
    );
    assert!(head.header("upload-expires").is_some());
    assert_eq!(head.header("cache-control"), Some("no-store"));

    // Control restarts (SIGKILL); the upload resumes where the server says it is.
    let control = control.restart();
    let api = control.api(&key);
    let out = tuspy(&["resume", &url, &key, file, chunk]);
    assert!(out.contains(&format!("resumed at {after_cut}")), "{out}");
    let asset = asset_of(&api, &url);
    let done = api.wait_final(&asset, Duration::from_secs(120));
    assert_eq!(done["status"], "ready", "{done}");
    assert_eq!(done["passthrough"], "tuspy-judge");
    assert_eq!(done["meta"]["filename"], "clip.mp4");
    assert_eq!(
        source_of(&store, &asset),
        original,
        "the source is the file, byte for byte"
    );
    let upload = api
        .get(&format!(
            "/api/v1/uploads/{}",
            url.rsplit('/').next().unwrap()
        ))
        .json();
    assert_eq!(upload["status"], "asset_created");
    let parts = Path::new(&store)
        .join("uploads")
        .join(url.rsplit('/').next().unwrap())
        .join("parts");
    assert!(
        files_under(&parts).is_empty(),
        "parts are removed once assembled"
    );
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[test]
fn the_protocol_answers_what_clients_get_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    let control = Control::start(Options {
        store: store.clone(),
        no_workers: true,
        config: "[uploads]\nmax_size = 1000000\nsweep_interval_secs = 1\nexpiry_secs = 3\nidle_timeout_secs = 1\n".into(),
        ..Default::default()
    });
    let api = control.api(&create_key(&store, &[]));
    let tus = [("tus-resumable", "1.0.0")];
    let create = |len: &str| {
        let r = api.send(
            "POST",
            "/api/v1/tus",
            &[tus[0], ("upload-length", len)],
            vec![],
        );
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.header("tus-resumable"), Some("1.0.0"));
        assert_eq!(r.header("upload-offset"), Some("0"));
        r.header("location").unwrap().to_string()
    };
    let patch = |url: &str, offset: &str, extra: &[(&str, &str)], body: &[u8]| {
        let mut h = vec![
            tus[0],
            ("content-type", "application/offset+octet-stream"),
            ("upload-offset", offset),
        ];
        h.extend_from_slice(extra);
        api.send("PATCH", url, &h, body.to_vec())
    };

    // Discovery.
    let r = api.send("OPTIONS", "/api/v1/tus", &[], vec![]);
    assert_eq!(r.status, 204);
    assert_eq!(r.header("tus-version"), Some("1.0.0"));
    assert_eq!(r.header("tus-max-size"), Some("1000000"));
    assert_eq!(r.header("tus-checksum-algorithm"), Some("sha1,sha256"));
    let ext = r.header("tus-extension").unwrap();
    for e in [
        "creation",
        "creation-with-upload",
        "expiration",
        "checksum",
        "termination",
    ] {
        assert!(ext.split(',').any(|x| x == e), "{e} missing from {ext}");
    }
    // Version, auth, size.
    let r = api.send("POST", "/api/v1/tus", &[("upload-length", "10")], vec![]);
    assert_eq!((r.status, r.header("tus-version")), (412, Some("1.0.0")));
    let r = api.send(
        "POST",
        "/api/v1/tus",
        &[
            tus[0],
            ("upload-length", "10"),
            ("authorization", "Bearer sk_x_y"),
        ],
        vec![],
    );
    assert_eq!(r.status, 401);
    let r = api.send(
        "POST",
        "/api/v1/tus",
        &[tus[0], ("upload-length", "1000001")],
        vec![],
    );
    assert_eq!(r.status, 413);
    let r = api.send("POST", "/api/v1/tus", &[tus[0]], vec![]);
    assert_eq!(r.status, 400);
    let r = api.send(
        "POST",
        "/api/v1/tus",
        &[tus[0], ("upload-length", "-1")],
        vec![],
    );
    assert_eq!(r.status, 400);
    let r = api.send(
        "POST",
        "/api/v1/tus",
        &[
            tus[0],
            ("upload-length", "10"),
            ("upload-metadata", "name !!notbase64"),
        ],
        vec![],
    );
    assert_eq!(r.status, 400);
    let huge = format!("junk {}", "QUFB".repeat(2000));
    let r = api.send(
        "POST",
        "/api/v1/tus",
        &[tus[0], ("upload-length", "10"), ("upload-metadata", &huge)],
        vec![],
    );
    assert_eq!(r.status, 400, "metadata is bounded");

    // Chunks: offsets, media type, checksums.
    let url = create("10");
    assert_eq!(patch(&url, "0", &[], b"01234").status, 204);
    let r = patch(&url, "0", &[], b"01234");
    assert_eq!((r.status, r.header("upload-offset")), (409, Some("5")));
    let r = api.send(
        "PATCH",
        &url,
        &[
            tus[0],
            ("content-type", "application/octet-stream"),
            ("upload-offset", "5"),
        ],
        b"56789".to_vec(),
    );
    assert_eq!(r.status, 415);
    let r = api.send(
        "PATCH",
        &url,
        &[tus[0], ("content-type", "application/offset+octet-stream")],
        b"5".to_vec(),
    );
    assert_eq!(r.status, 400);
    let wrong = format!("sha1 {}", b64(&sha1::Sha1::digest(b"nope!")));
    let r = patch(&url, "5", &[("upload-checksum", &wrong)], b"56789");
    assert_eq!(r.status, 460, "{}", String::from_utf8_lossy(&r.body));
    let r = patch(&url, "5", &[("upload-checksum", "md5 AAAA")], b"56789");
    assert_eq!(r.status, 400);
    let head = api.send("HEAD", &url, &tus, vec![]);
    assert_eq!(
        head.header("upload-offset"),
        Some("5"),
        "a bad chunk is discarded"
    );
    let r = patch(&url, "5", &[], b"56789ABC");
    assert_eq!(r.status, 413, "past the declared length");
    let right = format!("sha256 {}", b64(&sha2::Sha256::digest(b"56789")));
    let r = patch(&url, "5", &[("upload-checksum", &right)], b"56789");
    assert_eq!((r.status, r.header("upload-offset")), (204, Some("10")));
    let r = patch(&url, "10", &[], b"x");
    assert_eq!(r.status, 409, "a complete upload takes no more");

    // Two clients racing on one offset: exactly one wins.
    let race = create("1000");
    let body = vec![7u8; 400];
    let outcomes: Vec<u16> = std::thread::scope(|s| {
        let a = s.spawn(|| patch(&race, "0", &[], &body).status);
        let b = s.spawn(|| patch(&race, "0", &[], &body).status);
        vec![a.join().unwrap(), b.join().unwrap()]
    });
    // The loser is refused: 423 while the winner's PATCH is in flight (one at a time per
    // upload), 409 once it has landed (the offset moved).
    let mut sorted = outcomes.clone();
    sorted.sort();
    assert!(
        sorted[0] == 204 && (sorted[1] == 409 || sorted[1] == 423),
        "{outcomes:?}"
    );
    let head = api.send("HEAD", &race, &tus, vec![]);
    assert_eq!(head.header("upload-offset"), Some("400"));

    // A client that stalls mid-chunk: after the idle timeout what arrived is kept.
    let slow = create("10000");
    let addr = control.base.trim_start_matches("http://").to_string();
    let path = slow.split(&addr).nth(1).unwrap().to_string();
    let mut sock = std::net::TcpStream::connect(&addr).unwrap();
    use std::io::Write;
    write!(
        sock,
        "PATCH {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nTus-Resumable: 1.0.0\r\nContent-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\nContent-Length: 10000\r\n\r\n",
        api.key
    )
    .unwrap();
    sock.write_all(&[1u8; 1000]).unwrap();
    sock.flush().unwrap();
    wait_until(
        Duration::from_secs(20),
        "the stalled chunk to be kept",
        || {
            api.send("HEAD", &slow, &tus, vec![])
                .header("upload-offset")
                == Some("1000")
        },
    );
    drop(sock);

    // Termination.
    let doomed = create("100");
    assert_eq!(patch(&doomed, "0", &[], b"abc").status, 204);
    assert_eq!(api.send("DELETE", &doomed, &tus, vec![]).status, 204);
    assert_eq!(api.send("HEAD", &doomed, &tus, vec![]).status, 410);
    assert_eq!(patch(&doomed, "3", &[], b"d").status, 410);
    let upload = api
        .get(&format!(
            "/api/v1/uploads/{}",
            doomed.rsplit('/').next().unwrap()
        ))
        .json();
    assert_eq!(upload["status"], "cancelled");
    let asset = api.asset(upload["asset_id"].as_str().unwrap());
    assert_eq!(asset["errors"]["code"], "ERR_UPLOAD_CANCELLED");

    // Unknown and malformed upload ids.
    let base = format!("{}/api/v1/tus", control.base);
    assert_eq!(
        api.send("HEAD", &format!("{base}/nope"), &tus, vec![])
            .status,
        404
    );
    assert_eq!(
        api.send("HEAD", &format!("{base}/a.b"), &tus, vec![])
            .status,
        404
    );

    // Expiry: a stalled upload times out and its asset says so.
    let stalled = create("100");
    let stalled_id = stalled.rsplit('/').next().unwrap().to_string();
    wait_until(Duration::from_secs(30), "the upload to time out", || {
        api.get(&format!("/api/v1/uploads/{stalled_id}")).json()["status"] == "timed_out"
    });
    assert_eq!(api.send("HEAD", &stalled, &tus, vec![]).status, 410);
    let u = api.get(&format!("/api/v1/uploads/{stalled_id}")).json();
    assert_eq!(
        api.asset(u["asset_id"].as_str().unwrap())["errors"]["code"],
        "ERR_UPLOAD_TIMED_OUT"
    );
}

#[test]
fn delegated_upload_tokens_reach_one_upload_and_can_be_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    let control = Control::start(Options {
        store: store.clone(),
        no_workers: true,
        ..Default::default()
    });
    let api = control.api(&create_key(&store, &[]));
    let make = || {
        let r = api.send(
            "POST",
            "/api/v1/uploads",
            &[("content-type", "application/json")],
            br#"{"passthrough":"p","meta":{"title":"t"}}"#.to_vec(),
        );
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        r.json()
    };
    let one = make();
    let two = make();
    let token = one["upload_token"].as_str().unwrap().to_string();
    assert!(token.starts_with("ut_"));
    assert!(one["token_expires_at"].is_string());
    let browser = Api {
        base: api.base.clone(),
        key: token.clone(),
    };
    let tus = ("tus-resumable", "1.0.0");
    // The token creates its own upload's tus resource, once, and nothing else.
    let r = browser.send(
        "POST",
        "/api/v1/tus",
        &[tus, ("upload-length", "4")],
        vec![],
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let url = r.header("location").unwrap().to_string();
    assert!(url.ends_with(one["id"].as_str().unwrap()));
    assert_eq!(url, one["url"].as_str().unwrap());
    let r = browser.send(
        "POST",
        "/api/v1/tus",
        &[tus, ("upload-length", "4")],
        vec![],
    );
    assert_eq!(r.status, 409);
    assert_eq!(
        browser.get("/api/v1/assets").status,
        401,
        "a token is no API key"
    );
    let other = two["url"].as_str().unwrap();
    assert_eq!(browser.send("HEAD", other, &[tus], vec![]).status, 401);
    let chunk = |who: &Api, offset: &str, body: &[u8]| {
        who.send(
            "PATCH",
            &url,
            &[
                tus,
                ("content-type", "application/offset+octet-stream"),
                ("upload-offset", offset),
            ],
            body.to_vec(),
        )
        .status
    };
    assert_eq!(chunk(&browser, "0", b"ab"), 204);
    // Revoked: the browser is out, the API key still works.
    let r = api.send(
        "DELETE",
        &format!("/api/v1/uploads/{}/token", one["id"].as_str().unwrap()),
        &[],
        vec![],
    );
    assert_eq!(r.status, 204);
    assert_eq!(chunk(&browser, "2", b"cd"), 401);
    assert_eq!(chunk(&api, "2", b"cd"), 204);
    let asset = api.asset(one["asset_id"].as_str().unwrap());
    assert_eq!(asset["status"], "uploaded");
    assert_eq!(asset["passthrough"], "p");
    assert_eq!(asset["meta"]["title"], "t");
}

#[test]
fn the_cli_resumes_an_upload_it_was_killed_in() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    let control = Control::start(Options {
        store: store.clone(),
        no_workers: true,
        ..Default::default()
    });
    let key = create_key(&store, &[]);
    let file = dir.path().join("big.bin");
    let bytes: Vec<u8> = (0..48u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect();
    std::fs::write(&file, &bytes).unwrap();
    let cache = dir.path().join("cache");
    let args = |extra: &[&str]| {
        let mut a = vec![
            "upload".to_string(),
            file.to_string_lossy().into_owned(),
            "--api".into(),
            control.base.clone(),
            "--key".into(),
            key.clone(),
            "--chunk-size".into(),
            "1048576".into(),
        ];
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    // First run: killed once some chunks are stored.
    let mut first = Command::new(control_binary())
        .args(args(&[]))
        .env("XDG_CACHE_HOME", &cache)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let uploads = Path::new(&store).join("uploads");
    // The upload's record is in the database; its bytes go to `uploads/{id}/data`.
    wait_until(Duration::from_secs(60), "a few chunks to be stored", || {
        files_under(&uploads).iter().any(|f| {
            f.ends_with("/data")
                && std::fs::metadata(uploads.join(f)).is_ok_and(|m| m.len() >= 4 << 20)
        })
    });
    first.kill().unwrap();
    let _ = first.wait();
    // Second run: the same file resumes the same upload.
    let out = Command::new(control_binary())
        .args(args(&[]))
        .env("XDG_CACHE_HOME", &cache)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("resuming"), "{err}");
    let asset = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_string();
    assert_eq!(source_of(&store, &asset), bytes);
    let listed = control.api(&key).get("/api/v1/assets").json();
    assert_eq!(
        listed["data"].as_array().unwrap().len(),
        1,
        "one upload (one asset), resumed"
    );
}
