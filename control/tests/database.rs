//! The database layer on the engine the suite runs against (SQLite, or PostgreSQL with
//! `SUNOMI_TEST_DATABASE=postgres`): migrations, versioned writes under contention, the
//! outbox's leases between relays.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_relays_never_hold_the_same_row_and_a_dead_relays_rows_come_back() {
    let db = fresh("outbox").await;
    let id = AssetId::generate();
    let mut tx = db.pool().begin().await.unwrap();
    for _ in 0..200 {
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
    let relays: Vec<_> = ["a", "b", "c"]
        .into_iter()
        .map(|name| {
            let (db, leased) = (db.clone(), leased.clone());
            tokio::spawn(async move {
                loop {
                    let rows = outbox::lease(&db, name, 1_000, 30_000, 16).await.unwrap();
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
    assert_eq!(leased.len(), 200, "a row was applied twice");
    assert_eq!(unique.len(), 200);
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
