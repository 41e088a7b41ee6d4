//! `sunomi-control`: the control plane's API, workers, upload client and admin commands.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Parser, Subcommand};
use sunomi_control::analysis::Analysis;
use sunomi_control::apikeys;
use sunomi_control::app::{now_rfc3339, App};
use sunomi_control::client::{self, UploadArgs};
use sunomi_control::config::Config;
use sunomi_control::db::{self, Db};
use sunomi_control::domain::accounts::{normalize_email, Role, UserStatus};
use sunomi_control::jobs::JobKind;
use sunomi_control::{http, ingest, relay, worker};
use sunomi_packager::playback::TokenAudience;

/// Prints a line to stdout; a closed stdout (`| head -n 1`) is not an error worth a panic.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// Sunomi control plane.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
struct Common {
    /// TOML configuration file.
    #[arg(long, env = "SUNOMI_CONTROL_CONFIG")]
    config: Option<PathBuf>,
    /// Object store: a directory, file:///abs/dir, s3://bucket/prefix or memory://.
    #[arg(long, env = "SUNOMI_STORE")]
    store: Option<String>,
    /// Redis URL (redis://HOST:PORT); without it, the embedded queue.
    #[arg(long, env = "SUNOMI_REDIS")]
    redis: Option<String>,
    /// The database: sqlite://PATH or postgres://USER@HOST/DB (default: the SQLite file
    /// sunomi-control.db in the working directory).
    #[arg(long, env = "SUNOMI_DATABASE")]
    database: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (and, without --redis, run the workers in the same process).
    Serve {
        #[command(flatten)]
        common: Common,
        /// API listen address.
        #[arg(long, env = "SUNOMI_CONTROL_LISTEN")]
        listen: Option<SocketAddr>,
        /// Admin listen address (/metrics, /healthz, /readyz).
        #[arg(long, env = "SUNOMI_CONTROL_ADMIN")]
        admin: Option<SocketAddr>,
        /// Edge fleet base URL for playback URLs.
        #[arg(long, env = "SUNOMI_EDGE_URL")]
        edge_url: Option<String>,
        /// Run no workers in this process even without Redis (tests of the API alone).
        #[arg(long)]
        no_workers: bool,
        /// The SQS queue of S3 intake notifications (`[intake] queue_url`).
        #[arg(long, env = "SUNOMI_INTAKE_QUEUE_URL")]
        intake_queue_url: Option<String>,
    },
    /// Consume jobs from Redis.
    Worker {
        #[command(flatten)]
        common: Common,
        /// Kinds of jobs to take (transcode, webhook); default all.
        #[arg(long, value_delimiter = ',')]
        kinds: Vec<String>,
        /// Jobs at once.
        #[arg(long)]
        concurrency: Option<usize>,
        /// Admin listen address (/metrics, /healthz, /readyz).
        #[arg(long)]
        admin: Option<SocketAddr>,
    },
    /// Upload a file resumably (tus); with --wait, print the playback URL when ready.
    Upload {
        /// The file.
        file: PathBuf,
        /// API base URL.
        #[arg(long, env = "SUNOMI_API", default_value = "http://127.0.0.1:8090")]
        api: String,
        /// API key.
        #[arg(long, env = "SUNOMI_API_KEY")]
        key: String,
        /// Follow the asset until it is ready (or fails).
        #[arg(long)]
        wait: bool,
        /// Bytes per request.
        #[arg(long, default_value_t = client::CHUNK)]
        chunk_size: usize,
    },
    /// Manage API keys.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Manage people's accounts.
    Users {
        #[command(subcommand)]
        action: UsersAction,
    },
    /// Re-queue the transcode of every asset whose pipeline was under way (after losing
    /// Redis's streams).
    Reindex {
        #[command(flatten)]
        common: Common,
    },
    /// Apply the database migrations not yet applied (serve and worker do it at start).
    Migrate {
        #[command(flatten)]
        common: Common,
    },
    /// Import the records an earlier version kept in storage (videos/*/asset.json,
    /// keys/api/*.json) into the database; idempotent (serve and the keys commands do it once
    /// per store by themselves).
    Import {
        #[command(flatten)]
        common: Common,
    },
    /// Exit 0 when this host's control process answers `GET --path` on its admin listener
    /// with 200 (the image's HEALTHCHECK: the image has no shell and no curl).
    Healthcheck {
        /// The admin address (a listener on 0.0.0.0 is called on loopback).
        #[arg(long, env = "SUNOMI_CONTROL_ADMIN", default_value = "127.0.0.1:9091")]
        admin: SocketAddr,
        /// What to ask.
        #[arg(long, default_value = "/healthz")]
        path: String,
    },
    /// Print, as JSON, the facts deployment descriptions must agree with (the Redis streams
    /// and consumer group workers read, which KEDA scales on); checked against the
    /// Kubernetes manifests by `deploy/local/check-deploy.sh`.
    DeployFacts,
    /// Print the OpenAPI document (with the limits of `--config`).
    Openapi {
        /// The config file whose limits the document states (default: the defaults).
        #[arg(long, env = "SUNOMI_CONTROL_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Mint a playback token (a JWT) for a signed playback id; prints it alone.
    Token {
        /// The signed playback id.
        #[arg(long)]
        playback_id: String,
        /// Seconds the token is valid.
        #[arg(long, default_value_t = 3600)]
        ttl: u64,
        /// The signing key's id.
        #[arg(long)]
        key_id: String,
        /// The signing key's private half (PEM), as `POST /api/v1/signing-keys` returned it.
        #[arg(long)]
        private_key: PathBuf,
        /// What the token grants (its `aud`): `v` plays the published video (the default),
        /// `t` its thumbnails, `s` its storyboard, `g` its animated previews, each nothing
        /// else; `review` plays it whatever its availability (in review, or blocked), for a
        /// moderation tool.
        #[arg(long, default_value = "v", value_parser = parse_audience)]
        audience: TokenAudience,
        /// The same as `--audience review`.
        #[arg(long)]
        review: bool,
    },
}

/// A token audience by its `aud` name.
fn parse_audience(name: &str) -> Result<TokenAudience, String> {
    TokenAudience::parse(name).ok_or_else(|| {
        let names: Vec<&str> = TokenAudience::ALL.iter().map(|a| a.as_str()).collect();
        format!("{name:?} is not one of {}", names.join(", "))
    })
}

#[derive(Subcommand)]
enum UsersAction {
    /// Make an active account (the first admin, for one); the password is read from stdin
    /// (its first line), never from the command line.
    Create {
        #[command(flatten)]
        common: Common,
        /// The sign-in email.
        #[arg(long)]
        email: String,
        /// `user`, `moderator` or `admin`.
        #[arg(long, default_value = "user")]
        role: String,
        /// The name people see (default: the email's local part).
        #[arg(long)]
        name: Option<String>,
    },
    /// Approve an account that registered while registration needs approval.
    Approve {
        #[command(flatten)]
        common: Common,
        /// The account's email.
        #[arg(long)]
        email: String,
    },
}

#[derive(Subcommand)]
enum KeysAction {
    /// Create a key; prints it alone on the last line (only its hash is stored).
    Create {
        #[command(flatten)]
        common: Common,
        /// A label.
        #[arg(long, default_value = "default")]
        name: String,
    },
    /// List keys (ids and names, never the keys).
    List {
        #[command(flatten)]
        common: Common,
    },
    /// Revoke a key by id.
    Revoke {
        #[command(flatten)]
        common: Common,
        /// The key id (the part after sk_ and before the next _).
        id: String,
    },
}

fn load(common: &Common) -> Result<Config> {
    let mut config = Config::load(common.config.as_deref()).map_err(|e| anyhow!(e))?;
    if let Some(s) = &common.store {
        config.store = s.clone();
    }
    if let Some(r) = &common.redis {
        config.redis = Some(r.clone());
    }
    if let Some(d) = &common.database {
        config.database = d.clone();
    }
    config.validate().map_err(|e| anyhow!(e))?;
    Ok(config)
}

fn logging() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return ctrl_c.await.unwrap_or(()),
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
}

