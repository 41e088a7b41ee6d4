//! The moderation policy: what a backend's labels mean for a video. Labels (category,
//! confidence, time) and whether they cover the whole video come in; a [`Verdict`] —
//! published, held for review or blocked, with its reasons — comes out. Pure: the backends
//! that find labels are in `crate::analysis::moderation`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::warnings::{ContentFlag, Flags};

/// Labels kept on an asset at most (the most confident first): a long video sampled every
/// two seconds would otherwise grow its record without bound.
pub const MAX_LABELS: usize = 500;

/// One thing a moderation backend saw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Label {
    /// Category (`Explicit`, `Violence`, … — Rekognition's taxonomy; the offline
    /// classifier reports `Explicit`).
    pub category: String,
    /// The category's parent in the taxonomy, when the backend has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// Confidence, 0–100.
    pub confidence: f32,
    /// Where in the video, in seconds.
    pub time_secs: f64,
}

/// What a moderation backend found: its labels, and whether they cover the whole video.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Findings {
    /// Every label at or above the backend's reporting floor that it reported.
    pub labels: Vec<Label>,
    /// Why the labels may not cover the whole video (a page or frame cap was hit). The
    /// policy then never passes the video: what was not looked at may be what matters.
    pub incomplete: Option<String>,
}

impl Findings {
    /// Findings that cover the whole video.
    pub fn complete(labels: Vec<Label>) -> Findings {
        Findings {
            labels,
            incomplete: None,
        }
    }
}

/// What a policy rule does when it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RuleAction {
    /// Publish behind a content warning: the labels' flags go on the video, and each
    /// viewer's policy decides whether it is hidden, blurred, warned about or shown.
    Warn,
    /// Hold the video unpublished until a person decides.
    Review,
    /// Do not publish: the edge answers 451.
    Block,
}

/// One rule of the policy: labels of `category` (or whose parent is `category`) at or above
/// `min_confidence` trigger `action` (a `warn` rule sets `flag`, by default the category's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Category or parent category, compared without regard to case.
    pub category: String,
    /// Threshold, 0–100.
    pub min_confidence: f32,
    /// What happens.
    pub action: RuleAction,
    /// The content flag a `warn` rule sets; without it, the flag the category stands for
    /// ([`ContentFlag::of_category`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flag: Option<ContentFlag>,
}

impl Rule {
    /// The flag this rule sets when it warns.
    pub fn warning_flag(&self) -> Option<ContentFlag> {
        self.flag
            .or_else(|| ContentFlag::of_category(&self.category))
    }
}

/// The moderation policy (config `moderation.policy`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// Recorded with every verdict, so a decision can be traced to the rules that made it.
    pub version: String,
    /// The rules; the strictest matching action wins.
    pub rules: Vec<Rule>,
}

impl Default for Policy {
    /// The seed's rule: explicit content at ≥ 95 % confidence blocks (Rekognition's current
    /// top-level name and its older one).
    fn default() -> Self {
        let block = |category: &str| Rule {
            category: category.into(),
            min_confidence: 95.0,
            action: RuleAction::Block,
            flag: None,
        };
        Policy {
            version: "default-1".into(),
            rules: vec![block("Explicit"), block("Explicit Nudity")],
        }
    }
}

/// The gate's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Published.
    Passed,
    /// Published behind a content warning (the verdict's `warnings`).
    Warned,
    /// Held unpublished for a person to decide.
    Review,
    /// Not published.
    Blocked,
}

/// The automatic verdict, as stored on the asset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Verdict {
    /// What the policy decided.
    pub decision: Decision,
    /// The backend that produced the labels (`offline`, `aws`).
    pub backend: String,
    /// The policy version that decided.
    pub policy_version: String,
    /// Why: the rules that matched, with the strongest label of each.
    pub reasons: Vec<String>,
    /// The content flags `warn` rules set (with any decision: a video a person later
    /// approves keeps them unless that person decides otherwise).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<ContentFlag>,
    /// Every label found (at most [`MAX_LABELS`], the most confident).
    pub labels: Vec<Label>,
    /// How many labels the backend reported in all.
    pub label_count: usize,
    /// When (RFC 3339).
    pub at: String,
}

