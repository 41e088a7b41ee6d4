//! Playback tokens the web app mints for itself: a private video has only a signed playback
//! id, and its owner (or a moderator, or an admin) watches it from the watch page with a
//! token the page gets from here. A moderator's review page plays a video before it is
//! published (in review) or after it is blocked with a review token (`aud` `review`). The key is the web app's own signing key, made on first
//! need (and again if an administrator deletes it), its private half in the database
//! (migration `0018_page_key.sql`).

use std::sync::Arc;

use sqlx::Row;
use sunomi_packager::playback::TokenAudience;

use crate::app::{now_rfc3339, now_unix, AppError};
use crate::db::{signing_keys, Db, DbError};
use crate::keyring::{self, KeyringError, SigningKeys};
use crate::signing::{self, SigningAlgorithm};

/// How long a page's token plays, seconds (a long film, paused a while).
pub const TOKEN_SECS: u64 = 6 * 3600;

/// How long a review token plays, seconds: one sitting of a moderator's review.
pub const REVIEW_TOKEN_SECS: u64 = 3600;

/// The web app's tokens.
pub struct PageTokens {
    /// The state of record.
    pub db: Db,
    /// Signing keys (the page key is one).
    pub keys: Arc<SigningKeys>,
}

impl PageTokens {
    /// A token playing `playback_id` for [`TOKEN_SECS`]. The caller has checked that its
    /// viewer may watch the video.
    pub async fn token_for(&self, playback_id: &str) -> Result<String, AppError> {
        self.mint(playback_id, TokenAudience::Play, TOKEN_SECS)
            .await
    }

    /// A review token for `playback_id` for [`REVIEW_TOKEN_SECS`]: it plays the video
    /// whatever its availability. The caller has checked that its viewer decides on it.
    pub async fn review_token_for(&self, playback_id: &str) -> Result<String, AppError> {
        self.mint(playback_id, TokenAudience::Review, REVIEW_TOKEN_SECS)
            .await
    }

    async fn mint(
        &self,
        playback_id: &str,
        audience: TokenAudience,
        secs: u64,
    ) -> Result<String, AppError> {
        let (kid, pem) = self.key().await?;
        let now = now_unix();
        signing::mint(&kid, &pem, playback_id, audience, now, now + secs).map_err(AppError::Store)
    }

    /// The page key: the stored one while it is still a signing key, else a new one.
    async fn key(&self) -> Result<(String, String), AppError> {
        let row = sqlx::query("SELECT kid, private_pem FROM page_signing_key WHERE id = 1")
            .fetch_optional(self.db.pool())
            .await
            .map_err(DbError::from)?;
        if let Some(row) = row {
            let kid: String = row.try_get("kid").map_err(DbError::from)?;
            if signing_keys::get(&self.db, &kid).await?.is_some() {
                return Ok((kid, row.try_get("private_pem").map_err(DbError::from)?));
            }
        }
        let made = keyring::create(&self.keys, SigningAlgorithm::ES256)
            .await
            .map_err(|e| match e {
                KeyringError::App(a) => a,
                other => AppError::Conflict(other.to_string()),
            })?;
        // Two processes making one at once: the last write wins, and both keys verify.
        sqlx::query(
            "INSERT INTO page_signing_key (id, kid, private_pem, created_at) VALUES (1, $1, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET kid = excluded.kid, private_pem = excluded.private_pem, \
             created_at = excluded.created_at",
        )
        .bind(made.kid.as_str())
        .bind(made.private_pem.as_str())
        .bind(now_rfc3339())
        .execute(self.db.pool())
        .await
        .map_err(DbError::from)?;
        Ok((made.kid, made.private_pem))
    }
}
