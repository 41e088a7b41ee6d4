//! Webhook endpoints made through the API and the deliveries recorded in the database, against
//! the real `sunomi-control serve`, judged by the Standard Webhooks library: the secret shown
//! once, rotation without a lost message, deletion, internal addresses refused, messages that
//! outlive a killed process without Redis, paged listings and redelivery.

mod common;

use std::time::Duration;

use common::*;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const ALLOW_LOOPBACK: &str = "[outbound]\nallow_networks = [\"127.0.0.0/8\", \"::1/128\"]\n";

fn post_json(api: &Api, path: &str, body: &str) -> Reply {
    api.send(
        "POST",
        path,
        &[("content-type", "application/json")],
        body.as_bytes().to_vec(),
    )
}

/// Makes an asset (an upload waiting for bytes): two events, `video.asset.created` and
/// `video.upload.created`. Returns the asset id.
fn new_asset(api: &Api) -> String {
    let r = post_json(api, "/api/v1/uploads", "{}");
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    r.json()["asset_id"].as_str().expect("asset_id").to_string()
}

/// The messages `rx` received about `asset`.
fn about(rx: &Receiver, asset: &str) -> usize {
    rx.seen
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, b)| b.contains(asset))
        .count()
}

#[test]
fn an_endpoint_made_through_the_api_gets_signed_messages_rotates_without_loss_and_goes() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    let rx = Receiver::start(false);
    let control = Control::start(Options {
        store: store.clone(),
        config: ALLOW_LOOPBACK.into(),
        ..Default::default()
    });
    let api = control.api(&create_key(&store, &[]));

    // Made: the secret is in this answer only.
    let made = post_json(
        &api,
        "/api/v1/webhooks/endpoints",
        &format!(r#"{{"url":"{}","description":"tests"}}"#, rx.url),
    );
    assert_eq!(made.status, 201, "{}", String::from_utf8_lossy(&made.body));
    let made = made.json();
    let id = made["id"].as_str().unwrap().to_string();
    let first_secret = made["secret"].as_str().unwrap().to_string();
    assert!(first_secret.starts_with("whsec_"));
    let one = api.get(&format!("/api/v1/webhooks/endpoints/{id}"));
    assert_eq!(one.status, 200);
    assert!(one.json().get("secret").is_none(), "{}", one.json());
    let all = api.get("/api/v1/webhooks/endpoints").json();
    let listed = all.as_array().unwrap();
    assert!(listed
        .iter()
        .any(|e| e["id"] == id.as_str() && e["source"] == "api"));
    assert!(listed.iter().all(|e| e.get("secret").is_none()), "{all}");

    // Its messages verify with its secret.
    let a = new_asset(&api);
    wait_until(
        Duration::from_secs(30),
        "the first asset's messages",
        || about(&rx, &a) >= 2,
    );
    let types = rx.judged(&first_secret, dir.path());
    assert!(types.contains("video.asset.created"), "{types}");

    // Rotated (the old secret keeps signing for a day): messages verify with either secret.
    let rotated = post_json(
        &api,
        &format!("/api/v1/webhooks/endpoints/{id}/rotate-secret"),
        "",
    );
    assert_eq!(rotated.status, 200);
    let second_secret = rotated.json()["secret"].as_str().unwrap().to_string();
    assert_ne!(second_secret, first_secret);
    let b = new_asset(&api);
    wait_until(
        Duration::from_secs(30),
        "the second asset's messages",
        || about(&rx, &b) >= 2,
    );
    let of_b = |r: &Received| r.1.contains(&b);
    for secret in [&first_secret, &second_secret] {
        let verified = rx
            .judge(secret, dir.path(), of_b)
            .expect("either secret verifies");
        assert!(verified.contains("video.upload.created"), "{verified}");
    }

    // Rotated again with the old secret retired at once (a leaked secret): only the new one
    // verifies.
    let rotated = post_json(
        &api,
        &format!("/api/v1/webhooks/endpoints/{id}/rotate-secret"),
        r#"{"keep_previous_secs":0}"#,
    );
    assert_eq!(rotated.status, 200);
    let third_secret = rotated.json()["secret"].as_str().unwrap().to_string();
    let c = new_asset(&api);
    wait_until(
        Duration::from_secs(30),
        "the third asset's messages",
        || about(&rx, &c) >= 2,
    );
    let of_c = |r: &Received| r.1.contains(&c);
    rx.judge(&third_secret, dir.path(), of_c)
        .expect("the newest secret verifies");
    assert!(rx.judge(&second_secret, dir.path(), of_c).is_err());
    assert!(rx.judge(&first_secret, dir.path(), of_c).is_err());

    // Deleted: gone from the API, and no message is addressed to it any more (while another
    // endpoint, made after it, gets them).
    let rx2 = Receiver::start(false);
    let other = post_json(
        &api,
        "/api/v1/webhooks/endpoints",
        &format!(r#"{{"url":"{}"}}"#, rx2.url),
    );
    assert_eq!(other.status, 201);
    let other = other.json()["id"].as_str().unwrap().to_string();
    let gone = api.send(
        "DELETE",
        &format!("/api/v1/webhooks/endpoints/{id}"),
        &[],
        vec![],
    );
    assert_eq!(gone.status, 204);
    assert_eq!(
        api.get(&format!("/api/v1/webhooks/endpoints/{id}")).status,
        404
    );
    let d = new_asset(&api);
    wait_until(
        Duration::from_secs(30),
        "the other endpoint's messages",
        || about(&rx2, &d) >= 2,
    );
    let listed = api
        .get(&format!("/api/v1/webhooks/deliveries?asset_id={d}"))
        .json();
    let to: Vec<&str> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["endpoint_id"].as_str().unwrap())
        .collect();
    assert_eq!(to, [other.as_str(), other.as_str()], "{listed}");
    assert_eq!(about(&rx, &d), 0);
    assert_eq!(
        api.send(
            "DELETE",
            &format!("/api/v1/webhooks/endpoints/{id}"),
            &[],
            vec![]
        )
        .status,
        404
    );
}

