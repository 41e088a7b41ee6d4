//! Harness of the control plane's tests: the real `sunomi-control` (and `sunomi-edge`)
//! binaries as processes on free ports, a real Redis and S3 API, FFmpeg-made media, and the
//! independent judges from PyPI (`deploy/local/py-judges.sh`).
#![allow(dead_code)]

#[path = "../../../edge/tests/common/procs.rs"]
mod procs;
pub use procs::*;
pub mod database;
#[allow(unused_imports)]
pub use database::database_for;
pub mod people;
pub mod receiver;
#[allow(unused_imports)]
pub use receiver::{Received, Receiver};

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The `sunomi-control` binary under test.
pub fn control_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_sunomi-control"))
}

/// A workspace binary built beside `sunomi-control`.
pub fn sibling(name: &str) -> PathBuf {
    let path = control_binary().with_file_name(name);
    assert!(
        path.exists(),
        "{} is missing: build the workspace binaries first (`make test` does)",
        path.display()
    );
    path
}

/// The offline analysis models' folder, made by `deploy/local/models.sh` (idempotent: a
/// stamp check once they are there).
pub fn models_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let script = manifest_dir().join("../deploy/local/models.sh");
        let out = Command::new(script)
            .output()
            .expect("running deploy/local/models.sh");
        assert!(
            out.status.success(),
            "fetching the models failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
    })
    .clone()
}

/// Path of a judge script in `tests/judges/`.
pub fn judge(name: &str) -> PathBuf {
    manifest_dir().join("tests/judges").join(name)
}

/// Runs `sunomi-control` with `args` and returns (exit code, stdout, stderr).
pub fn control(args: &[&str], env: &[(String, String)]) -> (i32, String, String) {
    let out = Command::new(control_binary())
        .args(args)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("RUST_LOG", "warn")
        .output()
        .expect("running sunomi-control");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Creates an API key in `store`.
pub fn create_key(store: &str, env: &[(String, String)]) -> String {
    let database = database_for(store);
    let (code, out, err) = control(
        &[
            "keys",
            "create",
            "--store",
            store,
            "--database",
            &database,
            "--name",
            "test",
        ],
        env,
    );
    assert_eq!(code, 0, "keys create failed: {err}");
    out.lines().last().expect("a key line").trim().to_string()
}

/// How to start a control instance.
#[derive(Clone, Default)]
pub struct Options {
    /// STORE.
    pub store: String,
    /// Redis URL.
    pub redis: Option<String>,
    /// Extra TOML appended to the generated config.
    pub config: String,
    /// `--no-workers`.
    pub no_workers: bool,
    /// Environment (S3 credentials).
    pub env: Vec<(String, String)>,
    /// Listen address (default: a free port); a restart keeps the address it had.
    pub listen: Option<String>,
    /// Database URL (default: the store's own, [`database_for`]).
    pub database: Option<String>,
}

/// A running `sunomi-control serve`.
pub struct Control {
    pub process: Process,
    pub base: String,
    pub admin: String,
    pub options: Options,
    config: tempfile::NamedTempFile,
}

/// Test defaults: fast sweeps, short backoffs, a short visibility timeout, a fast preset,
/// analysis off (the tests of analysis turn it on).
pub const TEST_CONFIG: &str = "
[uploads]
sweep_interval_secs = 1
[jobs]
visibility_timeout_secs = 4
backoff_base_ms = 100
backoff_max_secs = 1
[transcode]
preset = \"ultrafast\"
[captions]
backend = \"off\"
[moderation]
backend = \"off\"
";

fn config_file(options: &Options, listen: &str) -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().expect("config file");
    // Top-level keys must precede the tables of TEST_CONFIG and the test's own.
    let (top, tables) = match options.config.find("\n[") {
        Some(i) if !options.config.trim_start().starts_with('[') => options.config.split_at(i),
        _ if options.config.trim_start().starts_with('[') => ("", options.config.as_str()),
        _ => (options.config.as_str(), ""),
    };
    // A test that plays through the pages names its real edge.
    let edge_url = if top.contains("edge_url") {
        ""
    } else {
        "edge_url = \"http://edge.test\"\n"
    };
    let text = format!(
        "listen = \"{listen}\"\n{edge_url}{top}\n{}\n{tables}\n",
        merge_tables(TEST_CONFIG, tables)
    );
    std::fs::write(file.path(), text).expect("writing config");
    file
}

