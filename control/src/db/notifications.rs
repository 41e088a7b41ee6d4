//! Notifications in the database (migration `0015_notifications.sql`). Each is written by one
//! statement in the transaction of the fact it tells of, with an id naming the fact and the
//! reader, so a fact retried or seen twice notifies nobody twice.

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::{Db, DbError};
use crate::domain::asset::Event;
use crate::domain::notifications::{Notification, NotificationKind};

/// Tells an asset's status events to its video's owner, and a video's first `ready` (if it
/// is public) to everyone subscribed to its channel. In the asset's write transaction.
pub async fn on_events(
    tx: &mut Transaction<'static, Any>,
    events: &[Event],
    now_ms: i64,
) -> Result<(), DbError> {
    for e in events {
        let Some(kind) = NotificationKind::of_status_event(&e.kind) else {
            continue;
        };
        let video = e.asset_id.as_str();
        sqlx::query(
            "INSERT INTO notifications (id, user_id, kind, subject, actor_id, detail, created_ms) \
             SELECT $1 || owner_id, owner_id, $2, asset_id, NULL, '', $3 FROM videos \
             WHERE asset_id = $4 ON CONFLICT DO NOTHING",
        )
        .bind(format!("{}:{video}:{}:", kind.as_str(), e.seq))
        .bind(kind.as_str())
        .bind(now_ms)
        .bind(video)
        .execute(&mut **tx)
        .await?;
        if kind == NotificationKind::Ready {
            sqlx::query(
                "INSERT INTO notifications (id, user_id, kind, subject, actor_id, detail, created_ms) \
                 SELECT 'video.new:' || v.asset_id || ':' || s.subscriber_id, s.subscriber_id, \
                        'video.new', v.asset_id, v.owner_id, '', $1 \
                 FROM videos v JOIN subscriptions s ON s.channel_id = v.owner_id \
                 WHERE v.asset_id = $2 AND v.visibility = 'public' ON CONFLICT DO NOTHING",
            )
            .bind(now_ms)
            .bind(video)
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(())
}

/// Tells a new comment `comment_id` by `author_id` on `video_id` to the video's owner and,
/// for a reply, to the author of `parent_id` (nobody of their own comment). In the comment's
/// transaction.
pub async fn on_comment(
    tx: &mut Transaction<'static, Any>,
    video_id: &str,
    comment_id: &str,
    author_id: &str,
    parent_id: Option<&str>,
    now_ms: i64,
) -> Result<(), DbError> {
    let insert =
        "INSERT INTO notifications (id, user_id, kind, subject, actor_id, detail, created_ms) \
         SELECT $1 || r.reader, r.reader, 'comment.new', $2, $3, $4, $5 FROM ({}) r \
         WHERE r.reader <> $3 ON CONFLICT DO NOTHING";
    let owner = insert.replace(
        "{}",
        "SELECT owner_id AS reader FROM videos WHERE asset_id = $2",
    );
    let parent = insert.replace(
        "{}",
        "SELECT author_id AS reader FROM comments WHERE id = $6 AND deleted = 0",
    );
    let id = format!("comment.new:{comment_id}:");
    sqlx::query(&owner)
        .bind(id.as_str())
        .bind(video_id)
        .bind(author_id)
        .bind(comment_id)
        .bind(now_ms)
        .execute(&mut **tx)
        .await?;
    if let Some(p) = parent_id {
        sqlx::query(&parent)
            .bind(id.as_str())
            .bind(video_id)
            .bind(author_id)
            .bind(comment_id)
            .bind(now_ms)
            .bind(p)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Tells everyone with an open report on `video_id` the moderator's `decision`. In the
/// decision's transaction, before the reports are closed.
pub async fn on_decision(
    tx: &mut Transaction<'static, Any>,
    video_id: &str,
    decision: &str,
    now_ms: i64,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO notifications (id, user_id, kind, subject, actor_id, detail, created_ms) \
         SELECT 'report.decided:' || id || ':' || reporter_id, reporter_id, 'report.decided', \
                video_id, NULL, $1, $2 FROM reports \
         WHERE video_id = $3 AND decided_ms IS NULL ON CONFLICT DO NOTHING",
    )
    .bind(decision)
    .bind(now_ms)
    .bind(video_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn notification_of(row: &AnyRow) -> Result<Notification, DbError> {
    let kind: String = row.try_get("kind")?;
    let read: Option<i64> = row.try_get("read_ms")?;
    Ok(Notification {
        id: row.try_get("id")?,
        kind: NotificationKind::parse(&kind)
            .ok_or_else(|| DbError::Corrupt(format!("notification kind {kind:?}")))?,
        video_id: row.try_get("subject")?,
        video_title: row.try_get("title")?,
        actor_name: row.try_get("actor_name")?,
        detail: row.try_get("detail")?,
        created_ms: row.try_get("created_ms")?,
        read: read.is_some(),
    })
}

/// `user_id`'s newest notifications (at most `limit`) and how many are unread.
pub async fn of_user(
    db: &Db,
    user_id: &str,
    limit: u32,
) -> Result<(Vec<Notification>, i64), DbError> {
    let list = sqlx::query(
        "SELECT n.id, n.kind, n.subject, n.detail, n.created_ms, n.read_ms, v.title, \
                u.display_name AS actor_name \
         FROM notifications n LEFT JOIN videos v ON v.asset_id = n.subject \
         LEFT JOIN users u ON u.id = n.actor_id \
         WHERE n.user_id = $1 ORDER BY n.created_ms DESC, n.id DESC LIMIT $2",
    )
    .bind(user_id)
    .bind(i64::from(limit))
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(notification_of)
    .collect::<Result<Vec<_>, _>>()?;
    Ok((list, unread(db, user_id).await?))
}

/// How many of `user_id`'s notifications are unread.
pub async fn unread(db: &Db, user_id: &str) -> Result<i64, DbError> {
    Ok(sqlx::query(
        "SELECT COUNT(*) AS n FROM notifications WHERE user_id = $1 AND read_ms IS NULL",
    )
    .bind(user_id)
    .fetch_one(db.pool())
    .await?
    .try_get("n")?)
}

/// Marks `user_id`'s notifications `ids` (all of them: `None`) read at `now_ms`.
pub async fn mark_read(
    db: &Db,
    user_id: &str,
    ids: Option<&[String]>,
    now_ms: i64,
) -> Result<(), DbError> {
    match ids {
        None => {
            sqlx::query(
                "UPDATE notifications SET read_ms = $1 WHERE user_id = $2 AND read_ms IS NULL",
            )
            .bind(now_ms)
            .bind(user_id)
            .execute(db.pool())
            .await?;
        }
        Some(ids) => {
            for id in ids {
                sqlx::query(
                    "UPDATE notifications SET read_ms = $1 \
                     WHERE user_id = $2 AND id = $3 AND read_ms IS NULL",
                )
                .bind(now_ms)
                .bind(user_id)
                .bind(id.as_str())
                .execute(db.pool())
                .await?;
            }
        }
    }
    Ok(())
}

/// Removes the notifications about video `id` (in its deletion).
pub async fn delete_of_video(tx: &mut Transaction<'static, Any>, id: &str) -> Result<(), DbError> {
    sqlx::query("DELETE FROM notifications WHERE subject = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
