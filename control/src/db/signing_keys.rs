//! Signing keys' public halves: the state of record that `keys/signing/{id}.pub` in storage
//! (what edges verify playback tokens against) is projected from.

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::{Db, DbError};
use crate::signing::SigningAlgorithm;

/// A signing key's public half.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    /// The key id (the tokens' `kid`).
    pub id: String,
    /// What it signs with.
    pub algorithm: SigningAlgorithm,
    /// The public key, PEM (SubjectPublicKeyInfo).
    pub public_key: String,
    /// When it was made (RFC 3339).
    pub created_at: String,
}

fn key_of(row: &AnyRow) -> Result<SigningKeyRecord, DbError> {
    let algorithm: String = row.try_get("algorithm")?;
    Ok(SigningKeyRecord {
        id: row.try_get("id")?,
        algorithm: SigningAlgorithm::parse(&algorithm)
            .ok_or_else(|| DbError::Corrupt(format!("signing key algorithm {algorithm:?}")))?,
        public_key: row.try_get("public_key")?,
        created_at: row.try_get("created_at")?,
    })
}

/// Stores key `k` in transaction `tx`; `false` when its id exists (an import run twice).
pub async fn insert(
    tx: &mut Transaction<'static, Any>,
    k: &SigningKeyRecord,
) -> Result<bool, DbError> {
    let done = sqlx::query(
        "INSERT INTO signing_keys (id, algorithm, public_key, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(k.id.as_str())
    .bind(k.algorithm.as_str())
    .bind(k.public_key.as_str())
    .bind(k.created_at.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Key `id`.
pub async fn get(db: &Db, id: &str) -> Result<Option<SigningKeyRecord>, DbError> {
    sqlx::query("SELECT id, algorithm, public_key, created_at FROM signing_keys WHERE id = $1")
        .bind(id)
        .fetch_optional(db.pool())
        .await?
        .as_ref()
        .map(key_of)
        .transpose()
}

/// Up to `limit` keys, oldest first.
pub async fn list(db: &Db, limit: i64) -> Result<Vec<SigningKeyRecord>, DbError> {
    sqlx::query(
        "SELECT id, algorithm, public_key, created_at FROM signing_keys \
         ORDER BY created_at, id LIMIT $1",
    )
    .bind(limit)
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(key_of)
    .collect()
}

/// How many keys there are.
pub async fn count(db: &Db) -> Result<i64, DbError> {
    Ok(sqlx::query("SELECT COUNT(*) AS n FROM signing_keys")
        .fetch_one(db.pool())
        .await?
        .try_get("n")?)
}

/// Removes key `id` in transaction `tx`; `false` when there is no such key.
pub async fn delete(tx: &mut Transaction<'static, Any>, id: &str) -> Result<bool, DbError> {
    let done = sqlx::query("DELETE FROM signing_keys WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected() == 1)
}
