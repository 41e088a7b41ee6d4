//! The edge's Redis client: one multiplexed, self-reconnecting connection, a timeout on
//! every command, a health flag, and error counting. Redis is only ever an optimisation, so
//! every caller gets a `Result` it can ignore, and request paths skip Redis entirely while it
//! is known to be down (the heartbeat loop finds out when it is back).

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{FromRedisValue, RedisResult};

use crate::ops::metrics::metrics;

/// Key names (DESIGN.md "Redis").
pub mod keys {
    /// Prefix of heartbeat keys (`sunomi:edge:{node}`, value: advertised address).
    pub const EDGE_PREFIX: &str = "sunomi:edge:";
    /// Set of node names that have ever beaten; stale names are pruned by whoever sees
    /// their heartbeat key gone. Lets members be listed without `SCAN`ning the keyspace.
    pub const EDGES: &str = "sunomi:edges";
    /// Prefix of fill locks (`sunomi:fill:{cache_key}`).
    pub const FILL_PREFIX: &str = "sunomi:fill:";
    pub use sunomi_origin::purge::{
        CHANNEL as PURGE_CHANNEL, EPOCH_KEY as PURGE_EPOCH, LOG_KEY as PURGE_LOG,
    };

    /// The heartbeat key of `node`.
    pub fn edge(node: &str) -> String {
        format!("{EDGE_PREFIX}{node}")
    }

    /// The fill lock key of a cache key.
    pub fn fill(cache_key: &str) -> String {
        format!("{FILL_PREFIX}{cache_key}")
    }

    /// The shared metadata key of video `id`.
    pub fn meta(id: &str) -> String {
        sunomi_origin::purge::meta_key(id)
    }
}

/// Why a Redis command gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    /// Redis was already known to be down; nothing was sent.
    #[error("redis is down")]
    Down,
    /// The command did not complete in time.
    #[error("redis command {0} timed out")]
    Timeout(&'static str),
    /// Redis or the connection reported an error.
    #[error("redis command {op} failed: {source}")]
    Failed {
        /// The command.
        op: &'static str,
        /// What went wrong.
        source: redis::RedisError,
    },
}

/// A shared Redis connection with a timeout on every command.
pub struct Coordinator {
    conn: ConnectionManager,
    timeout: Duration,
    up: AtomicBool,
}

impl Coordinator {
    /// A coordinator for `url`. Connects lazily: an edge starts (and serves) with Redis down.
    pub fn new(url: &str, timeout: Duration) -> Result<Coordinator, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(1));
        let conn = client.get_connection_manager_lazy(config)?;
        Ok(Coordinator {
            conn,
            timeout,
            up: AtomicBool::new(false),
        })
    }

    /// Whether the last heartbeat reached Redis.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// Records whether Redis answered the heartbeat; logs the transitions.
    pub fn set_up(&self, up: bool) {
        let was = self.up.swap(up, Ordering::Relaxed);
        if was != up {
            if up {
                tracing::info!("redis is reachable: coordinating with the fleet");
            } else {
                tracing::warn!(
                    "redis is unreachable: serving from this edge's cache and storage alone"
                );
            }
        }
        metrics().redis_up.set(i64::from(up));
    }

    /// A connection handle for [`Coordinator::run`] (cheap: the connection is multiplexed).
    pub fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// Runs one command or pipeline with the timeout, counting failures under `op`.
    pub async fn run<T>(
        &self,
        op: &'static str,
        command: impl Future<Output = RedisResult<T>>,
    ) -> Result<T, RedisError> {
        let result = match tokio::time::timeout(self.timeout, command).await {
            Ok(Ok(v)) => return Ok(v),
            Ok(Err(source)) => RedisError::Failed { op, source },
            Err(_) => RedisError::Timeout(op),
        };
        metrics().redis_errors.with_label_values(&[op]).inc();
        tracing::debug!(error = %result, "redis command failed");
        Err(result)
    }

    /// Sends one command (see [`Coordinator::run`]).
    pub async fn query<T: FromRedisValue>(
        &self,
        op: &'static str,
        cmd: &redis::Cmd,
    ) -> Result<T, RedisError> {
        let mut conn = self.conn.clone();
        self.run(op, cmd.query_async(&mut conn)).await
    }

    /// Sends one command unless Redis is known to be down (see [`Coordinator::run_if_up`]).
    pub async fn query_if_up<T: FromRedisValue>(
        &self,
        op: &'static str,
        cmd: &redis::Cmd,
    ) -> Result<T, RedisError> {
        let mut conn = self.conn.clone();
        self.run_if_up(op, cmd.query_async(&mut conn)).await
    }

    /// Sends a pipeline (see [`Coordinator::run`]).
    pub async fn pipeline<T: FromRedisValue>(
        &self,
        op: &'static str,
        pipe: &redis::Pipeline,
    ) -> Result<T, RedisError> {
        let mut conn = self.conn.clone();
        self.run(op, pipe.query_async(&mut conn)).await
    }

    /// Sends a pipeline unless Redis is known to be down (see [`Coordinator::run_if_up`]).
    pub async fn pipeline_if_up<T: FromRedisValue>(
        &self,
        op: &'static str,
        pipe: &redis::Pipeline,
    ) -> Result<T, RedisError> {
        let mut conn = self.conn.clone();
        self.run_if_up(op, pipe.query_async(&mut conn)).await
    }

    /// Like [`Coordinator::run`], but sends nothing while Redis is known to be down: for
    /// request paths, which must not wait on a dead Redis.
    pub async fn run_if_up<T>(
        &self,
        op: &'static str,
        command: impl Future<Output = RedisResult<T>>,
    ) -> Result<T, RedisError> {
        if !self.is_up() {
            return Err(RedisError::Down);
        }
        self.run(op, command).await
    }
}
