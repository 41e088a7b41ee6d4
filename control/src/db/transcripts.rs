//! The transcript index: each video's caption cues as rows, derived from the captions files
//! (rewritten with them), searched for the moment a word is spoken.

use sqlx::{Any, Row, Transaction};

use super::videos::{listed_of, Listed, COLUMNS, FROM};
use super::{Db, DbError};
use crate::domain::warnings::Flags;

/// One cue: start and end (ms) and its words.
pub type Cue = (u64, u64, String);

/// Replaces the index of `video`'s captions in `lang` with `cues`.
pub async fn replace(db: &Db, video: &str, lang: &str, cues: &[Cue]) -> Result<(), DbError> {
    let mut tx = db.pool().begin().await?;
    sqlx::query("DELETE FROM transcript_cues WHERE video_id = $1 AND language = $2")
        .bind(video)
        .bind(lang)
        .execute(&mut *tx)
        .await?;
    for (start, end, text) in cues {
        sqlx::query(
            "INSERT INTO transcript_cues (video_id, language, start_ms, end_ms, text) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(video)
        .bind(lang)
        .bind(i64::try_from(*start).unwrap_or(i64::MAX))
        .bind(i64::try_from(*end).unwrap_or(i64::MAX))
        .bind(text.as_str())
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Removes the index of `video`'s captions in `lang`.
pub async fn delete(db: &Db, video: &str, lang: &str) -> Result<(), DbError> {
    sqlx::query("DELETE FROM transcript_cues WHERE video_id = $1 AND language = $2")
        .bind(video)
        .bind(lang)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Removes every cue of `video` (in its deletion).
pub async fn delete_all(tx: &mut Transaction<'static, Any>, video: &str) -> Result<(), DbError> {
    sqlx::query("DELETE FROM transcript_cues WHERE video_id = $1")
        .bind(video)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Public, ready videos with a cue containing every word of `words` (case-insensitive):
/// each video once, at its earliest such cue (start ms and words), newest video first; at
/// most `limit`.
pub async fn search(
    db: &Db,
    words: &[String],
    hidden: Flags,
    limit: u32,
) -> Result<Vec<(Listed, u64, String)>, DbError> {
    let mut filter = String::new();
    for i in 0..words.len() {
        filter.push_str(&format!(" AND LOWER(t.text) LIKE ${} ESCAPE '\\'", i + 2));
    }
    let sql = format!(
        "SELECT {COLUMNS}, t.start_ms AS at_ms, t.text AS at_text FROM {FROM} \
         JOIN transcript_cues t ON t.video_id = v.asset_id \
         WHERE {}{filter} \
         ORDER BY v.created_at DESC, v.asset_id DESC, t.start_ms LIMIT $1",
        super::videos::listable(hidden)
    );
    let mut q = sqlx::query(&sql).bind(i64::from(limit) * 20);
    for w in words {
        q = q.bind(super::videos::like_pattern(w));
    }
    let mut out: Vec<(Listed, u64, String)> = Vec::new();
    for row in q.fetch_all(db.pool()).await? {
        let listed = listed_of(&row)?;
        if out
            .iter()
            .any(|(l, _, _)| l.video.asset_id == listed.video.asset_id)
        {
            continue;
        }
        let at: i64 = row.try_get("at_ms")?;
        let text: String = row.try_get("at_text")?;
        out.push((listed, u64::try_from(at).unwrap_or(0), text));
        if out.len() >= limit as usize {
            break;
        }
    }
    Ok(out)
}
