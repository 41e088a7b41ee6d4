//! Jobs on Redis Streams with real workers as processes: a worker SIGKILLed mid-transcode
//! (another finishes, the asset is published once), a poison job (dead letters after N
//! attempts, then a retry), Redis restarted empty (assets live in the database; `reindex`
//! restores the queue), and the S3 path with an edge fleet purged through Redis.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;

const FLEET_SECRET: &str = "00112233445566778899aabbccddeeff";

fn redis_control(
    store: &str,
    redis: &RedisServer,
    config: &str,
    env: &[(String, String)],
) -> Control {
    Control::start(Options {
        store: store.into(),
        redis: Some(redis.url()),
        config: config.into(),
        env: env.to_vec(),
        ..Default::default()
    })
}

/// Uploads `file` without waiting; returns the asset id.
fn upload(api: &Api, file: &Path) -> String {
    let (code, out, err) = upload_cli(file, api, false);
    assert_eq!(code, 0, "upload failed: {err}");
    out.lines().last().unwrap().trim().to_string()
}

#[test]
fn a_worker_killed_mid_transcode_is_replaced_and_the_asset_is_published_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    let redis = RedisServer::start();
    let config = "[jobs]\nvisibility_timeout_secs = 3\nbackoff_base_ms = 100\nbackoff_max_secs = 1\n[transcode]\npreset = \"veryfast\"\n";
    let control = redis_control(&store, &redis, config, &[]);
    let api = control.api(&create_key(&store, &[]));
    let src = make_source(
        dir.path(),
        "long.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=1280x720:rate=30",
            "-t",
            "40",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
        ],
    );
    let mut first = Some(worker(&store, &redis.url(), config, &[]));
    let id = upload(&api, &src);
    wait_until(
        Duration::from_secs(120),
        "the transcode to be under way",
        || {
            let a = api.asset(&id);
            a["status"] == "transcoding" && a["progress"].as_u64().unwrap_or(0) >= 10
        },
    );
    drop(first.take()); // SIGKILL
    let running = api.get("/api/v1/jobs").json();
    assert_eq!(running["depth"]["transcode"]["running"], 1, "{running}");
    let _second = worker(&store, &redis.url(), config, &[]);
    let done = api.wait_final(&id, Duration::from_secs(300));
    assert_eq!(done["status"], "ready", "{done}");

    let events = api.events_until(&id, None, "video.asset.ready");
    let count = |k: &str| events.iter().filter(|(_, e)| e == k).count();
    assert_eq!(count("video.asset.ready"), 1);
    assert_eq!(
        count("video.asset.validating"),
        2,
        "the second attempt started over"
    );
    let runs = Path::new(&store).join("videos").join(&id).join("runs");
    let runs: Vec<_> = std::fs::read_dir(&runs).unwrap().flatten().collect();
    assert_eq!(runs.len(), 1, "exactly one run is published and kept");
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            Path::new(&store)
                .join("videos")
                .join(&id)
                .join("manifest.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["status"], "published");
    let run = runs[0].file_name().to_string_lossy().into_owned();
    assert!(manifest["renditions"][0]["path"]
        .as_str()
        .unwrap()
        .starts_with(&format!("runs/{run}/")));
    assert_eq!(
        api.get("/api/v1/jobs").json()["depth"]["transcode"]["running"],
        0
    );
}

