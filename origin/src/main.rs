//! `sunomi-origin`: transcode a source once into a CMAF ladder in object storage.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use serde::Deserialize;
use sunomi_origin::publish::publish;
use sunomi_origin::transcode::{transcode, Progress, TranscodeOptions};
use sunomi_origin::Store;

/// Sunomi origin: the media's home.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    /// TOML file with defaults for any flag (`store`, `preset`, `work_dir`).
    #[arg(long, global = true, env = "SUNOMI_ORIGIN_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Transcode INPUT once into the CMAF ladder of video ID and publish it to STORE.
    ///
    /// The manifest is written last: until it is, the video is not served. Re-running with
    /// the same id replaces the video.
    Transcode {
        /// The source video file.
        input: PathBuf,
        /// Video id: 1-64 characters of A-Z a-z 0-9 _ -.
        #[arg(long)]
        id: String,
        /// Object store: a directory, file:///abs/dir, s3://bucket/prefix or memory://.
        #[arg(long, env = "SUNOMI_STORE")]
        store: Option<String>,
        /// x264 preset (ultrafast … veryslow); default veryfast.
        #[arg(long, env = "SUNOMI_PRESET")]
        preset: Option<String>,
        /// Folder for temporary work files; default the system temp folder.
        #[arg(long, env = "SUNOMI_WORK_DIR")]
        work_dir: Option<PathBuf>,
    },
    /// Serve the edges' pictures: thumbnails, storyboard images and animated previews,
    /// drawn from the renditions in STORE (the edges link no FFmpeg).
    ///
    /// Every picture request must carry the secret the edges share (`[pictures] secret`)
    /// as a bearer token; `/healthz` and `/metrics` are open.
    Pictures {
        /// Object store: a directory, file:///abs/dir, s3://bucket/prefix or memory://.
        #[arg(long, env = "SUNOMI_STORE")]
        store: Option<String>,
        /// Address to listen on.
        #[arg(long, env = "SUNOMI_PICTURES_LISTEN", default_value = "127.0.0.1:9100")]
        listen: String,
        /// Hex secret of at least 16 bytes the edges present.
        #[arg(long, env = "SUNOMI_PICTURES_SECRET", hide_env_values = true)]
        secret: String,
        /// Pictures drawn at once (default: one per core).
        #[arg(long)]
        workers: Option<usize>,
    },
    /// Exit 0 if the picture service at ADDR answers `/healthz` within 5 s, else 1 (the
    /// container image's HEALTHCHECK: the image has no shell or curl).
    Healthcheck {
        /// The service's address.
        #[arg(long, env = "SUNOMI_PICTURES_LISTEN", default_value = "127.0.0.1:9100")]
        listen: String,
    },
}