async fn serve_admin(app: Arc<App>, addr: SocketAddr) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the admin listener {addr}"))?;
    tracing::info!(addr = %listener.local_addr()?, "admin listening");
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, http::admin_router(app)).await {
            tracing::error!(error = %e, "admin listener failed");
        }
    });
    Ok(())
}

#[tokio::main]
async fn main() {
    match run().await {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(1);
        }
    }
}

async fn run() -> Result<i32> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve {
            common,
            listen,
            admin,
            edge_url,
            no_workers,
            intake_queue_url,
        } => {
            logging();
            let mut config = load(&common)?;
            if let Some(q) = intake_queue_url.filter(|q| !q.is_empty()) {
                config.intake.queue_url = Some(q);
            }
            if let Some(l) = listen {
                config.listen = l;
            }
            if let Some(a) = admin {
                config.admin_listen = Some(a);
            }
            if let Some(e) = edge_url {
                config.edge_url = e;
            }
            config.validate().map_err(|e| anyhow!(e))?;
            serve(config, no_workers).await
        }
        Command::Worker {
            common,
            kinds,
            concurrency,
            admin,
        } => {
            logging();
            let mut config = load(&common)?;
            if config.redis.is_none() {
                bail!("a worker needs --redis (the embedded queue lives inside `serve`)");
            }
            if let Some(c) = concurrency {
                config.jobs.concurrency = c.max(1);
            }
            let kinds = if kinds.is_empty() {
                JobKind::ALL.to_vec()
            } else {
                kinds
                    .iter()
                    .map(|k| JobKind::parse(k).ok_or_else(|| anyhow!("unknown job kind {k}")))
                    .collect::<Result<Vec<_>>>()?
            };
            let concurrency = config.jobs.concurrency;
            let analysis = Arc::new(
                Analysis::from_config(&config)
                    .await
                    .map_err(|e| anyhow!(e))
                    .context("setting up analysis (captions, moderation)")?,
            );
            let app = App::open(config).await.map_err(|e| anyhow!(e))?;
            if let Some(a) = admin {
                serve_admin(app.clone(), a).await?;
            }
            let (stop_tx, stop) = tokio::sync::watch::channel(false);
            tokio::spawn(relay::run(app.clone(), stop.clone()));
            let name = format!("{}-{}", hostname(), std::process::id());
            tracing::info!(%name, ?kinds, concurrency, "worker started");
            let work = tokio::spawn(worker::run(app, analysis, kinds, concurrency, name, stop));
            shutdown_signal().await;
            tracing::info!("stopping: finishing running jobs");
            let _ = stop_tx.send(true);
            let _ = work.await;
            Ok(0)
        }
        Command::Upload {
            file,
            api,
            key,
            wait,
            chunk_size,
        } => {
            client::upload(UploadArgs {
                file,
                api,
                key,
                wait,
                chunk: chunk_size,
            })
            .await
        }
        Command::Keys { action } => keys(action).await,
        Command::Users { action } => users(action).await,
        Command::Reindex { common } => {
            logging();
            let config = load(&common)?;
            let app = App::open(config).await.map_err(|e| anyhow!(e))?;
            let (assets, requeued) = app.jobs.reindex().await.map_err(|e| anyhow!("{e}"))?;
            say!("{assets} assets, {requeued} re-queued");
            Ok(0)
        }
        Command::Migrate { common } => {
            logging();
            let config = load(&common)?;
            Db::open(&config.database)
                .await
                .with_context(|| format!("migrating {}", config.database))?;
            say!("database {} is up to date", config.database);
            Ok(0)
        }
        Command::Import { common } => {
            logging();
            let config = load(&common)?;
            let app = App::open(config).await.map_err(|e| anyhow!(e))?;
            let (found, imported) = app
                .importer()
                .import_store()
                .await
                .map_err(|e| anyhow!("{e}"))?;
            db::imports::mark_store_imported(&app.db, &app.config.store, &now_rfc3339())
                .await
                .context("recording the import")?;
            say!("{found} records in storage, {imported} imported");
            Ok(0)
        }
        Command::Token {
            playback_id,
            ttl,
            key_id,
            private_key,
            audience,
            review,
        } => {
            let pem = std::fs::read_to_string(&private_key)
                .with_context(|| format!("reading {}", private_key.display()))?;
            let now = sunomi_control::app::now_unix();
            let audience = if review {
                TokenAudience::Review
            } else {
                audience
            };
            let token = sunomi_control::signing::mint(
                &key_id,
                &pem,
                &playback_id,
                audience,
                now,
                now + ttl,
            )
            .map_err(|e| anyhow!(e))?;
            say!("{token}");
            Ok(0)
        }
        Command::Healthcheck { admin, path } => {
            let host = if admin.ip().is_unspecified() {
                std::net::IpAddr::from(std::net::Ipv4Addr::LOCALHOST)
            } else {
                admin.ip()
            };
            let url = format!("http://{}{path}", SocketAddr::new(host, admin.port()));
            let answer = reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()?
                .get(&url)
                .send()
                .await
                .with_context(|| format!("asking {url}"))?;
            if !answer.status().is_success() {
                bail!("{url}: {}", answer.status());
            }
            Ok(0)
        }
        Command::DeployFacts => {
            use sunomi_control::queue::redis::keys;
            let streams: serde_json::Map<String, serde_json::Value> = JobKind::ALL
                .into_iter()
                .map(|k| (k.name().to_string(), keys::stream(k).into()))
                .collect();
            let facts = serde_json::json!({
                "queue": {
                    "group": keys::GROUP,
                    "streams": streams,
                    "dead_letters": keys::DEAD,
                },
            });
            say!("{facts}");
            Ok(0)
        }
        Command::Openapi { config } => {
            let config = Config::load(config.as_deref()).map_err(|e| anyhow!(e))?;
            say!("{}", http::openapi_json(&config));
            Ok(0)
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "worker".into())
}

