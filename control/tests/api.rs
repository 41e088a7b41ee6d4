//! The API as independent implementations judge it: webhook signatures verified by the
//! Standard Webhooks library (with failed deliveries retried and every attempt visible), the
//! OpenAPI document checked by openapi-spec-validator, and the running API fuzzed from that
//! document by Schemathesis (no 5xx, no answer outside its documented schema).

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

#[test]
fn webhooks_verify_with_the_standard_library_and_failures_are_retried() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    let receiver = Receiver::start(true);
    let control = Control::start(Options {
        store: store.clone(),
        config: format!(
            "[[webhooks]]\nurl = \"{}\"\nsecret = \"{SECRET}\"\n",
            receiver.url
        ),
        ..Default::default()
    });
    let api = control.api(&create_key(&store, &[]));
    let src = clip(dir.path(), "clip.mp4", 3.0);
    let (code, out, err) = upload_cli(&src, &api, true);
    assert_eq!(code, 0, "{err}");
    let id = out.lines().next().unwrap().to_string();

    // Every event is delivered (after one failed attempt each).
    let expected = [
        "video.asset.created",
        "video.upload.created",
        "video.asset.uploaded",
        "video.upload.asset_created",
        "video.asset.validating",
        "video.asset.transcoding",
        "video.asset.analyzing",
        "video.asset.ready",
    ];
    wait_until(
        Duration::from_secs(60),
        "every webhook to be delivered",
        || {
            let deliveries = api.get("/api/v1/webhooks/deliveries?limit=100").json();
            let delivered: Vec<String> = deliveries["data"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|d| d["state"] == "delivered")
                .map(|d| d["event_type"].as_str().unwrap_or_default().to_string())
                .collect();
            expected.iter().all(|e| delivered.iter().any(|d| d == e))
        },
    );
    let seen = receiver.seen.lock().unwrap().clone();
    let verified = receiver.judged(SECRET, dir.path());
    assert!(
        !verified.lines().any(|l| l == "video.asset.progress"),
        "progress ticks are not webhooks"
    );
    for e in expected {
        assert!(
            verified.lines().any(|l| l == e),
            "{e} not verified: {verified}"
        );
    }
    // A message's attempts are visible: the failure, then the delivery.
    let deliveries = api.get("/api/v1/webhooks/deliveries?limit=100").json();
    let ready = deliveries["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["event_type"] == "video.asset.ready" && d["asset_id"] == id.as_str())
        .expect("the ready message");
    let one = api
        .get(&format!(
            "/api/v1/webhooks/deliveries/{}",
            ready["msg_id"].as_str().unwrap()
        ))
        .json();
    let attempts = one["attempts"].as_array().unwrap();
    assert!(attempts.len() >= 2, "{one}");
    assert_eq!(attempts[0]["status"], 500);
    assert_eq!(attempts.last().unwrap()["status"], 204);
    assert_eq!(one["state"], "delivered");
    // Every delivery of one message carries the same webhook-id.
    let ids: Vec<&str> = seen
        .iter()
        .filter(|(_, b)| b.contains("video.asset.ready"))
        .filter_map(|(h, _)| {
            h.iter()
                .find(|(k, _)| k == "webhook-id")
                .map(|(_, v)| v.as_str())
        })
        .collect();
    assert!(
        ids.len() >= 2 && ids.iter().all(|i| *i == ids[0]),
        "{ids:?}"
    );
    assert!(
        control
            .metric("sunomi_webhook_attempts_total{result=\"failed\"}")
            .unwrap_or(0.0)
            >= 8.0
    );
}

