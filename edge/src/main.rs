//! `sunomi-edge`: the Pingora edge that packages HLS just in time from CMAF mezzanines. The
//! binary parses flags and configuration and starts the listeners; the edge itself is the
//! `sunomi_edge` library (`lib.rs`).
#![deny(missing_docs)]

/// jemalloc, not glibc's allocator: HTTP/2 (the `h2` crate, Pingora's session) allocates
/// and frees per stream, and with jemalloc the TLS HTTP/2 playlist took 0.63 µs less user
/// time per request with no change on HTTP/1.1; an uncached segment (its ~2 MB buffers
/// freed and allocated again per request) cost less CPU than with glibc's allocator tuned
/// to keep such buffers, which it replaces (docs/PERFORMANCE.md, "Fifth session").
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;
use pingora::apps::http_app::HttpServer;
use pingora::server::configuration::ServerConf;
use pingora::server::{ExecutionPhase, Server};
use sunomi_origin::store::StoreTimeouts;
use sunomi_origin::{MediaReader, Store};

use sunomi_edge::access::{auth, keys};
use sunomi_edge::net::{connections, h1, service, tls, zero_copy};
use sunomi_edge::ops::config::EdgeConfig;
use sunomi_edge::ops::{admin, admin_client, metrics, reload, upgrade};
use sunomi_edge::{fleet, media, views};

/// Sunomi edge: serves HLS packaged just in time from the CMAF mezzanines in STORE.
#[derive(Parser, Debug, Clone)]
#[command(version, about, long_about = None)]
struct Cli {
    /// Object store: a directory, file:///abs/dir, s3://bucket/prefix or memory://.
    #[arg(long, env = "SUNOMI_STORE")]
    store: Option<String>,
    /// Address players connect to (default 127.0.0.1:8080).
    #[arg(long, env = "SUNOMI_LISTEN")]
    listen: Option<String>,
    /// Admin address for /metrics, /healthz, /readyz (default 127.0.0.1:9090).
    #[arg(long, env = "SUNOMI_ADMIN")]
    admin: Option<String>,
    /// TOML configuration file (every field optional; flags and environment win).
    #[arg(long, env = "SUNOMI_EDGE_CONFIG")]
    config: Option<PathBuf>,
    /// HLS segment target duration in milliseconds.
    #[arg(long, env = "SUNOMI_SEGMENT_TARGET_MS")]
    segment_target_ms: Option<u32>,
    /// Turn the segment cache off (every segment is read from storage).
    #[arg(long)]
    no_segment_cache: bool,
    /// Join the fleet coordinated through this Redis (redis://HOST:PORT[/DB]).
    #[arg(long, env = "SUNOMI_REDIS")]
    redis: Option<String>,
    /// IP:PORT other edges reach this one at (default: the listen address).
    #[arg(long, env = "SUNOMI_ADVERTISE")]
    advertise: Option<String>,
    /// Address of the HTTPS player listener (HTTP/2 and HTTP/1.1), besides the plain one.
    #[arg(long, env = "SUNOMI_TLS_LISTEN")]
    tls_listen: Option<String>,
    /// Default certificate chain for HTTPS (PEM; more names through `[[tls.certificates]]`).
    #[arg(long, env = "SUNOMI_TLS_CERT")]
    tls_cert: Option<PathBuf>,
    /// Private key of --tls-cert (PEM).
    #[arg(long, env = "SUNOMI_TLS_KEY")]
    tls_key: Option<PathBuf>,
    /// The picture service drawing thumbnails, storyboards and animated previews
    /// (`http://host:port`, `sunomi-origin pictures`); its secret in SUNOMI_PICTURES_SECRET.
    #[arg(long, env = "SUNOMI_PICTURES_URL")]
    pictures: Option<String>,
    /// Take the listening sockets over from the running edge (same config), then tell it to
    /// finish its requests and exit with `kill -QUIT <old pid>`: a zero-downtime upgrade.
    #[arg(long)]
    upgrade: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

/// Tools besides serving.
#[derive(clap::Subcommand, Debug, Clone)]
enum Command {
    /// Prints a key token for a video (`exp=…&sig=…`): append it to the encrypted master
    /// playlist URL (`/v/{id}/aes/master.m3u8?…`) given to an entitled viewer.
    Token {
        /// The video id.
        #[arg(long)]
        id: String,
        /// Seconds the token is valid (default: encryption.token_ttl_secs).
        #[arg(long)]
        ttl: Option<u64>,
    },
    /// Exits 0 when the edge's admin listener answers `GET --path` with 200 (the image's
    /// HEALTHCHECK: the image has no shell and no curl).
    Healthcheck {
        /// The edge's admin address (a listener on 0.0.0.0 is called on loopback).
        #[arg(long, env = "SUNOMI_ADMIN", default_value = "127.0.0.1:9090")]
        admin: std::net::SocketAddr,
        /// What to ask.
        #[arg(long, default_value = "/healthz")]
        path: String,
    },
    /// Tells the edge at `--admin` to leave the fleet's ring (others stop sending it segment
    /// requests and its /readyz fails), then waits: a Kubernetes preStop hook, before the
    /// SIGTERM that drains it. The admin token is read from SUNOMI_ADMIN_TOKEN.
    Leave {
        /// The edge's admin address (a listener on 0.0.0.0 is called on loopback).
        #[arg(long, env = "SUNOMI_ADMIN", default_value = "127.0.0.1:9090")]
        admin: std::net::SocketAddr,
        /// Seconds to wait afterwards, while load balancers stop sending it players.
        #[arg(long, default_value_t = 0)]
        wait_secs: u64,
    },
}

/// The configuration file named by `--config`, or the defaults.
fn config_file(cli: &Cli) -> Result<EdgeConfig> {
    match &cli.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            EdgeConfig::from_toml(&text).with_context(|| format!("parsing {}", path.display()))
        }
        None => Ok(EdgeConfig::default()),
    }
}

