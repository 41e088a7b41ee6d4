//! Assets and their events in the database. An asset row holds the asset as a JSON
//! document (the value [`Asset::apply`] works on, its events left out) with the columns
//! queries filter and sort on, and a `version` every write names: an update over a newer
//! version changes nothing and says so, and the caller applies its change again to what is
//! there now. Events live in `asset_events`, one row each, so history is never trimmed by a
//! write and is read a page at a time.

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::{Db, DbError};
use crate::domain::asset::{Asset, AssetStatus, Event};
use crate::domain::ids::AssetId;

/// An asset as stored, with the version a write must name.
#[derive(Debug, Clone)]
pub struct Stored {
    /// The asset (its `events` empty: they are read with [`events_after`]).
    pub asset: Asset,
    /// Its row's version.
    pub version: i64,
}

fn status_name(status: AssetStatus) -> String {
    serde_json::to_value(status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn doc_of(asset: &Asset) -> String {
    let mut bare = asset.clone();
    bare.events = Vec::new();
    serde_json::to_string(&bare).unwrap_or_default()
}

pub(crate) fn stored_of(row: &AnyRow) -> Result<Stored, DbError> {
    let doc: String = row.try_get("doc")?;
    let version: i64 = row.try_get("version")?;
    let asset: Asset =
        serde_json::from_str(&doc).map_err(|e| DbError::Corrupt(format!("asset document: {e}")))?;
    Ok(Stored { asset, version })
}

/// Reads asset `id`.
pub async fn get(db: &Db, id: &AssetId) -> Result<Option<Stored>, DbError> {
    let row = sqlx::query("SELECT doc, version FROM assets WHERE id = $1")
        .bind(id.as_str())
        .fetch_optional(db.pool())
        .await?;
    row.as_ref().map(stored_of).transpose()
}

/// A page of assets, newest first: `limit` of them after skipping `offset`, and whether
/// more follow.
pub async fn page(db: &Db, limit: u32, offset: u64) -> Result<(Vec<Asset>, bool), DbError> {
    let rows = sqlx::query(
        "SELECT doc, version FROM assets ORDER BY created_at DESC, id DESC LIMIT $1 OFFSET $2",
    )
    .bind(i64::from(limit) + 1)
    .bind(i64::try_from(offset).unwrap_or(i64::MAX))
    .fetch_all(db.pool())
    .await?;
    let more = rows.len() > limit as usize;
    let assets = rows
        .iter()
        .take(limit as usize)
        .map(|r| stored_of(r).map(|s| s.asset))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((assets, more))
}

/// Every asset in one of `statuses`.
pub async fn with_status(db: &Db, statuses: &[AssetStatus]) -> Result<Vec<Asset>, DbError> {
    let mut out = Vec::new();
    for status in statuses {
        let rows = sqlx::query("SELECT doc, version FROM assets WHERE status = $1")
            .bind(status_name(*status))
            .fetch_all(db.pool())
            .await?;
        for row in &rows {
            out.push(stored_of(row)?.asset);
        }
    }
    Ok(out)
}

/// How many assets there are.
pub async fn count(db: &Db) -> Result<i64, DbError> {
    Ok(sqlx::query("SELECT COUNT(*) AS n FROM assets")
        .fetch_one(db.pool())
        .await?
        .try_get("n")?)
}

/// Up to `limit` events of asset `id` after sequence number `after`, oldest first.
pub async fn events_after(
    db: &Db,
    id: &AssetId,
    after: u64,
    limit: u32,
) -> Result<Vec<Event>, DbError> {
    let rows = sqlx::query(
        "SELECT seq, kind, created_at, data FROM asset_events \
         WHERE asset_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
    )
    .bind(id.as_str())
    .bind(i64::try_from(after).unwrap_or(i64::MAX))
    .bind(i64::from(limit))
    .fetch_all(db.pool())
    .await?;
    events_of(id, &rows)
}

/// Up to `limit` events of type `kind` of asset `id`, newest first, before sequence number
/// `before` (all when `None`).
pub async fn events_of_kind(
    db: &Db,
    id: &AssetId,
    kind: &str,
    before: Option<u64>,
    limit: u32,
) -> Result<Vec<Event>, DbError> {
    let rows = sqlx::query(
        "SELECT seq, kind, created_at, data FROM asset_events \
         WHERE asset_id = $1 AND kind = $2 AND seq < $3 ORDER BY seq DESC LIMIT $4",
    )
    .bind(id.as_str())
    .bind(kind)
    .bind(before.map_or(i64::MAX, |b| i64::try_from(b).unwrap_or(i64::MAX)))
    .bind(i64::from(limit))
    .fetch_all(db.pool())
    .await?;
    events_of(id, &rows)
}

fn events_of(id: &AssetId, rows: &[sqlx::any::AnyRow]) -> Result<Vec<Event>, DbError> {
    rows.iter()
        .map(|row| {
            let seq: i64 = row.try_get("seq")?;
            let data: String = row.try_get("data")?;
            let seq = u64::try_from(seq).map_err(|_| DbError::Corrupt("event seq".into()))?;
            Ok(Event {
                id: format!("{id}.{seq}"),
                seq,
                kind: row.try_get("kind")?,
                asset_id: id.clone(),
                created_at: row.try_get("created_at")?,
                data: serde_json::from_str(&data)
                    .map_err(|e| DbError::Corrupt(format!("event data: {e}")))?,
            })
        })
        .collect()
}

/// Inserts a new asset (version 1). `false` when one with its id exists.
pub async fn insert(tx: &mut Transaction<'static, Any>, asset: &Asset) -> Result<bool, DbError> {
    insert_at(tx, asset, 1).await
}

/// Inserts an asset at `version` (an import continues after the versions its projections
/// already carry). `false` when one with its id exists.
pub async fn insert_at(
    tx: &mut Transaction<'static, Any>,
    asset: &Asset,
    version: i64,
) -> Result<bool, DbError> {
    let done = sqlx::query(
        "INSERT INTO assets (id, status, created_at, updated_at, event_seq, version, doc, flags) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING",
    )
    .bind(asset.id.as_str())
    .bind(status_name(asset.status))
    .bind(asset.created_at.as_str())
    .bind(asset.updated_at.as_str())
    .bind(i64::try_from(asset.event_seq).unwrap_or(i64::MAX))
    .bind(version)
    .bind(doc_of(asset))
    .bind(asset.moderation.warnings().bits())
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Replaces asset `asset.id` if its row is still at `version` (then at `version + 1`).
/// `false` when someone wrote it meanwhile (or it is gone).
pub async fn update(
    tx: &mut Transaction<'static, Any>,
    asset: &Asset,
    version: i64,
) -> Result<bool, DbError> {
    let done = sqlx::query(
        "UPDATE assets SET status = $1, updated_at = $2, event_seq = $3, doc = $4, \
         flags = $7, version = version + 1 WHERE id = $5 AND version = $6",
    )
    .bind(status_name(asset.status))
    .bind(asset.updated_at.as_str())
    .bind(i64::try_from(asset.event_seq).unwrap_or(i64::MAX))
    .bind(doc_of(asset))
    .bind(asset.id.as_str())
    .bind(version)
    .bind(asset.moderation.warnings().bits())
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Deletes asset `id` if its row is still at `version`; `false` otherwise. Its events stay
/// until [`delete_events`].
pub async fn delete(
    tx: &mut Transaction<'static, Any>,
    id: &AssetId,
    version: i64,
) -> Result<bool, DbError> {
    let done = sqlx::query("DELETE FROM assets WHERE id = $1 AND version = $2")
        .bind(id.as_str())
        .bind(version)
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Stores `events` (a new asset's, or those a change emitted). An event already stored is
/// left as it is (an import run twice).
pub async fn insert_events<'e>(
    tx: &mut Transaction<'static, Any>,
    events: impl IntoIterator<Item = &'e Event>,
) -> Result<(), DbError> {
    for e in events {
        sqlx::query(
            "INSERT INTO asset_events (asset_id, seq, kind, created_at, data) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (asset_id, seq) DO NOTHING",
        )
        .bind(e.asset_id.as_str())
        .bind(i64::try_from(e.seq).unwrap_or(i64::MAX))
        .bind(e.kind.as_str())
        .bind(e.created_at.as_str())
        .bind(e.data.to_string())
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Deletes asset `id`'s events (with the asset, in its deletion's transaction: the
/// deletion's own event travels in the outbox).
pub async fn delete_events(
    tx: &mut Transaction<'static, Any>,
    id: &AssetId,
) -> Result<(), DbError> {
    sqlx::query("DELETE FROM asset_events WHERE asset_id = $1")
        .bind(id.as_str())
        .execute(&mut **tx)
        .await?;
    Ok(())
}
