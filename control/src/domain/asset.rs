//! The asset: a video's state of record (a row of the database, [`crate::db::assets`]) and
//! its lifecycle as a state machine. Every change goes through [`Asset::apply`], the one place that knows which
//! status may follow which and which event each change emits. Pure: no I/O, no clock (the
//! caller passes `now`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sunomi_packager::manifest::VideoStatus;
use utoipa::ToSchema;

use crate::domain::ids::{AssetId, PlaybackId, UploadId};
use crate::domain::moderation::Verdict;
use crate::domain::warnings::{ContentFlag, Flags};

/// The transcode progress event (streamed to SSE, not sent as a webhook).
pub const PROGRESS_EVENT: &str = "video.asset.progress";

/// Events kept on an asset's record for `Last-Event-ID` replays.
pub const EVENT_HISTORY: usize = 500;

/// Where an asset is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AssetStatus {
    /// Created; its upload has not finished.
    WaitingUpload,
    /// The source is stored; a transcode job is queued.
    Uploaded,
    /// A worker is probing the source.
    Validating,
    /// A worker is encoding the ladder (`progress` says how far).
    Transcoding,
    /// The analysis stages are running.
    Analyzing,
    /// Held unpublished: a moderation rule with the `review` action matched; a person decides
    /// (`POST /assets/{id}/moderation`).
    InReview,
    /// Published: the playback URL plays.
    Ready,
    /// Refused by moderation: the edge answers 451.
    Blocked,
    /// Failed: `errors` says why.
    Errored,
}

impl AssetStatus {
    /// Whether nothing more happens to the asset without someone asking.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            AssetStatus::Ready
                | AssetStatus::Blocked
                | AssetStatus::InReview
                | AssetStatus::Errored
        )
    }

    /// Whether `self` may be followed by `next`. The whole lifecycle is this table:
    /// `waiting_upload → uploaded → validating → transcoding → analyzing → ready | blocked |
    /// in_review`, `errored` from anywhere before the end, `validating` again when a job
    /// attempt is redelivered mid-pipeline, `errored → uploaded` only by a person's retry
    /// ([`Change::Retried`]), and `in_review → ready | blocked`, `ready ⇄ blocked` by a
    /// person's moderation decision (only
    /// [`Change::Reviewed`] makes those moves).
    pub fn may_become(self, next: AssetStatus) -> bool {
        use AssetStatus::*;
        match (self, next) {
            (WaitingUpload, Uploaded) => true,
            (Uploaded, Validating) => true,
            (Validating, Transcoding) => true,
            (Transcoding, Analyzing) => true,
            (Analyzing, Ready | Blocked | InReview) => true,
            (Validating | Transcoding | Analyzing, Validating) => true,
            (from, Errored) => !from.is_final(),
            _ => false,
        }
    }

    /// The event emitted on entering this status.
    pub fn event_type(self) -> &'static str {
        match self {
            AssetStatus::WaitingUpload => "video.asset.created",
            AssetStatus::Uploaded => "video.asset.uploaded",
            AssetStatus::Validating => "video.asset.validating",
            AssetStatus::Transcoding => "video.asset.transcoding",
            AssetStatus::Analyzing => "video.asset.analyzing",
            AssetStatus::InReview => "video.asset.in_review",
            AssetStatus::Ready => "video.asset.ready",
            AssetStatus::Blocked => "video.asset.blocked",
            AssetStatus::Errored => "video.asset.errored",
        }
    }
}

/// Stable error codes an asset can end with (Cloudflare Stream's spirit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AssetErrorCode {
    /// The file is not a video (no video stream, not a media container).
    ErrNonVideo,
    /// The file looks like media but cannot be decoded (corrupt, truncated).
    ErrMalformedVideo,
    /// Shorter than the minimum duration.
    ErrDurationTooShort,
    /// Longer than the maximum duration (declared or decoded).
    ErrDurationExceedConstraint,
    /// The upload was empty.
    ErrEmptyUpload,
    /// The upload expired before it finished.
    ErrUploadTimedOut,
    /// The upload was cancelled.
    ErrUploadCancelled,
    /// Every attempt of a job failed (the reason says how); the job is in the dead letters.
    ErrJobFailed,
    /// The platform failed (storage, encoder setup); retrying may help.
    ErrInternal,
    /// A direct upload's parts did not add up to the size it declared.
    ErrUploadSizeMismatch,
}

impl AssetErrorCode {
    /// What the code means to the person who uploaded the file, in plain words.
    pub fn plain(self) -> &'static str {
        match self {
            AssetErrorCode::ErrNonVideo => {
                "This file is not a video. Choose a video file (MP4, MOV, WebM, MKV…)."
            }
            AssetErrorCode::ErrMalformedVideo => {
                "This video file is damaged or incomplete, so it cannot be played. Try exporting it again."
            }
            AssetErrorCode::ErrDurationTooShort => "This video is too short.",
            AssetErrorCode::ErrDurationExceedConstraint => {
                "This video is longer than this site allows."
            }
            AssetErrorCode::ErrEmptyUpload => "The file was empty.",
            AssetErrorCode::ErrUploadTimedOut => {
                "The upload took too long and expired. Start it again."
            }
            AssetErrorCode::ErrUploadCancelled => "The upload was cancelled.",
            AssetErrorCode::ErrJobFailed | AssetErrorCode::ErrInternal => {
                "Something went wrong on our side while processing it. Try again later."
            }
            AssetErrorCode::ErrUploadSizeMismatch => {
                "The file that arrived was not the size announced. Upload it again."
            }
        }
    }
}

