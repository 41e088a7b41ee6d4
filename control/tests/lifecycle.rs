//! The embedded control plane end to end on a local store: upload → events in order →
//! `ready` → the edge plays it → delete → the edge answers 404; and every kind of bad source
//! ending `errored` with its code, nothing published.

mod common;

use std::time::Duration;

use common::*;

fn store_of(dir: &std::path::Path) -> String {
    dir.join("store").to_string_lossy().into_owned()
}

#[test]
fn upload_plays_on_the_edge_and_delete_takes_it_away() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_of(dir.path());
    let edge = Edge::start(&store, &[], &[]);
    let control = Control::start(Options {
        store: store.clone(),
        config: format!("edge_admin_urls = [\"{}\"]\n", edge.admin),
        ..Default::default()
    });
    let api = control.api(&create_key(&store, &[]));
    let src = clip(dir.path(), "clip.mp4", 5.0);

    let (code, out, err) = upload_cli(&src, &api, true);
    assert_eq!(code, 0, "upload --wait failed: {err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "the asset id, then the playback URL: {out}");
    let id = lines[0];
    let pid = api.asset(id)["playback_ids"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(pid, id, "edge URLs carry playback ids, never asset ids");
    assert_eq!(lines[1], format!("http://edge.test/v/{pid}/master.m3u8"));

    // Every event, in order, replayed from the asset's record.
    let events = api.events_until(id, None, "video.asset.ready");
    let kinds: Vec<&str> = events.iter().map(|(_, k)| k.as_str()).collect();
    let expected_order = [
        "video.asset.created",
        "video.upload.created",
        "video.asset.uploaded",
        "video.upload.asset_created",
        "video.asset.validating",
        "video.asset.transcoding",
        "video.asset.track.ready",
        "video.asset.analyzing",
        "video.asset.stage.skipped",
        "video.asset.ready",
    ];
    let mut at = 0;
    for k in &kinds {
        if at < expected_order.len() && *k == expected_order[at] {
            at += 1;
        }
    }
    assert_eq!(at, expected_order.len(), "events out of order: {kinds:?}");
    for (i, (eid, _)) in events.iter().enumerate() {
        assert_eq!(eid, &format!("{id}.{}", i + 1), "ids count up from 1");
    }
    // Resuming with Last-Event-ID gives exactly what follows.
    let resumed = api.events_until(id, Some(&events[2].0), "video.asset.ready");
    assert_eq!(resumed, events[3..].to_vec());

    // The global stream has them too, with ids of its own, and resumes the same way.
    let global = api.stream_until("/api/v1/events", Some("0"), "video.asset.ready");
    let global_kinds: Vec<&str> = global.iter().map(|(_, k)| k.as_str()).collect();
    assert_eq!(global_kinds, kinds, "one asset so far: the same events");
    let resumed = api.stream_until("/api/v1/events", Some(&global[4].0), "video.asset.ready");
    assert_eq!(resumed, global[5..].to_vec());
    let bad = api.send("GET", "/api/v1/events", &[("last-event-id", "x-y")], vec![]);
    assert_eq!(bad.status, 400);
    let bad = api.send(
        "GET",
        &format!("/api/v1/assets/{id}/events"),
        &[("last-event-id", "other.3")],
        vec![],
    );
    assert_eq!(bad.status, 400);

    let asset = api.asset(id);
    assert_eq!(asset["status"], "ready");
    assert_eq!(asset["progress"], 100);
    assert_eq!(asset["stages"]["captions"]["status"], "skipped");
    assert_eq!(asset["stages"]["moderation"]["status"], "skipped");
    assert_eq!(asset["stages"]["transcode"]["status"], "completed");
    assert!(asset["renditions"]
        .as_array()
        .is_some_and(|r| !r.is_empty()));
    assert_eq!(asset["playback_ids"][0]["policy"], "public");

    // The edge plays it by its playback id, not by its asset id.
    let master = format!("{}/v/{pid}/master.m3u8", edge.base);
    decodes(&master);
    assert_eq!(
        http_status(&format!("{}/v/{id}/master.m3u8", edge.base)),
        404
    );

    // A second playback id plays too; revoking it stops it at once, the first plays on.
    let r = api.send(
        "POST",
        &format!("/api/v1/assets/{id}/playback-ids"),
        &[("content-type", "application/json")],
        br#"{"policy":"public"}"#.to_vec(),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let second = r.json()["id"].as_str().unwrap().to_string();
    let second_master = format!("{}/v/{second}/master.m3u8", edge.base);
    decodes(&second_master);
    let r = api.send(
        "DELETE",
        &format!("/api/v1/assets/{id}/playback-ids/{second}"),
        &[],
        vec![],
    );
    assert_eq!(r.status, 204);
    assert_eq!(http_status(&second_master), 404);
    assert_eq!(http_status(&master), 200);
    let again = api.send(
        "DELETE",
        &format!("/api/v1/assets/{id}/playback-ids/{second}"),
        &[],
        vec![],
    );
    assert_eq!(again.status, 404);
    assert_eq!(api.asset(id)["playback_ids"].as_array().unwrap().len(), 1);

    // Uploaded captions: checked, stored, listed by every edge at once; deleted likewise.
    let vtt = b"WEBVTT\n\n00:00:00.500 --> 00:00:02.000\nHello\n".to_vec();
    let captions = format!("/api/v1/assets/{id}/captions/en");
    assert_eq!(
        api.send(
            "PUT",
            &captions,
            &[("content-type", "text/vtt")],
            vtt.clone()
        )
        .status,
        204
    );
    let listed = reqwest::blocking::get(&master).unwrap().text().unwrap();
    assert!(
        listed.contains("TYPE=SUBTITLES") && listed.contains("LANGUAGE=\"en\""),
        "{listed}"
    );
    let bad = api.send("PUT", &captions, &[], b"not a caption file".to_vec());
    assert_eq!(bad.status, 400);
    let bad_lang = api.send(
        "PUT",
        &format!("/api/v1/assets/{id}/captions/EN!"),
        &[],
        vtt,
    );
    assert_eq!(bad_lang.status, 400);
    assert_eq!(api.send("DELETE", &captions, &[], vec![]).status, 204);
    let listed = reqwest::blocking::get(&master).unwrap().text().unwrap();
    assert!(!listed.contains("TYPE=SUBTITLES"), "{listed}");
    assert_eq!(api.send("DELETE", &captions, &[], vec![]).status, 404);
    // A signed playback id is refused until signed playback exists (never served open).
    let record = format!(r#"{{"id":"signedpid","video_id":"{id}","policy":"signed"}}"#);
    let playback = std::path::Path::new(&store).join("playback");
    std::fs::write(playback.join("signedpid.json"), record).unwrap();
    assert_eq!(
        http_status(&format!("{}/v/signedpid/master.m3u8", edge.base)),
        403
    );
    std::fs::remove_file(playback.join("signedpid.json")).unwrap();

    // Delete: every object goes and the edge stops serving at once (purged before 204).
    let r = api.send("DELETE", &format!("/api/v1/assets/{id}"), &[], Vec::new());
    assert_eq!(r.status, 204);
    assert_eq!(http_status(&master), 404);
    let left = files_under(&std::path::Path::new(&store).join("videos").join(id));
    assert!(left.is_empty(), "objects left behind: {left:?}");
    assert_eq!(api.get(&format!("/api/v1/assets/{id}")).status, 404);
    let after_ready = global.last().unwrap().0.clone();
    let deleted = api.stream_until("/api/v1/events", Some(&after_ready), "video.asset.deleted");
    assert_eq!(deleted.last().unwrap().1, "video.asset.deleted");
    assert_eq!(http_status(&format!("{}/readyz", control.admin)), 200);
    assert!(
        control
            .metric("sunomi_jobs_completed_total{kind=\"transcode\"}")
            .unwrap()
            >= 1.0
    );
    let again = api.send("DELETE", &format!("/api/v1/assets/{id}"), &[], Vec::new());
    assert_eq!(again.status, 404);
}

#[test]
fn bad_sources_end_errored_with_their_codes_and_nothing_is_published() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_of(dir.path());
    let control = Control::start(Options {
        store: store.clone(),
        config: "[limits]\nmin_duration_secs = 1.0\nmax_duration_secs = 8.0\n".into(),
        ..Default::default()
    });
    let api = control.api(&create_key(&store, &[]));
    let d = dir.path();

    let random = d.join("random.mp4");
    let noise: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&random, noise).unwrap();
    let text = d.join("notes.mp4");
    std::fs::write(&text, "these are my notes, not a video\n".repeat(100)).unwrap();
    let whole = clip(d, "whole.mp4", 6.0);
    let bytes = std::fs::read(&whole).unwrap();
    let truncated = d.join("truncated.mp4");
    std::fs::write(&truncated, &bytes[..bytes.len() * 2 / 5]).unwrap();
    let short = clip(d, "short.mp4", 0.4);
    let long = clip(d, "long.mp4", 10.0);
    let cases = [
        (&random, "ERR_NON_VIDEO"),
        (&text, "ERR_NON_VIDEO"),
        (&truncated, "ERR_MALFORMED_VIDEO"),
        (&short, "ERR_DURATION_TOO_SHORT"),
        (&long, "ERR_DURATION_EXCEED_CONSTRAINT"),
    ];
    for (file, code) in cases {
        let (exit, out, err) = upload_cli(file, &api, true);
        assert_ne!(exit, 0, "{} should fail", file.display());
        assert!(
            err.contains(code),
            "{}: expected {code} in: {err}",
            file.display()
        );
        let id = out.lines().next().expect("the asset id is printed first");
        let asset = api.asset(id);
        assert_eq!(asset["status"], "errored");
        assert_eq!(asset["errors"]["code"], code);
        assert!(asset["errors"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
        assert!(asset.get("playback_url").is_none());
        let folder = std::path::Path::new(&store).join("videos").join(id);
        assert!(
            !folder.join("manifest.json").exists() && !folder.join("runs").exists(),
            "{code}: nothing may be published"
        );
    }

    // An empty upload.
    let r = api.send(
        "POST",
        "/api/v1/tus",
        &[("tus-resumable", "1.0.0"), ("upload-length", "0")],
        Vec::new(),
    );
    assert_eq!(r.status, 201);
    let upload = r
        .header("location")
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    let u = api.get(&format!("/api/v1/uploads/{upload}")).json();
    let asset = api.wait_final(u["asset_id"].as_str().unwrap(), Duration::from_secs(30));
    assert_eq!(asset["errors"]["code"], "ERR_EMPTY_UPLOAD");
}

#[test]
fn unknown_malformed_and_unauthenticated_requests_get_problems() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_of(dir.path());
    let control = Control::start(Options {
        store: store.clone(),
        no_workers: true,
        ..Default::default()
    });
    let api = control.api(&create_key(&store, &[]));
    let problem = |r: &Reply, status: u16, code: &str| {
        assert_eq!(r.status, status, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.header("content-type"), Some("application/problem+json"));
        let p = r.json();
        assert_eq!(p["status"], status);
        assert_eq!(p["code"], code);
        assert!(p["detail"].as_str().is_some_and(|d| !d.is_empty()));
    };
    problem(&api.get("/api/v1/assets/nope"), 404, "not_found");
    problem(&api.get("/api/v1/assets/..%2f..%2fetc"), 404, "not_found");
    problem(&api.get("/api/v1/uploads/a.b"), 404, "not_found");
    problem(&api.get("/api/v1/nothing"), 404, "not_found");
    problem(
        &api.send("PUT", "/api/v1/assets", &[], vec![]),
        405,
        "method_not_allowed",
    );
    let anon = Api {
        base: api.base.clone(),
        key: "sk_nope_nope".into(),
    };
    let r = anon.get("/api/v1/assets");
    problem(&r, 401, "unauthorized");
    assert!(r.header("www-authenticate").is_some());
    problem(
        &api.send(
            "GET",
            "/api/v1/assets",
            &[("authorization", "Basic eDp5")],
            vec![],
        ),
        401,
        "unauthorized",
    );
    problem(
        &api.send(
            "POST",
            "/api/v1/uploads",
            &[("content-type", "application/json")],
            b"{not json".to_vec(),
        ),
        400,
        "invalid_request",
    );
    problem(
        &api.send("POST", "/api/v1/uploads", &[], b"{}".to_vec()),
        415,
        "unsupported_media_type",
    );
    problem(
        &api.send(
            "POST",
            "/api/v1/uploads",
            &[("content-type", "application/json")],
            format!("{{\"passthrough\":\"{}\"}}", "x".repeat(300)).into_bytes(),
        ),
        400,
        "invalid_request",
    );
    problem(&api.get("/api/v1/assets?limit=0"), 400, "invalid_request");
    problem(&api.get("/api/v1/assets?limit=abc"), 400, "invalid_request");
    problem(
        &api.send("POST", "/api/v1/jobs/nope/retry", &[], vec![]),
        404,
        "not_found",
    );
    // Revoked keys stop working.
    let (code, out, _) = control_cmd_keys(&store, "list");
    assert_eq!(code, 0);
    let key_id = out
        .lines()
        .next()
        .unwrap()
        .split('\t')
        .next()
        .unwrap()
        .to_string();
    let (code, _, _) = control_cmd_keys(&store, &format!("revoke {key_id}"));
    assert_eq!(code, 0);
    wait_until(Duration::from_secs(10), "the revocation", || {
        api.get("/api/v1/assets").status == 401
    });
}

fn control_cmd_keys(store: &str, action: &str) -> (i32, String, String) {
    let mut args = vec!["keys"];
    args.extend(action.split(' '));
    let database = database_for(store);
    args.extend(["--store", store, "--database", &database]);
    control(&args, &[])
}
