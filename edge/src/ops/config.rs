//! The edge's configuration: one `serde(default)` struct, loaded from TOML, overridden by
//! flags and environment, checked by [`EdgeConfig::validate`].

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Everything an operator can tune.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EdgeConfig {
    /// Object store holding the videos (directory, `file:///dir`, `s3://bucket/prefix`, `memory://`).
    pub store: Option<String>,
    /// Address players connect to.
    pub listen: String,
    /// Address of the admin listener (`/metrics`, `/healthz`, `/readyz`, `POST /purge`).
    pub admin: String,
    /// Bearer token the admin listener's mutating endpoints (purge) require, at least 16
    /// characters (or env SUNOMI_ADMIN_TOKEN). Without one, the admin listener must be on a
    /// loopback address (the edge refuses to start otherwise).
    pub admin_token: Option<String>,
    /// HLS segment target duration in milliseconds (whole fragments are grouped to reach it).
    pub segment_target_ms: u32,
    /// Worker threads per listener (0: one per core).
    pub threads: usize,
    /// In-memory caches.
    pub cache: CacheConfig,
    /// Object storage client behaviour.
    pub storage: StorageConfig,
    /// Graceful shutdown.
    pub shutdown: ShutdownConfig,
    /// Bounds on client connections of the player listener.
    pub connections: ConnectionsConfig,
    /// Fleet coordination through Redis (off without `redis`).
    pub fleet: FleetConfig,
    /// Content keys, key URL tokens and which videos must be encrypted.
    pub encryption: EncryptionConfig,
    /// HTTPS (HTTP/1.1 and HTTP/2) for players on a second listener.
    pub tls: TlsConfig,
    /// View receipts: the edge's part in counting views (`origin::views`).
    pub views: ViewsConfig,
    /// The picture service that draws thumbnails, storyboards and animated previews.
    pub pictures: PicturesConfig,
    /// Unix socket through which a new binary started with `--upgrade` takes over the
    /// listening sockets (default: `sunomi-edge-{listen}.upgrade.sock` in the runtime dir).
    pub upgrade_socket: Option<PathBuf>,
}

/// The HTTPS player listener. Same routes, caches and limits as the plain one; ALPN offers
/// `h2` then `http/1.1`; TLS 1.2 and 1.3 (Mozilla "intermediate").
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// Address of the HTTPS listener (none: no HTTPS).
    pub listen: Option<String>,
    /// The default certificate chain (PEM): served to clients whose SNI matches no other.
    pub cert: Option<PathBuf>,
    /// Its private key (PEM).
    pub key: Option<PathBuf>,
    /// More certificates, each chosen for the names it carries (SNI).
    pub certificates: Vec<CertificateFiles>,
    /// Seconds between checks of the certificate files for replacement (0: only on
    /// reload). A replaced file is served to new connections; open ones keep theirs.
    pub reload_interval_secs: u64,
    /// Whether an idle TLS connection gives its record buffers back (OpenSSL's
    /// `SSL_MODE_RELEASE_BUFFERS`, nginx's choice): less memory per idle connection, an
    /// allocation and a free per read and write (see `tls::keep_record_buffers`). Needs a
    /// restart.
    pub release_buffers: bool,
}

/// A certificate chain and its key, as PEM files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateFiles {
    /// The certificate chain, leaf first.
    pub cert: PathBuf,
    /// The private key.
    pub key: PathBuf,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            listen: None,
            cert: None,
            key: None,
            certificates: Vec::new(),
            reload_interval_secs: 30,
            release_buffers: false,
        }
    }
}

impl TlsConfig {
    /// Every certificate to load, the default first.
    pub fn files(&self) -> Vec<CertificateFiles> {
        let default = match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => Some(CertificateFiles {
                cert: cert.clone(),
                key: key.clone(),
            }),
            _ => None,
        };
        default
            .into_iter()
            .chain(self.certificates.iter().cloned())
            .collect()
    }

    fn validate(&self, others: &[(&str, &String)]) -> Result<(), String> {
        if self.cert.is_some() != self.key.is_some() {
            return Err("tls.cert and tls.key go together".into());
        }
        let Some(listen) = &self.listen else {
            return Ok(());
        };
        if listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(format!("tls.listen address {listen:?} is not HOST:PORT"));
        }
        if let Some((name, _)) = others.iter().find(|(_, addr)| *addr == listen) {
            return Err(format!("tls.listen and {name} addresses must differ"));
        }
        if self.files().is_empty() {
            return Err("tls.listen needs a certificate: --tls-cert and --tls-key".into());
        }
        Ok(())
    }
}

