//! The web app in a real browser: a person's journey (sign up, upload through the page,
//! status that changes by itself, playback, studio, sign out) driven by Playwright in
//! Debian's Chromium by the accessible names of the controls, with axe-core checking every
//! page at desktop and phone sizes (`control/web/tests/journey.mjs`). Screenshots are kept
//! in `target/tmp/web-screenshots/`.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::people::{signed_up, upload, wait_ready, wait_status};
use common::*;
use serde_json::json;

/// Runs `control/web/tests/{script}` with `args`; returns its JSON summary, failing the test
/// with it when the script fails, or when anything its pages said to the API does not match
/// the OpenAPI document (`judges/page_api_judge.py`: page and API cannot drift).
fn run_script(script: &str, args: &[&std::ffi::OsStr]) -> serde_json::Value {
    let web = web_dir();
    assert!(
        web.join("node_modules/playwright-core").exists(),
        "control/web/node_modules is missing: `make test` installs it (npm ci in control/web)"
    );
    let api_log = tempfile::NamedTempFile::new().unwrap();
    let out = Command::new("node")
        .arg(web.join("tests").join(script))
        .args(args)
        .current_dir(&web)
        .env("SUNOMI_API_LOG", api_log.path())
        .output()
        .expect("node must be installed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary: serde_json::Value = stdout
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_default();
    assert!(
        out.status.success(),
        "{script} failed: {}\n{}",
        serde_json::to_string_pretty(&summary).unwrap_or_default(),
        String::from_utf8_lossy(&out.stderr)
    );
    let judged = Command::new(python())
        .arg(judge("page_api_judge.py"))
        .arg(api_log.path())
        .output()
        .expect("running the page API judge");
    assert!(
        judged.status.success(),
        "{script}: the pages' API calls do not match the OpenAPI document:\n{}{}",
        String::from_utf8_lossy(&judged.stdout),
        String::from_utf8_lossy(&judged.stderr)
    );
    let mut summary = summary;
    if let Some(fields) = summary.as_object_mut() {
        let verdict: serde_json::Value = serde_json::from_slice(&judged.stdout).unwrap_or_default();
        fields.insert("api_exchanges".into(), verdict["exchanges"].clone());
    }
    summary
}

fn screenshots() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("web-screenshots")
}

/// The views secret the test platform's edge and control plane share.
const VIEW_SECRET: &str = "5ec2e75ec2e75ec2e75ec2e75ec2e75e";

/// An edge and a control plane whose pages play from it (and count views after 3 s).
fn platform(store: &str) -> (Edge, Control) {
    platform_with(store, "")
}

/// [`platform`] with `extra` appended to the control plane's configuration.
fn platform_with(store: &str, extra: &str) -> (Edge, Control) {
    let edge = Edge::start(
        store,
        &[],
        &[("SUNOMI_VIEW_SECRET".to_string(), VIEW_SECRET.to_string())],
    );
    let control = Control::start(Options {
        store: store.to_string(),
        config: format!(
            "edge_url = \"{}\"\nedge_admin_urls = [\"{}\"]\n{extra}\n[views]\nsecret = \"{VIEW_SECRET}\"\nneed_secs = 3\n",
            edge.base, edge.admin
        ),
        ..Default::default()
    });
    (edge, control)
}

fn web_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
        .join("web")
}

