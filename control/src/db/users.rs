//! Accounts and sessions in the database. A session is stored by the SHA-256 of its cookie's
//! token, never the token.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::{Db, DbError};
use crate::domain::accounts::{Role, User, UserStatus};
use crate::domain::warnings::ContentPolicy;

const USER_COLUMNS: &str = "id, email, display_name, password_hash, role, status, \
     failed_signins, locked_until_ms, created_at, content_policy, totp_secret, totp_last_step";

fn user_of(row: &AnyRow) -> Result<User, DbError> {
    let role: String = row.try_get("role")?;
    let status: String = row.try_get("status")?;
    Ok(User {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        display_name: row.try_get("display_name")?,
        password_hash: row.try_get("password_hash")?,
        role: Role::parse(&role).ok_or_else(|| DbError::Corrupt(format!("role {role:?}")))?,
        status: UserStatus::parse(&status)
            .ok_or_else(|| DbError::Corrupt(format!("user status {status:?}")))?,
        failed_signins: row.try_get("failed_signins")?,
        locked_until_ms: row.try_get("locked_until_ms")?,
        created_at: row.try_get("created_at")?,
        content_policy: row
            .try_get::<Option<String>, _>("content_policy")?
            .map(|json| {
                serde_json::from_str(&json)
                    .map_err(|e| DbError::Corrupt(format!("content policy: {e}")))
            })
            .transpose()?,
        totp_secret: row.try_get("totp_secret")?,
        totp_last_step: row.try_get("totp_last_step")?,
    })
}

/// Stores a new account; `false` when its email (or id) is taken.
pub async fn insert(db: &Db, user: &User) -> Result<bool, DbError> {
    let done = sqlx::query(&format!(
        "INSERT INTO users ({USER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
         ON CONFLICT DO NOTHING"
    ))
    .bind(user.id.as_str())
    .bind(user.email.as_str())
    .bind(user.display_name.as_str())
    .bind(user.password_hash.clone())
    .bind(user.role.as_str())
    .bind(user.status.as_str())
    .bind(user.failed_signins)
    .bind(user.locked_until_ms)
    .bind(user.created_at.as_str())
    .bind(user.content_policy.as_ref().map(policy_json))
    .bind(user.totp_secret.clone())
    .bind(user.totp_last_step)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}

fn policy_json(p: &ContentPolicy) -> String {
    serde_json::to_string(p).unwrap_or_default()
}

/// Sets account `id`'s content-warning policy (`None`: the instance's); `false` when it is
/// gone.
pub async fn set_content_policy(
    db: &Db,
    id: &str,
    policy: Option<&ContentPolicy>,
) -> Result<bool, DbError> {
    let done = sqlx::query("UPDATE users SET content_policy = $1 WHERE id = $2")
        .bind(policy.map(policy_json))
        .bind(id)
        .execute(db.pool())
        .await?;
    Ok(done.rows_affected() == 1)
}

/// The account with email `email` (already normalized).
pub async fn by_email(db: &Db, email: &str) -> Result<Option<User>, DbError> {
    sqlx::query(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE email = $1"
    ))
    .bind(email)
    .fetch_optional(db.pool())
    .await?
    .as_ref()
    .map(user_of)
    .transpose()
}

/// Account `id`.
pub async fn get(db: &Db, id: &str) -> Result<Option<User>, DbError> {
    sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
        .bind(id)
        .fetch_optional(db.pool())
        .await?
        .as_ref()
        .map(user_of)
        .transpose()
}

/// How many accounts exist.
pub async fn count(db: &Db) -> Result<i64, DbError> {
    Ok(sqlx::query("SELECT COUNT(*) AS n FROM users")
        .fetch_one(db.pool())
        .await?
        .try_get("n")?)
}

/// Records a failed sign-in of account `id`: the counter goes up by one in the database (so
/// concurrent failures all count) and the lock is set from the new count by `lock`.
/// Returns the new count.
pub async fn record_failure(
    db: &Db,
    id: &str,
    lock: impl Fn(i64) -> Option<i64>,
) -> Result<i64, DbError> {
    let row = sqlx::query(
        "UPDATE users SET failed_signins = failed_signins + 1 WHERE id = $1 \
         RETURNING failed_signins",
    )
    .bind(id)
    .fetch_optional(db.pool())
    .await?;
    let Some(row) = row else { return Ok(0) };
    let failures: i64 = row.try_get("failed_signins")?;
    if let Some(until) = lock(failures) {
        sqlx::query("UPDATE users SET locked_until_ms = $1 WHERE id = $2 AND locked_until_ms < $1")
            .bind(until)
            .bind(id)
            .execute(db.pool())
            .await?;
    }
    Ok(failures)
}

