//! Configuration: one typed struct loaded once from an optional TOML file, then flags.
//! Every field has a default, so `sunomi-control serve` runs with none.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// The whole configuration (`--config F`, TOML).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Object store: a directory, `file:///abs/dir`, `s3://bucket/prefix` or `memory://`.
    pub store: String,
    /// The database (state of record): `sqlite://PATH` or `postgres://…`
    /// (`--database`, `SUNOMI_DATABASE`); default a SQLite file `sunomi-control.db` in the
    /// working directory.
    pub database: String,
    /// API listener (players never call it; uploaders and apps do).
    pub listen: SocketAddr,
    /// Admin listener: `/metrics`, `/healthz`, `/readyz`. Keep it on a private network.
    pub admin_listen: Option<SocketAddr>,
    /// Redis URL; none = the embedded in-process queue and workers.
    pub redis: Option<String>,
    /// Base URL of the edge fleet, for playback URLs (`{edge_url}/v/{id}/master.m3u8`).
    pub edge_url: String,
    /// Without Redis there is no purge channel: control then purges each of these edge
    /// admin listeners directly (`POST {url}/purge?id=`), e.g. `http://127.0.0.1:9091`.
    pub edge_admin_urls: Vec<String>,
    /// The edges' admin token (`Authorization: Bearer`), when they have one.
    pub edge_admin_token: Option<String>,
    /// Base URL this API is reached at, for upload `Location`s; default from `Host`.
    pub public_url: Option<String>,
    /// Bounds of the API listener.
    pub api: ApiLimits,
    /// Uploads.
    pub uploads: UploadConfig,
    /// Jobs and workers.
    pub jobs: JobConfig,
    /// Source validation limits.
    pub limits: Limits,
    /// Transcoding.
    pub transcode: TranscodeConfig,
    /// Webhook endpoints.
    pub webhooks: Vec<WebhookEndpoint>,
    /// Where requests made for API callers (webhook endpoints made through the API) may go.
    pub outbound: OutboundConfig,
    /// Where offline models live (`whisper-base.bin`, `open-nsfw.onnx`): `SUNOMI_MODELS`, else
    /// `$XDG_CACHE_HOME/sunomi/models`, else `~/.cache/sunomi/models` (what
    /// `deploy/local/models.sh` fills).
    pub models_dir: PathBuf,
    /// Captions (speech-to-text).
    pub captions: CaptionsConfig,
    /// Moderation.
    pub moderation: ModerationConfig,
    /// AWS clients (Transcribe, Rekognition) for the `aws` backends.
    pub aws: AwsConfig,
    /// People's accounts.
    pub accounts: AccountsConfig,
    /// Counting views (`[views]`).
    pub views: ViewsConfig,
    /// S3 event intake (`[intake]`).
    pub intake: IntakeConfig,
}

/// `[intake]`: S3 event intake. Sources put straight into the store's bucket under `prefix`
/// become videos: S3 announces them on an SQS queue (`deploy/aws` wires it), and the object's
/// metadata names the owner and title (`domain::intake::meta`). Off unless `queue_url` is set;
/// needs an `s3://` store and the `aws` feature. Every control process may read the queue
/// (SQS hands each message to one reader at a time; intake is idempotent besides).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IntakeConfig {
    /// The SQS queue S3 sends the bucket's `ObjectCreated` notifications to.
    pub queue_url: Option<String>,
    /// The key prefix, in the bucket, that intake takes objects from.
    pub prefix: String,
    /// SQS's endpoint, when it differs from `aws.endpoint_url` (a stand-in, a VPC endpoint).
    pub endpoint_url: Option<String>,
    /// Long-poll wait of one receive, in seconds (SQS allows 0 to 20).
    pub wait_secs: i32,
    /// Messages one receive takes (SQS allows 1 to 10).
    pub max_messages: i32,
    /// How long a message taken stays hidden from other readers, in seconds (the queue's own
    /// setting when unset). A message not deleted within it is delivered again.
    pub visibility_timeout_secs: Option<i32>,
}

impl Default for IntakeConfig {
    fn default() -> Self {
        IntakeConfig {
            queue_url: None,
            prefix: "intake/".into(),
            endpoint_url: None,
            wait_secs: 20,
            max_messages: 10,
            visibility_timeout_secs: None,
        }
    }
}