/// Why an asset errored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AssetErrorInfo {
    /// Stable machine code.
    pub code: AssetErrorCode,
    /// A sentence for people.
    pub message: String,
}

/// How far a pipeline stage is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StageStatus {
    /// Not started.
    Pending,
    /// Running.
    Running,
    /// Finished well.
    Completed,
    /// Not run (its backend is `off`).
    Skipped,
    /// Failed.
    Failed,
}

/// One pipeline stage's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Stage {
    /// How far it is.
    pub status: StageStatus,
    /// 0–100 while running (transcoding reports it).
    pub progress: u8,
    /// When it started (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// When it ended (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// Why it was skipped or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Stage {
    fn pending() -> Stage {
        Stage {
            status: StageStatus::Pending,
            progress: 0,
            started_at: None,
            finished_at: None,
            detail: None,
        }
    }
}

/// Pipeline stage names, in order.
pub const STAGES: [&str; 4] = ["validate", "transcode", CAPTIONS_STAGE, MODERATION_STAGE];
/// The speech-to-text stage.
pub const CAPTIONS_STAGE: &str = "captions";
/// The moderation stage.
pub const MODERATION_STAGE: &str = "moderation";

/// Where a captions track came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CaptionSource {
    /// Speech-to-text made it (named "{Language} (auto-generated)" in playlists).
    Generated,
    /// Someone uploaded it.
    Uploaded,
}

/// A captions track of an asset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CaptionInfo {
    /// Language code (the file `subs/{language}.vtt`).
    pub language: String,
    /// Where it came from.
    pub source: CaptionSource,
}

/// A playback id's access policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlaybackPolicy {
    /// Anyone with the URL may play.
    Public,
    /// Only with `?token=`: a JWT signed by one of the signing keys.
    Signed,
}

impl From<PlaybackPolicy> for sunomi_packager::playback::PlaybackPolicy {
    fn from(p: PlaybackPolicy) -> Self {
        match p {
            PlaybackPolicy::Public => sunomi_packager::playback::PlaybackPolicy::Public,
            PlaybackPolicy::Signed => sunomi_packager::playback::PlaybackPolicy::Signed,
        }
    }
}

/// A playback id of an asset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PlaybackIdInfo {
    /// The id in edge URLs.
    #[schema(value_type = String)]
    pub id: PlaybackId,
    /// Who may play it.
    pub policy: PlaybackPolicy,
}

/// One rendition of a ready asset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RenditionInfo {
    /// Ladder label (`720p`).
    pub name: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Peak bit rate in bits per second.
    pub peak_bit_rate: u64,
}

/// The stored source of an asset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SourceInfo {
    /// Size in bytes.
    pub size: u64,
    /// The stored object's version (ETag): jobs are idempotent per (asset, source version).
    pub version: String,
}

/// A moderation decision made by a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReviewDecision {
    /// Publish (or publish again), without a content warning.
    Approve,
    /// Publish behind a content warning (the review's `flags`).
    Warn,
    /// Do not publish: the edge answers 451.
    Block,
}

/// One entry of an asset's moderation audit trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Review {
    /// What was decided.
    pub decision: ReviewDecision,
    /// The content flags a `warn` decision sets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<ContentFlag>,
    /// Why, in the reviewer's words.
    pub reason: String,
    /// Who decided (the API key's id).
    pub by: String,
    /// When (RFC 3339).
    pub at: String,
}

/// An asset's moderation state.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
pub struct Moderation {
    /// The automatic verdict: decision, labels, the policy version that decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    /// The newest manual decisions (at most 10), oldest first; every one is listed by
    /// `GET /api/v1/assets/{id}/reviews`.
    pub reviews: Vec<Review>,
}

impl Moderation {
    /// The content flags the video is published behind: a person's latest decision if one
    /// was made (`warn` sets its flags; `approve` and `block` clear them), else the
    /// automatic verdict's.
    pub fn warnings(&self) -> Flags {
        match self.reviews.last() {
            Some(r) if r.decision == ReviewDecision::Warn => r.flags.iter().copied().collect(),
            Some(_) => Flags::NONE,
            None => self
                .verdict
                .as_ref()
                .map_or(Flags::NONE, |v| v.warnings.iter().copied().collect()),
        }
    }
}