/// TEST_CONFIG without the tables the test overrides wholesale.
fn merge_tables(defaults: &str, overrides: &str) -> String {
    let mut out = String::new();
    let mut skip = false;
    for line in defaults.lines() {
        if line.starts_with('[') {
            skip = overrides.contains(line);
        }
        if !skip {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Every error a test provoked must be one its route documents: the API counts the others
/// in `sunomi_api_undocumented_errors_total` (src/http/problem.rs), and a test that made one
/// fails here when it lets go of its control plane.
impl Drop for Control {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        let text = blocking_get(&format!("{}/metrics", self.admin));
        let undocumented: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("sunomi_api_undocumented_errors_total{"))
            .filter(|l| !l.ends_with(" 0"))
            .collect();
        assert!(
            undocumented.is_empty(),
            "the API answered errors its OpenAPI document does not list:\n{}",
            undocumented.join("\n")
        );
    }
}

impl Control {
    /// Starts one and waits until it answers.
    pub fn start(options: Options) -> Control {
        let admin = format!("127.0.0.1:{}", free_port());
        let config = config_file(&options, options.listen.as_deref().unwrap_or("127.0.0.1:0"));
        let mut cmd = Command::new(control_binary());
        let database = options
            .database
            .clone()
            .unwrap_or_else(|| database_for(&options.store));
        cmd.arg("serve")
            .args(["--store", &options.store, "--admin", &admin])
            .args(["--database", &database])
            .arg("--config")
            .arg(config.path())
            .envs(options.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("RUST_LOG", "warn,sunomi_control=info")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(r) = &options.redis {
            cmd.args(["--redis", r]);
        }
        if options.no_workers {
            cmd.arg("--no-workers");
        }
        let mut child = cmd.spawn().expect("starting sunomi-control serve");
        let stdout = child.stdout.take().expect("stdout");
        let process = Process(child);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("listening on ") {
                    let _ = tx.send(url.to_string());
                }
            }
        });
        let base = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("sunomi-control did not say where it listens");
        let c = Control {
            process,
            base,
            admin: format!("http://{admin}"),
            options,
            config,
        };
        wait_until(Duration::from_secs(30), "control /healthz", || {
            http_status(&format!("{}/healthz", c.admin)) == 200
        });
        c
    }

    /// Kills it (SIGKILL) and starts it again with the same options and address.
    pub fn restart(self) -> Control {
        let mut options = self.options.clone();
        options.listen = Some(self.base.trim_start_matches("http://").to_string());
        drop(self);
        Control::start(options)
    }

    /// An API client with `key`.
    pub fn api(&self, key: &str) -> Api {
        Api {
            base: self.base.clone(),
            key: key.to_string(),
        }
    }

    /// The value of one metric series on the admin listener.
    pub fn metric(&self, series: &str) -> Option<f64> {
        let text = blocking_get(&format!("{}/metrics", self.admin));
        text.lines().find_map(|l| {
            l.strip_prefix(series)
                .filter(|v| v.starts_with(' '))
                .and_then(|v| v.trim().parse().ok())
        })
    }

    /// The config file it runs with.
    pub fn config_path(&self) -> &Path {
        self.config.path()
    }
}

/// Starts `sunomi-control worker` against `redis`.
pub fn worker(store: &str, redis: &str, config: &str, env: &[(String, String)]) -> Process {
    worker_with(store, redis, config, env, &[])
}

/// [`worker`] with `extra` arguments (`--admin ADDR`, `--kinds …`).
pub fn worker_with(
    store: &str,
    redis: &str,
    config: &str,
    env: &[(String, String)],
    extra: &[&str],
) -> Process {
    let options = Options {
        store: store.into(),
        redis: Some(redis.into()),
        config: config.into(),
        ..Default::default()
    };
    let file = config_file(&options, "127.0.0.1:0");
    let path = file.into_temp_path().keep().expect("keeping the config");
    let child = Command::new(control_binary())
        .args(["worker", "--store", store, "--redis", redis])
        .args(["--database", &database_for(store)])
        .arg("--config")
        .arg(&path)
        .args(extra)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("RUST_LOG", "warn,sunomi_control=info")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting sunomi-control worker");
    Process(child)
}

/// Waits until `condition` holds, failing the test after `limit`.
pub fn wait_until(limit: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The HTTP client the tests use (60 s timeout).
pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("HTTP client")
}

/// Status of a GET (0 when nothing answers).
pub fn http_status(url: &str) -> u16 {
    client().get(url).send().map_or(0, |r| r.status().as_u16())
}

/// A signing key made through `api`: its id and the file holding its private half (in `dir`).
pub fn signing_key(api: &Api, dir: &Path) -> (String, PathBuf) {
    let r = api.send("POST", "/api/v1/signing-keys", &[], vec![]);
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let key = r.json();
    let kid = key["id"].as_str().unwrap().to_string();
    let pem_file = dir.join(format!("signing-{kid}.pem"));
    std::fs::write(&pem_file, key["private_key"].as_str().unwrap()).unwrap();
    (kid, pem_file)
}

