//! Fleet coordination through Redis: membership and the owner ring, peer fetches, fill locks,
//! shared metadata and purges. Without Redis (or while it is down) the fleet is this edge
//! alone: every key is owned locally and nothing here sends anything.

pub mod lock;
pub mod peer;
pub mod peer_auth;
/// The purge protocol, shared with the control plane (it lives in the origin library).
pub use sunomi_origin::purge;
pub mod redis;
pub mod ring;

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;

use crate::ops::config::{EdgeConfig, FleetConfig};
use crate::ops::metrics::metrics;
use lock::LockOutcome;
use peer::{PeerClient, PeerSettings};
use peer_auth::PeerAuth;
use purge::{CatchUp, PurgeRecord, PurgeScope};
use redis::{keys, Coordinator, RedisError};
use ring::{Hysteresis, Ring};

/// Something that can drop cached objects (the packaging service).
pub trait PurgeTarget: Send + Sync {
    /// Drops everything `scope` covers from this edge's caches.
    fn purge_local(&self, scope: &PurgeScope);
}

/// Most members asked for a copy of one object when storage failed.
pub const MAX_SIBLINGS: usize = 4;

/// The members other than `me` to ask for `key`'s object, in rendezvous order, at most
/// [`MAX_SIBLINGS`].
fn siblings_of(key: &str, members: Vec<SocketAddr>, me: SocketAddr) -> Vec<SocketAddr> {
    let mut others: Vec<SocketAddr> = members.into_iter().filter(|a| *a != me).collect();
    others.sort_by_key(|a| rendezvous_weight(key, a));
    others.truncate(MAX_SIBLINGS);
    others
}

/// Rendezvous (highest-random-weight) order of `addr` for `key`: lowest first.
fn rendezvous_weight(key: &str, addr: &SocketAddr) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    addr.hash(&mut h);
    h.finish()
}

/// This edge's view of the fleet.
pub struct Fleet {
    me: SocketAddr,
    node: String,
    config: FleetConfig,
    redis: Option<Coordinator>,
    client: Option<::redis::Client>,
    ring: Ring,
    peers: PeerClient,
    auth: PeerAuth,
    hysteresis: Mutex<Hysteresis>,
    /// Purge epoch applied up to (None until the first heartbeat reads it).
    applied_epoch: Mutex<Option<u64>>,
    /// This edge has left the ring (before stopping): no more heartbeats announce it.
    leaving: std::sync::atomic::AtomicBool,
}

