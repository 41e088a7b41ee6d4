//! The transactional outbox: what a committed change implies outside the database, written
//! in the change's own transaction, so a crash at any instant loses none of it. The relay
//! ([`crate::relay`]) leases due rows, applies them and deletes them; a row whose lease ran
//! out (its relay died) is leased again. Every effect is idempotent (a webhook message keeps
//! its id, a projection is read from the database when applied), so applying one twice is
//! harmless.

use sqlx::{Any, Row, Transaction};

use super::{Db, DbError};
use crate::domain::effects::Effect;
use crate::domain::ids::AssetId;

/// A leased row.
#[derive(Debug, Clone)]
pub struct Leased {
    /// Row id (the order of application).
    pub id: i64,
    /// The asset it is about (rows of one asset are applied in order).
    pub asset_id: Option<String>,
    /// What to do.
    pub effect: Effect,
    /// Attempts before this one.
    pub attempts: i64,
}

/// Adds `effect` (about `asset`) in transaction `tx`; returns its row id.
pub async fn push(
    tx: &mut Transaction<'static, Any>,
    asset: Option<&AssetId>,
    effect: &Effect,
    now_ms: i64,
) -> Result<i64, DbError> {
    let payload = serde_json::to_string(effect)
        .map_err(|e| DbError::Corrupt(format!("outbox effect: {e}")))?;
    let row = sqlx::query(
        "INSERT INTO outbox (asset_id, kind, payload, created_ms) VALUES ($1, $2, $3, $4) \
         RETURNING id",
    )
    .bind(asset.map(|a| a.as_str().to_string()))
    .bind(effect.name())
    .bind(payload)
    .bind(now_ms)
    .fetch_one(&mut **tx)
    .await?;
    Ok(row.try_get("id")?)
}

/// Leases up to `limit` due rows for `relay` until `now_ms + lease_ms`, oldest first.
pub async fn lease(
    db: &Db,
    relay: &str,
    now_ms: i64,
    lease_ms: i64,
    limit: i64,
) -> Result<Vec<Leased>, DbError> {
    sqlx::query(
        // The conditions stand in the outer WHERE too: on PostgreSQL an UPDATE that waited
        // for a row another lease took re-checks only those, never the subquery's, and would
        // take the row a second time.
        "UPDATE outbox SET leased_by = $1, lease_until_ms = $2 WHERE id IN \
         (SELECT id FROM outbox WHERE not_before_ms <= $3 AND lease_until_ms <= $3 \
          ORDER BY id LIMIT $4) AND not_before_ms <= $3 AND lease_until_ms <= $3",
    )
    .bind(relay)
    .bind(now_ms + lease_ms)
    .bind(now_ms)
    .bind(limit)
    .execute(db.pool())
    .await?;
    let rows = sqlx::query(
        "SELECT id, asset_id, payload, attempts FROM outbox WHERE leased_by = $1 AND lease_until_ms = $2 \
         ORDER BY id",
    )
    .bind(relay)
    .bind(now_ms + lease_ms)
    .fetch_all(db.pool())
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let payload: String = row.try_get("payload")?;
        let id: i64 = row.try_get("id")?;
        match serde_json::from_str::<Effect>(&payload) {
            Ok(effect) => out.push(Leased {
                id,
                asset_id: row.try_get("asset_id")?,
                effect,
                attempts: row.try_get("attempts")?,
            }),
            Err(e) => {
                // Written by this code, so never expected; kept for people to look at.
                tracing::error!(id, error = %e, "unreadable outbox row parked");
                park(db, id, relay, &format!("unreadable: {e}")).await?;
            }
        }
    }
    Ok(out)
}

/// Deletes row `id` once applied (only while `relay` holds it).
pub async fn done(db: &Db, id: i64, relay: &str) -> Result<(), DbError> {
    sqlx::query("DELETE FROM outbox WHERE id = $1 AND leased_by = $2")
        .bind(id)
        .bind(relay)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Gives row `id` back to be tried again from `not_before_ms`, noting why it failed.
pub async fn retry(
    db: &Db,
    id: i64,
    relay: &str,
    not_before_ms: i64,
    error: &str,
) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE outbox SET attempts = attempts + 1, not_before_ms = $1, lease_until_ms = 0, \
         leased_by = NULL, last_error = $2 WHERE id = $3 AND leased_by = $4",
    )
    .bind(not_before_ms)
    .bind(error)
    .bind(id)
    .bind(relay)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Keeps row `id` out of the relay's way for good (an unreadable payload).
async fn park(db: &Db, id: i64, relay: &str, error: &str) -> Result<(), DbError> {
    retry(db, id, relay, i64::MAX, error).await
}

/// Whether row `id` is still to be applied.
pub async fn is_pending(db: &Db, id: i64) -> Result<bool, DbError> {
    Ok(sqlx::query("SELECT id FROM outbox WHERE id = $1")
        .bind(id)
        .fetch_optional(db.pool())
        .await?
        .is_some())
}

/// Rows not yet applied of asset `asset` with ids up to `up_to`.
pub async fn pending(db: &Db, asset: &AssetId, up_to: i64) -> Result<i64, DbError> {
    Ok(
        sqlx::query("SELECT COUNT(*) AS n FROM outbox WHERE asset_id = $1 AND id <= $2")
            .bind(asset.as_str())
            .bind(up_to)
            .fetch_one(db.pool())
            .await?
            .try_get("n")?,
    )
}

/// Rows not yet applied, and the oldest one's age in milliseconds at `now_ms`.
pub async fn backlog(db: &Db, now_ms: i64) -> Result<(i64, i64), DbError> {
    let row = sqlx::query("SELECT COUNT(*) AS n, MIN(created_ms) AS oldest FROM outbox")
        .fetch_one(db.pool())
        .await?;
    let n: i64 = row.try_get("n")?;
    let oldest: Option<i64> = row.try_get("oldest")?;
    Ok((n, oldest.map_or(0, |o| (now_ms - o).max(0))))
}
