//! Channels' descriptions and pictures in the database (migration `0019_profiles.sql`).

use sqlx::Row;

use super::{Db, DbError};

/// A channel's description and the version of its picture (`None`: no picture).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profile {
    /// At most 1,000 characters; may be empty.
    pub description: String,
    /// When the picture was set (Unix ms), its version in URLs and entity tags.
    pub picture_ms: Option<i64>,
}

/// Account `user`'s profile (empty when it set nothing).
pub async fn get(db: &Db, user: &str) -> Result<Profile, DbError> {
    let row = sqlx::query(
        "SELECT description, CASE WHEN picture IS NULL THEN 0 ELSE picture_ms END AS version \
         FROM profiles WHERE user_id = $1",
    )
    .bind(user)
    .fetch_optional(db.pool())
    .await?;
    let Some(row) = row else {
        return Ok(Profile::default());
    };
    let version: i64 = row.try_get("version")?;
    Ok(Profile {
        description: row.try_get("description")?,
        picture_ms: (version > 0).then_some(version),
    })
}

/// Sets account `user`'s channel description.
pub async fn set_description(db: &Db, user: &str, text: &str) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO profiles (user_id, description) VALUES ($1, $2) \
         ON CONFLICT (user_id) DO UPDATE SET description = excluded.description",
    )
    .bind(user)
    .bind(text)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Sets (`Some`) or removes account `user`'s picture, a JPEG, as of `at_ms`.
pub async fn set_picture(
    db: &Db,
    user: &str,
    jpeg: Option<&[u8]>,
    at_ms: i64,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO profiles (user_id, picture, picture_ms) VALUES ($1, $2, $3) \
         ON CONFLICT (user_id) DO UPDATE SET picture = excluded.picture, \
         picture_ms = excluded.picture_ms",
    )
    .bind(user)
    .bind(jpeg.map(<[u8]>::to_vec))
    .bind(at_ms)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Account `user`'s picture and its version, if it has one.
pub async fn picture(db: &Db, user: &str) -> Result<Option<(Vec<u8>, i64)>, DbError> {
    let row = sqlx::query(
        "SELECT picture, picture_ms FROM profiles WHERE user_id = $1 AND picture IS NOT NULL",
    )
    .bind(user)
    .fetch_optional(db.pool())
    .await?;
    row.map(|r| Ok((r.try_get("picture")?, r.try_get("picture_ms")?)))
        .transpose()
}
