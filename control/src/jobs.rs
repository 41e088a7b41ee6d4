//! Jobs: what a worker is asked to do. Built and parsed here only; the queue carries them as
//! JSON.

use std::fmt;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::ids::{AssetId, JobId};

/// Kinds of jobs, one stream (and consumer group) each.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// Validate, transcode, analyse and publish one asset.
    Transcode,
    /// Deliver one webhook message to one endpoint.
    Webhook,
}

impl JobKind {
    /// Every kind.
    pub const ALL: [JobKind; 2] = [JobKind::Transcode, JobKind::Webhook];

    /// The kind's name (`transcode`).
    pub fn name(self) -> &'static str {
        match self {
            JobKind::Transcode => "transcode",
            JobKind::Webhook => "webhook",
        }
    }

    /// Parses a kind's name.
    pub fn parse(name: &str) -> Option<JobKind> {
        JobKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl fmt::Display for JobKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Job {
    /// The job id (stable across retries).
    #[schema(value_type = String)]
    pub id: JobId,
    /// What to do.
    pub kind: JobKind,
    /// The asset it is about.
    #[schema(value_type = Option<String>)]
    pub asset_id: Option<AssetId>,
    /// The asset's source version the job was made for: a transcode is idempotent per
    /// (asset, source version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_version: Option<String>,
    /// Kind-specific input (a webhook's endpoint and message).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    /// Attempts already made before the one this copy was queued for.
    #[serde(default)]
    pub attempts_before: u32,
}

impl Job {
    /// A new job of `kind`.
    pub fn new(kind: JobKind, asset_id: Option<AssetId>) -> Job {
        Job {
            id: JobId::generate(),
            kind,
            asset_id,
            source_version: None,
            payload: serde_json::Value::Null,
            attempts_before: 0,
        }
    }

    /// As JSON for a queue entry.
    pub fn to_json(&self) -> String {
        // Plain strings and numbers: serialising cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses a queue entry's JSON.
    pub fn from_json(text: &str) -> Result<Job, serde_json::Error> {
        serde_json::from_str(text)
    }
}

/// Exponential backoff before attempt `attempt + 1` (attempt ≥ 1): `base × 2^(attempt-1)`,
/// capped at `max`.
pub fn backoff(
    attempt: u32,
    base: std::time::Duration,
    max: std::time::Duration,
) -> std::time::Duration {
    let factor = 1u32
        .checked_shl(attempt.saturating_sub(1).min(30))
        .unwrap_or(u32::MAX);
    base.saturating_mul(factor).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let s = Duration::from_secs;
        assert_eq!(backoff(1, s(2), s(60)), s(2));
        assert_eq!(backoff(2, s(2), s(60)), s(4));
        assert_eq!(backoff(4, s(2), s(60)), s(16));
        assert_eq!(backoff(10, s(2), s(60)), s(60));
        assert_eq!(backoff(99, s(2), s(60)), s(60));
    }

    #[test]
    fn jobs_round_trip() {
        let mut j = Job::new(JobKind::Transcode, Some(AssetId::generate()));
        j.source_version = Some("e".into());
        assert_eq!(Job::from_json(&j.to_json()).unwrap(), j);
        assert_eq!(JobKind::parse("webhook"), Some(JobKind::Webhook));
        assert_eq!(JobKind::parse("nope"), None);
    }
}
