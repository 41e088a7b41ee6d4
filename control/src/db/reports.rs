//! Reports and the audit log in the database (migration `0013_moderation.sql`).

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::{Db, DbError};
use crate::domain::reports::{QueueDecision, Report, ReportReason};

const COLUMNS: &str = "id, video_id, reporter_id, reason, details, start_ms, end_ms, \
     created_ms, decision, decided_ms";

fn report_of(row: &AnyRow) -> Result<Report, DbError> {
    let reason: String = row.try_get("reason")?;
    let decision: Option<String> = row.try_get("decision")?;
    let start: Option<i64> = row.try_get("start_ms")?;
    let end: Option<i64> = row.try_get("end_ms")?;
    let ms = |v: i64| u64::try_from(v).unwrap_or(0);
    Ok(Report {
        id: row.try_get("id")?,
        video_id: row.try_get("video_id")?,
        reporter_id: row.try_get("reporter_id")?,
        reason: ReportReason::parse(&reason)
            .ok_or_else(|| DbError::Corrupt(format!("report reason {reason:?}")))?,
        details: row.try_get("details")?,
        range_ms: start.map(|s| (ms(s), ms(end.unwrap_or(s)))),
        created_ms: row.try_get("created_ms")?,
        decision: decision
            .map(|d| {
                QueueDecision::parse(&d)
                    .ok_or_else(|| DbError::Corrupt(format!("report decision {d:?}")))
            })
            .transpose()?,
        decided_ms: row.try_get("decided_ms")?,
    })
}

/// Stores a new report; `false` when its reporter already has one open on the video.
pub async fn insert(db: &Db, r: &Report) -> Result<bool, DbError> {
    let done = sqlx::query(&format!(
        "INSERT INTO reports ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, NULL) \
         ON CONFLICT DO NOTHING"
    ))
    .bind(r.id.as_str())
    .bind(r.video_id.as_str())
    .bind(r.reporter_id.as_str())
    .bind(r.reason.as_str())
    .bind(r.details.as_str())
    .bind(
        r.range_ms
            .map(|(s, _)| i64::try_from(s).unwrap_or(i64::MAX)),
    )
    .bind(
        r.range_ms
            .map(|(_, e)| i64::try_from(e).unwrap_or(i64::MAX)),
    )
    .bind(r.created_ms)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// How many reports `reporter_id` made since `since_ms`.
pub async fn count_since(db: &Db, reporter_id: &str, since_ms: i64) -> Result<i64, DbError> {
    Ok(
        sqlx::query(
            "SELECT COUNT(*) AS n FROM reports WHERE reporter_id = $1 AND created_ms >= $2",
        )
        .bind(reporter_id)
        .bind(since_ms)
        .fetch_one(db.pool())
        .await?
        .try_get("n")?,
    )
}

/// The open reports, oldest first: at most `limit`.
pub async fn open(db: &Db, limit: u32) -> Result<Vec<Report>, DbError> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM reports WHERE decided_ms IS NULL ORDER BY created_ms, id LIMIT $1"
    ))
    .bind(i64::from(limit))
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(report_of)
    .collect()
}

/// The open reports on `video_id`, oldest first.
pub async fn open_on(db: &Db, video_id: &str) -> Result<Vec<Report>, DbError> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM reports WHERE video_id = $1 AND decided_ms IS NULL \
         ORDER BY created_ms, id"
    ))
    .bind(video_id)
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(report_of)
    .collect()
}

/// `reporter_id`'s newest reports: at most `limit`.
pub async fn of_reporter(db: &Db, reporter_id: &str, limit: u32) -> Result<Vec<Report>, DbError> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM reports WHERE reporter_id = $1 \
         ORDER BY created_ms DESC, id DESC LIMIT $2"
    ))
    .bind(reporter_id)
    .bind(i64::from(limit))
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(report_of)
    .collect()
}

/// Closes every open report on `video_id` with `decision` at `now_ms`, in `tx`; how many.
pub async fn decide_open(
    tx: &mut Transaction<'static, Any>,
    video_id: &str,
    decision: QueueDecision,
    now_ms: i64,
) -> Result<u64, DbError> {
    let done = sqlx::query(
        "UPDATE reports SET decision = $1, decided_ms = $2 \
         WHERE video_id = $3 AND decided_ms IS NULL",
    )
    .bind(decision.as_str())
    .bind(now_ms)
    .bind(video_id)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected())
}

/// Removes every report on `video_id` (in its deletion).
pub async fn delete_of_video(
    tx: &mut Transaction<'static, Any>,
    video_id: &str,
) -> Result<(), DbError> {
    sqlx::query("DELETE FROM reports WHERE video_id = $1")
        .bind(video_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// One decision people made, as the audit log keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// `l_…`.
    pub id: String,
    /// When (Unix ms).
    pub at_ms: i64,
    /// Who (`u_…`, or an API key's id).
    pub actor_id: String,
    /// What (`video.block`, `video.warn`, `registration.approve`, …).
    pub action: String,
    /// On what (a video or account id).
    pub subject: String,
    /// Why, in their words.
    pub reason: String,
}

/// Appends `e` to the audit log, in `tx`.
pub async fn audit(tx: &mut Transaction<'static, Any>, e: &AuditEntry) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO audit_log (id, at_ms, actor_id, action, subject, reason) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(e.id.as_str())
    .bind(e.at_ms)
    .bind(e.actor_id.as_str())
    .bind(e.action.as_str())
    .bind(e.subject.as_str())
    .bind(e.reason.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The newest audit entries: at most `limit`.
pub async fn audit_log(db: &Db, limit: u32) -> Result<Vec<AuditEntry>, DbError> {
    sqlx::query(
        "SELECT id, at_ms, actor_id, action, subject, reason FROM audit_log \
         ORDER BY at_ms DESC, id DESC LIMIT $1",
    )
    .bind(i64::from(limit))
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(|row| {
        Ok(AuditEntry {
            id: row.try_get("id")?,
            at_ms: row.try_get("at_ms")?,
            actor_id: row.try_get("actor_id")?,
            action: row.try_get("action")?,
            subject: row.try_get("subject")?,
            reason: row.try_get("reason")?,
        })
    })
    .collect()
}
