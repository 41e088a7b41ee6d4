//! Hostile callers against the real `sunomi-control serve`: what strangers can make the API
//! do to everyone else (the review's defects, each named after what it pins).

mod common;

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;

/// A blocking client whose connections come from `from` (any 127/8 address reaches the
/// API on 127.0.0.1: a stranger at another address, on one machine).
fn client_from(from: &str) -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .local_address(from.parse::<IpAddr>().expect("address"))
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// A made-up key with a key's shape.
fn made_up_key(n: usize) -> String {
    format!("sk_flood{n:08}_{}", "a".repeat(32))
}

#[test]
fn a_flood_of_unknown_key_ids_never_locks_out_a_valid_key() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    let key = create_key(&store, &[]);
    let control = Control::start(Options {
        store: store.clone(),
        no_workers: true,
        ..Default::default()
    });
    let url = format!("{}/api/v1/assets", control.base);

    // Four threads of strangers at 127.0.0.2, as fast as they can, for the whole test.
    let stop = Arc::new(AtomicBool::new(false));
    let (sent, throttled, unauthorized) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    let flood: Vec<_> = (0..4)
        .map(|t| {
            let (stop, sent, throttled, unauthorized, url) = (
                stop.clone(),
                sent.clone(),
                throttled.clone(),
                unauthorized.clone(),
                url.clone(),
            );
            std::thread::spawn(move || {
                let c = client_from("127.0.0.2");
                let mut n = t * 1_000_000;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let Ok(r) = c.get(&url).bearer_auth(made_up_key(n)).send() else {
                        continue;
                    };
                    sent.fetch_add(1, Ordering::Relaxed);
                    match r.status().as_u16() {
                        429 => {
                            assert!(r.headers().contains_key("retry-after"));
                            throttled.fetch_add(1, Ordering::Relaxed);
                        }
                        401 => {
                            unauthorized.fetch_add(1, Ordering::Relaxed);
                        }
                        other => panic!("a made-up key got {other}"),
                    }
                }
            })
        })
        .collect();

    // The customer at 127.0.0.1 keeps working past the key cache's lifetime (5 s), so its
    // key is looked up again in the middle of the flood.
    let customer = client_from("127.0.0.1");
    let started = Instant::now();
    let mut answered = 0;
    while started.elapsed() < Duration::from_secs(8) {
        let r = customer
            .get(&url)
            .bearer_auth(&key)
            .send()
            .expect("customer request");
        assert_eq!(
            r.status().as_u16(),
            200,
            "the valid key was refused after {:?} of the flood ({} strangers' requests sent)",
            started.elapsed(),
            sent.load(Ordering::Relaxed)
        );
        answered += 1;
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::Relaxed);
    for t in flood {
        t.join().expect("flood thread");
    }
    assert!(answered > 50);
    // The strangers were slowed down at their own address: past their burst, throttled.
    let (sent, throttled) = (
        sent.load(Ordering::Relaxed),
        throttled.load(Ordering::Relaxed),
    );
    assert!(sent > 200, "the flood sent only {sent}");
    assert!(
        throttled > sent / 2,
        "{throttled} of {sent} flood requests throttled"
    );
    assert!(unauthorized.load(Ordering::Relaxed) > 0);
}

/// Sends `head` on a fresh connection to `base` and reads until the peer closes or
/// `limit` passes; what came back.
fn raw_exchange(base: &str, head: &str, limit: Duration) -> String {
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(limit)).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                got.extend_from_slice(&buf[..n]);
                if got.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            Err(e) => panic!(
                "no answer within {limit:?} ({e}); got {:?}",
                String::from_utf8_lossy(&got)
            ),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[test]
fn a_stranger_completing_a_direct_upload_is_refused_before_its_body_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    let control = Control::start(Options {
        store,
        no_workers: true,
        ..Default::default()
    });
    // A 2 MB body announced and never sent: the answer must not wait for it.
    let head = "POST /api/v1/uploads/abcdefghijklmnopqrstuvwx/complete HTTP/1.1\r\n\
                Host: api\r\nAuthorization: Bearer sk_stranger_aaaaaaaaaaaaaaaa\r\n\
                Content-Type: application/json\r\nContent-Length: 2000000\r\n\r\n";
    let answer = raw_exchange(&control.base, head, Duration::from_secs(20));
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
}

