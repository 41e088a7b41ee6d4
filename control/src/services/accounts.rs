//! Accounts, the use cases: register (open, by approval or closed), sign in (argon2id, a
//! budget of failures per client address, a lock per account after repeated failures), the
//! session a sign-in starts (a random token in an HttpOnly cookie, stored hashed, with the
//! CSRF token unsafe requests echo), sign out, and accounts made by an operator
//! (`sunomi-control users create`).
//!
//! Hashing is slow on purpose (tens of milliseconds of CPU): it runs off the async runtime,
//! at most [`HASHING_AT_ONCE`] at a time, so sign-in floods cannot take the API's cores.

use std::net::IpAddr;
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::Engine;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use crate::app::{now_ms, now_rfc3339, AppError};
use crate::db::users::{self, SessionRow};
use crate::db::{Db, DbError};
use crate::domain::accounts::{
    check_display_name, check_password, lock_until, normalize_email, AccountInputError,
    Registration, Role, User, UserStatus, MAX_DISPLAY_NAME,
};
use crate::domain::ids::random_token;
use crate::domain::warnings::ContentPolicy;
use crate::keycheck::Buckets;

/// Password hashes computed at once (each takes a core for tens of milliseconds).
pub const HASHING_AT_ONCE: usize = 2;
/// Failed sign-ins one client address may make at once…
pub const FAILED_SIGNIN_BURST: f64 = 10.0;
/// …and then one every ten seconds.
pub const FAILED_SIGNINS_PER_SECOND: f64 = 0.1;
/// How long a session lasts.
pub const SESSION_MS: i64 = 30 * 24 * 3600 * 1000;

/// Why an account operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// An email, password or name that is not acceptable.
    #[error(transparent)]
    Input(#[from] AccountInputError),
    /// Registration is closed on this instance.
    #[error("registration is closed on this instance; ask an administrator for an account")]
    RegistrationClosed,
    /// The email has an account.
    #[error("that email address has an account already; sign in instead")]
    EmailTaken,
    /// Wrong email or password (never says which).
    #[error("the email or password is not right")]
    BadCredentials,
    /// Too many failed sign-ins of this account: locked until then.
    #[error("too many failed sign-ins: try again in {0} seconds")]
    Locked(u64),
    /// Too many failed sign-ins from this address.
    #[error("too many failed sign-ins from this address: try again in {0} seconds")]
    Throttled(u64),
    /// Registered, waiting for an administrator's approval.
    #[error("this account waits for an administrator's approval")]
    Pending,
    /// Turned off by an administrator.
    #[error("this account is disabled")]
    Disabled,
    /// The password is right and the account has two-factor sign-in: send its code.
    #[error("enter the code from your authenticator app (or a recovery code)")]
    TwoFactorRequired,
    /// A two-factor code that is wrong, expired or already used.
    #[error("that code is not right, or was used already")]
    BadCode,
    /// Turning two-factor sign-in on before setting it up.
    #[error("set up two-factor sign-in first")]
    NoTwoFactorSetup,
    /// Setting up a new secret while one is on: turn it off first (with a code).
    #[error("two-factor sign-in is on: turn it off (with a code) before setting up a new one")]
    TwoFactorOn,
    /// The database (or the hashing task) failed.
    #[error(transparent)]
    App(#[from] AppError),
}

impl From<DbError> for AccountError {
    fn from(e: DbError) -> Self {
        AccountError::App(e.into())
    }
}

/// A session just started: the cookie's token (shown only now), the CSRF token and whose.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// The cookie's value.
    pub token: String,
    /// What unsafe requests echo in `X-CSRF-Token`.
    pub csrf: String,
    /// When it ends (Unix ms).
    pub expires_ms: i64,
    /// The account.
    pub user: User,
}