#[test]
fn a_person_signs_up_uploads_through_the_page_and_watches_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    let (_edge, control) = platform(&store);
    let file = clip(dir.path(), "walk.mp4", 8.0);
    let not_video = dir.path().join("notes.mp4");
    std::fs::write(&not_video, "These are notes, not a video.\n".repeat(100)).unwrap();
    let summary = run_script(
        "journey.mjs",
        &[
            control.base.as_ref(),
            file.as_os_str(),
            screenshots().as_os_str(),
            not_video.as_os_str(),
        ],
    );
    let statuses: Vec<&str> = summary["statuses"]
        .as_array()
        .map(|a| a.iter().filter_map(|s| s.as_str()).collect())
        .unwrap_or_default();
    assert_eq!(statuses.last(), Some(&"Ready"), "{statuses:?}");
    // Sign-up, the upload's calls, the status polls: each judged against the document.
    assert!(
        summary["api_exchanges"].as_u64().unwrap_or(0) >= 5,
        "{summary}"
    );
    assert!(summary["played"]["currentTime"].as_f64().unwrap_or(0.0) >= 5.0);
    assert!(summary["played"]["width"].as_u64().unwrap_or(0) > 0);
    assert_eq!(
        summary["rejected"],
        "Failed: This file is not a video. Choose a video file (MP4, MOV, WebM, MKV…)."
    );
    assert_eq!(
        summary["rejectedLink"], "Your studio",
        "a failed video has nothing to watch"
    );
    assert_eq!(summary["formShownAfterSubmit"], false);
    eprintln!(
        "{}",
        serde_json::to_string_pretty(&summary).unwrap_or_default()
    );
}

#[test]
fn the_transcript_follows_playback_seeks_on_click_and_searches() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    let (_edge, control) = platform(&store);
    let ada = signed_up(&control, "Ada");
    let id = upload(
        &ada,
        &clip(dir.path(), "talk.mp4", 14.0),
        "A talk",
        "public",
    );
    wait_ready(&ada, &id);
    // Captions, uploaded through the API (the studio's captions page comes later).
    let key = create_key(&store, &[]);
    let vtt = "WEBVTT\n\n00:00:00.000 --> 00:00:03.000\nalpha first words\n\n\
               00:00:03.000 --> 00:00:06.000\nbravo second words\n\n\
               00:00:06.000 --> 00:00:09.000\ncharlie third words\n\n\
               00:00:09.000 --> 00:00:14.000\ndelta fourth words\n";
    let r = control.api(&key).send(
        "PUT",
        &format!("/api/v1/assets/{id}/captions/en"),
        &[("content-type", "text/vtt")],
        vtt.as_bytes().to_vec(),
    );
    assert_eq!(r.status, 204, "{}", String::from_utf8_lossy(&r.body));
    // Search finds the moment a word is said, and links to it.
    let found = control
        .api("")
        .send("GET", "/search?q=CHARLIE%20third", &[], vec![]);
    let page = String::from_utf8_lossy(&found.body).into_owned();
    assert!(
        page.contains(&format!("/watch/{id}?t=6")) && page.contains("charlie third words"),
        "{page}"
    );
    let watch = format!("{}/watch/{id}", control.base);
    let summary = run_script(
        "transcript.mjs",
        &[watch.as_ref(), screenshots().as_os_str()],
    );
    assert_eq!(
        summary["cues"].as_array().map(Vec::len),
        Some(4),
        "{summary}"
    );
    assert!(summary["afterClick"].as_f64().unwrap_or(0.0) >= 6.0);
    assert!(summary["followed"].as_str().unwrap_or("").contains("delta"));
    assert_eq!(summary["matches"], "1 cue matches");
    assert_eq!(summary["marked"], serde_json::json!(["bravo", "second"]));
    assert!(summary["startedAt"].as_f64().unwrap_or(0.0) >= 9.0);
    let qualities = summary["qualities"].as_array().cloned().unwrap_or_default();
    assert_eq!(qualities[0], "Auto", "{summary}");
    assert!(qualities.len() >= 2 && qualities[1].as_str().unwrap_or_default().ends_with('p'));
    assert_eq!(
        summary["level"].as_i64(),
        Some(qualities.len() as i64 - 2),
        "the highest rung first"
    );
    assert_eq!(summary["captions"][1], "English");
    assert_eq!(summary["rate"], 1.5);
    assert_eq!(summary["captions"][0], "Off");
    assert_eq!(summary["subtitleTrack"], 0);
    let after_l = summary["afterL"].as_f64().unwrap_or(0.0);
    assert!(
        (10.5..11.5).contains(&after_l),
        "l goes forward 10 s: {after_l}"
    );
    assert_eq!(summary["playingAfterK"], true);
    // Captions deleted: their words are no longer found.
    let r = control.api(&key).send(
        "DELETE",
        &format!("/api/v1/assets/{id}/captions/en"),
        &[],
        vec![],
    );
    assert_eq!(r.status, 204);
    let found = control
        .api("")
        .send("GET", "/search?q=charlie", &[], vec![]);
    assert!(String::from_utf8_lossy(&found.body).contains("No videos match"));
}

