//! Likes, subscriptions, the feed and comments through the API, with two accounts, a guest
//! and a moderator: who may do what to whose video and comment.

mod common;

use common::people::{sign_in, signed_up, upload, users, wait_ready, Person};
use common::*;
use serde_json::json;

#[test]
fn people_like_subscribe_and_comment_within_what_they_may_see() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    let control = Control::start(Options {
        store: store.clone(),
        ..Default::default()
    });
    let ada = signed_up(&control, "Ada");
    let bob = signed_up(&control, "Bob");
    let guest = Person::new(&control);
    let file = clip(dir.path(), "clip.mp4", 2.0);
    let public = upload(&ada, &file, "Ada's public walk", "public");
    let private = upload(&ada, &file, "Ada's private walk", "private");
    wait_ready(&ada, &public);
    wait_ready(&ada, &private);
    let ada_id = ada.me().json()["user"]["id"].as_str().unwrap().to_string();
    let bob_id = bob.me().json()["user"]["id"].as_str().unwrap().to_string();

    // Likes: one per account, toggled; a private video of someone else is not there.
    let like = |p: &Person, id: &str, on: bool| {
        p.write(
            if on { "PUT" } else { "DELETE" },
            &format!("/api/v1/videos/{id}/like"),
            json!({}),
        )
    };
    assert_eq!(
        like(&bob, &public, true).json(),
        json!({ "likes": 1, "liked": true })
    );
    assert_eq!(
        like(&bob, &public, true).json(),
        json!({ "likes": 1, "liked": true })
    );
    assert_eq!(like(&ada, &public, true).json()["likes"], 2);
    assert_eq!(
        like(&bob, &public, false).json(),
        json!({ "likes": 1, "liked": false })
    );
    assert_eq!(
        guest
            .send(
                "GET",
                &format!("/api/v1/videos/{public}/likes"),
                &[],
                vec![]
            )
            .json(),
        json!({ "likes": 1, "liked": false })
    );
    assert_eq!(like(&bob, &private, true).status, 404);
    assert_eq!(like(&guest, &public, true).status, 401);
    let no_token = bob.send("PUT", &format!("/api/v1/videos/{public}/like"), &[], vec![]);
    assert_eq!(
        (no_token.status, no_token.json()["code"].as_str()),
        (403, Some("csrf_failed"))
    );

    // Subscriptions and the feed: the channel's public, ready videos only.
    let feed = |p: &Person| -> Vec<String> {
        p.send("GET", "/api/v1/me/feed", &[], vec![]).json()["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(feed(&bob).is_empty());
    let sub = bob.write(
        "PUT",
        &format!("/api/v1/channels/{ada_id}/subscription"),
        json!({}),
    );
    assert_eq!(sub.status, 200);
    assert_eq!(
        (
            sub.json()["subscribers"].as_i64(),
            sub.json()["subscribed"].as_bool()
        ),
        (Some(1), Some(true))
    );
    assert_eq!(feed(&bob), std::slice::from_ref(&public));
    let me = bob.write(
        "PUT",
        &format!("/api/v1/channels/{bob_id}/subscription"),
        json!({}),
    );
    assert_eq!(me.status, 400, "nobody subscribes to themself");
    assert_eq!(
        bob.write("PUT", "/api/v1/channels/u_nobody/subscription", json!({}))
            .status,
        404
    );
    let channel = guest
        .send("GET", &format!("/api/v1/channels/{ada_id}"), &[], vec![])
        .json();
    assert_eq!(
        (
            channel["display_name"].as_str(),
            channel["subscribers"].as_i64()
        ),
        (Some("Ada"), Some(1))
    );
    let on_channel = guest
        .send(
            "GET",
            &format!("/api/v1/channels/{ada_id}/videos"),
            &[],
            vec![],
        )
        .json();
    assert_eq!(
        on_channel["data"].as_array().unwrap().len(),
        1,
        "the private one is not listed"
    );

    // Comments: one level of replies; authors edit; moderators remove.
    let comment = |p: &Person, video: &str, body: serde_json::Value| {
        p.write("POST", &format!("/api/v1/videos/{video}/comments"), body)
    };
    let c = comment(&bob, &public, json!({ "body": "Lovely colours" }));
    assert_eq!(c.status, 201, "{}", String::from_utf8_lossy(&c.body));
    let bobs = c.json()["id"].as_str().unwrap().to_string();
    let r = comment(
        &ada,
        &public,
        json!({ "body": "Thank you!", "parent_id": bobs }),
    );
    assert_eq!(r.status, 201);
    let reply = r.json()["id"].as_str().unwrap().to_string();
    let deeper = comment(
        &bob,
        &public,
        json!({ "body": "again", "parent_id": reply }),
    );
    assert_eq!(deeper.status, 400, "replies have no replies");
    assert_eq!(
        comment(&bob, &private, json!({ "body": "hello" })).status,
        404
    );
    assert_eq!(comment(&bob, &public, json!({ "body": "   " })).status, 400);
    let edit = |p: &Person, id: &str, body: &str| {
        p.write(
            "PATCH",
            &format!("/api/v1/comments/{id}"),
            json!({ "body": body }),
        )
    };
    assert_eq!(edit(&ada, &bobs, "mine now").status, 403);
    let edited = edit(&bob, &bobs, "Lovely colours, really");
    assert_eq!(edited.status, 200);
    assert!(edited.json()["edited_at"].is_string());
    let listed = guest
        .send(
            "GET",
            &format!("/api/v1/videos/{public}/comments"),
            &[],
            vec![],
        )
        .json();
    assert_eq!(listed["data"][0]["body"], "Lovely colours, really");
    assert_eq!(listed["data"][0]["replies"][0]["body"], "Thank you!");
    assert_eq!(
        listed["data"][0]["replies"][0]["author"]["display_name"],
        "Ada"
    );
    assert_eq!(
        guest
            .send(
                "GET",
                &format!("/api/v1/videos/{private}/comments"),
                &[],
                vec![]
            )
            .status,
        404
    );

    // Another user may not remove Bob's comment; a moderator may; the reply stays.
    assert_eq!(
        ada.write("DELETE", &format!("/api/v1/comments/{bobs}"), json!({}))
            .status,
        403
    );
    let (code, _, err) = users(
        &store,
        &[
            "create",
            "--email",
            "mod@example.org",
            "--role",
            "moderator",
        ],
        "a moderator's password\n",
    );
    assert_eq!(code, 0, "{err}");
    let mut moderator = Person::new(&control);
    assert_eq!(
        moderator
            .post(
                "/api/v1/auth/signin",
                sign_in("mod@example.org", "a moderator's password")
            )
            .status,
        200
    );
    assert_eq!(
        moderator
            .write("DELETE", &format!("/api/v1/comments/{bobs}"), json!({}))
            .status,
        204
    );
    let listed = guest
        .send(
            "GET",
            &format!("/api/v1/videos/{public}/comments"),
            &[],
            vec![],
        )
        .json();
    assert_eq!(listed["data"][0]["deleted"], true);
    assert_eq!(listed["data"][0]["body"], "");
    assert_eq!(listed["data"][0]["replies"][0]["body"], "Thank you!");

    // A burst of comments from one account is bounded.
    let mut statuses = Vec::new();
    for i in 0..12 {
        let r = comment(&bob, &public, json!({ "body": format!("comment {i}") }));
        statuses.push(r.status);
        if r.status == 429 {
            assert_eq!(r.json()["code"], "rate_limited");
            break;
        }
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    assert_eq!(
        statuses.len(),
        10,
        "ten a minute, counting the first: {statuses:?}"
    );
}

/// The watch page pages its comments with real links: newest first, twenty a page.
#[test]
fn the_watch_page_pages_comments_with_links() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    let control = Control::start(Options {
        store,
        ..Default::default()
    });
    let ada = signed_up(&control, "Ada");
    let id = upload(&ada, &clip(dir.path(), "c.mp4", 2.0), "Talk", "public");
    wait_ready(&ada, &id);
    // Ten a minute per account: three people write nine each.
    for name in ["Bea", "Cy", "Di"] {
        let p = signed_up(&control, name);
        for i in 0..9 {
            let r = p.write(
                "POST",
                &format!("/api/v1/videos/{id}/comments"),
                serde_json::json!({ "body": format!("{name} says {i}") }),
            );
            assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        }
    }
    let page = |n: u32| {
        String::from_utf8_lossy(
            &Person::new(&control)
                .send("GET", &format!("/watch/{id}?comments={n}"), &[], vec![])
                .body,
        )
        .into_owned()
    };
    let first = page(1);
    assert_eq!(first.matches("class=\"comment\"").count(), 20);
    assert!(first.contains("Di says 8"), "newest first");
    assert!(first.contains(&format!(
        "href=\"/watch/{id}?comments=2#comments-title\">Older comments"
    )));
    assert!(!first.contains("Newer comments"));
    let second = page(2);
    assert_eq!(second.matches("class=\"comment\"").count(), 7);
    assert!(second.contains("Bea says 0"), "the oldest last");
    assert!(second.contains("Newer comments") && !second.contains("Older comments"));
    assert!(page(0).contains("Di says 8"), "page 0 is page 1");
}
