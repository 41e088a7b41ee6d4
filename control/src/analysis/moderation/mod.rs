//! Moderation: a [`Moderator`] backend finds labels (category, confidence, time) in a video;
//! the policy ([`crate::domain::moderation`]) decides from them whether it is published,
//! held for review or blocked.
//! Backends: `offline` (the open_nsfw classifier on sampled frames, [`nsfw`]), `aws`
//! (Rekognition content moderation, [`aws`]), `off`.

#[cfg(feature = "aws")]
pub mod aws;
#[cfg(feature = "nsfw")]
pub mod nsfw;
pub mod sampling;

use async_trait::async_trait;

use super::{AnalysisError, MediaInputs};
use crate::domain::moderation::Findings;

/// A moderation backend.
#[async_trait]
pub trait Moderator: Send + Sync {
    /// Its name, recorded on verdicts.
    fn backend(&self) -> &'static str;
    /// Every label at or above the backend's reporting floor, in the video `input` describes
    /// (and whether they cover all of it).
    async fn moderate(&self, input: &MediaInputs<'_>) -> Result<Findings, AnalysisError>;
}