async fn serve(config: Config, no_workers: bool) -> Result<i32> {
    let embedded = config.redis.is_none();
    let listen = config.listen;
    let admin = config.admin_listen;
    let concurrency = config.jobs.concurrency;
    let app = App::open(config).await.map_err(|e| anyhow!(e))?;
    match app.importer().import_if_new().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(records = n, "imported an earlier version's records"),
        Err(e) => bail!("importing the store's asset records: {e}"),
    }
    app.assets.cache_assets();
    if let Some(a) = admin {
        serve_admin(app.clone(), a).await?;
    }
    // Bind first: the API takes uploads while workers load their models.
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    let bound = listener.local_addr()?;
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let mut workers = None;
    tokio::spawn(relay::run(app.clone(), stop.clone()));
    if !embedded || no_workers {
        tokio::spawn(worker::watch_depth(app.clone(), stop.clone()));
    }
    if embedded && !no_workers {
        // The embedded queue starts empty: queue every asset a previous run left unfinished.
        match app.jobs.reindex().await {
            Ok((_, n)) if n > 0 => tracing::info!(requeued = n, "re-queued unfinished assets"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "could not look for unfinished assets"),
        }
        let analysis = Arc::new(
            Analysis::from_config(&app.config)
                .await
                .map_err(|e| anyhow!(e))
                .context("setting up analysis (captions, moderation)")?,
        );
        workers = Some(tokio::spawn(worker::run(
            app.clone(),
            analysis,
            JobKind::ALL.to_vec(),
            concurrency,
            "embedded".into(),
            stop.clone(),
        )));
    }
    {
        let app = app.clone();
        let mut stop = stop.clone();
        let every = Duration::from_secs(app.config.uploads.sweep_interval_secs);
        tokio::spawn(async move {
            loop {
                if let Err(e) = ingest::sweep(&app.uploads).await {
                    tracing::warn!(error = %e, "upload sweep failed");
                }
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = stop.changed() => return,
                }
            }
        });
    }
    #[cfg(feature = "aws")]
    if let Some(queue) = sunomi_control::intake_queue::IntakeQueue::from_config(&app.config).await {
        if app.store().s3_bucket().is_none() {
            bail!("[intake] needs an s3:// store: intake objects are put into its bucket");
        }
        tokio::spawn(queue.run(app.intake(), stop.clone()));
    }
    let missing = sunomi_control::web::assets::missing();
    if !missing.is_empty() {
        tracing::warn!(
            ?missing,
            "this build has no copy of the web app's player and upload scripts: run `make deps` (npm ci in control/web) and build again"
        );
    }
    tracing::info!(addr = %bound, embedded, "API listening");
    // Scripts and tests read the bound address from this line.
    say!("listening on http://{bound}");
    let limits = app.config.api.clone();
    http::listener::serve(listener, http::router(app), &limits, shutdown_signal()).await;
    let _ = stop_tx.send(true);
    if let Some(w) = workers {
        let _ = tokio::time::timeout(Duration::from_secs(30), w).await;
    }
    Ok(0)
}

