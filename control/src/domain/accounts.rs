//! People: accounts, their roles and status, what a valid email, password and display name
//! are, and when failed sign-ins lock an account. Pure: hashing and clocks are the
//! services' (`services/accounts.rs`).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::warnings::ContentPolicy;

/// What an account may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Uploads and manages their own videos, comments, likes, subscribes.
    User,
    /// And works the moderation queue.
    Moderator,
    /// And everything else: users, roles, API keys, webhooks, signing keys, approvals.
    Admin,
}

impl Role {
    /// Its name, as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Moderator => "moderator",
            Role::Admin => "admin",
        }
    }

    /// The role named `name`.
    pub fn parse(name: &str) -> Option<Role> {
        match name {
            "user" => Some(Role::User),
            "moderator" => Some(Role::Moderator),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    /// Whether this role includes everything `needed` may do (admin ⊃ moderator ⊃ user).
    pub fn allows(self, needed: Role) -> bool {
        self >= needed
    }
}

/// Where an account stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    /// May sign in.
    Active,
    /// Registered while registration needs approval: signs in once an admin approves.
    Pending,
    /// Turned off by an admin.
    Disabled,
}

impl UserStatus {
    /// Its name, as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Active => "active",
            UserStatus::Pending => "pending",
            UserStatus::Disabled => "disabled",
        }
    }

    /// The status named `name`.
    pub fn parse(name: &str) -> Option<UserStatus> {
        match name {
            "active" => Some(UserStatus::Active),
            "pending" => Some(UserStatus::Pending),
            "disabled" => Some(UserStatus::Disabled),
            _ => None,
        }
    }
}

/// Who may register (`[accounts] registration`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Registration {
    /// Anyone; the account is active at once.
    #[default]
    Open,
    /// Anyone; the account waits for an admin's approval.
    Approval,
    /// Nobody (admins make accounts: `sunomi-control users create`).
    Closed,
}

/// An account as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// `u_` and 20 random characters.
    pub id: String,
    /// Lower-cased ([`normalize_email`]); unique.
    pub email: String,
    /// The name people see.
    pub display_name: String,
    /// The argon2id hash (PHC string); `None` for an account that signs in elsewhere.
    pub password_hash: Option<String>,
    /// What it may do.
    pub role: Role,
    /// Whether it may sign in.
    pub status: UserStatus,
    /// Failed sign-ins since the last successful one.
    pub failed_signins: i64,
    /// Until when (Unix ms) sign-ins are refused after too many failures.
    pub locked_until_ms: i64,
    /// When it was made (RFC 3339).
    pub created_at: String,
    /// What it does about content warnings; `None`: the instance's policy.
    pub content_policy: Option<ContentPolicy>,
    /// The TOTP secret (base32) when two-factor sign-in is on.
    pub totp_secret: Option<String>,
    /// The last TOTP time step a code was accepted at (each code works once).
    pub totp_last_step: i64,
}

/// Failed sign-ins in a row that lock an account.
pub const FAILURES_BEFORE_LOCK: i64 = 5;
/// How long a lock lasts, doubling with every further failure (at most a day).
pub const LOCK_MS: i64 = 15 * 60 * 1000;
const MAX_LOCK_MS: i64 = 24 * 3600 * 1000;

/// After `failures` failed sign-ins in a row, until when the account is locked (from
/// `now_ms`), or `None` while it is not.
pub fn lock_until(failures: i64, now_ms: i64) -> Option<i64> {
    if failures < FAILURES_BEFORE_LOCK {
        return None;
    }
    let doublings = (failures - FAILURES_BEFORE_LOCK).clamp(0, 10) as u32;
    Some(now_ms + (LOCK_MS << doublings).min(MAX_LOCK_MS))
}

/// Why an email, password or name is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountInputError {
    /// Not an email address.
    #[error("that is not an email address")]
    Email,
    /// Too short or too long.
    #[error("a password is 10 to 256 characters")]
    PasswordLength,
    /// The password is the email address.
    #[error("the password must not be the email address")]
    PasswordIsEmail,
    /// Empty, too long, or with control characters.
    #[error("a display name is 1 to 50 characters, without control characters")]
    DisplayName,
}