/// `[views]`: views counted from the edges' receipts (`sunomi_origin::views`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ViewsConfig {
    /// Hex secret (at least 16 bytes) shared with every edge's `[views] secret` (or env
    /// SUNOMI_VIEW_SECRET). None: watch pages get no tickets and no view is counted.
    pub secret: Option<String>,
    /// Seconds of media a viewer's player must be served, and of time must pass, for a view
    /// (PeerTube's 10 s); a shorter video needs its whole length.
    pub need_secs: u64,
    /// One view per viewer (an account, or a guest's address that day) and video within this
    /// many seconds.
    pub window_secs: u64,
    /// How long a ticket (and its receipt) is good for, seconds: a page left open longer
    /// earns no view.
    pub ticket_ttl_secs: u64,
}

impl Default for ViewsConfig {
    fn default() -> Self {
        ViewsConfig {
            secret: None,
            need_secs: 10,
            window_secs: 3600,
            ticket_ttl_secs: 6 * 3600,
        }
    }
}

impl ViewsConfig {
    /// The views secret (config, else env SUNOMI_VIEW_SECRET).
    pub fn secret(&self) -> Option<sunomi_origin::views::ViewSecret> {
        let text = self
            .secret
            .clone()
            .or_else(|| std::env::var("SUNOMI_VIEW_SECRET").ok())?;
        sunomi_origin::views::ViewSecret::from_hex(&text)
    }
}

/// `[accounts]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccountsConfig {
    /// Who may register: `open` (default), `approval` (an admin approves each account) or
    /// `closed` (admins make accounts with `sunomi-control users create`).
    pub registration: crate::domain::accounts::Registration,
    /// Mark session cookies `Secure` (and name them `__Host-sunomi_session`). Default: when
    /// `public_url` is `https://…`.
    pub secure_cookies: Option<bool>,
    /// The instance's content-warning policy (`[accounts.content_warnings]`: `default` and
    /// per-flag `flags`): what guests, and accounts that chose nothing, get. Default: warn.
    pub content_warnings: crate::domain::warnings::ContentPolicy,
    /// Sign-in providers (`[[accounts.sso]]`): OpenID Connect, or GitHub-style OAuth 2.0.
    pub sso: Vec<SsoProviderConfig>,
}

/// How a sign-in provider says who someone is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SsoKind {
    /// OpenID Connect: endpoints from `{issuer}/.well-known/openid-configuration`, a signed
    /// ID token (checked against the issuer's keys) names the person.
    #[default]
    Oidc,
    /// OAuth 2.0 with a user-info endpoint (GitHub's kind): `authorization_url`,
    /// `token_url` and `userinfo_url` given; the user info names the person.
    Oauth2,
}

/// `[[accounts.sso]]`: one sign-in provider. Register
/// `{public_url}/api/v1/auth/sso/{id}/callback` as its redirect URI.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SsoProviderConfig {
    /// In URLs: 1–32 of `a-z 0-9 -`.
    pub id: String,
    /// On the button: "Sign in with {name}".
    pub name: String,
    /// `oidc` (default) or `oauth2`.
    #[serde(default)]
    pub kind: SsoKind,
    /// OpenID Connect issuer URL (`oidc`).
    pub issuer: Option<String>,
    /// Authorization endpoint (`oauth2`; GitHub: `https://github.com/login/oauth/authorize`).
    pub authorization_url: Option<String>,
    /// Token endpoint (`oauth2`; GitHub: `https://github.com/login/oauth/access_token`).
    pub token_url: Option<String>,
    /// User-info endpoint (`oauth2`; GitHub: `https://api.github.com/user`).
    pub userinfo_url: Option<String>,
    /// The client id the provider gave this instance.
    pub client_id: String,
    /// Its secret (or env `SUNOMI_SSO_SECRET_{ID}`, the id upper-cased, `-` as `_`).
    pub client_secret: Option<String>,
    /// Scopes asked for (default: `openid email profile`; `oauth2`: `read:user user:email`).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// The user-info field naming the person for good (`oauth2`; default `id`, as GitHub's).
    #[serde(default)]
    pub subject_field: Option<String>,
}

impl SsoProviderConfig {
    /// The client secret (config, else env `SUNOMI_SSO_SECRET_{ID}`).
    pub fn secret(&self) -> Option<String> {
        self.client_secret.clone().or_else(|| {
            let var = format!(
                "SUNOMI_SSO_SECRET_{}",
                self.id.to_ascii_uppercase().replace('-', "_")
            );
            std::env::var(var).ok()
        })
    }