fn load_config(cli: &Cli) -> Result<EdgeConfig> {
    let mut config = config_file(cli)?;
    if let Some(s) = &cli.store {
        config.store = Some(s.clone());
    }
    if let Some(l) = &cli.listen {
        config.listen = l.clone();
    }
    if let Some(a) = &cli.admin {
        config.admin = a.clone();
    }
    if let Some(t) = cli.segment_target_ms {
        config.segment_target_ms = t;
    }
    if cli.no_segment_cache {
        config.cache.segments_enabled = false;
    }
    if let Some(r) = &cli.redis {
        config.fleet.redis = Some(r.clone());
    }
    if let Some(a) = &cli.advertise {
        config.fleet.advertise = Some(a.clone());
    }
    if let Some(l) = &cli.tls_listen {
        config.tls.listen = Some(l.clone());
    }
    if let Some(c) = &cli.tls_cert {
        config.tls.cert = Some(c.clone());
    }
    if let Some(k) = &cli.tls_key {
        config.tls.key = Some(k.clone());
    }
    if let Some(p) = &cli.pictures {
        config.pictures.service_url = Some(p.clone());
    }
    config.validate().map_err(anyhow::Error::msg)?;
    Ok(config)
}

/// The player listener's bounds: the configured cap, lowered to fit the open-file limit
/// (raised to its hard limit first) with room for storage, Redis, peers and the admin port.
fn player_connection_limits(config: &EdgeConfig) -> connections::ConnectionLimits {
    const RESERVED_FDS: u64 = 1024;
    let c = &config.connections;
    let mut max = c.max;
    if let Some(limit) = connections::raise_fd_limit() {
        let fits = limit.saturating_sub(RESERVED_FDS).max(64) as usize;
        if max > fits {
            tracing::warn!(
                configured = max,
                open_file_limit = limit,
                max = fits,
                "connections.max lowered to fit the open-file limit"
            );
            max = fits;
        }
    }
    connections::ConnectionLimits {
        max,
        header_timeout: Duration::from_millis(c.header_timeout_ms),
        idle_timeout: Duration::from_millis(c.idle_timeout_ms),
        write_timeout: Duration::from_millis(c.write_timeout_ms),
    }
}