#[test]
fn static_files_and_pages_go_gzipped_to_browsers_that_take_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    let control = Control::start(Options {
        store,
        no_workers: true,
        ..Default::default()
    });
    let api = control.api("");
    let plain = api.send("GET", "/static/app.js", &[], vec![]);
    let gz = api.send(
        "GET",
        "/static/app.js",
        &[("accept-encoding", "gzip, br")],
        vec![],
    );
    assert_eq!((plain.status, gz.status), (200, 200));
    assert_eq!(plain.header("content-encoding"), None);
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    assert_eq!(gz.header("vary"), Some("accept-encoding"));
    assert!(gz.body.len() < plain.body.len() / 2);
    let mut unzipped = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(&gz.body[..]),
        &mut unzipped,
    )
    .unwrap();
    assert_eq!(unzipped, plain.body);
    // Pages too, compressed as they are made, with their headers.
    let page = api.send("GET", "/", &[("accept-encoding", "gzip")], vec![]);
    assert_eq!(page.header("content-encoding"), Some("gzip"));
    assert!(page.header("content-security-policy").is_some());
    let mut html = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&page.body[..]), &mut html)
        .unwrap();
    assert!(html.starts_with("<!doctype html>"), "{html}");
    assert_eq!(
        api.send("GET", "/", &[], vec![]).header("content-encoding"),
        None,
        "not to those that do not take it"
    );
}

#[test]
fn a_second_person_likes_subscribes_comments_and_finds_it_in_their_feed() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    let (_edge, control) = platform(&store);
    let ada = signed_up(&control, "Ada");
    let id = upload(
        &ada,
        &clip(dir.path(), "walk.mp4", 4.0),
        "Ada's walk",
        "public",
    );
    wait_ready(&ada, &id);
    let summary = run_script(
        "social.mjs",
        &[
            control.base.as_ref(),
            format!("/watch/{id}").as_ref(),
            screenshots().as_os_str(),
        ],
    );
    assert_eq!(summary["likes"], "1 like", "{summary}");
    assert_eq!(summary["subscribers"], "1 subscriber");
    assert_eq!(summary["pressed"], serde_json::json!(["true", "true"]));
    assert_eq!(summary["feed"], serde_json::json!(["Ada's walk"]));
    assert_eq!(summary["channel"], "Ada");
}

#[test]
fn a_reload_in_the_middle_of_an_upload_resumes_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    let (_edge, control) = platform(&store);
    let file = clip(dir.path(), "long.mp4", 20.0);
    let size = std::fs::metadata(&file).unwrap().len();
    assert!(
        size > 200_000,
        "a file that takes a few seconds on the slow uplink: {size}"
    );
    let summary = run_script("resume.mjs", &[control.base.as_ref(), file.as_os_str()]);
    let before = summary["beforeReload"].as_f64().unwrap_or(0.0);
    let resumed = summary["resumedAt"].as_f64().unwrap_or(0.0);
    assert!(before >= 25.0, "{summary}");
    assert!(
        resumed >= before * 0.9,
        "the upload went on from about where it was ({before} %), not from 0: {summary}"
    );
    assert_eq!(summary["final"], "Ready");
    eprintln!("{summary}");
}

