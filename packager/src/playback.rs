//! `playback/{playback_id}.json`: what a playback id (the id in edge URLs) stands for. The
//! control plane writes these records; the edge reads them to resolve `/v/{playback_id}/…` to
//! a video. Pure: parsing and validation only.

use serde::{Deserialize, Serialize};

use crate::error::{PackagerError, Result};
use crate::names;

/// Who may play through a playback id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PlaybackPolicy {
    /// Anyone with the URL.
    Public,
    /// Only requests with a valid signed token.
    Signed,
}

/// A playback id's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlaybackRecord {
    /// The playback id.
    pub id: String,
    /// The video it plays (`videos/{video_id}/`).
    pub video_id: String,
    /// Who may play it.
    pub policy: PlaybackPolicy,
    /// The version of the control plane's record this was written from (0: unknown). An edge
    /// told by a purge that the id is at a newer version does not keep an older copy.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub revision: u64,
}

/// What a signed playback token lets its holder do with the playback id in its `sub`: the
/// token's `aud` claim. The control plane mints tokens with these, the edge grants by them;
/// this is the one place the names are spelt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenAudience {
    /// `v`: play the video while it is published (Mux's name for video tokens).
    Play,
    /// `review`: play it whatever its availability — before a moderator's decision, and after
    /// a block — for the people who decide (moderators, an integrator's review tool). The
    /// edge answers such requests `private, no-store`.
    Review,
    /// `t`: thumbnails of the video (Mux's name), nothing else.
    Thumbnail,
    /// `s`: its storyboard (image and index), nothing else.
    Storyboard,
    /// `g`: its animated previews, nothing else.
    Animated,
}

impl TokenAudience {
    /// Every audience, for verifiers that accept any of them.
    pub const ALL: [TokenAudience; 5] = [
        TokenAudience::Play,
        TokenAudience::Review,
        TokenAudience::Thumbnail,
        TokenAudience::Storyboard,
        TokenAudience::Animated,
    ];

    /// The `aud` claim's value.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenAudience::Play => "v",
            TokenAudience::Review => "review",
            TokenAudience::Thumbnail => "t",
            TokenAudience::Storyboard => "s",
            TokenAudience::Animated => "g",
        }
    }

    /// Whether a token for `self` grants a request that needs `needed` (a route's
    /// [`crate::route::Route::audience`]): the same audience, or review, which grants all.
    pub fn grants(self, needed: TokenAudience) -> bool {
        self == needed || self == TokenAudience::Review
    }

    /// The audience an `aud` value names, if any.
    pub fn parse(aud: &str) -> Option<TokenAudience> {
        TokenAudience::ALL.into_iter().find(|a| a.as_str() == aud)
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl PlaybackRecord {
    /// Parses and validates a record: both ids URL-safe.
    pub fn from_json(bytes: &[u8]) -> Result<PlaybackRecord> {
        let r: PlaybackRecord = serde_json::from_slice(bytes)
            .map_err(|e| PackagerError::Manifest(format!("playback record: {e}")))?;
        if !names::is_valid_video_id(&r.id) || !names::is_valid_video_id(&r.video_id) {
            return Err(PackagerError::Manifest(format!(
                "playback record with invalid ids {:?} -> {:?}",
                r.id, r.video_id
            )));
        }
        Ok(r)
    }

    /// Serialises the record.
    pub fn to_json(&self) -> Vec<u8> {
        // Plain strings: serialising cannot fail.
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_bad_ids_are_refused() {
        let r = PlaybackRecord {
            id: "p1".into(),
            video_id: "v1".into(),
            revision: 3,
            policy: PlaybackPolicy::Public,
        };
        assert_eq!(PlaybackRecord::from_json(&r.to_json()).unwrap(), r);
        let bad = br#"{"id":"p1","video_id":"../x","policy":"public"}"#;
        assert!(PlaybackRecord::from_json(bad).is_err());
        let unknown = br#"{"id":"p1","video_id":"v","policy":"open"}"#;
        assert!(PlaybackRecord::from_json(unknown).is_err());
    }

    #[test]
    fn token_audiences_are_named_once_and_parse_back() {
        for a in TokenAudience::ALL {
            assert_eq!(TokenAudience::parse(a.as_str()), Some(a));
        }
        assert_eq!(TokenAudience::Play.as_str(), "v");
        assert_eq!(TokenAudience::parse("t"), Some(TokenAudience::Thumbnail));
        assert_eq!(TokenAudience::parse("x"), None);
        assert_eq!(TokenAudience::parse(""), None);
        assert!(TokenAudience::Review.grants(TokenAudience::Animated));
        assert!(TokenAudience::Thumbnail.grants(TokenAudience::Thumbnail));
        assert!(!TokenAudience::Thumbnail.grants(TokenAudience::Play));
        assert!(!TokenAudience::Play.grants(TokenAudience::Storyboard));
    }
}