/// A signed-in caller: the account and its session's CSRF token.
#[derive(Debug, Clone)]
pub struct Session {
    /// The account.
    pub user: User,
    /// What unsafe requests must echo.
    pub csrf: String,
    /// The SHA-256 of the cookie's token (how the session is stored).
    pub token_hash: String,
}

/// The account use cases.
pub struct Accounts {
    /// The state of record.
    pub db: Db,
    /// Who may register.
    pub registration: Registration,
    /// The instance's content-warning policy (guests, and accounts that chose nothing).
    pub content_policy: ContentPolicy,
    hashing: Semaphore,
    failures: Mutex<Buckets>,
}

/// The SHA-256 (hex) a session token is stored as.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// 32 random bytes as base64url: session tokens, recovery secrets, and the sign-in
/// providers' state, nonce and PKCE verifier.
pub(crate) fn new_secret() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

/// A hash to verify against when no account has the email, so an unknown email costs what a
/// wrong password does (no timing difference says which emails have accounts).
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| hash_now(&new_secret()).unwrap_or_default())
}

fn hash_now(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

fn verify_now(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

impl Accounts {
    /// The account use cases over `db`, with `registration` and the instance's content
    /// policy as the config says.
    pub fn new(db: Db, registration: Registration, content_policy: ContentPolicy) -> Accounts {
        Accounts {
            db,
            registration,
            content_policy,
            hashing: Semaphore::new(HASHING_AT_ONCE),
            failures: Mutex::new(Buckets::new(FAILED_SIGNIN_BURST, FAILED_SIGNINS_PER_SECOND)),
        }
    }

    pub(crate) async fn hash(&self, password: String) -> Result<String, AccountError> {
        let _permit = self
            .hashing
            .acquire()
            .await
            .map_err(|e| AppError::Store(e.to_string()))?;
        tokio::task::spawn_blocking(move || hash_now(&password))
            .await
            .map_err(|e| AppError::Store(e.to_string()))?
            .map_err(|e| AccountError::App(AppError::Store(format!("hashing: {e}"))))
    }

    pub(crate) async fn verify(
        &self,
        password: String,
        hash: String,
    ) -> Result<bool, AccountError> {
        let _permit = self
            .hashing
            .acquire()
            .await
            .map_err(|e| AppError::Store(e.to_string()))?;
        tokio::task::spawn_blocking(move || verify_now(&password, &hash))
            .await
            .map_err(|e| AccountError::App(AppError::Store(e.to_string())))
    }

    /// What `viewer` (a guest: `None`) does about content warnings: their own choice, else
    /// the instance's.
    pub fn content_policy_of(&self, viewer: Option<&User>) -> ContentPolicy {
        viewer
            .and_then(|u| u.content_policy.clone())
            .unwrap_or_else(|| self.content_policy.clone())
    }

    /// Sets `user`'s content-warning policy (`None`: follow the instance's).
    pub async fn set_content_policy(
        &self,
        user: &User,
        policy: Option<ContentPolicy>,
    ) -> Result<(), AccountError> {
        users::set_content_policy(&self.db, &user.id, policy.as_ref()).await?;
        Ok(())
    }

    /// Makes an account: `status` and `role` as given (registration decides them for
    /// sign-ups; an operator's command makes active admins).
    pub async fn create(
        &self,
        email: &str,
        password: &str,
        display_name: &str,
        role: Role,
        status: UserStatus,
    ) -> Result<User, AccountError> {
        let email = normalize_email(email)?;
        check_password(password, &email)?;
        let display_name = check_display_name(display_name)?;
        if users::by_email(&self.db, &email).await?.is_some() {
            return Err(AccountError::EmailTaken);
        }
        let password_hash = self.hash(password.to_string()).await?;
        self.insert_new(email, display_name, Some(password_hash), role, status)
            .await
    }

    /// Stores a new account of checked `email` and `display_name` (`EmailTaken` when the
    /// email has one already).
    async fn insert_new(
        &self,
        email: String,
        display_name: String,
        password_hash: Option<String>,
        role: Role,
        status: UserStatus,
    ) -> Result<User, AccountError> {
        let user = User {
            id: format!("u_{}", random_token(20)),
            email,
            display_name,
            password_hash,
            role,
            status,
            failed_signins: 0,
            locked_until_ms: 0,
            created_at: now_rfc3339(),
            content_policy: None,
            totp_secret: None,
            totp_last_step: 0,
        };
        if !users::insert(&self.db, &user).await? {
            return Err(AccountError::EmailTaken);
        }
        Ok(user)
    }

    /// The status registration gives a new account (`RegistrationClosed` when it is closed).
    fn registration_status(&self) -> Result<UserStatus, AccountError> {
        match self.registration {
            Registration::Closed => Err(AccountError::RegistrationClosed),
            Registration::Approval => Ok(UserStatus::Pending),
            Registration::Open => Ok(UserStatus::Active),
        }
    }

    /// A newly registered `user`, signed in when registration made it active.
    async fn welcome(&self, user: User) -> Result<(User, Option<NewSession>), AccountError> {
        if user.status != UserStatus::Active {
            return Ok((user, None));
        }
        let session = self.start_session(&user).await?;
        Ok((user, Some(session)))
    }

    /// Registers a person as this instance's registration allows: open makes an active
    /// account and signs it in; approval makes a pending one (no session).
    pub async fn sign_up(
        &self,
        email: &str,
        password: &str,
        display_name: &str,
    ) -> Result<(User, Option<NewSession>), AccountError> {
        let status = self.registration_status()?;
        let user = self
            .create(email, password, display_name, Role::User, status)
            .await?;
        self.welcome(user).await
    }

    /// Registers a person a sign-in provider vouches for, as registration allows (an account
    /// without a password; a display name that is not acceptable becomes the email's local
    /// part): the account, and a session when it is active.
    pub async fn sign_up_vouched(
        &self,
        email: &str,
        display_name: &str,
    ) -> Result<(User, Option<NewSession>), AccountError> {
        let status = self.registration_status()?;
        let email = normalize_email(email)?;
        let shortened: String = display_name
            .chars()
            .filter(|c| !c.is_control())
            .take(MAX_DISPLAY_NAME)
            .collect();
        let display_name = check_display_name(&shortened)
            .or_else(|_| check_display_name(email.split('@').next().unwrap_or("someone")))?;
        let user = self
            .insert_new(email, display_name, None, Role::User, status)
            .await?;
        self.welcome(user).await
    }

    /// Signs in account `user_id`, which a sign-in provider vouched for: a new session,
    /// unless the account waits for approval or is disabled.
    pub async fn sign_in_vouched(&self, user_id: &str) -> Result<NewSession, AccountError> {
        let Some(user) = users::get(&self.db, user_id).await? else {
            return Err(AccountError::BadCredentials);
        };
        match user.status {
            UserStatus::Pending => Err(AccountError::Pending),
            UserStatus::Disabled => Err(AccountError::Disabled),
            UserStatus::Active => self.start_session(&user).await,
        }
    }

    /// Signs in with `email` and `password` — and, for an account with two-factor sign-in,
    /// `code` — from `client`: a new session each time (a session id an attacker planted
    /// before is never the one that gets signed in). A wrong code counts as a failed sign-in.
    pub async fn sign_in(
        &self,
        email: &str,
        password: &str,
        code: Option<&str>,
        client: Option<IpAddr>,
    ) -> Result<NewSession, AccountError> {
        let client = client.unwrap_or(IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED));
        {
            let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
            failures
                .charge(client, Instant::now())
                .map_err(AccountError::Throttled)?;
            failures.refund(client);
        }
        let found = match normalize_email(email) {
            Ok(e) => users::by_email(&self.db, &e).await?,
            Err(_) => None,
        };
        let now = now_ms();
        let Some(user) = found else {
            // The same work as a wrong password: nothing tells unknown emails apart.
            self.verify(password.to_string(), decoy_hash().to_string())
                .await?;
            self.charge_failure(client);
            return Err(AccountError::BadCredentials);
        };
        if user.locked_until_ms > now {
            let secs = (user.locked_until_ms - now + 999) / 1000;
            return Err(AccountError::Locked(u64::try_from(secs).unwrap_or(1)));
        }
        let hash = user.password_hash.clone().unwrap_or_default();
        if hash.is_empty() || !self.verify(password.to_string(), hash).await? {
            return Err(self
                .failed(&user, client, now, AccountError::BadCredentials)
                .await);
        }
        // The password is right: only now may the answer say more about the account.
        match user.status {
            UserStatus::Pending => return Err(AccountError::Pending),
            UserStatus::Disabled => return Err(AccountError::Disabled),
            UserStatus::Active => {}
        }
        if user.totp_secret.is_some() {
            let Some(code) = code.map(str::trim).filter(|c| !c.is_empty()) else {
                return Err(AccountError::TwoFactorRequired);
            };
            if !self.second_factor(&user, code).await? {
                return Err(self.failed(&user, client, now, AccountError::BadCode).await);
            }
        }
        if user.failed_signins > 0 {
            users::clear_failures(&self.db, &user.id).await?;
        }
        self.start_session(&user).await
    }

    /// Counts a failed sign-in of `user` from `client`: `why`, or the lock it led to.
    async fn failed(
        &self,
        user: &User,
        client: IpAddr,
        now: i64,
        why: AccountError,
    ) -> AccountError {
        self.charge_failure(client);
        let failures = match users::record_failure(&self.db, &user.id, |n| lock_until(n, now)).await
        {
            Ok(n) => n,
            Err(e) => return e.into(),
        };
        match lock_until(failures, now) {
            Some(until) => {
                let secs = (until - now + 999) / 1000;
                AccountError::Locked(u64::try_from(secs).unwrap_or(1))
            }
            None => why,
        }
    }

    fn charge_failure(&self, client: IpAddr) {
        let _ = self
            .failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .charge(client, Instant::now());
    }

    async fn start_session(&self, user: &User) -> Result<NewSession, AccountError> {
        let token = new_secret();
        let csrf = new_secret();
        let now = now_ms();
        let row = SessionRow {
            token_hash: token_hash(&token),
            user_id: user.id.clone(),
            csrf: csrf.clone(),
            created_ms: now,
            expires_ms: now + SESSION_MS,
        };
        users::insert_session(&self.db, &row).await?;
        Ok(NewSession {
            token,
            csrf,
            expires_ms: row.expires_ms,
            user: user.clone(),
        })
    }

    /// The signed-in caller a cookie's `token` names: `None` for no such session, an ended
    /// one, or an account that may not sign in any more.
    pub async fn session(&self, token: &str) -> Result<Option<Session>, AccountError> {
        let hash = token_hash(token);
        let Some((row, user)) = users::session(&self.db, &hash, now_ms()).await? else {
            return Ok(None);
        };
        if user.status != UserStatus::Active {
            return Ok(None);
        }
        Ok(Some(Session {
            user,
            csrf: row.csrf,
            token_hash: hash,
        }))
    }

    /// Ends a session.
    pub async fn sign_out(&self, session: &Session) -> Result<(), AccountError> {
        users::delete_session(&self.db, &session.token_hash).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_and_verify_only_their_password() {
        let h = hash_now("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_now("correct horse battery", &h));
        assert!(!verify_now("correct horse battery!", &h));
        assert!(!verify_now("anything", "not a hash"));
    }

    #[test]
    fn session_tokens_are_stored_hashed() {
        let t = new_secret();
        assert_eq!(t.len(), 43);
        assert_eq!(token_hash(&t).len(), 64);
        assert_ne!(token_hash(&t), t);
    }
}