#[test]
fn a_flagged_video_warns_before_playing_and_hides_for_who_hides_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    let (_edge, control) = platform(&store);
    let ada = signed_up(&control, "Ada");
    let file = clip(dir.path(), "fight.mp4", 6.0);
    let fight = upload(&ada, &file, "Stage fight", "public");
    let calm = upload(&ada, &file, "Calm lake", "public");
    wait_ready(&ada, &fight);
    wait_ready(&ada, &calm);
    let summary = run_script(
        "warnings.mjs",
        &[
            control.base.as_ref(),
            "ada@example.org".as_ref(),
            "Ada's long password".as_ref(),
            fight.as_ref(),
            screenshots().as_os_str(),
        ],
    );
    assert_eq!(summary["checkedAfterReload"], true, "{summary}");
    assert_eq!(summary["captions"], "en uploaded Delete");
    assert_eq!(summary["homeNote"], "Sensitive: violence");
    let warning = summary["warning"].as_str().unwrap_or_default();
    assert!(
        warning.contains("This video may contain sensitive content related to: violence.")
            && warning.contains("The uploader says: A staged sword fight, with fake blood."),
        "{warning}"
    );
    assert_eq!(summary["playerHiddenBefore"], true);
    assert_eq!(summary["gateHiddenAfter"], true);
    assert!(summary["played"].as_f64().unwrap_or(0.0) > 1.0);
    assert_eq!(summary["homeForBob"], serde_json::json!(["Calm lake"]));
    assert!(summary["searchForBob"]
        .as_str()
        .unwrap_or_default()
        .contains("No videos match"));
    assert_eq!(summary["violenceAfterReload"], "hide");
}

#[test]
fn a_report_reaches_the_queue_and_a_moderator_blocks_the_video_from_the_page() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    let (edge, control) = platform(&store);
    let ada = signed_up(&control, "Ada");
    let id = upload(
        &ada,
        &clip(dir.path(), "rant.mp4", 6.0),
        "A heated rant",
        "public",
    );
    let shown = wait_ready(&ada, &id);
    let master = shown["playback_url"].as_str().unwrap().to_string();
    assert!(master.starts_with(&edge.base));
    make_moderator(&store);
    let summary = run_script(
        "moderation.mjs",
        &[
            control.base.as_ref(),
            format!("/watch/{id}").as_ref(),
            "mo@example.org".as_ref(),
            "a moderator's password".as_ref(),
            screenshots().as_os_str(),
        ],
    );
    assert_eq!(summary["expanded"], "true", "{summary}");
    assert!(summary["sent"]
        .as_str()
        .unwrap_or_default()
        .starts_with("Thank you."));
    let queue = summary["queue"].as_str().unwrap_or_default();
    assert!(
        queue.contains("A heated rant") && queue.contains("1 report: Hate or harassment"),
        "{queue}"
    );
    assert_eq!(summary["moment"], "0:01–0:02");
    let at = summary["seekedTo"].as_f64().unwrap_or(0.0);
    assert!(
        (0.9..1.5).contains(&at),
        "the player went to the moment: {at}"
    );
    assert!(summary["after"]
        .as_str()
        .unwrap_or_default()
        .contains("No video is waiting."));
    assert!(summary["log"]
        .as_str()
        .unwrap_or_default()
        .contains("video.block"));
    assert_eq!(summary["outcome"], "A moderator took the video down.");
    wait_until(Duration::from_secs(10), "451 from the edge", || {
        http_status(&master) == 451
    });
}

/// Makes the moderator account `mo@example.org` (password "a moderator's password") with
/// the operator's command.
fn make_moderator(store: &str) {
    let (code, _, err) = common::people::users(
        store,
        &[
            "create",
            "--email",
            "mo@example.org",
            "--role",
            "moderator",
            "--name",
            "Mo",
        ],
        "a moderator's password\n",
    );
    assert_eq!(code, 0, "{err}");
}