/// Whether an HTTP server at `addr` answers `GET /healthz` with 200 within 5 s.
fn healthy(addr: &str) -> Result<()> {
    use std::io::{Read, Write};
    use std::net::ToSocketAddrs;
    let timeout = Duration::from_secs(5);
    let target = addr
        .to_socket_addrs()
        .with_context(|| format!("resolving {addr}"))?
        .next()
        .with_context(|| format!("{addr} has no address"))?;
    let mut stream = std::net::TcpStream::connect_timeout(&target, timeout)
        .with_context(|| format!("connecting to {addr}"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.write_all(format!("GET /healthz HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head)?;
    anyhow::ensure!(
        head.starts_with(b"HTTP/1.") && &head[9..12] == b"200",
        "not healthy"
    );
    Ok(())
}

/// The `--config` file: defaults for flags not given on the command line or environment.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct FileConfig {
    /// Object store (as `--store`).
    store: Option<String>,
    /// x264 preset (as `--preset`).
    preset: Option<String>,
    /// Work folder (as `--work-dir`).
    work_dir: Option<PathBuf>,
}

fn load_config(path: Option<&Path>) -> Result<FileConfig> {
    let Some(path) = path else {
        return Ok(FileConfig::default());
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

const PRESETS: [&str; 10] = [
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
];

/// A progress bar on a terminal, a log line every few seconds otherwise.
enum Reporter {
    Bar(indicatif::ProgressBar),
    Log(Mutex<(Instant, Option<u64>)>),
}

impl Progress for Reporter {
    fn begin(&self, expected: Option<u64>, rungs: &[String]) {
        match self {
            Reporter::Bar(bar) => {
                if let Some(n) = expected {
                    bar.set_length(n);
                }
                bar.set_message(rungs.join(" "));
            }
            Reporter::Log(state) => {
                if let Ok(mut s) = state.lock() {
                    s.1 = expected;
                }
                tracing::info!(rungs = %rungs.join(","), expected_frames = ?expected, "transcoding");
            }
        }
    }

    fn advance(&self, frames: u64) {
        match self {
            Reporter::Bar(bar) => bar.set_position(frames),
            Reporter::Log(state) => {
                let Ok(mut s) = state.lock() else { return };
                if s.0.elapsed() >= Duration::from_secs(5) {
                    s.0 = Instant::now();
                    match s.1 {
                        Some(total) => tracing::info!(frames, total, "progress"),
                        None => tracing::info!(frames, "progress"),
                    }
                }
            }
        }
    }

    fn end(&self, frames: u64) {
        match self {
            Reporter::Bar(bar) => bar.finish_with_message(format!("{frames} frames encoded")),
            Reporter::Log(_) => tracing::info!(frames, "encoding done"),
        }
    }
}

fn reporter() -> Reporter {
    if std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} frames {per_sec} ETA {eta} {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Reporter::Bar(bar)
    } else {
        Reporter::Log(Mutex::new((Instant::now(), None)))
    }
}

fn run(cli: Cli) -> Result<()> {
    let file = load_config(cli.config.as_deref())?;
    match cli.command {
        Command::Transcode {
            input,
            id,
            store,
            preset,
            work_dir,
        } => {
            let store_spec = store
                .or(file.store)
                .context("no store: pass --store DIR|file:///dir|s3://bucket/prefix|memory://")?;
            let preset = preset.or(file.preset).unwrap_or_else(|| "veryfast".into());
            if !PRESETS.contains(&preset.as_str()) {
                anyhow::bail!(
                    "unknown x264 preset {preset:?} (one of {})",
                    PRESETS.join(", ")
                );
            }
            let store = Store::open(&store_spec)?;
            let options = TranscodeOptions {
                preset,
                work_dir: work_dir.or(file.work_dir),
                ..Default::default()
            };
            let started = Instant::now();
            let done = transcode(&input, &id, &options, &reporter())?;
            let encoded = started.elapsed();
            let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            runtime
                .block_on(publish(&store, &done.files, &done.manifest))
                .with_context(|| format!("publishing to {}", store.describe()))?;
            let m = &done.manifest;
            tracing::info!(
                id = %m.id,
                duration = format!("{:.3}s", m.duration_secs),
                renditions = %m.renditions.iter().map(|r| r.name.as_str()).collect::<Vec<_>>().join(","),
                audio = m.audio.len(),
                encode_secs = format!("{:.2}", encoded.as_secs_f64()),
                total_secs = format!("{:.2}", started.elapsed().as_secs_f64()),
                "published"
            );
            Ok(())
        }
        Command::Pictures {
            store,
            listen,
            secret,
            workers,
        } => {
            let store = store
                .or(file.store)
                .context("no store: pass --store DIR|file:///dir|s3://bucket/prefix|memory://")?;
            serve_pictures(&store, &listen, &secret, workers)
        }
        Command::Healthcheck { listen } => healthy(&listen),
    }
}

/// Pictures wait at most this long for a worker before the request fails with 503.
const PICTURE_QUEUE_WAIT: Duration = Duration::from_secs(10);

fn serve_pictures(store: &str, listen: &str, secret: &str, workers: Option<usize>) -> Result<()> {
    use sunomi_origin::pictures::{service, PictureMaker};
    let bytes = hex::decode(secret.trim()).unwrap_or_default();
    if bytes.len() < 16 {
        anyhow::bail!("--secret (SUNOMI_PICTURES_SECRET) must be at least 16 bytes of hex");
    }
    let workers = workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
        .max(1);
    let store = Store::open(store)?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let reader =
            sunomi_origin::MediaReader::new(store).with_observer(service::storage_observer());
        let maker = PictureMaker::new(reader, workers, PICTURE_QUEUE_WAIT);
        let service = std::sync::Arc::new(service::PictureService::new(maker, secret.trim()));
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("listening on {listen}"))?;
        tracing::info!(addr = %listener.local_addr()?, workers, "picture service listening");
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        #[cfg(unix)]
        let shutdown = async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
            match &mut term {
                Ok(term) => {
                    tokio::select! {
                        () = shutdown => {}
                        _ = term.recv() => {}
                    }
                }
                Err(_) => shutdown.await,
            }
        };
        service::serve(listener, service, shutdown)
            .await
            .context("serving pictures")
    })
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, never into log files.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        let reason = format!("{e:#}").replace('\n', " ");
        eprintln!("sunomi-origin: error: {reason}");
        std::process::exit(1);
    }
}
