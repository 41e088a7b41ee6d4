//! S3 event intake, the use case: an object put into the bucket under the intake prefix
//! becomes its owner's video, once. The SQS side (receiving, deleting, retrying) is
//! [`crate::intake_queue`]; the notifications and the versions' order are
//! [`crate::domain::intake`].
//!
//! Crash safety: the record of an object version is written in the transaction that makes its
//! asset, so a delivery after a crash finds it and changes nothing; the upload starts
//! complete, and a crash before its source is copied leaves it to the upload sweeper, which
//! finishes it.

use std::collections::BTreeMap;
use std::sync::Arc;

use object_store::{Attribute, GetOptions};
use sunomi_origin::Store;

use crate::app::{now_rfc3339, AppError};
use crate::db::intake::{self as store, IntakeRow};
use crate::db::{users, Db};
use crate::domain::accounts::{normalize_email, User, UserStatus};
use crate::domain::ids::AssetId;
use crate::domain::intake::{judge, read_meta, IntakeMeta, ObjectCreated, OwnerRef, Verdict};
use crate::domain::upload::IntakeSource;
use crate::metrics::metrics;
use crate::services::videos::{NewVideo, VideoError, Videos};

/// What became of one object version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It became a video (this asset).
    Created(AssetId),
    /// It was taken before (another delivery of the same put).
    Duplicate,
    /// A later version of its key was taken before.
    Stale,
    /// The bucket holds another version now (or none): its own notification decides.
    Superseded,
    /// It cannot become a video (no owner, no title, too large…); recorded, not retried.
    Refused(String),
    /// Not intake's: another bucket, or outside the intake prefix.
    Ignored,
}

impl Outcome {
    /// The metric label.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Created(_) => "created",
            Outcome::Duplicate => "duplicate",
            Outcome::Stale => "stale",
            Outcome::Superseded => "superseded",
            Outcome::Refused(_) => "refused",
            Outcome::Ignored => "ignored",
        }
    }
}

/// The intake use case's adapters and settings.
pub struct Intake {
    /// The state of record.
    pub db: Db,
    /// Object storage (an `s3://` store; intake objects are in its bucket).
    pub store: Store,
    /// Videos (an intake object becomes one).
    pub videos: Arc<Videos>,
    /// The key prefix in the bucket that intake watches (`intake/`).
    pub prefix: String,
}

impl Intake {
    /// Takes one announced object version: makes its video unless it was taken, is stale,
    /// superseded, refused or not intake's. `Err` only for failures worth another delivery
    /// (the database or storage down).
    pub async fn take(&self, object: &ObjectCreated) -> Result<Outcome, AppError> {
        let outcome = self.decide(object).await;
        if let Ok(o) = &outcome {
            metrics()
                .intake_objects
                .with_label_values(&[o.label()])
                .inc();
            match o {
                Outcome::Created(asset) => {
                    tracing::info!(key = %object.key, %asset, "intake object became a video")
                }
                Outcome::Refused(why) => {
                    tracing::warn!(key = %object.key, reason = %why, "intake object refused")
                }
                other => tracing::debug!(key = %object.key, outcome = other.label(), "intake"),
            }
        }
        outcome
    }

    async fn decide(&self, object: &ObjectCreated) -> Result<Outcome, AppError> {
        if self.store.s3_bucket() != Some(object.bucket.as_str())
            || !object.key.starts_with(&self.prefix)
        {
            return Ok(Outcome::Ignored);
        }
        match judge(object, &store::seen(&self.db, &object.key).await?) {
            Verdict::New => {}
            Verdict::Duplicate => return Ok(Outcome::Duplicate),
            Verdict::Stale => return Ok(Outcome::Stale),
        }
        let Some(metadata) = self.current_metadata(object).await? else {
            return Ok(Outcome::Superseded);
        };
        let meta = match read_meta(&metadata) {
            Ok(m) => m,
            Err(why) => return self.refuse(object, why.to_string()).await,
        };
        let owner = match self.owner(&meta).await? {
            Ok(o) => o,
            Err(why) => return self.refuse(object, why).await,
        };
        let fields = NewVideo {
            title: &meta.title,
            description: &meta.description,
            visibility: meta.visibility,
            size: object.size,
            language: meta.language.as_deref(),
        };
        let source = IntakeSource {
            key: object.key.clone(),
            etag: object.etag.clone(),
        };
        match self
            .videos
            .create_from_intake(&owner, fields, source, self.row(object, "created", ""))
            .await
        {
            Ok((_, upload)) => Ok(Outcome::Created(upload.asset_id)),
            Err(VideoError::App(AppError::Conflict(_))) => Ok(Outcome::Duplicate),
            Err(VideoError::App(e)) => Err(e),
            Err(refused) => self.refuse(object, refused.to_string()).await,
        }
    }

    /// The object's metadata if the bucket still holds the announced version (same ETag);
    /// `None` if it holds another or none.
    async fn current_metadata(
        &self,
        object: &ObjectCreated,
    ) -> Result<Option<BTreeMap<String, String>>, AppError> {
        let Ok(path) = object_store::path::Path::parse(&object.key) else {
            return Ok(None);
        };
        let options = GetOptions {
            head: true,
            ..Default::default()
        };
        let got = match self.store.object_store().get_opts(&path, options).await {
            Ok(g) => g,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(AppError::Store(format!("reading the intake object: {e}"))),
        };
        let etag = got.meta.e_tag.as_deref().map(|e| e.trim_matches('"'));
        if etag != Some(object.etag.as_str()) {
            return Ok(None);
        }
        Ok(Some(
            got.attributes
                .iter()
                .filter_map(|(k, v)| match k {
                    Attribute::Metadata(name) => {
                        Some((name.to_ascii_lowercase(), v.as_ref().to_string()))
                    }
                    _ => None,
                })
                .collect(),
        ))
    }

    /// The account the metadata names, if it may upload.
    async fn owner(&self, meta: &IntakeMeta) -> Result<Result<User, String>, AppError> {
        let user = match &meta.owner {
            OwnerRef::Id(id) => users::get(&self.db, id).await?,
            OwnerRef::Email(email) => match normalize_email(email) {
                Ok(e) => users::by_email(&self.db, &e).await?,
                Err(_) => None,
            },
        };
        Ok(match user {
            Some(u) if u.status == UserStatus::Active => Ok(u),
            Some(_) => Err("the owner's account is not active".into()),
            None => Err("no account matches x-amz-meta-owner".into()),
        })
    }

    async fn refuse(&self, object: &ObjectCreated, why: String) -> Result<Outcome, AppError> {
        if !store::insert(&self.db, &self.row(object, "refused", &why)).await? {
            return Ok(Outcome::Duplicate);
        }
        Ok(Outcome::Refused(why))
    }

    fn row(&self, object: &ObjectCreated, outcome: &'static str, detail: &str) -> IntakeRow {
        IntakeRow {
            object_key: object.key.clone(),
            version: object.version(),
            sequencer: object.sequencer.clone(),
            outcome,
            asset_id: None,
            detail: detail.to_string(),
            received_at: now_rfc3339(),
        }
    }
}