impl Fleet {
    /// The fleet as `config` describes it. Needs a Tokio runtime (Redis connections are
    /// driven by tasks on it); connects lazily, so an edge starts with Redis down.
    pub async fn new(config: &EdgeConfig) -> anyhow::Result<Fleet> {
        let me = config.advertised().map_err(anyhow::Error::msg)?;
        let node = config.node_name();
        let f = &config.fleet;
        let timeout = Duration::from_millis(f.redis_timeout_ms);
        let (redis, client) = match &f.redis {
            Some(url) => (
                Some(Coordinator::new(url, timeout)?),
                Some(::redis::Client::open(url.as_str())?),
            ),
            None => (None, None),
        };
        let auth = PeerAuth::new(f.secret_bytes());
        let peers = PeerClient::new(
            node.clone(),
            auth.clone(),
            PeerSettings {
                connect_timeout: Duration::from_millis(f.peer_connect_timeout_ms),
                timeout: Duration::from_millis(f.peer_timeout_ms),
                suspect_for: Duration::from_millis(f.peer_suspect_ms),
                pool_size: f.peer_pool_size,
            },
        );
        metrics().fleet_members.set(1);
        Ok(Fleet {
            me,
            node,
            config: f.clone(),
            redis,
            client,
            ring: Ring::new(me).await,
            peers,
            auth,
            hysteresis: Mutex::new(Hysteresis::new(f.join_after_polls, f.leave_after_polls)),
            applied_epoch: Mutex::new(None),
            leaving: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Whether this edge takes part in a fleet (Redis configured).
    pub fn is_clustered(&self) -> bool {
        self.redis.is_some()
    }

    /// The owner of the object at `route_key`, `None` when it is this edge. Peers that failed
    /// recently are skipped (their keys go to the next member on the ring).
    pub fn owner(&self, route_key: &str) -> Option<SocketAddr> {
        if self.ring.len() <= 1 {
            return None;
        }
        self.ring
            .owner(route_key.as_bytes(), |a| self.peers.usable(a))
    }

    /// The other members to ask for a copy of the object at `route_key` when storage failed
    /// (see `media::segments`): at most [`MAX_SIBLINGS`], in an order that depends on the key
    /// (rendezvous hashing), so the fleet's load of such lookups spreads over its members.
    /// Suspect members are included: the lookup is memory-only and cheap, and during a
    /// storage outage every owner that answered 503 is a suspect.
    pub fn siblings(&self, route_key: &str) -> Vec<SocketAddr> {
        siblings_of(route_key, self.ring.addrs(), self.me)
    }

    /// Checks the signatures of requests that claim to come from peers.
    pub fn peer_auth(&self) -> &PeerAuth {
        &self.auth
    }

    /// The client for asking peers.
    pub fn peers(&self) -> &PeerClient {
        &self.peers
    }

    /// Tries to take the fill lock of `cache_key`.
    pub async fn lock(&self, cache_key: &str) -> LockOutcome {
        match &self.redis {
            Some(r) => {
                lock::acquire(
                    r,
                    cache_key,
                    self.me,
                    Duration::from_millis(self.config.fill_lock_ttl_ms),
                )
                .await
            }
            None => LockOutcome::Unavailable,
        }
    }

    /// Whether another edge holds the fill lock of `cache_key`.
    async fn lock_held(&self, cache_key: &str) -> bool {
        match &self.redis {
            Some(r) => lock::is_held(r, cache_key).await,
            None => false,
        }
    }

    /// Releases a fill lock.
    pub async fn unlock(&self, lock: lock::FillLock) {
        if let Some(r) = &self.redis {
            lock::release(r, lock).await;
        }
    }

    /// A field of the shared metadata of video `id`, if another edge stored it.
    async fn shared_get(&self, id: &str, field: &str) -> Option<Vec<u8>> {
        let r = self.redis.as_ref()?;
        let mut get = ::redis::cmd("HGET");
        get.arg(keys::meta(id)).arg(field);
        r.query_if_up::<Option<Vec<u8>>>("meta_get", &get)
            .await
            .ok()
            .flatten()
    }

    async fn shared_put(&self, id: &str, field: &str, value: &[u8]) {
        let Some(r) = &self.redis else { return };
        let key = keys::meta(id);
        let ttl_ms = self.config.shared_metadata_ttl_secs.max(1) * 1000;
        let mut put = ::redis::pipe();
        put.atomic()
            .cmd("HSET")
            .arg(&key)
            .arg(field)
            .arg(value)
            .ignore()
            .cmd("PEXPIRE")
            .arg(&key)
            .arg(ttl_ms)
            .ignore();
        // A request path: skipped while Redis is down, like every other request-path call.
        let _ = r.pipeline_if_up::<()>("meta_put", &put).await;
    }

    /// Drops the shared metadata of video `id` (its stored objects changed under it), so
    /// no edge plans from the stale copy again. Skipped while Redis is down.
    pub async fn forget_shared(&self, id: &str) {
        let Some(r) = &self.redis else { return };
        let mut del = ::redis::cmd("DEL");
        del.arg(keys::meta(id));
        let _ = r.query_if_up::<()>("meta_forget", &del).await;
    }

    /// Metadata `field` of video `id` from the fleet's shared copy, or from `read` (storage)
    /// by exactly one edge of the fleet at a time, which then shares it. The others wait for
    /// the shared copy up to `lock_wait_ms`, then read storage themselves — at once if the
    /// holder let the lock go without sharing (its read failed: with storage down, waiting
    /// would only add `lock_wait_ms` to every lookup of the fleet) or cannot share (it left
    /// the ring, or failed to answer lately: killed while holding the lock).
    pub async fn shared_metadata<E>(
        &self,
        id: &str,
        field: &str,
        read: impl Future<Output = Result<Vec<u8>, E>>,
    ) -> Result<Vec<u8>, E> {
        let read = Box::pin(read);
        if self.redis.is_none() {
            return read.await;
        }
        if let Some(v) = self.shared_get(id, field).await {
            metrics().shared_metadata.with_label_values(&["hit"]).inc();
            return Ok(v);
        }
        metrics().shared_metadata.with_label_values(&["miss"]).inc();
        let lock_key = format!("meta:{id}:{field}");
        let lock = Box::pin(self.lock(&lock_key)).await;
        // A holder that is no member (it died and left the ring) or failed to answer lately
        // (killed, its lock alive until it expires) will share nothing: no wait.
        let alive = |holder: &SocketAddr| self.ring.contains(holder) && self.peers.usable(holder);
        match lock {
            LockOutcome::HeldBy(holder) if alive(&holder) => {
                let started = Instant::now();
                let deadline = started + Duration::from_millis(self.config.lock_wait_ms);
                metrics().lock_waits.inc();
                while Instant::now() < deadline && alive(&holder) {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    // Looked at before the value: a holder shares, then unlocks, so a lock
                    // seen free here with no value after is a holder that failed.
                    let held = self.lock_held(&lock_key).await;
                    if let Some(v) = self.shared_get(id, field).await {
                        metrics()
                            .lock_wait_seconds
                            .observe(started.elapsed().as_secs_f64());
                        return Ok(v);
                    }
                    if !held {
                        break;
                    }
                }
            }
            _ => {}
        }
        if let LockOutcome::Acquired(l) = lock {
            // The lock may have been free because another edge just finished sharing it.
            if let Some(v) = self.shared_get(id, field).await {
                self.unlock(l).await;
                return Ok(v);
            }
            let result = read.await;
            if let Ok(v) = &result {
                self.shared_put(id, field, v).await;
            }
            self.unlock(l).await;
            return result;
        }
        let result = read.await;
        if let Ok(v) = &result {
            self.shared_put(id, field, v).await;
        }
        result
    }

    /// Numbers and publishes a purge this edge has already applied. Fails when Redis does
    /// not answer (the purge then stays local).
    pub async fn publish_purge(&self, scope: &PurgeScope) -> Result<Option<u64>, RedisError> {
        let Some(r) = &self.redis else {
            return Ok(None);
        };
        let mut conn = r.conn();
        let epoch = r
            .run("purge", purge::publish(&mut conn, scope, &self.node))
            .await?;
        Ok(Some(epoch))
    }

    /// Applies a purge published by the fleet (once per epoch in order; replays are harmless).
    fn apply(&self, record: &PurgeRecord, target: &dyn PurgeTarget) {
        target.purge_local(&record.scope);
        if record.node != self.node {
            let lag = purge::now_ms().saturating_sub(record.at_ms) as f64 / 1000.0;
            metrics().purge_lag_seconds.observe(lag);
        }
        if let Ok(mut applied) = self.applied_epoch.lock() {
            if let Some(a) = applied.as_mut() {
                if record.epoch == *a + 1 {
                    *a = record.epoch;
                }
            }
        }
    }

    /// One heartbeat: renew this edge's key, read the members, rebuild the ring, catch up
    /// on missed purges. Redis failing makes this edge stand alone until the next success.
    pub async fn heartbeat(&self, target: &dyn PurgeTarget) {
        let Some(r) = &self.redis else { return };
        if self.is_leaving() {
            return;
        }
        let mut beat = ::redis::pipe();
        beat.cmd("SET")
            .arg(keys::edge(&self.node))
            .arg(self.me.to_string())
            .arg("PX")
            .arg(self.config.heartbeat_ttl_ms)
            .ignore()
            .cmd("SADD")
            .arg(keys::EDGES)
            .arg(&self.node)
            .ignore()
            .cmd("SMEMBERS")
            .arg(keys::EDGES)
            .cmd("GET")
            .arg(keys::PURGE_EPOCH);
        let (nodes, epoch) = match r
            .pipeline::<(Vec<String>, Option<u64>)>("heartbeat", &beat)
            .await
        {
            Ok(v) => v,
            Err(_) => {
                self.stand_alone().await;
                return;
            }
        };
        r.set_up(true);
        let live = match self.live_members(r, &nodes).await {
            Ok(live) => live,
            Err(_) => {
                self.stand_alone().await;
                return;
            }
        };
        let stable = match self.hysteresis.lock() {
            Ok(mut h) => h.observe(&live),
            Err(_) => return,
        };
        if self.ring.set_members(&stable).await {
            tracing::info!(members = ?self.ring.addrs(), "fleet membership changed");
        }
        metrics().fleet_members.set(self.ring.len() as i64);
        self.catch_up(r, epoch.unwrap_or(0), target).await;
    }

    /// Redis is unreachable: forget the members, own every key, count it.
    async fn stand_alone(&self) {
        if let Some(r) = &self.redis {
            r.set_up(false);
        }
        if let Ok(mut h) = self.hysteresis.lock() {
            h.reset();
        }
        if self.ring.set_members(&Default::default()).await {
            tracing::warn!("fleet membership lost with redis: this edge stands alone");
        }
        metrics().fleet_members.set(1);
    }

    /// Addresses of the nodes whose heartbeat key is alive; names whose key expired are
    /// pruned from the member set.
    async fn live_members(
        &self,
        r: &Coordinator,
        nodes: &[String],
    ) -> Result<HashMap<String, SocketAddr>, RedisError> {
        if nodes.is_empty() {
            return Ok(HashMap::new());
        }
        let keys: Vec<String> = nodes.iter().map(|n| keys::edge(n)).collect();
        let mut mget = ::redis::cmd("MGET");
        mget.arg(&keys);
        let addrs = r.query::<Vec<Option<String>>>("members", &mget).await?;
        let mut live = HashMap::new();
        let mut gone = Vec::new();
        for (node, addr) in nodes.iter().zip(addrs) {
            match addr.and_then(|a| a.parse::<SocketAddr>().ok()) {
                Some(a) => {
                    live.insert(node.clone(), a);
                }
                None => gone.push(node.clone()),
            }
        }
        if !gone.is_empty() {
            let mut srem = ::redis::cmd("SREM");
            srem.arg(keys::EDGES).arg(&gone);
            let _ = r.query::<()>("members", &srem).await;
        }
        Ok(live)
    }

    async fn catch_up(&self, r: &Coordinator, current: u64, target: &dyn PurgeTarget) {
        let applied = match self.applied_epoch.lock() {
            Ok(mut a) => match *a {
                // A new edge has nothing stale to purge: start from the fleet's epoch.
                None => {
                    *a = Some(current);
                    return;
                }
                // Redis lost its data (restarted empty): replay its new history from 0.
                Some(x) if x > current => 0,
                Some(x) => x,
            },
            Err(_) => return,
        };
        if current <= applied {
            if let Ok(mut a) = self.applied_epoch.lock() {
                *a = Some(current);
            }
            return;
        }
        let mut read = ::redis::cmd("LRANGE");
        read.arg(keys::PURGE_LOG).arg(0).arg(purge::LOG_LENGTH - 1);
        let Ok(lines) = r.query::<Vec<String>>("purge_log", &read).await else {
            return;
        };
        let log: Vec<PurgeRecord> = lines
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        match purge::catch_up(applied, current, &log) {
            CatchUp::Nothing => {}
            CatchUp::Replay(records) => {
                tracing::info!(missed = records.len(), "replaying purges missed while away");
                for rec in &records {
                    self.apply(rec, target);
                }
            }
            CatchUp::All => {
                tracing::warn!("purge log does not reach back far enough: purging everything");
                target.purge_local(&PurgeScope::All);
            }
        }
        if let Ok(mut a) = self.applied_epoch.lock() {
            *a = Some(current);
        }
    }

    /// Runs the heartbeat every `heartbeat_interval_ms` and listens for purges, until the
    /// process ends.
    pub async fn run(self: Arc<Self>, target: Arc<dyn PurgeTarget>) {
        if self.redis.is_none() {
            return;
        }
        let listener = tokio::spawn(self.clone().listen_purges(target.clone()));
        let mut tick =
            tokio::time::interval(Duration::from_millis(self.config.heartbeat_interval_ms));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            self.heartbeat(target.as_ref()).await;
            if listener.is_finished() {
                break;
            }
        }
    }

    /// Subscribes to `sunomi:purge` and applies what arrives; resubscribes after Redis
    /// drops the connection (what was missed meanwhile is caught up by the heartbeat).
    async fn listen_purges(self: Arc<Self>, target: Arc<dyn PurgeTarget>) {
        let Some(client) = self.client.clone() else {
            return;
        };
        let retry = Duration::from_millis(self.config.heartbeat_interval_ms);
        loop {
            let connect = tokio::time::timeout(retry, client.get_async_pubsub()).await;
            let mut pubsub = match connect {
                Ok(Ok(p)) => p,
                _ => {
                    tokio::time::sleep(retry).await;
                    continue;
                }
            };
            if pubsub.subscribe(keys::PURGE_CHANNEL).await.is_err() {
                tokio::time::sleep(retry).await;
                continue;
            }
            tracing::debug!("subscribed to purges");
            let mut messages = pubsub.on_message();
            while let Some(msg) = messages.next().await {
                let Ok(payload) = msg.get_payload::<String>() else {
                    continue;
                };
                match serde_json::from_str::<PurgeRecord>(&payload) {
                    Ok(record) => self.apply(&record, target.as_ref()),
                    Err(e) => tracing::warn!(error = %e, "ignoring a malformed purge message"),
                }
            }
            tracing::debug!("purge subscription dropped; resubscribing");
            tokio::time::sleep(retry).await;
        }
    }

    /// Whether this edge has left the ring ([`Fleet::leave`]).
    pub fn is_leaving(&self) -> bool {
        self.leaving.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Leaves the ring for good: stops the heartbeats and removes this edge's, so the others
    /// drop it at once and stop sending it segment requests (before a graceful shutdown:
    /// the preStop of a Kubernetes pod, or SIGTERM). It keeps serving what it is asked.
    pub async fn leave(&self) {
        self.leaving
            .store(true, std::sync::atomic::Ordering::Release);
        let Some(r) = &self.redis else { return };
        let mut del = ::redis::pipe();
        del.cmd("DEL")
            .arg(keys::edge(&self.node))
            .ignore()
            .cmd("SREM")
            .arg(keys::EDGES)
            .arg(&self.node)
            .ignore();
        let _ = r.pipeline::<()>("leave", &del).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, 1], port))
    }

    #[test]
    fn siblings_leave_this_edge_out_are_capped_and_spread_over_the_fleet() {
        let me = addr(1);
        let members: Vec<SocketAddr> = (1..=10).map(addr).collect();
        let key = "/v/a/720p/3.m4s";
        let chosen = siblings_of(key, members.clone(), me);
        assert_eq!(chosen.len(), MAX_SIBLINGS);
        assert!(!chosen.contains(&me));
        // The same key gives the same order on every edge (whatever order it lists members in).
        let mut reversed = members.clone();
        reversed.reverse();
        assert_eq!(siblings_of(key, reversed, me), chosen);
        // Different keys put different edges first: the lookups spread.
        let firsts: std::collections::BTreeSet<SocketAddr> = (0..50)
            .map(|n| siblings_of(&format!("/v/a/720p/{n}.m4s"), members.clone(), me)[0])
            .collect();
        assert!(firsts.len() > 3, "{firsts:?}");
        // A fleet of one has nobody to ask; a small fleet asks everyone else.
        assert!(siblings_of(key, vec![me], me).is_empty());
        assert_eq!(siblings_of(key, vec![me, addr(2)], me), vec![addr(2)]);
    }
}