/// An event, as stored on the asset and sent over SSE and webhooks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Event {
    /// Unique id: `{asset_id}.{seq}` (the `webhook-id` and SSE id of asset streams).
    pub id: String,
    /// Place in the asset's event sequence (1, 2, …).
    pub seq: u64,
    /// `video.asset.ready`, `video.upload.created`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// The asset it is about.
    #[schema(value_type = String)]
    pub asset_id: AssetId,
    /// When it happened (RFC 3339).
    pub created_at: String,
    /// Details: status, progress, the error, the stage…
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

/// An asset's state of record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Asset {
    /// The asset id (also its storage folder and first playback id).
    #[schema(value_type = String)]
    pub id: AssetId,
    /// Where it is in its life.
    pub status: AssetStatus,
    /// Transcode progress, 0–100.
    pub progress: u8,
    /// Per-stage state (`validate`, `transcode`, `captions`, `moderation`).
    pub stages: BTreeMap<String, Stage>,
    /// Duration in seconds once validated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<f64>,
    /// Renditions once transcoded.
    #[serde(default)]
    pub renditions: Vec<RenditionInfo>,
    /// Why it errored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<AssetErrorInfo>,
    /// Arbitrary text of the uploader's, echoed back (≤ 255 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passthrough: Option<String>,
    /// The uploader's metadata (title, creator id, external id…), echoed back.
    #[serde(default)]
    pub meta: BTreeMap<String, String>,
    /// Playback ids.
    pub playback_ids: Vec<PlaybackIdInfo>,
    /// The upload it came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub upload_id: Option<UploadId>,
    /// The stored source once uploaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceInfo>,
    /// The transcode run whose files are published (one per asset and source version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
    /// Created (RFC 3339).
    pub created_at: String,
    /// Last changed (RFC 3339).
    pub updated_at: String,
    /// Captions tracks.
    #[serde(default)]
    pub captions: Vec<CaptionInfo>,
    /// Moderation: the automatic verdict and the audit trail of manual decisions.
    #[serde(default)]
    pub moderation: Moderation,
    /// Recent events, oldest first (the last [`EVENT_HISTORY`]).
    #[serde(default)]
    pub events: Vec<Event>,
    /// The last event's sequence number.
    #[serde(default)]
    pub event_seq: u64,
}

/// A change asked of an asset.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// The upload finished and the source is stored.
    Uploaded(SourceInfo),
    /// A job attempt starts validating (again).
    Validating,
    /// Validated: the source's duration.
    Validated {
        /// Seconds.
        duration: f64,
    },
    /// Transcode progress (0–100).
    Progress(u8),
    /// The transcode of `run` is stored (not yet published).
    Transcoded {
        /// The run.
        run: String,
        /// The renditions it made.
        renditions: Vec<RenditionInfo>,
        /// Measured duration.
        duration: f64,
    },
    /// An analysis stage started.
    StageStarted(&'static str),
    /// An analysis stage failed without stopping publication (captions).
    StageFailed {
        /// Stage name.
        stage: String,
        /// Why.
        message: String,
    },
    /// Captions in `language` were stored.
    Captioned {
        /// Language code.
        language: String,
        /// Who made them.
        source: CaptionSource,
    },
    /// Captions in a language were deleted.
    CaptionsRemoved(String),
    /// The moderation stage finished with this verdict.
    Moderated(Verdict),
    /// The verdict holds the asset for review.
    HeldForReview,
    /// The verdict blocks the asset.
    AutoBlocked,
    /// An analysis stage was skipped (its backend is off).
    StageSkipped {
        /// Stage name.
        stage: String,
        /// Why.
        reason: String,
    },
    /// Published: the gate passed.
    Ready,
    /// Failed for good.
    Errored(AssetErrorInfo),
    /// A person's moderation decision on a published or blocked asset.
    Reviewed(Review),
    /// A playback id was added.
    PlaybackAdded(PlaybackIdInfo),
    /// A playback id was removed (revoked).
    PlaybackRemoved(PlaybackId),
    /// A person asked for an errored asset to be processed again (`POST /jobs/{id}/retry`):
    /// back to `uploaded`, its source kept. Only this moves an asset out of `errored`, so a
    /// stale or duplicate job never revives one.
    Retried {
        /// The revived job.
        job_id: String,
    },
    /// An event with no status change (upload events, deletion).
    Note {
        /// Event type.
        kind: String,
        /// Its data.
        data: serde_json::Value,
    },
}

/// A change the asset refuses.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TransitionError {
    /// It does not fit the asset's status.
    #[error("asset is {from:?}; it cannot become {to:?}")]
    Status {
        /// Where the asset is.
        from: AssetStatus,
        /// Where the change would take it.
        to: AssetStatus,
    },
    /// The asset already has as many playback ids as it may ([`MAX_PLAYBACK_IDS`]).
    #[error("an asset has at most {MAX_PLAYBACK_IDS} playback ids; delete one first")]
    TooManyPlaybackIds,
}

/// The event a person's moderation decision emits; its data is the decision (`decision`,
/// `reason`, `by`), so the events are the whole audit trail.
pub const REVIEWED_EVENT: &str = "video.asset.moderation.reviewed";