/// Offline moderation under a policy that holds every video for review: the moderator plays
/// the held video from the review page (a review token the edge honours while nobody else
/// gets it) and approves it, and then it plays for everyone.
#[test]
fn a_moderator_plays_a_held_video_on_the_review_page_and_approves_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    let hold_everything = format!(
        "models_dir = \"{}\"\n[moderation]\nbackend = \"offline\"\nmin_confidence = 0\n\
         [moderation.policy]\nversion = \"hold-all\"\n\
         rules = [{{ category = \"Explicit\", min_confidence = 0, action = \"review\" }}]\n",
        models_dir().display()
    );
    let (edge, control) = platform_with(&store, &hold_everything);
    let ada = signed_up(&control, "Ada");
    let id = upload(
        &ada,
        &clip(dir.path(), "pattern.mp4", 6.0),
        "A test pattern",
        "public",
    );
    wait_status(&ada, &id, "in_review");
    make_moderator(&store);
    let asset = control.api(&create_key(&store, &[])).asset(&id);
    let pid = asset["playback_ids"][0]["id"].as_str().unwrap().to_string();
    let master = format!("{}/v/{pid}/master.m3u8", edge.base);
    assert_eq!(http_status(&master), 404, "held: not published");
    // The review page (and the review token it carries) is the moderators': not even the
    // uploader gets it.
    let page = ada.send("GET", &format!("/moderation/videos/{id}"), &[], vec![]);
    assert_ne!(page.status, 200, "the uploader is no moderator");
    assert!(!String::from_utf8_lossy(&page.body).contains("token="));

    let summary = run_script(
        "review.mjs",
        &[
            control.base.as_ref(),
            "mo@example.org".as_ref(),
            "a moderator's password".as_ref(),
            screenshots().as_os_str(),
        ],
    );
    let queue = summary["queue"].as_str().unwrap_or_default();
    assert!(queue.contains("A test pattern"), "{summary}");
    assert!(
        summary["status"]
            .as_str()
            .unwrap_or_default()
            .contains("in review"),
        "{summary}"
    );
    let src = summary["src"].as_str().unwrap_or_default();
    assert!(
        src.starts_with(&master) && src.contains("?token="),
        "the review page plays with a token: {src}"
    );
    assert!(summary["played"].as_f64().unwrap_or(0.0) > 1.5, "{summary}");
    assert!(summary["after"]
        .as_str()
        .unwrap_or_default()
        .contains("No video is waiting."));
    assert_eq!(wait_ready(&ada, &id)["status"], "ready");
    wait_until(Duration::from_secs(10), "published after approval", || {
        http_status(&master) == 200
    });
}

#[test]
fn two_factor_sign_in_is_set_up_and_used_from_the_pages() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    let control = Control::start(Options {
        store,
        no_workers: true,
        ..Default::default()
    });
    let summary = run_script(
        "twofactor.mjs",
        &[control.base.as_ref(), screenshots().as_os_str()],
    );
    assert_eq!(summary["secretLength"], 32, "{summary}");
    assert!(summary["otpauth"]
        .as_str()
        .unwrap_or_default()
        .starts_with("otpauth://totp/Sunomi:"));
    assert_eq!(summary["recoveryCodes"], 10);
    assert_eq!(
        summary["asked"],
        "enter the code from your authenticator app (or a recovery code)"
    );
    assert_eq!(summary["signedIn"], true);
    assert_eq!(
        summary["settingsSays"],
        "On: signing in needs a code from your authenticator app."
    );
    assert_eq!(summary["renamed"], "Saved: people now see “Tess Ogden”.");
    assert_eq!(summary["exportLink"], "/api/v1/me/export");
}

#[test]
fn the_embed_player_plays_framed_by_another_page_and_only_public_ids_embed() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    let (_edge, control) = platform(&store);
    let ada = signed_up(&control, "Ada");
    let file = clip(dir.path(), "walk.mp4", 6.0);
    let public = upload(&ada, &file, "A walk to share", "public");
    let private = upload(&ada, &file, "Not for sharing", "private");
    let shown = wait_ready(&ada, &public);
    wait_ready(&ada, &private);
    let url = shown["playback_url"].as_str().unwrap();
    let pid = url.split("/v/").nth(1).unwrap().split('/').next().unwrap();
    let api = control.api("");
    let r = api.send("GET", &format!("/embed/{pid}"), &[], vec![]);
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-security-policy")
        .unwrap_or_default()
        .contains("frame-ancestors *"));
    assert_eq!(r.header("x-frame-options"), None);
    let watch = api.send("GET", &format!("/watch/{public}"), &[], vec![]);
    assert_eq!(
        watch.header("x-frame-options"),
        Some("DENY"),
        "only the embed is framed"
    );
    assert!(String::from_utf8_lossy(&watch.body).contains(&format!("data-embed=\"/embed/{pid}\"")));
    // A private video (it has only a signed id), a video id, junk: nothing to embed.
    for bad in [private.as_str(), "nope", "..%2f..%2fetc"] {
        assert_eq!(
            api.send("GET", &format!("/embed/{bad}"), &[], vec![])
                .status,
            404,
            "{bad}"
        );
    }
    let summary = run_script(
        "embed.mjs",
        &[
            format!("{}/embed/{pid}", control.base).as_ref(),
            screenshots().as_os_str(),
        ],
    );
    assert!(summary["played"].as_f64().unwrap_or(0.0) > 1.0, "{summary}");
    assert_eq!(summary["link"], format!("/watch/{public}"));
    assert_eq!(summary["target"], "_blank");
}