    fn validate(&self) -> Result<(), String> {
        let id_ok = (1..=32).contains(&self.id.len())
            && self
                .id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !id_ok {
            return Err(format!(
                "accounts.sso id {:?} must be 1-32 of a-z 0-9 -",
                self.id
            ));
        }
        let url_ok = |u: &Option<String>| {
            u.as_deref()
                .and_then(|u| url::Url::parse(u).ok())
                .is_some_and(|u| matches!(u.scheme(), "http" | "https"))
        };
        let needed: &[(&str, &Option<String>)] = match self.kind {
            SsoKind::Oidc => &[("issuer", &self.issuer)],
            SsoKind::Oauth2 => &[
                ("authorization_url", &self.authorization_url),
                ("token_url", &self.token_url),
                ("userinfo_url", &self.userinfo_url),
            ],
        };
        for (name, value) in needed {
            if !url_ok(value) {
                return Err(format!(
                    "accounts.sso {}: {name} must be an http(s) URL",
                    self.id
                ));
            }
        }
        if self.client_id.is_empty() || self.name.is_empty() {
            return Err(format!(
                "accounts.sso {}: client_id and name are needed",
                self.id
            ));
        }
        Ok(())
    }
}

impl Config {
    /// Whether session cookies are `Secure`.
    pub fn secure_cookies(&self) -> bool {
        self.accounts.secure_cookies.unwrap_or_else(|| {
            self.public_url
                .as_deref()
                .is_some_and(|u| u.starts_with("https://"))
        })
    }
}

/// Which speech-to-text backend captions use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaptionsBackend {
    /// No captions (the stage is `skipped`).
    Off,
    /// whisper.cpp on this machine.
    Offline,
    /// AWS Transcribe.
    Aws,
}

/// Which moderation backend runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModerationBackend {
    /// No moderation: everything transcoded is published.
    Off,
    /// The open_nsfw classifier on sampled frames.
    Offline,
    /// AWS Rekognition content moderation.
    Aws,
}

/// `[captions]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CaptionsConfig {
    /// The backend (default `offline`).
    pub backend: CaptionsBackend,
    /// The offline ggml model (default `{models_dir}/whisper-base.bin`).
    pub model: Option<PathBuf>,
    /// The spoken language (ISO 639-1) when every video has the same; default: detected
    /// (or the upload's `meta.language`).
    pub language: Option<String>,
    /// Threads for offline speech-to-text (0: every core).
    pub threads: usize,
}

/// `[moderation]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModerationConfig {
    /// The backend (default `offline`).
    pub backend: ModerationBackend,
    /// The offline ONNX model (default `{models_dir}/open-nsfw.onnx`).
    pub model: Option<PathBuf>,
    /// Offline: besides every key frame, one frame at a random offset is classified in every
    /// interval of this many seconds.
    pub sample_every_secs: f64,
    /// Labels below this confidence (0–100) are not reported (Rekognition's `MinConfidence`).
    pub min_confidence: f32,
    /// What the labels decide.
    pub policy: crate::domain::moderation::Policy,
}

/// `[aws]`: how the `aws` backends reach AWS. Credentials come from the SDK's usual chain
/// (environment, profile, instance role).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AwsConfig {
    /// Region (default: the SDK's chain, e.g. `AWS_REGION`).
    pub region: Option<String>,
    /// Endpoint override (a local stand-in in tests; a VPC endpoint in production).
    pub endpoint_url: Option<String>,
    /// Transcribe's endpoint, when it differs from `endpoint_url`.
    pub transcribe_endpoint_url: Option<String>,
    /// Rekognition's endpoint, when it differs from `endpoint_url`.
    pub rekognition_endpoint_url: Option<String>,
    /// Bucket Transcribe writes its output to (default: the store's bucket).
    pub output_bucket: Option<String>,
    /// Key prefix of Transcribe's output.
    pub output_prefix: Option<String>,
    /// First poll after starting a job, in milliseconds (doubles up to `poll_max_secs`).
    pub poll_initial_ms: Option<u64>,
    /// Longest wait between polls, in seconds.
    pub poll_max_secs: Option<u64>,
    /// Give up on a job after this many seconds.
    pub job_timeout_secs: Option<u64>,
}