#[test]
fn a_poison_job_is_buried_after_its_attempts_and_a_retry_brings_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    let redis = RedisServer::start();
    let config = "[jobs]\nmax_attempts = 3\nvisibility_timeout_secs = 4\nbackoff_base_ms = 100\nbackoff_max_secs = 1\n[transcode]\npreset = \"ultrafast\"\n";
    let control = redis_control(&store, &redis, config, &[]);
    let api = control.api(&create_key(&store, &[]));
    let src = clip(dir.path(), "clip.mp4", 2.0);
    let id = upload(&api, &src);
    // The job waits in its stream (no worker yet); its source goes missing.
    let source = Path::new(&store).join("videos").join(&id).join("source");
    let kept = dir.path().join("kept-source");
    std::fs::rename(&source, &kept).unwrap();
    // The API process exports the queue depth (what an autoscaler scales workers on).
    wait_until(
        Duration::from_secs(10),
        "the waiting job in the metrics",
        || control.metric("sunomi_jobs_pending{kind=\"transcode\",state=\"waiting\"}") == Some(1.0),
    );
    let _worker = worker(&store, &redis.url(), config, &[]);
    let errored = api.wait_final(&id, Duration::from_secs(60));
    assert_eq!(errored["status"], "errored");
    assert_eq!(errored["errors"]["code"], "ERR_JOB_FAILED");
    let message = errored["errors"]["message"].as_str().unwrap();
    assert!(
        message.contains("3 times") && message.contains("source"),
        "{message}"
    );
    let dead = api.get("/api/v1/jobs/dead").json();
    let dead = dead.as_array().unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0]["attempts"], 3);
    assert!(dead[0]["reason"].as_str().unwrap().contains("source"));
    assert_eq!(redis.cli(&["XLEN", "sunomi:jobs:dead"]), "1");

    // Fixed, retried: it runs again with fresh attempts and publishes.
    std::fs::rename(&kept, &source).unwrap();
    let job = dead[0]["job"]["id"].as_str().unwrap();
    let r = api.send("POST", &format!("/api/v1/jobs/{job}/retry"), &[], vec![]);
    assert_eq!(r.status, 202);
    assert_eq!(
        api.get("/api/v1/jobs/dead")
            .json()
            .as_array()
            .unwrap()
            .len(),
        0
    );
    let again = api.send("POST", &format!("/api/v1/jobs/{job}/retry"), &[], vec![]);
    assert_eq!(again.status, 404, "a job is retried once");
    wait_until(
        Duration::from_secs(60),
        "the retried job to publish",
        || api.asset(&id)["status"] == "ready",
    );
}

#[test]
fn redis_restarted_empty_loses_no_asset_and_reindex_restores_the_queue() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    let mut redis = RedisServer::start();
    let config = "[transcode]\npreset = \"ultrafast\"\n";
    let control = redis_control(&store, &redis, config, &[]);
    let api = control.api(&create_key(&store, &[]));
    let src = clip(dir.path(), "clip.mp4", 2.0);
    let ready = {
        let _worker = worker(&store, &redis.url(), config, &[]);
        let id = upload(&api, &src);
        assert_eq!(
            api.wait_final(&id, Duration::from_secs(60))["status"],
            "ready"
        );
        id
    };
    let waiting = upload(&api, &src); // no worker: its job waits in Redis
    assert_eq!(api.asset(&waiting)["status"], "uploaded");
    let listed = |api: &Api| -> Vec<String> {
        api.get("/api/v1/assets").json()["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(listed(&api).len(), 2);

    // Redis holds no asset index: listings come from the database.
    assert_eq!(redis.cli(&["EXISTS", "sunomi:assets"]), "0");
    redis.restart(); // empty: the queue and the event fan-out are gone
    wait_until(Duration::from_secs(10), "Redis back", || {
        redis.cli(&["PING"]) == "PONG"
    });
    assert_eq!(
        api.asset(&ready)["status"],
        "ready",
        "assets live in the database"
    );
    let mut both = listed(&api);
    both.sort();
    let mut expected = vec![ready.clone(), waiting.clone()];
    expected.sort();
    assert_eq!(both, expected, "listings come from the database");
    let (code, out, err) = control_reindex(&store, &redis);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("2 assets, 1 re-queued"), "{out}");
    let _worker = worker(&store, &redis.url(), config, &[]);
    assert_eq!(
        api.wait_final(&waiting, Duration::from_secs(60))["status"],
        "ready"
    );
}

