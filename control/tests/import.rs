//! Stores made by the earlier version, which kept its records as JSON in object storage
//! (`videos/{id}/asset.json` with the events on the record, `keys/api/{id}.json`), are
//! imported into an empty database at the first start and play as before.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use sunomi_control::db::{assets, keys, Db};
use sunomi_control::domain::asset::Asset;
use sunomi_control::domain::ids::AssetId;

/// Writes the records of `database` into `store` the way the earlier version kept them.
async fn write_legacy_records(database: &str, store: &Path, asset: &str) {
    let db = Db::open(database).await.unwrap();
    let id = AssetId::parse(asset).unwrap();
    let mut record: Asset = assets::get(&db, &id).await.unwrap().unwrap().asset;
    record.events = assets::events_after(&db, &id, 0, 1000).await.unwrap();
    let dir = store.join("videos").join(asset);
    std::fs::write(
        dir.join("asset.json"),
        serde_json::to_vec_pretty(&record).unwrap(),
    )
    .unwrap();
    let key_dir = store.join("keys/api");
    std::fs::create_dir_all(&key_dir).unwrap();
    for k in keys::list(&db).await.unwrap() {
        std::fs::write(
            key_dir.join(format!("{}.json", k.id)),
            serde_json::to_vec_pretty(&k).unwrap(),
        )
        .unwrap();
    }
}

#[test]
fn an_earlier_versions_store_is_imported_at_first_start_and_plays_as_before() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let store_arg = store.to_string_lossy().into_owned();
    let edge = Edge::start(&store_arg, &[], &[]);
    let config = format!("edge_admin_urls = [\"{}\"]\n", edge.admin);
    let key = create_key(&store_arg, &[]);
    let (asset, playback, events, signing_key) = {
        let control = Control::start(Options {
            store: store_arg.clone(),
            config: config.clone(),
            ..Default::default()
        });
        let api = control.api(&key);
        let src = clip(dir.path(), "clip.mp4", 2.0);
        let (code, out, err) = upload_cli(&src, &api, true);
        assert_eq!(code, 0, "{err}");
        let asset = out.lines().next().unwrap().to_string();
        let playback = out.lines().last().unwrap().to_string();
        assert!(playback.starts_with("http://edge.test/v/"), "{playback}");
        let events = api.events_until(&asset, None, "video.asset.ready");
        // A signing key: the earlier version kept only its public half, in storage.
        let made = api.send("POST", "/api/v1/signing-keys", &[], vec![]);
        assert_eq!(made.status, 201);
        (asset, playback, events, made.json())
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(write_legacy_records(
        &database_for(&store_arg),
        &store,
        &asset,
    ));

    // A new database on that store: the first start imports what the store holds.
    let fresh = format!("sqlite://{}", dir.path().join("fresh.db").display());
    let control = Control::start(Options {
        store: store_arg.clone(),
        config,
        database: Some(fresh.clone()),
        ..Default::default()
    });
    let api = control.api(&key);
    let a = api.asset(&asset);
    assert_eq!(a["status"], "ready", "{a}");
    assert_eq!(a["playback_url"], playback.as_str());
    let playback = playback.replace("http://edge.test", &edge.base);
    let listed = api.get("/api/v1/assets").json();
    assert_eq!(listed["data"][0]["id"], asset.as_str());
    // Its history came along: the same events, with their ids.
    assert_eq!(api.events_until(&asset, None, "video.asset.ready"), events);
    // It plays as before.
    decodes(&playback);
    // The signing key came along (its public half only), and is a projection now: deleting
    // it through the API removes the file edges read.
    let kid = signing_key["id"].as_str().unwrap();
    let keys = api.get("/api/v1/signing-keys").json();
    assert_eq!(keys[0]["id"], kid, "{keys}");
    assert_eq!(keys[0]["public_key"], signing_key["public_key"]);
    assert_eq!(keys[0]["algorithm"], "ES256");
    assert!(keys[0].get("private_key").is_none());
    let pub_file = store.join(format!("keys/signing/{kid}.pub"));
    assert!(pub_file.exists());
    // Importing again (the command) changes nothing.
    let (code, out, err) = control_cmd(&["import", "--store", &store_arg, "--database", &fresh]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("0 imported"), "{out}");
    let gone = api.send(
        "DELETE",
        &format!("/api/v1/signing-keys/{kid}"),
        &[],
        vec![],
    );
    assert_eq!(gone.status, 204);
    assert!(!pub_file.exists(), "the projection follows the database");
    assert_eq!(
        api.get("/api/v1/signing-keys").json(),
        serde_json::json!([])
    );
    // And a change made now still reaches the edge.
    let r = api.send(
        "POST",
        &format!("/api/v1/assets/{asset}/moderation"),
        &[("content-type", "application/json")],
        br#"{"decision":"block","reason":"after the import"}"#.to_vec(),
    );
    assert_eq!(r.status, 200, "{:?}", r.json());
    wait_until(Duration::from_secs(5), "the block on the edge", || {
        http_status(&playback) == 451
    });
}

fn control_cmd(args: &[&str]) -> (i32, String, String) {
    control(args, &[])
}

#[test]
fn signing_keys_are_imported_once_from_a_store_imported_before_they_moved() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let store_arg = store.to_string_lossy().into_owned();
    // The store as the build before signing keys moved left it: its other records imported
    // (the store is marked), the public key only in storage.
    let k = sunomi_control::signing::generate(sunomi_control::signing::SigningAlgorithm::RS256)
        .unwrap();
    std::fs::create_dir_all(store.join("keys/signing")).unwrap();
    std::fs::write(
        store.join(format!("keys/signing/{}.pub", k.kid)),
        &k.public_pem,
    )
    .unwrap();
    let database = database_for(&store_arg);
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let db = Db::open(&database).await.unwrap();
        sunomi_control::db::imports::mark_store_imported(&db, &store_arg, "2026-01-01T00:00:00Z")
            .await
            .unwrap();
    });
    let key = create_key(&store_arg, &[]);
    let control = Control::start(Options {
        store: store_arg.clone(),
        no_workers: true,
        ..Default::default()
    });
    let api = control.api(&key);
    let keys = api.get("/api/v1/signing-keys").json();
    assert_eq!(keys.as_array().unwrap().len(), 1, "{keys}");
    assert_eq!(keys[0]["id"], k.kid.as_str());
    assert_eq!(keys[0]["algorithm"], "RS256");
    // Once: a key removed from the database is not brought back by the next start.
    let gone = api.send(
        "DELETE",
        &format!("/api/v1/signing-keys/{}", k.kid),
        &[],
        vec![],
    );
    assert_eq!(gone.status, 204);
    let control = control.restart();
    let api = control.api(&key);
    assert_eq!(
        api.get("/api/v1/signing-keys").json(),
        serde_json::json!([])
    );
}