#[test]
fn api_connections_are_capped_and_silent_ones_are_closed() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    let control = Control::start(Options {
        store,
        no_workers: true,
        config: "[api]\nmax_connections = 4\nheader_timeout_secs = 2\n".into(),
        ..Default::default()
    });
    let addr = control.base.trim_start_matches("http://").to_string();
    // Four connections that say nothing hold every slot...
    let silent: Vec<std::net::TcpStream> = (0..4)
        .map(|_| std::net::TcpStream::connect(&addr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    // ...so a fifth is told 503 and closed at once.
    let busy = raw_exchange(
        &control.base,
        "GET /api/v1/openapi.json HTTP/1.1\r\nHost: api\r\n\r\n",
        Duration::from_secs(10),
    );
    assert!(busy.starts_with("HTTP/1.1 503"), "{busy}");
    assert!(
        control
            .metric("sunomi_api_connections_refused_total")
            .unwrap_or(0.0)
            >= 1.0
    );
    // The silent ones are closed when their head does not come (2 s here).
    for mut s in silent {
        use std::io::Read;
        s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        let mut buf = [0u8; 64];
        match s.read(&mut buf) {
            Ok(_) => {}
            Err(e) => panic!("a silent connection was kept open: {e}"),
        }
    }
    // Then the API answers again.
    wait_until(Duration::from_secs(10), "a free slot", || {
        http_status(&format!("{}/api/v1/openapi.json", control.base)) == 200
    });
}

#[test]
fn event_streams_are_bounded_per_key_and_end_when_the_key_is_revoked() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    let key = create_key(&store, &[]);
    let control = Control::start(Options {
        store: store.clone(),
        no_workers: true,
        config: "[api]\nmax_streams_per_key = 2\n".into(),
        ..Default::default()
    });
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let open = || {
        client
            .get(format!("{}/api/v1/events", control.base))
            .bearer_auth(&key)
            .send()
            .unwrap()
    };
    let first = open();
    let second = open();
    assert_eq!(
        (first.status().as_u16(), second.status().as_u16()),
        (200, 200)
    );
    let third = open();
    assert_eq!(third.status().as_u16(), 429, "a third stream for one key");
    drop(third);
    // One closed frees a slot (once the server notices: at the latest, its next keep-alive
    // comment, every 15 s).
    drop(second);
    wait_until(Duration::from_secs(40), "the slot to be given back", || {
        let r = open();
        r.status().as_u16() == 200
    });
    // Revoked: the open stream ends, saying why.
    let id = key
        .strip_prefix("sk_")
        .and_then(|r| r.split('_').next())
        .unwrap()
        .to_string();
    let database = database_for(&store);
    let (code, _, err) = control_cli(&[
        "keys",
        "revoke",
        &id,
        "--store",
        &store,
        "--database",
        &database,
    ]);
    assert_eq!(code, 0, "{err}");
    let mut lines = Vec::new();
    for line in std::io::BufReader::new(first).lines() {
        let line = line.expect("the stream ended cleanly, not by the client's timeout");
        lines.push(line);
    }
    let text = lines.join("\n");
    assert!(text.contains("event: end"), "{text}");
    assert!(text.contains("key_revoked"), "{text}");
}

fn control_cli(args: &[&str]) -> (i32, String, String) {
    control(args, &[])
}

