//! Likes, subscriptions and comments in the database.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::{Db, DbError};
use crate::domain::social::Comment;

/// Records `user`'s like of `video` (again is nothing).
pub async fn like(db: &Db, video: &str, user: &str, now: &str) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO likes (video_id, user_id, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT DO NOTHING",
    )
    .bind(video)
    .bind(user)
    .bind(now)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Removes `user`'s like of `video`.
pub async fn unlike(db: &Db, video: &str, user: &str) -> Result<(), DbError> {
    sqlx::query("DELETE FROM likes WHERE video_id = $1 AND user_id = $2")
        .bind(video)
        .bind(user)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// How many accounts like `video`, and whether `user` (if any) does.
pub async fn likes(db: &Db, video: &str, user: Option<&str>) -> Result<(i64, bool), DbError> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n, COALESCE(SUM(CASE WHEN user_id = $2 THEN 1 ELSE 0 END), 0) AS mine \
         FROM likes WHERE video_id = $1",
    )
    .bind(video)
    .bind(user.unwrap_or(""))
    .fetch_one(db.pool())
    .await?;
    let mine: i64 = row.try_get("mine")?;
    Ok((row.try_get("n")?, mine > 0))
}

/// Records `subscriber`'s subscription to `channel` (again is nothing).
pub async fn subscribe(db: &Db, subscriber: &str, channel: &str, now: &str) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO subscriptions (subscriber_id, channel_id, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT DO NOTHING",
    )
    .bind(subscriber)
    .bind(channel)
    .bind(now)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Ends `subscriber`'s subscription to `channel`.
pub async fn unsubscribe(db: &Db, subscriber: &str, channel: &str) -> Result<(), DbError> {
    sqlx::query("DELETE FROM subscriptions WHERE subscriber_id = $1 AND channel_id = $2")
        .bind(subscriber)
        .bind(channel)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// How many accounts subscribe to `channel`, and whether `user` (if any) does.
pub async fn subscribers(
    db: &Db,
    channel: &str,
    user: Option<&str>,
) -> Result<(i64, bool), DbError> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n, \
         COALESCE(SUM(CASE WHEN subscriber_id = $2 THEN 1 ELSE 0 END), 0) AS mine \
         FROM subscriptions WHERE channel_id = $1",
    )
    .bind(channel)
    .bind(user.unwrap_or(""))
    .fetch_one(db.pool())
    .await?;
    let mine: i64 = row.try_get("mine")?;
    Ok((row.try_get("n")?, mine > 0))
}

/// Replies read with one page of comments at most.
pub const MAX_REPLIES: u32 = 500;

const COMMENT_COLUMNS: &str = "c.id, c.video_id, c.author_id, COALESCE(u.display_name, '') AS \
     author_name, c.parent_id, c.body, c.created_ms, c.edited_ms, c.deleted";
const COMMENT_FROM: &str = "comments c LEFT JOIN users u ON u.id = c.author_id";

fn comment_of(row: &AnyRow) -> Result<Comment, DbError> {
    let deleted: i64 = row.try_get("deleted")?;
    Ok(Comment {
        id: row.try_get("id")?,
        video_id: row.try_get("video_id")?,
        author_id: row.try_get("author_id")?,
        author_name: row.try_get("author_name")?,
        parent_id: row.try_get("parent_id")?,
        body: row.try_get("body")?,
        created_ms: row.try_get("created_ms")?,
        edited_ms: row.try_get("edited_ms")?,
        deleted: deleted != 0,
    })
}

