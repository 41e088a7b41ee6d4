//! The S3 path: the same end-to-end checks against a real S3 API (s3s-fs on loopback).

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

const ACCESS_KEY: &str = "sunomi-test";
const SECRET_KEY: &str = "sunomi-test-secret";

fn s3s_fs() -> String {
    std::env::var("S3S_FS").unwrap_or_else(|_| "s3s-fs".into())
}

#[test]
fn s3_store_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("s3");
    std::fs::create_dir_all(root.join("media")).unwrap();
    let port = free_port();
    let server = Command::new(s3s_fs())
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
        .arg(&root)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("s3s-fs must be installed (make test installs it)");
    let _server = Process(server);
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "s3s-fs did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let endpoint = format!("http://127.0.0.1:{port}");
    let env = [
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_ALLOW_HTTP", "true"),
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
        ("AWS_REGION", "us-east-1"),
    ];
    let src = hd_clip_with_audio(dir.path(), 7);
    let store = "s3://media/sunomi";
    transcode(&src, "s3clip", store, &env);
    assert!(
        root.join("media/sunomi/videos/s3clip/manifest.json")
            .exists(),
        "the manifest went through the S3 API into the bucket"
    );
    let edge = Edge::start(store, &[], &env);
    verify_stream(
        &edge.base,
        "s3clip",
        &Expect {
            frames: 210,
            resolutions: vec![(1280, 720), (854, 480), (640, 360)],
            audio: true,
        },
    );
    assert_eq!(get(&format!("{}/readyz", edge.admin)).status, 200);
    assert_eq!(get(&edge.url("/v/absent/master.m3u8")).status, 404);
}