impl Review {
    /// The decision a [`REVIEWED_EVENT`] records.
    pub fn of_event(e: &Event) -> Option<Review> {
        let text = |k: &str| e.data.get(k).and_then(|v| v.as_str()).map(str::to_string);
        Some(Review {
            decision: serde_json::from_value(e.data.get("decision")?.clone()).ok()?,
            flags: e
                .data
                .get("flags")
                .and_then(|f| serde_json::from_value(f.clone()).ok())
                .unwrap_or_default(),
            reason: text("reason")?,
            by: text("by")?,
            at: e.created_at.clone(),
        })
    }
}

/// Playback ids an asset may have at once (each is a record every edge may read).
pub const MAX_PLAYBACK_IDS: usize = 20;

/// Reviews kept on the asset's record (the newest); every one is in its events
/// (`video.asset.moderation.reviewed`, the full audit trail).
pub const REVIEWS_ON_RECORD: usize = 10;

impl Asset {
    /// A new asset waiting for its upload, with one public playback id (a fresh one: edge
    /// URLs never carry asset ids).
    pub fn new(
        id: AssetId,
        upload_id: Option<UploadId>,
        passthrough: Option<String>,
        meta: BTreeMap<String, String>,
        now: &str,
    ) -> Asset {
        let playback = PlaybackIdInfo {
            id: PlaybackId::generate(),
            policy: PlaybackPolicy::Public,
        };
        let mut asset = Asset {
            id,
            status: AssetStatus::WaitingUpload,
            progress: 0,
            stages: STAGES
                .iter()
                .map(|s| (s.to_string(), Stage::pending()))
                .collect(),
            duration: None,
            renditions: Vec::new(),
            errors: None,
            passthrough,
            meta,
            playback_ids: vec![playback],
            upload_id,
            source: None,
            run: None,
            created_at: now.to_string(),
            updated_at: now.to_string(),
            captions: Vec::new(),
            moderation: Moderation::default(),
            events: Vec::new(),
            event_seq: 0,
        };
        asset.emit(AssetStatus::WaitingUpload.event_type(), now, None);
        asset
    }

    /// The languages whose captions speech-to-text made (the manifest lists them, so playlists
    /// name them "{Language} (auto-generated)"), sorted.
    pub fn generated_captions(&self) -> Vec<String> {
        let mut langs: Vec<String> = self
            .captions
            .iter()
            .filter(|c| c.source == CaptionSource::Generated)
            .map(|c| c.language.clone())
            .collect();
        langs.sort();
        langs
    }

    /// The availability the edge must see for this asset (the manifest's `status`, a
    /// projection of the asset's): `published` only when ready, `blocked` when blocked,
    /// `pending` otherwise.
    pub fn availability(&self) -> VideoStatus {
        match self.status {
            AssetStatus::Ready => VideoStatus::Published,
            AssetStatus::Blocked => VideoStatus::Blocked,
            _ => VideoStatus::Pending,
        }
    }

