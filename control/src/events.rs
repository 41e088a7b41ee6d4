//! Event fan-out to every control instance (for SSE) and a short global log that
//! `GET /api/v1/events` resumes from with `Last-Event-ID`.
//!
//! Per-asset history lives on the asset's record (state of record, replayed by
//! `GET /assets/{id}/events`); this bus only carries events live and keeps the recent global
//! sequence. With Redis it is the stream `sunomi:events` (capped, `XADD … MAXLEN ~`): every
//! instance tails it, and its entry ids are the global event ids. Embedded, it is a ring in
//! memory with the same behaviour.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::ConnectionManager;
use tokio::sync::broadcast;

use crate::domain::asset::Event;

/// Events kept for global replays.
pub const GLOBAL_HISTORY: usize = 10_000;

/// Redis key of the global event stream.
pub const EVENTS_KEY: &str = "sunomi:events";

/// An event with its global id.
#[derive(Debug, Clone)]
pub struct Published {
    /// Global id (the SSE id of `GET /events`).
    pub global_id: String,
    /// The event.
    pub event: Event,
}

/// The bus.
#[async_trait]
pub trait EventBus: Send + Sync {
    /// Publishes `event` to every instance.
    async fn publish(&self, event: &Event);
    /// Live events from now on.
    fn subscribe(&self) -> broadcast::Receiver<Published>;
    /// Events after global id `after` that are still kept, oldest first (`None`: only live
    /// events follow). `Err` when `after` is older than what is kept.
    async fn replay(&self, after: &str) -> Result<Vec<Published>, String>;
}

/// The in-process bus.
pub struct MemoryBus {
    tx: broadcast::Sender<Published>,
    log: Mutex<(u64, VecDeque<Published>)>,
}

impl Default for MemoryBus {
    fn default() -> Self {
        MemoryBus {
            tx: broadcast::channel(1024).0,
            log: Mutex::new((0, VecDeque::new())),
        }
    }
}

#[async_trait]
impl EventBus for MemoryBus {
    async fn publish(&self, event: &Event) {
        let published = {
            let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
            log.0 += 1;
            let p = Published {
                global_id: log.0.to_string(),
                event: event.clone(),
            };
            log.1.push_back(p.clone());
            if log.1.len() > GLOBAL_HISTORY {
                log.1.pop_front();
            }
            p
        };
        let _ = self.tx.send(published);
    }

    fn subscribe(&self) -> broadcast::Receiver<Published> {
        self.tx.subscribe()
    }

    async fn replay(&self, after: &str) -> Result<Vec<Published>, String> {
        let after: u64 = after
            .parse()
            .map_err(|_| "malformed event id".to_string())?;
        let log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(first) = log.1.front() {
            let first: u64 = first.global_id.parse().unwrap_or(0);
            if after + 1 < first {
                return Err("events after that id are no longer kept".into());
            }
        }
        Ok(log
            .1
            .iter()
            .filter(|p| p.global_id.parse::<u64>().unwrap_or(0) > after)
            .cloned()
            .collect())
    }
}

/// The Redis stream bus.
pub struct RedisBus {
    conn: ConnectionManager,
    tx: broadcast::Sender<Published>,
}

impl RedisBus {
    /// A bus on `url`; starts the task that tails the stream into local subscribers.
    pub fn start(url: &str) -> Result<std::sync::Arc<RedisBus>, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(5)))
            .set_response_timeout(Some(Duration::from_secs(5)));
        let conn = client.get_connection_manager_lazy(config)?;
        let bus = std::sync::Arc::new(RedisBus {
            conn,
            tx: broadcast::channel(1024).0,
        });
        tokio::spawn(tail(client, bus.tx.clone()));
        Ok(bus)
    }
}

fn parse_entries(v: &redis::Value) -> Vec<Published> {
    fn arr(v: &redis::Value) -> &[redis::Value] {
        match v {
            redis::Value::Array(a) => a,
            _ => &[],
        }
    }
    fn text(v: &redis::Value) -> Option<String> {
        match v {
            redis::Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
            redis::Value::SimpleString(s) => Some(s.clone()),
            _ => None,
        }
    }
    arr(v)
        .iter()
        .filter_map(|e| {
            let e = arr(e);
            let id = text(e.first()?)?;
            let kv = arr(e.get(1)?);
            let json = kv
                .chunks(2)
                .find(|p| p.first().and_then(text).as_deref() == Some("event"))
                .and_then(|p| text(p.get(1)?))?;
            let event = serde_json::from_str(&json).ok()?;
            Some(Published {
                global_id: id,
                event,
            })
        })
        .collect()
}

/// Tails `sunomi:events` from now on, on a connection of its own (it blocks).
async fn tail(client: redis::Client, tx: broadcast::Sender<Published>) {
    let mut last = "$".to_string();
    loop {
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(5)))
            .set_response_timeout(Some(Duration::from_secs(10)));
        let mut conn = match client
            .get_multiplexed_async_connection_with_config(&config)
            .await
        {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(error = %e, "event stream: Redis unavailable");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        loop {
            let mut read = redis::cmd("XREAD");
            read.arg("BLOCK")
                .arg(5000)
                .arg("STREAMS")
                .arg(EVENTS_KEY)
                .arg(&last);
            let v: redis::Value = match read.query_async(&mut conn).await {
                Ok(v) => v,
                Err(e) => {
                    tracing::debug!(error = %e, "event stream read failed");
                    break;
                }
            };
            let streams = match &v {
                redis::Value::Array(a) => a.clone(),
                _ => Vec::new(),
            };
            for s in streams {
                if let redis::Value::Array(parts) = s {
                    if let Some(list) = parts.get(1) {
                        for p in parse_entries(list) {
                            last = p.global_id.clone();
                            let _ = tx.send(p);
                        }
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[async_trait]
impl EventBus for RedisBus {
    async fn publish(&self, event: &Event) {
        let json = serde_json::to_string(event).unwrap_or_default();
        let mut add = redis::cmd("XADD");
        add.arg(EVENTS_KEY)
            .arg("MAXLEN")
            .arg("~")
            .arg(GLOBAL_HISTORY)
            .arg("*")
            .arg("event")
            .arg(json);
        let mut c = self.conn.clone();
        if let Err(e) = add.query_async::<String>(&mut c).await {
            // The event is on the asset's record; only live fan-out is lost.
            tracing::warn!(error = %e, event = %event.id, "could not publish an event");
        }
    }

    fn subscribe(&self) -> broadcast::Receiver<Published> {
        self.tx.subscribe()
    }

    async fn replay(&self, after: &str) -> Result<Vec<Published>, String> {
        let valid = after.split_once('-').is_some_and(|(a, b)| {
            !a.is_empty()
                && !b.is_empty()
                && a.bytes().all(|c| c.is_ascii_digit())
                && b.bytes().all(|c| c.is_ascii_digit())
        });
        if !valid {
            return Err("malformed event id".into());
        }
        let mut range = redis::cmd("XRANGE");
        range
            .arg(EVENTS_KEY)
            .arg(format!("({after}"))
            .arg("+")
            .arg("COUNT")
            .arg(GLOBAL_HISTORY);
        let mut c = self.conn.clone();
        let v: redis::Value = range
            .query_async(&mut c)
            .await
            .map_err(|e| format!("event log unavailable: {e}"))?;
        Ok(parse_entries(&v))
    }
}
