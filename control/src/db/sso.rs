//! Sign-ins with other providers in the database (migration `0017_sso.sql`): attempts under
//! way, taken once; and the identities linking a provider's subject to an account.

use sqlx::Row;

use super::{Db, DbError};

/// A sign-in under way: what the provider's redirect back must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The `state` sent to the provider (also in the browser's cookie).
    pub state: String,
    /// The provider's id.
    pub provider: String,
    /// The OpenID Connect `nonce` the ID token must carry.
    pub nonce: String,
    /// The PKCE code verifier.
    pub verifier: String,
    /// Where to go once signed in (a local path).
    pub next_path: String,
    /// When it lapses (Unix ms).
    pub expires_ms: i64,
}

/// Stores a new attempt, forgetting lapsed ones.
pub async fn insert_attempt(db: &Db, a: &Attempt, now_ms: i64) -> Result<(), DbError> {
    sqlx::query("DELETE FROM sso_attempts WHERE expires_ms < $1")
        .bind(now_ms)
        .execute(db.pool())
        .await?;
    sqlx::query(
        "INSERT INTO sso_attempts (state, provider, nonce, verifier, next_path, expires_ms) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(a.state.as_str())
    .bind(a.provider.as_str())
    .bind(a.nonce.as_str())
    .bind(a.verifier.as_str())
    .bind(a.next_path.as_str())
    .bind(a.expires_ms)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Takes attempt `state` (it is gone after: a redirect back is honoured once), if it has not
/// lapsed by `now_ms`.
pub async fn take_attempt(db: &Db, state: &str, now_ms: i64) -> Result<Option<Attempt>, DbError> {
    let row = sqlx::query(
        "DELETE FROM sso_attempts WHERE state = $1 \
         RETURNING state, provider, nonce, verifier, next_path, expires_ms",
    )
    .bind(state)
    .fetch_optional(db.pool())
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let a = Attempt {
        state: row.try_get("state")?,
        provider: row.try_get("provider")?,
        nonce: row.try_get("nonce")?,
        verifier: row.try_get("verifier")?,
        next_path: row.try_get("next_path")?,
        expires_ms: row.try_get("expires_ms")?,
    };
    Ok((a.expires_ms >= now_ms).then_some(a))
}

/// The account provider `provider`'s `subject` is linked to.
pub async fn user_of(db: &Db, provider: &str, subject: &str) -> Result<Option<String>, DbError> {
    Ok(sqlx::query_scalar(
        "SELECT user_id FROM user_identities WHERE provider = $1 AND subject = $2",
    )
    .bind(provider)
    .bind(subject)
    .fetch_optional(db.pool())
    .await?)
}

/// Links `provider`'s `subject` to account `user`; `false` when it is linked already.
pub async fn link(
    db: &Db,
    provider: &str,
    subject: &str,
    user: &str,
    email: &str,
    at: &str,
) -> Result<bool, DbError> {
    let done = sqlx::query(
        "INSERT INTO user_identities (provider, subject, user_id, email, created_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
    )
    .bind(provider)
    .bind(subject)
    .bind(user)
    .bind(email)
    .bind(at)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The providers account `user` signs in with, and since when: `(provider, created_at)`.
pub async fn identities_of(db: &Db, user: &str) -> Result<Vec<(String, String)>, DbError> {
    let rows = sqlx::query(
        "SELECT provider, created_at FROM user_identities WHERE user_id = $1 ORDER BY provider",
    )
    .bind(user)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("provider")?, r.try_get("created_at")?)))
        .collect()
}
