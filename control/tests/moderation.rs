//! Manual moderation against a fleet: blocking a published asset makes every edge of a
//! 3-edge fleet answer 451 on its master and media playlists and its segments (the fleet is
//! purged through Redis); approving it serves it again; every decision is in the audit trail.
//! A review token plays a blocked or held video for those who decide, and nobody else.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

#[test]
fn a_blocked_asset_is_451_on_every_edge_and_approval_brings_it_back() {
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
    let key = create_key(&store, &[]);
    let api = control.api(&key);
    let _worker = worker(&store, &redis.url(), config, &[]);
    let env = vec![(
        "SUNOMI_FLEET_SECRET".to_string(),
        "00112233445566778899aabbccddeeff".to_string(),
    )];
    let edges: Vec<Edge> = (0..3)
        .map(|_| Edge::start(&store, &["--redis", &redis.url()], &env))
        .collect();

    let src = clip(dir.path(), "clip.mp4", 4.0);
    let (code, out, err) = upload_cli(&src, &api, true);
    assert_eq!(code, 0, "{err}");
    let id = out.lines().next().unwrap().to_string();
    let asset = api.asset(&id);
    let pid = asset["playback_ids"][0]["id"].as_str().unwrap().to_string();
    let rung = asset["renditions"][0]["name"].as_str().unwrap().to_string();
    let urls = |e: &Edge| {
        vec![
            format!("{}/v/{pid}/master.m3u8", e.base),
            format!("{}/v/{pid}/{rung}/media.m3u8", e.base),
            format!("{}/v/{pid}/{rung}/0.m4s", e.base),
        ]
    };
    let all = |status: u16| {
        edges
            .iter()
            .flat_map(urls)
            .all(|u| http_status(&u) == status)
    };
    assert!(all(200), "every edge serves it first");

    let decide = |decision: &str, reason: &str| {
        api.send(
            "POST",
            &format!("/api/v1/assets/{id}/moderation"),
            &[("content-type", "application/json")],
            json!({ "decision": decision, "reason": reason })
                .to_string()
                .into_bytes(),
        )
    };
    let r = decide("block", "reported: not ours to show");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["status"], "blocked");
    wait_until(Duration::from_secs(10), "451 on every edge", || all(451));

    // Those who decide still play it, with a review token: on every edge (segments owned by
    // another edge come through it), privately; everyone else still gets 451.
    let signing = signing_key(&api, dir.path());
    let review = mint_token(&signing, &pid, "600", true);
    let play = mint_token(&signing, &pid, "600", false);
    for e in &edges {
        for url in urls(e) {
            let r = reqwest::blocking::get(format!("{url}?token={review}")).unwrap();
            assert_eq!(r.status(), 200, "{url} with a review token");
            assert_eq!(
                r.headers()["cache-control"],
                "private, no-store",
                "a reviewer's answer is not for shared caches: {url}"
            );
            assert_eq!(
                http_status(&format!("{url}?token={play}")),
                451,
                "a play token does not open a blocked video: {url}"
            );
        }
    }
    decodes(&format!(
        "{}/v/{pid}/master.m3u8?token={review}",
        edges[0].base
    ));
    assert!(
        all(451),
        "what a reviewer played is not served to anyone else"
    );
    // A review token is for its own playback id, and a token on a public id must be valid.
    let r = api.send(
        "POST",
        &format!("/api/v1/assets/{id}/playback-ids"),
        &[("content-type", "application/json")],
        br#"{"policy":"public"}"#.to_vec(),
    );
    assert_eq!(r.status, 201);
    let other_pid = r.json()["id"].as_str().unwrap().to_string();
    let others = mint_token(&signing, &other_pid, "600", true);
    let master = format!("{}/v/{pid}/master.m3u8", edges[1].base);
    assert_eq!(http_status(&format!("{master}?token={others}")), 403);
    assert_eq!(http_status(&format!("{master}?token=a.b.c")), 403);
    let expired = mint_token(&signing, &pid, "0", true);
    assert_eq!(http_status(&format!("{master}?token={expired}")), 403);

    let r = decide("approve", "reviewed: fine");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "ready");
    wait_until(Duration::from_secs(10), "every edge serving again", || {
        all(200)
    });

    let reviews = api.asset(&id)["moderation"]["reviews"].clone();
    let reviews = reviews.as_array().unwrap();
    assert_eq!(reviews.len(), 2);
    assert_eq!(reviews[0]["decision"], "block");
    assert_eq!(reviews[0]["reason"], "reported: not ours to show");
    let key_id = key.split('_').nth(1).unwrap();
    assert_eq!(reviews[0]["by"], key_id);
    assert_eq!(reviews[1]["decision"], "approve");
    let events = api.events_until(&id, None, "video.asset.blocked");
    let kinds: Vec<&str> = events
        .iter()
        .rev()
        .take(2)
        .map(|(_, k)| k.as_str())
        .collect();
    assert_eq!(
        kinds,
        ["video.asset.blocked", "video.asset.moderation.reviewed"]
    );

    // Revoking the playback id: 404 on every edge (purged through Redis), media untouched.
    let r = api.send(
        "DELETE",
        &format!("/api/v1/assets/{id}/playback-ids/{pid}"),
        &[],
        vec![],
    );
    assert_eq!(r.status, 204);
    let masters: Vec<String> = edges
        .iter()
        .map(|e| format!("{}/v/{pid}/master.m3u8", e.base))
        .collect();
    let started = std::time::Instant::now();
    wait_until(Duration::from_secs(10), "404 on every edge", || {
        masters.iter().all(|u| http_status(u) == 404)
    });
    println!("revoked: 404 on every edge after {:?}", started.elapsed());
    assert_eq!(api.asset(&id)["status"], "ready", "the media stays");

    // Decisions need a reason, and only published or blocked assets take them.
    assert_eq!(decide("block", "").status, 400);
    assert_eq!(decide("maybe", "x").status, 400);
    let waiting = api.send(
        "POST",
        "/api/v1/uploads",
        &[("content-type", "application/json")],
        b"{}".to_vec(),
    );
    let other = waiting.json()["asset_id"].as_str().unwrap().to_string();
    let r = api.send(
        "POST",
        &format!("/api/v1/assets/{other}/moderation"),
        &[("content-type", "application/json")],
        json!({ "decision": "approve", "reason": "x" })
            .to_string()
            .into_bytes(),
    );
    assert_eq!(r.status, 409);
}