async fn users(action: UsersAction) -> Result<i32> {
    let (UsersAction::Create { common, .. } | UsersAction::Approve { common, .. }) = &action;
    let config = load(common)?;
    let app = App::open(config).await.map_err(|e| anyhow!(e))?;
    match action {
        UsersAction::Create {
            email, role, name, ..
        } => {
            let role = Role::parse(&role)
                .ok_or_else(|| anyhow!("--role is user, moderator or admin, not {role:?}"))?;
            let mut password = String::new();
            std::io::stdin()
                .read_line(&mut password)
                .context("reading the password from stdin")?;
            let password = password.trim_end_matches(['\r', '\n']);
            let name = name.unwrap_or_else(|| email.split('@').next().unwrap_or("").to_string());
            let user = app
                .accounts
                .create(&email, password, &name, role, UserStatus::Active)
                .await
                .map_err(|e| anyhow!("{e}"))?;
            eprintln!(
                "created {} ({}, {})",
                user.email,
                user.id,
                user.role.as_str()
            );
            say!("{}", user.id);
        }
        UsersAction::Approve { email, .. } => {
            let email = normalize_email(&email).map_err(|e| anyhow!("{e}"))?;
            let user = db::users::by_email(&app.db, &email)
                .await
                .context("reading the account")?
                .ok_or_else(|| anyhow!("no account {email}"))?;
            db::users::set_status(&app.db, &user.id, UserStatus::Active)
                .await
                .context("approving")?;
            say!("approved {email}");
        }
    }
    Ok(0)
}

