//! API keys in the database: the SHA-256 of each key, never the key.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::{Db, DbError};
use crate::apikeys::KeyRecord;

fn key_of(row: &AnyRow) -> Result<KeyRecord, DbError> {
    Ok(KeyRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        hash: row.try_get("hash")?,
        created_at: row.try_get("created_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

/// Stores a new key's record; `false` when its id exists (an import run twice).
pub async fn insert(db: &Db, key: &KeyRecord) -> Result<bool, DbError> {
    let done = sqlx::query(
        "INSERT INTO api_keys (id, name, hash, created_at, revoked_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
    )
    .bind(key.id.as_str())
    .bind(key.name.as_str())
    .bind(key.hash.as_str())
    .bind(key.created_at.as_str())
    .bind(key.revoked_at.clone())
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Key `id`'s record.
pub async fn get(db: &Db, id: &str) -> Result<Option<KeyRecord>, DbError> {
    sqlx::query("SELECT id, name, hash, created_at, revoked_at FROM api_keys WHERE id = $1")
        .bind(id)
        .fetch_optional(db.pool())
        .await?
        .as_ref()
        .map(key_of)
        .transpose()
}

/// Every key, oldest first.
pub async fn list(db: &Db) -> Result<Vec<KeyRecord>, DbError> {
    sqlx::query(
        "SELECT id, name, hash, created_at, revoked_at FROM api_keys ORDER BY created_at, id",
    )
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(key_of)
    .collect()
}

/// Revokes key `id` at `now`; `false` when there is no such key. Revoking twice keeps the
/// first time.
pub async fn revoke(db: &Db, id: &str, now: &str) -> Result<bool, DbError> {
    let done =
        sqlx::query("UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(db.pool())
            .await?;
    Ok(done.rows_affected() == 1)
}
