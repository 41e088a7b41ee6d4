//! Views counted honestly, with a real edge and control plane sharing a views secret: a view
//! needs a receipt the edge gave for media it served under the page's ticket, counts once per
//! receipt and once per viewer an hour, not before its media could have been watched, and
//! never for a playlist, a forged ticket or a forged receipt.

mod common;

use common::people::{signed_up, upload, wait_ready, Person};
use common::*;
use serde_json::json;

const SECRET: &str = "5ec2e75ec2e75ec2e75ec2e75ec2e75e";

/// The edge and control plane, sharing the views secret; a view needs 2 s.
fn platform(store: &str) -> (Edge, Control) {
    let edge = Edge::start(
        store,
        &[],
        &[("SUNOMI_VIEW_SECRET".to_string(), SECRET.to_string())],
    );
    let control = Control::start(Options {
        store: store.to_string(),
        config: format!(
            "edge_url = \"{}\"\nedge_admin_urls = [\"{}\"]\n[views]\nsecret = \"{SECRET}\"\nneed_secs = 2\n",
            edge.base, edge.admin
        ),
        ..Default::default()
    });
    (edge, control)
}

/// The value of attribute `name` of the watch page's player.
fn attribute(page: &str, name: &str) -> String {
    let start = page
        .find(&format!(" {name}=\""))
        .unwrap_or_else(|| panic!("{name} on the page"))
        + name.len()
        + 3;
    let len = page[start..].find('"').unwrap();
    page[start..start + len].replace("&amp;", "&")
}

/// The watch page as `person` sees it: its ticket and master playlist URL.
fn watch(person: &Person, id: &str) -> (String, String) {
    let page = person.send("GET", &format!("/watch/{id}"), &[], vec![]);
    assert_eq!(page.status, 200);
    let page = String::from_utf8(page.body).unwrap();
    (
        attribute(&page, "data-view-ticket"),
        attribute(&page, "data-src"),
    )
}

/// `url` with the CMCD session id `sid` as hls.js sends it (query mode).
fn with_sid(url: &str, sid: &str) -> String {
    let cmcd = format!("sid=\"{sid}\"");
    let encoded: String = url::form_urlencoded::byte_serialize(cmcd.as_bytes()).collect();
    format!("{url}?CMCD={encoded}")
}

/// The first URI of a playlist, absolute.
fn first_uri(playlist_url: &str, body: &str) -> String {
    let line = body
        .lines()
        .find(|l| !l.starts_with('#') && !l.trim().is_empty())
        .expect("a URI in the playlist");
    let dir = &playlist_url[..playlist_url.rfind('/').unwrap() + 1];
    format!("{dir}{}", line.split('?').next().unwrap())
}

/// Plays the beginning of the video as a player with `sid` would: master, media playlist,
/// the first segment; the receipt on each answer.
fn play(api: &Api, master: &str, sid: &str) -> Vec<(String, Option<String>)> {
    let mut seen = Vec::new();
    let get = |url: &str| {
        let r = api.get(&with_sid(url, sid));
        assert!(r.status == 200, "{url}: {}", r.status);
        (r.header("sunomi-view-receipt").map(str::to_string), r)
    };
    let (receipt, m) = get(master);
    seen.push(("master".to_string(), receipt));
    let media = first_uri(master, &String::from_utf8_lossy(&m.body));
    let (receipt, p) = get(&media);
    seen.push(("media playlist".to_string(), receipt));
    let segment = String::from_utf8_lossy(&p.body)
        .lines()
        .find(|l| l.ends_with(".m4s") && !l.contains("init"))
        .map(|l| format!("{}{l}", &media[..media.rfind('/').unwrap() + 1]))
        .expect("a segment");
    let (receipt, s) = get(&segment);
    if receipt.is_some() {
        assert_eq!(s.header("cache-control"), Some("private, no-store"));
    }
    seen.push(("segment".to_string(), receipt));
    seen
}

fn receipt_of(api: &Api, master: &str, ticket: &str) -> String {
    let seen = play(api, master, ticket);
    assert_eq!(seen[0].1, None, "the master playlist earns no receipt");
    assert_eq!(seen[1].1, None, "a media playlist earns no receipt");
    seen[2].1.clone().expect("a receipt for the segment")
}

/// Posts a receipt until its media could have been watched; the answer.
fn count(person: &Person, id: &str, receipt: &str, csrf: bool) -> serde_json::Value {
    let body = json!({ "receipt": receipt });
    loop {
        let r = if csrf {
            person.write("POST", &format!("/api/v1/videos/{id}/views"), body.clone())
        } else {
            person.send(
                "POST",
                &format!("/api/v1/videos/{id}/views"),
                &[],
                body.to_string().into_bytes(),
            )
        };
        if r.status == 425 {
            assert_eq!(r.json()["code"], "too_early");
            let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
            assert!((1..=2).contains(&wait), "retry after {wait}");
            std::thread::sleep(std::time::Duration::from_secs(wait));
            continue;
        }
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        return r.json();
    }
}

