//! Failpoints for crash tests: `SUNOMI_FAILPOINT=NAME` makes the process kill itself
//! (SIGKILL, as an operator's `kill -9` or an out-of-memory kill would) the first time it
//! reaches [`hit`]`(NAME)`. Compiled only into debug builds (what tests run) and builds with
//! the `failpoints` feature; elsewhere [`hit`] is empty.

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