/// Where content keys come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum KeySource {
    /// Derived per video and key id from `master_key` (HMAC-SHA256).
    #[default]
    Local,
    /// Asked of an HTTP key service: `GET {key_service_url}/{video}/{kid}` → 16 bytes.
    Http,
}

/// Encryption (`/v/{id}/aes/…`): keys, tokens, clear lead, per-video requirement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EncryptionConfig {
    /// Where keys come from.
    pub key_source: KeySource,
    /// Hex master secret for `local` keys (or env SUNOMI_MASTER_KEY). No secret: the
    /// encrypted profile answers 503.
    pub master_key: Option<String>,
    /// Base URL of the key service for `http` keys (`http://host:port/prefix`).
    pub key_service_url: Option<String>,
    /// Key id used for new playlists; change it to rotate (old ids stay derivable).
    pub current_key_id: String,
    /// Hex secret signing key URL tokens (or env SUNOMI_TOKEN_SECRET).
    pub token_secret: Option<String>,
    /// Lifetime of tokens made by `sunomi-edge token`, seconds.
    pub token_ttl_secs: u64,
    /// Leading segments served clear (faster start).
    pub clear_lead_segments: u64,
    /// Video ids that are only served encrypted (clear requests get 403).
    pub require: Vec<String>,
    /// Longest lifetime a viewer token may have, seconds: a token expiring further ahead is
    /// refused (a leaked token cannot be good forever).
    pub max_token_ttl_secs: u64,
    /// Seconds a key fetched from the key service is kept in memory.
    pub key_cache_secs: u64,
    /// The player listener's public base URL as players reach it (`https://cdn.example.com`,
    /// no trailing `/`). With it, protected MPDs name their ClearKey licence by absolute URL
    /// (`dashif:Laurl`): players resolve that URL against their page, not the MPD, so a
    /// relative one would miss. Without it the MPDs name none, and players are configured
    /// with the licence URL (`/v/{id}/keys/clearkey?{token}`).
    pub public_url: Option<String>,
}

impl Default for EncryptionConfig {
    fn default() -> Self {
        EncryptionConfig {
            key_source: KeySource::Local,
            master_key: None,
            key_service_url: None,
            current_key_id: "k1".into(),
            token_secret: None,
            token_ttl_secs: 6 * 3600,
            clear_lead_segments: 0,
            require: Vec::new(),
            key_cache_secs: 300,
            max_token_ttl_secs: 7 * 24 * 3600,
            public_url: None,
        }
    }
}

/// `[views]`: the view tickets players send (CMCD `sid`) and the receipts this edge answers
/// with once it has served a ticket's player the media a view needs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ViewsConfig {
    /// Hex secret (at least 16 bytes) shared with the control plane's `[views] secret` (or env
    /// SUNOMI_VIEW_SECRET). None: tickets are ignored and no view is ever counted.
    pub secret: Option<String>,
    /// Tickets tallied at once (the least recently served are dropped first): bounds the
    /// memory players can make the edge spend on them.
    pub max_tickets: u64,
}

impl Default for ViewsConfig {
    fn default() -> Self {
        ViewsConfig {
            secret: None,
            max_tickets: 100_000,
        }
    }
}

impl ViewsConfig {
    /// The views secret (config or env SUNOMI_VIEW_SECRET).
    pub fn secret(&self) -> Option<sunomi_origin::views::ViewSecret> {
        hex_secret(&self.secret, "SUNOMI_VIEW_SECRET")
            .and_then(sunomi_origin::views::ViewSecret::new)
    }

    fn validate(&self) -> Result<(), String> {
        if self.secret.is_some() && self.secret().is_none() {
            return Err("views.secret must be at least 16 bytes of hex".into());
        }
        if self.max_tickets == 0 {
            return Err("views.max_tickets must be at least 1".into());
        }
        Ok(())
    }
}

