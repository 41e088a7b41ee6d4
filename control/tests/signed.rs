//! Signed playback: a `signed` playback id plays only with a token minted from a signing key
//! control created (ffmpeg follows the token into every playlist and segment); expired,
//! wrong-subject, wrong-key, `alg: none` and HS256-with-the-public-key tokens get 403 without
//! a storage read.

mod common;

use std::time::Duration;

use base64::Engine;
use common::*;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::json;

fn storage_reads(edge: &Edge) -> f64 {
    let text = reqwest::blocking::get(format!("{}/metrics", edge.admin))
        .unwrap()
        .text()
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("sunomi_storage_reads_total "))
        .and_then(|v| v.trim().parse().ok())
        .expect("the edge exports sunomi_storage_reads_total")
}

fn b64(v: &serde_json::Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

#[test]
fn signed_playback_ids_play_only_with_a_valid_token() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    let edge = Edge::start(&store, &[], &[]);
    let control = Control::start(Options {
        store: store.clone(),
        config: format!("edge_admin_urls = [\"{}\"]\n", edge.admin),
        ..Default::default()
    });
    let api = control.api(&create_key(&store, &[]));
    let src = clip(dir.path(), "clip.mp4", 3.0);
    let (code, out, err) = upload_cli(&src, &api, true);
    assert_eq!(code, 0, "{err}");
    let id = out.lines().next().unwrap().to_string();

    let r = api.send("POST", "/api/v1/signing-keys", &[], vec![]);
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let key = r.json();
    let kid = key["id"].as_str().unwrap().to_string();
    let private = key["private_key"].as_str().unwrap().to_string();
    let public = key["public_key"].as_str().unwrap().to_string();
    let listed = api.get("/api/v1/signing-keys").json();
    assert!(
        listed[0].get("private_key").is_none(),
        "the private half is shown once"
    );
    let pem_file = dir.path().join("signing.pem");
    std::fs::write(&pem_file, &private).unwrap();
    let signing = (kid.clone(), pem_file);

    let r = api.send(
        "POST",
        &format!("/api/v1/assets/{id}/playback-ids"),
        &[("content-type", "application/json")],
        br#"{"policy":"signed"}"#.to_vec(),
    );
    assert_eq!(r.status, 201);
    let pid = r.json()["id"].as_str().unwrap().to_string();
    let token = mint_token(&signing, &pid, "3600", false);
    let master = format!("{}/v/{pid}/master.m3u8", edge.base);

    // Plays with the token: every URI the edge writes carries it.
    decodes(&format!("{master}?token={token}"));
    let text = reqwest::blocking::get(format!("{master}?token={token}"))
        .unwrap()
        .text()
        .unwrap();
    assert!(
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .all(|l| l.contains(&format!("token={token}"))),
        "{text}"
    );
    assert_eq!(http_status(&master), 403, "no token");

    // Forged or stale tokens: 403 before any storage read.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let es = |claims: serde_json::Value, pem: &str| {
        let mut h = Header::new(Algorithm::ES256);
        h.kid = Some(kid.clone());
        encode(
            &h,
            &claims,
            &EncodingKey::from_ec_pem(pem.as_bytes()).unwrap(),
        )
        .unwrap()
    };
    let other = api.send("POST", "/api/v1/signing-keys", &[], vec![]).json();
    let other_private = other["private_key"].as_str().unwrap().to_string();
    let expired = es(json!({"sub": pid, "aud": "v", "exp": now - 100}), &private);
    let wrong_sub = mint_token(&signing, &id, "3600", false);
    let wrong_aud = es(json!({"sub": pid, "aud": "x", "exp": now + 100}), &private);
    let wrong_key = es(
        json!({"sub": pid, "aud": "v", "exp": now + 100}),
        &other_private,
    );
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "kid": kid})),
        b64(&json!({"sub": pid, "aud": "v", "exp": now + 100}))
    );
    let hs = {
        let mut h = Header::new(Algorithm::HS256);
        h.kid = Some(kid.clone());
        encode(
            &h,
            &json!({"sub": pid, "aud": "v", "exp": now + 100}),
            &EncodingKey::from_secret(public.as_bytes()).unwrap(),
        )
        .unwrap()
    };
    let before = storage_reads(&edge);
    for (what, bad) in [
        ("expired", &expired),
        ("another playback id's", &wrong_sub),
        ("another audience's", &wrong_aud),
        ("another key's", &wrong_key),
        ("alg none", &none),
        ("HS256 with the public key", &hs),
    ] {
        for url in [
            format!("{master}?token={bad}"),
            format!("{}/v/{pid}/360p/0.m4s?token={bad}", edge.base),
        ] {
            assert_eq!(http_status(&url), 403, "{what} token: {url}");
        }
    }
    assert_eq!(
        http_status(&format!("{master}?token=%22")),
        403,
        "malformed"
    );
    assert_eq!(
        storage_reads(&edge),
        before,
        "refused before any storage read"
    );

    // An RS256 key (asked for by name) signs tokens the edge takes too.
    let r = api.send(
        "POST",
        "/api/v1/signing-keys",
        &[("content-type", "application/json")],
        br#"{"algorithm":"RS256"}"#.to_vec(),
    );
    assert_eq!(r.status, 201);
    let rsa = r.json();
    assert_eq!(rsa["algorithm"], "RS256");
    assert!(rsa["public_key"]
        .as_str()
        .unwrap()
        .contains("BEGIN PUBLIC KEY"));
    let rsa_pem = dir.path().join("rsa.pem");
    std::fs::write(&rsa_pem, rsa["private_key"].as_str().unwrap()).unwrap();
    let rsa_key = (rsa["id"].as_str().unwrap().to_string(), rsa_pem);
    let rsa_token = mint_token(&rsa_key, &pid, "600", false);
    let header = rsa_token.split('.').next().unwrap();
    let header: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["alg"], "RS256");
    decodes(&format!("{master}?token={}", rsa_token.trim()));
    let bad = api.send(
        "POST",
        "/api/v1/signing-keys",
        &[("content-type", "application/json")],
        br#"{"algorithm":"HS256"}"#.to_vec(),
    );
    assert_eq!(bad.status, 400, "only asymmetric keys");

    // Revoked: the signed id is gone everywhere, token or not.
    let r = api.send(
        "DELETE",
        &format!("/api/v1/assets/{id}/playback-ids/{pid}"),
        &[],
        vec![],
    );
    assert_eq!(r.status, 204);
    wait_until(Duration::from_secs(10), "the revoked id to be gone", || {
        http_status(&format!("{master}?token={token}")) == 404
    });
}