async fn keys(action: KeysAction) -> Result<i32> {
    let (KeysAction::Create { common, .. }
    | KeysAction::List { common }
    | KeysAction::Revoke { common, .. }) = &action;
    let config = load(common)?;
    let app = App::open(config).await.map_err(|e| anyhow!(e))?;
    // Keys an earlier version kept in this store come along first.
    app.importer()
        .import_if_new()
        .await
        .map_err(|e| anyhow!("importing the store's records: {e}"))?;
    match action {
        KeysAction::Create { name, .. } => {
            let (key, record) = apikeys::new_key(&name, &now_rfc3339());
            db::keys::insert(&app.db, &record)
                .await
                .context("storing the key")?;
            eprintln!("created key {} ({name}); it is shown only now", record.id);
            say!("{key}");
        }
        KeysAction::List { .. } => {
            for r in db::keys::list(&app.db).await.context("listing keys")? {
                let state = r
                    .revoked_at
                    .map_or("active".to_string(), |t| format!("revoked {t}"));
                say!("{}\t{}\t{}\t{state}", r.id, r.name, r.created_at);
            }
        }
        KeysAction::Revoke { id, .. } => {
            if !db::keys::revoke(&app.db, &id, &now_rfc3339())
                .await
                .with_context(|| format!("revoking {id}"))?
            {
                bail!("no key {id}");
            }
            say!("revoked {id}");
        }
    }
    Ok(0)
}