/// `sunomi-edge token`: signs with the configured token secret (no store needed).
/// `sunomi-edge leave`: `POST /leave` to the admin listener at `admin`, then a wait.
fn leave(admin: std::net::SocketAddr, wait_secs: u64) -> Result<()> {
    let admin = admin_client::local(admin);
    let token = std::env::var("SUNOMI_ADMIN_TOKEN").ok();
    let (status, line) = admin_client::call(admin, "POST", "/leave", token.as_deref())?;
    if status != 200 {
        anyhow::bail!("the edge at {admin} did not leave: {line}");
    }
    println!("left the fleet's ring; waiting {wait_secs} s");
    std::thread::sleep(Duration::from_secs(wait_secs));
    Ok(())
}

/// `sunomi-edge healthcheck`: exits 0 when `GET path` on the admin listener answers 200.
fn healthcheck(admin: std::net::SocketAddr, path: &str) -> Result<()> {
    let admin = admin_client::local(admin);
    let (status, line) = admin_client::call(admin, "GET", path, None)?;
    if status != 200 {
        anyhow::bail!("{admin}{path}: {line}");
    }
    Ok(())
}

fn print_token(cli: &Cli, id: &str, ttl: Option<u64>) -> Result<()> {
    let mut config = config_file(cli)?;
    config.store.get_or_insert_with(|| "memory://".into());
    config.validate().map_err(anyhow::Error::msg)?;
    if !sunomi_packager::names::is_valid_video_id(id) {
        anyhow::bail!("{id:?} is not a valid video id");
    }
    let secret = keys::token_secret(&config.encryption)
        .context("no token secret: set encryption.token_secret or SUNOMI_TOKEN_SECRET")?;
    let ttl = ttl.unwrap_or(config.encryption.token_ttl_secs);
    if ttl > config.encryption.max_token_ttl_secs {
        anyhow::bail!(
            "a token valid for {ttl} s would be refused: encryption.max_token_ttl_secs is {}",
            config.encryption.max_token_ttl_secs
        );
    }
    let token = auth::HmacTokens::new(Some(secret), config.encryption.max_token_ttl_secs)
        .sign(id, ttl)
        .map_err(anyhow::Error::msg)?;
    println!("{token}");
    Ok(())
}

static FLEET_RUNTIME: std::sync::OnceLock<std::io::Result<tokio::runtime::Runtime>> =
    std::sync::OnceLock::new();

/// The server's life as the fleet and the supervisor see it: once serving, tells systemd
/// (`$NOTIFY_SOCKET`) this process is the unit's main one and ready; on shutdown, takes this
/// edge out of the fleet so peers stop routing to it at once instead of after the heartbeat
/// TTL — unless it is handing its sockets to a new binary (`--upgrade`), which serves as the
/// same member.
struct Lifecycle {
    fleet: Arc<fleet::Fleet>,
    phases: std::sync::Mutex<Option<tokio::sync::broadcast::Receiver<ExecutionPhase>>>,
}

#[async_trait::async_trait]
impl pingora::services::background::BackgroundService for Lifecycle {
    async fn start(&self, mut shutdown: pingora::server::ShutdownWatch) {
        let phases = self.phases.lock().ok().and_then(|mut p| p.take());
        let mut upgrading = false;
        if let Some(mut phases) = phases {
            loop {
                tokio::select! {
                    _ = shutdown.changed() => break,
                    phase = phases.recv() => match phase {
                        Ok(ExecutionPhase::Running) => {
                            let ready = upgrade::ready_message(std::process::id());
                            if let Err(e) = upgrade::notify(&ready) {
                                tracing::warn!(error = %e, "could not notify the service manager");
                            }
                        }
                        Ok(ExecutionPhase::GracefulUpgradeTransferringFds) => upgrading = true,
                        Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                            let _ = shutdown.changed().await;
                            break;
                        }
                    },
                }
            }
        } else {
            let _ = shutdown.changed().await;
        }
        if upgrading {
            tracing::info!("listening sockets handed to the new binary; staying in the fleet");
        } else {
            self.fleet.leave().await;
        }
    }
}

