//! Crashes: the API process SIGKILLed (a failpoint, `SUNOMI_FAILPOINT`) at each step of a
//! takedown and of a deletion. After a restart the asset, the projection in storage and the
//! edge agree, and every event's webhook arrives, each message with one id and one body,
//! verified by the Standard Webhooks library.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;

const FLEET_SECRET: &str = "00112233445566778899aabbccddeeff";
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// Sends a request that may find the server dying: the status, or None when the connection
/// ended without an answer.
fn try_send(api: &Api, method: &str, path: &str, body: &str) -> Option<u16> {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    client
        .request(method, format!("{}{path}", api.base))
        .bearer_auth(&api.key)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .ok()
        .map(|r| r.status().as_u16())
}

/// Starts control with `failpoint` armed (or none).
fn start(options: &Options, failpoint: Option<&str>) -> Control {
    let mut o = options.clone();
    if let Some(f) = failpoint {
        o.env.push(("SUNOMI_FAILPOINT".into(), f.into()));
    }
    Control::start(o)
}

/// Waits until every outbox row is applied (so the next start has nothing left over for a
/// failpoint to stop at).
fn settled(control: &Control) {
    wait_until(Duration::from_secs(40), "the outbox to drain", || {
        control.metric("sunomi_outbox_pending") == Some(0.0)
    });
}

/// Waits for the process to be gone (the failpoint killed it).
fn wait_dead(control: &mut Control) {
    wait_until(
        Duration::from_secs(10),
        "the failpoint to kill control",
        || control.process.0.try_wait().ok().flatten().is_some(),
    );
}

#[test]
fn killed_at_each_step_the_asset_its_projection_and_the_edge_agree_and_no_webhook_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    let redis = RedisServer::start();
    let receiver = Receiver::start(false);
    let config = format!(
        "[[webhooks]]\nurl = \"{}\"\nsecret = \"{SECRET}\"\n[transcode]\npreset = \"ultrafast\"\n",
        receiver.url
    );
    let mut options = Options {
        store: store.clone(),
        redis: Some(redis.url()),
        config: config.clone(),
        ..Default::default()
    };
    let mut control = start(&options, None);
    // Every restart listens where the first did: the client's address stays good.
    options.listen = Some(control.base.trim_start_matches("http://").to_string());
    let api = control.api(&create_key(&store, &[]));
    let edge = Edge::start(
        &store,
        &["--redis", &redis.url()],
        &[("SUNOMI_FLEET_SECRET".into(), FLEET_SECRET.into())],
    );
    let src = clip(dir.path(), "clip.mp4", 2.0);
    let (id, playback) = {
        // The worker runs only while uploading and at the end: during the crashes the API's
        // own relay is the only one, so it is the one the failpoints stop.
        let _worker = worker(&store, &redis.url(), &config, &[]);
        let (code, out, err) = upload_cli(&src, &api, true);
        assert_eq!(code, 0, "{err}");
        let id = out.lines().next().unwrap().to_string();
        let pid = out.lines().last().unwrap().split("/v/").nth(1).unwrap();
        (id, pid.split('/').next().unwrap().to_string())
    };
    let master = format!("{}/v/{playback}/master.m3u8", edge.base);
    let manifest = dir
        .path()
        .join("store/videos")
        .join(&id)
        .join("manifest.json");
    let projected = || -> String {
        let m: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
        m["status"].as_str().unwrap().to_string()
    };
    let agree = |api: &Api| -> (String, String, u16) {
        let status = api.asset(&id)["status"].as_str().unwrap().to_string();
        (status, projected(), http_status(&master))
    };
    let consistent = |(status, projection, edge): &(String, String, u16)| match status.as_str() {
        "ready" => projection == "published" && *edge == 200,
        "blocked" => projection == "blocked" && *edge == 451,
        _ => false,
    };
    assert_eq!(http_status(&master), 200);

    let mut decisions = 0;
    for (failpoint, decision) in [
        ("change.before_commit", "block"),
        ("change.after_commit", "block"),
        ("relay.before_apply", "approve"),
        ("project.before_purge", "block"),
    ] {
        settled(&control);
        drop(control);
        let mut armed = start(&options, Some(failpoint));
        let answer = try_send(
            &api,
            "POST",
            &format!("/api/v1/assets/{id}/moderation"),
            &format!(r#"{{"decision":"{decision}","reason":"crash at {failpoint}"}}"#),
        );
        assert_eq!(answer, None, "{failpoint}: the process answered {answer:?}");
        wait_dead(&mut armed);
        drop(armed);
        control = start(&options, None);
        // Whatever was committed is applied after the restart, everywhere.
        let mut last = agree(&api);
        wait_until(
            Duration::from_secs(40),
            &format!("agreement after a crash at {failpoint}"),
            || {
                last = agree(&api);
                consistent(&last)
            },
        );
        let committed = failpoint != "change.before_commit";
        let want = match (committed, decision) {
            (true, "block") => "blocked",
            (true, _) => "ready",
            (false, _) => last.0.as_str(),
        };
        assert_eq!(last.0, want, "{failpoint}: {last:?}");
        decisions += usize::from(committed);
    }

    // A deletion killed after its commit: the media and the manifest go, the edge forgets.
    settled(&control);
    drop(control);
    let mut armed = start(&options, Some("change.after_commit"));
    let answer = try_send(&api, "DELETE", &format!("/api/v1/assets/{id}"), "");
    assert_eq!(answer, None, "the deletion answered {answer:?}");
    wait_dead(&mut armed);
    drop(armed);
    control = start(&options, None);
    wait_until(Duration::from_secs(40), "the deletion to hold", || {
        api.get(&format!("/api/v1/assets/{id}")).status == 404
            && !manifest.exists()
            && http_status(&master) == 404
    });

    // Every webhook arrives once the worker delivers: one id per event, one body per id.
    // Deliveries run in parallel and retry on their own schedule, so they may arrive in any
    // order: wait for the deletion's and for one per committed decision.
    let _worker = worker(&store, &redis.url(), &config, &[]);
    let reviewed_ids = |seen: &[(Vec<(String, String)>, String)]| {
        seen.iter()
            .filter(|(_, b)| b.contains("video.asset.moderation.reviewed"))
            .filter_map(|(h, _)| {
                h.iter()
                    .find(|(k, _)| k == "webhook-id")
                    .map(|(_, v)| v.clone())
            })
            .collect::<std::collections::BTreeSet<String>>()
            .len()
    };
    wait_until(
        Duration::from_secs(60),
        "the deletion's webhook and every decision's",
        || {
            let seen = receiver.seen.lock().unwrap();
            seen.iter().any(|(_, b)| b.contains("video.asset.deleted"))
                && reviewed_ids(&seen) >= decisions
        },
    );
    let seen = receiver.seen.lock().unwrap().clone();
    let mut bodies: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (headers, body) in &seen {
        let mid = headers
            .iter()
            .find(|(k, _)| k == "webhook-id")
            .map(|(_, v)| v.clone())
            .expect("a webhook-id");
        bodies.entry(mid).or_default().push(body.clone());
    }
    for (mid, copies) in &bodies {
        assert!(
            copies.iter().all(|b| b == &copies[0]),
            "message {mid} was sent with different bodies: {copies:?}"
        );
    }
    let reviewed = bodies
        .values()
        .filter(|c| c[0].contains("video.asset.moderation.reviewed"))
        .count();
    assert_eq!(reviewed, decisions, "one message per committed decision");
    receiver.judged(SECRET, dir.path());
    drop(control);
}