    /// Applies `change` at `now`: the next state, with the events it emits appended.
    /// Returns `Ok(None)` when the change is already reflected (a redelivered job's repeat).
    pub fn apply(&self, change: Change, now: &str) -> Result<Option<Asset>, TransitionError> {
        let mut next = self.clone();
        next.updated_at = now.to_string();
        let set_stage = |next: &mut Asset, name: &str, status: StageStatus| {
            if let Some(stage) = next.stages.get_mut(name) {
                if status == StageStatus::Running {
                    stage.started_at = Some(now.to_string());
                    stage.finished_at = None;
                    stage.detail = None;
                    stage.progress = 0;
                } else {
                    stage.finished_at = Some(now.to_string());
                }
                if status == StageStatus::Completed {
                    stage.progress = 100;
                }
                stage.status = status;
            }
        };
        match change {
            Change::Uploaded(source) => {
                if self.status == AssetStatus::Uploaded && self.source.as_ref() == Some(&source) {
                    return Ok(None);
                }
                next.move_to(AssetStatus::Uploaded)?;
                next.source = Some(source);
                next.emit(AssetStatus::Uploaded.event_type(), now, None);
            }
            Change::Validating => {
                next.move_to(AssetStatus::Validating)?;
                next.errors = None;
                next.progress = 0;
                for stage in STAGES {
                    next.stages.insert(stage.to_string(), Stage::pending());
                }
                set_stage(&mut next, "validate", StageStatus::Running);
                next.emit(AssetStatus::Validating.event_type(), now, None);
            }
            Change::Validated { duration } => {
                next.move_to(AssetStatus::Transcoding)?;
                next.duration = Some(duration);
                set_stage(&mut next, "validate", StageStatus::Completed);
                set_stage(&mut next, "transcode", StageStatus::Running);
                next.emit(AssetStatus::Transcoding.event_type(), now, None);
            }
            Change::Progress(p) => {
                if self.status != AssetStatus::Transcoding {
                    return Err(TransitionError::Status {
                        from: self.status,
                        to: AssetStatus::Transcoding,
                    });
                }
                let p = p.min(100);
                if p <= self.progress {
                    return Ok(None);
                }
                next.progress = p;
                if let Some(stage) = next.stages.get_mut("transcode") {
                    stage.progress = p;
                }
                next.emit(
                    PROGRESS_EVENT,
                    now,
                    Some(serde_json::json!({ "progress": p })),
                );
            }
            Change::Transcoded {
                run,
                renditions,
                duration,
            } => {
                next.move_to(AssetStatus::Analyzing)?;
                next.progress = 100;
                next.run = Some(run);
                next.duration = Some(duration);
                set_stage(&mut next, "transcode", StageStatus::Completed);
                for r in &renditions {
                    next.emit(
                        "video.asset.track.ready",
                        now,
                        Some(serde_json::json!({ "rendition": r.name, "width": r.width, "height": r.height })),
                    );
                }
                next.renditions = renditions;
                next.emit(AssetStatus::Analyzing.event_type(), now, None);
            }
            Change::StageStarted(stage) => {
                if self.stages.get(stage).map(|s| s.status) == Some(StageStatus::Running) {
                    return Ok(None);
                }
                set_stage(&mut next, stage, StageStatus::Running);
            }
            Change::StageFailed { stage, message } => {
                set_stage(&mut next, &stage, StageStatus::Failed);
                if let Some(s) = next.stages.get_mut(&stage) {
                    s.detail = Some(message.clone());
                }
                next.emit(
                    "video.asset.stage.failed",
                    now,
                    Some(serde_json::json!({ "stage": stage, "message": message })),
                );
            }
            Change::Captioned { language, source } => {
                if source == CaptionSource::Generated {
                    set_stage(&mut next, CAPTIONS_STAGE, StageStatus::Completed);
                    let uploaded = self
                        .captions
                        .iter()
                        .any(|c| c.language == language && c.source == CaptionSource::Uploaded);
                    if uploaded {
                        // A person's captions win: the stage is done, the track stays theirs.
                        if let Some(stage) = next.stages.get_mut(CAPTIONS_STAGE) {
                            stage.detail = Some(format!(
                                "captions in {language} were uploaded; they are kept"
                            ));
                        }
                        return Ok(Some(next));
                    }
                }
                next.captions.retain(|c| c.language != language);
                next.captions.push(CaptionInfo {
                    language: language.clone(),
                    source,
                });
                next.captions.sort_by(|a, b| a.language.cmp(&b.language));
                next.emit(
                    "video.asset.captions.ready",
                    now,
                    Some(serde_json::json!({ "language": language, "source": source })),
                );
            }
            Change::CaptionsRemoved(language) => {
                next.captions.retain(|c| c.language != language);
                next.emit(
                    "video.asset.captions.deleted",
                    now,
                    Some(serde_json::json!({ "language": language })),
                );
            }
            Change::Moderated(verdict) => {
                if self.moderation.verdict.as_ref() == Some(&verdict) {
                    return Ok(None);
                }
                set_stage(&mut next, MODERATION_STAGE, StageStatus::Completed);
                let data = serde_json::json!({
                    "decision": verdict.decision,
                    "backend": verdict.backend,
                    "policy_version": verdict.policy_version,
                    "reasons": verdict.reasons,
                });
                next.moderation.verdict = Some(verdict);
                next.emit("video.asset.moderation.completed", now, Some(data));
            }
            Change::HeldForReview => {
                if self.status == AssetStatus::InReview {
                    return Ok(None);
                }
                next.move_to(AssetStatus::InReview)?;
                next.emit(AssetStatus::InReview.event_type(), now, None);
            }
            Change::AutoBlocked => {
                if self.status == AssetStatus::Blocked {
                    return Ok(None);
                }
                next.move_to(AssetStatus::Blocked)?;
                next.emit(AssetStatus::Blocked.event_type(), now, None);
            }
            Change::StageSkipped { stage, reason } => {
                if let Some(s) = next.stages.get_mut(&stage) {
                    s.status = StageStatus::Skipped;
                    s.finished_at = Some(now.to_string());
                    s.detail = Some(reason.clone());
                }
                next.emit(
                    "video.asset.stage.skipped",
                    now,
                    Some(serde_json::json!({ "stage": stage, "reason": reason })),
                );
            }
            Change::Ready => {
                if self.status == AssetStatus::Ready {
                    return Ok(None);
                }
                next.move_to(AssetStatus::Ready)?;
                next.emit(AssetStatus::Ready.event_type(), now, None);
            }
            Change::Errored(error) => {
                if self.status == AssetStatus::Errored && self.errors.as_ref() == Some(&error) {
                    return Ok(None);
                }
                next.move_to(AssetStatus::Errored)?;
                for stage in next.stages.values_mut() {
                    if stage.status == StageStatus::Running {
                        stage.status = StageStatus::Failed;
                        stage.finished_at = Some(now.to_string());
                        stage.detail = Some(error.message.clone());
                    }
                }
                let data = serde_json::json!({ "code": error.code, "message": error.message });
                next.errors = Some(error);
                next.emit(AssetStatus::Errored.event_type(), now, Some(data));
            }
            Change::Reviewed(review) => {
                let to = match review.decision {
                    ReviewDecision::Approve | ReviewDecision::Warn => AssetStatus::Ready,
                    ReviewDecision::Block => AssetStatus::Blocked,
                };
                if !matches!(
                    self.status,
                    AssetStatus::Ready | AssetStatus::Blocked | AssetStatus::InReview
                ) {
                    return Err(TransitionError::Status {
                        from: self.status,
                        to,
                    });
                }
                let mut data = serde_json::json!({
                    "decision": review.decision,
                    "reason": review.reason,
                    "by": review.by,
                });
                if !review.flags.is_empty() {
                    data["flags"] = serde_json::json!(review.flags);
                }
                next.moderation.reviews.push(review);
                let over = next
                    .moderation
                    .reviews
                    .len()
                    .saturating_sub(REVIEWS_ON_RECORD);
                next.moderation.reviews.drain(..over);
                next.emit(REVIEWED_EVENT, now, Some(data));
                if self.status != to {
                    next.status = to;
                    next.emit(to.event_type(), now, None);
                }
            }
            Change::PlaybackAdded(p) => {
                if self.playback_ids.iter().any(|q| q.id == p.id) {
                    return Ok(None);
                }
                if self.playback_ids.len() >= MAX_PLAYBACK_IDS {
                    return Err(TransitionError::TooManyPlaybackIds);
                }
                let data = serde_json::json!({ "playback_id": p.id, "policy": p.policy });
                next.playback_ids.push(p);
                next.emit("video.asset.playback_id.created", now, Some(data));
            }
            Change::PlaybackRemoved(id) => {
                if !self.playback_ids.iter().any(|q| q.id == id) {
                    return Ok(None);
                }
                next.playback_ids.retain(|q| q.id != id);
                next.emit(
                    "video.asset.playback_id.deleted",
                    now,
                    Some(serde_json::json!({ "playback_id": id })),
                );
            }
            Change::Retried { job_id } => {
                let has_source = self.source.is_some();
                let upload_failed = self.errors.as_ref().is_some_and(|e| {
                    matches!(
                        e.code,
                        AssetErrorCode::ErrUploadCancelled
                            | AssetErrorCode::ErrUploadTimedOut
                            | AssetErrorCode::ErrEmptyUpload
                            | AssetErrorCode::ErrUploadSizeMismatch
                    )
                });
                if self.status != AssetStatus::Errored || !has_source || upload_failed {
                    return Err(TransitionError::Status {
                        from: self.status,
                        to: AssetStatus::Uploaded,
                    });
                }
                next.status = AssetStatus::Uploaded;
                next.errors = None;
                next.emit(
                    "video.asset.retried",
                    now,
                    Some(serde_json::json!({ "job_id": job_id })),
                );
            }
            Change::Note { kind, data } => {
                next.emit(&kind, now, Some(data));
            }
        }
        Ok(Some(next))
    }

