//! Signing in with another provider: OpenID Connect (any issuer, by discovery; the ID token's
//! signature checked against the issuer's published keys, its issuer, audience, expiry and
//! nonce) or GitHub-style OAuth 2.0 (a user-info endpoint names the person). The
//! authorization code flow with PKCE (S256); the `state` is stored (`db::sso`, taken once,
//! ten minutes) and also set in a cookie of the browser that started, so a redirect back
//! into another browser signs no one in.
//!
//! A provider's subject is linked to one account. A first sign-in makes an account as
//! registration allows; an email that already has an account is not linked by itself (a
//! provider that does not check emails could otherwise take it over): its person signs in
//! with their password.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use jsonwebtoken::jwk::JwkSet;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::app::{now_ms, now_rfc3339};
use crate::config::{SsoKind, SsoProviderConfig};
use crate::db::sso::{self as store, Attempt};
use crate::db::{users, Db, DbError};
use crate::services::accounts::{new_secret, AccountError, Accounts, NewSession};

/// How long a started sign-in may take, milliseconds.
const ATTEMPT_MS: i64 = 10 * 60 * 1000;
/// How long a request to a provider may take.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest answer read from a provider.
const MAX_ANSWER: usize = 256 * 1024;

/// Why a sign-in with a provider did not happen.
#[derive(Debug, thiserror::Error)]
pub enum SsoError {
    /// No provider has that id.
    #[error("no such sign-in provider")]
    UnknownProvider,
    /// The redirect back names no sign-in under way from this browser (expired, used, or
    /// started elsewhere).
    #[error("this sign-in expired or was already used; start again")]
    UnknownAttempt,
    /// The person (or the provider) said no.
    #[error("the sign-in provider did not sign you in: {0}")]
    Refused(String),
    /// The provider could not be reached, or answered something unusable.
    #[error("the sign-in provider did not answer as expected: {0}")]
    Provider(String),
    /// The provider did not vouch for an email address.
    #[error("the sign-in provider did not share a verified email address")]
    NoEmail,
    /// Registration refused it, the account waits for approval or is disabled, or the email
    /// has an account of its own.
    #[error(transparent)]
    Account(#[from] AccountError),
}

impl From<DbError> for SsoError {
    fn from(e: DbError) -> Self {
        SsoError::Account(e.into())
    }
}

impl From<reqwest::Error> for SsoError {
    fn from(e: reqwest::Error) -> Self {
        SsoError::Provider(e.without_url().to_string())
    }
}

/// A finished sign-in: the session (none when the new account waits for approval) and the
/// local path to go to.
#[derive(Debug)]
pub struct SignedInVia {
    /// The new session.
    pub session: Option<NewSession>,
    /// Where the person was going.
    pub next: String,
}

/// What a provider's redirect back brings, and the browser's own state cookie.
#[derive(Debug, Clone, Copy)]
pub struct RedirectBack<'a> {
    /// The authorization code.
    pub code: Option<&'a str>,
    /// The `state` it names.
    pub state: &'a str,
    /// The state this browser's cookie holds.
    pub cookie_state: Option<&'a str>,
    /// Why the provider did not sign the person in.
    pub provider_error: Option<&'a str>,
    /// The issuer it names (RFC 9207).
    pub issuer: Option<&'a str>,
}

/// A provider's endpoints (discovered once for OpenID Connect) and its keys.
#[derive(Debug)]
struct Endpoints {
    authorization: String,
    token: String,
    userinfo: Option<String>,
    /// OpenID Connect: the issuer ID tokens must name, and where its keys are.
    issuer: Option<String>,
    jwks_uri: Option<String>,
    keys: tokio::sync::RwLock<JwkSet>,
}

/// The sign-in-with-a-provider use cases.
pub struct SingleSignOn {
    db: Db,
    accounts: Arc<Accounts>,
    providers: Vec<SsoProviderConfig>,
    http: reqwest::Client,
    endpoints: tokio::sync::Mutex<HashMap<String, Arc<Endpoints>>>,
}

/// What an ID token says (only what is used).
#[derive(Debug, Deserialize)]
struct IdClaims {
    sub: String,
    nonce: Option<String>,
    email: Option<String>,
    email_verified: Option<bool>,
    name: Option<String>,
    preferred_username: Option<String>,
}

/// A token endpoint's answer (only what is used).
#[derive(Debug, Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    id_token: Option<String>,
    error: Option<String>,
}

/// Who a provider says someone is.
#[derive(Debug, PartialEq, Eq)]
struct Person {
    subject: String,
    email: String,
    name: String,
}

