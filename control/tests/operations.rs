//! What operators and clients see when parts of the system are slow or down, against the real
//! `sunomi-control serve`: a decision the edges cannot take yet answers 503
//! `propagation_pending` and is applied once they can; a trickling upload chunk gives its
//! slot up; a history longer than a page ends its stream with where to resume; SIGTERM
//! drains the API.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use sunomi_control::db::{assets, Db};
use sunomi_control::domain::asset::Event;
use sunomi_control::domain::ids::AssetId;

/// An edge admin listener that answers every request with the status `answer` holds and
/// records each request line; returns its port and the lines.
fn admin_listener(answer: Arc<Mutex<&'static str>>) -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("an edge admin port");
    let port = listener.local_addr().unwrap().port();
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let mut length = 0usize;
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
                    break;
                }
                if let Some((k, v)) = h.split_once(':') {
                    if k.eq_ignore_ascii_case("content-length") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            log.lock().unwrap().push(line.trim().to_string());
            let status = *answer.lock().unwrap();
            let mut s = stream;
            let _ = write!(
                s,
                "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
        }
    });
    (port, seen)
}

/// A tus upload of `length` bytes made with `api`'s key; its path (`/api/v1/tus/{id}`).
fn tus_upload(api: &Api, length: usize) -> String {
    let length = length.to_string();
    let created = api.send(
        "POST",
        "/api/v1/tus",
        &[
            ("tus-resumable", "1.0.0"),
            ("upload-length", length.as_str()),
        ],
        vec![],
    );
    assert_eq!(created.status, 201);
    let url = created.header("location").unwrap().to_string();
    url.split_once("/api/")
        .map(|(_, p)| format!("/api/{p}"))
        .unwrap()
}

/// A connection to `host` that has sent the head of a PATCH of `length` bytes from offset 0
/// to `path`, and none of its body yet.
fn patch_head(host: &str, path: &str, key: &str, length: usize) -> TcpStream {
    let mut conn = TcpStream::connect(host).unwrap();
    write!(
        conn,
        "PATCH {path} HTTP/1.1\r\nhost: {host}\r\nauthorization: Bearer {key}\r\n\
         tus-resumable: 1.0.0\r\nupload-offset: 0\r\n\
         content-type: application/offset+octet-stream\r\ncontent-length: {length}\r\n\r\n"
    )
    .unwrap();
    conn
}

#[test]
fn a_decision_the_edges_cannot_take_yet_answers_503_and_is_applied_once_they_can() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let store_arg = store.to_string_lossy().into_owned();
    let answer = Arc::new(Mutex::new("204 No Content"));
    let (admin, purges) = admin_listener(answer.clone());
    let control = Control::start(Options {
        store: store_arg.clone(),
        config: format!("edge_admin_urls = [\"http://127.0.0.1:{admin}\"]\n"),
        ..Default::default()
    });
    let api = control.api(&create_key(&store_arg, &[]));
    let src = clip(dir.path(), "clip.mp4", 2.0);
    let (code, out, err) = upload_cli(&src, &api, true);
    assert_eq!(code, 0, "{err}");
    let id = out.lines().next().unwrap().to_string();

    // The edges' admin listener now refuses purges (an edge that is running but cannot take
    // them; one that is not running has nothing cached, and is not waited for).
    *answer.lock().unwrap() = "503 Service Unavailable";
    // A block cannot reach the edges: it is not acknowledged, but it is kept.
    let r = api.send(
        "POST",
        &format!("/api/v1/assets/{id}/moderation"),
        &[("content-type", "application/json")],
        br#"{"decision":"block","reason":"edges down"}"#.to_vec(),
    );
    assert_eq!(r.status, 503, "{:?}", r.json());
    assert_eq!(r.json()["code"], "propagation_pending");
    assert!(r.header("retry-after").is_some());
    assert_eq!(api.asset(&id)["status"], "blocked");
    assert!(
        control
            .metric("sunomi_outbox_pending")
            .is_some_and(|n| n >= 1.0),
        "the projection waits in the outbox"
    );

    // The edges take purges again: the relay applies what waited, the purge carrying the
    // revision.
    purges.lock().unwrap().clear();
    *answer.lock().unwrap() = "204 No Content";
    let manifest = store.join(format!("videos/{id}/manifest.json"));
    wait_until(
        Duration::from_secs(60),
        "the block projected and purged",
        || {
            let projected = std::fs::read(&manifest)
                .ok()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                .is_some_and(|m| m["status"] == "blocked");
            let purged = purges
                .lock()
                .unwrap()
                .iter()
                .any(|l| l.starts_with("POST /purge?") && l.contains("revision="));
            projected && purged
        },
    );
    // Repeating the decision now answers at once.
    let r = api.send(
        "POST",
        &format!("/api/v1/assets/{id}/moderation"),
        &[("content-type", "application/json")],
        br#"{"decision":"block","reason":"edges back"}"#.to_vec(),
    );
    assert_eq!(r.status, 200, "{:?}", r.json());
}