#[test]
fn picture_tokens_grant_their_own_audience_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    let (_pictures, pictures_url) = start_pictures(&store);
    let edge = Edge::start(
        &store,
        &["--pictures", &pictures_url],
        &[("SUNOMI_PICTURES_SECRET".into(), PICTURES_SECRET.into())],
    );
    let server = Control::start(Options {
        store: store.clone(),
        config: format!("edge_admin_urls = [\"{}\"]\n", edge.admin),
        ..Default::default()
    });
    let api = server.api(&create_key(&store, &[]));
    let src = clip(dir.path(), "clip.mp4", 3.0);
    let (code, out, err) = upload_cli(&src, &api, true);
    assert_eq!(code, 0, "{err}");
    let id = out.lines().next().unwrap().to_string();
    let signing = signing_key(&api, dir.path());
    let playback_id = |policy: &str| {
        let r = api.send(
            "POST",
            &format!("/api/v1/assets/{id}/playback-ids"),
            &[("content-type", "application/json")],
            format!("{{\"policy\":\"{policy}\"}}").into_bytes(),
        );
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        r.json()["id"].as_str().unwrap().to_string()
    };
    let pid = playback_id("signed");
    let url = |file: &str, token: &str| format!("{}/v/{pid}/{file}?token={token}", edge.base);
    let files = [
        "master.m3u8",
        "thumbnail.jpg",
        "storyboard.vtt",
        "storyboard.jpg",
        "animated.gif?end=1",
    ];
    // Mux's audiences: each token opens its own files.
    for (audience, opens) in [
        ("v", "master.m3u8"),
        ("t", "thumbnail.jpg"),
        ("s", "storyboard"),
        ("g", "animated.gif"),
    ] {
        let token = mint_token_for(&signing, &pid, "600", audience);
        for file in files {
            let u = url(file, &token).replace("?end=1?token=", "?end=1&token=");
            let want = if file.starts_with(opens) { 200 } else { 403 };
            assert_eq!(http_status(&u), want, "aud {audience}: {file}");
        }
    }
    // The storyboard's index names its image with the token it was asked with.
    let s = mint_token_for(&signing, &pid, "600", "s");
    let vtt = blocking_get(&url("storyboard.vtt", &s));
    assert!(
        vtt.contains(&format!("storyboard.jpg?token={s}#xywh=")),
        "{vtt}"
    );
    // Review opens everything, privately; no token opens nothing.
    let review = mint_token_for(&signing, &pid, "600", "review");
    let r = client().get(url("thumbnail.jpg", &review)).send().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["cache-control"].to_str().unwrap(),
        "private, no-store"
    );
    assert_eq!(
        http_status(&format!("{}/v/{pid}/thumbnail.jpg", edge.base)),
        403
    );
    // A public playback id's pictures need no token.
    let public = playback_id("public");
    assert_eq!(
        http_status(&format!("{}/v/{public}/thumbnail.jpg?width=320", edge.base)),
        200
    );
    let (code, _, err) = control(
        &[
            "token",
            "--playback-id",
            &pid,
            "--key-id",
            &signing.0,
            "--private-key",
            signing.1.to_str().unwrap(),
            "--audience",
            "x",
        ],
        &[],
    );
    assert_ne!(code, 0);
    assert!(err.contains("is not one of v, review, t, s, g"), "{err}");
}
