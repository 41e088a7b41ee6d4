//! What operators do to a running edge, judged by real clients: HTTPS with HTTP/2 and SNI
//! (`curl`, `openssl s_client`), certificates replaced on disk, configuration reloaded by
//! SIGHUP and through the admin port, and the binary upgraded in place under load.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;

/// What curl saw: HTTP version, status and body; `None` when the request failed (TLS
/// refused, connection error).
fn curl(ca: &Path, url: &str, args: &[&str]) -> Option<(String, u16, Vec<u8>)> {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert"])
        .arg(ca)
        .args(args)
        .args(["-w", "\n%{http_version} %{http_code}", url])
        .output()
        .expect("curl must be installed (make test installs it)");
    if !out.status.success() {
        return None;
    }
    let mut body = out.stdout;
    let split = body.iter().rposition(|&b| b == b'\n')?;
    let trailer = String::from_utf8_lossy(&body[split + 1..]).to_string();
    body.truncate(split);
    let (version, code) = trailer.split_once(' ')?;
    Some((version.to_string(), code.parse().ok()?, body))
}

/// `--resolve` so `name` reaches the edge on loopback (SNI and Host carry the name).
fn resolve(name: &str, addr: &str) -> String {
    let port = addr.rsplit(':').next().unwrap_or("");
    format!("{name}:{port}:127.0.0.1")
}

/// A clip served over plain HTTP and HTTPS: a.test (default, with a wildcard) and b.test
/// (chosen by SNI) from one CA.
struct TlsSetup {
    _dir: tempfile::TempDir,
    ca: TestCa,
    edge: Edge,
    tls: String,
    config: PathBuf,
}

fn tls_setup(id: &str, extra_config: &str) -> TlsSetup {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(&dir.path().join("tls"));
    let a = ca.leaf("a", &["a.test", "*.a.test", "127.0.0.1"]);
    let b = ca.leaf("b", &["b.test"]);
    let config = dir.path().join("edge.toml");
    std::fs::write(
        &config,
        format!(
            "{extra_config}\n[tls]\nreload_interval_secs = 1\n\
             [[tls.certificates]]\ncert = {:?}\nkey = {:?}\n",
            b.chain, b.key
        ),
    )
    .unwrap();
    let tls = format!("127.0.0.1:{}", free_port());
    let mut flags = vec!["--config".to_string(), config.to_str().unwrap().into()];
    flags.extend(a.edge_flags(&tls));
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let edge = serve_pattern(dir.path(), id, "320x240", 6, &flags);
    TlsSetup {
        _dir: dir,
        ca,
        edge,
        tls,
        config,
    }
}