fn control_reindex(store: &str, redis: &RedisServer) -> (i32, String, String) {
    let database = database_for(store);
    control(
        &[
            "reindex",
            "--store",
            store,
            "--redis",
            &redis.url(),
            "--database",
            &database,
        ],
        &[],
    )
}

#[test]
fn the_s3_path_with_a_fleet_edge_purged_through_redis() {
    let dir = tempfile::tempdir().unwrap();
    let mut s3 = S3Server::start(&dir.path().join("s3"));
    let env = s3.env();
    let store = "s3://media/sunomi";
    let redis = RedisServer::start();
    let config = "[transcode]\npreset = \"ultrafast\"\n";
    let control = redis_control(store, &redis, config, &env);
    let api = control.api(&create_key(store, &env));
    let _worker = worker(store, &redis.url(), config, &env);
    let mut edge_env = env.clone();
    edge_env.push(("SUNOMI_FLEET_SECRET".into(), FLEET_SECRET.into()));
    let edge = Edge::start(store, &["--redis", &redis.url()], &edge_env);

    let src = clip(dir.path(), "clip.mp4", 3.0);
    let (code, out, err) = upload_cli(&src, &api, true);
    assert_eq!(code, 0, "{err}");
    let id = out.lines().next().unwrap().to_string();
    let pid = out
        .lines()
        .last()
        .unwrap()
        .split("/v/")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let bucket = dir.path().join("s3/media/sunomi");
    assert_eq!(
        std::fs::read(bucket.join("videos").join(&id).join("source")).unwrap(),
        std::fs::read(&src).unwrap(),
        "the source went through the S3 API"
    );
    assert!(files_under(&bucket.join("uploads"))
        .iter()
        .all(|f| !f.contains("/parts/")));
    let master = format!("{}/v/{pid}/master.m3u8", edge.base);
    decodes(&master);
    // A revoked playback id is forgotten by the fleet (purge through Redis).
    let r = api.send(
        "POST",
        &format!("/api/v1/assets/{id}/playback-ids"),
        &[("content-type", "application/json")],
        br#"{"policy":"public"}"#.to_vec(),
    );
    let extra = r.json()["id"].as_str().unwrap().to_string();
    let extra_master = format!("{}/v/{extra}/master.m3u8", edge.base);
    assert_eq!(http_status(&extra_master), 200);
    let r = api.send(
        "DELETE",
        &format!("/api/v1/assets/{id}/playback-ids/{extra}"),
        &[],
        vec![],
    );
    assert_eq!(r.status, 204);
    wait_until(
        Duration::from_secs(10),
        "the fleet to forget the revoked id",
        || http_status(&extra_master) == 404,
    );

    // Storage failing during a chunk write: 503, nothing half-taken; it resumes after.
    let tus = ("tus-resumable", "1.0.0");
    let r = api.send(
        "POST",
        "/api/v1/tus",
        &[tus, ("upload-length", "6")],
        vec![],
    );
    assert_eq!(r.status, 201);
    let url = r.header("location").unwrap().to_string();
    let patch = |offset: &str, body: &[u8]| {
        api.send(
            "PATCH",
            &url,
            &[
                tus,
                ("content-type", "application/offset+octet-stream"),
                ("upload-offset", offset),
            ],
            body.to_vec(),
        )
    };
    s3.stop();
    let r = patch("0", b"abc");
    assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.header("retry-after").is_some());
    s3.restart();
    let head = api.send("HEAD", &url, &[tus], vec![]);
    assert_eq!(head.header("upload-offset"), Some("0"));
    assert_eq!(patch("0", b"abc").status, 204);

    // Delete: the edge fleet is purged through Redis.
    let r = api.send("DELETE", &format!("/api/v1/assets/{id}"), &[], vec![]);
    assert_eq!(r.status, 204);
    wait_until(
        Duration::from_secs(10),
        "the edge to forget the video",
        || http_status(&master) == 404,
    );
    assert!(files_under(&bucket.join("videos").join(&id)).is_empty());
}