/// Longest email address (RFC 5321's path limit).
pub const MAX_EMAIL: usize = 254;
/// Shortest and longest password, in characters.
pub const PASSWORD_CHARS: (usize, usize) = (10, 256);
/// Longest display name, in characters.
pub const MAX_DISPLAY_NAME: usize = 50;

/// The email address as stored and compared: trimmed, lower-cased, and shaped like one
/// (one `@`, a local part and a dotted domain, no spaces or control characters).
pub fn normalize_email(email: &str) -> Result<String, AccountInputError> {
    let email = email.trim().to_lowercase();
    let (local, domain) = email.split_once('@').ok_or(AccountInputError::Email)?;
    let shaped = !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && email.chars().count() <= MAX_EMAIL
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if shaped {
        Ok(email)
    } else {
        Err(AccountInputError::Email)
    }
}

/// Checks a new password (its length in characters, and that it is not the email).
pub fn check_password(password: &str, email: &str) -> Result<(), AccountInputError> {
    let n = password.chars().count();
    if n < PASSWORD_CHARS.0 || n > PASSWORD_CHARS.1 {
        return Err(AccountInputError::PasswordLength);
    }
    if password.trim().eq_ignore_ascii_case(email) {
        return Err(AccountInputError::PasswordIsEmail);
    }
    Ok(())
}

/// A display name as stored: trimmed, 1–50 characters, no control characters.
pub fn check_display_name(name: &str) -> Result<String, AccountInputError> {
    let name = name.trim();
    let n = name.chars().count();
    if n == 0 || n > MAX_DISPLAY_NAME || name.chars().any(char::is_control) {
        return Err(AccountInputError::DisplayName);
    }
    Ok(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_compared_lower_cased_and_must_look_like_one() {
        assert_eq!(
            normalize_email("  Ada@Example.ORG ").unwrap(),
            "ada@example.org"
        );
        for bad in [
            "",
            "ada",
            "@example.org",
            "ada@",
            "ada@org",
            "a b@x.org",
            "a@b@c.org",
            "ada@.org",
            "ada@x.org.",
        ] {
            assert_eq!(
                normalize_email(bad),
                Err(AccountInputError::Email),
                "{bad:?}"
            );
        }
        assert!(normalize_email(&format!("{}@x.org", "a".repeat(250))).is_err());
    }

    #[test]
    fn passwords_and_names_have_bounds() {
        assert!(check_password("correct horse", "ada@example.org").is_ok());
        assert_eq!(
            check_password("short", "a@b.org"),
            Err(AccountInputError::PasswordLength)
        );
        assert_eq!(
            check_password(&"x".repeat(257), "a@b.org"),
            Err(AccountInputError::PasswordLength)
        );
        assert_eq!(
            check_password("Ada@Example.org", "ada@example.org"),
            Err(AccountInputError::PasswordIsEmail)
        );
        assert_eq!(check_display_name("  Ada  ").unwrap(), "Ada");
        assert!(check_display_name("").is_err());
        assert!(check_display_name("a\u{7}b").is_err());
        assert!(check_display_name(&"é".repeat(51)).is_err());
    }

    #[test]
    fn five_failures_lock_for_fifteen_minutes_then_doubling_to_a_day() {
        assert_eq!(lock_until(4, 0), None);
        assert_eq!(lock_until(5, 1_000), Some(1_000 + LOCK_MS));
        assert_eq!(lock_until(6, 0), Some(2 * LOCK_MS));
        assert_eq!(lock_until(100, 0), Some(24 * 3600 * 1000));
    }

    #[test]
    fn roles_include_the_ones_below() {
        assert!(Role::Admin.allows(Role::Moderator) && Role::Admin.allows(Role::User));
        assert!(Role::Moderator.allows(Role::User) && !Role::Moderator.allows(Role::Admin));
        assert!(!Role::User.allows(Role::Moderator));
        for r in [Role::User, Role::Moderator, Role::Admin] {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
    }
}