/// Stores a new comment, and tells the video's owner (and the author it answers) of it.
pub async fn insert_comment(db: &Db, c: &Comment) -> Result<(), DbError> {
    let mut tx = db.pool().begin().await?;
    sqlx::query(
        "INSERT INTO comments (id, video_id, author_id, parent_id, body, created_ms, edited_ms, deleted) \
         VALUES ($1, $2, $3, $4, $5, $6, NULL, 0)",
    )
    .bind(c.id.as_str())
    .bind(c.video_id.as_str())
    .bind(c.author_id.as_str())
    .bind(c.parent_id.clone())
    .bind(c.body.as_str())
    .bind(c.created_ms)
    .execute(&mut *tx)
    .await?;
    super::notifications::on_comment(
        &mut tx,
        &c.video_id,
        &c.id,
        &c.author_id,
        c.parent_id.as_deref(),
        c.created_ms,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Comment `id`.
pub async fn comment(db: &Db, id: &str) -> Result<Option<Comment>, DbError> {
    sqlx::query(&format!(
        "SELECT {COMMENT_COLUMNS} FROM {COMMENT_FROM} WHERE c.id = $1"
    ))
    .bind(id)
    .fetch_optional(db.pool())
    .await?
    .as_ref()
    .map(comment_of)
    .transpose()
}

/// A page of `video`'s top-level comments, newest first, and whether more follow.
pub async fn top_comments(
    db: &Db,
    video: &str,
    limit: u32,
    offset: u64,
) -> Result<(Vec<Comment>, bool), DbError> {
    let rows = sqlx::query(&format!(
        "SELECT {COMMENT_COLUMNS} FROM {COMMENT_FROM} WHERE c.video_id = $1 AND c.parent_id IS NULL \
         ORDER BY c.created_ms DESC, c.id DESC LIMIT $2 OFFSET $3"
    ))
    .bind(video)
    .bind(i64::from(limit) + 1)
    .bind(i64::try_from(offset).unwrap_or(i64::MAX))
    .fetch_all(db.pool())
    .await?;
    let more = rows.len() > limit as usize;
    let page = rows
        .iter()
        .take(limit as usize)
        .map(comment_of)
        .collect::<Result<Vec<_>, _>>()?;
    Ok((page, more))
}

/// The replies to `parents` on `video`, oldest first: at most [`MAX_REPLIES`] in all.
pub async fn replies(db: &Db, video: &str, parents: &[String]) -> Result<Vec<Comment>, DbError> {
    if parents.is_empty() {
        return Ok(Vec::new());
    }
    let marks: Vec<String> = (0..parents.len()).map(|i| format!("${}", i + 2)).collect();
    let sql = format!(
        "SELECT {COMMENT_COLUMNS} FROM {COMMENT_FROM} WHERE c.video_id = $1 AND c.parent_id IN ({}) \
         ORDER BY c.created_ms, c.id LIMIT {MAX_REPLIES}",
        marks.join(", ")
    );
    let mut q = sqlx::query(&sql).bind(video);
    for p in parents {
        q = q.bind(p.as_str());
    }
    q.fetch_all(db.pool())
        .await?
        .iter()
        .map(comment_of)
        .collect()
}

/// Replaces comment `id`'s words.
pub async fn edit_comment(db: &Db, id: &str, body: &str, now_ms: i64) -> Result<bool, DbError> {
    let done =
        sqlx::query("UPDATE comments SET body = $1, edited_ms = $2 WHERE id = $3 AND deleted = 0")
            .bind(body)
            .bind(now_ms)
            .bind(id)
            .execute(db.pool())
            .await?;
    Ok(done.rows_affected() == 1)
}

/// Removes comment `id`'s words; it keeps its place (for its replies).
pub async fn delete_comment(db: &Db, id: &str) -> Result<bool, DbError> {
    let done =
        sqlx::query("UPDATE comments SET body = '', deleted = 1 WHERE id = $1 AND deleted = 0")
            .bind(id)
            .execute(db.pool())
            .await?;
    Ok(done.rows_affected() == 1)
}

/// How many comments `author` wrote since `since_ms`.
pub async fn written_since(db: &Db, author: &str, since_ms: i64) -> Result<i64, DbError> {
    Ok(
        sqlx::query("SELECT COUNT(*) AS n FROM comments WHERE author_id = $1 AND created_ms >= $2")
            .bind(author)
            .bind(since_ms)
            .fetch_one(db.pool())
            .await?
            .try_get("n")?,
    )
}

/// Every comment `author` wrote (newest first).
pub async fn comments_by(db: &Db, author: &str) -> Result<Vec<Comment>, DbError> {
    sqlx::query(&format!(
        "SELECT {COMMENT_COLUMNS} FROM {COMMENT_FROM} WHERE c.author_id = $1 \
         ORDER BY c.created_ms DESC, c.id DESC"
    ))
    .bind(author)
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(comment_of)
    .collect()
}

/// The videos `user` likes and when (RFC 3339), newest first.
pub async fn likes_by(db: &Db, user: &str) -> Result<Vec<(String, String)>, DbError> {
    sqlx::query(
        "SELECT video_id, created_at FROM likes WHERE user_id = $1 ORDER BY created_at DESC",
    )
    .bind(user)
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(|r| Ok((r.try_get("video_id")?, r.try_get("created_at")?)))
    .collect()
}

/// The channels `user` subscribes to and since when (RFC 3339), newest first.
pub async fn subscriptions_of(db: &Db, user: &str) -> Result<Vec<(String, String)>, DbError> {
    sqlx::query(
        "SELECT channel_id, created_at FROM subscriptions WHERE subscriber_id = $1 \
         ORDER BY created_at DESC",
    )
    .bind(user)
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(|r| Ok((r.try_get("channel_id")?, r.try_get("created_at")?)))
    .collect()
}

/// Removes a video's likes, comments and view marks (in its deletion).
pub async fn delete_of_video(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    video: &str,
) -> Result<(), DbError> {
    for sql in [
        "DELETE FROM likes WHERE video_id = $1",
        "DELETE FROM comments WHERE video_id = $1",
        "DELETE FROM view_marks WHERE video_id = $1",
    ] {
        sqlx::query(sql).bind(video).execute(&mut **tx).await?;
    }
    Ok(())
}

/// Removes what account `user` did to others' videos and channels (in its deletion): its
/// likes, subscriptions both ways and view marks go; its comments stay as removed (their place holds
/// the replies), with no words.
pub async fn forget_user(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    user: &str,
) -> Result<(), DbError> {
    for sql in [
        "DELETE FROM likes WHERE user_id = $1",
        "DELETE FROM subscriptions WHERE subscriber_id = $1 OR channel_id = $1",
        "UPDATE comments SET body = '', deleted = 1 WHERE author_id = $1",
        "DELETE FROM view_marks WHERE viewer = $1",
    ] {
        sqlx::query(sql).bind(user).execute(&mut **tx).await?;
    }
    Ok(())
}
