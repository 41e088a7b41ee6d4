//! The object versions S3 intake acted on (`intake_objects`): what makes a second delivery
//! of a notification, or a late one for an older version, change nothing.

use sqlx::{Any, Row, Transaction};

use super::{Db, DbError};
use crate::domain::intake::{SeenVersion, Sequencer};

/// What intake did with an object version.
#[derive(Debug, Clone)]
pub struct IntakeRow {
    /// The object's key in the bucket.
    pub object_key: String,
    /// The object version (`ObjectCreated::version`).
    pub version: String,
    /// Its sequencer, padded.
    pub sequencer: Option<Sequencer>,
    /// `created` (an asset was made) or `refused`.
    pub outcome: &'static str,
    /// The asset made.
    pub asset_id: Option<String>,
    /// Why it was refused.
    pub detail: String,
    /// When (RFC 3339).
    pub received_at: String,
}

/// The versions of `key` acted on.
pub async fn seen(db: &Db, key: &str) -> Result<Vec<SeenVersion>, DbError> {
    let rows = sqlx::query("SELECT version, sequencer FROM intake_objects WHERE object_key = $1")
        .bind(key)
        .fetch_all(db.pool())
        .await?;
    rows.iter()
        .map(|r| {
            let sequencer: Option<String> = r.try_get("sequencer")?;
            Ok(SeenVersion {
                version: r.try_get("version")?,
                sequencer: sequencer.as_deref().and_then(Sequencer::parse),
            })
        })
        .collect()
}

const INSERT: &str = "INSERT INTO intake_objects \
    (object_key, version, sequencer, outcome, asset_id, detail, received_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (object_key, version) DO NOTHING";

fn bound<'q>(
    row: &'q IntakeRow,
) -> sqlx::query::Query<'q, Any, <Any as sqlx::Database>::Arguments<'q>> {
    sqlx::query(INSERT)
        .bind(row.object_key.as_str())
        .bind(row.version.as_str())
        .bind(row.sequencer.as_ref().map(|s| s.as_str().to_string()))
        .bind(row.outcome)
        .bind(row.asset_id.as_deref())
        .bind(row.detail.as_str())
        .bind(row.received_at.as_str())
}

/// Records `row` in transaction `tx`; `false` if that version was recorded already (by
/// another delivery, which got there first).
pub async fn insert_in(
    tx: &mut Transaction<'static, Any>,
    row: &IntakeRow,
) -> Result<bool, DbError> {
    Ok(bound(row).execute(&mut **tx).await?.rows_affected() == 1)
}

/// Records `row` on its own; `false` if that version was recorded already.
pub async fn insert(db: &Db, row: &IntakeRow) -> Result<bool, DbError> {
    Ok(bound(row).execute(db.pool()).await?.rows_affected() == 1)
}
