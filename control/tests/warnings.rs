//! Content warnings through the API: an uploader flags their own video (with a summary), a
//! moderator publishes another behind a warning; each viewer's policy (guests: the
//! instance's) decides whether lists, channels, feeds and search leave a flagged video out,
//! and what the video says it does about it. Checked with a second account, a guest and an
//! API key; bad input is refused with nothing changed.

mod common;

use common::people::{signed_up, upload, wait_ready, Person};
use common::*;
use serde_json::json;

fn ids(reply: &Reply) -> Vec<String> {
    reply.json()["data"]
        .as_array()
        .unwrap_or_else(|| panic!("a list: {}", String::from_utf8_lossy(&reply.body)))
        .iter()
        .map(|v| v["id"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn search_page(p: &Person, q: &str) -> String {
    String::from_utf8_lossy(&p.send("GET", &format!("/search?q={q}"), &[], vec![]).body)
        .into_owned()
}

#[test]
fn flags_from_uploaders_and_moderators_follow_each_viewers_policy() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    let control = Control::start(Options {
        store: store.clone(),
        config: "[accounts.content_warnings]\ndefault = \"warn\"\n[accounts.content_warnings.flags]\ndrugs = \"blur\"\n".into(),
        ..Default::default()
    });
    let ada = signed_up(&control, "Ada");
    let bob = signed_up(&control, "Bob");
    let guest = Person::new(&control);
    let file = clip(dir.path(), "clip.mp4", 2.0);
    let fight = upload(&ada, &file, "Stage fight zebra", "public");
    let party = upload(&ada, &file, "Garden party zebra", "public");
    let plain = upload(&ada, &file, "Plain walk zebra", "public");
    for id in [&fight, &party, &plain] {
        wait_ready(&ada, id);
    }
    assert_eq!(
        bob.write(
            "PUT",
            &format!("/api/v1/channels/{}/subscription", ada_id(&ada)),
            json!({})
        )
        .status,
        200
    );

    // Ada flags her own video, with her words.
    let r = ada.write(
        "PATCH",
        &format!("/api/v1/videos/{fight}"),
        json!({ "flags": ["violence"], "warning_summary": "A staged sword fight, some fake blood." }),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let w = &r.json()["content_warning"];
    assert_eq!(w["flags"], json!(["violence"]));
    assert_eq!(w["uploader_flags"], json!(["violence"]));
    assert_eq!(w["labels"], json!(["violence"]));
    assert_eq!(w["summary"], "A staged sword fight, some fake blood.");
    // A moderator (an API key) publishes another behind a warning.
    let key = create_key(&store, &[]);
    let api = control.api(&key);
    let review = |id: &str, body: serde_json::Value| {
        api.send(
            "POST",
            &format!("/api/v1/assets/{id}/moderation"),
            &[("content-type", "application/json")],
            body.to_string().into_bytes(),
        )
    };
    let r = review(
        &party,
        json!({ "decision": "warn", "flags": ["drugs", "drugs"], "reason": "beer all round" }),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["status"], "ready");
    let reviews = api.asset(&party)["moderation"]["reviews"].clone();
    assert_eq!(reviews[0]["decision"], "warn");
    assert_eq!(reviews[0]["flags"], json!(["drugs"]), "duplicates dropped");

    // Guests get the instance's policy: everything listed, each flagged video with its action.
    let listed = guest.send("GET", "/api/v1/videos", &[], vec![]);
    assert_eq!(ids(&listed).len(), 3);
    let action_of = |reply: &Reply, id: &str| {
        reply.json()["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["id"] == id)
            .map(|v| v["content_warning"]["action"].clone())
    };
    assert_eq!(action_of(&listed, &fight), Some(json!("warn")));
    assert_eq!(action_of(&listed, &party), Some(json!("blur")));
    assert_eq!(
        action_of(&listed, &plain),
        Some(json!(null)),
        "no flags, no warning"
    );
    // The pages follow the same policy: a blurred picture, a note.
    let home = String::from_utf8_lossy(&guest.send("GET", "/", &[], vec![]).body).into_owned();
    assert!(
        home.contains(&format!("class=\"thumb blurred\" href=\"/watch/{party}\"")),
        "{home}"
    );
    assert!(home.contains(&format!("class=\"thumb\" href=\"/watch/{fight}\"")));
    assert!(home.contains("Sensitive: drugs, tobacco or alcohol"));
    let policy = bob
        .send("GET", "/api/v1/me/content-policy", &[], vec![])
        .json();
    assert_eq!(policy["chosen"], false);
    assert_eq!(policy["policy"]["flags"]["drugs"], "blur");

    // Bob hides violence: the fight leaves his lists, channel, feed and search; a link still
    // opens it, with the action that says so.
    let r = bob.write(
        "PUT",
        "/api/v1/me/content-policy",
        json!({ "default": "warn", "flags": { "violence": "hide" } }),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["chosen"], true);
    let ada_channel = format!("/api/v1/channels/{}/videos", ada_id(&ada));
    for path in ["/api/v1/videos", ada_channel.as_str(), "/api/v1/me/feed"] {
        let seen = ids(&bob.send("GET", path, &[], vec![]));
        assert!(!seen.contains(&fight), "{path}: {seen:?}");
        assert!(
            seen.contains(&party) && seen.contains(&plain),
            "{path}: {seen:?}"
        );
        assert!(ids(&guest.send(
            "GET",
            path.replace("/me/feed", "/videos").as_str(),
            &[],
            vec![]
        ))
        .contains(&fight));
    }
    assert!(!search_page(&bob, "zebra").contains("Stage fight"));
    assert!(search_page(&guest, "zebra").contains("Stage fight"));
    let opened = bob.send("GET", &format!("/api/v1/videos/{fight}"), &[], vec![]);
    assert_eq!(opened.json()["content_warning"]["action"], "hide");
    let page = String::from_utf8_lossy(
        &bob.send("GET", &format!("/watch/{fight}"), &[], vec![])
            .body,
    )
    .into_owned();
    assert!(
        page.contains("This video may contain sensitive content related to: violence."),
        "{page}"
    );

    // Hiding drugs leaves out the moderator's flag too (the asset's own column); once the
    // moderator approves without a warning, it is listed again.
    bob.write(
        "PUT",
        "/api/v1/me/content-policy",
        json!({ "default": "hide", "flags": { "violence": "show" } }),
    );
    let seen = ids(&bob.send("GET", "/api/v1/videos", &[], vec![]));
    assert!(seen.contains(&fight) && !seen.contains(&party), "{seen:?}");
    assert_eq!(
        review(
            &party,
            json!({ "decision": "approve", "reason": "alcohol is fine here" })
        )
        .status,
        200
    );
    let seen = ids(&bob.send("GET", "/api/v1/videos", &[], vec![]));
    assert!(seen.contains(&party), "{seen:?}");
    // Back to the instance's policy.
    let r = bob.send(
        "DELETE",
        "/api/v1/me/content-policy",
        &[("x-csrf-token", bob.csrf.as_deref().unwrap_or_default())],
        vec![],
    );
    assert_eq!(r.json()["chosen"], false);

    // Bad input changes nothing.
    let before = ada
        .send("GET", &format!("/api/v1/videos/{fight}"), &[], vec![])
        .json();
    for body in [
        json!({ "flags": ["gore"] }),
        json!({ "warning_summary": "x".repeat(501) }),
        json!({ "warning_summary": "two\nlines" }),
        json!({ "flags": "violence" }),
    ] {
        let r = ada.write("PATCH", &format!("/api/v1/videos/{fight}"), body.clone());
        assert_eq!(
            r.status,
            400,
            "{body}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
    for body in [
        json!({ "default": "mute" }),
        json!({ "flags": { "gore": "hide" } }),
        json!({ "default": "warn", "extra": 1 }),
    ] {
        let r = bob.write("PUT", "/api/v1/me/content-policy", body.clone());
        assert_eq!(r.status, 400, "{body}");
    }
    for body in [
        json!({ "decision": "warn", "reason": "no flags" }),
        json!({ "decision": "approve", "flags": ["sex"], "reason": "flags without warn" }),
    ] {
        assert_eq!(review(&plain, body.clone()).status, 400, "{body}");
    }
    assert_eq!(
        ada.send("GET", &format!("/api/v1/videos/{fight}"), &[], vec![])
            .json(),
        before
    );
    // Only the owner flags a video; a guest has no policy to set.
    let r = bob.write(
        "PATCH",
        &format!("/api/v1/videos/{fight}"),
        json!({ "flags": [] }),
    );
    assert_eq!(r.status, 403);
    assert_eq!(
        guest
            .send("GET", "/api/v1/me/content-policy", &[], vec![])
            .status,
        401
    );
    let studio = String::from_utf8_lossy(
        &bob.send("GET", &format!("/studio/{fight}"), &[], vec![])
            .body,
    )
    .into_owned();
    assert!(
        studio.contains("Not found"),
        "someone else's edit page: {studio}"
    );
}

fn ada_id(ada: &Person) -> String {
    ada.me().json()["user"]["id"].as_str().unwrap().to_string()
}