/// `[pictures]`: where thumbnails, storyboards and animated previews are drawn. The edge
/// decodes no video (it links no FFmpeg): it asks the picture service
/// (`sunomi-origin pictures`) once per picture in the fleet — the picture's owner edge asks,
/// under the fill lock — and caches the answer like a segment.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PicturesConfig {
    /// The service's base URL (`http://host:port`). None: picture URLs answer 503.
    pub service_url: Option<String>,
    /// Hex secret (at least 16 bytes) the service requires as a bearer token (or env
    /// SUNOMI_PICTURES_SECRET); the same value as the service's.
    pub secret: Option<String>,
    /// Seconds a picture may take before the request fails with 503.
    pub timeout_secs: u64,
}

impl Default for PicturesConfig {
    fn default() -> Self {
        PicturesConfig {
            service_url: None,
            secret: None,
            timeout_secs: 20,
        }
    }
}

impl PicturesConfig {
    /// The shared secret (config or env SUNOMI_PICTURES_SECRET), as the hex text sent.
    pub fn secret(&self) -> Option<String> {
        hex_secret(&self.secret, "SUNOMI_PICTURES_SECRET").map(hex::encode)
    }

    fn validate(&self) -> Result<(), String> {
        let Some(url) = &self.service_url else {
            return Ok(());
        };
        if !url.starts_with("http://") {
            return Err(format!(
                "pictures.service_url {url:?} must be http://host:port"
            ));
        }
        if self.secret().is_none() {
            return Err("pictures.service_url needs pictures.secret (or \
                        SUNOMI_PICTURES_SECRET): at least 16 bytes of hex"
                .into());
        }
        if self.timeout_secs == 0 {
            return Err("pictures.timeout_secs must be at least 1".into());
        }
        Ok(())
    }
}

/// Which objects a non-owner edge keeps after fetching them from their owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Admission {
    /// Keep everything fetched from a peer (the most memory, the fewest peer fetches).
    Always,
    /// Keep an object from its second request within `admission_window_secs` on: one-off
    /// requests do not evict hot objects, a flash crowd is served from every edge's memory.
    SecondHit,
    /// Never keep a peer's object: every request for it goes to the owner (one copy per
    /// fleet; used to measure the peer tier).
    Never,
}

/// Fleet coordination: membership, owner routing, fill locks, shared metadata, prefetch,
/// purge. Every timing is in milliseconds unless named otherwise.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FleetConfig {
    /// Redis URL (`redis://HOST:PORT[/DB]`). None: a fleet of one.
    pub redis: Option<String>,
    /// `IP:PORT` peers use to reach this edge's player listener (default: `listen`).
    pub advertise: Option<String>,
    /// This edge's name in Redis (default: the advertised address).
    pub node: Option<String>,
    /// Hex secret (at least 16 bytes) shared by the fleet's edges, signing requests between
    /// them (or env SUNOMI_FLEET_SECRET). Required with `redis`: a request that claims to
    /// come from a peer is honoured only when signed with it.
    pub secret: Option<String>,
    /// How often the heartbeat is written and the member list read.
    pub heartbeat_interval_ms: u64,
    /// Lifetime of the heartbeat key: a member that stops beating is gone after this.
    pub heartbeat_ttl_ms: u64,
    /// Consecutive member-list reads a new member must appear in before it joins the ring.
    pub join_after_polls: u32,
    /// Consecutive member-list reads a member must be missing from before it leaves the ring.
    pub leave_after_polls: u32,
    /// Timeout of one Redis command; a slower Redis counts as down.
    pub redis_timeout_ms: u64,
    /// TCP connect timeout to a peer edge.
    pub peer_connect_timeout_ms: u64,
    /// Whole-request timeout to a peer edge; after it the asker reads storage itself.
    pub peer_timeout_ms: u64,
    /// How long a peer that failed to answer is skipped (its keys fall to the next member).
    pub peer_suspect_ms: u64,
    /// Idle keep-alive connections kept per peer.
    pub peer_pool_size: usize,
    /// Lifetime of a fill lock (longer than the slowest storage read you expect).
    pub fill_lock_ttl_ms: u64,
    /// How long a fill waits for another edge's fill of the same object before reading
    /// storage itself.
    pub lock_wait_ms: u64,
    /// What a non-owner keeps of what it fetched from an owner.
    pub admission: Admission,
    /// Window in which a second request admits an object (`second-hit`).
    pub admission_window_secs: u64,
    /// Seconds a manifest or track index shared in Redis lives.
    pub shared_metadata_ttl_secs: u64,
    /// Segments after the requested one to fill ahead (0: no prefetch). CMCD `nor` sent by
    /// players is honoured in addition.
    pub prefetch_segments: u32,
    /// Prefetches in flight at once per edge; more are skipped, not queued.
    pub prefetch_concurrency: usize,
}

