//! Views in the database (migration `0016_views.sql`): a receipt counts once, a viewer once
//! per video and window, and the video's count changes in the same transaction as the mark
//! that allows it.

use super::{Db, DbError};

/// What counting a receipt did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counted {
    /// Whether this receipt added a view (not when its nonce was counted before, or the
    /// viewer was counted for the video within the window).
    pub added: bool,
    /// The video's views after.
    pub views: i64,
}

/// Counts a view of `video` by `viewer` from the receipt `nonce` (good until `expires_at`),
/// at `now`, unless `viewer` was counted for it after `now - window_secs`; `None` when the
/// video is gone. Forgets receipts past their expiry and marks past the window as it goes.
pub async fn count(
    db: &Db,
    video: &str,
    viewer: &str,
    nonce: &str,
    expires_at: i64,
    now: i64,
    window_secs: i64,
) -> Result<Option<Counted>, DbError> {
    let cutoff = now - window_secs;
    let mut tx = db.pool().begin().await?;
    sqlx::query("DELETE FROM view_receipts WHERE expires_at < $1")
        .bind(now)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM view_marks WHERE counted_at <= $1")
        .bind(cutoff)
        .execute(&mut *tx)
        .await?;
    let fresh = sqlx::query(
        "INSERT INTO view_receipts (nonce, expires_at) VALUES ($1, $2) \
         ON CONFLICT (nonce) DO NOTHING",
    )
    .bind(nonce)
    .bind(expires_at)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    let added = fresh
        && sqlx::query(
            "INSERT INTO view_marks (video_id, viewer, counted_at) VALUES ($1, $2, $3) \
             ON CONFLICT (video_id, viewer) DO UPDATE SET counted_at = excluded.counted_at \
             WHERE view_marks.counted_at <= $4",
        )
        .bind(video)
        .bind(viewer)
        .bind(now)
        .bind(cutoff)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
    if added {
        sqlx::query("UPDATE videos SET views = views + 1 WHERE asset_id = $1")
            .bind(video)
            .execute(&mut *tx)
            .await?;
    }
    let views: Option<i64> = sqlx::query_scalar("SELECT views FROM videos WHERE asset_id = $1")
        .bind(video)
        .fetch_optional(&mut *tx)
        .await?;
    let Some(views) = views else {
        // The video went: nothing counted, and the receipt stays unused.
        tx.rollback().await?;
        return Ok(None);
    };
    tx.commit().await?;
    Ok(Some(Counted { added, views }))
}