    fn move_to(&mut self, to: AssetStatus) -> Result<(), TransitionError> {
        if !self.status.may_become(to) {
            return Err(TransitionError::Status {
                from: self.status,
                to,
            });
        }
        self.status = to;
        Ok(())
    }

    fn emit(&mut self, kind: &str, now: &str, data: Option<serde_json::Value>) {
        self.event_seq += 1;
        let mut data = data.unwrap_or_else(|| serde_json::json!({}));
        if let Some(obj) = data.as_object_mut() {
            obj.entry("status")
                .or_insert(serde_json::json!(self.status));
        }
        self.events.push(Event {
            id: format!("{}.{}", self.id, self.event_seq),
            seq: self.event_seq,
            kind: kind.to_string(),
            asset_id: self.id.clone(),
            created_at: now.to_string(),
            data,
        });
        if self.events.len() > EVENT_HISTORY {
            let extra = self.events.len() - EVENT_HISTORY;
            self.events.drain(..extra);
        }
    }

    /// Events after sequence number `seq` (all of them for 0).
    pub fn events_after(&self, seq: u64) -> impl Iterator<Item = &Event> {
        self.events.iter().filter(move |e| e.seq > seq)
    }

    /// Events `after` (the previous state) does not have: what a write of `self` emitted.
    pub fn new_events_since<'a>(&'a self, before: &Asset) -> impl Iterator<Item = &'a Event> {
        self.events_after(before.event_seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::moderation::Decision;

    const T: &str = "2026-11-28T00:00:00Z";

    fn asset() -> Asset {
        Asset::new(
            AssetId::parse("a1").unwrap(),
            None,
            None,
            BTreeMap::new(),
            T,
        )
    }

    fn source() -> SourceInfo {
        SourceInfo {
            size: 10,
            version: "v1".into(),
        }
    }

    fn step(a: &Asset, c: Change) -> Asset {
        a.apply(c, T).unwrap().unwrap()
    }

    #[test]
    fn the_happy_path_emits_one_event_per_step_in_order() {
        let a = asset();
        let a = step(&a, Change::Uploaded(source()));
        let a = step(&a, Change::Validating);
        let a = step(&a, Change::Validated { duration: 4.0 });
        let a = step(&a, Change::Progress(50));
        let a = step(
            &a,
            Change::Transcoded {
                run: "r".into(),
                renditions: vec![RenditionInfo {
                    name: "360p".into(),
                    width: 640,
                    height: 360,
                    peak_bit_rate: 1,
                }],
                duration: 4.0,
            },
        );
        let a = step(
            &a,
            Change::StageSkipped {
                stage: CAPTIONS_STAGE.into(),
                reason: "off".into(),
            },
        );
        let a = step(&a, Change::StageStarted(MODERATION_STAGE));
        assert_eq!(a.stages[MODERATION_STAGE].status, StageStatus::Running);
        let a = step(&a, Change::Moderated(verdict(Decision::Passed)));
        let a = step(&a, Change::Ready);
        let kinds: Vec<&str> = a.events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "video.asset.created",
                "video.asset.uploaded",
                "video.asset.validating",
                "video.asset.transcoding",
                "video.asset.progress",
                "video.asset.track.ready",
                "video.asset.analyzing",
                "video.asset.stage.skipped",
                "video.asset.moderation.completed",
                "video.asset.ready"
            ]
        );
        let seqs: Vec<u64> = a.events.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, (1..=10).collect::<Vec<_>>());
        assert_eq!(a.status, AssetStatus::Ready);
        assert_eq!(a.progress, 100);
        assert_eq!(a.stages[CAPTIONS_STAGE].status, StageStatus::Skipped);
        assert_eq!(a.stages[MODERATION_STAGE].status, StageStatus::Completed);
        assert_eq!(
            a.moderation.verdict.as_ref().map(|v| v.decision),
            Some(Decision::Passed)
        );
    }

    fn verdict(decision: Decision) -> Verdict {
        Verdict {
            decision,
            warnings: vec![],
            backend: "offline".into(),
            policy_version: "p1".into(),
            reasons: vec![],
            labels: vec![],
            label_count: 0,
            at: T.into(),
        }
    }

    fn analyzing() -> Asset {
        let a = step(&asset(), Change::Uploaded(source()));
        let a = step(&a, Change::Validating);
        let a = step(&a, Change::Validated { duration: 4.0 });
        step(
            &a,
            Change::Transcoded {
                run: "r".into(),
                renditions: vec![],
                duration: 4.0,
            },
        )
    }

    #[test]
    fn verdicts_hold_or_block_and_only_a_person_moves_on_from_review() {
        let held = step(&analyzing(), Change::HeldForReview);
        assert_eq!(held.status, AssetStatus::InReview);
        assert!(held.status.is_final());
        assert_eq!(
            held.apply(Change::HeldForReview, T).unwrap(),
            None,
            "a repeat"
        );
        assert!(
            held.apply(Change::Ready, T).is_err(),
            "the pipeline cannot publish it"
        );
        let review = Review {
            decision: ReviewDecision::Approve,
            flags: vec![],
            reason: "fine".into(),
            by: "k".into(),
            at: T.into(),
        };
        let approved = step(&held, Change::Reviewed(review));
        assert_eq!(approved.status, AssetStatus::Ready);

        let blocked = step(&analyzing(), Change::AutoBlocked);
        assert_eq!(blocked.status, AssetStatus::Blocked);
        assert_eq!(blocked.events.last().unwrap().kind, "video.asset.blocked");
        assert!(step(&asset(), Change::Uploaded(source()))
            .apply(Change::AutoBlocked, T)
            .is_err());
    }

    #[test]
    fn captions_are_listed_once_per_language_with_their_source() {
        let a = analyzing();
        let a = step(
            &a,
            Change::Captioned {
                language: "en".into(),
                source: CaptionSource::Generated,
            },
        );
        assert_eq!(a.stages[CAPTIONS_STAGE].status, StageStatus::Completed);
        let a = step(
            &a,
            Change::Captioned {
                language: "en".into(),
                source: CaptionSource::Uploaded,
            },
        );
        assert_eq!(
            a.captions,
            [CaptionInfo {
                language: "en".into(),
                source: CaptionSource::Uploaded
            }]
        );
        let a = step(&a, Change::CaptionsRemoved("en".into()));
        assert!(a.captions.is_empty());
        assert_eq!(
            a.events.last().unwrap().kind,
            "video.asset.captions.deleted"
        );
    }

    #[test]
    fn repeats_are_no_ops_and_wrong_moves_are_refused() {
        let a = step(&asset(), Change::Uploaded(source()));
        assert_eq!(a.apply(Change::Uploaded(source()), T), Ok(None));
        assert_eq!(
            a.apply(Change::Ready, T),
            Err(TransitionError::Status {
                from: AssetStatus::Uploaded,
                to: AssetStatus::Ready
            })
        );
        let a = step(&a, Change::Validating);
        let a = step(&a, Change::Validated { duration: 1.0 });
        let a2 = step(&a, Change::Progress(40));
        assert_eq!(a2.apply(Change::Progress(30), T), Ok(None));
        let error = AssetErrorInfo {
            code: AssetErrorCode::ErrMalformedVideo,
            message: "x".into(),
        };
        let e = step(&a2, Change::Errored(error.clone()));
        assert_eq!(e.stages["transcode"].status, StageStatus::Failed);
        assert_eq!(e.apply(Change::Errored(error), T), Ok(None));
        assert!(e.apply(Change::Ready, T).is_err());
        // A stale job never revives an errored asset; a person's retry does, from `uploaded`.
        assert_eq!(
            e.apply(Change::Validating, T),
            Err(TransitionError::Status {
                from: AssetStatus::Errored,
                to: AssetStatus::Validating
            })
        );
        let retried = step(&e, Change::Retried { job_id: "j".into() });
        assert_eq!(
            (retried.status, retried.errors.clone()),
            (AssetStatus::Uploaded, None)
        );
        let again = step(&retried, Change::Validating);
        assert_eq!(again.status, AssetStatus::Validating);
    }

    #[test]
    fn an_upload_that_never_completed_cannot_be_retried() {
        let a = asset();
        let cancelled = step(
            &a,
            Change::Errored(AssetErrorInfo {
                code: AssetErrorCode::ErrUploadCancelled,
                message: "x".into(),
            }),
        );
        assert!(cancelled
            .apply(Change::Retried { job_id: "j".into() }, T)
            .is_err());
    }

    #[test]
    fn final_states_stay_final() {
        use AssetStatus::*;
        for from in [Ready, Blocked] {
            for to in [
                WaitingUpload,
                Uploaded,
                Validating,
                Transcoding,
                Analyzing,
                Errored,
            ] {
                assert!(!from.may_become(to), "{from:?} -> {to:?}");
            }
        }
    }

    #[test]
    fn reviews_move_between_ready_and_blocked_with_an_audit_trail() {
        let review = |decision| Review {
            decision,
            flags: vec![],
            reason: "r".into(),
            by: "k".into(),
            at: T.into(),
        };
        let mut a = asset();
        assert!(a
            .apply(Change::Reviewed(review(ReviewDecision::Block)), T)
            .is_err());
        a.status = AssetStatus::Ready;
        let blocked = step(&a, Change::Reviewed(review(ReviewDecision::Block)));
        assert_eq!(blocked.status, AssetStatus::Blocked);
        let kinds: Vec<&str> = blocked
            .events
            .iter()
            .rev()
            .take(2)
            .map(|e| e.kind.as_str())
            .collect();
        assert_eq!(
            kinds,
            ["video.asset.blocked", "video.asset.moderation.reviewed"]
        );
        let again = step(&blocked, Change::Reviewed(review(ReviewDecision::Approve)));
        assert_eq!(again.status, AssetStatus::Ready);
        assert_eq!(again.moderation.reviews.len(), 2);
        let event = again.events.last().unwrap();
        assert_eq!(
            Review::of_event(
                again
                    .events
                    .iter()
                    .rev()
                    .find(|e| e.kind == REVIEWED_EVENT)
                    .unwrap()
            ),
            Some(Review {
                at: event.created_at.clone(),
                ..review(ReviewDecision::Approve)
            })
        );
    }

    #[test]
    fn the_record_keeps_the_newest_reviews_and_a_bounded_number_of_playback_ids() {
        let mut a = asset();
        a.status = AssetStatus::Ready;
        for i in 0..REVIEWS_ON_RECORD + 5 {
            let review = Review {
                decision: ReviewDecision::Approve,
                flags: vec![],
                reason: format!("review {i}"),
                by: "k".into(),
                at: T.into(),
            };
            a = step(&a, Change::Reviewed(review));
        }
        let reasons: Vec<&str> = a
            .moderation
            .reviews
            .iter()
            .map(|r| r.reason.as_str())
            .collect();
        assert_eq!(reasons.len(), REVIEWS_ON_RECORD);
        assert_eq!(reasons[0], "review 5");
        assert_eq!(reasons.last(), Some(&"review 14"));
        while a.playback_ids.len() < MAX_PLAYBACK_IDS {
            let p = PlaybackIdInfo {
                id: PlaybackId::generate(),
                policy: PlaybackPolicy::Public,
            };
            a = step(&a, Change::PlaybackAdded(p));
        }
        let one_more = PlaybackIdInfo {
            id: PlaybackId::generate(),
            policy: PlaybackPolicy::Public,
        };
        assert_eq!(
            a.apply(Change::PlaybackAdded(one_more), T),
            Err(TransitionError::TooManyPlaybackIds)
        );
    }

    #[test]
    fn history_is_bounded() {
        let mut a = asset();
        for i in 0..(EVENT_HISTORY + 20) {
            a = step(
                &a,
                Change::Note {
                    kind: "x".into(),
                    data: serde_json::json!({ "i": i }),
                },
            );
        }
        assert_eq!(a.events.len(), EVENT_HISTORY);
        assert_eq!(a.events.last().unwrap().seq, a.event_seq);
        assert_eq!(a.events_after(a.event_seq - 3).count(), 3);
    }
}
