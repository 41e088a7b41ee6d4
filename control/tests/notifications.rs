//! In-app notifications through the API: a subscription's new public video (once, never a
//! private one), one's own video ready or failed, a comment on one's video and a reply to
//! one's comment (never one's own), a decided report; read and unread.

mod common;

use common::people::{sign_in, signed_up, upload, users, wait_ready, Person};
use common::*;
use serde_json::json;

fn kinds(p: &Person) -> Vec<(String, String)> {
    p.send("GET", "/api/v1/me/notifications", &[], vec![])
        .json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["kind"].as_str().unwrap().to_string(),
                n["text"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn people_hear_of_new_videos_comments_their_videos_and_their_reports() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    let control = Control::start(Options {
        store: store.clone(),
        ..Default::default()
    });
    let ada = signed_up(&control, "Ada");
    let bob = signed_up(&control, "Bob");
    let ada_id = ada.me().json()["user"]["id"].as_str().unwrap().to_string();
    assert_eq!(
        bob.write(
            "PUT",
            &format!("/api/v1/channels/{ada_id}/subscription"),
            json!({})
        )
        .status,
        200
    );
    let file = clip(dir.path(), "clip.mp4", 2.0);
    let public = upload(&ada, &file, "Morning walk", "public");
    let private = upload(&ada, &file, "Diary", "private");
    wait_ready(&ada, &public);
    wait_ready(&ada, &private);
    let junk = dir.path().join("notes.mp4");
    std::fs::write(&junk, "not a video\n".repeat(200)).unwrap();
    let failed = upload(&ada, &junk, "Broken", "public");
    wait_until(
        std::time::Duration::from_secs(60),
        "the bad file to fail",
        || {
            ada.send("GET", &format!("/api/v1/videos/{failed}"), &[], vec![])
                .json()["status"]
                == "errored"
        },
    );

    // Bob hears of the public video only; Ada of each of hers.
    assert_eq!(
        kinds(&bob),
        vec![(
            "video.new".to_string(),
            "Ada published “Morning walk”".to_string()
        )]
    );
    let hers = kinds(&ada);
    for expected in [
        "Your video “Morning walk” is ready to watch",
        "Your video “Diary” is ready to watch",
        "Your video “Broken” could not be processed",
    ] {
        assert!(
            hers.iter().any(|(_, t)| t == expected),
            "{expected}: {hers:?}"
        );
    }

    // Comments: on her video to Ada, a reply to Bob, never one's own.
    let r = bob.write(
        "POST",
        &format!("/api/v1/videos/{public}/comments"),
        json!({ "body": "Lovely light." }),
    );
    let bobs = r.json()["id"].as_str().unwrap().to_string();
    let r = ada.write(
        "POST",
        &format!("/api/v1/videos/{public}/comments"),
        json!({ "body": "Thank you!", "parent_id": bobs }),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let ada_now = kinds(&ada);
    assert_eq!(
        ada_now[0],
        (
            "comment.new".into(),
            "Bob commented on “Morning walk”".into()
        )
    );
    assert_eq!(
        ada_now.iter().filter(|(k, _)| k == "comment.new").count(),
        1,
        "not of her own reply: {ada_now:?}"
    );
    assert_eq!(
        kinds(&bob)[0],
        (
            "comment.new".into(),
            "Ada commented on “Morning walk”".into()
        )
    );
    let list = bob
        .send("GET", "/api/v1/me/notifications", &[], vec![])
        .json();
    assert!(list["data"][0]["url"]
        .as_str()
        .unwrap()
        .starts_with(&format!("/watch/{public}#c_")));

    // A decided report.
    let r = bob.write(
        "POST",
        &format!("/api/v1/videos/{public}/reports"),
        json!({ "reason": "spam" }),
    );
    assert_eq!(r.status, 201);
    let (code, _, err) = users(
        &store,
        &["create", "--email", "mo@example.org", "--role", "moderator"],
        "a moderator password\n",
    );
    assert_eq!(code, 0, "{err}");
    let mut mo = Person::new(&control);
    mo.post(
        "/api/v1/auth/signin",
        sign_in("mo@example.org", "a moderator password"),
    );
    let r = mo.write(
        "POST",
        &format!("/api/v1/moderation/videos/{public}"),
        json!({ "decision": "dismiss", "reason": "not spam" }),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        kinds(&bob)[0],
        (
            "report.decided".into(),
            "Your report on “Morning walk”: A moderator looked and left the video as it was."
                .into()
        )
    );

    // Read.
    let unread = |p: &Person| {
        p.send("GET", "/api/v1/me/notifications", &[], vec![])
            .json()["unread"]
            .as_i64()
            .unwrap()
    };
    assert_eq!(unread(&bob), 3);
    let first = bob
        .send("GET", "/api/v1/me/notifications", &[], vec![])
        .json()["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = bob.write(
        "POST",
        "/api/v1/me/notifications/read",
        json!({ "ids": [first] }),
    );
    assert_eq!(r.status, 204);
    assert_eq!(unread(&bob), 2);
    bob.write("POST", "/api/v1/me/notifications/read", json!({}));
    assert_eq!(unread(&bob), 0);
    assert_eq!(unread(&ada), ada_now.len() as i64, "Ada's are hers alone");
    assert_eq!(
        Person::new(&control)
            .send("GET", "/api/v1/me/notifications", &[], vec![])
            .status,
        401
    );
}
