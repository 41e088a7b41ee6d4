//! Channels' descriptions and pictures: a person sets their own; everyone reads them on the
//! channel page. An uploaded picture is decoded once (FFmpeg, image demuxers only, at most
//! 8192 pixels a side) and stored as a 256 × 256 JPEG: what is served is always ours.

use crate::app::{now_ms, AppError};
use crate::db::profiles::{self as store, Profile};
use crate::db::{Db, DbError};
use crate::domain::accounts::User;

/// Largest picture upload, bytes.
pub const MAX_PICTURE_BYTES: usize = 2 * 1024 * 1024;
/// The side of a stored picture, pixels.
pub const PICTURE_SIDE: u32 = 256;
/// Longest channel description, characters.
pub const MAX_DESCRIPTION: usize = 1_000;

/// Why a profile change was refused.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// Not an image we can read, or an unacceptable one; the reason in plain words.
    #[error("{0}")]
    Invalid(String),
    /// Larger than [`MAX_PICTURE_BYTES`].
    #[error("a picture is at most {} MB", MAX_PICTURE_BYTES / (1024 * 1024))]
    TooLarge,
    /// The database or the decoder failed.
    #[error(transparent)]
    App(#[from] AppError),
}

impl From<DbError> for ProfileError {
    fn from(e: DbError) -> Self {
        ProfileError::App(e.into())
    }
}

/// The profile use cases.
pub struct Profiles {
    /// The state of record.
    pub db: Db,
}

impl Profiles {
    /// Account `user_id`'s profile.
    pub async fn profile(&self, user_id: &str) -> Result<Profile, AppError> {
        Ok(store::get(&self.db, user_id).await?)
    }

    /// Account `user_id`'s picture (a JPEG) and its version.
    pub async fn picture(&self, user_id: &str) -> Result<Option<(Vec<u8>, i64)>, AppError> {
        Ok(store::picture(&self.db, user_id).await?)
    }

    /// Sets `user`'s channel description: at most [`MAX_DESCRIPTION`] characters, no control
    /// characters but line breaks.
    pub async fn set_description(&self, user: &User, text: &str) -> Result<(), ProfileError> {
        let text = text.trim();
        if text.chars().count() > MAX_DESCRIPTION
            || text
                .chars()
                .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
        {
            return Err(ProfileError::Invalid(format!(
                "a description is at most {MAX_DESCRIPTION} characters, without control characters"
            )));
        }
        store::set_description(&self.db, &user.id, text).await?;
        Ok(())
    }

    /// Makes `image` (JPEG, PNG, WebP or GIF) `user`'s picture; its new version.
    pub async fn set_picture(&self, user: &User, image: &[u8]) -> Result<i64, ProfileError> {
        if image.len() > MAX_PICTURE_BYTES {
            return Err(ProfileError::TooLarge);
        }
        if image.is_empty() {
            return Err(ProfileError::Invalid("the picture is empty".into()));
        }
        let file = tempfile::NamedTempFile::new().map_err(|e| AppError::Store(e.to_string()))?;
        std::fs::write(file.path(), image).map_err(|e| AppError::Store(e.to_string()))?;
        let path = file.path().to_path_buf();
        let jpeg = tokio::task::spawn_blocking(move || {
            sunomi_origin::transcode::account_picture(&path, PICTURE_SIDE)
        })
        .await
        .map_err(|e| AppError::Store(format!("decoding a picture: {e}")))?
        .map_err(|e| {
            ProfileError::Invalid(format!("{e}; choose a JPEG, PNG, WebP or GIF picture"))
        })?;
        let version = now_ms();
        store::set_picture(&self.db, &user.id, Some(&jpeg), version).await?;
        Ok(version)
    }

    /// Removes `user`'s picture.
    pub async fn remove_picture(&self, user: &User) -> Result<(), ProfileError> {
        store::set_picture(&self.db, &user.id, None, now_ms()).await?;
        Ok(())
    }
}