#[test]
fn a_real_watch_counts_one_view_at_once_and_a_reload_counts_none() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    let (_edge, control) = platform(&store);
    let ada = signed_up(&control, "Ada");
    let file = clip(dir.path(), "walk.mp4", 6.0);
    let id = upload(&ada, &file, "A walk to count", "public");
    wait_ready(&ada, &id);
    let summary = run_script(
        "views.mjs",
        &[format!("{}/watch/{id}", control.base).as_ref()],
    );
    assert_eq!(summary["before"], "0 views", "{summary}");
    assert_eq!(
        summary["first"],
        json!({ "counted": true, "views": 1 }),
        "{summary}"
    );
    assert_eq!(summary["shown"], "1 view");
    assert_eq!(
        summary["second"],
        json!({ "counted": false, "views": 1 }),
        "{summary}"
    );
    assert_eq!(summary["after_reload"], "1 view");
    assert!(
        summary["media_with_ticket"].as_u64().unwrap_or(0) >= 2,
        "{summary}"
    );
    let shown = control.api("").get(&format!("/api/v1/videos/{id}")).json();
    assert_eq!(shown["views"], 1);
}

/// Signs `login` in through the provider named `provider` on the sign-in page (the browser
/// journey of `oidc.mjs`) and checks what it shows.
fn sso_journey(control: &Control, provider: &str, id: &str, login: &str) -> serde_json::Value {
    let summary = run_script(
        "oidc.mjs",
        &[
            control.base.as_ref(),
            provider.as_ref(),
            login.as_ref(),
            screenshots().as_os_str(),
        ],
    );
    assert_eq!(summary["after_first"], "/", "{summary}");
    assert_eq!(
        summary["me"]["user"]["email"],
        format!("{login}@idp.example"),
        "{summary}"
    );
    assert_eq!(
        summary["me"]["user"]["display_name"],
        format!("{login} of the IdP")
    );
    assert_eq!(
        summary["me_again"]["user"]["id"],
        summary["me"]["user"]["id"]
    );
    assert_eq!(summary["providers"], json!([id]), "{summary}");
    assert_eq!(summary["reused"]["at"], "/signin?sso=expired", "{summary}");
    assert_eq!(summary["reused_me"], 401);
    assert_eq!(summary["elsewhere"], "/signin?sso=expired", "{summary}");
    assert_eq!(summary["elsewhere_me"], 401);
    summary
}

