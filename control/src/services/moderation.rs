//! The moderation queue, the use cases: people report what they may see (why, and where in
//! the video), and moderators work one queue — videos held for review, videos with open
//! reports, registrations awaiting approval — deciding approve, warn, block or dismiss. A
//! video decision is the asset's review (its event is the asset's audit trail); it closes
//! the video's open reports, so reporters learn the outcome, and it goes in the audit log.
//!
//! The video's review is applied first (settled on every edge), then the reports and the
//! audit entry in one transaction: a crash between leaves the reports open and the decision
//! in the asset's events, and deciding again is harmless.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::app::{now_ms, now_rfc3339, AppError};
use crate::db::reports::{self as store, AuditEntry};
use crate::db::videos::Listed;
use crate::db::{users, Db, DbError};
use crate::domain::accounts::{Role, User, UserStatus};
use crate::domain::asset::{AssetStatus, Review, ReviewDecision};
use crate::domain::ids::{random_token, AssetId};
use crate::domain::reports::{
    check_decision, check_report, QueueDecision, Report, ReportInputError, ReportReason,
    REPORTS_PER_HOUR,
};
use crate::domain::warnings::ContentFlag;
use crate::services::assets::Assets;
use crate::services::videos::{VideoError, Videos};

/// Why a moderation operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum ModerationError {
    /// Details, a range, a reason or flags that are not acceptable.
    #[error(transparent)]
    Input(#[from] ReportInputError),
    /// No such video or account, or one the caller may not see.
    #[error("no such {0}")]
    NotFound(&'static str),
    /// The caller is not a moderator.
    #[error("this needs the moderator role")]
    Forbidden,
    /// The caller has an open report on this video.
    #[error("you have already reported this video; a moderator will look at it")]
    AlreadyReported,
    /// Too many reports in the last hour.
    #[error("too many reports in an hour; try again later")]
    Throttled,
    /// The decision does not fit the item (dismissing a video nobody reported, deciding on a
    /// video still being processed, approving an account that is not waiting).
    #[error("{0}")]
    Invalid(String),
    /// The database, storage or the fleet failed.
    #[error(transparent)]
    App(#[from] AppError),
}

impl From<DbError> for ModerationError {
    fn from(e: DbError) -> Self {
        ModerationError::App(e.into())
    }
}

impl From<VideoError> for ModerationError {
    fn from(e: VideoError) -> Self {
        match e {
            VideoError::NotFound | VideoError::Forbidden => ModerationError::NotFound("video"),
            VideoError::App(a) => ModerationError::App(a),
            other => ModerationError::Invalid(other.to_string()),
        }
    }
}

/// One video in the queue: held for review, reported, or both.
#[derive(Debug)]
pub struct QueueItem {
    /// The video.
    pub listed: Listed,
    /// Held unpublished until someone decides.
    pub held: bool,
    /// Its open reports, oldest first.
    pub reports: Vec<Report>,
}

/// Everything waiting for a moderator.
#[derive(Debug, Default)]
pub struct Queue {
    /// Held and reported videos: held first, then by their oldest report.
    pub videos: Vec<QueueItem>,
    /// Accounts waiting for approval, oldest first.
    pub registrations: Vec<User>,
}

/// A report as its reporter makes it.
#[derive(Debug, Clone)]
pub struct NewReport {
    /// Why.
    pub reason: ReportReason,
    /// In their words.
    pub details: String,
    /// Where it starts, in seconds.
    pub start_secs: Option<f64>,
    /// Where it ends, in seconds.
    pub end_secs: Option<f64>,
}

/// Items the queue shows at most, of each kind.
const QUEUE_LIMIT: u32 = 200;

/// The moderation use cases.
pub struct Moderation {
    /// The state of record.
    pub db: Db,
    /// Reviews of assets.
    pub assets: Arc<Assets>,
    /// Who may see a video.
    pub videos: Arc<Videos>,
}

fn moderator(user: &User) -> Result<(), ModerationError> {
    if user.role.allows(Role::Moderator) {
        Ok(())
    } else {
        Err(ModerationError::Forbidden)
    }
}

impl Moderation {
    /// `user` reports video `id` (one they may see).
    pub async fn report(
        &self,
        user: &User,
        id: &str,
        new: NewReport,
    ) -> Result<Report, ModerationError> {
        let l = self.videos.get(Some(user), id).await?;
        let now = now_ms();
        if store::count_since(&self.db, &user.id, now - 3_600_000).await? >= REPORTS_PER_HOUR {
            return Err(ModerationError::Throttled);
        }
        let (details, range_ms) =
            check_report(&new.details, new.start_secs, new.end_secs, l.asset.duration)?;
        let report = Report {
            id: format!("r_{}", random_token(20)),
            video_id: l.video.asset_id.clone(),
            reporter_id: user.id.clone(),
            reason: new.reason,
            details,
            range_ms,
            created_ms: now,
            decision: None,
            decided_ms: None,
        };
        if !store::insert(&self.db, &report).await? {
            return Err(ModerationError::AlreadyReported);
        }
        Ok(report)
    }

    /// `user`'s newest reports (at most 100) and what came of them.
    pub async fn reports_of(&self, user: &User) -> Result<Vec<Report>, ModerationError> {
        Ok(store::of_reporter(&self.db, &user.id, 100).await?)
    }

    /// The queue, for a moderator.
    pub async fn queue(&self, user: &User) -> Result<Queue, ModerationError> {
        moderator(user)?;
        let mut items: Vec<QueueItem> = Vec::new();
        let held = crate::db::assets::with_status(&self.db, &[AssetStatus::InReview]).await?;
        for asset in held.iter().take(QUEUE_LIMIT as usize) {
            // Assets made through the API without a video are reviewed through the API.
            if let Ok(listed) = self.videos.get(Some(user), asset.id.as_str()).await {
                items.push(QueueItem {
                    listed,
                    held: true,
                    reports: Vec::new(),
                });
            }
        }
        let mut by_video: BTreeMap<String, Vec<Report>> = BTreeMap::new();
        let mut order: Vec<String> = Vec::new();
        for r in store::open(&self.db, QUEUE_LIMIT).await? {
            if !by_video.contains_key(&r.video_id) {
                order.push(r.video_id.clone());
            }
            by_video.entry(r.video_id.clone()).or_default().push(r);
        }
        for id in order {
            let reports = by_video.remove(&id).unwrap_or_default();
            if let Some(item) = items.iter_mut().find(|i| i.listed.video.asset_id == id) {
                item.reports = reports;
                continue;
            }
            if let Ok(listed) = self.videos.get(Some(user), &id).await {
                items.push(QueueItem {
                    listed,
                    held: false,
                    reports,
                });
            }
        }
        let registrations = users::with_status(&self.db, UserStatus::Pending, QUEUE_LIMIT).await?;
        Ok(Queue {
            videos: items,
            registrations,
        })
    }

    /// Video `id` with its open reports, for a moderator.
    pub async fn item(&self, user: &User, id: &str) -> Result<QueueItem, ModerationError> {
        moderator(user)?;
        let listed = self.videos.get(Some(user), id).await?;
        let reports = store::open_on(&self.db, &listed.video.asset_id).await?;
        Ok(QueueItem {
            held: listed.asset.status == AssetStatus::InReview,
            listed,
            reports,
        })
    }

    /// A moderator decides about video `id`: approve, warn (with `flags`), block or dismiss
    /// its reports, saying why. Returns the video as it is now.
    pub async fn decide(
        &self,
        user: &User,
        id: &str,
        decision: QueueDecision,
        flags: &[ContentFlag],
        reason: &str,
    ) -> Result<Listed, ModerationError> {
        moderator(user)?;
        let (reason, flags) = check_decision(decision, reason, flags)?;
        let listed = self.videos.get(Some(user), id).await?;
        let asset_id = AssetId::parse(&listed.video.asset_id)
            .map_err(|_| ModerationError::NotFound("video"))?;
        let review = match decision {
            QueueDecision::Approve => Some(ReviewDecision::Approve),
            QueueDecision::Warn => Some(ReviewDecision::Warn),
            QueueDecision::Block => Some(ReviewDecision::Block),
            QueueDecision::Dismiss => None,
        };
        match review {
            Some(d) => {
                let review = Review {
                    decision: d,
                    flags: flags.clone(),
                    reason: reason.clone(),
                    by: user.id.clone(),
                    at: now_rfc3339(),
                };
                self.assets
                    .review(&asset_id, review)
                    .await
                    .map_err(|e| match e {
                        AppError::Transition(t) => ModerationError::Invalid(format!(
                            "the video cannot be decided on now: {t}"
                        )),
                        AppError::NotFound => ModerationError::NotFound("video"),
                        other => ModerationError::App(other),
                    })?;
            }
            None if listed.asset.status == AssetStatus::InReview => {
                return Err(ModerationError::Invalid(
                    "a held video is approved, warned or blocked, not dismissed".into(),
                ))
            }
            None => {}
        }
        let now = now_ms();
        let mut tx = self.db.pool().begin().await.map_err(DbError::from)?;
        crate::db::notifications::on_decision(
            &mut tx,
            &listed.video.asset_id,
            decision.as_str(),
            now,
        )
        .await?;
        let closed = store::decide_open(&mut tx, &listed.video.asset_id, decision, now).await?;
        if decision == QueueDecision::Dismiss && closed == 0 {
            return Err(ModerationError::Invalid(
                "the video has no open reports to dismiss".into(),
            ));
        }
        let action = if flags.is_empty() {
            format!("video.{}", decision.as_str())
        } else {
            let names: Vec<&str> = flags.iter().map(|f| f.as_str()).collect();
            format!("video.{}:{}", decision.as_str(), names.join(","))
        };
        store::audit(
            &mut tx,
            &entry(user, &action, &listed.video.asset_id, &reason, now),
        )
        .await?;
        tx.commit().await.map_err(DbError::from)?;
        Ok(self.videos.get(Some(user), id).await?)
    }

    /// A moderator approves (active) or rejects (disabled) a registration waiting for
    /// approval, saying why. Returns the account as it is now.
    pub async fn decide_registration(
        &self,
        user: &User,
        account_id: &str,
        approve: bool,
        reason: &str,
    ) -> Result<User, ModerationError> {
        moderator(user)?;
        let (reason, _) = check_decision(QueueDecision::Approve, reason, &[])?;
        let Some(account) = users::get(&self.db, account_id).await? else {
            return Err(ModerationError::NotFound("account"));
        };
        if account.status != UserStatus::Pending {
            return Err(ModerationError::Invalid(
                "the account is not waiting for approval".into(),
            ));
        }
        let status = if approve {
            UserStatus::Active
        } else {
            UserStatus::Disabled
        };
        let now = now_ms();
        let mut tx = self.db.pool().begin().await.map_err(DbError::from)?;
        if !users::set_status_in(&mut tx, account_id, UserStatus::Pending, status).await? {
            return Err(ModerationError::Invalid(
                "the account is not waiting for approval".into(),
            ));
        }
        let action = if approve {
            "registration.approve"
        } else {
            "registration.reject"
        };
        store::audit(&mut tx, &entry(user, action, account_id, &reason, now)).await?;
        tx.commit().await.map_err(DbError::from)?;
        users::get(&self.db, account_id)
            .await?
            .ok_or(ModerationError::NotFound("account"))
    }

    /// The newest entries of the audit log (at most 200), for a moderator.
    pub async fn audit_log(&self, user: &User) -> Result<Vec<AuditEntry>, ModerationError> {
        moderator(user)?;
        Ok(store::audit_log(&self.db, 200).await?)
    }
}

fn entry(user: &User, action: &str, subject: &str, reason: &str, now: i64) -> AuditEntry {
    AuditEntry {
        id: format!("l_{}", random_token(20)),
        at_ms: now,
        actor_id: user.id.clone(),
        action: action.into(),
        subject: subject.into(),
        reason: reason.into(),
    }
}