/// Cache budgets and lifetimes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheConfig {
    /// Bytes of media segments kept in memory.
    pub segment_bytes: u64,
    /// Bytes of manifests, track indexes and playlists kept in memory.
    pub metadata_bytes: u64,
    /// Seconds a manifest, track index or playlist is reused before storage is asked again
    /// (how soon a re-published video is seen without a purge).
    pub metadata_ttl_secs: u64,
    /// Seconds "no such video" is remembered (requests for unknown ids cost no storage
    /// read meanwhile; a purge of the id forgets it at once).
    pub negative_ttl_secs: u64,
    /// Seconds past `metadata_ttl_secs` a playlist, manifest, playback record or track head
    /// is still served when storage is unreachable (stale-if-error; segments, immutable, are
    /// served from the cache as long as they are there). 0 turns it off.
    pub stale_if_error_secs: u64,
    /// Keep segments in memory. Off, every segment request reads storage (for benchmarking
    /// the packager, or when a CDN in front does all the caching).
    pub segments_enabled: bool,
    /// `max-age` sent with playlists.
    pub playlist_max_age_secs: u64,
    /// Cached segments at least this long are held in read-only mappings of their own that
    /// plain-HTTP responses hand to the socket without copying them (the same memory: nothing
    /// is held twice). 0 turns it off. Restart to change.
    pub zero_copy_min_bytes: u64,
    /// Whether those mappings use 2 MiB transparent huge pages where a segment is close to a
    /// multiple of 2 MiB (fewer page-table entries to hand over). Turn off on a host whose
    /// `transparent_hugepage/defrag` compacts memory synchronously and stalls fills; 4 KiB
    /// pages still go without a copy. Restart to change.
    pub zero_copy_huge_pages: bool,
}

/// How the edge talks to object storage.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// TCP connect timeout, milliseconds.
    pub connect_timeout_ms: u64,
    /// Whole-request timeout, milliseconds.
    pub request_timeout_ms: u64,
    /// Retries of a failed request before answering 503.
    pub max_retries: usize,
    /// `Retry-After` seconds sent with a 503.
    pub retry_after_secs: u64,
    /// Storage requests in flight at once; more wait up to `busy_wait_ms`, then get 503.
    pub max_concurrent_reads: usize,
    /// How long a storage request waits for one of the `max_concurrent_reads` slots.
    pub busy_wait_ms: u64,
}

/// Bounds on the player listener's connections (the admin listener has fixed small ones).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConnectionsConfig {
    /// Open connections at most; one more is answered 503 and closed. Lowered at start to
    /// fit the process's open-file limit.
    pub max: usize,
    /// Milliseconds from accepting a connection to having its first request header.
    pub header_timeout_ms: u64,
    /// Milliseconds a kept-alive connection may take, after a response, to send its next
    /// request header (idle time included); enforced between one and two of these, so no
    /// clock is read per request.
    pub idle_timeout_ms: u64,
    /// Milliseconds a response write may make no progress before the connection is dropped
    /// (a client that stopped reading).
    pub write_timeout_ms: u64,
    /// Bytes of a player connection's write buffer. A response whose header and body fit
    /// leaves in one write (one packet, one wake-up of the player); a larger body costs a
    /// second write. Pingora's default (1460) splits any playlist over ~1.1 KB — every
    /// signed playlist, whose URIs all carry the token.
    pub write_buffer_bytes: usize,
}

impl Default for ConnectionsConfig {
    fn default() -> Self {
        ConnectionsConfig {
            max: 16_384,
            header_timeout_ms: 10_000,
            idle_timeout_ms: 30_000,
            write_timeout_ms: 30_000,
            write_buffer_bytes: 16 * 1024,
        }
    }
}

/// How SIGTERM is handled.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ShutdownConfig {
    /// Seconds after SIGTERM during which requests in flight finish. SIGTERM itself stops
    /// accepting, takes the edge out of the ring and closes kept-alive connections waiting
    /// for their next request (clients reconnect to another edge).
    pub grace_period_secs: u64,
    /// Seconds the runtimes get after the grace period before the process exits.
    pub timeout_secs: u64,
}

