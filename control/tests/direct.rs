//! Direct uploads on an `s3://` store: a browser PUTs the file's parts straight to the bucket
//! with pre-signed S3 multipart URLs (no credentials of its own), then completes the upload
//! through the API with its upload token; the pipeline goes on and the asset becomes ready.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

#[test]
fn a_browser_uploads_straight_to_the_bucket_with_presigned_parts() {
    let dir = tempfile::tempdir().unwrap();
    let s3 = S3Server::start(&dir.path().join("s3"));
    let env = s3.env();
    let store = "s3://media/sunomi";
    let control = Control::start(Options {
        store: store.into(),
        env: env.clone(),
        ..Default::default()
    });
    let api = control.api(&create_key(store, &env));
    let src = make_source(
        dir.path(),
        "big.mp4",
        &[
            // Noise at a low quantiser: ~20 MB in 2.5 s of 360p, three parts.
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=640x360:rate=30",
            "-t",
            "2.5",
            "-vf",
            "noise=alls=40:allf=t+u",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-qp",
            "8",
            "-pix_fmt",
            "yuv420p",
        ],
    );
    let bytes = std::fs::read(&src).unwrap();
    assert!(bytes.len() > 16 << 20, "the file must take several parts");
    let r = api.send(
        "POST",
        "/api/v1/uploads",
        &[("content-type", "application/json")],
        json!({ "size": bytes.len(), "direct": true, "passthrough": "direct" })
            .to_string()
            .into_bytes(),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let upload = r.json();
    let token = upload["upload_token"].as_str().unwrap().to_string();
    let parts = upload["direct"]["parts"].as_array().unwrap().clone();
    assert_eq!(parts.len(), bytes.len().div_ceil(8 << 20));

    // The browser: plain PUTs to the bucket, no credentials but the signed URLs.
    let http = reqwest::blocking::Client::new();
    let mut done = Vec::new();
    for p in &parts {
        let (offset, length) = (
            p["offset"].as_u64().unwrap() as usize,
            p["length"].as_u64().unwrap() as usize,
        );
        let url = p["url"].as_str().unwrap();
        assert!(
            url.contains("X-Amz-Signature") && url.contains("uploadId"),
            "{url}"
        );
        let resp = http
            .put(url)
            .body(bytes[offset..offset + length].to_vec())
            .send()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200, "part {}", p["number"]);
        let etag = resp.headers()["etag"].to_str().unwrap().to_string();
        done.push(json!({ "number": p["number"], "etag": etag }));
    }
    let browser = Api {
        base: api.base.clone(),
        key: token,
    };
    let complete = upload["direct"]["complete_url"].as_str().unwrap();
    let post = |who: &Api, parts: &serde_json::Value| {
        who.send(
            "POST",
            complete,
            &[("content-type", "application/json")],
            json!({ "parts": parts }).to_string().into_bytes(),
        )
    };
    // Wrong completions are refused and change nothing.
    let missing = json!(done[..done.len() - 1]);
    let r = post(&browser, &missing);
    assert_eq!(
        r.status,
        400,
        "{} {}",
        complete,
        String::from_utf8_lossy(&r.body)
    );
    // (A wrong ETag is S3's to refuse, as 409: s3s-fs does not check part ETags, so that
    // path is not exercised here.)
    let stranger = Api {
        base: api.base.clone(),
        key: "ut_x_y".into(),
    };
    assert_eq!(post(&stranger, &json!(done)).status, 401);
    // The right one.
    let r = post(&browser, &json!(done));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["status"], "asset_created");
    let asset = upload["asset_id"].as_str().unwrap();
    let ready = api.wait_final(asset, Duration::from_secs(120));
    assert_eq!(ready["status"], "ready", "{ready}");
    assert_eq!(ready["passthrough"], "direct");
    let stored = dir
        .path()
        .join("s3/media/sunomi/videos")
        .join(asset)
        .join("source");
    assert_eq!(
        std::fs::read(stored).unwrap(),
        bytes,
        "S3 assembled the parts"
    );
    // The token is spent once the upload is complete; completing again is harmless.
    assert_eq!(post(&browser, &json!(done)).status, 401);
    assert_eq!(post(&api, &json!(done)).status, 200);
}

#[test]
fn direct_uploads_need_an_s3_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    let control = Control::start(Options {
        store: store.clone(),
        no_workers: true,
        ..Default::default()
    });
    let api = control.api(&create_key(&store, &[]));
    let r = api.send(
        "POST",
        "/api/v1/uploads",
        &[("content-type", "application/json")],
        br#"{"size": 1000, "direct": true}"#.to_vec(),
    );
    assert_eq!(r.status, 409);
    assert_eq!(r.json()["code"], "direct_upload_unsupported");
    let r = api.send(
        "POST",
        "/api/v1/uploads",
        &[("content-type", "application/json")],
        br#"{"direct": true}"#.to_vec(),
    );
    assert_eq!(r.status, 400);
}

#[test]
fn parts_that_do_not_add_up_to_the_declared_size_are_not_kept() {
    let dir = tempfile::tempdir().unwrap();
    let s3 = S3Server::start(&dir.path().join("s3"));
    let env = s3.env();
    let store = "s3://media/sunomi";
    // At most 2 MiB per upload.
    let control = Control::start(Options {
        store: store.into(),
        env: env.clone(),
        no_workers: true,
        config: "[uploads]\nmax_size = 2097152\n".into(),
        ..Default::default()
    });
    let api = control.api(&create_key(store, &env));
    // Declared within the limit...
    let r = api.send(
        "POST",
        "/api/v1/uploads",
        &[("content-type", "application/json")],
        json!({ "size": 1000, "direct": true })
            .to_string()
            .into_bytes(),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let upload = r.json();
    let part = &upload["direct"]["parts"][0];
    // ...and 9 MiB sent through the one pre-signed part URL.
    let big = vec![7u8; 9 << 20];
    let resp = reqwest::blocking::Client::new()
        .put(part["url"].as_str().unwrap())
        .body(big)
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let etag = resp.headers()["etag"].to_str().unwrap().to_string();
    let r = api.send(
        "POST",
        upload["direct"]["complete_url"].as_str().unwrap(),
        &[("content-type", "application/json")],
        json!({ "parts": [{ "number": 1, "etag": etag }] })
            .to_string()
            .into_bytes(),
    );
    assert_eq!(r.status, 422, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["code"], "size_mismatch");
    let asset = upload["asset_id"].as_str().unwrap();
    let a = api.asset(asset);
    assert_eq!(a["status"], "errored", "{a}");
    assert_eq!(a["errors"]["code"], "ERR_UPLOAD_SIZE_MISMATCH");
    let u = api.get(&format!(
        "/api/v1/uploads/{}",
        upload["id"].as_str().unwrap()
    ));
    assert_eq!(u.json()["status"], "errored");
    let stored = dir
        .path()
        .join("s3/media/sunomi/videos")
        .join(asset)
        .join("source");
    assert!(!stored.exists(), "the oversized source was kept");
}