#[test]
fn https_serves_http2_and_http11_over_tls12_and_13_with_the_certificate_sni_asks_for() {
    // Every cached segment in a sendable mapping: TLS reads it as ordinary memory while the
    // plain listener hands its pages to the socket.
    let s = tls_setup("tlsclip", "[cache]\nzero_copy_min_bytes = 1\n");
    let ca = &s.ca.cert;
    let url = |name: &str, path: &str| {
        format!("https://{name}:{}{path}", s.tls.rsplit(':').next().unwrap())
    };
    let a = resolve("a.test", &s.tls);
    let plain_master = get_ok(&s.edge.url("/v/tlsclip/master.m3u8"));

    let (version, code, body) = curl(
        ca,
        &url("a.test", "/v/tlsclip/master.m3u8"),
        &["--http2", "--resolve", &a],
    )
    .unwrap();
    assert_eq!((version.as_str(), code), ("2", 200));
    assert_eq!(body, plain_master, "HTTPS serves what plain HTTP serves");
    let (version, code, _) = curl(
        ca,
        &url("a.test", "/v/tlsclip/master.m3u8"),
        &["--http1.1", "--resolve", &a],
    )
    .unwrap();
    assert_eq!((version.as_str(), code), ("1.1", 200));

    // A segment over HTTP/2 is the plain listener's segment, byte for byte.
    let segment = "/v/tlsclip/240p/0.m4s";
    let (_, code, body) = curl(ca, &url("a.test", segment), &["--http2", "--resolve", &a]).unwrap();
    assert_eq!(code, 200);
    assert_eq!(body, get_ok(&s.edge.url(segment)));
    assert!(s.edge.metric("sunomi_zero_copy_sent_bytes_total") >= body.len() as f64);

    // Body-less answers over HTTP/2 end their stream with the head (curl would otherwise
    // wait out its timeout): HEAD, 304, and a preflight.
    let (version, code, head) = curl(
        ca,
        &url("a.test", segment),
        &["--http2", "--head", "--resolve", &a],
    )
    .unwrap();
    assert_eq!((version.as_str(), code), ("2", 200));
    let head = String::from_utf8_lossy(&head).to_lowercase();
    assert!(
        head.contains(&format!("content-length: {}", body.len())),
        "{head}"
    );
    let etag = get(&s.edge.url(segment))
        .header("etag")
        .unwrap()
        .to_string();
    let if_none_match = format!("If-None-Match: {etag}");
    let (_, code, nothing) = curl(
        ca,
        &url("a.test", segment),
        &["--http2", "--resolve", &a, "-H", &if_none_match],
    )
    .unwrap();
    assert_eq!((code, nothing.len()), (304, 0));
    let (_, code, nothing) = curl(
        ca,
        &url("a.test", segment),
        &["--http2", "--resolve", &a, "-X", "OPTIONS"],
    )
    .unwrap();
    assert_eq!((code, nothing.len()), (204, 0));

    // A POST's body over HTTP/2 is read whole and the request answered: a licence request
    // without a token is refused by the token check (403), not for its method or body; a
    // body over 16 KiB is refused (413), and a POST to anything but a licence is 405.
    let licence = url("a.test", "/v/tlsclip/keys/clearkey");
    let request = r#"{"kids":["AAAAAAAAAAAAAAAAAAAAAA"],"type":"temporary"}"#;
    let post = |target: &str, body: &str| {
        curl(
            ca,
            target,
            &[
                "--http2",
                "--resolve",
                &a,
                "-H",
                "Content-Type: application/json",
                "--data-binary",
                body,
            ],
        )
        .unwrap()
    };
    let (version, code, _) = post(&licence, request);
    assert_eq!((version.as_str(), code), ("2", 403));
    assert_eq!(post(&licence, &" ".repeat(16 * 1024 + 1)).1, 413);
    assert_eq!(post(&url("a.test", segment), request).1, 405);

    // TLS 1.2 and 1.3 both; nothing older.
    for versions in [
        ["--tlsv1.3", "--tls-max", "1.3"],
        ["--tlsv1.2", "--tls-max", "1.2"],
    ] {
        let mut args = vec!["--resolve", &a];
        args.extend(versions);
        let (_, code, _) = curl(ca, &url("a.test", "/v/tlsclip/master.m3u8"), &args)
            .unwrap_or_else(|| panic!("{versions:?} refused"));
        assert_eq!(code, 200);
    }
    let old = curl(
        ca,
        &url("a.test", "/v/tlsclip/master.m3u8"),
        &["--resolve", &a, "--tlsv1", "--tls-max", "1.1"],
    );
    assert!(old.is_none(), "TLS 1.1 must be refused");

    // SNI picks the certificate: exact names, a wildcard, case-insensitively; an unknown
    // name or none gets the default (the first configured).
    let fp_a = fingerprint_of_file(&s._dir.path().join("tls/a.pem"));
    let fp_b = fingerprint_of_file(&s._dir.path().join("tls/b.pem"));
    assert_ne!(fp_a, fp_b);
    for (name, expected) in [
        (Some("b.test"), &fp_b),
        (Some("B.Test"), &fp_b),
        (Some("a.test"), &fp_a),
        (Some("cdn.a.test"), &fp_a),
        (Some("unknown.example"), &fp_a),
        (None, &fp_a),
    ] {
        assert_eq!(&served_fingerprint(&s.tls, name), expected, "SNI {name:?}");
    }
    // And a client that verifies gets through with either name.
    let b = resolve("b.test", &s.tls);
    let (_, code, _) = curl(
        ca,
        &url("b.test", "/v/tlsclip/master.m3u8"),
        &["--http2", "--resolve", &b],
    )
    .unwrap();
    assert_eq!(code, 200);
}

/// A TLS connection kept open by Python's `ssl` module: one request now, one more when told.
struct OpenConnection {
    child: std::process::Child,
    stdout: std::io::BufReader<std::process::ChildStdout>,
}

const KEEP_ALIVE_CLIENT: &str = r#"
import socket, ssl, sys
ca, port, name, path = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(cafile=ca)
conn = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname=name)
reader = conn.makefile("rb")
def fetch():
    conn.sendall(f"GET {path} HTTP/1.1\r\nHost: {name}\r\n\r\n".encode())
    status = reader.readline().split()[1].decode()
    length = 0
    while True:
        line = reader.readline().strip()
        if not line:
            break
        key, _, value = line.decode().partition(":")
        if key.lower() == "content-length":
            length = int(value)
    reader.read(length)
    print(status, flush=True)