#[test]
fn a_chunk_slower_than_the_minimum_rate_ends_and_frees_its_slot_keeping_what_arrived() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    let control = Control::start(Options {
        store: store.clone(),
        no_workers: true,
        config: "[uploads]\nidle_timeout_secs = 1\nmin_bytes_per_sec = 20000\nmax_concurrent_patches = 1\n"
            .into(),
        ..Default::default()
    });
    let key = create_key(&store, &[]);
    let api = control.api(&key);
    const LENGTH: usize = 200_000;
    let path = tus_upload(&api, LENGTH);

    // A client trickling 1,000 bytes a second (the minimum is 20,000).
    let host = control.base.trim_start_matches("http://").to_string();
    let mut conn = patch_head(&host, &path, &key, LENGTH);
    conn.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut answer = Vec::new();
    let mut sent = 0;
    // It is answered while it still trickles (at most a minute of it).
    for _ in 0..600 {
        if conn.write_all(&[7u8; 100]).is_err() {
            break;
        }
        sent += 100;
        let mut buf = [0u8; 1024];
        match conn.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                answer.extend_from_slice(&buf[..n]);
                break;
            }
            Err(_) => {}
        }
    }
    let answer = String::from_utf8_lossy(&answer).into_owned();
    assert!(
        answer.starts_with("HTTP/1.1 "),
        "no answer after {sent} bytes: {answer:?}"
    );
    assert!(sent < LENGTH, "the whole chunk went through");
    drop(conn);

    // What arrived is kept, and the one PATCH slot is free for the next client.
    let head = api.send("HEAD", &path, &[("tus-resumable", "1.0.0")], vec![]);
    assert_eq!(head.status, 200);
    let offset: usize = head.header("upload-offset").unwrap().parse().unwrap();
    assert!(
        offset > 0 && offset <= sent,
        "offset {offset} of {sent} sent"
    );
    let offset_text = offset.to_string();
    let rest = api.send(
        "PATCH",
        &path,
        &[
            ("tus-resumable", "1.0.0"),
            ("upload-offset", offset_text.as_str()),
            ("content-type", "application/offset+octet-stream"),
        ],
        vec![7u8; LENGTH - offset],
    );
    assert_eq!(rest.status, 204, "{}", String::from_utf8_lossy(&rest.body));
    assert_eq!(rest.header("upload-offset"), Some("200000"));
}

#[test]
fn a_history_longer_than_a_page_ends_the_stream_with_where_to_resume_and_resuming_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    let control = Control::start(Options {
        store: store.clone(),
        no_workers: true,
        ..Default::default()
    });
    let api = control.api(&create_key(&store, &[]));
    let r = api.send(
        "POST",
        "/api/v1/uploads",
        &[("content-type", "application/json")],
        b"{}".to_vec(),
    );
    assert_eq!(r.status, 201);
    let id = r.json()["asset_id"].as_str().unwrap().to_string();
    // 1,500 more events in its history (written as a long life would have left them).
    let first = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let db = Db::open(&database_for(&store)).await.unwrap();
        let asset = AssetId::parse(&id).unwrap();
        let first = assets::get(&db, &asset)
            .await
            .unwrap()
            .unwrap()
            .asset
            .event_seq;
        let events: Vec<Event> = (first + 1..=first + 1_500)
            .map(|seq| Event {
                id: format!("{id}.{seq}"),
                seq,
                kind: if seq == first + 1_500 {
                    "test.last"
                } else {
                    "test.note"
                }
                .into(),
                asset_id: asset.clone(),
                created_at: "2026-01-01T00:00:00Z".into(),
                data: serde_json::json!({ "n": seq }),
            })
            .collect();
        let mut tx = db.pool().begin().await.unwrap();
        assets::insert_events(&mut tx, &events).await.unwrap();
        tx.commit().await.unwrap();
        first
    });

    // From the start: one page of 1,000, then `end` saying where to resume.
    let page = api.events_until(&id, None, "end");
    assert_eq!(page.len(), 1_001, "a page and its end");
    let (end_id, _) = page.last().unwrap().clone();
    assert_eq!(end_id, format!("{id}.1000"));
    let seqs: Vec<u64> = page[..1_000]
        .iter()
        .map(|(e, _)| e.rsplit('.').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(seqs, (1..=1_000).collect::<Vec<u64>>());
    // Resuming there gives the rest, each once, and the stream stays open for live events.
    let rest = api.events_until(&id, Some(&end_id), "test.last");
    let seqs: Vec<u64> = rest
        .iter()
        .map(|(e, _)| e.rsplit('.').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(seqs, (1_001..=first + 1_500).collect::<Vec<u64>>());
    assert!(rest.iter().all(|(_, kind)| kind != "end"));
}

#[test]
fn on_sigterm_the_api_takes_no_new_connection_and_finishes_the_requests_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    let mut control = Control::start(Options {
        store: store.clone(),
        no_workers: true,
        ..Default::default()
    });
    let key = create_key(&store, &[]);
    let api = control.api(&key);
    const LENGTH: usize = 300_000;
    let path = tus_upload(&api, LENGTH);

    // A chunk half sent when the process is told to stop.
    let host = control.base.trim_start_matches("http://").to_string();
    let mut conn = patch_head(&host, &path, &key, LENGTH);
    conn.write_all(&[7u8; LENGTH / 2]).unwrap();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &control.process.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    // New connections are refused from now on…
    wait_until(Duration::from_secs(10), "the listener to close", || {
        TcpStream::connect(&host).is_err()
    });
    // … while the chunk in flight is taken whole and answered.
    conn.write_all(&[7u8; LENGTH / 2]).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut answer = String::new();
    let _ = BufReader::new(&conn).read_line(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 204"), "{answer:?}");
    drop(conn);
    // Then the process ends by itself, cleanly.
    let mut exited = None;
    wait_until(Duration::from_secs(40), "the process to exit", || {
        exited = control.process.0.try_wait().unwrap();
        exited.is_some()
    });
    assert!(exited.unwrap().success(), "{exited:?}");
    // What it took is there for the next process.
    drop(control);
    let control = Control::start(Options {
        store: store.clone(),
        no_workers: true,
        ..Default::default()
    });
    let head = control
        .api(&key)
        .send("HEAD", &path, &[("tus-resumable", "1.0.0")], vec![]);
    assert_eq!(
        head.header("upload-offset"),
        Some("300000"),
        "{}",
        head.status
    );
}