/// A playback token for `pid` made by `sunomi-control token` with key `(kid, pem_file)`,
/// valid `ttl` seconds; a review token when `review`.
pub fn mint_token(key: &(String, PathBuf), pid: &str, ttl: &str, review: bool) -> String {
    mint_token_for(key, pid, ttl, if review { "review" } else { "v" })
}

/// A playback token for `pid` with `aud` `audience` (`v`, `t`, `s`, `g`, `review`).
pub fn mint_token_for(key: &(String, PathBuf), pid: &str, ttl: &str, audience: &str) -> String {
    let args = [
        "token",
        "--playback-id",
        pid,
        "--ttl",
        ttl,
        "--key-id",
        &key.0,
        "--private-key",
        key.1.to_str().unwrap(),
        "--audience",
        audience,
    ];
    let (code, out, err) = control(&args, &[]);
    assert_eq!(code, 0, "{err}");
    out.trim().to_string()
}

/// The secret the test picture service and its edges share.
pub const PICTURES_SECRET: &str = "7069637475726573207365637265742121";

/// A running picture service (`sunomi-origin pictures`) over `store`, and its URL.
pub fn start_pictures(store: &str) -> (Process, String) {
    let listen = format!("127.0.0.1:{}", free_port());
    let child = Command::new(sibling("sunomi-origin"))
        .args(["pictures", "--store", store, "--listen", &listen])
        .env("SUNOMI_PICTURES_SECRET", PICTURES_SECRET)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting sunomi-origin pictures");
    let url = format!("http://{listen}");
    wait_until(Duration::from_secs(30), "the picture service", || {
        http_status(&format!("{url}/healthz")) == 200
    });
    (Process(child), url)
}

/// The body of a GET as text (empty when nothing answers).
pub fn blocking_get(url: &str) -> String {
    client()
        .get(url)
        .send()
        .and_then(|r| r.text())
        .unwrap_or_default()
}

/// An answer: status, headers (lower-case names), body.
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    /// The body as JSON (Null when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A client of one control API with one key.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub key: String,
}

impl Api {
    /// Sends `method path` with `headers` and `body`; the key unless `headers` has its own
    /// Authorization.
    pub fn send(&self, method: &str, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        };
        let mut req = client().request(method, url).body(body);
        if !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        {
            req = req.bearer_auth(&self.key);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().expect("request");
        Reply {
            status: resp.status().as_u16(),
            headers: resp.headers().clone(),
            body: resp.bytes().map(|b| b.to_vec()).unwrap_or_default(),
        }
    }

    /// GET returning the reply.
    pub fn get(&self, path: &str) -> Reply {
        self.send("GET", path, &[], Vec::new())
    }

    /// An asset's JSON (must exist).
    pub fn asset(&self, id: &str) -> Value {
        let r = self.get(&format!("/api/v1/assets/{id}"));
        assert_eq!(
            r.status,
            200,
            "GET asset {id}: {}",
            String::from_utf8_lossy(&r.body)
        );
        r.json()
    }

    /// Waits until asset `id` has a final status; returns it.
    pub fn wait_final(&self, id: &str, limit: Duration) -> Value {
        let mut last = Value::Null;
        wait_until(limit, &format!("asset {id} to finish"), || {
            last = self.asset(id);
            matches!(
                last["status"].as_str(),
                Some("ready" | "errored" | "blocked" | "in_review")
            )
        });
        last
    }

    /// Reads the asset's SSE stream from `last_event_id` until an event of type `until`;
    /// returns (id, type) pairs.
    pub fn events_until(
        &self,
        id: &str,
        last_event_id: Option<&str>,
        until: &str,
    ) -> Vec<(String, String)> {
        self.stream_until(&format!("/api/v1/assets/{id}/events"), last_event_id, until)
    }