/// Bounds of the API listener (its callers are the internet: browsers with upload tokens,
/// anyone trying keys).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiLimits {
    /// Open connections at most; one more is answered 503 and closed.
    pub max_connections: usize,
    /// A request head (and, on a kept-alive connection, the next one) must arrive within
    /// this long, or the connection is closed.
    pub header_timeout_secs: u64,
    /// A request body that sends nothing for this long ends there (an error for the handler;
    /// a tus chunk keeps what arrived).
    pub body_idle_timeout_secs: u64,
    /// Event streams (SSE) one API key may hold open at once (more: 429).
    pub max_streams_per_key: usize,
}

impl Default for ApiLimits {
    fn default() -> Self {
        ApiLimits {
            max_connections: 4096,
            header_timeout_secs: 10,
            body_idle_timeout_secs: 30,
            max_streams_per_key: 16,
        }
    }
}

/// Upload settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UploadConfig {
    /// Largest upload accepted (tus `Tus-Max-Size`), bytes.
    pub max_size: u64,
    /// An unfinished upload expires this long after it was created.
    pub expiry_secs: u64,
    /// Delegated upload tokens live this long.
    pub token_ttl_secs: u64,
    /// Uploads in flight per control instance (more → 503 + Retry-After).
    pub max_concurrent_patches: usize,
    /// How often stalled uploads are expired (and crash-interrupted ones finished).
    pub sweep_interval_secs: u64,
    /// A chunk whose client sends nothing for this long ends there (what arrived is kept).
    pub idle_timeout_secs: u64,
    /// A chunk slower than this on average (bytes a second, after its first
    /// `idle_timeout_secs`) ends there, what arrived kept: a trickle cannot hold a PATCH
    /// slot for hours. 0: no minimum.
    pub min_bytes_per_sec: u64,
}

/// Job settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JobConfig {
    /// A delivered job whose worker sends no heartbeat for this long is delivered again.
    pub visibility_timeout_secs: u64,
    /// Attempts of a transcode before it goes to the dead letters.
    pub max_attempts: u32,
    /// First retry delay; doubles each attempt.
    pub backoff_base_ms: u64,
    /// Longest retry delay.
    pub backoff_max_secs: u64,
    /// Jobs run at once by an embedded or `worker` process.
    pub concurrency: usize,
    /// Webhook delivery attempts (with doubling delays from `backoff_base_ms` capped at
    /// `webhook_backoff_max_secs`, the default spans more than 24 h).
    pub webhook_max_attempts: u32,
    /// Longest delay between webhook attempts.
    pub webhook_backoff_max_secs: u64,
}

/// Validation limits of a source.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Shortest video accepted, seconds.
    pub min_duration_secs: f64,
    /// Longest video accepted, seconds (declared or decoded).
    pub max_duration_secs: f64,
}

/// Transcode settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TranscodeConfig {
    /// x264 preset.
    pub preset: String,
    /// Work folder for sources and outputs (default: the system temp folder).
    pub work_dir: Option<PathBuf>,
}

/// Where requests made for API callers may go (see [`crate::outbound`]).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutboundConfig {
    /// Internal networks (loopback, private, link-local…) that webhook endpoints made
    /// through the API may point into anyway, as CIDRs (`["127.0.0.0/8", "::1/128"]`).
    /// Empty by default: every internal address is refused.
    pub allow_networks: Vec<String>,
}

/// A webhook endpoint in the config file (the operator's own: its URL is not checked
/// against [`OutboundConfig`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookEndpoint {
    /// A stable name of the endpoint (default: derived from its URL). Queued messages name
    /// their endpoint by it, so reordering or editing the list never sends one endpoint's
    /// messages elsewhere or signs them with another's secret.
    #[serde(default)]
    pub id: Option<String>,
    /// Where to POST.
    pub url: String,
    /// `whsec_…` secret (base64 after the prefix), as Standard Webhooks define.
    pub secret: String,
}

