//! The S3 path: the same end-to-end checks against a real S3 API (s3s-fs on loopback).

mod common;

use common::*;

#[test]
fn s3_store_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("s3");
    let s3 = S3Server::start(&root);
    let env_owned = s3.env();
    let env: Vec<(&str, &str)> = env_owned
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
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