impl Default for EdgeConfig {
    fn default() -> Self {
        EdgeConfig {
            store: None,
            listen: "127.0.0.1:8080".into(),
            admin: "127.0.0.1:9090".into(),
            admin_token: None,
            segment_target_ms: sunomi_packager::segment::DEFAULT_TARGET_MS,
            threads: 0,
            cache: CacheConfig::default(),
            storage: StorageConfig::default(),
            shutdown: ShutdownConfig::default(),
            connections: ConnectionsConfig::default(),
            fleet: FleetConfig::default(),
            encryption: EncryptionConfig::default(),
            tls: TlsConfig::default(),
            views: ViewsConfig::default(),
            pictures: PicturesConfig::default(),
            upgrade_socket: None,
        }
    }
}

impl Default for FleetConfig {
    fn default() -> Self {
        FleetConfig {
            redis: None,
            advertise: None,
            node: None,
            secret: None,
            heartbeat_interval_ms: 1_000,
            heartbeat_ttl_ms: 5_000,
            join_after_polls: 2,
            leave_after_polls: 2,
            redis_timeout_ms: 250,
            peer_connect_timeout_ms: 250,
            peer_timeout_ms: 2_000,
            peer_suspect_ms: 5_000,
            peer_pool_size: 128,
            fill_lock_ttl_ms: 10_000,
            lock_wait_ms: 2_000,
            admission: Admission::SecondHit,
            admission_window_secs: 300,
            shared_metadata_ttl_secs: 300,
            prefetch_segments: 1,
            prefetch_concurrency: 4,
        }
    }
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            segment_bytes: 512 * 1024 * 1024,
            metadata_bytes: 64 * 1024 * 1024,
            metadata_ttl_secs: 60,
            negative_ttl_secs: 10,
            stale_if_error_secs: 300,
            segments_enabled: true,
            playlist_max_age_secs: 60,
            zero_copy_min_bytes: 256 * 1024,
            zero_copy_huge_pages: true,
        }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            connect_timeout_ms: 2_000,
            request_timeout_ms: 10_000,
            max_retries: 2,
            retry_after_secs: 5,
            max_concurrent_reads: 64,
            busy_wait_ms: 2_000,
        }
    }
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        ShutdownConfig {
            grace_period_secs: 1,
            timeout_secs: 3,
        }
    }
}

impl EdgeConfig {
    /// Parses a TOML configuration file's text.
    pub fn from_toml(text: &str) -> Result<EdgeConfig, toml::de::Error> {
        toml::from_str(text)
    }

    /// Checks values that would make the edge misbehave rather than fail to start.
    pub fn validate(&self) -> Result<(), String> {
        if self.store.as_deref().is_none_or(str::is_empty) {
            return Err("no store: pass --store or set `store` in the config".into());
        }
        for (name, addr) in [("listen", &self.listen), ("admin", &self.admin)] {
            if addr.parse::<std::net::SocketAddr>().is_err() {
                return Err(format!("{name} address {addr:?} is not HOST:PORT"));
            }
        }
        if self.listen == self.admin {
            return Err("listen and admin addresses must differ".into());
        }
        match self.admin_token() {
            Some(t) if t.len() < 16 => {
                return Err("admin_token must be at least 16 characters".into());
            }
            Some(_) => {}
            None => {
                let loopback = self
                    .admin
                    .parse::<std::net::SocketAddr>()
                    .is_ok_and(|a| a.ip().is_loopback());
                if !loopback {
                    return Err(format!(
                        "the admin listener {} is reachable from other hosts: set admin_token \
                         (or SUNOMI_ADMIN_TOKEN), or listen on a loopback address",
                        self.admin
                    ));
                }
            }
        }
        let c = &self.connections;
        if c.max == 0
            || c.header_timeout_ms == 0
            || c.idle_timeout_ms == 0
            || c.write_timeout_ms == 0
        {
            return Err("connections.max and every connections timeout must be above 0".into());
        }
        if self.storage.max_concurrent_reads == 0 {
            return Err("storage.max_concurrent_reads must be at least 1".into());
        }
        if !(500..=60_000).contains(&self.segment_target_ms) {
            return Err(format!(
                "segment_target_ms {} is outside 500..=60000",
                self.segment_target_ms
            ));
        }
        if self.cache.metadata_bytes < 1024 * 1024 {
            return Err("cache.metadata_bytes must be at least 1 MiB".into());
        }
        self.tls
            .validate(&[("listen", &self.listen), ("admin", &self.admin)])?;
        self.fleet.validate()?;
        self.encryption.validate()?;
        self.views.validate()?;
        self.pictures.validate()?;
        if self.fleet.redis.is_some() {
            self.advertised()?;
        }
        Ok(())
    }

