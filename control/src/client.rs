//! `sunomi-control upload`: a tus client with a progress bar. It resumes after a dropped
//! connection (asks the server for its offset and goes on) and across runs (the upload URL
//! of a file is remembered in the user's cache folder), and with `--wait` follows the
//! asset's events until it is ready, printing the playback URL alone on the last line.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use base64::Engine;
use futures::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

/// Prints a line to stdout; a closed stdout (`| head -n 1`) is not an error worth a panic.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// Bytes per PATCH (each carries a SHA-256 checksum, so it is read once before sending):
/// large enough that the per-chunk commit (a sync and a record write) is noise.
pub const CHUNK: usize = 32 << 20;
/// Tries per chunk before giving up.
const TRIES: u32 = 8;

/// What to upload and where.
pub struct UploadArgs {
    /// The file.
    pub file: PathBuf,
    /// API base URL.
    pub api: String,
    /// API key.
    pub key: String,
    /// Follow the asset until it ends.
    pub wait: bool,
    /// Bytes per request.
    pub chunk: usize,
}

fn resume_file(api: &str, file: &Path, size: u64, mtime: u64) -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    let abs = std::fs::canonicalize(file).ok()?;
    let mut h = Sha256::new();
    h.update(api.as_bytes());
    h.update(abs.as_os_str().as_encoded_bytes());
    h.update(size.to_le_bytes());
    h.update(mtime.to_le_bytes());
    Some(
        base.join("sunomi/uploads")
            .join(hex::encode(&h.finalize()[..16])),
    )
}

fn bar(size: u64) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let pb = indicatif::ProgressBar::new(size);
    pb.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    pb
}

/// Runs the upload; returns the process exit code.
pub async fn upload(args: UploadArgs) -> Result<i32> {
    let api = args.api.trim_end_matches('/').to_string();
    let meta = tokio::fs::metadata(&args.file)
        .await
        .with_context(|| format!("reading {}", args.file.display()))?;
    if !meta.is_file() {
        bail!("{} is not a file", args.file.display());
    }
    let size = meta.len();
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .build()?;
    let auth = format!("Bearer {}", args.key);
    let remembered = resume_file(&api, &args.file, size, mtime);

    // Resume a remembered upload, or create one.
    let mut url = None;
    let mut offset = 0;
    if let Some(path) = &remembered {
        if let Ok(saved) = tokio::fs::read_to_string(path).await {
            let saved = saved.trim().to_string();
            if let Ok(o) = server_offset(&http, &saved, &auth).await {
                eprintln!("resuming {} at byte {o}", args.file.display());
                url = Some(saved);
                offset = o;
            }
        }
    }
    let url = match url {
        Some(u) => u,
        None => {
            let name = args
                .file
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
            let resp = http
                .post(format!("{api}/api/v1/tus"))
                .header("authorization", &auth)
                .header("tus-resumable", "1.0.0")
                .header("upload-length", size.to_string())
                .header(
                    "upload-metadata",
                    format!("filename {},title {}", b64(&name), b64(&name)),
                )
                .send()
                .await
                .context("creating the upload")?;
            if resp.status() != reqwest::StatusCode::CREATED {
                bail!("creating the upload: {}", problem_text(resp).await);
            }
            let location = resp
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| anyhow!("the server gave no upload URL"))?
                .to_string();
            if let Some(path) = &remembered {
                if let Some(dir) = path.parent() {
                    let _ = tokio::fs::create_dir_all(dir).await;
                }
                let _ = tokio::fs::write(path, &location).await;
            }
            location
        }
    };

    let pb = bar(size);
    pb.set_position(offset);
    let mut file = tokio::fs::File::open(&args.file).await?;
    let mut buf = vec![0u8; args.chunk.max(1)];
    while offset < size {
        file.seek(std::io::SeekFrom::Start(offset)).await?;
        let want = ((size - offset) as usize).min(buf.len());
        file.read_exact(&mut buf[..want]).await?;
        let chunk = bytes::Bytes::copy_from_slice(&buf[..want]);
        let digest = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&chunk));
        let mut tries = 0;
        loop {
            tries += 1;
            let sent = http
                .patch(&url)
                .header("authorization", &auth)
                .header("tus-resumable", "1.0.0")
                .header("content-type", "application/offset+octet-stream")
                .header("upload-offset", offset.to_string())
                .header("upload-checksum", format!("sha256 {digest}"))
                .timeout(Duration::from_secs(600))
                .body(chunk.clone())
                .send()
                .await;
            match sent {
                Ok(r) if r.status() == reqwest::StatusCode::NO_CONTENT => {
                    offset = header_u64(&r, "upload-offset").unwrap_or(offset + want as u64);
                    break;
                }
                Ok(r)
                    if r.status().is_client_error()
                        && r.status().as_u16() != 409
                        && r.status().as_u16() != 460 =>
                {
                    bail!("uploading: {}", problem_text(r).await);
                }
                other => {
                    let why = match other {
                        Ok(r) => problem_text(r).await,
                        Err(e) => e.to_string(),
                    };
                    if tries >= TRIES {
                        bail!("uploading failed {tries} times: {why}");
                    }
                    pb.suspend(|| eprintln!("connection problem ({why}); resuming"));
                    tokio::time::sleep(Duration::from_millis(250 << tries.min(5))).await;
                    match server_offset(&http, &url, &auth).await {
                        Ok(o) => {
                            offset = o;
                            break;
                        }
                        Err(e) => pb.suspend(|| eprintln!("asking for the offset: {e}")),
                    }
                }
            }
        }
        pb.set_position(offset);
    }
    pb.finish_and_clear();
    if let Some(path) = &remembered {
        let _ = tokio::fs::remove_file(path).await;
    }

    let upload_id = url
        .rsplit('/')
        .next()
        .ok_or_else(|| anyhow!("odd upload URL {url}"))?;
    let upload: serde_json::Value = http
        .get(format!("{api}/api/v1/uploads/{upload_id}"))
        .header("authorization", &auth)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let asset_id = upload["asset_id"]
        .as_str()
        .ok_or_else(|| anyhow!("the upload names no asset"))?
        .to_string();
    say!("{asset_id}");
    if !args.wait {
        return Ok(0);
    }
    follow(&http, &api, &auth, &asset_id).await
}

