//! Processes tests of several crates share: free ports, children killed on drop, FFmpeg
//! sources, a real `redis-server` and a real S3 API (`s3s-fs`). Standard library only, so
//! any crate's tests can include it (`#[path]`) without new dependencies.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free TCP port on loopback for a server a test starts.
///
/// Ports come from below the kernel's ephemeral range (32768 and up on Linux), so no
/// outgoing connection of any test can be given one between this call and the server's
/// bind, and from a counter shared by the process's test threads, so no two parallel tests
/// are handed the same one. (Binding `:0` and closing had both races: a test once saw
/// another test's edge answer on the port it had been given.) Each candidate is checked by
/// binding it, which skips ports still held by a server from an earlier test binary.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 12_000;
    const COUNT: u32 = 20_000;
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    // Each test binary starts at its own place in the range (binaries run one at a time,
    // but a server left running by one must not be hit by the next).
    let _ = NEXT.compare_exchange(
        u32::MAX,
        std::process::id().wrapping_mul(7_919) % COUNT,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    for _ in 0..COUNT {
        let port = (FIRST + NEXT.fetch_add(1, Ordering::SeqCst) % COUNT) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {FIRST}..{}", FIRST + COUNT)
}

/// Makes a source clip with the FFmpeg CLI.
pub fn make_source(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
    let out = dir.join(name);
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y"])
        .args(args)
        .arg(&out)
        .status()
        .expect("ffmpeg must be installed (make test installs it)");
    assert!(status.success(), "ffmpeg failed making {name}");
    out
}

/// A child process killed when dropped.
pub struct Process(pub Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs ffmpeg/ffprobe and returns (success, stdout, stderr).
pub fn run(cmd: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(cmd).args(args).output().expect(cmd);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A real `redis-server` on a free loopback port, without persistence, killed when dropped.
pub struct RedisServer {
    pub port: u16,
    process: Option<Process>,
}

impl RedisServer {
    /// Starts one and waits until it answers PING.
    pub fn start() -> RedisServer {
        let mut r = RedisServer {
            port: free_port(),
            process: None,
        };
        r.restart();
        r
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Runs `redis-cli` against it and returns its output.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli must be installed (make test installs redis-server)");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Kills it (SIGKILL: nothing is saved, connections drop).
    pub fn stop(&mut self) {
        if let Some(mut p) = self.process.take() {
            let _ = p.0.kill();
            let _ = p.0.wait();
        }
    }

    /// Starts it again on the same port, empty.
    pub fn restart(&mut self) {
        self.stop();
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("redis-server must be installed (make test installs it)");
        self.process = Some(Process(child));
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.cli(&["ping"]) != "PONG" {
            assert!(Instant::now() < deadline, "redis-server did not come up");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A real S3 API (`s3s-fs`, or `$S3S_FS`) over a temporary directory on a free port, with
/// the bucket `media`; killed when dropped.
pub struct S3Server {
    pub root: PathBuf,
    pub port: u16,
    process: Option<Process>,
}

impl S3Server {
    /// Access key of the test server.
    pub const ACCESS_KEY: &'static str = "sunomi-test";
    /// Secret key of the test server.
    pub const SECRET_KEY: &'static str = "sunomi-test-secret";

    /// Starts one over `root` and waits until it accepts connections.
    pub fn start(root: &Path) -> S3Server {
        std::fs::create_dir_all(root.join("media")).expect("making the bucket folder");
        let mut s = S3Server {
            root: root.to_path_buf(),
            port: free_port(),
            process: None,
        };
        s.restart();
        s
    }

    /// Kills it: every S3 request fails until [`S3Server::restart`].
    pub fn stop(&mut self) {
        self.process = None;
    }

    /// Starts it again on the same port and directory.
    pub fn restart(&mut self) {
        self.stop();
        let server = Command::new(std::env::var("S3S_FS").unwrap_or_else(|_| "s3s-fs".into()))
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .args([
                "--access-key",
                Self::ACCESS_KEY,
                "--secret-key",
                Self::SECRET_KEY,
            ])
            .arg(&self.root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("s3s-fs must be installed (make test installs it)");
        self.process = Some(Process(server));
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "s3s-fs did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The environment object_store reads to reach it.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            (
                "AWS_ENDPOINT_URL".into(),
                format!("http://127.0.0.1:{}", self.port),
            ),
            ("AWS_ALLOW_HTTP".into(), "true".into()),
            ("AWS_ACCESS_KEY_ID".into(), Self::ACCESS_KEY.into()),
            ("AWS_SECRET_ACCESS_KEY".into(), Self::SECRET_KEY.into()),
            ("AWS_REGION".into(), "us-east-1".into()),
        ]
    }
}

/// The judges' Python (a virtualenv with the PyPI judges: tuspy, moto, xmlschema…), made
/// once per test process by `deploy/local/py-judges.sh`.
pub fn python() -> &'static str {
    static PY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PY.get_or_init(|| {
        // Where cargo says the package is at run time (a binary from a shared build cache
        // reads this checkout's files), else where it was built.
        let package = std::env::var_os("CARGO_MANIFEST_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
        let script = package.join("../deploy/local/py-judges.sh");
        let out = Command::new(script)
            .output()
            .expect("running deploy/local/py-judges.sh");
        assert!(
            out.status.success(),
            "installing the judges failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    })
}