/// Clears account `id`'s failed sign-ins (it signed in).
pub async fn clear_failures(db: &Db, id: &str) -> Result<(), DbError> {
    sqlx::query("UPDATE users SET failed_signins = 0, locked_until_ms = 0 WHERE id = $1")
        .bind(id)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Moves account `id` from status `from` to `to`, in `tx`; `false` when it is not at `from`.
pub async fn set_status_in(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    id: &str,
    from: UserStatus,
    to: UserStatus,
) -> Result<bool, DbError> {
    let done = sqlx::query("UPDATE users SET status = $1 WHERE id = $2 AND status = $3")
        .bind(to.as_str())
        .bind(id)
        .bind(from.as_str())
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// The accounts at `status`, oldest first: at most `limit`.
pub async fn with_status(db: &Db, status: UserStatus, limit: u32) -> Result<Vec<User>, DbError> {
    sqlx::query(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE status = $1 ORDER BY created_at, id LIMIT $2"
    ))
    .bind(status.as_str())
    .bind(i64::from(limit))
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(user_of)
    .collect()
}

/// Sets account `id`'s status; `false` when there is no such account.
pub async fn set_status(db: &Db, id: &str, status: UserStatus) -> Result<bool, DbError> {
    let done = sqlx::query("UPDATE users SET status = $1 WHERE id = $2")
        .bind(status.as_str())
        .bind(id)
        .execute(db.pool())
        .await?;
    Ok(done.rows_affected() == 1)
}

/// A session as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    /// SHA-256 (hex) of the cookie's token.
    pub token_hash: String,
    /// Whose.
    pub user_id: String,
    /// The token unsafe requests must echo (`X-CSRF-Token`).
    pub csrf: String,
    /// When it was made (Unix ms).
    pub created_ms: i64,
    /// When it ends (Unix ms).
    pub expires_ms: i64,
}

/// Stores a new session.
pub async fn insert_session(db: &Db, s: &SessionRow) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO sessions (token_hash, user_id, csrf, created_ms, expires_ms) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(s.token_hash.as_str())
    .bind(s.user_id.as_str())
    .bind(s.csrf.as_str())
    .bind(s.created_ms)
    .bind(s.expires_ms)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// The session whose token hashes to `token_hash`, with its account, unless it ended by
/// `now_ms`.
pub async fn session(
    db: &Db,
    token_hash: &str,
    now_ms: i64,
) -> Result<Option<(SessionRow, User)>, DbError> {
    let row = sqlx::query(
        "SELECT token_hash, user_id, csrf, created_ms, expires_ms FROM sessions \
         WHERE token_hash = $1 AND expires_ms > $2",
    )
    .bind(token_hash)
    .bind(now_ms)
    .fetch_optional(db.pool())
    .await?;
    let Some(row) = row else { return Ok(None) };
    let s = SessionRow {
        token_hash: row.try_get("token_hash")?,
        user_id: row.try_get("user_id")?,
        csrf: row.try_get("csrf")?,
        created_ms: row.try_get("created_ms")?,
        expires_ms: row.try_get("expires_ms")?,
    };
    Ok(get(db, &s.user_id).await?.map(|u| (s, u)))
}