impl Policy {
    /// Checks thresholds are percentages.
    pub fn validate(&self) -> Result<(), String> {
        for r in &self.rules {
            if !(0.0..=100.0).contains(&r.min_confidence) || r.category.trim().is_empty() {
                return Err(format!(
                    "moderation.policy rule {:?}: need a category and 0 <= min_confidence <= 100",
                    r.category
                ));
            }
            if r.action == RuleAction::Warn && r.warning_flag().is_none() {
                return Err(format!(
                    "moderation.policy rule {:?}: a warn rule on a category no flag covers needs `flag` (sex, violence, shocking or drugs)",
                    r.category
                ));
            }
        }
        Ok(())
    }

    /// Decides on `labels`: the strictest action of the rules some label triggers, why, and
    /// the flags the `warn` rules among them set.
    pub fn decide(&self, labels: &[Label]) -> (Decision, Vec<String>, Flags) {
        let mut action: Option<RuleAction> = None;
        let mut reasons = Vec::new();
        let mut warnings = Flags::NONE;
        for rule in &self.rules {
            let matches = |l: &&Label| {
                l.confidence >= rule.min_confidence
                    && (l.category.eq_ignore_ascii_case(&rule.category)
                        || l.parent
                            .as_deref()
                            .is_some_and(|p| p.eq_ignore_ascii_case(&rule.category)))
            };
            let Some(strongest) = labels
                .iter()
                .filter(matches)
                .max_by(|a, b| a.confidence.total_cmp(&b.confidence))
            else {
                continue;
            };
            action = action.max(Some(rule.action));
            if rule.action == RuleAction::Warn {
                warnings = warnings.union(rule.warning_flag().into_iter().collect());
            }
            reasons.push(format!(
                "{} {:.1}% at {:.1}s >= {:.1}% ({:?})",
                strongest.category,
                strongest.confidence,
                strongest.time_secs,
                rule.min_confidence,
                rule.action
            ));
        }
        let decision = match action {
            None => Decision::Passed,
            Some(RuleAction::Warn) => Decision::Warned,
            Some(RuleAction::Review) => Decision::Review,
            Some(RuleAction::Block) => Decision::Blocked,
        };
        (decision, reasons, warnings)
    }

