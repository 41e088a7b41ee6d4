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
