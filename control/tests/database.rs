//! The database layer on the engine the suite runs against (SQLite, or PostgreSQL with
//! `SUNOMI_TEST_DATABASE=postgres`): migrations, versioned writes under contention, the
//! outbox's leases between relays.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use sunomi_control::db::outbox;
use sunomi_control::db::{assets, Db};
use sunomi_control::domain::asset::Asset;
use sunomi_control::domain::effects::Effect;
use sunomi_control::domain::ids::AssetId;

async fn fresh(name: &str) -> Db {
    let dir = tempfile::tempdir().unwrap().keep();
    let url = database_for(&format!("{}/{name}", dir.display()));
    let db = Db::open(&url).await.expect("opening the database");
    // Applying the migrations again changes nothing.
    db.migrate().await.expect("migrating twice");
    db
}

async fn insert(db: &Db, asset: &Asset) {
    let mut tx = db.pool().begin().await.unwrap();
    assert!(assets::insert(&mut tx, asset).await.unwrap());
    assets::insert_events(&mut tx, &asset.events).await.unwrap();
    tx.commit().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_versioned_writers_never_lose_an_update() {
    let db = fresh("writers").await;
    let asset = Asset::new(AssetId::generate(), None, None, Default::default(), "t0");
    insert(&db, &asset).await;
    let id = asset.id.clone();
    let writers: Vec<_> = (0..16)
        .map(|w| {
            let (db, id) = (db.clone(), id.clone());
            tokio::spawn(async move {
                let mut retries = 0;
                loop {
                    let stored = assets::get(&db, &id).await.unwrap().unwrap();
                    let mut next = stored.asset.clone();
                    next.meta.insert(format!("writer{w}"), "done".into());
                    let mut tx = db.pool().begin().await.unwrap();
                    if assets::update(&mut tx, &next, stored.version)
                        .await
                        .unwrap()
                    {
                        tx.commit().await.unwrap();
                        return retries;
                    }
                    retries += 1;
                }
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    let stored = assets::get(&db, &id).await.unwrap().unwrap();
    assert_eq!(stored.asset.meta.len(), 16, "{:?}", stored.asset.meta);
    assert_eq!(stored.version, 17);
    // The creation event is kept in its own table.
    let events = assets::events_after(&db, &id, 0, 10).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, "video.asset.created");
    assert_eq!(events[0].id, format!("{id}.1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn two_webhook_dispatchers_never_post_the_same_message_at_once() {
    use sunomi_control::db::webhooks::{self, NewDelivery};
    let db = fresh("deliveries").await;
    for n in 0..600 {
        let d = NewDelivery {
            msg_id: format!("msg_{n}"),
            endpoint_id: "ep".into(),
            asset_id: "a".into(),
            event_type: "video.asset.created".into(),
            body: "{}".into(),
        };
        assert!(webhooks::enqueue(&db, &d, 1).await.unwrap());
    }
    let leased = Arc::new(tokio::sync::Mutex::new(Vec::new()));
    let dispatchers: Vec<_> = ["a", "b", "c", "d", "e", "f", "g", "h"]
        .into_iter()
        .map(|name| {
            let (db, leased) = (db.clone(), leased.clone());
            tokio::spawn(async move {
                loop {
                    let due = webhooks::lease(&db, name, 1_000, 30_000, 8).await.unwrap();
                    if due.is_empty() {
                        return;
                    }
                    for d in due {
                        leased.lock().await.push(d.msg_id.clone());
                        let attempt = sunomi_control::domain::webhooks::Attempt {
                            at: "t".into(),
                            status: Some(204),
                            error: None,
                            duration_ms: 1,
                        };
                        let held = webhooks::record_attempt(
                            &db,
                            &d.msg_id,
                            name,
                            &attempt,
                            webhooks::Next::Delivered,
                        )
                        .await
                        .unwrap();
                        assert!(held, "{} lost its lease", d.msg_id);
                    }
                }
            })
        })
        .collect();
    for d in dispatchers {
        d.await.unwrap();
    }
    let leased = leased.lock().await.clone();
    let unique: BTreeSet<String> = leased.iter().cloned().collect();
    assert_eq!(leased.len(), 600, "a message was taken twice");
    assert_eq!(unique.len(), 600);
    assert_eq!(webhooks::backlog(&db, 2_000).await.unwrap().0, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn two_relays_never_hold_the_same_row_and_a_dead_relays_rows_come_back() {
    let db = fresh("outbox").await;
    let id = AssetId::generate();
    let mut tx = db.pool().begin().await.unwrap();
    for _ in 0..600 {
        outbox::push(
            &mut tx,
            Some(&id),
            &Effect::Project {
                asset_id: id.clone(),
            },
            1,
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    let leased = Arc::new(tokio::sync::Mutex::new(Vec::new()));
    let relays: Vec<_> = ["a", "b", "c", "d", "e", "f", "g", "h"]
        .into_iter()
        .map(|name| {
            let (db, leased) = (db.clone(), leased.clone());
            tokio::spawn(async move {
                loop {
                    let rows = outbox::lease(&db, name, 1_000, 30_000, 8).await.unwrap();
                    if rows.is_empty() {
                        return;
                    }
                    for r in rows {
                        leased.lock().await.push(r.id);
                        outbox::done(&db, r.id, name).await.unwrap();
                    }
                }
            })
        })
        .collect();
    for r in relays {
        r.await.unwrap();
    }
    let leased = leased.lock().await.clone();
    let unique: BTreeSet<i64> = leased.iter().copied().collect();
    assert_eq!(leased.len(), 600, "a row was applied twice");
    assert_eq!(unique.len(), 600);
    assert_eq!(outbox::backlog(&db, 2_000).await.unwrap().0, 0);

    // A relay that leased a row and died: the row is leased again once its lease runs out.
    let mut tx = db.pool().begin().await.unwrap();
    let row = outbox::push(
        &mut tx,
        Some(&id),
        &Effect::Project {
            asset_id: id.clone(),
        },
        1,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        outbox::lease(&db, "dead", 1_000, 5_000, 16)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(outbox::lease(&db, "alive", 2_000, 5_000, 16)
        .await
        .unwrap()
        .is_empty());
    let again = outbox::lease(&db, "alive", 6_001, 5_000, 16).await.unwrap();
    assert_eq!(again.iter().map(|r| r.id).collect::<Vec<_>>(), [row]);
    // The dead relay cannot finish what is no longer its own.
    outbox::done(&db, row, "dead").await.unwrap();
    assert_eq!(outbox::pending(&db, &id, i64::MAX).await.unwrap(), 1);
    outbox::done(&db, row, "alive").await.unwrap();
    assert_eq!(outbox::pending(&db, &id, i64::MAX).await.unwrap(), 0);
}

#[tokio::test]
async fn pages_of_assets_come_newest_first() {
    let db = fresh("pages").await;
    let mut ids = Vec::new();
    for i in 0..7 {
        let a = Asset::new(
            AssetId::generate(),
            None,
            None,
            Default::default(),
            &format!("2026-01-01T00:00:0{i}Z"),
        );
        insert(&db, &a).await;
        ids.push(a.id);
    }
    ids.reverse();
    let (first, more) = assets::page(&db, 3, 0).await.unwrap();
    assert!(more);
    let (last, more_after) = assets::page(&db, 3, 6).await.unwrap();
    assert!(!more_after);
    let seen: Vec<AssetId> = first
        .iter()
        .chain(last.iter())
        .map(|a| a.id.clone())
        .collect();
    assert_eq!(seen, [&ids[..3], &ids[6..]].concat());
    assert_eq!(assets::count(&db).await.unwrap(), 7);
}

#[test]
fn an_api_process_never_keeps_serving_an_asset_another_process_changed() {
    // On PostgreSQL API processes keep assets in memory (control/src/db/cache.rs), dropped
    // when a write anywhere announces it; on SQLite nothing is cached and this holds as is.
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    let key = create_key(&store, &[]);
    let start = || {
        Control::start(Options {
            store: store.clone(),
            no_workers: true,
            ..Default::default()
        })
    };
    let (a, b) = (start(), start());
    let (api_a, api_b) = (a.api(&key), b.api(&key));
    for round in 0..5 {
        let r = api_a.send(
            "POST",
            "/api/v1/uploads",
            &[("content-type", "application/json")],
            b"{}".to_vec(),
        );
        assert_eq!(r.status, 201);
        let id = r.json()["asset_id"].as_str().unwrap().to_string();
        // A reads it and lists it (and, on PostgreSQL, keeps both)…
        for _ in 0..3 {
            assert_eq!(api_a.asset(&id)["status"], "waiting_upload");
            assert!(listed(&api_a).contains(&id), "round {round}");
        }
        // … B deletes it; A must not keep answering from memory.
        let gone = api_b.send("DELETE", &format!("/api/v1/assets/{id}"), &[], vec![]);
        assert_eq!(gone.status, 204, "round {round}");
        wait_until(
            Duration::from_secs(5),
            "the other process to see the deletion",
            || api_a.get(&format!("/api/v1/assets/{id}")).status == 404,
        );
        wait_until(
            Duration::from_secs(5),
            "the other process's listing to drop the deleted asset",
            || !listed(&api_a).contains(&id),
        );
        // And a write by A itself is read back at once.
        let r = api_a.send(
            "POST",
            "/api/v1/uploads",
            &[("content-type", "application/json")],
            b"{}".to_vec(),
        );
        let id = r.json()["asset_id"].as_str().unwrap().to_string();
        assert_eq!(api_a.asset(&id)["status"], "waiting_upload");
        assert_eq!(
            api_a
                .send("DELETE", &format!("/api/v1/assets/{id}"), &[], vec![])
                .status,
            204
        );
        assert_eq!(
            api_a.get(&format!("/api/v1/assets/{id}")).status,
            404,
            "round {round}"
        );
    }
    // On PostgreSQL the reads above were answered from memory too; on SQLite never.
    let from_memory = a
        .metric("sunomi_asset_reads_total{source=\"memory\"}")
        .unwrap_or(0.0);
    let pages_from_memory = a
        .metric("sunomi_asset_pages_total{source=\"memory\"}")
        .unwrap_or(0.0);
    if std::env::var("SUNOMI_TEST_DATABASE").as_deref() == Ok("postgres") {
        assert!(from_memory > 0.0, "nothing was read from memory");
        assert!(pages_from_memory > 0.0, "no page was read from memory");
    } else {
        assert_eq!(from_memory, 0.0);
        assert_eq!(pages_from_memory, 0.0);
    }
}

/// The ids on the first page of the listing.
fn listed(api: &common::Api) -> Vec<String> {
    let page = api.get("/api/v1/assets?limit=100");
    assert_eq!(page.status, 200);
    page.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_string())
        .collect()
}
