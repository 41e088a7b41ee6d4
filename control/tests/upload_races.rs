//! Uploads against the things that race them: a deletion of their asset, a cancel while
//! the source is being assembled, the sweeper beside a PATCH. Interleavings are made
//! deterministic with `SUNOMI_FAILPOINT_PAUSE` (a step held while the test acts).

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;

const TUS: (&str, &str) = ("tus-resumable", "1.0.0");

/// Creates an upload of `length` bytes through the JSON API (with an upload token): its tus
/// URL, its asset id, its upload id and its token.
fn new_upload(api: &Api, length: usize) -> (String, String, String, String) {
    let r = api.send(
        "POST",
        "/api/v1/uploads",
        &[("content-type", "application/json")],
        b"{}".to_vec(),
    );
    assert_eq!(r.status, 201, "{:?}", r.json());
    let v = r.json();
    let (url, token) = (
        v["url"].as_str().unwrap().to_string(),
        v["upload_token"].as_str().unwrap().to_string(),
    );
    let created = api.send(
        "POST",
        &v["tus_endpoint"].as_str().unwrap().replace(&api.base, ""),
        &[
            TUS,
            ("upload-length", &length.to_string()),
            ("authorization", &format!("Bearer {token}")),
        ],
        vec![],
    );
    assert!(
        created.status == 201 || created.status == 200,
        "tus creation: {} {:?}",
        created.status,
        created.json()
    );
    (
        url,
        v["asset_id"].as_str().unwrap().to_string(),
        v["id"].as_str().unwrap().to_string(),
        token,
    )
}

fn patch(api: &Api, url: &str, token: &str, offset: usize, body: &[u8]) -> Reply {
    api.send(
        "PATCH",
        url,
        &[
            TUS,
            ("content-type", "application/offset+octet-stream"),
            ("upload-offset", &offset.to_string()),
            ("authorization", &format!("Bearer {token}")),
        ],
        body.to_vec(),
    )
}

fn upload_status(api: &Api, id: &str) -> String {
    api.get(&format!("/api/v1/uploads/{id}")).json()["status"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn deleting_an_asset_mid_upload_ends_the_upload_and_its_token() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    let control = Control::start(Options {
        store: store.clone(),
        ..Default::default()
    });
    let api = control.api(&create_key(&store, &[]));
    let src = std::fs::read(clip(dir.path(), "clip.mp4", 2.0)).unwrap();
    let half = src.len() / 2;
    let (url, asset, upload, token) = new_upload(&api, src.len());
    assert_eq!(patch(&api, &url, &token, 0, &src[..half]).status, 204);

    let r = api.send("DELETE", &format!("/api/v1/assets/{asset}"), &[], vec![]);
    assert_eq!(r.status, 204);
    // The upload ended with its asset: its token reaches nothing, the rest is refused.
    let rest = patch(&api, &url, &token, half, &src[half..]);
    assert!(
        rest.status == 401 || rest.status == 404 || rest.status == 410,
        "the rest of a deleted asset's upload got {}",
        rest.status
    );
    assert_eq!(upload_status(&api, &upload), "cancelled");
    // Nothing is assembled, by this process or by a sweep (every second in tests).
    std::thread::sleep(Duration::from_secs(3));
    let videos = Path::new(&store).join("videos").join(&asset);
    assert!(!videos.join("source").exists(), "a source was assembled");
    assert_eq!(api.get(&format!("/api/v1/assets/{asset}")).status, 404);
    wait_until(Duration::from_secs(10), "the upload's parts to go", || {
        files_under(&Path::new(&store).join("uploads").join(&upload))
            .iter()
            .all(|f| !f.contains("parts/") && !f.ends_with("data"))
    });
}

#[test]
fn a_cancel_while_the_source_is_assembled_wins_and_no_job_revives_the_asset() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    // The finish of a complete upload waits 2 s between assembling and committing.
    let control = Control::start(Options {
        store: store.clone(),
        env: vec![(
            "SUNOMI_FAILPOINT_PAUSE".into(),
            "finish.before_commit:2000".into(),
        )],
        ..Default::default()
    });
    let api = control.api(&create_key(&store, &[]));
    let src = std::fs::read(clip(dir.path(), "clip.mp4", 2.0)).unwrap();
    let (url, asset, upload, token) = new_upload(&api, src.len());
    let finishing = {
        let (api, url, token, src) = (api.clone(), url.clone(), token.clone(), src.clone());
        std::thread::spawn(move || patch(&api, &url, &token, 0, &src).status)
    };
    std::thread::sleep(Duration::from_millis(700));
    let r = api.send(
        "PUT",
        &format!("/api/v1/uploads/{upload}/cancel"),
        &[],
        vec![],
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "cancelled");
    let _ = finishing.join().unwrap();
    // The cancel held: the upload stays cancelled, the asset errored, nothing transcoded.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(upload_status(&api, &upload), "cancelled");
    let a = api.asset(&asset);
    assert_eq!(a["status"], "errored", "{a}");
    assert_eq!(a["errors"]["code"], "ERR_UPLOAD_CANCELLED");
    assert!(
        !Path::new(&store)
            .join("videos")
            .join(&asset)
            .join("source")
            .exists(),
        "the cancelled upload's source was kept"
    );
    assert_eq!(
        control.metric("sunomi_jobs_enqueued_total{kind=\"transcode\"}"),
        Some(0.0),
        "a cancelled upload queued a transcode"
    );
}