/// Ends the session whose token hashes to `token_hash`.
pub async fn delete_session(db: &Db, token_hash: &str) -> Result<(), DbError> {
    sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
        .bind(token_hash)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Ends every session of account `user_id` (a password change, a disabled account).
pub async fn delete_sessions_of(db: &Db, user_id: &str) -> Result<(), DbError> {
    sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(user_id)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Removes sessions that ended before `now_ms`; returns how many.
pub async fn prune_sessions(db: &Db, now_ms: i64) -> Result<u64, DbError> {
    Ok(sqlx::query("DELETE FROM sessions WHERE expires_ms <= $1")
        .bind(now_ms)
        .execute(db.pool())
        .await?
        .rows_affected())
}

/// Account `id`'s two-factor secret being set up, and its recovery codes' hashes.
pub async fn two_factor_state(
    db: &Db,
    id: &str,
) -> Result<Option<(Option<String>, Vec<String>)>, DbError> {
    let Some(row) = sqlx::query("SELECT totp_pending, totp_recovery FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(db.pool())
        .await?
    else {
        return Ok(None);
    };
    let recovery: String = row.try_get("totp_recovery")?;
    let hashes: Vec<String> = serde_json::from_str(&recovery)
        .map_err(|e| DbError::Corrupt(format!("recovery codes: {e}")))?;
    Ok(Some((row.try_get("totp_pending")?, hashes)))
}

/// Sets account `id`'s two-factor secret being set up (`None`: none).
pub async fn set_totp_pending(db: &Db, id: &str, secret: Option<&str>) -> Result<(), DbError> {
    sqlx::query("UPDATE users SET totp_pending = $1 WHERE id = $2")
        .bind(secret)
        .bind(id)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Turns two-factor sign-in on for account `id` with the secret being set up — if it is
/// still `pending` — accepted at `step`, with `recovery` code hashes; `false` otherwise.
pub async fn enable_totp(
    db: &Db,
    id: &str,
    pending: &str,
    step: i64,
    recovery: &[String],
) -> Result<bool, DbError> {
    let done = sqlx::query(
        "UPDATE users SET totp_secret = totp_pending, totp_pending = NULL, totp_last_step = $1, \
         totp_recovery = $2 WHERE id = $3 AND totp_pending = $4",
    )
    .bind(step)
    .bind(serde_json::to_string(recovery).unwrap_or_else(|_| "[]".into()))
    .bind(id)
    .bind(pending)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Turns two-factor sign-in off for account `id`.
pub async fn disable_totp(db: &Db, id: &str) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE users SET totp_secret = NULL, totp_pending = NULL, totp_last_step = 0, \
         totp_recovery = '[]' WHERE id = $1",
    )
    .bind(id)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Records that a code of time step `step` was accepted for account `id`, if no code of
/// that step or a later one was: `false` means the code was used already.
pub async fn use_totp_step(db: &Db, id: &str, step: i64) -> Result<bool, DbError> {
    let done =
        sqlx::query("UPDATE users SET totp_last_step = $1 WHERE id = $2 AND totp_last_step < $1")
            .bind(step)
            .bind(id)
            .execute(db.pool())
            .await?;
    Ok(done.rows_affected() == 1)
}

/// Uses up the recovery code hashed `hash` of account `id`: `false` when it has no such
/// unused code (or another sign-in used it at the same moment).
pub async fn use_recovery_code(db: &Db, id: &str, hash: &str) -> Result<bool, DbError> {
    let Some((_, hashes)) = two_factor_state(db, id).await? else {
        return Ok(false);
    };
    if !hashes.iter().any(|h| h == hash) {
        return Ok(false);
    }
    let left: Vec<&String> = hashes.iter().filter(|h| *h != hash).collect();
    let done =
        sqlx::query("UPDATE users SET totp_recovery = $1 WHERE id = $2 AND totp_recovery = $3")
            .bind(serde_json::to_string(&left).unwrap_or_else(|_| "[]".into()))
            .bind(id)
            .bind(serde_json::to_string(&hashes).unwrap_or_else(|_| "[]".into()))
            .execute(db.pool())
            .await?;
    Ok(done.rows_affected() == 1)
}

/// Sets account `id`'s display name; `false` when it is gone (the search index follows by
/// trigger).
pub async fn rename(db: &Db, id: &str, name: &str) -> Result<bool, DbError> {
    let done = sqlx::query("UPDATE users SET display_name = $1 WHERE id = $2")
        .bind(name)
        .bind(id)
        .execute(db.pool())
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Sets account `id`'s password hash and ends every session but `keep` (a token hash).
pub async fn set_password(db: &Db, id: &str, hash: &str, keep: &str) -> Result<(), DbError> {
    let mut tx = db.pool().begin().await?;
    sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
        .bind(hash)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND token_hash <> $2")
        .bind(id)
        .bind(keep)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Deletes account `id` with its sessions, reports, notifications, sign-in identities and
/// profile, in `tx`.
pub async fn delete_in(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    id: &str,
) -> Result<(), DbError> {
    for sql in [
        "DELETE FROM sessions WHERE user_id = $1",
        "DELETE FROM user_identities WHERE user_id = $1",
        "DELETE FROM profiles WHERE user_id = $1",
        "DELETE FROM reports WHERE reporter_id = $1",
        "DELETE FROM notifications WHERE user_id = $1",
        "DELETE FROM users WHERE id = $1",
    ] {
        sqlx::query(sql).bind(id).execute(&mut **tx).await?;
    }
    Ok(())
}

/// A page of accounts, newest first, whose email or display name contains `query` (any
/// case; empty: all), and whether more follow.
pub async fn page(
    db: &Db,
    query: &str,
    limit: u32,
    offset: u64,
) -> Result<(Vec<User>, bool), DbError> {
    let pattern = format!(
        "%{}%",
        query
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    let rows = sqlx::query(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE LOWER(email) LIKE $1 ESCAPE '\\' \
         OR LOWER(display_name) LIKE $1 ESCAPE '\\' \
         ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3"
    ))
    .bind(pattern)
    .bind(i64::from(limit) + 1)
    .bind(i64::try_from(offset).unwrap_or(i64::MAX))
    .fetch_all(db.pool())
    .await?;
    let more = rows.len() > limit as usize;
    let users = rows
        .iter()
        .take(limit as usize)
        .map(user_of)
        .collect::<Result<Vec<_>, _>>()?;
    Ok((users, more))
}

/// Sets account `id`'s role and status, in `tx`; `false` when it is gone.
pub async fn set_role_and_status(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    id: &str,
    role: Role,
    status: UserStatus,
) -> Result<bool, DbError> {
    let done = sqlx::query("UPDATE users SET role = $1, status = $2 WHERE id = $3")
        .bind(role.as_str())
        .bind(status.as_str())
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected() == 1)
}