#[test]
fn endpoint_urls_into_internal_networks_are_refused_unless_the_operator_allows_them() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    let control = Control::start(Options {
        store: store.clone(),
        no_workers: true,
        ..Default::default()
    });
    let api = control.api(&create_key(&store, &[]));
    for url in [
        "http://127.0.0.1:9/hooks",
        "http://localhost:9/hooks",
        "http://[::1]:9/hooks",
        "http://169.254.169.254/latest/meta-data/iam/",
        "http://10.0.0.7/hooks",
        "http://192.168.1.1/hooks",
        "http://[::ffff:127.0.0.1]/hooks",
        "http://2130706433/hooks",
        "ftp://example.com/hooks",
        "not a url",
    ] {
        let r = post_json(
            &api,
            "/api/v1/webhooks/endpoints",
            &serde_json::json!({ "url": url }).to_string(),
        );
        assert_eq!(r.status, 422, "{url}: {}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.json()["code"], "webhook_url_refused", "{url}");
    }
    assert_eq!(
        post_json(&api, "/api/v1/webhooks/endpoints", "{").status,
        400
    );
    assert_eq!(
        post_json(
            &api,
            "/api/v1/webhooks/endpoints",
            r#"{"url":"http://127.0.0.1:9/","secret":"whsec_mine"}"#
        )
        .status,
        400,
        "callers do not choose secrets"
    );
    let listed = api.get("/api/v1/webhooks/endpoints").json();
    assert_eq!(listed.as_array().unwrap().len(), 0, "{listed}");

    // The operator allows loopback: the same URL is taken.
    drop(control);
    let control = Control::start(Options {
        store: store.clone(),
        no_workers: true,
        config: ALLOW_LOOPBACK.into(),
        ..Default::default()
    });
    let api = control.api(&api.key);
    let r = post_json(
        &api,
        "/api/v1/webhooks/endpoints",
        r#"{"url":"http://localhost:9/hooks"}"#,
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    // … but still not the metadata service.
    let r = post_json(
        &api,
        "/api/v1/webhooks/endpoints",
        r#"{"url":"http://169.254.169.254/latest/"}"#,
    );
    assert_eq!(r.status, 422);
}

#[test]
fn an_endpoint_allowed_when_made_is_still_refused_if_the_operator_withdraws_the_network() {
    // What the delivering client resolves is checked at every attempt, not only when the
    // endpoint was made (a name re-pointed inside, DNS rebinding, is caught the same way).
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    let rx = Receiver::start(false);
    let control = Control::start(Options {
        store: store.clone(),
        no_workers: true,
        config: ALLOW_LOOPBACK.into(),
        ..Default::default()
    });
    let api = control.api(&create_key(&store, &[]));
    let by_name = rx.url.replace("127.0.0.1", "localhost");
    for url in [&rx.url, &by_name] {
        let r = post_json(
            &api,
            "/api/v1/webhooks/endpoints",
            &serde_json::json!({ "url": url }).to_string(),
        );
        assert_eq!(r.status, 201);
    }
    drop(control);
    let control = Control::start(Options {
        store: store.clone(),
        ..Default::default()
    });
    let api = control.api(&api.key);
    let a = new_asset(&api);
    wait_until(
        Duration::from_secs(30),
        "attempts to both endpoints",
        || {
            let page = api
                .get(&format!("/api/v1/webhooks/deliveries?asset_id={a}"))
                .json();
            let data = page["data"].as_array().cloned().unwrap_or_default();
            data.len() == 4
                && data.iter().all(|d| {
                    let msg = api
                        .get(&format!(
                            "/api/v1/webhooks/deliveries/{}",
                            d["msg_id"].as_str().unwrap_or_default()
                        ))
                        .json();
                    !msg["attempts"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                        .is_empty()
                })
        },
    );
    assert_eq!(rx.seen.lock().unwrap().len(), 0, "nothing reached loopback");
    let page = api
        .get(&format!("/api/v1/webhooks/deliveries?asset_id={a}"))
        .json();
    for d in page["data"].as_array().unwrap() {
        let msg = api
            .get(&format!(
                "/api/v1/webhooks/deliveries/{}",
                d["msg_id"].as_str().unwrap()
            ))
            .json();
        let error = msg["attempts"][0]["error"].as_str().unwrap_or_default();
        assert!(
            error.contains("loopback") || error.contains("internal"),
            "{msg}"
        );
        assert_eq!(msg["state"], "pending", "refusals are retried: {msg}");
    }
}

#[test]
fn messages_outlive_a_killed_process_without_redis() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    let rx = Receiver::start(true);
    let control = Control::start(Options {
        store: store.clone(),
        config: format!(
            "[jobs]\nbackoff_base_ms = 4000\n[[webhooks]]\nurl = \"{}\"\nsecret = \"{SECRET}\"\n",
            rx.url
        ),
        ..Default::default()
    });
    let api = control.api(&create_key(&store, &[]));
    let a = new_asset(&api);
    // Both messages failed once and wait for their retry…
    wait_until(
        Duration::from_secs(30),
        "the first, failed attempts",
        || about(&rx, &a) >= 2,
    );
    let page = api
        .get(&format!("/api/v1/webhooks/deliveries?asset_id={a}"))
        .json();
    assert!(
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["state"] == "pending" && d["next_attempt_at"].is_string()),
        "{page}"
    );
    // … when the process is killed. The one after it delivers them.
    let control = control.restart();
    let api = control.api(&api.key);
    wait_until(Duration::from_secs(60), "both messages delivered", || {
        let page = api
            .get(&format!("/api/v1/webhooks/deliveries?asset_id={a}"))
            .json();
        let data = page["data"].as_array().cloned().unwrap_or_default();
        data.len() == 2 && data.iter().all(|d| d["state"] == "delivered")
    });
    let verified = rx.judged(SECRET, dir.path());
    assert!(verified.contains("video.upload.created"), "{verified}");
}

