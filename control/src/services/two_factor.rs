//! Two-factor sign-in with TOTP (RFC 6238: HMAC-SHA1, 6 digits, 30-second steps, one step
//! of clock skew either way), the use cases: set it up (a new secret, proved by its first
//! code before it counts), turn it off (password and a code), and check the second factor at
//! sign-in. A code is accepted once (the last accepted time step is kept); ten single-use
//! recovery codes, shown once and stored as SHA-256, stand in for a lost authenticator.

use argon2::password_hash::rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};
use totp_rs::{Builder, Secret, Totp};

use super::accounts::{AccountError, Accounts};
use crate::app::AppError;
use crate::db::users;
use crate::domain::accounts::User;

/// The name authenticator apps show beside the account.
const ISSUER: &str = "Sunomi";
/// Recovery codes made when two-factor sign-in is turned on.
const RECOVERY_CODES: usize = 10;

/// A secret being set up: what an authenticator app needs.
#[derive(Debug, Clone)]
pub struct TwoFactorSetup {
    /// The secret, base32 (to type in).
    pub secret: String,
    /// The `otpauth://` URL (for a QR code or a tap).
    pub otpauth_url: String,
}

fn totp(secret_base32: &str, account: &str) -> Result<Totp, AccountError> {
    let secret = Secret::try_from_base32(secret_base32)
        .map_err(|e| AppError::Store(format!("a stored TOTP secret is not base32: {e:?}")))?;
    Builder::new()
        .with_secret(secret)
        .with_account_name(account.replace(':', ""))
        .with_issuer(Some(ISSUER))
        .build()
        .map_err(|e| AccountError::App(AppError::Store(format!("TOTP: {e:?}"))))
}

fn unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The stored form of a recovery code: SHA-256 (hex) of it without spaces or dashes, in
/// lower case.
fn recovery_hash(code: &str) -> String {
    let normal: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase();
    hex::encode(Sha256::digest(normal.as_bytes()))
}

/// A new recovery code: 10 random characters from an alphabet without look-alikes, in two
/// groups (`k7m2q-x9p4t`).
fn new_recovery_code() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut bytes = [0u8; 10];
    OsRng.fill_bytes(&mut bytes);
    let chars: String = bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect();
    format!("{}-{}", &chars[..5], &chars[5..])
}

/// Whether `code` looks like an authenticator's code (6 digits, spaces allowed).
fn is_totp_code(code: &str) -> bool {
    let digits: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    digits.len() == 6 && digits.chars().all(|c| c.is_ascii_digit())
}

impl Accounts {
    /// Starts setting up two-factor sign-in for `user` (while it is off): a new secret, kept
    /// aside until a code from it turns the second factor on.
    pub async fn begin_two_factor(&self, user: &User) -> Result<TwoFactorSetup, AccountError> {
        // A stolen session must not swap the second factor for the thief's.
        if user.totp_secret.is_some() {
            return Err(AccountError::TwoFactorOn);
        }
        let mut raw = [0u8; 20];
        OsRng.fill_bytes(&mut raw);
        let secret = Secret::from(raw.to_vec()).to_base32();
        let t = totp(&secret, &user.email)?;
        let otpauth_url = t
            .to_url()
            .map_err(|e| AccountError::App(AppError::Store(format!("TOTP URL: {e:?}"))))?;
        users::set_totp_pending(&self.db, &user.id, Some(&secret)).await?;
        Ok(TwoFactorSetup {
            secret,
            otpauth_url,
        })
    }

    /// Turns two-factor sign-in on for `user` once `code` comes from the secret being set up;
    /// returns the recovery codes (shown only now).
    pub async fn enable_two_factor(
        &self,
        user: &User,
        code: &str,
    ) -> Result<Vec<String>, AccountError> {
        let pending = users::two_factor_state(&self.db, &user.id)
            .await?
            .and_then(|(pending, _)| pending)
            .ok_or(AccountError::NoTwoFactorSetup)?;
        let step = totp(&pending, &user.email)?
            .check(&code.replace(' ', ""), unix_secs())
            .ok_or(AccountError::BadCode)?;
        let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| new_recovery_code()).collect();
        let hashes: Vec<String> = codes.iter().map(|c| recovery_hash(c)).collect();
        let step = i64::try_from(step).unwrap_or(i64::MAX);
        if !users::enable_totp(&self.db, &user.id, &pending, step, &hashes).await? {
            return Err(AccountError::NoTwoFactorSetup);
        }
        Ok(codes)
    }

    /// Turns two-factor sign-in off for `user`, who proves it is them with their password and
    /// a code (or a recovery code).
    pub async fn disable_two_factor(
        &self,
        user: &User,
        password: &str,
        code: &str,
    ) -> Result<(), AccountError> {
        let hash = user.password_hash.clone().unwrap_or_default();
        if hash.is_empty() || !self.verify(password.to_string(), hash).await? {
            return Err(AccountError::BadCredentials);
        }
        if user.totp_secret.is_some() && !self.second_factor(user, code).await? {
            return Err(AccountError::BadCode);
        }
        users::disable_totp(&self.db, &user.id).await?;
        Ok(())
    }

    /// Whether `code` is `user`'s second factor now: a code of the current time step (or
    /// one either side) not used before, or an unused recovery code (then used up).
    pub(crate) async fn second_factor(
        &self,
        user: &User,
        code: &str,
    ) -> Result<bool, AccountError> {
        let Some(secret) = &user.totp_secret else {
            return Ok(true);
        };
        if is_totp_code(code) {
            let Some(step) = totp(secret, &user.email)?.check(&code.replace(' ', ""), unix_secs())
            else {
                return Ok(false);
            };
            let step = i64::try_from(step).unwrap_or(i64::MAX);
            return Ok(users::use_totp_step(&self.db, &user.id, step).await?);
        }
        Ok(users::use_recovery_code(&self.db, &user.id, &recovery_hash(code)).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_rfc_6238() {
        // RFC 6238, appendix B: the SHA-1 key "12345678901234567890", 8 digits there; the
        // last 6 digits are what a 6-digit code shows.
        let secret = Secret::from(b"12345678901234567890".to_vec()).to_base32();
        let t = totp(&secret, "ada@example.org").unwrap();
        for (time, eight) in [
            (59u64, "94287082"),
            (1_111_111_109, "07081804"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
        ] {
            assert_eq!(t.generate(time).to_string(), eight[2..], "at {time}");
            assert!(t.check(&eight[2..], time).is_some());
        }
        assert!(t.check("000000", 59).is_none());
    }

    #[test]
    fn recovery_codes_are_compared_without_dashes_or_case() {
        let code = new_recovery_code();
        assert_eq!(code.len(), 11);
        assert_eq!(
            recovery_hash(&code),
            recovery_hash(&code.to_uppercase().replace('-', " "))
        );
        assert!(is_totp_code("123 456") && !is_totp_code(&code));
    }
}
