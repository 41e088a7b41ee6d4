//! Uploads in the database: the record of a tus or direct upload in progress (its declared
//! length, the offset reached, the stored parts), as a JSON document with the columns the
//! sweeper queries and a `version` every write names. [`update`] is a read-change-write
//! retried when another writer got there first, so two PATCHes racing on one offset never
//! both land. The bytes stay in object storage.

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::{Db, DbError};
use crate::domain::ids::{AssetId, UploadId};
use crate::domain::upload::{Upload, UploadStatus};

/// Tries of a read-change-write before it gives up ([`UpdateError::Db`] with a conflict).
const MAX_TRIES: usize = 32;

/// Why an update did not happen.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError<E> {
    /// No such upload.
    #[error("no such upload")]
    NotFound,
    /// The database failed (or writers kept colliding).
    #[error(transparent)]
    Db(#[from] DbError),
    /// The change refused the upload as it is.
    #[error("refused")]
    Rejected(E),
}

fn name<T: Serialize>(value: T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn upload_of(row: &AnyRow) -> Result<(Upload, i64), DbError> {
    let doc: String = row.try_get("doc")?;
    let upload = serde_json::from_str(&doc)
        .map_err(|e| DbError::Corrupt(format!("upload document: {e}")))?;
    Ok((upload, row.try_get("version")?))
}

fn expires(upload: &Upload) -> i64 {
    i64::try_from(upload.expires_at).unwrap_or(i64::MAX)
}

/// Upload `id` and its version.
pub async fn get(db: &Db, id: &UploadId) -> Result<Option<(Upload, i64)>, DbError> {
    sqlx::query("SELECT doc, version FROM uploads WHERE id = $1")
        .bind(id.as_str())
        .fetch_optional(db.pool())
        .await?
        .as_ref()
        .map(upload_of)
        .transpose()
}

/// Stores a new upload in transaction `tx`.
pub async fn insert(tx: &mut Transaction<'static, Any>, upload: &Upload) -> Result<(), DbError> {
    let doc = serde_json::to_string(upload)
        .map_err(|e| DbError::Corrupt(format!("upload document: {e}")))?;
    sqlx::query(
        "INSERT INTO uploads (id, asset_id, status, expires_at, complete, version, doc) \
         VALUES ($1, $2, $3, $4, $5, 1, $6)",
    )
    .bind(upload.id.as_str())
    .bind(upload.asset_id.as_str())
    .bind(name(upload.status))
    .bind(expires(upload))
    .bind(i64::from(upload.is_complete()))
    .bind(doc)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Replaces upload `upload.id` if it is still at `version`; `false` otherwise.
pub async fn replace(
    tx: &mut Transaction<'static, Any>,
    upload: &Upload,
    version: i64,
) -> Result<bool, DbError> {
    let doc = serde_json::to_string(upload)
        .map_err(|e| DbError::Corrupt(format!("upload document: {e}")))?;
    let done = sqlx::query(
        "UPDATE uploads SET status = $1, expires_at = $2, complete = $3, doc = $4, \
         version = version + 1 WHERE id = $5 AND version = $6",
    )
    .bind(name(upload.status))
    .bind(expires(upload))
    .bind(i64::from(upload.is_complete()))
    .bind(doc)
    .bind(upload.id.as_str())
    .bind(version)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Changes upload `id` with `change` (which returns `Ok(None)` when there is nothing to
/// change, or refuses), retried on races. Returns the upload as it is after.
pub async fn update<E, F>(db: &Db, id: &UploadId, mut change: F) -> Result<Upload, UpdateError<E>>
where
    F: FnMut(&Upload) -> Result<Option<Upload>, E>,
{
    for attempt in 0..MAX_TRIES {
        if attempt > 0 {
            // Back off a little (random, growing) so racing writers stop colliding.
            let ms = rand::Rng::gen_range(&mut rand::thread_rng(), 0..=attempt as u64 * 4);
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        }
        let (current, version) = get(db, id).await?.ok_or(UpdateError::NotFound)?;
        let Some(next) = change(&current).map_err(UpdateError::Rejected)? else {
            return Ok(current);
        };
        let mut tx = db.pool().begin().await.map_err(DbError::from)?;
        if replace(&mut tx, &next, version).await? {
            tx.commit().await.map_err(DbError::from)?;
            return Ok(next);
        }
    }
    Err(UpdateError::Db(DbError::Corrupt(format!(
        "upload {id}: {MAX_TRIES} writers collided"
    ))))
}

/// Takes the lease on assembling upload `id` until `until_ms` if nobody holds it at
/// `now_ms`; `false` when another process is finishing it.
pub async fn lease_finish(
    db: &Db,
    id: &UploadId,
    now_ms: i64,
    until_ms: i64,
) -> Result<bool, DbError> {
    let done = sqlx::query(
        "UPDATE uploads SET finishing_until = $1 WHERE id = $2 AND finishing_until <= $3",
    )
    .bind(until_ms)
    .bind(id.as_str())
    .bind(now_ms)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Extends the lease on assembling upload `id` (held by this process) to `until_ms`.
pub async fn renew_finish(db: &Db, id: &UploadId, until_ms: i64) -> Result<(), DbError> {
    sqlx::query("UPDATE uploads SET finishing_until = $1 WHERE id = $2 AND finishing_until > 0")
        .bind(until_ms)
        .bind(id.as_str())
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Gives back the lease on assembling upload `id`.
pub async fn release_finish(db: &Db, id: &UploadId) -> Result<(), DbError> {
    sqlx::query("UPDATE uploads SET finishing_until = 0 WHERE id = $1")
        .bind(id.as_str())
        .execute(db.pool())
        .await?;
    Ok(())
}

/// The uploads of asset `asset` that still wait for bytes, with their versions (a deleted
/// asset ends them).
pub async fn waiting_for(db: &Db, asset: &AssetId) -> Result<Vec<(Upload, i64)>, DbError> {
    sqlx::query("SELECT doc, version FROM uploads WHERE asset_id = $1 AND status = $2")
        .bind(asset.as_str())
        .bind(name(UploadStatus::Waiting))
        .fetch_all(db.pool())
        .await?
        .iter()
        .map(upload_of)
        .collect()
}

/// Up to `limit` uploads the sweeper has work on at `now` (Unix seconds): waiting ones
/// (complete, or expired) and finished ones older than `forget_before`.
pub async fn sweepable(
    db: &Db,
    now: u64,
    forget_before: u64,
    limit: i64,
) -> Result<Vec<Upload>, DbError> {
    let now = i64::try_from(now).unwrap_or(i64::MAX);
    let forget_before = i64::try_from(forget_before).unwrap_or(0);
    let rows = sqlx::query(
        "SELECT doc, version FROM uploads WHERE \
         (status = $1 AND (expires_at <= $2 OR complete = 1)) \
         OR (status <> $1 AND expires_at <= $3) ORDER BY expires_at LIMIT $4",
    )
    .bind(name(UploadStatus::Waiting))
    .bind(now)
    .bind(forget_before)
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(|r| upload_of(r).map(|(u, _)| u)).collect()
}

/// Forgets upload `id`.
pub async fn delete(db: &Db, id: &UploadId) -> Result<(), DbError> {
    sqlx::query("DELETE FROM uploads WHERE id = $1")
        .bind(id.as_str())
        .execute(db.pool())
        .await?;
    Ok(())
}
