//! A person's own account, the use cases: change their display name or password (which ends
//! their other sessions), export everything the platform keeps about them, and delete their
//! account — its videos first (each purged from every edge), then in one transaction their
//! likes, subscriptions, reports, sessions and the account; their comments stay as removed
//! so replies keep their place. A deletion that stops half-way can be asked for again.

use std::sync::Arc;

use serde::Serialize;
use utoipa::ToSchema;

use super::accounts::{AccountError, Accounts, Session};
use crate::app::{now_rfc3339, rfc3339_of_ms, AppError};
use crate::db::videos::{self as video_store, Listing};
use crate::db::{reports, social, users, Db, DbError};
use crate::domain::accounts::{check_display_name, check_password, User};
use crate::domain::ids::AssetId;
use crate::services::assets::Assets;

/// Everything the platform keeps about one person, as they download it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountExport {
    /// When this was made (RFC 3339).
    pub exported_at: String,
    /// The account (never its password hash or two-factor secret).
    pub account: ExportedAccount,
    /// Their videos, in any state.
    pub videos: Vec<ExportedVideo>,
    /// Comments they wrote.
    pub comments: Vec<ExportedComment>,
    /// Videos they like: `{video_id, at}`.
    pub likes: Vec<ExportedLink>,
    /// Channels they subscribe to: `{video_id: channel id, at}`.
    pub subscriptions: Vec<ExportedLink>,
    /// Reports they made and what came of them.
    pub reports: Vec<ExportedReport>,
}

/// The account part of an export.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportedAccount {
    /// `u_…`.
    pub id: String,
    /// Sign-in email.
    pub email: String,
    /// The name people see.
    pub display_name: String,
    /// `user`, `moderator` or `admin`.
    pub role: String,
    /// When it was made.
    pub created_at: String,
    /// Whether two-factor sign-in is on.
    pub two_factor: bool,
    /// Their content-warning choices, if they made any.
    pub content_policy: Option<crate::domain::warnings::ContentPolicy>,
    /// The sign-in providers they sign in with (`[[accounts.sso]]` ids), and since when.
    pub sign_in_providers: Vec<ExportedLink>,
}

/// A video in an export.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportedVideo {
    /// Its id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Who may watch.
    pub visibility: String,
    /// Its media's status.
    pub status: String,
    /// When it was made.
    pub created_at: String,
    /// The content flags they set.
    pub flags: Vec<crate::domain::warnings::ContentFlag>,
    /// Their content-warning summary.
    pub warning_summary: String,
}

/// A comment in an export.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportedComment {
    /// `c_…`.
    pub id: String,
    /// The video it is on.
    pub video_id: String,
    /// The comment it answers.
    pub parent_id: Option<String>,
    /// Its words (empty once removed).
    pub body: String,
    /// When it was written.
    pub created_at: String,
    /// Whether it was removed.
    pub deleted: bool,
}

/// A like or a subscription in an export.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportedLink {
    /// The video liked, the channel subscribed to, or the sign-in provider.
    pub id: String,
    /// Since when.
    pub at: String,
}

/// A report in an export.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportedReport {
    /// `r_…`.
    pub id: String,
    /// The video reported.
    pub video_id: String,
    /// Why.
    pub reason: String,
    /// In their words.
    pub details: String,
    /// When.
    pub created_at: String,
    /// What a moderator decided, if they have.
    pub decision: Option<String>,
}

/// The account-data use cases.
pub struct AccountData {
    /// The state of record.
    pub db: Db,
    /// Passwords and second factors.
    pub accounts: Arc<Accounts>,
    /// Deleting videos (and purging them from the edges).
    pub assets: Arc<Assets>,
}

impl AccountData {
    /// Changes `user`'s display name (their channel's name everywhere, search included).
    pub async fn rename(&self, user: &User, name: &str) -> Result<User, AccountError> {
        let name = check_display_name(name)?;
        users::rename(&self.db, &user.id, &name).await?;
        users::get(&self.db, &user.id)
            .await?
            .ok_or(AccountError::BadCredentials)
    }

    /// Changes the password of `session`'s account, given the current one; ends every other
    /// session of the account.
    pub async fn change_password(
        &self,
        session: &Session,
        current: &str,
        new: &str,
    ) -> Result<(), AccountError> {
        let user = &session.user;
        let hash = user.password_hash.clone().unwrap_or_default();
        if hash.is_empty() || !self.accounts.verify(current.to_string(), hash).await? {
            return Err(AccountError::BadCredentials);
        }
        check_password(new, &user.email)?;
        let hashed = self.accounts.hash(new.to_string()).await?;
        users::set_password(&self.db, &user.id, &hashed, &session.token_hash).await?;
        Ok(())
    }

