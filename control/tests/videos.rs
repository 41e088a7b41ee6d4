//! People's videos through the API: a signed-in person starts one and sends the file with
//! the upload-only token it gets (never an API key); who may see and change a video, checked
//! with a second account; a private video's URL plays nothing.

mod common;

use common::people::{signed_up, upload, wait_ready, Person};
use common::*;
use serde_json::json;

#[test]
fn a_private_video_is_its_owners_alone_and_only_owners_change_theirs() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    let edge = Edge::start(&store, &[], &[]);
    let control = Control::start(Options {
        store: store.clone(),
        config: format!("edge_admin_urls = [\"{}\"]\n", edge.admin),
        ..Default::default()
    });
    let ada = signed_up(&control, "Ada");
    let bob = signed_up(&control, "Bob");
    let guest = Person::new(&control);
    let file = clip(dir.path(), "clip.mp4", 2.0);

    let public = upload(&ada, &file, "A public walk", "public");
    let private = upload(&ada, &file, "My private walk", "private");
    let shown = wait_ready(&ada, &public);
    assert_eq!(shown["owner"]["display_name"], "Ada");
    let url = shown["playback_url"]
        .as_str()
        .expect("a public video plays")
        .to_string();
    let private_view = wait_ready(&ada, &private);
    assert!(
        private_view["playback_url"].is_null(),
        "a private video has no public URL"
    );

    // Someone else's private video does not exist for them, signed in or not.
    for (who, p) in [("bob", &bob), ("a guest", &guest)] {
        let r = p.send("GET", &format!("/api/v1/videos/{private}"), &[], vec![]);
        assert_eq!(
            (r.status, r.json()["code"].as_str()),
            (404, Some("not_found")),
            "{who}"
        );
        assert_eq!(
            p.send("GET", &format!("/api/v1/videos/{public}"), &[], vec![])
                .status,
            200
        );
    }
    // The home listing shows public, ready videos only.
    let listed: Vec<String> = guest.send("GET", "/api/v1/videos", &[], vec![]).json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(listed, std::slice::from_ref(&public));
    // Search finds public videos by every word, in any case, and never a private one.
    let found = guest.send("GET", "/search?q=WALK%20public", &[], vec![]);
    let page = String::from_utf8_lossy(&found.body);
    assert_eq!(found.status, 200);
    assert!(page.contains("A public walk"), "{page}");
    let found = guest.send("GET", "/search?q=walk", &[], vec![]);
    assert!(!String::from_utf8_lossy(&found.body).contains("My private walk"));
    let found = guest.send("GET", "/search?q=%25", &[], vec![]);
    assert!(
        String::from_utf8_lossy(&found.body).contains("No videos match"),
        "% is a character, not a wildcard"
    );
    // Ada's own list has both.
    let mine = ada.send("GET", "/api/v1/me/videos", &[], vec![]).json();
    assert_eq!(mine["data"].as_array().unwrap().len(), 2);

    // The pages keep to the same rules: the private video's page and picture are the owner's;
    // a studio lists only its owner's videos; the studio and upload pages need a session.
    let page = |p: &Person, path: &str| {
        let r = p.send("GET", path, &[], vec![]);
        (r.status, String::from_utf8_lossy(&r.body).into_owned())
    };
    for (who, p) in [("bob", &bob), ("a guest", &guest)] {
        assert_eq!(page(p, &format!("/watch/{private}")).0, 404, "{who}");
        assert_eq!(
            page(p, &format!("/videos/{private}/poster.jpg")).0,
            404,
            "{who}"
        );
        assert_eq!(page(p, &format!("/watch/{public}")).0, 200, "{who}");
    }
    let (status, watch) = page(&ada, &format!("/watch/{private}"));
    assert_eq!(status, 200);
    assert!(watch.contains("My private walk"));
    // Its owner plays it from the page: its signed playback id, with a token the page got
    // (the web app's own signing key); without the token the edge refuses it.
    let src = watch
        .split("data-src=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("the private video's player")
        .replace("&amp;", "&")
        .replace("http://edge.test", &edge.base);
    assert!(src.contains("/master.m3u8?token="), "{src}");
    decodes(&src);
    let bare = src.split('?').next().unwrap();
    assert_eq!(
        http_status(bare),
        403,
        "a private video's URL alone plays nothing"
    );
    let keys = control
        .api(&create_key(&store, &[]))
        .get("/api/v1/signing-keys");
    assert_eq!(
        keys.json().as_array().map(Vec::len),
        Some(1),
        "one page key, made once"
    );
    page(&ada, &format!("/watch/{private}"));
    let keys = control
        .api(&create_key(&store, &[]))
        .get("/api/v1/signing-keys");
    assert_eq!(keys.json().as_array().map(Vec::len), Some(1));
    assert_eq!(page(&ada, &format!("/videos/{private}/poster.jpg")).0, 200);
    let (status, studio) = page(&bob, "/studio");
    assert_eq!(status, 200);
    assert!(
        !studio.contains("walk"),
        "Bob's studio lists none of Ada's videos: {studio}"
    );
    assert!(page(&ada, "/studio").1.contains("My private walk"));
    for path in ["/studio", "/upload", "/feed"] {
        // (The client follows the redirect.)
        let (status, body) = page(&guest, path);
        assert!(
            status == 200 && body.contains("<h1>Sign in</h1>"),
            "{path} sends a guest to sign in"
        );
    }
    // Every page carries its policy: scripts only from the app, media only from the edge.
    let home = guest.send("GET", "/", &[], vec![]);
    let csp = home.header("content-security-policy").unwrap_or_default();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(home.header("x-content-type-options"), Some("nosniff"));

    // Only the owner changes or deletes: Bob sees the public one but may not touch it, and
    // for him the private one is not there at all.
    let r = bob.write(
        "PATCH",
        &format!("/api/v1/videos/{public}"),
        json!({ "title": "mine now" }),
    );
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (403, Some("forbidden"))
    );
    let r = bob.write("DELETE", &format!("/api/v1/videos/{private}"), json!({}));
    assert_eq!(r.status, 404);
    let r = guest.write("DELETE", &format!("/api/v1/videos/{public}"), json!({}));
    assert_eq!(r.status, 401);
    // Without the CSRF token a session cannot change anything.
    let r = ada.send(
        "PATCH",
        &format!("/api/v1/videos/{public}"),
        &[],
        json!({ "title": "x" }).to_string().into_bytes(),
    );
    assert_eq!(r.status, 403);

    // Made private, the public URL stops playing on the edge as soon as the answer comes.
    let on_edge = url.replace("http://edge.test", &edge.base);
    assert_eq!(http_status(&on_edge), 200);
    let r = ada.write(
        "PATCH",
        &format!("/api/v1/videos/{public}"),
        json!({ "title": "Now private", "visibility": "private" }),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["title"], "Now private");
    assert!(r.json()["playback_url"].is_null());
    assert_ne!(
        http_status(&on_edge),
        200,
        "the old public URL must not play"
    );
    assert_eq!(
        bob.send("GET", &format!("/api/v1/videos/{public}"), &[], vec![])
            .status,
        404
    );

    // The owner deletes; it is gone for everyone.
    assert_eq!(
        ada.write("DELETE", &format!("/api/v1/videos/{private}"), json!({}))
            .status,
        204
    );
    assert_eq!(
        ada.send("GET", &format!("/api/v1/videos/{private}"), &[], vec![])
            .status,
        404
    );
}

