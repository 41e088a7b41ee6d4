//! Videos as the platform shows them: an asset with an owner, a title, a description and a
//! visibility; who may see one. Pure.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::accounts::{Role, User};
use super::warnings::Flags;

/// Who may watch a video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// Everyone; listed on the home page and in search.
    #[default]
    Public,
    /// Whoever has the link; never listed.
    Unlisted,
    /// Only the owner.
    Private,
}

impl Visibility {
    /// Its name, as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Unlisted => "unlisted",
            Visibility::Private => "private",
        }
    }

    /// The visibility named `name`.
    pub fn parse(name: &str) -> Option<Visibility> {
        match name {
            "public" => Some(Visibility::Public),
            "unlisted" => Some(Visibility::Unlisted),
            "private" => Some(Visibility::Private),
            _ => None,
        }
    }
}

/// A video as stored (its media state is its asset's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Video {
    /// The asset it is.
    pub asset_id: String,
    /// Whose (`u_…`).
    pub owner_id: String,
    /// 1–100 characters.
    pub title: String,
    /// At most 5,000 characters.
    pub description: String,
    /// Who may watch.
    pub visibility: Visibility,
    /// When it was made (RFC 3339).
    pub created_at: String,
    /// The content flags its uploader set.
    pub flags: Flags,
    /// The uploader's words on what it contains (at most 500 characters; may be empty).
    pub warning_summary: String,
}

impl Video {
    /// Whether `viewer` (signed out: `None`) may see it: public and unlisted videos anyone
    /// with the link; private ones only the owner — and moderators and admins, who review
    /// everything.
    pub fn visible_to(&self, viewer: Option<&User>) -> bool {
        self.visibility != Visibility::Private
            || viewer.is_some_and(|u| u.id == self.owner_id || u.role.allows(Role::Moderator))
    }

    /// Whether `user` may change or delete it: its owner, or an admin.
    pub fn editable_by(&self, user: &User) -> bool {
        user.id == self.owner_id || user.role.allows(Role::Admin)
    }
}

/// The order of the home page and `GET /api/v1/videos`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    /// Newest first.
    #[default]
    Newest,
    /// Most viewed first (then newest).
    Popular,
}

/// Longest title, in characters.
pub const MAX_TITLE: usize = 100;
/// Longest description, in characters.
pub const MAX_DESCRIPTION: usize = 5_000;

/// Why a title or description is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VideoInputError {
    /// Empty, too long or with control characters.
    #[error("a title is 1 to 100 characters, without control characters")]
    Title,
    /// Too long, or with control characters other than line breaks and tabs.
    #[error("a description is at most 5000 characters")]
    Description,
    /// Too long, or with control characters.
    #[error("a content-warning summary is at most 500 characters, on one line")]
    Summary,
}

/// A title as stored: trimmed, 1–100 characters, no control characters.
pub fn check_title(title: &str) -> Result<String, VideoInputError> {
    let t = title.trim();
    let n = t.chars().count();
    if n == 0 || n > MAX_TITLE || t.chars().any(char::is_control) {
        return Err(VideoInputError::Title);
    }
    Ok(t.to_string())
}

/// A description as stored: trimmed, at most 5,000 characters, line breaks and tabs only.
pub fn check_description(text: &str) -> Result<String, VideoInputError> {
    let t = text.trim();
    let bad = t
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'));
    if t.chars().count() > MAX_DESCRIPTION || bad {
        return Err(VideoInputError::Description);
    }
    Ok(t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::accounts::UserStatus;

    fn user(id: &str, role: Role) -> User {
        User {
            id: id.into(),
            email: format!("{id}@example.org"),
            display_name: id.into(),
            password_hash: None,
            role,
            status: UserStatus::Active,
            failed_signins: 0,
            locked_until_ms: 0,
            created_at: String::new(),
            content_policy: None,
            totp_secret: None,
            totp_last_step: 0,
        }
    }

    #[test]
    fn private_videos_are_the_owners_and_the_reviewers() {
        let mut v = Video {
            asset_id: "a".into(),
            owner_id: "ada".into(),
            title: "t".into(),
            description: String::new(),
            visibility: Visibility::Private,
            created_at: String::new(),
            flags: Flags::NONE,
            warning_summary: String::new(),
        };
        let (ada, bob) = (user("ada", Role::User), user("bob", Role::User));
        assert!(v.visible_to(Some(&ada)));
        assert!(!v.visible_to(Some(&bob)) && !v.visible_to(None));
        assert!(v.visible_to(Some(&user("mod", Role::Moderator))));
        v.visibility = Visibility::Unlisted;
        assert!(v.visible_to(None));
        assert!(v.editable_by(&ada) && !v.editable_by(&bob));
        assert!(v.editable_by(&user("root", Role::Admin)));
        assert!(!v.editable_by(&user("mod", Role::Moderator)));
    }

    #[test]
    fn titles_and_descriptions_have_bounds() {
        assert_eq!(check_title("  A walk ").unwrap(), "A walk");
        assert!(check_title(" ").is_err());
        assert!(check_title(&"x".repeat(101)).is_err());
        assert!(check_title("a\u{0}b").is_err());
        assert_eq!(check_description("line\nline\tx").unwrap(), "line\nline\tx");
        assert!(check_description("bell\u{7}").is_err());
        assert!(check_description(&"x".repeat(5001)).is_err());
    }
}
