//! The database every control test runs against: SQLite by default, PostgreSQL when
//! `SUNOMI_TEST_DATABASE=postgres` (`make test` runs the control tests both ways).
//!
//! A test names a store; its database is derived from the test and the store, so every
//! process of one test (API, workers, CLI commands, restarts) shares one database and tests
//! never share one. PostgreSQL runs as a scratch cluster of this test process, started on first use on a
//! free port (Debian's `postgresql` binaries), one database per store; it dies with the
//! process (a parent-death signal), so nothing is left running.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Which engine the tests run on.
pub fn postgres_wanted() -> bool {
    std::env::var("SUNOMI_TEST_DATABASE").is_ok_and(|v| v == "postgres")
}

/// The database name of the test running on this thread with `store`: tests run on threads
/// named after them, and two tests may name the same store (`s3://media/…` on their own S3
/// servers), so the name, the process and the store decide it.
fn name_for(store: &str) -> String {
    let mut h = DefaultHasher::new();
    std::process::id().hash(&mut h);
    std::thread::current().name().hash(&mut h);
    store.hash(&mut h);
    format!("t{:016x}", h.finish())
}

/// The database URL of the test using `store` (created on first use).
pub fn database_for(store: &str) -> String {
    let name = name_for(store);
    if postgres_wanted() {
        let cluster = cluster();
        cluster.create(&name);
        return format!("postgres://postgres@127.0.0.1:{}/{name}", cluster.port);
    }
    format!(
        "sqlite://{}",
        sqlite_dir().join(format!("{name}.db")).display()
    )
}

/// The folder of the SQLite databases. The first call of a test process removes the files
/// earlier processes left there (every run adds its own, and nothing else removes them);
/// only files untouched for an hour go, so a test process running now keeps its own.
fn sqlite_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("sunomi-test-databases");
        std::fs::create_dir_all(&dir).expect("database folder");
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            if untouched_for(&entry, Duration::from_secs(3600)) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        dir
    })
}

/// Whether `entry` was last modified longer than `age` ago.
fn untouched_for(entry: &std::fs::DirEntry, age: Duration) -> bool {
    entry
        .metadata()
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|elapsed| elapsed > age)
}

/// A scratch PostgreSQL cluster.
pub struct Cluster {
    pub port: u16,
    created: Mutex<Vec<String>>,
}

fn bin(name: &str) -> PathBuf {
    for version in ["17", "16", "15"] {
        let p = Path::new("/usr/lib/postgresql")
            .join(version)
            .join("bin")
            .join(name);
        if p.exists() {
            return p;
        }
    }
    PathBuf::from(name)
}

/// The uid and gid PostgreSQL runs as: `postgres` when we are root (it refuses root), else
/// ourselves.
fn identity() -> Option<(u32, u32)> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let out = Command::new("id").args(["-u", "postgres"]).output().ok()?;
    let uid = String::from_utf8_lossy(&out.stdout).trim().parse().ok()?;
    let out = Command::new("id").args(["-g", "postgres"]).output().ok()?;
    let gid = String::from_utf8_lossy(&out.stdout).trim().parse().ok()?;
    Some((uid, gid))
}

fn as_postgres(cmd: &mut Command) -> &mut Command {
    if let Some((uid, gid)) = identity() {
        cmd.uid(uid).gid(gid);
    }
    cmd
}

/// Removes the clusters earlier test processes left (a process's cluster outlives it: its
/// server dies with the process, its folder stays). Only folders untouched for ten minutes
/// whose server is not running go, so a cluster another test process is making now stays.
fn sweep_old_clusters() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let named = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("sunomi-pg-"));
        let old = untouched_for(&entry, Duration::from_secs(600));
        if !named || !old {
            continue;
        }
        let pid = std::fs::read_to_string(path.join("data").join("postmaster.pid"))
            .ok()
            .and_then(|t| t.lines().next().and_then(|l| l.trim().parse::<i32>().ok()));
        // SAFETY: signal 0 only asks whether the process exists.
        let running = pid.is_some_and(|p| unsafe { libc::kill(p, 0) } == 0);
        if !running {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

/// This test process's cluster, started on first use.
pub fn cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<Cluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        sweep_old_clusters();
        let dir = tempfile::Builder::new()
            .prefix("sunomi-pg-")
            .tempdir()
            .expect("cluster folder")
            .keep();
        if let Some((uid, gid)) = identity() {
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).expect("chown cluster folder");
        }
        let data = dir.join("data");
        let out = as_postgres(&mut Command::new(bin("initdb")))
            .args(["-D"])
            .arg(&data)
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"])
            .output()
            .expect("running initdb (Debian's postgresql package)");
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = super::free_port();
        // The server is started from a thread that lives as long as the process, so the
        // parent-death signal fires when the test process ends, not when a test thread does.
        let (tx, rx) = std::sync::mpsc::channel();
        let data2 = data.clone();
        let sock = dir.clone();
        std::thread::spawn(move || {
            let mut cmd = Command::new(bin("postgres"));
            as_postgres(&mut cmd)
                .arg("-D")
                .arg(&data2)
                .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1"])
                .arg("-k")
                .arg(&sock)
                .args(["-c", "fsync=off", "-c", "synchronous_commit=off"])
                .args(["-c", "full_page_writes=off", "-c", "max_connections=400"])
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            // SAFETY: prctl with PR_SET_PDEATHSIG only changes this child's signal setting.
            unsafe {
                cmd.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGQUIT);
                    Ok(())
                });
            }
            let child = cmd.spawn().expect("starting postgres");
            let _ = tx.send(());
            let _keep = child;
            loop {
                std::thread::park();
            }
        });
        rx.recv().expect("postgres started");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ok = Command::new(bin("pg_isready"))
                .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-U", "postgres"])
                .output()
                .is_ok_and(|o| o.status.success());
            if ok {
                break;
            }
            assert!(Instant::now() < deadline, "postgres did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Cluster {
            port,
            created: Mutex::new(Vec::new()),
        }
    })
}

impl Cluster {
    /// Runs `sql` as the superuser; returns its output.
    pub fn psql(&self, database: &str, sql: &str) -> String {
        let out = Command::new("psql")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
            ])
            .args(["-d", database, "-tA", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .output()
            .expect("running psql");
        assert!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn create(&self, name: &str) {
        let mut created = self.created.lock().unwrap_or_else(|p| p.into_inner());
        if created.iter().any(|n| n == name) {
            return;
        }
        self.psql("postgres", &format!("CREATE DATABASE {name}"));
        created.push(name.to_string());
    }
}