impl WebhookEndpoint {
    /// Its id: the configured one, else `ep_` and 16 hex digits of its URL's SHA-256.
    pub fn id(&self) -> String {
        use sha2::Digest;
        self.id.clone().unwrap_or_else(|| {
            let hash = sha2::Sha256::digest(self.url.as_bytes());
            format!("ep_{}", &hex::encode(hash)[..16])
        })
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            store: "./sunomi-data".into(),
            database: crate::db::DEFAULT_URL.into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 8090)),
            admin_listen: None,
            redis: None,
            edge_url: "http://127.0.0.1:8080".into(),
            public_url: None,
            edge_admin_urls: Vec::new(),
            edge_admin_token: std::env::var("SUNOMI_ADMIN_TOKEN").ok(),
            api: ApiLimits::default(),
            outbound: OutboundConfig::default(),
            uploads: UploadConfig::default(),
            jobs: JobConfig::default(),
            limits: Limits::default(),
            transcode: TranscodeConfig::default(),
            webhooks: Vec::new(),
            models_dir: default_models_dir(),
            captions: CaptionsConfig::default(),
            moderation: ModerationConfig::default(),
            aws: AwsConfig::default(),
            accounts: AccountsConfig::default(),
            views: ViewsConfig::default(),
            intake: IntakeConfig::default(),
        }
    }
}

/// `SUNOMI_MODELS`, else the user's cache folder's `sunomi/models`.
fn default_models_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("SUNOMI_MODELS") {
        return PathBuf::from(dir);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from("."));
    cache.join("sunomi").join("models")
}

impl Default for CaptionsConfig {
    fn default() -> Self {
        CaptionsConfig {
            backend: CaptionsBackend::Offline,
            model: None,
            language: None,
            threads: 0,
        }
    }
}

impl Default for ModerationConfig {
    fn default() -> Self {
        ModerationConfig {
            backend: ModerationBackend::Offline,
            model: None,
            sample_every_secs: 2.0,
            min_confidence: 50.0,
            policy: crate::domain::moderation::Policy::default(),
        }
    }
}

impl Default for UploadConfig {
    fn default() -> Self {
        UploadConfig {
            max_size: 64 << 30,
            expiry_secs: 24 * 3600,
            token_ttl_secs: 3600,
            max_concurrent_patches: 32,
            sweep_interval_secs: 30,
            idle_timeout_secs: 60,
            min_bytes_per_sec: 4 * 1024,
        }
    }
}

impl Default for JobConfig {
    fn default() -> Self {
        JobConfig {
            visibility_timeout_secs: 60,
            max_attempts: 3,
            backoff_base_ms: 2000,
            backoff_max_secs: 300,
            concurrency: 1,
            webhook_max_attempts: 35,
            webhook_backoff_max_secs: 3600,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            min_duration_secs: 0.5,
            max_duration_secs: 6.0 * 3600.0,
        }
    }
}

impl Default for TranscodeConfig {
    fn default() -> Self {
        TranscodeConfig {
            preset: "veryfast".into(),
            work_dir: None,
        }
    }
}