    /// Reads the SSE stream at `path` from `last_event_id` until an event of type `until`;
    /// returns (id, type) pairs.
    pub fn stream_until(
        &self,
        path: &str,
        last_event_id: Option<&str>,
        until: &str,
    ) -> Vec<(String, String)> {
        let mut req = client()
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .timeout(Duration::from_secs(120));
        if let Some(l) = last_event_id {
            req = req.header("last-event-id", l);
        }
        let resp = req.send().expect("events");
        assert_eq!(resp.status().as_u16(), 200);
        assert!(resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream")));
        let mut out = Vec::new();
        let (mut eid, mut kind) = (String::new(), String::new());
        for line in BufReader::new(resp).lines() {
            let line = line.expect("event stream line");
            if let Some(v) = line.strip_prefix("id:") {
                eid = v.trim().to_string();
            } else if let Some(v) = line.strip_prefix("event:") {
                kind = v.trim().to_string();
            } else if line.is_empty() && !kind.is_empty() {
                out.push((eid.clone(), kind.clone()));
                if kind == until {
                    return out;
                }
                kind.clear();
            }
        }
        out
    }
}

/// A still picture (one test-pattern frame, `size` as `WxH`) at `name` in `dir`; the
/// format follows the name's extension.
pub fn picture(dir: &Path, name: &str, size: &str) -> PathBuf {
    let path = dir.join(name);
    let source = format!("testsrc2=size={size}");
    let (ok, _, err) = run(
        "ffmpeg",
        &[
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            &source,
            "-frames:v",
            "1",
            path.to_str().unwrap(),
        ],
    );
    assert!(ok, "making {name}: {err}");
    path
}

/// A 640x360 clip with a tone, `seconds` long, at `name` in `dir`.
pub fn clip(dir: &Path, name: &str, seconds: f64) -> PathBuf {
    let t = format!("{seconds}");
    make_source(
        dir,
        name,
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=640x360:rate=30",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=44100",
            "-t",
            &t,
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-movflags",
            "+faststart",
            "-shortest",
        ],
    )
}

/// Runs `sunomi-control upload FILE --api BASE --key KEY [--wait]`.
pub fn upload_cli(file: &Path, api: &Api, wait: bool) -> (i32, String, String) {
    let mut args = vec![
        "upload".to_string(),
        file.to_string_lossy().into_owned(),
        "--api".into(),
        api.base.clone(),
        "--key".into(),
        api.key.clone(),
    ];
    if wait {
        args.push("--wait".into());
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    // A private cache folder, so runs never resume each other's uploads.
    let cache = tempfile::tempdir().expect("cache dir");
    control(
        &refs,
        &[(
            "XDG_CACHE_HOME".to_string(),
            cache.path().to_string_lossy().into_owned(),
        )],
    )
}

/// A running `sunomi-edge` on `store`.
pub struct Edge {
    pub process: Process,
    pub base: String,
    pub admin: String,
}

impl Edge {
    /// Starts one on free ports with `extra` flags and `env`.
    pub fn start(store: &str, extra: &[&str], env: &[(String, String)]) -> Edge {
        let (listen, admin) = (
            format!("127.0.0.1:{}", free_port()),
            format!("127.0.0.1:{}", free_port()),
        );
        let child = Command::new(sibling("sunomi-edge"))
            .args(["--store", store, "--listen", &listen, "--admin", &admin])
            .args(extra)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting sunomi-edge");
        let edge = Edge {
            process: Process(child),
            base: format!("http://{listen}"),
            admin: format!("http://{admin}"),
        };
        wait_until(Duration::from_secs(30), "the edge", || {
            http_status(&format!("{}/healthz", edge.admin)) == 200
        });
        edge
    }
}

/// Decodes `url` fully with ffmpeg; panics with its errors when it cannot.
pub fn decodes(url: &str) {
    let (ok, _, err) = run("ffmpeg", &["-v", "error", "-i", url, "-f", "null", "-"]);
    assert!(ok && err.trim().is_empty(), "ffmpeg decoding {url}: {err}");
}

/// Every file under `dir` (relative paths), for "nothing left behind" checks.
pub fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(rel) = p.strip_prefix(dir) {
                out.push(rel.to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out
}

/// This package's folder: where cargo says at run time (a test binary built in another
/// checkout, from a shared build cache, still reads this checkout's files), else where it
/// was built.
fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

/// The judges' virtualenv's `bin/` folder (moto_server lives there).
pub fn venv_bin() -> PathBuf {
    Path::new(python()).parent().unwrap().to_path_buf()
}

/// moto's server (every AWS service it emulates) on a free port, and its URL.
pub fn start_moto() -> (Process, String) {
    let port = free_port();
    let child = std::process::Command::new(venv_bin().join("moto_server"))
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("moto_server (deploy/local/py-judges.sh installs it)");
    let url = format!("http://127.0.0.1:{port}");
    wait_until(Duration::from_secs(60), "moto", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    (Process(child), url)
}

/// Runs a Python snippet with the judges' interpreter (boto3 is there, with moto).
pub fn py(code: &str, env: &[(String, String)]) -> String {
    py_args(code, &[], env)
}

/// Runs a Python snippet with `args` (its `sys.argv[1:]`); asserts it succeeds and returns
/// what it printed.
pub fn py_args(code: &str, args: &[&str], env: &[(String, String)]) -> String {
    let out = std::process::Command::new(python())
        .args(["-c", code])
        .args(args)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