#[test]
fn bad_video_requests_get_problems() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    let control = Control::start(Options {
        store,
        no_workers: true,
        ..Default::default()
    });
    let ada = signed_up(&control, "Ada");
    for (body, code) in [
        (json!({ "title": " ", "size": 10 }), "invalid_request"),
        (
            json!({ "title": "x".repeat(101), "size": 10 }),
            "invalid_request",
        ),
        (json!({ "title": "ok", "size": 0 }), "invalid_request"),
        (
            json!({ "title": "ok", "size": 10, "visibility": "secret" }),
            "invalid_request",
        ),
        (json!({ "title": "ok", "size": 1u64 << 50 }), "too_large"),
    ] {
        let r = ada.write("POST", "/api/v1/videos", body.clone());
        assert_eq!(r.json()["code"], code, "{body}");
    }
    let r = Person::new(&control).write(
        "POST",
        "/api/v1/videos",
        json!({ "title": "ok", "size": 10 }),
    );
    assert_eq!(r.status, 401);
    for id in ["nope", "../x", &"a".repeat(300)] {
        let r = ada.send("GET", &format!("/api/v1/videos/{id}"), &[], vec![]);
        assert_eq!(r.status, 404, "{id}");
    }
    let r = ada.send("GET", "/api/v1/videos?page=0", &[], vec![]);
    assert_eq!(r.status, 400);
}