#[test]
fn people_sign_in_with_an_openid_connect_provider_or_github_style_oauth() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    let idp_port = free_port();
    let idp_url = format!("http://127.0.0.1:{idp_port}");
    let secret = "a client secret of the local provider";
    let control = Control::start(Options {
        store: store.clone(),
        config: format!(
            "[[accounts.sso]]\nid = \"local\"\nname = \"Local ID\"\nissuer = \"{idp_url}\"\n\
             client_id = \"sunomi\"\nclient_secret = \"{secret}\"\n\
             [[accounts.sso]]\nid = \"hub\"\nname = \"Hub\"\nkind = \"oauth2\"\n\
             authorization_url = \"{idp_url}/auth\"\ntoken_url = \"{idp_url}/token\"\n\
             userinfo_url = \"{idp_url}/me\"\nsubject_field = \"sub\"\n\
             scopes = [\"openid\", \"email\", \"profile\"]\nclient_id = \"sunomi-hub\"\n"
        ),
        env: vec![("SUNOMI_SSO_SECRET_HUB".to_string(), secret.to_string())],
        ..Default::default()
    });
    let mut idp = Command::new("node")
        .arg(web_dir().join("tests/oidc-provider.mjs"))
        .args([&idp_port.to_string(), &control.base, secret])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("starting the OpenID provider");
    let stdout = idp.stdout.take().unwrap();
    let _idp = Process(idp);
    let mut issuer = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut issuer).unwrap();
    assert_eq!(issuer.trim(), idp_url);

    // Starting: to the provider with PKCE (S256), a state, a nonce; the state in a cookie.
    // A browser's first hop: redirects are not followed.
    let hop = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let get = |path: &str| hop.get(format!("{}{path}", control.base)).send().unwrap();
    let header = |r: &reqwest::blocking::Response, name: &str| {
        r.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    };
    let r = get("/api/v1/auth/sso/local?next=/upload");
    assert_eq!(r.status(), 302);
    let to = header(&r, "location").unwrap();
    assert!(to.starts_with(&format!("{idp_url}/auth?")), "{to}");
    for part in [
        "code_challenge_method=S256",
        "code_challenge=",
        "state=",
        "nonce=",
        "client_id=sunomi&",
    ] {
        assert!(to.contains(part), "{part} in {to}");
    }
    assert!(header(&r, "set-cookie").unwrap().starts_with("sunomi_sso="));
    assert_eq!(get("/api/v1/auth/sso/elsewhere").status(), 404);
    // A redirect back without this browser's state signs no one in.
    let r = get("/api/v1/auth/sso/local/callback?code=x&state=forged");
    assert_eq!(r.status(), 302);
    assert_eq!(
        header(&r, "location").as_deref(),
        Some("/signin?sso=expired")
    );
    assert!(!r
        .headers()
        .get_all("set-cookie")
        .iter()
        .any(|c| c.to_str().unwrap_or("").starts_with("sunomi_session=")));

    // An answer naming another issuer (RFC 9207: a mix-up of providers) is refused, even with
    // this browser's state.
    let r = get("/api/v1/auth/sso/local");
    let to = header(&r, "location").unwrap();
    let state = url::Url::parse(&to)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let cookie = header(&r, "set-cookie").unwrap();
    let cookie = cookie.split(';').next().unwrap();
    let r = hop
        .get(format!(
            "{}/api/v1/auth/sso/local/callback?code=x&state={state}&iss=http%3A%2F%2Fevil.example",
            control.base
        ))
        .header("cookie", cookie)
        .send()
        .unwrap();
    assert_eq!(
        header(&r, "location").as_deref(),
        Some("/signin?sso=provider")
    );

    // OpenID Connect, then GitHub-style OAuth 2.0 (user info, secret in the body).
    sso_journey(&control, "Local ID", "local", "grace");
    sso_journey(&control, "Hub", "hub", "hopper");
    // An email that has an account is not taken over by another provider's sign-in.
    let taken = run_script(
        "oidc.mjs",
        &[
            control.base.as_ref(),
            "Hub".as_ref(),
            "grace".as_ref(),
            screenshots().as_os_str(),
            "taken".as_ref(),
        ],
    );
    assert_eq!(taken["after_first"], "/signin?sso=email_taken", "{taken}");
    assert!(taken["alert"]
        .as_str()
        .unwrap_or("")
        .contains("sign in with its password"));
    assert_eq!(taken["me_status"], 401);
    // An account made by a provider has no password: a password sign-in finds nothing.
    let mut p = common::people::Person::new(&control);
    let r = p.post(
        "/api/v1/auth/signin",
        common::people::sign_in("grace@idp.example", "anything at all"),
    );
    assert_eq!(r.status, 401);
}

#[test]
fn a_person_sets_their_channel_picture_and_description_from_settings() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    let control = Control::start(Options {
        store: store.clone(),
        ..Default::default()
    });
    let picture = picture(dir.path(), "me.png", "400x300");
    let summary = run_script(
        "channel.mjs",
        &[
            control.base.as_ref(),
            picture.as_os_str(),
            screenshots().as_os_str(),
        ],
    );
    assert_eq!(
        summary["description"], "Compilers, and the ships they sail on.",
        "{summary}"
    );
    assert_eq!(summary["picture"]["loaded"], 256, "{summary}");
}