    /// The verdict on `findings` by `backend` at `now`, labels trimmed to [`MAX_LABELS`].
    /// Findings that do not cover the whole video fail closed: at least `review`.
    pub fn verdict(&self, backend: &str, findings: Findings, now: &str) -> Verdict {
        let Findings {
            mut labels,
            incomplete,
        } = findings;
        let (mut decision, mut reasons, warnings) = self.decide(&labels);
        if let Some(why) = incomplete {
            if matches!(decision, Decision::Passed | Decision::Warned) {
                decision = Decision::Review;
            }
            reasons.push(format!("the labels may be incomplete: {why}"));
        }
        let label_count = labels.len();
        labels.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
        labels.truncate(MAX_LABELS);
        labels.sort_by(|a, b| a.time_secs.total_cmp(&b.time_secs));
        Verdict {
            decision,
            backend: backend.into(),
            policy_version: self.version.clone(),
            reasons,
            warnings: warnings.to_vec(),
            labels,
            label_count,
            at: now.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Policy {
        fn decide0(&self, labels: &[Label]) -> (Decision, Vec<String>) {
            let (d, r, _) = self.decide(labels);
            (d, r)
        }
    }

    fn label(category: &str, parent: Option<&str>, confidence: f32) -> Label {
        Label {
            category: category.into(),
            parent: parent.map(Into::into),
            confidence,
            time_secs: 1.0,
        }
    }

    #[test]
    fn the_default_policy_blocks_explicit_content_at_95_percent() {
        let p = Policy::default();
        assert_eq!(p.decide0(&[]).0, Decision::Passed);
        assert_eq!(
            p.decide0(&[label("Explicit", None, 94.9)]).0,
            Decision::Passed
        );
        assert_eq!(
            p.decide0(&[label("Explicit", None, 95.0)]).0,
            Decision::Blocked
        );
        // A child label counts for its parent's rule.
        let child = label("Exposed Male Genitalia", Some("Explicit Nudity"), 99.0);
        let (d, reasons) = p.decide0(&[child]);
        assert_eq!(d, Decision::Blocked);
        assert!(
            reasons[0].contains("Exposed Male Genitalia 99.0%"),
            "{reasons:?}"
        );
        assert_eq!(
            p.decide0(&[label("Violence", None, 99.0)]).0,
            Decision::Passed
        );
    }

    #[test]
    fn the_strictest_matching_action_wins() {
        let p = Policy {
            version: "t".into(),
            rules: vec![
                Rule {
                    category: "violence".into(),
                    min_confidence: 80.0,
                    action: RuleAction::Review,
                    flag: None,
                },
                Rule {
                    category: "Explicit".into(),
                    min_confidence: 90.0,
                    action: RuleAction::Block,
                    flag: None,
                },
            ],
        };
        assert_eq!(
            p.decide0(&[label("Violence", None, 85.0)]).0,
            Decision::Review
        );
        let both = [label("Violence", None, 85.0), label("Explicit", None, 91.0)];
        let (d, reasons) = p.decide0(&both);
        assert_eq!(d, Decision::Blocked);
        assert_eq!(reasons.len(), 2);
    }

    #[test]
    fn verdicts_keep_the_most_confident_labels_in_time_order() {
        let labels: Vec<Label> = (0..MAX_LABELS + 10)
            .map(|i| Label {
                category: "Explicit".into(),
                parent: None,
                confidence: (i % 100) as f32,
                time_secs: i as f64,
            })
            .collect();
        let v = Policy::default().verdict("offline", Findings::complete(labels), "now");
        assert_eq!(v.label_count, MAX_LABELS + 10);
        assert_eq!(v.labels.len(), MAX_LABELS);
        assert!(v
            .labels
            .windows(2)
            .all(|w| w[0].time_secs <= w[1].time_secs));
        assert_eq!(v.policy_version, "default-1");
        assert_eq!(v.decision, Decision::Blocked);
    }

    #[test]
    fn warn_rules_publish_with_their_flags_and_stricter_rules_still_win() {
        let rule = |category: &str, action, flag| Rule {
            category: category.into(),
            min_confidence: 80.0,
            action,
            flag,
        };
        let p = Policy {
            version: "w".into(),
            rules: vec![
                rule("Violence", RuleAction::Warn, None),
                rule("Gambling", RuleAction::Warn, Some(ContentFlag::Shocking)),
                rule("Explicit", RuleAction::Block, None),
            ],
        };
        assert!(p.validate().is_ok());
        let v = p.verdict(
            "aws",
            Findings::complete(vec![
                label("Violence", None, 85.0),
                label("Gambling", None, 90.0),
            ]),
            "now",
        );
        assert_eq!(v.decision, Decision::Warned);
        assert_eq!(
            v.warnings,
            vec![ContentFlag::Violence, ContentFlag::Shocking]
        );
        let v = p.verdict(
            "aws",
            Findings::complete(vec![
                label("Violence", None, 85.0),
                label("Explicit", None, 99.0),
            ]),
            "now",
        );
        assert_eq!(v.decision, Decision::Blocked);
        assert_eq!(v.warnings, vec![ContentFlag::Violence]);
        // A warning on labels that may be incomplete is not enough.
        let v = p.verdict(
            "aws",
            Findings {
                labels: vec![label("Violence", None, 85.0)],
                incomplete: Some("cut".into()),
            },
            "now",
        );
        assert_eq!(v.decision, Decision::Review);
        // A warn rule must name a flag its category does not stand for.
        let unflagged = Policy {
            version: "x".into(),
            rules: vec![rule("Gambling", RuleAction::Warn, None)],
        };
        assert!(unflagged.validate().is_err());
    }

    #[test]
    fn thresholds_must_be_percentages() {
        let mut p = Policy::default();
        assert!(p.validate().is_ok());
        p.rules[0].min_confidence = 101.0;
        assert!(p.validate().is_err());
    }

    #[test]
    fn incomplete_findings_never_pass() {
        let p = Policy::default();
        let cut = |labels: Vec<Label>| Findings {
            labels,
            incomplete: Some("100 pages read, more left".into()),
        };
        let v = p.verdict("aws", cut(vec![]), "now");
        assert_eq!(v.decision, Decision::Review);
        assert!(v.reasons[0].contains("incomplete"), "{:?}", v.reasons);
        // What already blocks stays blocked.
        let v = p.verdict("aws", cut(vec![label("Explicit", None, 99.0)]), "now");
        assert_eq!(v.decision, Decision::Blocked);
        assert_eq!(
            p.verdict("aws", Findings::complete(vec![]), "now").decision,
            Decision::Passed
        );
    }
}