async fn server_offset(http: &reqwest::Client, url: &str, auth: &str) -> Result<u64> {
    let r = http
        .head(url)
        .header("authorization", auth)
        .header("tus-resumable", "1.0.0")
        .timeout(Duration::from_secs(30))
        .send()
        .await?;
    if !r.status().is_success() {
        bail!("the server answered {}", r.status());
    }
    header_u64(&r, "upload-offset").ok_or_else(|| anyhow!("no Upload-Offset"))
}

fn header_u64(r: &reqwest::Response, name: &str) -> Option<u64> {
    r.headers().get(name)?.to_str().ok()?.parse().ok()
}

async fn problem_text(r: reqwest::Response) -> String {
    let status = r.status();
    let body: serde_json::Value = r.json().await.unwrap_or_default();
    match body["detail"].as_str() {
        Some(d) => format!("{status}: {d}"),
        None => status.to_string(),
    }
}

/// Follows the asset's events until it ends; prints the playback URL when ready.
async fn follow(http: &reqwest::Client, api: &str, auth: &str, asset_id: &str) -> Result<i32> {
    let mut last_id: Option<String> = None;
    let mut failures = 0;
    loop {
        let mut req = http
            .get(format!("{api}/api/v1/assets/{asset_id}/events"))
            .header("authorization", auth)
            .header("accept", "text/event-stream");
        if let Some(id) = &last_id {
            req = req.header("last-event-id", id);
        }
        let resp = match req.send().await {
            Ok(r) if r.status().is_success() => r,
            Ok(r) if r.status().is_client_error() => {
                bail!("following events: {}", problem_text(r).await)
            }
            other => {
                failures += 1;
                if failures > 30 {
                    bail!("the event stream keeps failing: {other:?}");
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        failures = 0;
        let mut stream = resp.bytes_stream();
        let mut pending = String::new();
        let (mut id, mut data) = (None::<String>, String::new());
        while let Some(chunk) = stream.next().await {
            let Ok(chunk) = chunk else { break };
            pending.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(nl) = pending.find('\n') {
                let line = pending[..nl].trim_end_matches('\r').to_string();
                pending.drain(..=nl);
                if line.is_empty() {
                    if !data.is_empty() {
                        if let Some(i) = id.take() {
                            last_id = Some(i);
                        }
                        if let Some(code) = on_event(http, api, auth, asset_id, &data).await? {
                            return Ok(code);
                        }
                    }
                    data.clear();
                } else if let Some(v) = line.strip_prefix("id:") {
                    id = Some(v.trim().to_string());
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim_start());
                }
            }
        }
    }
}

/// Handles one event; `Some(exit code)` when the asset has ended.
async fn on_event(
    http: &reqwest::Client,
    api: &str,
    auth: &str,
    asset_id: &str,
    data: &str,
) -> Result<Option<i32>> {
    let event: serde_json::Value = serde_json::from_str(data).unwrap_or_default();
    let kind = event["type"].as_str().unwrap_or_default();
    match kind {
        "video.asset.progress" => {
            eprintln!(
                "transcoding {}%",
                event["data"]["progress"].as_u64().unwrap_or(0)
            )
        }
        "video.asset.ready" => {
            let asset: serde_json::Value = http
                .get(format!("{api}/api/v1/assets/{asset_id}"))
                .header("authorization", auth)
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            let url = asset["playback_url"]
                .as_str()
                .ok_or_else(|| anyhow!("the ready asset has no playback URL"))?;
            eprintln!("ready");
            say!("{url}");
            return Ok(Some(0));
        }
        "video.asset.in_review" => {
            eprintln!("{asset_id} is held for review by the moderation policy; a person decides (POST /api/v1/assets/{asset_id}/moderation)");
            return Ok(Some(3));
        }
        "video.asset.errored" | "video.asset.blocked" => {
            let code = event["data"]["code"].as_str().unwrap_or("ERR_UNKNOWN");
            let message = event["data"]["message"].as_str().unwrap_or(kind);
            eprintln!("{asset_id} {kind}: {code}: {message}");
            return Ok(Some(2));
        }
        other => eprintln!("{other}"),
    }
    Ok(None)
}