    /// The admin bearer token (config, else env SUNOMI_ADMIN_TOKEN).
    pub fn admin_token(&self) -> Option<String> {
        self.admin_token
            .clone()
            .or_else(|| std::env::var("SUNOMI_ADMIN_TOKEN").ok())
            .filter(|t| !t.is_empty())
    }

    /// The address peers reach this edge at.
    pub fn advertised(&self) -> Result<std::net::SocketAddr, String> {
        let addr = self.fleet.advertise.as_deref().unwrap_or(&self.listen);
        let parsed: std::net::SocketAddr = addr
            .parse()
            .map_err(|_| format!("advertise address {addr:?} is not IP:PORT"))?;
        if parsed.ip().is_unspecified() {
            return Err(format!(
                "listening on {addr} needs --advertise with an address peers can reach"
            ));
        }
        Ok(parsed)
    }

    /// The edge's name in the fleet.
    pub fn node_name(&self) -> String {
        self.fleet
            .node
            .clone()
            .unwrap_or_else(|| self.fleet.advertise.clone().unwrap_or(self.listen.clone()))
    }

    /// The socket a `--upgrade` binary takes the listeners over through.
    pub fn upgrade_socket(&self) -> PathBuf {
        self.upgrade_socket.clone().unwrap_or_else(|| {
            let dir = std::env::var_os("XDG_RUNTIME_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(std::env::temp_dir);
            let listen: String = self
                .listen
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                .collect();
            dir.join(format!("sunomi-edge-{listen}.upgrade.sock"))
        })
    }

    /// Worker threads to run per listener.
    pub fn worker_threads(&self) -> usize {
        if self.threads > 0 {
            self.threads
        } else {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        }
    }
}

impl EncryptionConfig {
    fn validate(&self) -> Result<(), String> {
        if !sunomi_packager::route::is_valid_key_id(&self.current_key_id) {
            return Err(format!(
                "encryption.current_key_id {:?} must be 1-32 of [A-Za-z0-9_-]",
                self.current_key_id
            ));
        }
        for (name, value) in [
            ("master_key", &self.master_key),
            ("token_secret", &self.token_secret),
        ] {
            if let Some(v) = value {
                match hex::decode(v) {
                    Ok(bytes) if bytes.len() >= 16 => {}
                    _ => {
                        return Err(format!(
                            "encryption.{name} must be at least 16 bytes of hex"
                        ))
                    }
                }
            }
        }
        if self.key_source == KeySource::Http
            && !self
                .key_service_url
                .as_deref()
                .is_some_and(|u| u.starts_with("http://"))
        {
            return Err(
                "encryption.key_source = \"http\" needs key_service_url = \"http://…\"".into(),
            );
        }
        if let Some(url) = &self.public_url {
            let ok = (url.starts_with("https://") || url.starts_with("http://"))
                && !url.ends_with('/')
                && url.parse::<::http::Uri>().is_ok_and(|u| {
                    u.host().is_some() && u.path_and_query().is_none_or(|p| p.as_str() == "/")
                });
            if !ok {
                return Err(format!(
                    "encryption.public_url {url:?} must be http(s)://host[:port], no path"
                ));
            }
        }
        Ok(())
    }
}

/// A hex secret of at least 16 bytes from `value`, else from environment variable `env`.
pub fn hex_secret(value: &Option<String>, env: &str) -> Option<Vec<u8>> {
    value
        .clone()
        .or_else(|| std::env::var(env).ok())
        .and_then(|h| hex::decode(h.trim()).ok())
        .filter(|b| b.len() >= 16)
}

impl FleetConfig {
    /// The fleet secret signing requests between edges (config or env SUNOMI_FLEET_SECRET).
    pub fn secret_bytes(&self) -> Option<Vec<u8>> {
        hex_secret(&self.secret, "SUNOMI_FLEET_SECRET")
    }