fetch()
sys.stdin.readline()
fetch()
"#;

impl OpenConnection {
    fn open(ca: &Path, addr: &str, name: &str, path: &str) -> OpenConnection {
        let port = addr.rsplit(':').next().unwrap();
        let mut child = Command::new("python3")
            .args(["-c", KEEP_ALIVE_CLIENT])
            .arg(ca)
            .args([port, name, path])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 must be installed");
        let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut c = OpenConnection { child, stdout };
        assert_eq!(c.status(), "200");
        c
    }

    fn status(&mut self) -> String {
        let mut line = String::new();
        std::io::BufRead::read_line(&mut self.stdout, &mut line).unwrap();
        line.trim().to_string()
    }

    fn fetch_again(&mut self) -> String {
        use std::io::Write;
        self.child.stdin.as_mut().unwrap().write_all(b"\n").unwrap();
        let status = self.status();
        let _ = self.child.wait();
        status
    }
}

#[test]
fn a_certificate_replaced_on_disk_reaches_new_connections_and_open_ones_keep_working() {
    let s = tls_setup("rotate", "");
    let ca = &s.ca.cert;
    let before = fingerprint_of_file(&s._dir.path().join("tls/a.pem"));
    assert_eq!(served_fingerprint(&s.tls, Some("a.test")), before);
    let mut open = OpenConnection::open(ca, &s.tls, "a.test", "/v/rotate/master.m3u8");

    // Renewed the way certbot or cert-manager does it: new files in place, no signal.
    s.ca.leaf("a", &["a.test", "*.a.test", "127.0.0.1"]);
    let renewed = fingerprint_of_file(&s._dir.path().join("tls/a.pem"));
    assert_ne!(renewed, before);
    wait_until(
        Duration::from_secs(20),
        "the renewed certificate to be served",
        || served_fingerprint(&s.tls, Some("a.test")) == renewed,
    );
    assert_eq!(
        open.fetch_again(),
        "200",
        "a connection opened before the renewal still serves"
    );
    let config: serde_json::Value =
        serde_json::from_slice(&get_ok(&format!("{}/config", s.edge.admin))).unwrap();
    assert_eq!(config["certificates"][0]["sha256"], renewed.as_str());

    // A broken file is not loaded: the renewed certificate stays in service.
    std::fs::write(s._dir.path().join("tls/a.pem"), b"not a certificate").unwrap();
    let refused = r#"sunomi_config_reloads_total{result="error",trigger="certificate-files"}"#;
    wait_until(
        Duration::from_secs(20),
        "the broken file to be refused",
        || s.edge.metric_opt(refused).unwrap_or(0.0) >= 1.0,
    );
    assert_eq!(served_fingerprint(&s.tls, Some("a.test")), renewed);
    let (_, code, _) = curl(
        ca,
        &format!(
            "https://a.test:{}/v/rotate/master.m3u8",
            s.tls.rsplit(':').next().unwrap()
        ),
        &["--resolve", &resolve("a.test", &s.tls)],
    )
    .unwrap();
    assert_eq!(code, 200);
}

fn cache_control(edge: &Edge, path: &str) -> String {
    get(&edge.url(path))
        .header("cache-control")
        .unwrap_or("")
        .to_string()
}