/// SIGUSR2: start the binary at this process's path as its successor and hand it the
/// sockets (see [`upgrade`]).
async fn upgrade_on_sigusr2(successor: upgrade::Successor) {
    let mut usr2 = match tokio::signal::unix::signal(
        tokio::signal::unix::SignalKind::user_defined2(),
    ) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "no SIGUSR2 handler: upgrade with --upgrade and SIGQUIT");
            return;
        }
    };
    while usr2.recv().await.is_some() {
        match successor.start(Duration::from_secs(4)).await {
            Ok(pid) => {
                tracing::info!(
                    successor = pid,
                    "SIGUSR2: handing the sockets to the new binary"
                );
                return;
            }
            Err(e) => {
                tracing::error!(error = %e, "SIGUSR2: could not start the new binary; still serving")
            }
        }
    }
}

fn run() -> Result<()> {
    let cli = Cli::parse();
    match &cli.command {
        Some(Command::Token { id, ttl }) => return print_token(&cli, id, *ttl),
        Some(Command::Leave { admin, wait_secs }) => return leave(*admin, *wait_secs),
        Some(Command::Healthcheck { admin, path }) => return healthcheck(*admin, path),
        None => {}
    }
    let config = load_config(&cli)?;
    // Registered now, so `process_start_time_seconds` is this process's start.
    metrics::metrics();
    let upgrade_socket = config.upgrade_socket();
    let successor = upgrade::Successor::of_this_process(upgrade_socket.clone())
        .context("finding this binary's path")?;
    let certificates = match &config.tls.listen {
        Some(_) => {
            Some(tls::Certificates::load(config.tls.files()).context("loading TLS certificates")?)
        }
        None => None,
    };
    let store_spec = config.store.clone().unwrap_or_default();
    let store = Store::open_with(
        &store_spec,
        StoreTimeouts {
            connect: Duration::from_millis(config.storage.connect_timeout_ms),
            request: Duration::from_millis(config.storage.request_timeout_ms),
            max_retries: config.storage.max_retries,
        },
    )?;
    let reader = MediaReader::new(store)
        .with_observer(Arc::new(metrics::StorageMetrics))
        .with_concurrency(
            config.storage.max_concurrent_reads,
            Duration::from_millis(config.storage.busy_wait_ms),
        );
    // Fleet coordination runs on its own small runtime: Redis connections are driven by
    // tasks spawned where they are made, and this runtime lives as long as the process.
    let runtime = FLEET_RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("sunomi-fleet")
            .enable_all()
            .build()
    });
    let runtime = runtime
        .as_ref()
        .map_err(|e| anyhow::anyhow!("starting the fleet runtime: {e}"))?;
    let fleet = Arc::new(
        runtime
            .block_on(fleet::Fleet::new(&config))
            .context("setting up fleet coordination")?,
    );
    let media =
        Arc::new(media::Media::new(reader, fleet.clone(), &config).map_err(anyhow::Error::msg)?);
    runtime.spawn(fleet.clone().run(media.clone()));
    let reload_cli = cli.clone();
    let reloader = Arc::new(reload::Reloader::new(
        config.clone(),
        Box::new(move || load_config(&reload_cli)),
        media.clone(),
        certificates.clone(),
    ));
    runtime.spawn(reloader.clone().run());
    runtime.spawn(upgrade_on_sigusr2(successor));

    let server_conf = ServerConf {
        threads: config.worker_threads(),
        grace_period_seconds: Some(config.shutdown.grace_period_secs),
        graceful_shutdown_timeout_seconds: Some(config.shutdown.timeout_secs),
        upgrade_sock: upgrade_socket.to_string_lossy().into_owned(),
        ..Default::default()
    };
    let options = pingora::server::configuration::Opt {
        upgrade: cli.upgrade,
        ..Default::default()
    };
    let mut server = Server::new_with_opt_and_conf(Some(options), server_conf);
    server.bootstrap();

    let views = config
        .views
        .secret()
        .map(|secret| views::ViewTally::new(secret, config.views.max_tickets));
    let service = service::EdgeService::new(media.clone(), config.storage.retry_after_secs, views);
    let player_limits = player_connection_limits(&config);
    zero_copy::configure(zero_copy::ZeroCopySettings {
        min_bytes: usize::try_from(config.cache.zero_copy_min_bytes).unwrap_or(usize::MAX),
        huge_pages: config.cache.zero_copy_huge_pages,
    });
    let mut edge = pingora::services::listening::Service::new(
        "sunomi-edge".into(),
        connections::Bounded::new(h1::PlayerApp::new(service), player_limits, "player"),
    );
    let player_buffers = pingora::listeners::L4BufferSettings::default()
        .write(config.connections.write_buffer_bytes);
    edge.add_listener(
        pingora::listeners::ListenerConfig::tcp(&config.listen).l4_buffer(player_buffers),
    );
    if let (Some(addr), Some(certificates)) = (&config.tls.listen, &certificates) {
        let settings = certificates
            .listener_settings(config.tls.release_buffers)
            .context("setting up TLS")?;
        edge.add_listener(
            pingora::listeners::ListenerConfig::tcp(addr)
                .tls(settings)
                .l4_buffer(player_buffers),
        );
    }
    let admin_limits = connections::ConnectionLimits {
        max: 64,
        header_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(30),
        write_timeout: Duration::from_secs(30),
    };
    let mut admin = pingora::services::listening::Service::new(
        "sunomi-admin".into(),
        connections::Bounded::new(
            HttpServer::new_app(admin::Admin::new(media, reloader, config.admin_token())),
            admin_limits,
            "admin",
        ),
    );
    admin.add_tcp(&config.admin);
    server.add_service(edge);
    server.add_service(admin);
    server.add_service(pingora::services::background::background_service(
        "lifecycle",
        Lifecycle {
            fleet: fleet.clone(),
            phases: std::sync::Mutex::new(Some(server.watch_execution_phase())),
        },
    ));
    tracing::info!(
        store = %store_spec,
        listen = %config.listen,
        tls_listen = config.tls.listen.as_deref().unwrap_or("none"),
        upgrade = cli.upgrade,
        admin = %config.admin,
        segment_target_ms = config.segment_target_ms,
        segment_cache = config.cache.segments_enabled,
        redis = config.fleet.redis.as_deref().unwrap_or("none"),
        node = %config.node_name(),
        max_connections = player_limits.max,
        "sunomi-edge starting"
    );
    server.run_forever()
}

/// Stack for every thread the edge starts (Pingora's and Tokio's workers take the standard
/// library's default, which `RUST_MIN_STACK` sets). A request that misses all the way to S3
/// nests Pingora's proxy, the packager's lookups and the S3 client's futures; unoptimised
/// builds need more than the 2 MiB default for that (measured: a debug build overflowed
/// 2 MiB on its first S3 read once TLS support was linked in, and served with 8 MiB).
const THREAD_STACK_BYTES: &str = "8388608";

fn main() {
    // Before any thread starts: the standard library reads it once. An operator's value wins.
    if std::env::var_os("RUST_MIN_STACK").is_none() {
        std::env::set_var("RUST_MIN_STACK", THREAD_STACK_BYTES);
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, never into log files or journald.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    if let Err(e) = run() {
        eprintln!(
            "sunomi-edge: error: {}",
            format!("{e:#}").replace('\n', " ")
        );
        std::process::exit(1);
    }
}