    fn validate(&self) -> Result<(), String> {
        let Some(url) = &self.redis else {
            return Ok(());
        };
        if self.secret_bytes().is_none() {
            return Err(
                "a fleet needs fleet.secret (or SUNOMI_FLEET_SECRET): at least 16 \
                        bytes of hex shared by its edges, signing requests between them"
                    .into(),
            );
        }
        if !url.starts_with("redis://") && !url.starts_with("rediss://") {
            return Err(format!("redis URL {url:?} must start with redis://"));
        }
        if self.heartbeat_interval_ms == 0 || self.heartbeat_ttl_ms <= self.heartbeat_interval_ms {
            return Err(format!(
                "fleet.heartbeat_ttl_ms ({}) must exceed fleet.heartbeat_interval_ms ({}), which must not be 0",
                self.heartbeat_ttl_ms, self.heartbeat_interval_ms
            ));
        }
        if self.join_after_polls == 0 || self.leave_after_polls == 0 {
            return Err(
                "fleet.join_after_polls and fleet.leave_after_polls must be at least 1".into(),
            );
        }
        for (name, ms) in [
            ("redis_timeout_ms", self.redis_timeout_ms),
            ("peer_connect_timeout_ms", self.peer_connect_timeout_ms),
            ("peer_timeout_ms", self.peer_timeout_ms),
            ("fill_lock_ttl_ms", self.fill_lock_ttl_ms),
        ] {
            if ms == 0 {
                return Err(format!("fleet.{name} must not be 0"));
            }
        }
        if self.prefetch_segments > 16 {
            return Err("fleet.prefetch_segments must be at most 16".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_once_a_store_is_set() {
        let mut c = EdgeConfig::default();
        assert!(c.validate().is_err());
        c.store = Some("memory://".into());
        assert!(c.validate().is_ok());
    }

    #[test]
    fn tls_needs_an_address_of_its_own_and_a_certificate() {
        let mut c =
            EdgeConfig::from_toml("store = \"memory://\"\n[tls]\nlisten = \"127.0.0.1:8443\"\n")
                .unwrap();
        assert_eq!(c.tls.reload_interval_secs, 30);
        assert!(c.validate().unwrap_err().contains("certificate"));
        c.tls.cert = Some("a.pem".into());
        assert!(c.validate().unwrap_err().contains("go together"));
        c.tls.key = Some("a.key".into());
        assert!(c.validate().is_ok());
        c.tls.listen = Some(c.listen.clone());
        assert!(c.validate().unwrap_err().contains("must differ"));
        c.tls.listen = Some("nowhere".into());
        assert!(c.validate().unwrap_err().contains("HOST:PORT"));
    }

    #[test]
    fn toml_overrides_only_what_it_names() {
        let c = EdgeConfig::from_toml("store = \"/tmp/x\"\n[cache]\nsegments_enabled = false\n")
            .unwrap();
        assert!(!c.cache.segments_enabled);
        assert_eq!(c.cache.metadata_ttl_secs, 60);
        assert!(EdgeConfig::from_toml("bogus = 1").is_err());
    }

    #[test]
    fn an_admin_listener_beyond_loopback_needs_a_token_and_a_fleet_needs_a_secret() {
        let mut c = EdgeConfig {
            store: Some("memory://".into()),
            admin: "0.0.0.0:9090".into(),
            ..Default::default()
        };
        assert!(c.validate().unwrap_err().contains("admin_token"));
        c.admin_token = Some("short".into());
        assert!(c.validate().is_err());
        c.admin_token = Some("0123456789abcdef".into());
        assert!(c.validate().is_ok());
        c.fleet.redis = Some("redis://127.0.0.1:6379".into());
        assert!(c.validate().unwrap_err().contains("fleet.secret"));
        c.fleet.secret = Some("00112233445566778899aabbccddeeff".into());
        assert!(c.validate().is_ok());
    }

    #[test]
    fn bad_values_are_refused() {
        let mut c = EdgeConfig {
            store: Some("memory://".into()),
            ..Default::default()
        };
        c.segment_target_ms = 10;
        assert!(c.validate().is_err());
        c.segment_target_ms = 6000;
        c.admin = c.listen.clone();
        assert!(c.validate().is_err());
    }
}
