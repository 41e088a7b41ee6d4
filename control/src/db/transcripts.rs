//! The transcript index: each video's caption cues as rows, derived from the captions files
//! (rewritten with them), searched for the moment a word is spoken (`db::search`).

use sqlx::{Any, Transaction};

use super::{Db, DbError};

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
