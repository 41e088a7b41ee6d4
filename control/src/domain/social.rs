//! What people do with videos and each other: comments and their rules (one level of
//! replies, who may edit or remove one, how many a minute). Pure.

use super::accounts::{Role, User};

/// A comment as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    /// `c_…`.
    pub id: String,
    /// The video it is on.
    pub video_id: String,
    /// Who wrote it.
    pub author_id: String,
    /// The author's display name (empty when the account is gone).
    pub author_name: String,
    /// The comment it replies to (replies have no replies).
    pub parent_id: Option<String>,
    /// Its words (empty once deleted).
    pub body: String,
    /// When it was written (Unix ms).
    pub created_ms: i64,
    /// When it was last edited (Unix ms).
    pub edited_ms: Option<i64>,
    /// Removed by its author or a moderator: it keeps its place for its replies.
    pub deleted: bool,
}

impl Comment {
    /// Whether `user` may change its words: its author.
    pub fn editable_by(&self, user: &User) -> bool {
        !self.deleted && user.id == self.author_id
    }

    /// Whether `user` may remove it: its author, a moderator or an admin.
    pub fn removable_by(&self, user: &User) -> bool {
        !self.deleted && (user.id == self.author_id || user.role.allows(Role::Moderator))
    }
}

/// Longest comment, in characters.
pub const MAX_COMMENT: usize = 2_000;
/// Comments one account may write in a minute.
pub const COMMENTS_PER_MINUTE: i64 = 10;

/// Why a comment's words are refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a comment is 1 to 2000 characters")]
pub struct CommentInputError;

/// A comment's words as stored: trimmed, 1–2,000 characters, line breaks and tabs the only
/// control characters.
pub fn check_comment(body: &str) -> Result<String, CommentInputError> {
    let b = body.trim();
    let n = b.chars().count();
    let bad = b
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'));
    if n == 0 || n > MAX_COMMENT || bad {
        return Err(CommentInputError);
    }
    Ok(b.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::accounts::UserStatus;

    fn user(id: &str, role: Role) -> User {
        User {
            id: id.into(),
            email: String::new(),
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
    fn authors_edit_and_reviewers_remove() {
        let c = Comment {
            id: "c".into(),
            video_id: "v".into(),
            author_id: "ada".into(),
            author_name: "Ada".into(),
            parent_id: None,
            body: "hi".into(),
            created_ms: 0,
            edited_ms: None,
            deleted: false,
        };
        let (ada, bob, m) = (
            user("ada", Role::User),
            user("bob", Role::User),
            user("m", Role::Moderator),
        );
        assert!(c.editable_by(&ada) && !c.editable_by(&bob) && !c.editable_by(&m));
        assert!(c.removable_by(&ada) && !c.removable_by(&bob) && c.removable_by(&m));
        let gone = Comment { deleted: true, ..c };
        assert!(!gone.editable_by(&ada) && !gone.removable_by(&m));
    }

    #[test]
    fn comments_have_bounds() {
        assert_eq!(check_comment("  nice  ").unwrap(), "nice");
        assert!(check_comment(" \n ").is_err());
        assert!(check_comment(&"x".repeat(2001)).is_err());
        assert!(check_comment("a\u{1b}[31m").is_err());
        assert!(check_comment("two\nlines").is_ok());
    }
}