/// Search is ranked (a word in the title outranks one in the channel name, which outranks one
/// in the description), matches whole words, finds channel names and what captions say,
/// offers titles while typing (the last word a prefix), and never finds private videos or
/// lets engine syntax through.
#[test]
fn search_ranks_titles_first_matches_whole_words_and_suggests_titles() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    let control = Control::start(Options {
        store: store.clone(),
        ..Default::default()
    });
    let ada = signed_up(&control, "Ada");
    let heron = signed_up(&control, "Heron");
    let guest = Person::new(&control);
    let file = clip(dir.path(), "clip.mp4", 2.0);
    let described = upload(&ada, &file, "A quiet morning", "public");
    let by_channel = upload(&heron, &file, "Reeds at dusk", "public");
    let titled = upload(&ada, &file, "A heron of the marsh", "public");
    let hidden = upload(&ada, &file, "Heron secrets", "private");
    for id in [&described, &titled, &hidden] {
        wait_ready(&ada, id);
    }
    wait_ready(&heron, &by_channel);
    let r = ada.write(
        "PATCH",
        &format!("/api/v1/videos/{described}"),
        json!({ "description": "A heron fishing in the fog." }),
    );
    assert_eq!(r.status, 200);
    let search = |q: &str| {
        let r = guest.send("GET", &format!("/api/v1/search?q={q}"), &[], vec![]);
        assert_eq!(r.status, 200, "{q}: {}", String::from_utf8_lossy(&r.body));
        r.json()
    };
    let found = search("heron");
    let order: Vec<&str> = found["videos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        order,
        vec![titled.as_str(), by_channel.as_str(), described.as_str()],
        "title, then channel name, then description; never the private one"
    );
    // Whole words, in any order and case; a search is not a prefix (suggestions are).
    assert_eq!(search("MARSH%20heron")["videos"][0]["id"], titled);
    assert_eq!(
        search("marsh%20heron%20of")["videos"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    assert_eq!(search("mars")["videos"], json!([]));
    // Engine syntax is only words.
    for q in ["%22", "heron%22*%20OR%20x", "NEAR(heron)", "a%26b%7C!c:*"] {
        search(q);
    }
    // Suggestions while typing: the last word may be unfinished.
    let r = guest.send(
        "GET",
        "/api/v1/search/suggestions?q=marsh%20her",
        &[],
        vec![],
    );
    let titles = r.json()["data"].clone();
    assert_eq!(titles[0], "A heron of the marsh", "{titles}");
    assert!(!titles.to_string().contains("secrets"));
    assert_eq!(
        guest
            .send(
                "GET",
                &format!("/api/v1/search?q={}", "x".repeat(1001)),
                &[],
                vec![]
            )
            .status,
        400
    );
    // What captions say, at the moment they say it.
    let key = create_key(&store, &[]);
    let vtt = "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nthe grey bird\n\n\
               00:00:01.000 --> 00:00:02.000\nlands on a heron's nest\n";
    let r = control.api(&key).send(
        "PUT",
        &format!("/api/v1/assets/{by_channel}/captions/en"),
        &[("content-type", "text/vtt")],
        vtt.as_bytes().to_vec(),
    );
    assert_eq!(r.status, 204);
    let moments = search("heron%20nest")["moments"].clone();
    assert_eq!(moments[0]["video"]["id"], by_channel, "{moments}");
    assert_eq!(moments[0]["at_secs"], 1);
    assert_eq!(moments[0]["text"], "lands on a heron's nest");
}

/// An uploader's captions through their session: upload, replace, delete; checked like the
/// API-key route; only the owner (another account: 403 on a public video, 404 on a private
/// one).
#[test]
fn owners_name_the_spoken_language_and_manage_captions_with_their_session() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    let control = Control::start(Options {
        store: store.clone(),
        ..Default::default()
    });
    let ada = signed_up(&control, "Ada");
    let bob = signed_up(&control, "Bob");
    let file = clip(dir.path(), "clip.mp4", 2.0);
    let public = upload(&ada, &file, "Open", "public");
    let private = upload(&ada, &file, "Closed", "private");
    wait_ready(&ada, &public);
    wait_ready(&ada, &private);
    // The spoken language an uploader names reaches the captions backend (the asset's meta).
    let r = ada.write(
        "POST",
        "/api/v1/videos",
        json!({ "title": "Parlé", "size": 10, "language": "fr" }),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let spoken = r.json()["video"]["id"].as_str().unwrap().to_string();
    let key = create_key(&store, &[]);
    assert_eq!(control.api(&key).asset(&spoken)["meta"]["language"], "fr");
    let r = ada.write(
        "POST",
        "/api/v1/videos",
        json!({ "title": "Bad", "size": 10, "language": "French" }),
    );
    assert_eq!(r.status, 400);
    let vtt = "WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nhello there\n";
    let put = |p: &Person, id: &str, lang: &str, body: &str| {
        p.send(
            "PUT",
            &format!("/api/v1/videos/{id}/captions/{lang}"),
            &[
                ("content-type", "text/vtt"),
                ("x-csrf-token", p.csrf.as_deref().unwrap_or_default()),
            ],
            body.as_bytes().to_vec(),
        )
    };
    let r = put(&ada, &public, "en", vtt);
    assert_eq!(r.status, 204, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(put(&ada, &public, "en", "not vtt").status, 400);
    assert_eq!(put(&ada, &public, "EN", vtt).status, 400);
    assert_eq!(put(&bob, &public, "en", vtt).status, 403);
    assert_eq!(put(&bob, &private, "en", vtt).status, 404);
    let no_csrf = ada.send(
        "PUT",
        &format!("/api/v1/videos/{public}/captions/fr"),
        &[("content-type", "text/vtt")],
        vtt.as_bytes().to_vec(),
    );
    assert_eq!(no_csrf.status, 403, "CSRF-safe");
    let page = String::from_utf8_lossy(
        &ada.send("GET", &format!("/studio/{public}"), &[], vec![])
            .body,
    )
    .into_owned();
    assert!(page.contains("Delete the en captions"), "{page}");
    let found = Person::new(&control)
        .send("GET", "/api/v1/search?q=hello%20there", &[], vec![])
        .json();
    assert_eq!(
        found["moments"][0]["video"]["id"],
        public.as_str(),
        "{found}"
    );
    let delete = |p: &Person| {
        p.send(
            "DELETE",
            &format!("/api/v1/videos/{public}/captions/en"),
            &[("x-csrf-token", p.csrf.as_deref().unwrap_or_default())],
            vec![],
        )
    };
    assert_eq!(delete(&bob).status, 403);
    assert_eq!(delete(&ada).status, 204);
    assert_eq!(delete(&ada).status, 404);
}
