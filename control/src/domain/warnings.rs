//! Content warnings, PeerTube's way: the flags a video may carry (set by the moderation
//! policy, by a moderator, or by its uploader with a summary), and what each viewer does
//! about each flag — hide the video from lists, warn before playing, blur its picture and
//! warn, or show it. Guests get the instance's policy. Pure.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What a video may contain that some viewers want to be told about.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ContentFlag {
    /// Nudity and sexual content.
    Sex,
    /// Violence.
    Violence,
    /// Disturbing or shocking pictures, hate symbols, rude gestures.
    Shocking,
    /// Drugs, tobacco, alcohol.
    Drugs,
}

impl ContentFlag {
    /// Every flag, in order.
    pub const ALL: [ContentFlag; 4] = [
        ContentFlag::Sex,
        ContentFlag::Violence,
        ContentFlag::Shocking,
        ContentFlag::Drugs,
    ];

    /// Its name, as stored and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            ContentFlag::Sex => "sex",
            ContentFlag::Violence => "violence",
            ContentFlag::Shocking => "shocking",
            ContentFlag::Drugs => "drugs",
        }
    }

    /// The flag named `name`.
    pub fn parse(name: &str) -> Option<ContentFlag> {
        ContentFlag::ALL.into_iter().find(|f| f.as_str() == name)
    }

    /// How a page names it ("This video may contain sensitive content related to: …").
    pub fn label(self) -> &'static str {
        match self {
            ContentFlag::Sex => "nudity or sexual content",
            ContentFlag::Violence => "violence",
            ContentFlag::Shocking => "shocking or disturbing content",
            ContentFlag::Drugs => "drugs, tobacco or alcohol",
        }
    }

    /// The flag a moderation label's category (or its parent) stands for, in Rekognition's
    /// taxonomy (its current top-level names and the older ones); `None` for categories no
    /// flag covers (a policy rule then names its flag itself).
    pub fn of_category(category: &str) -> Option<ContentFlag> {
        let c = category.to_ascii_lowercase();
        let flag = match c.as_str() {
            "explicit"
            | "explicit nudity"
            | "nudity"
            | "non-explicit nudity of intimate parts and kissing"
            | "suggestive"
            | "swimwear or underwear"
            | "sexual activity" => ContentFlag::Sex,
            "violence" | "graphic violence" | "weapon violence" | "physical violence" => {
                ContentFlag::Violence
            }
            "visually disturbing" | "hate symbols" | "rude gestures" => ContentFlag::Shocking,
            "drugs & tobacco" | "drugs" | "tobacco" | "alcohol" => ContentFlag::Drugs,
            _ => return None,
        };
        Some(flag)
    }

    fn bit(self) -> i64 {
        1 << (self as u32)
    }
}

/// A set of flags; stored as a bit mask (bit `n` is [`ContentFlag::ALL`]`[n]`), which is what
/// lists filter on in SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Flags(i64);

impl Flags {
    /// No flag.
    pub const NONE: Flags = Flags(0);

    /// The mask as stored.
    pub fn bits(self) -> i64 {
        self.0
    }

    /// The set a stored mask holds (unknown bits are dropped).
    pub fn from_bits(bits: i64) -> Flags {
        Flags(bits & ContentFlag::ALL.iter().fold(0, |m, f| m | f.bit()))
    }

    /// Whether `flag` is in the set.
    pub fn contains(self, flag: ContentFlag) -> bool {
        self.0 & flag.bit() != 0
    }

    /// Both sets together.
    pub fn union(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The flags in order.
    pub fn to_vec(self) -> Vec<ContentFlag> {
        ContentFlag::ALL
            .into_iter()
            .filter(|f| self.contains(*f))
            .collect()
    }
}

impl FromIterator<ContentFlag> for Flags {
    fn from_iter<I: IntoIterator<Item = ContentFlag>>(iter: I) -> Flags {
        Flags(iter.into_iter().fold(0, |m, f| m | f.bit()))
    }
}

/// What a viewer does about a flag, from the least to the most careful.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum WarningAction {
    /// Play it like any other video.
    Show,
    /// List it with a note; the watch page asks before playing.
    #[default]
    Warn,
    /// List it with its picture blurred; the watch page asks before playing.
    Blur,
    /// Leave it out of lists, feeds and search (a link still opens it, behind the warning).
    Hide,
}