impl Config {
    /// Reads `path` (or the defaults without one) and checks it.
    pub fn load(path: Option<&Path>) -> Result<Config, String> {
        let config = match path {
            None => Config::default(),
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| format!("reading {}: {e}", p.display()))?;
                toml::from_str(&text).map_err(|e| format!("parsing {}: {e}", p.display()))?
            }
        };
        config.validate()?;
        Ok(config)
    }

    /// Checks values that would make the service misbehave.
    pub fn validate(&self) -> Result<(), String> {
        crate::db::parse_url(&self.database).map_err(|e| e.to_string())?;
        if self.api.max_connections == 0
            || self.api.max_streams_per_key == 0
            || self.api.header_timeout_secs == 0
            || self.api.body_idle_timeout_secs == 0
        {
            return Err(
                "api.max_connections, api.max_streams_per_key and the api timeouts must be at least 1"
                    .into(),
            );
        }
        if self.jobs.max_attempts == 0 || self.jobs.webhook_max_attempts == 0 {
            return Err(
                "jobs.max_attempts and jobs.webhook_max_attempts must be at least 1".into(),
            );
        }
        if self.jobs.visibility_timeout_secs < 3 {
            return Err("jobs.visibility_timeout_secs must be at least 3".into());
        }
        if self.jobs.concurrency == 0 {
            return Err("jobs.concurrency must be at least 1".into());
        }
        if self.uploads.max_size == 0
            || self.uploads.max_concurrent_patches == 0
            || self.uploads.sweep_interval_secs == 0
            || self.uploads.idle_timeout_secs == 0
        {
            return Err(
                "uploads.max_size, max_concurrent_patches, sweep_interval_secs and idle_timeout_secs must be positive"
                    .into(),
            );
        }
        if !(self.limits.min_duration_secs >= 0.0
            && self.limits.max_duration_secs > self.limits.min_duration_secs)
        {
            return Err("limits: need 0 <= min_duration_secs < max_duration_secs".into());
        }
        for w in &self.webhooks {
            crate::domain::webhooks::Signer::from_secret(&w.secret)
                .map_err(|e| format!("webhook {}: {e}", w.url))?;
            url::Url::parse(&w.url).map_err(|e| format!("webhook {}: {e}", w.url))?;
        }
        crate::outbound::Policy::new(&self.outbound.allow_networks)?;
        let mut ids = std::collections::HashSet::new();
        for p in &self.accounts.sso {
            p.validate()?;
            if !ids.insert(p.id.as_str()) {
                return Err(format!("accounts.sso id {:?} is used twice", p.id));
            }
        }
        if self.views.secret.is_some() && self.views.secret().is_none() {
            return Err("views.secret must be at least 16 bytes of hex".into());
        }
        if self.views.need_secs == 0
            || self.views.window_secs == 0
            || self.views.ticket_ttl_secs == 0
        {
            return Err(
                "views.need_secs, window_secs and ticket_ttl_secs must be at least 1".into(),
            );
        }
        self.moderation.policy.validate()?;
        let m = &self.moderation;
        let sampling = m.sample_every_secs.is_finite() && m.sample_every_secs >= 0.1;
        if !(sampling && (0.0..=100.0).contains(&m.min_confidence)) {
            return Err(
                "moderation: need sample_every_secs >= 0.1 and 0 <= min_confidence <= 100".into(),
            );
        }
        if let Some(l) = &self.captions.language {
            if crate::analysis::captions::primary_language(l).as_deref() != Some(l.as_str()) {
                return Err(format!(
                    "captions.language {l:?}: use a lowercase ISO 639-1 code such as \"en\""
                ));
            }
        }
        if let Some(q) = &self.intake.queue_url {
            url::Url::parse(q).map_err(|e| format!("intake.queue_url: {e}"))?;
            let i = &self.intake;
            if i.prefix.is_empty()
                || !(0..=20).contains(&i.wait_secs)
                || !(1..=10).contains(&i.max_messages)
            {
                return Err(
                    "intake: need a prefix, wait_secs 0 to 20 and max_messages 1 to 10".into(),
                );
            }
            if !cfg!(feature = "aws") {
                return Err("intake.queue_url needs a build with the aws feature".into());
            }
        }
        url::Url::parse(&self.edge_url).map_err(|e| format!("edge_url: {e}"))?;
        for u in &self.edge_admin_urls {
            url::Url::parse(u).map_err(|e| format!("edge_admin_urls {u}: {e}"))?;
        }
        Ok(())
    }

    /// The offline speech-to-text model's path.
    pub fn captions_model(&self) -> PathBuf {
        self.captions
            .model
            .clone()
            .unwrap_or_else(|| self.models_dir.join("whisper-base.bin"))
    }

    /// The offline moderation model's path.
    pub fn moderation_model(&self) -> PathBuf {
        self.moderation
            .model
            .clone()
            .unwrap_or_else(|| self.models_dir.join("open-nsfw.onnx"))
    }

    /// The visibility timeout.
    pub fn visibility(&self) -> Duration {
        Duration::from_secs(self.jobs.visibility_timeout_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_webhook_retries_span_a_day() {
        let jobs = JobConfig::default();
        let total: Duration = (1..jobs.webhook_max_attempts)
            .map(|a| {
                crate::jobs::backoff(
                    a,
                    Duration::from_millis(jobs.backoff_base_ms),
                    Duration::from_secs(jobs.webhook_backoff_max_secs),
                )
            })
            .sum();
        assert!(total >= Duration::from_secs(24 * 3600), "{total:?}");
        assert!(total < Duration::from_secs(26 * 3600), "{total:?}");
    }

    #[test]
    fn defaults_validate_and_bad_values_do_not() {
        assert!(Config::default().validate().is_ok());
        let mut c = Config::default();
        c.jobs.max_attempts = 0;
        assert!(c.validate().is_err());
        let mut c = Config::default();
        c.webhooks.push(WebhookEndpoint {
            id: None,
            url: "http://x/".into(),
            secret: "nope".into(),
        });
        assert!(c.validate().is_err());
    }
}