#[test]
fn sighup_and_the_admin_port_reload_what_can_change_live_and_name_what_cannot() {
    let token = "reload-token-0123456789";
    let s = tls_setup("reload", &format!("admin_token = {token:?}"));
    let master = "/v/reload/master.m3u8";
    assert_eq!(cache_control(&s.edge, master), "public, max-age=60");
    let base = std::fs::read_to_string(&s.config).unwrap();

    // SIGHUP: a live setting and one that needs a restart.
    std::fs::write(
        &s.config,
        format!(
            "threads = 3\n{base}\n[cache]\nplaylist_max_age_secs = 7\nmetadata_bytes = 33554432\n"
        ),
    )
    .unwrap();
    let status = Command::new("kill")
        .args(["-HUP", &s.edge.process.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    // The live setting takes effect a moment before the reload's report is recorded: wait
    // for both (CI once read the report in between).
    let report = || -> serde_json::Value {
        serde_json::from_slice(&get_ok(&format!("{}/config", s.edge.admin))).unwrap()
    };
    wait_until(Duration::from_secs(10), "the reload to apply", || {
        cache_control(&s.edge, master) == "public, max-age=7" && !report()["last_reload"].is_null()
    });
    let config = report();
    let last = &config["last_reload"];
    assert_eq!(last["trigger"], "SIGHUP");
    assert!(last["error"].is_null());
    let applied: Vec<&str> = last["applied"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(
        applied.contains(&"cache.playlist_max_age_secs")
            && applied.contains(&"cache.metadata_bytes"),
        "{last}"
    );
    assert_eq!(last["restart_required"], serde_json::json!(["threads"]));
    assert_eq!(
        config["config"]["threads"], 0,
        "threads keep their running value"
    );
    assert_eq!(config["config"]["cache"]["metadata_bytes"], 33554432);
    assert_eq!(
        config["config"]["admin_token"], "(set)",
        "secrets never leave the edge"
    );
    assert!(!String::from_utf8_lossy(&get_ok(&format!("{}/config", s.edge.admin))).contains(token));
    // The rebuilt metadata cache kept its entries: the playlist is still a hit.
    let response = get(&s.edge.url(master));
    assert_eq!(response.header("cache-status"), Some("sunomi; hit"));

    // The admin port: the token is required, and a configuration that does not parse
    // changes nothing and says why.
    let reload = format!("{}/reload", s.edge.admin);
    assert_eq!(request("POST", &reload, &[]).status, 401);
    assert_eq!(request("GET", &reload, &[]).status, 405);
    std::fs::write(
        &s.config,
        format!("{base}\n[cache]\nplaylist_max_age_secs = \"soon\"\n"),
    )
    .unwrap();
    let bearer = format!("Bearer {token}");
    let refused = request("POST", &reload, &[("Authorization", &bearer)]);
    assert_eq!(refused.status, 400);
    assert!(
        refused.text().contains("playlist_max_age_secs"),
        "{}",
        refused.text()
    );
    assert_eq!(cache_control(&s.edge, master), "public, max-age=7");

    std::fs::write(
        &s.config,
        format!("{base}\n[cache]\nplaylist_max_age_secs = 2\n"),
    )
    .unwrap();
    let ok = request("POST", &reload, &[("Authorization", &bearer)]);
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert_eq!(cache_control(&s.edge, master), "public, max-age=2");
    assert!(
        s.edge
            .metric(r#"sunomi_config_reloads_total{result="ok",trigger="admin"}"#)
            >= 1.0
    );
}

/// Counts requests and failures of a load running until stopped.
#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    failed: AtomicU64,
    last_failure: std::sync::Mutex<String>,
}

impl Tally {
    fn record(&self, result: Result<u16, String>) {
        match result {
            Ok(200) => {
                self.ok.fetch_add(1, Ordering::Relaxed);
            }
            other => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                *self.last_failure.lock().unwrap() = format!("{other:?}");
            }
        }
    }
}

/// Three players on kept-alive connections (ureq's pool, like a browser's) fetching video
/// `id`'s playlists and first segments from `listen` until `stop`, counted in `tally`.
fn keep_alive_players(
    listen: &str,
    id: &str,
    stop: &Arc<AtomicBool>,
    tally: &Arc<Tally>,
) -> Vec<std::thread::JoinHandle<()>> {
    let paths: Vec<String> = ["master.m3u8", "240p/media.m3u8", "240p/0.m4s", "240p/1.m4s"]
        .iter()
        .map(|p| format!("http://{listen}/v/{id}/{p}"))
        .collect();
    (0..3)
        .map(|worker| {
            let (stop, tally, paths) = (stop.clone(), tally.clone(), paths.clone());
            std::thread::spawn(move || {
                let agent = ureq::AgentBuilder::new()
                    .timeout(Duration::from_secs(10))
                    .build();
                let mut i = worker;
                while !stop.load(Ordering::Relaxed) {
                    let result = match agent.get(&paths[i % paths.len()]).call() {
                        Ok(r) => {
                            let status = r.status();
                            let mut body = Vec::new();
                            std::io::Read::read_to_end(&mut r.into_reader(), &mut body)
                                .map(|_| status)
                                .map_err(|e| e.to_string())
                        }
                        Err(ureq::Error::Status(code, _)) => Ok(code),
                        Err(e) => Err(e.to_string()),
                    };
                    tally.record(result);
                    i += 1;
                }
            })
        })
        .collect()
}

#[test]
fn an_upgrade_under_load_hands_the_sockets_over_and_drops_no_request() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(&dir.path().join("tls"));
    let leaf = ca.leaf("edge", &["localhost", "127.0.0.1"]);
    let store = store_pattern(dir.path(), "upgrade", "320x240", 8);
    let (listen, admin, tls) = (
        format!("127.0.0.1:{}", free_port()),
        format!("127.0.0.1:{}", free_port()),
        format!("127.0.0.1:{}", free_port()),
    );
    let mut args = vec![
        "--store".to_string(),
        store,
        "--listen".into(),
        listen.clone(),
        "--admin".into(),
        admin.clone(),
    ];
    args.extend(leaf.edge_flags(&tls));
    let start = |extra: &[&str]| {
        Process(
            Command::new(binary("sunomi-edge"))
                .args(&args)
                .args(extra)
                .env("RUST_LOG", "warn")
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .unwrap(),
        )
    };
    let mut old = start(&[]);
    wait_until(Duration::from_secs(30), "the edge to come up", || {
        get(&format!("http://{admin}/healthz")).status == 200
    });

    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let mut load = keep_alive_players(&listen, "upgrade", &stop, &tally);
    // ... and HTTPS/HTTP/2 players on a new connection each time.
    {
        let (stop, tally, ca_cert) = (stop.clone(), tally.clone(), ca.cert.clone());
        let url = format!("https://{tls}/v/upgrade/240p/media.m3u8");
        load.push(std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                tally.record(match curl(&ca_cert, &url, &["--http2"]) {
                    Some((_, code, _)) => Ok(code),
                    None => Err("curl over TLS failed".into()),
                });
            }
        }));
    }
    std::thread::sleep(Duration::from_secs(1));
    let before_upgrade = tally.ok.load(Ordering::Relaxed);

    // The new binary waits for the sockets; the old one hands them over on SIGQUIT, finishes
    // what it has in flight and exits.
    let mut new = start(&["--upgrade"]);
    std::thread::sleep(Duration::from_millis(300));
    let quit = Command::new("kill")
        .args(["-QUIT", &old.0.id().to_string()])
        .status()
        .unwrap();
    assert!(quit.success());
    let handed_over = Instant::now();
    wait_until(Duration::from_secs(30), "the old edge to exit", || {
        matches!(old.0.try_wait(), Ok(Some(_)))
    });
    let old_status = old.0.try_wait().unwrap().unwrap();
    assert!(
        old_status.success(),
        "the old edge exited with {old_status}"
    );
    let after_exit = tally.ok.load(Ordering::Relaxed);
    std::thread::sleep(Duration::from_secs(1));
    stop.store(true, Ordering::Relaxed);
    for t in load {
        t.join().unwrap();
    }

    assert!(matches!(new.0.try_wait(), Ok(None)), "the new edge runs");
    let (ok, failed) = (
        tally.ok.load(Ordering::Relaxed),
        tally.failed.load(Ordering::Relaxed),
    );
    assert_eq!(
        failed,
        0,
        "{failed} of {} requests failed across the upgrade (last: {}); handover took {:?}",
        ok + failed,
        tally.last_failure.lock().unwrap(),
        handed_over.elapsed()
    );
    assert!(
        before_upgrade > 0 && ok > after_exit,
        "load ran before and after the upgrade"
    );
    // The admin listener moved too: the new process answers it.
    assert_eq!(get(&format!("http://{admin}/healthz")).status, 200);
}

