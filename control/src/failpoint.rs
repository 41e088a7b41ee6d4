//! Failpoints for crash and race tests: `SUNOMI_FAILPOINT=NAME` makes the process kill
//! itself (SIGKILL, as an operator's `kill -9` or an out-of-memory kill would) the first time
//! it reaches [`hit`]`(NAME)`; `SUNOMI_FAILPOINT_PAUSE=NAME:MS` holds it at [`pause`]`(NAME)`.
//! Compiled only into debug builds (what tests run) and builds with the `failpoints`
//! feature; elsewhere both are empty.

/// Dies here when `SUNOMI_FAILPOINT` names `name` (debug and `failpoints` builds only).
#[inline]
pub fn hit(name: &str) {
    #[cfg(any(debug_assertions, feature = "failpoints"))]
    if std::env::var("SUNOMI_FAILPOINT").is_ok_and(|v| v == name) {
        tracing::warn!(failpoint = name, "failpoint reached: killing this process");
        // SAFETY: kill(2) on our own pid with a valid signal number has no memory effects.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
    #[cfg(not(any(debug_assertions, feature = "failpoints")))]
    let _ = name;
}

/// Waits here when `SUNOMI_FAILPOINT_PAUSE` is `NAME:MILLISECONDS` and names `name` (debug and
/// `failpoints` builds only): a test holds one process at a step while another acts, to make
/// an interleaving happen every time.
pub async fn pause(name: &str) {
    #[cfg(any(debug_assertions, feature = "failpoints"))]
    if let Some(ms) = std::env::var("SUNOMI_FAILPOINT_PAUSE").ok().and_then(|v| {
        let (n, ms) = v.split_once(':')?;
        (n == name).then(|| ms.parse::<u64>().ok()).flatten()
    }) {
        tracing::warn!(failpoint = name, ms, "failpoint reached: pausing");
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
    #[cfg(not(any(debug_assertions, feature = "failpoints")))]
    let _ = name;
}
