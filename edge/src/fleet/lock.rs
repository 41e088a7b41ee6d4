//! The fleet-wide fill lock (`sunomi:fill:{key}`): `SET NX PX` with a random token and the
//! holder's address as value, released by a script that deletes only its own token. It only
//! saves work: when two edges both think they own a key (membership is changing), the second
//! asks the holder for the object instead of reading storage again. Any Redis failure means
//! "fill it yourself".

use std::net::SocketAddr;
use std::time::Duration;

use rand::Rng;

use super::redis::{keys, Coordinator};

/// Deletes the lock only if it still holds our token (it may have expired and been taken).
const RELEASE: &str = r"if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

/// The answer to "may I fill this key?".
#[derive(Debug)]
pub enum LockOutcome {
    /// Yes; release the lock after the fill.
    Acquired(FillLock),
    /// Another edge is filling it; ask it (or, if that fails, fill yourself).
    HeldBy(SocketAddr),
    /// Redis gave no answer (or the holder is this edge): fill yourself.
    Unavailable,
}

/// A held fill lock.
#[derive(Debug)]
pub struct FillLock {
    key: String,
    value: String,
}

/// Tries to take the fill lock of `cache_key` for the edge at `me`.
pub async fn acquire(
    redis: &Coordinator,
    cache_key: &str,
    me: SocketAddr,
    ttl: Duration,
) -> LockOutcome {
    let key = keys::fill(cache_key);
    let token: u64 = rand::thread_rng().gen();
    let value = format!("{token:016x} {me}");
    let mut set = redis::cmd("SET");
    set.arg(&key)
        .arg(&value)
        .arg("NX")
        .arg("PX")
        .arg(ttl.as_millis() as u64);
    match redis.query_if_up::<Option<String>>("fill_lock", &set).await {
        Ok(Some(_)) => LockOutcome::Acquired(FillLock { key, value }),
        Ok(None) => {
            let mut get = redis::cmd("GET");
            get.arg(&key);
            let holder = match redis.query_if_up::<Option<String>>("fill_lock", &get).await {
                Ok(Some(v)) => holder_of(&v),
                _ => None,
            };
            match holder {
                Some(addr) if addr != me => LockOutcome::HeldBy(addr),
                _ => LockOutcome::Unavailable,
            }
        }
        Err(_) => LockOutcome::Unavailable,
    }
}

/// The holder's address in a lock value.
fn holder_of(value: &str) -> Option<SocketAddr> {
    value.split_once(' ')?.1.parse().ok()
}

/// Whether someone holds the fill lock of `cache_key`; `false` when Redis gives no answer
/// (as everywhere here, a Redis failure means "fill it yourself").
pub async fn is_held(redis: &Coordinator, cache_key: &str) -> bool {
    let mut exists = redis::cmd("EXISTS");
    exists.arg(keys::fill(cache_key));
    matches!(
        redis.query_if_up::<u32>("fill_lock", &exists).await,
        Ok(n) if n > 0
    )
}

/// Releases `lock` if it is still ours (it expires on its own otherwise).
pub async fn release(redis: &Coordinator, lock: FillLock) {
    let script = redis::Script::new(RELEASE);
    let mut conn = redis.conn();
    let mut invocation = script.key(&lock.key);
    invocation.arg(&lock.value);
    let _ = redis
        .run("fill_unlock", invocation.invoke_async::<i64>(&mut conn))
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holders_are_read_from_lock_values() {
        assert_eq!(
            holder_of("00ff 127.0.0.1:8080"),
            Some(SocketAddr::from(([127, 0, 0, 1], 8080)))
        );
        assert_eq!(holder_of("garbage"), None);
        assert_eq!(holder_of("x not-an-addr"), None);
    }
}