#[test]
fn made_up_upload_tokens_are_throttled_per_address_before_any_lookup() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    let key = create_key(&store, &[]);
    let control = Control::start(Options {
        store,
        no_workers: true,
        ..Default::default()
    });
    let stranger = client_from("127.0.0.2");
    let mut statuses = Vec::new();
    for n in 0..60 {
        let id = format!("madeupupload{n:012}");
        let r = stranger
            .head(format!("{}/api/v1/tus/{id}", control.base))
            .header("tus-resumable", "1.0.0")
            .bearer_auth(format!("ut_{id}_{}", "b".repeat(32)))
            .send()
            .unwrap();
        statuses.push(r.status().as_u16());
    }
    // The first ones are looked up (and found to name nothing), then the address is slowed.
    assert!(statuses[..5].iter().all(|&s| s == 404), "{statuses:?}");
    assert!(
        statuses.iter().filter(|&&s| s == 429).count() >= 30,
        "{statuses:?}"
    );
    // Someone else is not affected.
    let r = client_from("127.0.0.1")
        .get(format!("{}/api/v1/assets", control.base))
        .bearer_auth(&key)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);

    // The same budget covers every route an upload token opens: tus creation and a direct
    // upload's completion, from another stranger.
    let other = client_from("127.0.0.3");
    let mut statuses = Vec::new();
    for n in 0..60 {
        let id = format!("madeupupload{n:012}");
        let token = format!("ut_{id}_{}", "c".repeat(32));
        let r = if n % 2 == 0 {
            other
                .post(format!("{}/api/v1/tus", control.base))
                .header("tus-resumable", "1.0.0")
                .header("upload-length", "10")
                .bearer_auth(&token)
                .send()
        } else {
            other
                .post(format!("{}/api/v1/uploads/{id}/complete", control.base))
                .header("content-type", "application/json")
                .bearer_auth(&token)
                .body(r#"{"parts":[]}"#)
                .send()
        };
        statuses.push(r.unwrap().status().as_u16());
    }
    assert!(
        statuses[..4].iter().all(|&s| s == 401 || s == 404),
        "{statuses:?}"
    );
    assert!(
        statuses.iter().filter(|&&s| s == 429).count() >= 30,
        "{statuses:?}"
    );
}

#[test]
fn one_asset_cannot_grow_without_bound_and_its_whole_review_trail_is_paged() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    let control = Control::start(Options {
        store: store.clone(),
        ..Default::default()
    });
    let api = control.api(&create_key(&store, &[]));
    let src = clip(dir.path(), "clip.mp4", 2.0);
    let (code, out, err) = upload_cli(&src, &api, true);
    assert_eq!(code, 0, "{err}");
    let id = out.lines().next().unwrap().to_string();
    let json = [("content-type", "application/json")];

    // Playback ids: twenty at most (it was made with one).
    for _ in 1..20 {
        let r = api.send(
            "POST",
            &format!("/api/v1/assets/{id}/playback-ids"),
            &json,
            br#"{"policy":"public"}"#.to_vec(),
        );
        assert_eq!(r.status, 201);
    }
    let r = api.send(
        "POST",
        &format!("/api/v1/assets/{id}/playback-ids"),
        &json,
        br#"{"policy":"public"}"#.to_vec(),
    );
    assert_eq!(r.status, 409);
    assert_eq!(r.json()["code"], "limit_reached");
    assert_eq!(api.asset(&id)["playback_ids"].as_array().unwrap().len(), 20);

    // Reviews: the record keeps the newest ten; every one is listed, a page at a time.
    for i in 0..12 {
        let decision = if i % 2 == 0 { "block" } else { "approve" };
        let body = format!(r#"{{"decision":"{decision}","reason":"review {i}"}}"#);
        let r = api.send(
            "POST",
            &format!("/api/v1/assets/{id}/moderation"),
            &json,
            body.into_bytes(),
        );
        assert_eq!(r.status, 200, "{:?}", r.json());
    }
    let on_record = api.asset(&id)["moderation"]["reviews"].clone();
    assert_eq!(on_record.as_array().unwrap().len(), 10, "{on_record}");
    assert_eq!(on_record[0]["reason"], "review 2");
    let mut reasons = Vec::new();
    let mut path = format!("/api/v1/assets/{id}/reviews?limit=5");
    loop {
        let page = api.get(&path).json();
        let data = page["data"].as_array().unwrap();
        assert!(data.len() <= 5);
        reasons.extend(
            data.iter()
                .map(|r| r["reason"].as_str().unwrap().to_string()),
        );
        match page["next"].as_str() {
            Some(next) => path = format!("/api/v1/assets/{id}/reviews?limit=5&before={next}"),
            None => break,
        }
    }
    let expected: Vec<String> = (0..12).rev().map(|i| format!("review {i}")).collect();
    assert_eq!(reasons, expected, "newest first, each once");
    let first = api
        .get(&format!("/api/v1/assets/{id}/reviews?limit=1"))
        .json();
    assert_eq!(first["data"][0]["decision"], "approve");
    assert!(!first["data"][0]["by"].as_str().unwrap().is_empty());
    for bad in ["limit=0", "limit=101", "before=x"] {
        assert_eq!(
            api.get(&format!("/api/v1/assets/{id}/reviews?{bad}"))
                .status,
            400,
            "{bad}"
        );
    }
    assert_eq!(
        api.get("/api/v1/assets/as_0000000000000000000000/reviews")
            .status,
        404
    );
}