/// Kills a process by pid when dropped (a successor the test did not start itself).
struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-9", &self.0.to_string()])
            .status();
    }
}

/// The next `MAINPID=…`/`READY=1` message on the notification socket, as (pid, ready).
fn next_notification(socket: &std::os::unix::net::UnixDatagram) -> (u32, bool) {
    let mut buf = [0u8; 256];
    let n = socket
        .recv(&mut buf)
        .expect("a notification within the timeout");
    let text = String::from_utf8_lossy(&buf[..n]).to_string();
    let pid = text
        .lines()
        .find_map(|l| l.strip_prefix("MAINPID="))
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no MAINPID in {text:?}"));
    (pid, text.lines().any(|l| l == "READY=1"))
}

#[test]
fn sigusr2_starts_the_new_binary_which_becomes_the_main_process_without_dropping_a_request() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_pattern(dir.path(), "usr2", "320x240", 8);
    // systemd's side of sd_notify: a datagram socket named by $NOTIFY_SOCKET.
    let notify_path = dir.path().join("notify.sock");
    let notify = std::os::unix::net::UnixDatagram::bind(&notify_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let config = dir.path().join("edge.toml");
    std::fs::write(&config, "[cache]\nplaylist_max_age_secs = 5\n").unwrap();
    let (listen, admin) = (
        format!("127.0.0.1:{}", free_port()),
        format!("127.0.0.1:{}", free_port()),
    );
    let mut old = Process(
        Command::new(binary("sunomi-edge"))
            .args(["--store", &store, "--listen", &listen])
            .args(["--admin", &admin, "--config", config.to_str().unwrap()])
            .env("NOTIFY_SOCKET", &notify_path)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let old_pid = old.0.id();
    assert_eq!(
        next_notification(&notify),
        (old_pid, true),
        "ready once serving"
    );

    // A successor that cannot start (its config no longer parses) changes nothing.
    std::fs::write(&config, "[cache\n").unwrap();
    let usr2 = |pid: u32| {
        let status = Command::new("kill")
            .args(["-USR2", &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    };
    usr2(old_pid);
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        matches!(old.0.try_wait(), Ok(None)),
        "the edge kept serving"
    );
    assert_eq!(
        get(&format!("http://{listen}/v/usr2/master.m3u8")).status,
        200
    );

    // Fixed: SIGUSR2 under load hands over to the new process, which tells systemd it is
    // now the main process.
    std::fs::write(&config, "[cache]\nplaylist_max_age_secs = 5\n").unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let load = keep_alive_players(&listen, "usr2", &stop, &tally);
    std::thread::sleep(Duration::from_millis(500));
    usr2(old_pid);
    let (new_pid, ready) = next_notification(&notify);
    let _successor = KillOnDrop(new_pid);
    assert!(ready);
    assert_ne!(
        new_pid, old_pid,
        "the successor names itself the main process"
    );
    wait_until(Duration::from_secs(30), "the old edge to exit", || {
        matches!(old.0.try_wait(), Ok(Some(_)))
    });
    assert!(old.0.try_wait().unwrap().unwrap().success());
    let after_exit = tally.ok.load(Ordering::Relaxed);
    std::thread::sleep(Duration::from_secs(1));
    stop.store(true, Ordering::Relaxed);
    for t in load {
        t.join().unwrap();
    }
    let failed = tally.failed.load(Ordering::Relaxed);
    assert_eq!(
        failed,
        0,
        "last failure: {}",
        tally.last_failure.lock().unwrap()
    );
    assert!(
        tally.ok.load(Ordering::Relaxed) > after_exit,
        "the successor serves"
    );
    assert_eq!(get(&format!("http://{admin}/healthz")).status, 200);
}

/// SIGTERM closes a kept-alive connection that waits for its next request at once, not when
/// the grace period ends: the client reconnects (to another edge) instead of sending its
/// next request into a process on its way out.
#[test]
fn shutdown_closes_idle_kept_alive_connections_at_once() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let store = store_pattern(dir.path(), "idle", "320x240", 4);
    let config = dir.path().join("edge.toml");
    // A grace period longer than the test: the edge is still running when the client sees
    // its connection closed.
    std::fs::write(&config, "[shutdown]\ngrace_period_secs = 600\n").unwrap();
    let mut edge = Edge::start(&store, &["--config", config.to_str().unwrap()], &[]);
    let addr = edge.base.trim_start_matches("http://").to_string();
    let mut conn = std::net::TcpStream::connect(&addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    conn.write_all(b"GET /v/idle/master.m3u8 HTTP/1.1\r\nHost: edge\r\n\r\n")
        .unwrap();
    // The whole response: its head, then Content-Length bytes.
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let body_start = loop {
        let n = conn.read(&mut buf).unwrap();
        assert!(n > 0, "the edge closed before answering");
        got.extend_from_slice(&buf[..n]);
        if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&got[..body_start]).to_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .and_then(|v| v.trim().parse().ok())
        .expect("a Content-Length");
    while got.len() < body_start + length {
        let n = conn.read(&mut buf).unwrap();
        assert!(n > 0, "the body was cut short");
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(got.len(), body_start + length, "nothing after the body");

    let term = Command::new("kill")
        .args(["-TERM", &edge.process.0.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let n = conn
        .read(&mut buf)
        .expect("closed by the edge, not left to time out");
    assert_eq!(n, 0, "an orderly close, no stray bytes");
    assert!(
        matches!(edge.process.0.try_wait(), Ok(None)),
        "closed by the shutdown while the edge still runs (its grace period)"
    );
}