fn base64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The PKCE S256 challenge of `verifier` (RFC 7636 §4.2).
fn pkce_challenge(verifier: &str) -> String {
    base64url(&Sha256::digest(verifier.as_bytes()))
}

/// `next` when it is a path on this site, else `/`: a sign-in never sends anyone elsewhere.
pub fn local_path(next: Option<&str>) -> String {
    match next {
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && !p.contains('\\')
                && p.len() <= 512
                && !p.chars().any(|c| c.is_control() || c.is_whitespace()) =>
        {
            p.to_string()
        }
        _ => "/".to_string(),
    }
}

/// The person a GitHub-style user-info answer names: `subject_field` (a string or a number),
/// the email, and a name (`name`, else `login`, else `preferred_username`).
fn person_of_userinfo(info: &Value, subject_field: &str) -> Result<Person, SsoError> {
    let subject = match info.get(subject_field) {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => {
            return Err(SsoError::Provider(format!(
                "the user info has no {subject_field:?}"
            )))
        }
    };
    if info.get("email_verified") == Some(&Value::Bool(false)) {
        return Err(SsoError::NoEmail);
    }
    let email = info
        .get("email")
        .and_then(Value::as_str)
        .filter(|e| !e.is_empty())
        .ok_or(SsoError::NoEmail)?
        .to_string();
    let name = ["name", "login", "preferred_username"]
        .iter()
        .find_map(|k| {
            info.get(*k)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        })
        .unwrap_or("")
        .to_string();
    Ok(Person {
        subject,
        email,
        name,
    })
}

impl SingleSignOn {
    /// The use cases for `providers`, making accounts through `accounts`.
    pub fn new(db: Db, accounts: Arc<Accounts>, providers: Vec<SsoProviderConfig>) -> Self {
        // No pooled connections: a sign-in makes two or three requests, minutes apart from
        // the next, and a connection kept idle that long meets the provider closing it (Node
        // servers after 5 s) just as it is reused — "error sending request" mid sign-in.
        let http = reqwest::Client::builder()
            .timeout(PROVIDER_TIMEOUT)
            .pool_max_idle_per_host(0)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("sunomi-control")
            .build()
            .unwrap_or_default();
        SingleSignOn {
            db,
            accounts,
            providers,
            http,
            endpoints: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    /// The providers to offer: `(id, name)`.
    pub fn providers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.providers
            .iter()
            .map(|p| (p.id.as_str(), p.name.as_str()))
    }

    fn provider(&self, id: &str) -> Result<&SsoProviderConfig, SsoError> {
        self.providers
            .iter()
            .find(|p| p.id == id)
            .ok_or(SsoError::UnknownProvider)
    }

    /// Starts a sign-in with provider `id` that comes back to `redirect_uri` and then goes to
    /// `next`: the provider's authorization URL to send the browser to, and the state for
    /// the browser's cookie.
    pub async fn start(
        &self,
        id: &str,
        next: Option<&str>,
        redirect_uri: &str,
    ) -> Result<(String, String), SsoError> {
        let provider = self.provider(id)?;
        let endpoints = self.endpoints(provider).await?;
        let attempt = Attempt {
            state: new_secret(),
            provider: provider.id.clone(),
            nonce: new_secret(),
            verifier: new_secret(),
            next_path: local_path(next),
            expires_ms: now_ms() + ATTEMPT_MS,
        };
        let mut url = url::Url::parse(&endpoints.authorization)
            .map_err(|e| SsoError::Provider(format!("authorization endpoint: {e}")))?;
        let scopes = if provider.scopes.is_empty() {
            match provider.kind {
                SsoKind::Oidc => "openid email profile".to_string(),
                SsoKind::Oauth2 => "read:user user:email".to_string(),
            }
        } else {
            provider.scopes.join(" ")
        };
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", &provider.client_id)
                .append_pair("redirect_uri", redirect_uri)
                .append_pair("scope", &scopes)
                .append_pair("state", &attempt.state)
                .append_pair("code_challenge", &pkce_challenge(&attempt.verifier))
                .append_pair("code_challenge_method", "S256");
            if provider.kind == SsoKind::Oidc {
                q.append_pair("nonce", &attempt.nonce);
            }
        }
        store::insert_attempt(&self.db, &attempt, now_ms()).await?;
        Ok((url.into(), attempt.state))
    }