#[test]
fn the_openapi_document_is_valid_and_the_api_keeps_to_it_under_fuzzing() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    let control = Control::start(Options {
        store: store.clone(),
        ..Default::default()
    });
    let key = create_key(&store, &[]);
    let api = control.api(&key);
    let doc = api.get("/api/v1/openapi.json");
    assert_eq!(doc.status, 200);
    let spec = doc.json();
    assert!(spec["openapi"]
        .as_str()
        .is_some_and(|v| v.starts_with("3.1")));
    let (code, printed, _) = common::control(&["openapi"], &[]);
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&printed).unwrap(),
        spec
    );
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, &doc.body).unwrap();
    let out = Command::new(python())
        .args(["-m", "openapi_spec_validator"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openapi-spec-validator: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // One real asset, so routes with ids have something to find.
    let src = clip(dir.path(), "clip.mp4", 2.0);
    let (code, _, err) = upload_cli(&src, &api, true);
    assert_eq!(code, 0, "{err}");

    // Every operation must also accept what its document allows (positive_data_acceptance):
    // the document states the constraints the handlers enforce. judges/schemathesis.toml
    // lists, per operation, the refusals no schema can state.
    let auth = format!("Authorization: Bearer {key}");
    let (passed, report) = schemathesis(
        "schemathesis.toml",
        &control.base,
        &[
            "--header",
            &auth,
            "--checks",
            "positive_data_acceptance,not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            "--max-examples",
            "25",
        ],
        &[],
    );
    assert!(passed, "schemathesis found problems:\n{report}");
    assert!(
        report.contains("Fuzzing") && !report.contains("🚫"),
        "every phase must run:\n{report}"
    );
    eprintln!("{report}");
}

#[test]
fn webhooks_are_signed_with_their_own_endpoints_secret_after_the_config_is_reordered() {
    const OTHER: &str = "whsec_QlpYd2VyZEJ5dGVzRm9yVGhlU2Vjb25kRW5kcG9pbnQ=";
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    let redis = RedisServer::start();
    let (a, b) = (Receiver::start(false), Receiver::start(false));
    let endpoint =
        |url: &str, secret: &str| format!("[[webhooks]]\nurl = \"{url}\"\nsecret = \"{secret}\"\n");
    // The API process lists A then B; messages wait in Redis (no worker yet).
    let control = Control::start(Options {
        store: store.clone(),
        redis: Some(redis.url()),
        config: endpoint(&a.url, SECRET) + &endpoint(&b.url, OTHER),
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
    // The worker that delivers them lists B then A.
    let _worker = worker(
        &store,
        &redis.url(),
        &(endpoint(&b.url, OTHER) + &endpoint(&a.url, SECRET)),
        &[],
    );
    for rx in [&a, &b] {
        wait_until(
            Duration::from_secs(30),
            "both messages at each endpoint",
            || rx.seen.lock().unwrap().len() >= 2,
        );
    }
    for (rx, secret) in [(&a, SECRET), (&b, OTHER)] {
        let types = rx.judged(secret, dir.path());
        assert!(types.contains("video.asset.created"), "{types}");
    }
    // One message has different ids at the two endpoints, and the same id on a retry.
    let id_of = |rx: &Receiver| -> Vec<String> {
        rx.seen
            .lock()
            .unwrap()
            .iter()
            .filter_map(|(h, _)| {
                h.iter()
                    .find(|(k, _)| k == "webhook-id")
                    .map(|(_, v)| v.clone())
            })
            .collect()
    };
    let (ia, ib) = (id_of(&a), id_of(&b));
    assert!(ia.iter().all(|i| !ib.contains(i)), "{ia:?} {ib:?}");
}

/// The routes a signed-in person uses keep to the document under fuzzing too: Schemathesis
/// with a session (cookie, CSRF token, this site's `Origin`) and a key, every operation
/// reached. The operations that would end the session or the account under the fuzzer's feet
/// are left to their own tests.
#[test]
fn the_session_routes_keep_to_the_document_under_fuzzing() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    let control = Control::start(Options {
        store: store.clone(),
        ..Default::default()
    });
    let ada = common::people::signed_up(&control, "Ada");
    let id = common::people::upload(&ada, &clip(dir.path(), "clip.mp4", 2.0), "Fuzzed", "public");
    common::people::wait_ready(&ada, &id);
    let csrf = ada.csrf.clone().unwrap_or_default();
    let mut args = vec![
        "--header".to_string(),
        format!("X-CSRF-Token: {csrf}"),
        "--header".to_string(),
        format!("Origin: {}", control.base),
        "--checks".to_string(),
        "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance".to_string(),
        "--max-examples".to_string(),
        "15".to_string(),
    ];
    // Signing out, deleting the account, changing the password or two-factor sign-in
    // would end or change the very session the run uses.
    for op in [
        "sign_out",
        "sign_in",
        "sign_up",
        "delete_account",
        "change_password",
        "begin_two_factor",
        "enable_two_factor",
        "disable_two_factor",
    ] {
        args.extend(["--exclude-operation-id".to_string(), op.to_string()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (passed, report) = schemathesis(
        "schemathesis-session.toml",
        &control.base,
        &args,
        &[
            ("SUNOMI_SESSION", ada.cookie.clone().unwrap_or_default()),
            ("SUNOMI_KEY", create_key(&store, &[])),
        ],
    );
    assert!(passed, "schemathesis found problems:\n{report}");
    assert!(
        !report.contains("Authentication failed"),
        "the session must carry through the run:\n{report}"
    );
    assert_eq!(
        ada.me().status,
        200,
        "the session survived the run:\n{report}"
    );
    eprintln!("{report}");
}

/// Runs Schemathesis with `judges/{config}` against the document of the control plane at
/// `base`, with `args` and `env` besides what every run shares (seed 1, the hooks; event
/// streams left out: they never end, and the lifecycle test judges them). Returns whether it
/// passed, and its report.
fn schemathesis(config: &str, base: &str, args: &[&str], env: &[(&str, String)]) -> (bool, String) {
    let bin = std::path::Path::new(python()).with_file_name("schemathesis");
    let out = Command::new(bin)
        .arg("--config-file")
        .arg(judge(config))
        .arg("run")
        .arg(format!("{base}/api/v1/openapi.json"))
        .args(args)
        .args([
            "--seed",
            "1",
            "--exclude-path-regex",
            "/events$",
            "--request-timeout",
            "20",
        ])
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("SCHEMATHESIS_HOOKS", "st_hooks")
        .env("PYTHONPATH", judge(""))
        .output()
        .expect("schemathesis");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), report)
}