#[test]
fn an_admin_makes_someone_a_moderator_from_the_admin_page() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    let control = Control::start(Options {
        store: store.clone(),
        no_workers: true,
        config: "[outbound]\nallow_networks = [\"127.0.0.0/8\"]\n".into(),
        ..Default::default()
    });
    let bob = signed_up(&control, "Bob");
    let (code, _, err) = common::people::users(
        &store,
        &["create", "--email", "root@example.org", "--role", "admin"],
        "an admin's password\n",
    );
    assert_eq!(code, 0, "{err}");
    let summary = run_script(
        "admin.mjs",
        &[
            control.base.as_ref(),
            "root@example.org".as_ref(),
            "an admin's password".as_ref(),
            screenshots().as_os_str(),
        ],
    );
    assert_eq!(summary["saved"], "Saved: moderator, active.", "{summary}");
    assert_eq!(bob.me().json()["user"]["role"], "moderator");
    // The integrations from the page: a key that worked until it was revoked, an endpoint,
    // a signing key.
    assert_eq!(summary["key_works"], 200, "{summary}");
    assert_eq!(summary["key_after_revoke"], 401, "{summary}");
    assert_eq!(
        summary["hooks"],
        json!(["http://127.0.0.1:9/sunomi-hook Delete"]),
        "{summary}"
    );
    assert_eq!(summary["signing"], 1);
    // Those routes open to an admin's session only: a moderator's is refused, and an admin's
    // unsafe request without its CSRF token too.
    for path in [
        "/api/v1/api-keys",
        "/api/v1/signing-keys",
        "/api/v1/webhooks/endpoints",
    ] {
        let r = bob.send("GET", path, &[], vec![]);
        assert_eq!(
            (r.status, r.json()["code"].clone()),
            (403, json!("forbidden")),
            "{path}"
        );
    }
    let mut root = common::people::Person::new(&control);
    root.post(
        "/api/v1/auth/signin",
        common::people::sign_in("root@example.org", "an admin's password"),
    );
    let r = root.send(
        "POST",
        "/api/v1/api-keys",
        &[],
        json!({ "name": "x" }).to_string().into_bytes(),
    );
    assert_eq!(r.status, 403, "no CSRF token");
    let r = root.write("POST", "/api/v1/api-keys", json!({ "name": "Scripts" }));
    assert_eq!(r.status, 201);
    assert!(r.json()["secret"].as_str().unwrap().starts_with("sk_"));
}

#[test]
fn a_keyboard_alone_signs_in_uploads_watches_and_uses_the_transcript() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    let (_edge, control) = platform(&store);
    let ada = signed_up(&control, "Ada");
    let captioned = upload(
        &ada,
        &clip(dir.path(), "talk.mp4", 12.0),
        "A talk",
        "public",
    );
    wait_ready(&ada, &captioned);
    let vtt = "WEBVTT\n\n00:00:00.000 --> 00:00:03.000\none\n\n\
               00:00:03.000 --> 00:00:06.000\ntwo\n\n00:00:06.000 --> 00:00:09.000\nthree\n";
    let key = create_key(&store, &[]);
    let r = control.api(&key).send(
        "PUT",
        &format!("/api/v1/assets/{captioned}/captions/en"),
        &[("content-type", "text/vtt")],
        vtt.as_bytes().to_vec(),
    );
    assert_eq!(r.status, 204);
    let summary = run_script(
        "keyboard.mjs",
        &[
            control.base.as_ref(),
            "ada@example.org".as_ref(),
            "Ada's long password".as_ref(),
            clip(dir.path(), "keys.mp4", 4.0).as_os_str(),
            format!("/watch/{captioned}").as_ref(),
        ],
    );
    assert_eq!(summary["playedUpload"], true, "{summary}");
    assert!(
        summary["seeked"].as_f64().unwrap_or(0.0) >= 3.0,
        "{summary}"
    );
    assert_eq!(summary["liked"], true);
    assert_eq!(summary["playing"], true);
}
