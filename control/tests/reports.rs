//! Reports and the moderation queue through the API: a viewer reports a moment of a video, the
//! report reaches the one queue, a moderator blocks the video and every edge answers 451,
//! the reporter learns the outcome, the decision is in the audit log; registrations awaiting
//! approval are decided in the same queue. Checked with a plain user, a guest and bad input.

mod common;

use common::people::{sign_in, sign_up, signed_up, upload, users, wait_ready, Person};
use common::*;
use serde_json::json;
use std::time::Duration;

/// An account made by the operator with `role`, signed in.
fn staff(control: &Control, store: &str, email: &str, role: &str) -> Person {
    let (code, _, err) = users(
        store,
        &["create", "--email", email, "--role", role, "--name", role],
        "a staff password\n",
    );
    assert_eq!(code, 0, "{err}");
    let mut p = Person::new(control);
    let r = p.post("/api/v1/auth/signin", sign_in(email, "a staff password"));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    p
}

#[test]
fn a_report_reaches_the_queue_a_moderator_blocks_it_and_every_edge_answers_451() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    let edges = [Edge::start(&store, &[], &[]), Edge::start(&store, &[], &[])];
    let control = Control::start(Options {
        store: store.clone(),
        config: format!(
            "edge_admin_urls = [\"{}\", \"{}\"]\n",
            edges[0].admin, edges[1].admin
        ),
        ..Default::default()
    });
    let ada = signed_up(&control, "Ada");
    let bob = signed_up(&control, "Bob");
    let guest = Person::new(&control);
    let file = clip(dir.path(), "clip.mp4", 4.0);
    let id = upload(&ada, &file, "A heated debate", "public");
    let private = upload(&ada, &file, "Notes to self", "private");
    let shown = wait_ready(&ada, &id);
    wait_ready(&ada, &private);
    let url = shown["playback_url"].as_str().unwrap();
    let path = &url[url.find("/v/").unwrap()..];
    let masters: Vec<String> = edges.iter().map(|e| format!("{}{path}", e.base)).collect();
    assert!(masters.iter().all(|m| http_status(m) == 200));

    // Bob reports a moment of it; once is enough; the moment must be in the video.
    let reports = format!("/api/v1/videos/{id}/reports");
    let r = bob.write(
        "POST",
        &reports,
        json!({ "reason": "hateful", "details": "Slurs at 0:01.", "start_secs": 0.5, "end_secs": 1.5 }),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let report = r.json();
    assert_eq!(report["status"], "open");
    assert_eq!(report["start_secs"], 0.5);
    let again = bob.write("POST", &reports, json!({ "reason": "spam" }));
    assert_eq!(
        (again.status, again.json()["code"].as_str()),
        (409, Some("already_reported"))
    );
    for body in [
        json!({ "reason": "spam", "start_secs": 1.0, "end_secs": 90.0 }),
        json!({ "reason": "spam", "start_secs": 2.0, "end_secs": 1.0 }),
        json!({ "reason": "spam", "end_secs": 1.0 }),
        json!({ "reason": "boring" }),
        json!({ "reason": "spam", "details": "x".repeat(1001) }),
    ] {
        let r = ada.write("POST", &reports, body.clone());
        assert_eq!(
            r.status,
            400,
            "{body}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
    // Someone else's private video does not exist to report; a guest must sign in.
    let r = bob.write(
        "POST",
        &format!("/api/v1/videos/{private}/reports"),
        json!({ "reason": "spam" }),
    );
    assert_eq!(r.status, 404);
    assert_eq!(
        guest
            .send(
                "POST",
                &reports,
                &[("content-type", "application/json")],
                json!({ "reason": "spam" }).to_string().into_bytes()
            )
            .status,
        401
    );

    // The queue is the moderators'.
    assert_eq!(
        bob.send("GET", "/api/v1/moderation/queue", &[], vec![])
            .status,
        403
    );
    assert_eq!(
        guest
            .send("GET", "/api/v1/moderation/queue", &[], vec![])
            .status,
        401
    );
    let mo = staff(&control, &store, "mo@example.org", "moderator");
    let queue = mo
        .send("GET", "/api/v1/moderation/queue", &[], vec![])
        .json();
    let item = &queue["videos"][0];
    assert_eq!(item["video"]["id"], id.as_str(), "{queue}");
    assert_eq!(item["held"], false);
    assert_eq!(item["reports"][0]["reason"], "hateful");
    assert_eq!(item["reports"][0]["end_secs"], 1.5);
    let decide = |p: &Person, body: serde_json::Value| {
        p.write("POST", &format!("/api/v1/moderation/videos/{id}"), body)
    };
    assert_eq!(
        decide(&bob, json!({ "decision": "block", "reason": "x" })).status,
        403
    );
    assert_eq!(
        decide(&mo, json!({ "decision": "warn", "reason": "x" })).status,
        400
    );
    assert_eq!(
        decide(&mo, json!({ "decision": "block", "reason": " " })).status,
        400
    );

    // Blocked: every edge answers 451; Bob learns the outcome; the log says who and why.
    let r = decide(
        &mo,
        json!({ "decision": "block", "reason": "Hate speech, reported at 0:01." }),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["status"], "blocked");
    wait_until(Duration::from_secs(10), "451 on every edge", || {
        masters.iter().all(|m| http_status(m) == 451)
    });
    let mine = bob.send("GET", "/api/v1/me/reports", &[], vec![]).json();
    assert_eq!(mine["data"][0]["decision"], "block");
    assert_eq!(
        mine["data"][0]["outcome"],
        "A moderator took the video down."
    );
    let queue = mo
        .send("GET", "/api/v1/moderation/queue", &[], vec![])
        .json();
    assert_eq!(queue["videos"], json!([]), "decided items leave the queue");
    let log = mo
        .send("GET", "/api/v1/moderation/audit", &[], vec![])
        .json();
    let mo_id = mo.me().json()["user"]["id"].clone();
    assert_eq!(log["data"][0]["action"], "video.block");
    assert_eq!(log["data"][0]["subject"], id.as_str());
    assert_eq!(log["data"][0]["actor_id"], mo_id);
    assert_eq!(log["data"][0]["reason"], "Hate speech, reported at 0:01.");
    assert_eq!(
        bob.send("GET", "/api/v1/moderation/audit", &[], vec![])
            .status,
        403
    );
    // Nothing left to dismiss; a later approval publishes it again.
    let r = decide(&mo, json!({ "decision": "dismiss", "reason": "x" }));
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (409, Some("invalid_state"))
    );
    let r = decide(
        &mo,
        json!({ "decision": "approve", "reason": "On appeal: quoted, not said." }),
    );
    assert_eq!(r.json()["status"], "ready");
    wait_until(Duration::from_secs(10), "served again", || {
        masters.iter().all(|m| http_status(m) == 200)
    });
}

#[test]
fn registrations_awaiting_approval_are_decided_in_the_queue() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    let control = Control::start(Options {
        store: store.clone(),
        no_workers: true,
        config: "[accounts]\nregistration = \"approval\"\n".into(),
        ..Default::default()
    });
    let mut cat = Person::new(&control);
    let mut dan = Person::new(&control);
    for (p, email) in [(&mut cat, "cat@example.org"), (&mut dan, "dan@example.org")] {
        let r = p.post(
            "/api/v1/auth/signup",
            sign_up(email, "a fine password", email),
        );
        assert_eq!(r.status, 202);
    }
    let admin = staff(&control, &store, "root@example.org", "admin");
    let queue = admin
        .send("GET", "/api/v1/moderation/queue", &[], vec![])
        .json();
    let waiting: Vec<(String, String)> = queue["registrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["email"].as_str().unwrap().to_string(),
                u["id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(waiting.len(), 2, "{queue}");
    let id_of = |email: &str| waiting.iter().find(|(e, _)| e == email).unwrap().1.clone();
    let decide = |id: &str, decision: &str| {
        admin.write(
            "POST",
            &format!("/api/v1/moderation/registrations/{id}"),
            json!({ "decision": decision, "reason": "checked by hand" }),
        )
    };
    assert_eq!(
        decide(&id_of("cat@example.org"), "approve").json()["status"],
        "active"
    );
    assert_eq!(
        decide(&id_of("dan@example.org"), "reject").json()["status"],
        "disabled"
    );
    assert_eq!(
        decide(&id_of("dan@example.org"), "approve").status,
        409,
        "decided once"
    );
    assert_eq!(decide("u_nobody", "approve").status, 404);
    assert_eq!(decide(&id_of("cat@example.org"), "maybe").status, 400);
    let r = cat.post(
        "/api/v1/auth/signin",
        sign_in("cat@example.org", "a fine password"),
    );
    assert_eq!(r.status, 200);
    let r = dan.post(
        "/api/v1/auth/signin",
        sign_in("dan@example.org", "a fine password"),
    );
    assert_eq!(r.json()["code"], "account_disabled");
    let log = admin
        .send("GET", "/api/v1/moderation/audit", &[], vec![])
        .json();
    let actions: Vec<&str> = log["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, vec!["registration.reject", "registration.approve"]);
}