    /// Finishes a sign-in the provider `id` redirected `back` with: its `state` must be the
    /// one in the browser's cookie and a sign-in under way with this provider;
    /// `code` is exchanged (with the PKCE verifier) for who the person is; they are signed in
    /// to their linked account, or to a new one. An `issuer` the provider names must be its
    /// own.
    pub async fn finish(
        &self,
        id: &str,
        back: &RedirectBack<'_>,
        redirect_uri: &str,
    ) -> Result<SignedInVia, SsoError> {
        let RedirectBack {
            code,
            state,
            cookie_state,
            provider_error,
            issuer,
        } = *back;
        let provider = self.provider(id)?;
        let same_browser =
            cookie_state.is_some_and(|c| bool::from(c.as_bytes().ct_eq(state.as_bytes())));
        if !same_browser {
            return Err(SsoError::UnknownAttempt);
        }
        let attempt = store::take_attempt(&self.db, state, now_ms())
            .await?
            .filter(|a| a.provider == provider.id)
            .ok_or(SsoError::UnknownAttempt)?;
        if let Some(e) = provider_error {
            return Err(SsoError::Refused(e.chars().take(100).collect()));
        }
        let code = code
            .filter(|c| !c.is_empty())
            .ok_or_else(|| SsoError::Provider("no code in the redirect back".into()))?;
        let endpoints = self.endpoints(provider).await?;
        // RFC 9207: an answer that names its issuer must name this provider's (a mix-up
        // between providers is refused before any code is spent).
        if let (Some(said), Some(expected)) = (issuer, endpoints.issuer.as_deref()) {
            if said.trim_end_matches('/') != expected.trim_end_matches('/') {
                return Err(SsoError::Provider(format!(
                    "the answer names issuer {said:?}, not this provider's"
                )));
            }
        }
        let tokens = self
            .exchange(provider, &endpoints, code, &attempt, redirect_uri)
            .await?;
        let person = match provider.kind {
            SsoKind::Oidc => {
                self.person_of_id_token(provider, &endpoints, &tokens, &attempt)
                    .await?
            }
            SsoKind::Oauth2 => {
                let info = self.userinfo(&endpoints, &tokens).await?;
                person_of_userinfo(&info, provider.subject_field.as_deref().unwrap_or("id"))?
            }
        };
        let session = self.sign_in_as(provider, &person).await?;
        Ok(SignedInVia {
            session,
            next: attempt.next_path,
        })
    }

    /// Signs `person` in to the account their subject is linked to, or makes one.
    async fn sign_in_as(
        &self,
        provider: &SsoProviderConfig,
        person: &Person,
    ) -> Result<Option<NewSession>, SsoError> {
        if let Some(user) = store::user_of(&self.db, &provider.id, &person.subject).await? {
            return Ok(Some(self.accounts.sign_in_vouched(&user).await?));
        }
        let email = crate::domain::accounts::normalize_email(&person.email)
            .map_err(|_| SsoError::NoEmail)?;
        if users::by_email(&self.db, &email).await?.is_some() {
            return Err(AccountError::EmailTaken.into());
        }
        let (user, session) = self.accounts.sign_up_vouched(&email, &person.name).await?;
        store::link(
            &self.db,
            &provider.id,
            &person.subject,
            &user.id,
            &user.email,
            &now_rfc3339(),
        )
        .await?;
        Ok(session)
    }

    /// The provider's endpoints: configured (OAuth 2.0) or discovered once (OpenID Connect;
    /// a failed discovery is tried again by the next sign-in).
    async fn endpoints(&self, provider: &SsoProviderConfig) -> Result<Arc<Endpoints>, SsoError> {
        let mut known = self.endpoints.lock().await;
        if let Some(e) = known.get(&provider.id) {
            return Ok(e.clone());
        }
        let endpoints = match provider.kind {
            SsoKind::Oauth2 => Endpoints {
                authorization: provider.authorization_url.clone().unwrap_or_default(),
                token: provider.token_url.clone().unwrap_or_default(),
                userinfo: provider.userinfo_url.clone(),
                issuer: None,
                jwks_uri: None,
                keys: tokio::sync::RwLock::new(JwkSet { keys: Vec::new() }),
            },
            SsoKind::Oidc => self.discover(provider).await?,
        };
        let endpoints = Arc::new(endpoints);
        known.insert(provider.id.clone(), endpoints.clone());
        Ok(endpoints)
    }

