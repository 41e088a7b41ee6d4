//! Reports and the moderation queue's decisions: why someone reports a video and where in it,
//! what a moderator decides about a reported or held video, and the audit entry every
//! decision leaves. Reports do not act by themselves (no count of reports hides a video):
//! people decide. Pure.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::warnings::ContentFlag;

/// Why a video is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReportReason {
    /// Nudity or sexual content.
    Sexual,
    /// Violent or graphic content.
    Violent,
    /// Hate or harassment.
    Hateful,
    /// Spam, scams or misleading content.
    Spam,
    /// Someone else's work.
    Copyright,
    /// Something else (say what in the details).
    Other,
}

impl ReportReason {
    /// Its name, as stored and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            ReportReason::Sexual => "sexual",
            ReportReason::Violent => "violent",
            ReportReason::Hateful => "hateful",
            ReportReason::Spam => "spam",
            ReportReason::Copyright => "copyright",
            ReportReason::Other => "other",
        }
    }

    /// The reason named `name`.
    pub fn parse(name: &str) -> Option<ReportReason> {
        [
            ReportReason::Sexual,
            ReportReason::Violent,
            ReportReason::Hateful,
            ReportReason::Spam,
            ReportReason::Copyright,
            ReportReason::Other,
        ]
        .into_iter()
        .find(|r| r.as_str() == name)
    }

    /// How a page says it.
    pub fn label(self) -> &'static str {
        match self {
            ReportReason::Sexual => "Nudity or sexual content",
            ReportReason::Violent => "Violent or graphic content",
            ReportReason::Hateful => "Hate or harassment",
            ReportReason::Spam => "Spam or misleading",
            ReportReason::Copyright => "Someone else's work",
            ReportReason::Other => "Something else",
        }
    }
}

/// What a moderator decides about a video in the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum QueueDecision {
    /// Publish it as it is (a held video goes out; reports are closed as unfounded).
    Approve,
    /// Publish it behind a content warning (the decision's flags).
    Warn,
    /// Stop serving it: every edge answers 451.
    Block,
    /// Close its reports without touching the video.
    Dismiss,
}

impl QueueDecision {
    /// Its name, as stored and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            QueueDecision::Approve => "approve",
            QueueDecision::Warn => "warn",
            QueueDecision::Block => "block",
            QueueDecision::Dismiss => "dismiss",
        }
    }

    /// The decision named `name`.
    pub fn parse(name: &str) -> Option<QueueDecision> {
        [
            QueueDecision::Approve,
            QueueDecision::Warn,
            QueueDecision::Block,
            QueueDecision::Dismiss,
        ]
        .into_iter()
        .find(|d| d.as_str() == name)
    }

    /// What a reporter is told their report came to.
    pub fn outcome(self) -> &'static str {
        match self {
            QueueDecision::Approve | QueueDecision::Dismiss => {
                "A moderator looked and left the video as it was."
            }
            QueueDecision::Warn => "A moderator put the video behind a content warning.",
            QueueDecision::Block => "A moderator took the video down.",
        }
    }
}

/// A report as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// `r_…`.
    pub id: String,
    /// The reported video.
    pub video_id: String,
    /// Who reported it.
    pub reporter_id: String,
    /// Why.
    pub reason: ReportReason,
    /// In their words (at most 1,000 characters; may be empty).
    pub details: String,
    /// Where in the video it starts and ends, in ms (whole video: `None`).
    pub range_ms: Option<(u64, u64)>,
    /// When (Unix ms).
    pub created_ms: i64,
    /// What came of it, once decided.
    pub decision: Option<QueueDecision>,
    /// When it was decided (Unix ms).
    pub decided_ms: Option<i64>,
}

/// Longest report details, in characters.
pub const MAX_DETAILS: usize = 1_000;
/// Longest decision reason, in characters.
pub const MAX_REASON: usize = 500;
/// Reports one account may make in an hour.
pub const REPORTS_PER_HOUR: i64 = 20;

