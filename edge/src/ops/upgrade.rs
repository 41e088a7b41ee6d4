//! Replacing the running binary under a supervisor (systemd), without dropping a connection.
//!
//! By hand, an operator starts the new binary with `--upgrade` and sends SIGQUIT to the old
//! one (Pingora's socket hand-over). A supervisor tracks one main process, so the edge can do
//! both itself: on SIGUSR2 (nginx's binary-upgrade signal) it starts the binary found at its
//! own path again — the new version, once the package replaced the file — with its own
//! arguments plus `--upgrade`, then sends itself SIGQUIT to hand the sockets over. The new
//! process, once it serves, tells systemd `MAINPID={its pid}` and `READY=1` through
//! `$NOTIFY_SOCKET` (`Type=notify`, `NotifyAccess=all`), so the unit follows it while the
//! old process drains and exits. Without `$NOTIFY_SOCKET` nothing is sent.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

/// What the edge needs to start its successor: its path and arguments as started, and the
/// socket the successor takes the listeners through.
#[derive(Debug, Clone)]
pub struct Successor {
    program: PathBuf,
    args: Vec<OsString>,
    upgrade_socket: PathBuf,
}

/// Why no successor took over (this process keeps serving).
#[derive(Debug, thiserror::Error)]
pub enum SuccessorError {
    /// The binary could not be started.
    #[error("starting {program}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        source: std::io::Error,
    },
    /// It started but exited before waiting for the sockets (bad config, wrong binary).
    #[error("the new binary exited before taking the sockets: {0}")]
    Exited(std::process::ExitStatus),
    /// It did not open the upgrade socket in time.
    #[error("the new binary did not open {0} in time")]
    NotWaiting(String),
    /// The hand-over signal could not be sent.
    #[error("signalling the hand-over: {0}")]
    Signal(std::io::Error),
}

/// The state sent to systemd once the edge serves: its pid as the unit's main process (a
/// successor started by SIGUSR2 is not the process systemd started) and readiness.
pub fn ready_message(pid: u32) -> String {
    format!("MAINPID={pid}\nREADY=1\n")
}

/// Sends `state` to the service manager's notification socket, if there is one
/// (`$NOTIFY_SOCKET`). Whether there was.
pub fn notify(state: &str) -> std::io::Result<bool> {
    match std::env::var_os("NOTIFY_SOCKET") {
        Some(target) => notify_to(&target.to_string_lossy(), state).map(|()| true),
        None => Ok(false),
    }
}

/// Sends `state` to the notification socket `target`: a path, or `@name` for the abstract
/// namespace (what systemd passes).
fn notify_to(target: &str, state: &str) -> std::io::Result<()> {
    let socket = std::os::unix::net::UnixDatagram::unbound()?;
    match target.strip_prefix('@') {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
            socket.send_to_addr(state.as_bytes(), &addr)?;
        }
        None => {
            socket.send_to(state.as_bytes(), target)?;
        }
    }
    Ok(())
}

impl Successor {
    /// This process's program and arguments, taken at start (before a package replaces the
    /// file: afterwards `/proc/self/exe` names the deleted old one).
    pub fn of_this_process(upgrade_socket: PathBuf) -> std::io::Result<Successor> {
        let program = std::env::current_exe()?;
        let args = std::env::args_os()
            .skip(1)
            .filter(|a| a != "--upgrade")
            .collect();
        Ok(Successor {
            program,
            args,
            upgrade_socket,
        })
    }

    /// Starts the binary at this process's path with its arguments plus `--upgrade`, waits
    /// (up to `patience`) until it listens on the upgrade socket, then hands the listening
    /// sockets over (SIGQUIT to this process: Pingora's graceful upgrade). A successor that
    /// exits or never listens is killed and this process keeps serving. The successor
    /// inherits stdout, stderr and the environment (`$NOTIFY_SOCKET` included).
    pub async fn start(&self, patience: Duration) -> Result<u32, SuccessorError> {
        // A socket file left by an earlier upgrade would pass for the new one's.
        let _ = std::fs::remove_file(&self.upgrade_socket);
        let mut child = std::process::Command::new(&self.program)
            .args(&self.args)
            .arg("--upgrade")
            .spawn()
            .map_err(|source| SuccessorError::Spawn {
                program: self.program.display().to_string(),
                source,
            })?;
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(SuccessorError::Exited(status));
            }
            if self.upgrade_socket.exists() {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(SuccessorError::NotWaiting(
                    self.upgrade_socket.display().to_string(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // SAFETY: kill(2) on our own pid with a signal Pingora handles (graceful upgrade).
        if unsafe { libc::kill(libc::getpid(), libc::SIGQUIT) } != 0 {
            return Err(SuccessorError::Signal(std::io::Error::last_os_error()));
        }
        // Not waited for: it outlives this process (the supervisor or init reaps it).
        Ok(child.id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ready_message_names_the_main_pid() {
        assert_eq!(ready_message(42), "MAINPID=42\nREADY=1\n");
    }

    #[test]
    fn notifications_reach_path_and_abstract_sockets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let listener = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        notify_to(path.to_str().unwrap(), "READY=1\n").unwrap();
        let mut buf = [0u8; 64];
        let n = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1\n");

        use std::os::linux::net::SocketAddrExt;
        let name = format!("sunomi-notify-test-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let abstract_listener = std::os::unix::net::UnixDatagram::bind_addr(&addr).unwrap();
        notify_to(&format!("@{name}"), "MAINPID=7\n").unwrap();
        let n = abstract_listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"MAINPID=7\n");
    }
}