    async fn discover(&self, provider: &SsoProviderConfig) -> Result<Endpoints, SsoError> {
        let issuer = provider.issuer.clone().unwrap_or_default();
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let doc = self.get_json(self.http.get(&url)).await?;
        let field = |name: &str| {
            doc.get(name)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| SsoError::Provider(format!("discovery has no {name}")))
        };
        let found = field("issuer")?;
        if found.trim_end_matches('/') != issuer.trim_end_matches('/') {
            return Err(SsoError::Provider(format!(
                "discovery names issuer {found:?}, not {issuer:?}"
            )));
        }
        Ok(Endpoints {
            authorization: field("authorization_endpoint")?,
            token: field("token_endpoint")?,
            userinfo: field("userinfo_endpoint").ok(),
            issuer: Some(found),
            jwks_uri: Some(field("jwks_uri")?),
            keys: tokio::sync::RwLock::new(JwkSet { keys: Vec::new() }),
        })
    }

    /// Sends `request` and reads its JSON answer (bounded), or says why not.
    async fn get_json(&self, request: reqwest::RequestBuilder) -> Result<Value, SsoError> {
        let resp = request
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await?;
        let status = resp.status();
        if resp.content_length().is_some_and(|n| n > MAX_ANSWER as u64) {
            return Err(SsoError::Provider("the answer is too large".into()));
        }
        let body = resp.bytes().await?;
        if body.len() > MAX_ANSWER {
            return Err(SsoError::Provider("the answer is too large".into()));
        }
        let value: Value = serde_json::from_slice(&body)
            .map_err(|_| SsoError::Provider(format!("a {status} answer that is not JSON")))?;
        if !status.is_success() && value.get("error").is_none() {
            return Err(SsoError::Provider(format!("answered {status}")));
        }
        Ok(value)
    }

    async fn exchange(
        &self,
        provider: &SsoProviderConfig,
        endpoints: &Endpoints,
        code: &str,
        attempt: &Attempt,
        redirect_uri: &str,
    ) -> Result<TokenAnswer, SsoError> {
        let secret = provider.secret().unwrap_or_default();
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", attempt.verifier.as_str()),
        ];
        let mut request = self.http.post(&endpoints.token);
        match provider.kind {
            // OpenID Connect's default client authentication: HTTP Basic, each part
            // form-encoded first (RFC 6749 §2.3.1).
            SsoKind::Oidc => {
                let enc = |s: &str| {
                    url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>()
                };
                request = request.basic_auth(enc(&provider.client_id), Some(enc(&secret)));
            }
            // GitHub's: both in the body.
            SsoKind::Oauth2 => {
                form.push(("client_id", provider.client_id.as_str()));
                form.push(("client_secret", secret.as_str()));
            }
        }
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let answer = self
            .get_json(
                request
                    .header(
                        reqwest::header::CONTENT_TYPE,
                        "application/x-www-form-urlencoded",
                    )
                    .body(body),
            )
            .await?;
        let tokens: TokenAnswer = serde_json::from_value(answer)
            .map_err(|e| SsoError::Provider(format!("token answer: {e}")))?;
        if let Some(e) = &tokens.error {
            return Err(SsoError::Provider(format!(
                "the token endpoint refused the code: {}",
                e.chars().take(100).collect::<String>()
            )));
        }
        Ok(tokens)
    }

    async fn userinfo(
        &self,
        endpoints: &Endpoints,
        tokens: &TokenAnswer,
    ) -> Result<Value, SsoError> {
        let (Some(url), Some(token)) = (&endpoints.userinfo, &tokens.access_token) else {
            return Err(SsoError::Provider("no user info to read".into()));
        };
        self.get_json(self.http.get(url).bearer_auth(token)).await
    }

    /// The person the ID token names, once its signature (by a key the issuer publishes),
    /// issuer, audience, expiry and nonce check out; the email from the user info when the
    /// token has none.
    async fn person_of_id_token(
        &self,
        provider: &SsoProviderConfig,
        endpoints: &Endpoints,
        tokens: &TokenAnswer,
        attempt: &Attempt,
    ) -> Result<Person, SsoError> {
        let token = tokens
            .id_token
            .as_deref()
            .ok_or_else(|| SsoError::Provider("no ID token".into()))?;
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| SsoError::Provider(format!("ID token: {e}")))?;
        let key = self.key_for(endpoints, header.kid.as_deref()).await?;
        let mut validation = jsonwebtoken::Validation::new(header.alg);
        validation.set_issuer(&[endpoints.issuer.clone().unwrap_or_default()]);
        validation.set_audience(std::slice::from_ref(&provider.client_id));
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let claims = jsonwebtoken::decode::<IdClaims>(token, &key, &validation)
            .map_err(|e| SsoError::Provider(format!("ID token: {e}")))?
            .claims;
        let nonce_ok = claims
            .nonce
            .as_deref()
            .is_some_and(|n| bool::from(n.as_bytes().ct_eq(attempt.nonce.as_bytes())));
        if !nonce_ok {
            return Err(SsoError::Provider(
                "the ID token's nonce is not this sign-in's".into(),
            ));
        }
        let (email, verified, name) = match claims.email {
            Some(e) => (
                Some(e),
                claims.email_verified,
                claims.name.or(claims.preferred_username),
            ),
            None => {
                let info = self.userinfo(endpoints, tokens).await?;
                if info.get("sub").and_then(Value::as_str) != Some(claims.sub.as_str()) {
                    return Err(SsoError::Provider("the user info is someone else's".into()));
                }
                (
                    info.get("email")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    info.get("email_verified").and_then(Value::as_bool),
                    info.get("name")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                        .or(claims.name),
                )
            }
        };
        if verified == Some(false) {
            return Err(SsoError::NoEmail);
        }
        Ok(Person {
            subject: claims.sub,
            email: email.filter(|e| !e.is_empty()).ok_or(SsoError::NoEmail)?,
            name: name.unwrap_or_default(),
        })
    }

    /// The issuer's key `kid` (its keys fetched again once when the id is unknown: keys
    /// rotate).
    async fn key_for(
        &self,
        endpoints: &Endpoints,
        kid: Option<&str>,
    ) -> Result<jsonwebtoken::DecodingKey, SsoError> {
        let pick = |set: &JwkSet| match kid {
            Some(k) => set.find(k).cloned(),
            None if set.keys.len() == 1 => set.keys.first().cloned(),
            None => None,
        };
        if let Some(jwk) = pick(&*endpoints.keys.read().await) {
            return jsonwebtoken::DecodingKey::from_jwk(&jwk)
                .map_err(|e| SsoError::Provider(format!("issuer key: {e}")));
        }
        let uri = endpoints
            .jwks_uri
            .as_deref()
            .ok_or_else(|| SsoError::Provider("no keys".into()))?;
        let fetched = self.get_json(self.http.get(uri)).await?;
        let set: JwkSet = serde_json::from_value(fetched)
            .map_err(|e| SsoError::Provider(format!("issuer keys: {e}")))?;
        let jwk =
            pick(&set).ok_or_else(|| SsoError::Provider("the ID token's key is unknown".into()))?;
        *endpoints.keys.write().await = set;
        jsonwebtoken::DecodingKey::from_jwk(&jwk)
            .map_err(|e| SsoError::Provider(format!("issuer key: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_challenges_are_s256() {
        // BASE64URL(SHA256(verifier)), unpadded (RFC 7636 §4.2), as Python's hashlib and
        // base64 make it; oidc-provider checks it end to end (tests/web.rs).
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r7wW1gFWFOEjXk"),
            "bwWFMyPfdG9qreDhH2lmftFx_dFeLDalzcT1gb_j68g"
        );
    }

    #[test]
    fn only_local_paths_are_followed_after_a_sign_in() {
        assert_eq!(local_path(Some("/watch/a?t=3")), "/watch/a?t=3");
        for bad in [
            None,
            Some(""),
            Some("https://evil.example/"),
            Some("//evil.example/"),
            Some("/\\evil.example"),
            Some("/a b"),
            Some("relative"),
        ] {
            assert_eq!(local_path(bad), "/", "{bad:?}");
        }
    }

    #[test]
    fn github_style_user_info_names_the_person() {
        let info = serde_json::json!({ "id": 583231, "login": "octocat", "name": null,
            "email": "octocat@github.example" });
        assert_eq!(
            person_of_userinfo(&info, "id").unwrap(),
            Person {
                subject: "583231".into(),
                email: "octocat@github.example".into(),
                name: "octocat".into(),
            }
        );
        let private = serde_json::json!({ "id": 1, "login": "someone", "email": null });
        assert!(matches!(
            person_of_userinfo(&private, "id"),
            Err(SsoError::NoEmail)
        ));
        let unverified =
            serde_json::json!({ "sub": "x", "email": "a@b.example", "email_verified": false });
        assert!(matches!(
            person_of_userinfo(&unverified, "sub"),
            Err(SsoError::NoEmail)
        ));
        assert!(matches!(
            person_of_userinfo(&serde_json::json!({ "login": "x" }), "id"),
            Err(SsoError::Provider(_))
        ));
    }
}
