//! API key checks that strangers cannot spend for everyone else.
//!
//! A key's record is found by its id and cached (found or not) for [`CACHE_TTL`]. Looking up
//! an id that was never found costs a *miss*, charged to the caller's address: each address
//! (an IPv4 address, an IPv6 /64) has a bucket of [`MISS_BURST`] misses refilled at
//! [`MISSES_PER_SECOND`]. An address that has spent its bucket is answered
//! [`Check::Throttled`] (429) for unknown ids; it never makes another caller's valid key fail.
//! Ids found before (valid or revoked keys) are refreshed without a charge, so a known key is
//! re-read from the state of record whatever the flood. Lookups in flight are bounded
//! ([`LOOKUPS_IN_FLIGHT`]): a caller waits for a slot, it is not refused.
//!
//! The pure parts ([`Buckets`]) take the time as an argument and are unit-tested.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use crate::apikeys::{self, KeyRecord};

/// How long a looked-up key is trusted before the state of record is asked again (a
/// revocation takes effect within this).
pub const CACHE_TTL: Duration = Duration::from_secs(5);
/// Misses an address may spend at once.
pub const MISS_BURST: f64 = 20.0;
/// Misses an address earns back per second.
pub const MISSES_PER_SECOND: f64 = 5.0;
/// Lookups of the state of record at once, for all callers together.
pub const LOOKUPS_IN_FLIGHT: usize = 16;
/// Addresses tracked at most; beyond, idle (refilled) buckets are forgotten first.
const MAX_BUCKETS: usize = 65_536;
/// Cached key ids at most; beyond, ids never found are forgotten first.
const MAX_CACHED: usize = 100_000;

/// What a key check concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// A valid key: its id.
    Valid(String),
    /// Not a key, unknown, revoked or wrong (401).
    Invalid,
    /// The caller's address tried too many unknown key ids; retry after this many seconds
    /// (429). Never the answer for a key that was found before.
    Throttled(u64),
    /// The state of record did not answer (503).
    Unavailable(String),
}

/// Per-address token buckets of misses.
#[derive(Debug)]
pub struct Buckets {
    by_client: HashMap<IpAddr, (f64, Instant)>,
    burst: f64,
    per_second: f64,
}

impl Default for Buckets {
    /// The budget of unknown credentials: [`MISS_BURST`], refilled at [`MISSES_PER_SECOND`].
    fn default() -> Self {
        Buckets::new(MISS_BURST, MISSES_PER_SECOND)
    }
}

impl Buckets {
    /// Buckets of `burst` misses each, refilled at `per_second`.
    pub fn new(burst: f64, per_second: f64) -> Buckets {
        Buckets {
            by_client: HashMap::new(),
            burst,
            per_second,
        }
    }

    /// The bucket an address is charged to: IPv4 as is, IPv6 by its /64 (one subscriber's
    /// allocation), IPv4-mapped IPv6 as IPv4.
    pub fn client_of(addr: IpAddr) -> IpAddr {
        match addr {
            IpAddr::V4(_) => addr,
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => {
                    let s = v6.segments();
                    IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
                }
            },
        }
    }

    /// Charges one miss to `addr` at `now`: `Ok(())` when it had one to spend, else the
    /// seconds until it has.
    pub fn charge(&mut self, addr: IpAddr, now: Instant) -> Result<(), u64> {
        let client = Self::client_of(addr);
        if self.by_client.len() >= MAX_BUCKETS && !self.by_client.contains_key(&client) {
            let (burst, rate) = (self.burst, self.per_second);
            self.by_client
                .retain(|_, (level, at)| Self::refilled(*level, *at, now, burst, rate) < burst);
            if self.by_client.len() >= MAX_BUCKETS {
                self.by_client.clear();
            }
        }
        let (burst, rate) = (self.burst, self.per_second);
        let (level, at) = self.by_client.entry(client).or_insert((burst, now));
        let current = Self::refilled(*level, *at, now, burst, rate);
        if current < 1.0 {
            *level = current;
            *at = now;
            return Err(((1.0 - current) / rate).ceil().max(1.0) as u64);
        }
        *level = current - 1.0;
        *at = now;
        Ok(())
    }

    /// Gives back one miss charged to `addr` (a look that spent nothing).
    pub fn refund(&mut self, addr: IpAddr) {
        if let Some((level, _)) = self.by_client.get_mut(&Self::client_of(addr)) {
            *level = (*level + 1.0).min(self.burst);
        }
    }

    fn refilled(level: f64, at: Instant, now: Instant, burst: f64, per_second: f64) -> f64 {
        let earned = now.saturating_duration_since(at).as_secs_f64() * per_second;
        (level + earned).min(burst)
    }
}