#[test]
fn a_view_counts_for_served_media_once_per_receipt_and_viewer() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    let (edge, control) = platform(&store);
    let ada = signed_up(&control, "Ada");
    let bob = signed_up(&control, "Bob");
    let guest = Person::new(&control);
    let file = clip(dir.path(), "clip.mp4", 3.0);
    let id = upload(&ada, &file, "First walk", "public");
    let other = upload(&ada, &file, "Second walk", "public");
    wait_ready(&ada, &id);
    wait_ready(&ada, &other);
    let player = Api {
        base: edge.base.clone(),
        key: String::new(),
    };
    let get_json = |path: &str| guest.send("GET", path, &[], vec![]).json();
    let views_of = |id: &str| get_json(&format!("/api/v1/videos/{id}"))["views"].clone();
    assert_eq!(views_of(&id), 0);

    // A forged ticket (another secret's signature) is served but earns nothing.
    let (ticket, master) = watch(&guest, &id);
    let forged = format!("{}{}", &ticket[..ticket.len() - 4], "0000");
    assert!(play(&player, &master, &forged)
        .iter()
        .all(|(_, r)| r.is_none()));
    assert!(play(&player, &master, "not-a-ticket")
        .iter()
        .all(|(_, r)| r.is_none()));
    // Another video's ticket earns nothing on this one.
    let (other_ticket, _) = watch(&guest, &other);
    assert!(play(&player, &master, &other_ticket)
        .iter()
        .all(|(_, r)| r.is_none()));

    // The real ticket: a receipt once a segment is served, counted once its 2 s have passed.
    let receipt = receipt_of(&player, &master, &ticket);
    assert_eq!(
        count(&guest, &id, &receipt, false),
        json!({ "counted": true, "views": 1 })
    );
    assert_eq!(views_of(&id), 1);
    // The same receipt again counts nothing.
    assert_eq!(
        count(&guest, &id, &receipt, false),
        json!({ "counted": false, "views": 1 })
    );
    // A reload (a new ticket, a new receipt) within the hour counts nothing more.
    let (again, _) = watch(&guest, &id);
    let receipt2 = receipt_of(&player, &master, &again);
    assert_eq!(
        count(&guest, &id, &receipt2, false),
        json!({ "counted": false, "views": 1 })
    );

    // Forged and misplaced receipts are refused and count nothing.
    let (t3, _) = watch(&guest, &id);
    let receipt3 = receipt_of(&player, &master, &t3);
    let tampered = receipt3.replacen(".2000.", ".1.", 1);
    for (video, bad) in [
        (&id, tampered.as_str()),
        (&id, &receipt3[..receipt3.len() - 1]),
        (&id, t3.as_str()),
        (&other, receipt3.as_str()),
    ] {
        let r = guest.send(
            "POST",
            &format!("/api/v1/videos/{video}/views"),
            &[],
            json!({ "receipt": bad }).to_string().into_bytes(),
        );
        assert_eq!(r.status, 400, "{bad}");
        assert_eq!(r.json()["code"], "invalid_receipt");
    }
    assert_eq!(views_of(&id), 1);

    // A signed-in person is their own viewer, but only with the session's CSRF token: a
    // request without it counts as the guest at that address (already counted).
    let (t4, _) = watch(&bob, &id);
    let receipt4 = receipt_of(&player, &master, &t4);
    assert_eq!(
        count(&bob, &id, &receipt4, false),
        json!({ "counted": false, "views": 1 })
    );
    let (t5, _) = watch(&bob, &id);
    let receipt5 = receipt_of(&player, &master, &t5);
    assert_eq!(
        count(&bob, &id, &receipt5, true),
        json!({ "counted": true, "views": 2 })
    );
    let (t6, _) = watch(&bob, &id);
    let receipt6 = receipt_of(&player, &master, &t6);
    assert_eq!(
        count(&bob, &id, &receipt6, true),
        json!({ "counted": false, "views": 2 })
    );

    // Counters show at once: the card, and the popular order puts it first.
    let home = guest.send("GET", "/?sort=popular", &[], vec![]);
    let home = String::from_utf8(home.body).unwrap();
    assert!(home.contains("2 views"), "{home}");
    assert!(home.find("First walk").unwrap() < home.find("Second walk").unwrap());
    let popular = get_json("/api/v1/videos?sort=popular");
    assert_eq!(popular["data"][0]["id"], id.as_str());
    assert_eq!(popular["data"][0]["views"], 2);
    assert_eq!(
        get_json("/api/v1/videos?sort=newest")["data"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let odd = guest.send("GET", "/api/v1/videos?sort=sideways", &[], vec![]);
    assert_eq!(odd.status, 400);
}

#[test]
fn without_a_views_secret_pages_get_no_ticket_and_receipts_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    let control = Control::start(Options {
        store: store.clone(),
        ..Default::default()
    });
    let ada = signed_up(&control, "Ada");
    let file = clip(dir.path(), "clip.mp4", 2.0);
    let id = upload(&ada, &file, "Ada's walk", "public");
    wait_ready(&ada, &id);
    let page = ada.send("GET", &format!("/watch/{id}"), &[], vec![]);
    let page = String::from_utf8(page.body).unwrap();
    assert!(page.contains("data-src=") && !page.contains("data-view-ticket"));
    assert!(page.contains("0 views"));
    let r = ada.write(
        "POST",
        &format!("/api/v1/videos/{id}/views"),
        json!({ "receipt": "r1.a.b.1.1.1.00" }),
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["code"], "invalid_receipt");
}