/// Offline moderation (open_nsfw on sampled frames) with the policy in charge: a benign clip
/// passes the default policy, its labels and verdict on the asset; a policy whose threshold
/// that clip crosses blocks the next upload (every edge of the fleet answers 451, purged
/// through Redis) or holds it for review; a person's approval publishes it.
#[test]
fn offline_moderation_passes_a_benign_clip_and_a_policy_it_crosses_blocks_or_holds_it() {
    let models = models_dir();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    let redis = RedisServer::start();
    let analysis = |policy: &str| {
        format!(
            "models_dir = \"{}\"\n[moderation]\nbackend = \"offline\"\nmin_confidence = 0\nsample_every_secs = 1\n{policy}",
            models.display()
        )
    };
    let control = Control::start(Options {
        store: store.clone(),
        redis: Some(redis.url()),
        ..Default::default()
    });
    let key = create_key(&store, &[]);
    let api = control.api(&key);
    let env = vec![(
        "SUNOMI_FLEET_SECRET".to_string(),
        "00112233445566778899aabbccddeeff".to_string(),
    )];
    let edges: Vec<Edge> = (0..3)
        .map(|_| Edge::start(&store, &["--redis", &redis.url()], &env))
        .collect();
    let src = clip(dir.path(), "clip.mp4", 4.0);
    let upload = || {
        let (code, out, err) = upload_cli(&src, &api, true);
        let id = out.lines().next().unwrap_or_default().to_string();
        (code, id, err)
    };

    // The default policy: explicit content at >= 95 % blocks; a test picture passes.
    let worker1 = worker(&store, &redis.url(), &analysis(""), &[]);
    let (code, id, err) = upload();
    assert_eq!(code, 0, "{err}");
    let asset = api.asset(&id);
    assert_eq!(asset["status"], "ready");
    assert_eq!(asset["stages"]["moderation"]["status"], "completed");
    let verdict = &asset["moderation"]["verdict"];
    assert_eq!(verdict["decision"], "passed", "{verdict}");
    assert_eq!(verdict["backend"], "offline");
    assert_eq!(verdict["policy_version"], "default-1");
    let labels = verdict["labels"].as_array().unwrap();
    assert!(labels.len() >= 4, "a frame a second of 4 s: {labels:?}");
    let confidences: Vec<f64> = labels
        .iter()
        .map(|l| {
            assert_eq!(l["category"], "Explicit");
            assert!(l["time_secs"].as_f64().unwrap() < 4.0);
            l["confidence"].as_f64().unwrap()
        })
        .collect();
    let highest = confidences.iter().cloned().fold(0.0, f64::max);
    println!("benign clip: explicit confidences {confidences:?}");
    assert!(highest > 0.0 && highest < 95.0, "{confidences:?}");
    // Every key frame is judged (the mezzanine has one every 2 s); the other frames judged
    // are drawn at random, so only the key frames' scores are the same in every run.
    let at = |t: f64| {
        labels
            .iter()
            .find(|l| (l["time_secs"].as_f64().unwrap() - t).abs() < 1e-3)
            .map(|l| l["confidence"].as_f64().unwrap())
    };
    let keyframes: Vec<f64> = [0.0, 2.0]
        .iter()
        .map(|&t| {
            at(t).unwrap_or_else(|| panic!("the key frame at {t} s was not judged: {labels:?}"))
        })
        .collect();
    let crossed = keyframes.iter().cloned().fold(f64::MAX, f64::min) / 2.0;
    drop(worker1);

    // A policy whose threshold this clip crosses (at its key frames: in every run).
    let strict = |action: &str, version: &str| {
        analysis(&format!(
            "[moderation.policy]\nversion = \"{version}\"\nrules = [{{ category = \"Explicit\", min_confidence = {crossed}, action = \"{action}\" }}]\n",
        ))
    };
    let worker2 = worker(&store, &redis.url(), &strict("block", "strict-block"), &[]);
    let (code, blocked, _) = upload();
    assert_ne!(code, 0, "--wait reports a blocked asset as not ready");
    let asset = api.wait_final(&blocked, std::time::Duration::from_secs(60));
    assert_eq!(asset["status"], "blocked", "{asset}");
    let verdict = &asset["moderation"]["verdict"];
    assert_eq!(verdict["decision"], "blocked");
    assert_eq!(verdict["policy_version"], "strict-block");
    assert!(verdict["reasons"][0].as_str().unwrap().contains("Explicit"));
    let pid = asset["playback_ids"][0]["id"].as_str().unwrap().to_string();
    let rung = asset["renditions"][0]["name"].as_str().unwrap().to_string();
    let urls: Vec<String> = edges
        .iter()
        .flat_map(|e| {
            [
                format!("{}/v/{pid}/master.m3u8", e.base),
                format!("{}/v/{pid}/{rung}/media.m3u8", e.base),
                format!("{}/v/{pid}/{rung}/0.m4s", e.base),
            ]
        })
        .collect();
    let started = std::time::Instant::now();
    wait_until(Duration::from_secs(10), "451 on every edge", || {
        urls.iter().all(|u| http_status(u) == 451)
    });
    println!(
        "451 on every edge {:?} after the asset was blocked",
        started.elapsed()
    );
    let approve = |id: &str| {
        api.send(
            "POST",
            &format!("/api/v1/assets/{id}/moderation"),
            &[("content-type", "application/json")],
            json!({ "decision": "approve", "reason": "a test picture" })
                .to_string()
                .into_bytes(),
        )
    };
    assert_eq!(approve(&blocked).json()["status"], "ready");
    wait_until(Duration::from_secs(10), "every edge serving again", || {
        urls.iter().all(|u| http_status(u) == 200)
    });
    drop(worker2);

    // `review` holds the asset unpublished until a person decides.
    let worker3 = worker(
        &store,
        &redis.url(),
        &strict("review", "strict-review"),
        &[],
    );
    let (_, held, _) = upload();
    let asset = api.wait_final(&held, std::time::Duration::from_secs(60));
    assert_eq!(asset["status"], "in_review", "{asset}");
    let pid = asset["playback_ids"][0]["id"].as_str().unwrap().to_string();
    let master = format!("{}/v/{pid}/master.m3u8", edges[0].base);
    assert_eq!(http_status(&master), 404, "not published while in review");
    // The moderator deciding plays it (the review page's token; here the CLI's).
    let signing = signing_key(&api, dir.path());
    let review = mint_token(&signing, &pid, "600", true);
    decodes(&format!("{master}?token={review}"));
    assert_eq!(
        http_status(&master),
        404,
        "still not published to anyone else"
    );
    let r = approve(&held);
    assert_eq!(r.json()["status"], "ready");
    wait_until(Duration::from_secs(10), "published after review", || {
        http_status(&master) == 200
    });
    let reviews = api.asset(&held)["moderation"]["reviews"].clone();
    assert_eq!(reviews[0]["decision"], "approve");
    drop(worker3);

    // `warn` publishes, with the rule's flag (the category's: `Explicit` is `sex`) on the
    // video; a person's later decision replaces it.
    let _worker4 = worker(&store, &redis.url(), &strict("warn", "strict-warn"), &[]);
    let (code, warned, err) = upload();
    assert_eq!(code, 0, "a warned video is ready: {err}");
    let asset = api.asset(&warned);
    assert_eq!(asset["status"], "ready", "{asset}");
    let verdict = &asset["moderation"]["verdict"];
    assert_eq!(verdict["decision"], "warned", "{verdict}");
    assert_eq!(verdict["warnings"], json!(["sex"]));
    let pid = asset["playback_ids"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(
        http_status(&format!("{}/v/{pid}/master.m3u8", edges[1].base)),
        200,
        "published"
    );
}