/// A cached lookup: when, and what the state of record said.
#[derive(Clone)]
struct Cached {
    at: Instant,
    record: Option<KeyRecord>,
}

/// API key checks with a cache, per-address miss budgets and bounded lookups.
pub struct KeyChecker {
    cache: Mutex<HashMap<String, Cached>>,
    buckets: Mutex<Buckets>,
    lookups: Semaphore,
}

impl Default for KeyChecker {
    fn default() -> Self {
        KeyChecker {
            cache: Mutex::new(HashMap::new()),
            buckets: Mutex::new(Buckets::default()),
            lookups: Semaphore::new(LOOKUPS_IN_FLIGHT),
        }
    }
}

impl KeyChecker {
    /// Checks `key` presented by `client` (None: the address is unknown, and every such
    /// caller shares one bucket). `lookup` reads a key id's record from the state of record.
    pub async fn check<F, Fut>(&self, key: &str, client: Option<IpAddr>, lookup: F) -> Check
    where
        F: FnOnce(String) -> Fut,
        Fut: Future<Output = Result<Option<KeyRecord>, String>>,
    {
        let Some(id) = apikeys::key_id(key) else {
            return Check::Invalid;
        };
        let now = Instant::now();
        let cached = self.lock_cache().get(id).cloned();
        let record = match cached {
            Some(c) if now.duration_since(c.at) < CACHE_TTL => c.record,
            other => {
                let known = other.is_some_and(|c| c.record.is_some());
                if !known {
                    let client = client.unwrap_or(IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED));
                    let charged = self
                        .buckets
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .charge(client, now);
                    if let Err(retry_after) = charged {
                        return Check::Throttled(retry_after);
                    }
                }
                let found = {
                    let _slot = self.lookups.acquire().await;
                    lookup(id.to_string()).await
                };
                match found {
                    Ok(record) => {
                        self.remember(id, record.clone());
                        record
                    }
                    Err(e) => return Check::Unavailable(e),
                }
            }
        };
        match record {
            Some(r) if r.revoked_at.is_none() && apikeys::matches(key, &r.hash) => {
                Check::Valid(r.id)
            }
            _ => Check::Invalid,
        }
    }

    /// Whether `client` still has a miss to spend (`Err(seconds to wait)` when not), without
    /// spending it: callers that look up other credentials (upload tokens) ask before the
    /// lookup and [`KeyChecker::charge_miss`] after one that failed.
    pub fn may_miss(&self, client: Option<IpAddr>) -> Result<(), u64> {
        let client = client.unwrap_or(IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED));
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        // A charge that is given back at once: the bucket is only looked at.
        buckets.charge(client, now)?;
        buckets.refund(client);
        Ok(())
    }

    /// Charges `client` one miss (a credential that named nothing).
    pub fn charge_miss(&self, client: Option<IpAddr>) {
        let client = client.unwrap_or(IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED));
        let _ = self
            .buckets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .charge(client, Instant::now());
    }

    /// Forgets what is cached of key `id` (after a revocation in this process).
    pub fn forget(&self, id: &str) {
        self.lock_cache().remove(id);
    }

    fn remember(&self, id: &str, record: Option<KeyRecord>) {
        let mut cache = self.lock_cache();
        if cache.len() >= MAX_CACHED && !cache.contains_key(id) {
            cache.retain(|_, c| c.record.is_some());
            if cache.len() >= MAX_CACHED {
                cache.clear();
            }
        }
        cache.insert(
            id.to_string(),
            Cached {
                at: Instant::now(),
                record,
            },
        );
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, Cached>> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("address")
    }

    #[test]
    fn each_address_has_its_own_bucket_of_misses() {
        let t = Instant::now();
        let mut b = Buckets::default();
        for _ in 0..MISS_BURST as usize {
            assert_eq!(b.charge(ip("192.0.2.1"), t), Ok(()));
        }
        assert_eq!(b.charge(ip("192.0.2.1"), t), Err(1));
        // Another address is not affected.
        assert_eq!(b.charge(ip("192.0.2.2"), t), Ok(()));
        // Refilled at MISSES_PER_SECOND.
        assert_eq!(
            b.charge(ip("192.0.2.1"), t + Duration::from_millis(200)),
            Ok(())
        );
        assert_eq!(
            b.charge(ip("192.0.2.1"), t + Duration::from_millis(200)),
            Err(1)
        );
    }

    #[test]
    fn looking_at_a_bucket_spends_nothing_and_misses_spend_it() {
        let checker = KeyChecker::default();
        let caller = Some(ip("192.0.2.20"));
        for _ in 0..100 {
            assert_eq!(checker.may_miss(caller), Ok(()));
        }
        for _ in 0..MISS_BURST as usize {
            checker.charge_miss(caller);
        }
        assert!(checker.may_miss(caller).is_err());
        assert_eq!(checker.may_miss(Some(ip("192.0.2.21"))), Ok(()));
    }

    #[test]
    fn ipv6_addresses_share_their_64_and_mapped_ipv4_is_ipv4() {
        assert_eq!(
            Buckets::client_of(ip("2001:db8:1:2:aaaa::1")),
            Buckets::client_of(ip("2001:db8:1:2:bbbb::9"))
        );
        assert_ne!(
            Buckets::client_of(ip("2001:db8:1:2::1")),
            Buckets::client_of(ip("2001:db8:1:3::1"))
        );
        assert_eq!(Buckets::client_of(ip("::ffff:192.0.2.7")), ip("192.0.2.7"));
    }

    fn record(key: &str) -> KeyRecord {
        KeyRecord {
            id: apikeys::key_id(key).expect("id").to_string(),
            name: "t".into(),
            hash: apikeys::hash(key),
            created_at: "t".into(),
            revoked_at: None,
        }
    }

    #[tokio::test]
    async fn a_known_key_is_never_refused_because_a_flood_spent_the_budget() {
        let (key, _) = apikeys::new_key("real", "t");
        let real = record(&key);
        let checker = KeyChecker::default();
        let lookups = AtomicUsize::new(0);
        let store = |id: String| {
            lookups.fetch_add(1, Ordering::Relaxed);
            let found = (id == real.id).then(|| real.clone());
            async move { Ok(found) }
        };
        let caller = Some(ip("192.0.2.10"));
        assert_eq!(
            checker.check(&key, caller, store).await,
            Check::Valid(real.id.clone())
        );
        // A flood of made-up ids from the same address spends its bucket...
        let mut throttled = 0;
        for _ in 0..200 {
            let (made_up, _) = apikeys::new_key("x", "t");
            if let Check::Throttled(_) = checker.check(&made_up, caller, store).await {
                throttled += 1;
            }
        }
        assert!(throttled >= 200 - MISS_BURST as usize - 1, "{throttled}");
        assert!(lookups.load(Ordering::Relaxed) <= MISS_BURST as usize + 2);
        // ...and the real key, its cache entry expired, is looked up again and accepted.
        checker.lock_cache().get_mut(&real.id).expect("cached").at -= CACHE_TTL;
        assert_eq!(
            checker.check(&key, caller, store).await,
            Check::Valid(real.id.clone())
        );
        // A wrong secret for a known id is invalid, not throttled.
        let wrong = format!("sk_{}_{}", real.id, "x".repeat(32));
        assert_eq!(checker.check(&wrong, caller, store).await, Check::Invalid);
    }

    #[tokio::test]
    async fn storage_failures_are_unavailable_not_invalid() {
        let (key, _) = apikeys::new_key("real", "t");
        let checker = KeyChecker::default();
        let failing = |_id: String| async { Err("down".to_string()) };
        assert_eq!(
            checker.check(&key, None, failing).await,
            Check::Unavailable("down".into())
        );
    }
}