#[test]
fn the_sweeper_never_assembles_an_upload_its_patch_is_finishing() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    // Sweeps every second; the PATCH's finish is held 3 s, so sweeps find the complete
    // upload while it is being finished.
    let control = Control::start(Options {
        store: store.clone(),
        env: vec![(
            "SUNOMI_FAILPOINT_PAUSE".into(),
            "finish.before_commit:3000".into(),
        )],
        ..Default::default()
    });
    let api = control.api(&create_key(&store, &[]));
    let src = std::fs::read(clip(dir.path(), "clip.mp4", 2.0)).unwrap();
    let (url, asset, upload, token) = new_upload(&api, src.len());
    assert_eq!(patch(&api, &url, &token, 0, &src).status, 204);
    assert_eq!(upload_status(&api, &upload), "asset_created");
    let a = api.wait_final(&asset, Duration::from_secs(60));
    assert_eq!(a["status"], "ready", "{a}");
    assert_eq!(
        control.metric("sunomi_jobs_enqueued_total{kind=\"transcode\"}"),
        Some(1.0),
        "one source, one transcode job"
    );
    let events: Vec<String> = api
        .events_until(&asset, None, "video.asset.ready")
        .into_iter()
        .map(|(_, kind)| kind)
        .collect();
    assert_eq!(
        events
            .iter()
            .filter(|k| *k == "video.upload.asset_created")
            .count(),
        1,
        "{events:?}"
    );
}

#[test]
fn a_patch_after_a_finish_that_died_part_way_never_replaces_the_source() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    let mut options = Options {
        store: store.clone(),
        // The process dies after the source is assembled, before the upload records it.
        env: vec![("SUNOMI_FAILPOINT".into(), "finish.before_commit".into())],
        ..Default::default()
    };
    let control = Control::start(options.clone());
    let api = control.api(&create_key(&store, &[]));
    let src = std::fs::read(clip(dir.path(), "clip.mp4", 2.0)).unwrap();
    let (url, asset, upload, token) = new_upload(&api, src.len());
    let finishing = {
        let (api, url, token, src) = (api.clone(), url.clone(), token.clone(), src.clone());
        // The request panics when the process dies under it; the thread's result says so.
        std::thread::spawn(move || patch(&api, &url, &token, 0, &src).status)
    };
    let _ = finishing.join();
    let mut died = control;
    wait_until(
        Duration::from_secs(10),
        "the failpoint to kill control",
        || died.process.0.try_wait().ok().flatten().is_some(),
    );
    options.listen = Some(died.base.trim_start_matches("http://").to_string());
    drop(died);
    let source = Path::new(&store).join("videos").join(&asset).join("source");
    assert_eq!(
        std::fs::read(&source).unwrap(),
        src,
        "assembled before the crash"
    );

    // Restarted without sweeps, a client repeats its last PATCH at the upload's length.
    options.env.clear();
    options.config = "[uploads]\nsweep_interval_secs = 3600\n".into();
    let control = Control::start(options.clone());
    let again = patch(&api, &url, &token, src.len(), b"");
    assert!(
        again.status == 204 || again.status == 409,
        "a repeated final PATCH got {}",
        again.status
    );
    drop(control);
    // Then the sweeper finishes the upload: the source is the uploaded bytes, not zeros.
    // (once the dead finisher's 30 s lease ran out): the source is the uploaded bytes.
    options.config = String::new();
    let _control = Control::start(options);
    wait_until(
        Duration::from_secs(90),
        "the sweeper to finish the upload",
        || upload_status(&api, &upload) == "asset_created",
    );
    assert_eq!(
        std::fs::read(&source).unwrap(),
        src,
        "the source was replaced"
    );
    let a = api.wait_final(&asset, Duration::from_secs(60));
    assert_eq!(a["status"], "ready", "{a}");
}

#[test]
fn one_token_cannot_hold_every_patch_slot_with_trickles() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    let control = Control::start(Options {
        store: store.clone(),
        no_workers: true,
        config: "[uploads]\nmax_concurrent_patches = 3\n".into(),
        ..Default::default()
    });
    let api = control.api(&create_key(&store, &[]));
    let (url, _, _, token) = new_upload(&api, 1 << 20);
    // One token opens four PATCHes at the same offset and trickles each.
    let path = url.replace(&control.base, "");
    let addr = control.base.trim_start_matches("http://").to_string();
    let trickles: Vec<std::net::TcpStream> = (0..4)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(&addr).unwrap();
            write!(
                s,
                "PATCH {path} HTTP/1.1\r\nHost: api\r\nTus-Resumable: 1.0.0\r\n\
                 Authorization: Bearer {token}\r\nContent-Type: application/offset+octet-stream\r\n\
                 Upload-Offset: 0\r\nContent-Length: 1048576\r\n\r\nx"
            )
            .unwrap();
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    // Someone else's upload still gets a slot: the token holds one, not all.
    let src = std::fs::read(clip(dir.path(), "clip.mp4", 1.0)).unwrap();
    let (other, _, _, other_token) = new_upload(&api, src.len());
    let r = patch(&api, &other, &other_token, 0, &src);
    assert_eq!(r.status, 204, "{:?}", r.json());
    // The extra trickles were refused at once: 423 and closed.
    let locked = trickles
        .into_iter()
        .filter(|s| {
            use std::io::Read;
            let mut s = s.try_clone().unwrap();
            s.set_read_timeout(Some(Duration::from_millis(500)))
                .unwrap();
            let mut buf = [0u8; 32];
            matches!(s.read(&mut buf), Ok(n) if n > 0 && buf[..n].starts_with(b"HTTP/1.1 423"))
        })
        .count();
    assert_eq!(locked, 3, "one PATCH in flight per upload");
}