    /// Everything kept about `user`.
    pub async fn export(&self, user: &User) -> Result<AccountExport, AccountError> {
        let mut videos = Vec::new();
        let mut offset = 0u64;
        loop {
            let (page, more) =
                video_store::page(&self.db, Listing::Owner(&user.id), 100, offset).await?;
            offset += page.len() as u64;
            videos.extend(page.into_iter().map(|l| {
                ExportedVideo {
                    id: l.video.asset_id,
                    title: l.video.title,
                    description: l.video.description,
                    visibility: l.video.visibility.as_str().into(),
                    status: serde_json::to_value(l.asset.status)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default(),
                    created_at: l.video.created_at,
                    flags: l.video.flags.to_vec(),
                    warning_summary: l.video.warning_summary,
                }
            }));
            if !more {
                break;
            }
        }
        let link = |(id, at): (String, String)| ExportedLink { id, at };
        Ok(AccountExport {
            exported_at: now_rfc3339(),
            account: ExportedAccount {
                id: user.id.clone(),
                email: user.email.clone(),
                display_name: user.display_name.clone(),
                role: user.role.as_str().into(),
                created_at: user.created_at.clone(),
                two_factor: user.totp_secret.is_some(),
                content_policy: user.content_policy.clone(),
                sign_in_providers: crate::db::sso::identities_of(&self.db, &user.id)
                    .await?
                    .into_iter()
                    .map(|(provider, at)| ExportedLink { id: provider, at })
                    .collect(),
            },
            videos,
            comments: social::comments_by(&self.db, &user.id)
                .await?
                .into_iter()
                .map(|c| ExportedComment {
                    id: c.id,
                    video_id: c.video_id,
                    parent_id: c.parent_id,
                    body: c.body,
                    created_at: rfc3339_of_ms(c.created_ms),
                    deleted: c.deleted,
                })
                .collect(),
            likes: social::likes_by(&self.db, &user.id)
                .await?
                .into_iter()
                .map(link)
                .collect(),
            subscriptions: social::subscriptions_of(&self.db, &user.id)
                .await?
                .into_iter()
                .map(link)
                .collect(),
            reports: reports::of_reporter(&self.db, &user.id, u32::MAX)
                .await?
                .into_iter()
                .map(|r| ExportedReport {
                    id: r.id,
                    video_id: r.video_id,
                    reason: r.reason.as_str().into(),
                    details: r.details,
                    created_at: rfc3339_of_ms(r.created_ms),
                    decision: r.decision.map(|d| d.as_str().to_string()),
                })
                .collect(),
        })
    }

    /// Deletes `user`'s account for good, given their password (and, with two-factor
    /// sign-in, a code): every video of theirs (gone from every edge before this answers),
    /// then the rest.
    pub async fn delete(
        &self,
        user: &User,
        password: &str,
        code: Option<&str>,
    ) -> Result<(), AccountError> {
        let hash = user.password_hash.clone().unwrap_or_default();
        if hash.is_empty() || !self.accounts.verify(password.to_string(), hash).await? {
            return Err(AccountError::BadCredentials);
        }
        if user.totp_secret.is_some() {
            let code = code.map(str::trim).filter(|c| !c.is_empty());
            match code {
                None => return Err(AccountError::TwoFactorRequired),
                Some(c) if !self.accounts.second_factor(user, c).await? => {
                    return Err(AccountError::BadCode)
                }
                Some(_) => {}
            }
        }
        let mut deleted: std::collections::HashSet<String> = std::collections::HashSet::new();
        loop {
            let (page, _) = video_store::page(&self.db, Listing::Owner(&user.id), 100, 0).await?;
            let left: Vec<_> = page
                .into_iter()
                .filter(|l| !deleted.contains(&l.video.asset_id))
                .collect();
            if left.is_empty() {
                break;
            }
            for l in left {
                deleted.insert(l.video.asset_id.clone());
                let Ok(id) = AssetId::parse(&l.video.asset_id) else {
                    continue;
                };
                match self.assets.delete_asset(&id).await {
                    Ok(()) | Err(AppError::NotFound) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        let mut tx = self.db.pool().begin().await.map_err(DbError::from)?;
        social::forget_user(&mut tx, &user.id).await?;
        users::delete_in(&mut tx, &user.id).await?;
        tx.commit().await.map_err(DbError::from)?;
        Ok(())
    }
}