impl WarningAction {
    /// Its name, as stored and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            WarningAction::Show => "show",
            WarningAction::Warn => "warn",
            WarningAction::Blur => "blur",
            WarningAction::Hide => "hide",
        }
    }

    /// The action named `name`.
    pub fn parse(name: &str) -> Option<WarningAction> {
        [
            WarningAction::Show,
            WarningAction::Warn,
            WarningAction::Blur,
            WarningAction::Hide,
        ]
        .into_iter()
        .find(|a| a.as_str() == name)
    }
}

/// A viewer's content-warning policy: one action for every flag, and overrides per flag.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContentPolicy {
    /// What to do about a flag without an override.
    #[serde(default)]
    pub default: WarningAction,
    /// Per-flag overrides.
    #[serde(default)]
    pub flags: BTreeMap<ContentFlag, WarningAction>,
}

impl ContentPolicy {
    /// What to do about `flag`.
    pub fn action(&self, flag: ContentFlag) -> WarningAction {
        self.flags.get(&flag).copied().unwrap_or(self.default)
    }

    /// What to do about a video flagged `flags`: the most careful of its flags' actions, and
    /// `show` for a video without flags.
    pub fn action_for(&self, flags: Flags) -> WarningAction {
        flags
            .to_vec()
            .into_iter()
            .map(|f| self.action(f))
            .max()
            .unwrap_or(WarningAction::Show)
    }

    /// The flags whose videos lists leave out.
    pub fn hidden(&self) -> Flags {
        ContentFlag::ALL
            .into_iter()
            .filter(|f| self.action(*f) == WarningAction::Hide)
            .collect()
    }
}

/// Longest uploader's summary of what a flagged video contains, in characters.
pub const MAX_SUMMARY: usize = 500;

/// A summary as stored: trimmed, at most 500 characters, without control characters.
pub fn check_summary(text: &str) -> Option<String> {
    let t = text.trim();
    (t.chars().count() <= MAX_SUMMARY && !t.chars().any(char::is_control)).then(|| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_round_trip_through_their_mask() {
        let set: Flags = [ContentFlag::Violence, ContentFlag::Drugs]
            .into_iter()
            .collect();
        assert_eq!(Flags::from_bits(set.bits()), set);
        assert_eq!(
            set.to_vec(),
            vec![ContentFlag::Violence, ContentFlag::Drugs]
        );
        assert!(Flags::from_bits(1 << 40).is_empty(), "unknown bits dropped");
        for f in ContentFlag::ALL {
            assert_eq!(ContentFlag::parse(f.as_str()), Some(f));
        }
    }

    #[test]
    fn the_most_careful_action_of_a_videos_flags_wins() {
        let policy = ContentPolicy {
            default: WarningAction::Warn,
            flags: [
                (ContentFlag::Violence, WarningAction::Hide),
                (ContentFlag::Drugs, WarningAction::Show),
            ]
            .into(),
        };
        let of = |flags: &[ContentFlag]| policy.action_for(flags.iter().copied().collect());
        assert_eq!(of(&[]), WarningAction::Show);
        assert_eq!(of(&[ContentFlag::Drugs]), WarningAction::Show);
        assert_eq!(of(&[ContentFlag::Sex]), WarningAction::Warn);
        assert_eq!(
            of(&[ContentFlag::Drugs, ContentFlag::Violence]),
            WarningAction::Hide
        );
        assert_eq!(policy.hidden().to_vec(), vec![ContentFlag::Violence]);
        assert!(ContentPolicy::default().hidden().is_empty());
    }

    #[test]
    fn rekognition_categories_name_their_flags() {
        assert_eq!(ContentFlag::of_category("Explicit"), Some(ContentFlag::Sex));
        assert_eq!(
            ContentFlag::of_category("Visually Disturbing"),
            Some(ContentFlag::Shocking)
        );
        assert_eq!(
            ContentFlag::of_category("Drugs & Tobacco"),
            Some(ContentFlag::Drugs)
        );
        assert_eq!(ContentFlag::of_category("Gambling"), None);
    }

    #[test]
    fn summaries_are_short_plain_text() {
        assert_eq!(check_summary("  blood  ").as_deref(), Some("blood"));
        assert!(check_summary(&"x".repeat(MAX_SUMMARY + 1)).is_none());
        assert!(check_summary("a\u{7}b").is_none());
    }
}