/// Why a report or a decision is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportInputError {
    /// Too long, or with control characters other than line breaks.
    #[error("report details are at most 1000 characters")]
    Details,
    /// A range that does not fit the video.
    #[error("a time range starts at or after 0, ends after it starts, and fits in the video")]
    Range,
    /// Empty or too long.
    #[error("a decision's reason is 1 to 500 characters")]
    Reason,
    /// `warn` without flags, or flags without `warn`.
    #[error("a warn decision names the content flags it warns about; no other has flags")]
    Flags,
}

/// Checks a report's details and range against a video `duration_secs` long (unknown:
/// only the order is checked). Returns the details as stored and the range in ms.
pub fn check_report(
    details: &str,
    start_secs: Option<f64>,
    end_secs: Option<f64>,
    duration_secs: Option<f64>,
) -> Result<(String, Option<(u64, u64)>), ReportInputError> {
    let d = details.trim();
    let bad = d
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'));
    if d.chars().count() > MAX_DETAILS || bad {
        return Err(ReportInputError::Details);
    }
    let range = match (start_secs, end_secs) {
        (None, None) => None,
        (Some(s), e) => {
            let e = e.unwrap_or(s);
            let longest = duration_secs.unwrap_or(f64::MAX).max(0.0) + 1.0;
            if !(s.is_finite() && e.is_finite()) || s < 0.0 || e < s || e > longest {
                return Err(ReportInputError::Range);
            }
            Some(((s * 1000.0) as u64, (e * 1000.0) as u64))
        }
        (None, Some(_)) => return Err(ReportInputError::Range),
    };
    Ok((d.to_string(), range))
}

/// Checks a decision: its reason (trimmed, 1–500 characters, one line) and that only `warn`
/// has flags (at least one). Returns the reason and the flags, sorted, without repeats.
pub fn check_decision(
    decision: QueueDecision,
    reason: &str,
    flags: &[ContentFlag],
) -> Result<(String, Vec<ContentFlag>), ReportInputError> {
    let r = reason.trim();
    if r.is_empty() || r.chars().count() > MAX_REASON || r.chars().any(char::is_control) {
        return Err(ReportInputError::Reason);
    }
    let mut flags = flags.to_vec();
    flags.sort();
    flags.dedup();
    if (decision == QueueDecision::Warn) == flags.is_empty() {
        return Err(ReportInputError::Flags);
    }
    Ok((r.to_string(), flags))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_fits_the_video_and_ends_after_it_starts() {
        assert_eq!(
            check_report(" spam ", Some(1.5), Some(3.0), Some(10.0)),
            Ok(("spam".into(), Some((1500, 3000))))
        );
        assert_eq!(
            check_report("", None, None, None),
            Ok((String::new(), None))
        );
        assert_eq!(
            check_report("", Some(2.0), None, Some(10.0)),
            Ok((String::new(), Some((2000, 2000))))
        );
        for (s, e) in [
            (Some(-1.0), Some(2.0)),
            (Some(3.0), Some(2.0)),
            (Some(1.0), Some(60.0)),
            (None, Some(2.0)),
            (Some(f64::NAN), None),
        ] {
            assert_eq!(
                check_report("", s, e, Some(10.0)),
                Err(ReportInputError::Range),
                "{s:?}–{e:?}"
            );
        }
        assert_eq!(
            check_report(&"x".repeat(MAX_DETAILS + 1), None, None, None),
            Err(ReportInputError::Details)
        );
    }

    #[test]
    fn only_a_warning_has_flags_and_every_decision_says_why() {
        assert_eq!(
            check_decision(
                QueueDecision::Warn,
                " gore ",
                &[ContentFlag::Violence, ContentFlag::Violence]
            ),
            Ok(("gore".into(), vec![ContentFlag::Violence]))
        );
        assert_eq!(
            check_decision(QueueDecision::Warn, "x", &[]),
            Err(ReportInputError::Flags)
        );
        assert_eq!(
            check_decision(QueueDecision::Block, "x", &[ContentFlag::Sex]),
            Err(ReportInputError::Flags)
        );
        assert_eq!(
            check_decision(QueueDecision::Block, "  ", &[]),
            Err(ReportInputError::Reason)
        );
        for d in ["approve", "warn", "block", "dismiss"] {
            assert_eq!(QueueDecision::parse(d).map(QueueDecision::as_str), Some(d));
        }
    }
}