#[test]
fn deliveries_are_listed_a_page_at_a_time_and_a_failed_one_can_be_redelivered() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    let rx = Receiver::start(true);
    let control = Control::start(Options {
        store: store.clone(),
        config: format!(
            "[jobs]\nwebhook_max_attempts = 1\n[[webhooks]]\nurl = \"{}\"\nsecret = \"{SECRET}\"\n",
            rx.url
        ),
        ..Default::default()
    });
    let api = control.api(&create_key(&store, &[]));
    let assets: Vec<String> = (0..3).map(|_| new_asset(&api)).collect();
    // One attempt each, and it fails: six failed messages.
    wait_until(Duration::from_secs(30), "six failed messages", || {
        let page = api
            .get("/api/v1/webhooks/deliveries?state=failed&limit=100")
            .json();
        page["data"].as_array().map_or(0, |d| d.len()) == 6
    });

    // Pages of four, then two: newest first, nothing twice, nothing left out.
    let first = api.get("/api/v1/webhooks/deliveries?limit=4").json();
    assert_eq!(first["data"].as_array().unwrap().len(), 4);
    let next = first["next"].as_str().expect("a next page").to_string();
    let second = api
        .get(&format!(
            "/api/v1/webhooks/deliveries?limit=4&before={next}"
        ))
        .json();
    assert_eq!(second["data"].as_array().unwrap().len(), 2, "{second}");
    assert!(second.get("next").is_none(), "{second}");
    let mut ids: Vec<String> = first["data"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second["data"].as_array().unwrap())
        .map(|d| d["msg_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        first["data"][0]["asset_id"],
        assets[2].as_str(),
        "newest first"
    );
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 6);
    for bad in [
        "limit=0",
        "limit=101",
        "before=abc",
        "before=-1",
        "state=lost",
    ] {
        assert_eq!(
            api.get(&format!("/api/v1/webhooks/deliveries?{bad}"))
                .status,
            400,
            "{bad}"
        );
    }

    // Redelivered: the receiver takes the second try.
    let msg = &ids[0];
    let again = post_json(
        &api,
        &format!("/api/v1/webhooks/deliveries/{msg}/redeliver"),
        "",
    );
    assert_eq!(
        again.status,
        202,
        "{}",
        String::from_utf8_lossy(&again.body)
    );
    wait_until(Duration::from_secs(30), "the redelivery", || {
        api.get(&format!("/api/v1/webhooks/deliveries/{msg}"))
            .json()["state"]
            == "delivered"
    });
    let one = api
        .get(&format!("/api/v1/webhooks/deliveries/{msg}"))
        .json();
    let attempts = one["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{one}");
    assert_eq!(attempts[0]["status"], 500);
    assert_eq!(attempts[1]["status"], 204);
    // Only a failed message is redelivered; unknown ones are 404.
    assert_eq!(
        post_json(
            &api,
            &format!("/api/v1/webhooks/deliveries/{msg}/redeliver"),
            ""
        )
        .status,
        409
    );
    assert_eq!(
        post_json(&api, "/api/v1/webhooks/deliveries/msg_nope/redeliver", "").status,
        404
    );
    assert_eq!(api.get("/api/v1/webhooks/deliveries/..%2Fetc").status, 404);
}
