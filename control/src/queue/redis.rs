//! Jobs on Redis Streams: a stream per kind (`sunomi:jobs:{kind}`) read by the consumer group
//! `workers` with `XREADGROUP`; an entry left unacknowledged past the visibility timeout (its
//! worker was killed) is taken over with `XAUTOCLAIM`; running jobs heartbeat with
//! `XCLAIM … JUSTID`, which resets the entry's idle time without counting a delivery.
//! Attempts are the job's `attempts_before` plus the entry's delivery count. Retries wait in
//! a sorted set (`sunomi:jobs:delayed`, scored by due time) that every worker promotes from;
//! dead letters are the stream `sunomi:jobs:dead`.
//!
//! Redis restarted empty loses queued jobs but no asset: assets are in the database, and
//! `sunomi-control reindex` (or an embedded control's start) re-queues every unfinished one.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::{AsyncConnectionConfig, Client, Value};

use super::{now_ms, DeadLetter, Delivery, Depth, Queue, QueueError};
use crate::domain::ids::JobId;
use crate::jobs::{Job, JobKind};

/// Redis key names of the queue (DESIGN.md "Redis").
pub mod keys {
    use crate::jobs::JobKind;

    /// The consumer group on every job stream.
    pub const GROUP: &str = "workers";
    /// Dead letters.
    pub const DEAD: &str = "sunomi:jobs:dead";
    /// Jobs waiting for a retry, scored by due time (Unix ms).
    pub const DELAYED: &str = "sunomi:jobs:delayed";

    /// The stream of `kind`'s jobs.
    pub fn stream(kind: JobKind) -> String {
        format!("sunomi:jobs:{}", kind.name())
    }
}

/// Moves due delayed jobs to their streams, atomically (no job promoted twice or lost).
const PROMOTE: &str = r#"
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 100)
for _, member in ipairs(due) do
  redis.call('ZREM', KEYS[1], member)
  local kind = string.match(member, '^([a-z_]+) ')
  local job = string.sub(member, string.len(kind) + 2)
  redis.call('XADD', 'sunomi:jobs:' .. kind, '*', 'job', job)
end
return #due
"#;

/// Counts the delayed jobs of one kind (members starting with `ARGV[1]`) inside Redis, a
/// page at a time, so the set is never sent to a client.
const COUNT_DELAYED: &str = r#"
local n, cursor = 0, '0'
repeat
  local page = redis.call('ZSCAN', KEYS[1], cursor, 'MATCH', ARGV[1] .. '*', 'COUNT', 1000)
  cursor = page[1]
  n = n + #page[2] / 2
until cursor == '0'
return n
"#;

/// The Redis Streams queue.
pub struct RedisQueue {
    client: Client,
    conn: ConnectionManager,
    blocking: Mutex<Vec<MultiplexedConnection>>,
    visibility: Duration,
    timeout: Duration,
    promote: redis::Script,
    count_delayed: redis::Script,
}

fn err(e: redis::RedisError) -> QueueError {
    QueueError::Redis(e.to_string())
}

impl RedisQueue {
    /// A queue on the Redis at `url`. Connects lazily (a worker starts with Redis down and
    /// waits for it).
    pub fn new(url: &str, visibility: Duration) -> Result<RedisQueue, QueueError> {
        let client = Client::open(url).map_err(err)?;
        let timeout = Duration::from_secs(5);
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(1));
        let conn = client.get_connection_manager_lazy(config).map_err(err)?;
        Ok(RedisQueue {
            client,
            conn,
            blocking: Mutex::new(Vec::new()),
            visibility,
            timeout,
            promote: redis::Script::new(PROMOTE),
            count_delayed: redis::Script::new(COUNT_DELAYED),
        })
    }

    fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }

    async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, QueueError> {
        let mut c = self.conn();
        match tokio::time::timeout(self.timeout, cmd.query_async(&mut c)).await {
            Ok(r) => r.map_err(err),
            Err(_) => Err(QueueError::Redis("timed out".into())),
        }
    }

    async fn ensure_group(&self, kind: JobKind) -> Result<(), QueueError> {
        let mut cmd = redis::cmd("XGROUP");
        cmd.arg("CREATE")
            .arg(keys::stream(kind))
            .arg(keys::GROUP)
            .arg("0")
            .arg("MKSTREAM");
        match self.query::<()>(&cmd).await {
            Ok(()) => Ok(()),
            Err(QueueError::Redis(m)) if m.contains("BUSYGROUP") => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn promote_due(&self) -> Result<(), QueueError> {
        let mut c = self.conn();
        let mut inv = self.promote.prepare_invoke();
        inv.key(keys::DELAYED).arg(now_ms());
        tokio::time::timeout(self.timeout, inv.invoke_async::<i64>(&mut c))
            .await
            .map_err(|_| QueueError::Redis("timed out".into()))?
            .map_err(err)?;
        Ok(())
    }

    async fn blocking_conn(&self, wait: Duration) -> Result<MultiplexedConnection, QueueError> {
        let pooled = self
            .blocking
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop();
        if let Some(c) = pooled {
            return Ok(c);
        }
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(wait + self.timeout));
        self.client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(err)
    }

    fn give_back(&self, c: MultiplexedConnection) {
        self.blocking
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(c);
    }

    /// The delivery count of entry `id` in `kind`'s stream.
    async fn deliveries(&self, kind: JobKind, id: &str) -> Result<u32, QueueError> {
        let mut cmd = redis::cmd("XPENDING");
        cmd.arg(keys::stream(kind))
            .arg(keys::GROUP)
            .arg(id)
            .arg(id)
            .arg(1);
        let v: Value = self.query(&cmd).await?;
        let count = as_array(&v)
            .first()
            .map(as_array)
            .and_then(|e| e.get(3).and_then(as_int))
            .unwrap_or(1);
        Ok(count.max(1) as u32)
    }

    async fn deliver(
        &self,
        kind: JobKind,
        id: String,
        fields: HashMap<String, String>,
    ) -> Result<Option<Delivery>, QueueError> {
        let job = fields.get("job").map(|t| Job::from_json(t));
        let Some(Ok(job)) = job else {
            // Not a job this code can read: bury the raw entry instead of looping on it.
            tracing::error!(%kind, %id, "unreadable job entry; moved to the dead letters");
            let mut add = redis::cmd("XADD");
            add.arg(keys::DEAD)
                .arg("*")
                .arg("raw")
                .arg(format!("{fields:?}"))
                .arg("reason")
                .arg("unreadable job entry");
            self.query::<()>(&add).await?;
            self.remove(kind, &id).await?;
            return Ok(None);
        };
        let deliveries = self.deliveries(kind, &id).await?;
        Ok(Some(Delivery {
            attempt: job.attempts_before + deliveries,
            job,
            receipt: format!("{}|{id}", kind.name()),
        }))
    }

    async fn remove(&self, kind: JobKind, id: &str) -> Result<(), QueueError> {
        let stream = keys::stream(kind);
        let mut pipe = redis::pipe();
        pipe.cmd("XACK")
            .arg(&stream)
            .arg(keys::GROUP)
            .arg(id)
            .ignore()
            .cmd("XDEL")
            .arg(&stream)
            .arg(id)
            .ignore();
        let mut c = self.conn();
        tokio::time::timeout(self.timeout, pipe.query_async::<()>(&mut c))
            .await
            .map_err(|_| QueueError::Redis("timed out".into()))?
            .map_err(err)
    }

    async fn try_receive(
        &self,
        kinds: &[JobKind],
        consumer: &str,
        wait: Duration,
    ) -> Result<Option<Delivery>, QueueError> {
        self.promote_due().await?;
        for &kind in kinds {
            let mut claim = redis::cmd("XAUTOCLAIM");
            claim
                .arg(keys::stream(kind))
                .arg(keys::GROUP)
                .arg(consumer)
                .arg(self.visibility.as_millis() as u64)
                .arg("0-0")
                .arg("COUNT")
                .arg(1);
            let v: Value = self.query(&claim).await?;
            let claimed = as_array(&v).get(1).map(entries).unwrap_or_default();
            if let Some((id, fields)) = claimed.into_iter().next() {
                tracing::info!(%kind, %id, "took over a job whose worker went silent");
                if let Some(d) = self.deliver(kind, id, fields).await? {
                    return Ok(Some(d));
                }
            }
        }
        let mut read = redis::cmd("XREADGROUP");
        read.arg("GROUP")
            .arg(keys::GROUP)
            .arg(consumer)
            .arg("COUNT")
            .arg(1)
            .arg("BLOCK")
            .arg(wait.as_millis().max(1) as u64)
            .arg("STREAMS");
        for &kind in kinds {
            read.arg(keys::stream(kind));
        }
        for _ in kinds {
            read.arg(">");
        }
        let mut c = self.blocking_conn(wait).await?;
        let v: Value = match read.query_async(&mut c).await {
            Ok(v) => {
                self.give_back(c);
                v
            }
            Err(e) => return Err(err(e)),
        };
        for stream in as_array(&v) {
            let parts = as_array(stream);
            let (Some(name), Some(list)) = (parts.first().and_then(as_string), parts.get(1)) else {
                continue;
            };
            let Some(kind) = name.strip_prefix("sunomi:jobs:").and_then(JobKind::parse) else {
                continue;
            };
            if let Some((id, fields)) = entries(list).into_iter().next() {
                return self.deliver(kind, id, fields).await;
            }
        }
        Ok(None)
    }

    fn split_receipt(receipt: &str) -> Option<(JobKind, &str)> {
        let (kind, id) = receipt.split_once('|')?;
        Some((JobKind::parse(kind)?, id))
    }
}

#[async_trait]
impl Queue for RedisQueue {
    async fn enqueue(&self, job: &Job) -> Result<(), QueueError> {
        let mut cmd = redis::cmd("XADD");
        cmd.arg(keys::stream(job.kind))
            .arg("*")
            .arg("job")
            .arg(job.to_json());
        self.query::<String>(&cmd).await.map(|_| ())
    }

    async fn enqueue_later(&self, job: &Job, delay: Duration) -> Result<(), QueueError> {
        let mut cmd = redis::cmd("ZADD");
        cmd.arg(keys::DELAYED)
            .arg(now_ms() + delay.as_millis() as u64)
            .arg(format!("{} {}", job.kind.name(), job.to_json()));
        self.query::<()>(&cmd).await
    }

    async fn receive(
        &self,
        kinds: &[JobKind],
        consumer: &str,
        wait: Duration,
    ) -> Result<Option<Delivery>, QueueError> {
        match self.try_receive(kinds, consumer, wait).await {
            Err(QueueError::Redis(m)) if m.contains("NOGROUP") => {
                // First use, or Redis restarted empty: make the groups and read again.
                for &kind in kinds {
                    self.ensure_group(kind).await?;
                }
                self.try_receive(kinds, consumer, wait).await
            }
            other => other,
        }
    }

    async fn heartbeat(&self, delivery: &Delivery, consumer: &str) -> Result<(), QueueError> {
        let Some((kind, id)) = Self::split_receipt(&delivery.receipt) else {
            return Ok(());
        };
        let mut cmd = redis::cmd("XCLAIM");
        cmd.arg(keys::stream(kind))
            .arg(keys::GROUP)
            .arg(consumer)
            .arg(0)
            .arg(id)
            .arg("JUSTID");
        self.query::<Value>(&cmd).await.map(|_| ())
    }

    async fn ack(&self, delivery: &Delivery) -> Result<(), QueueError> {
        match Self::split_receipt(&delivery.receipt) {
            Some((kind, id)) => self.remove(kind, id).await,
            None => Ok(()),
        }
    }

    async fn bury(&self, delivery: &Delivery, reason: &str) -> Result<(), QueueError> {
        let mut add = redis::cmd("XADD");
        add.arg(keys::DEAD)
            .arg("MAXLEN")
            .arg("~")
            .arg(super::MAX_DEAD)
            .arg("*")
            .arg("job")
            .arg(delivery.job.to_json())
            .arg("reason")
            .arg(reason)
            .arg("attempts")
            .arg(delivery.attempt)
            .arg("at_ms")
            .arg(now_ms());
        self.query::<String>(&add).await?;
        self.ack(delivery).await
    }

    async fn dead_count(&self) -> Result<u64, QueueError> {
        let mut len = redis::cmd("XLEN");
        len.arg(keys::DEAD);
        self.query(&len).await
    }

    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, QueueError> {
        let mut range = redis::cmd("XRANGE");
        range
            .arg(keys::DEAD)
            .arg("-")
            .arg("+")
            .arg("COUNT")
            .arg(limit);
        let v: Value = self.query(&range).await?;
        Ok(entries(&v)
            .into_iter()
            .filter_map(|(_, f)| {
                Some(DeadLetter {
                    job: Job::from_json(f.get("job")?).ok()?,
                    reason: f.get("reason").cloned().unwrap_or_default(),
                    attempts: f.get("attempts").and_then(|a| a.parse().ok()).unwrap_or(0),
                    at_ms: f.get("at_ms").and_then(|a| a.parse().ok()).unwrap_or(0),
                })
            })
            .collect())
    }

    async fn revive(&self, id: &JobId) -> Result<Option<Job>, QueueError> {
        // Read the dead letters a page at a time: never the whole stream at once.
        let mut start = "-".to_string();
        loop {
            let mut range = redis::cmd("XRANGE");
            range
                .arg(keys::DEAD)
                .arg(&start)
                .arg("+")
                .arg("COUNT")
                .arg(REVIVE_PAGE);
            let v: Value = self.query(&range).await?;
            let page = entries(&v);
            if let Some(found) = self.revive_in(id, &page).await? {
                return Ok(found);
            }
            match page.last() {
                Some((last, _)) if page.len() == REVIVE_PAGE => start = format!("({last}"),
                _ => return Ok(None),
            }
        }
    }

    async fn depth(&self, kind: JobKind) -> Result<Depth, QueueError> {
        let stream = keys::stream(kind);
        let mut len = redis::cmd("XLEN");
        len.arg(&stream);
        let total: u64 = self.query(&len).await?;
        let mut pending = redis::cmd("XPENDING");
        pending.arg(&stream).arg(keys::GROUP);
        let running = match self.query::<Value>(&pending).await {
            Ok(v) => as_array(&v).first().and_then(as_int).unwrap_or(0) as u64,
            Err(QueueError::Redis(m)) if m.contains("NOGROUP") => 0,
            Err(e) => return Err(e),
        };
        // Counted inside Redis: the delayed set is never read out.
        let mut c = self.conn();
        let mut inv = self.count_delayed.prepare_invoke();
        inv.key(keys::DELAYED).arg(format!("{} ", kind.name()));
        let later: u64 = tokio::time::timeout(self.timeout, inv.invoke_async::<u64>(&mut c))
            .await
            .map_err(|_| QueueError::Redis("timed out".into()))?
            .map_err(err)?;
        Ok(Depth {
            waiting: total.saturating_sub(running) + later,
            running,
        })
    }

    async fn ping(&self) -> Result<(), QueueError> {
        self.query::<String>(&redis::cmd("PING")).await.map(|_| ())
    }
}

/// Dead letters read per round trip when looking for one to revive.
const REVIVE_PAGE: usize = 100;

impl RedisQueue {
    /// Revives job `id` if it is among `page` (`Some(None)`: found, but someone else revived
    /// it first).
    async fn revive_in(
        &self,
        id: &JobId,
        page: &[(String, HashMap<String, String>)],
    ) -> Result<Option<Option<Job>>, QueueError> {
        for (entry, fields) in page {
            let Some(Ok(mut job)) = fields.get("job").map(|t| Job::from_json(t)) else {
                continue;
            };
            if &job.id != id {
                continue;
            }
            let mut del = redis::cmd("XDEL");
            del.arg(keys::DEAD).arg(entry);
            let removed: i64 = self.query(&del).await?;
            if removed == 0 {
                // Someone else revived it first.
                return Ok(Some(None));
            }
            job.attempts_before = 0;
            self.enqueue(&job).await?;
            return Ok(Some(Some(job)));
        }
        Ok(None)
    }
}

fn as_array(v: &Value) -> &[Value] {
    match v {
        Value::Array(a) | Value::Set(a) => a,
        _ => &[],
    }
}

fn as_string(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        Value::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

fn as_int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        other => as_string(other)?.parse().ok(),
    }
}

/// Stream entries `[[id, [field, value, …]], …]` (deleted entries, nil, are skipped).
fn entries(v: &Value) -> Vec<(String, HashMap<String, String>)> {
    as_array(v)
        .iter()
        .filter_map(|e| {
            let e = as_array(e);
            let id = as_string(e.first()?)?;
            let kv = as_array(e.get(1)?);
            let fields = kv
                .chunks(2)
                .filter_map(|p| Some((as_string(p.first()?)?, as_string(p.get(1)?)?)))
                .collect();
            Some((id, fields))
        })
        .collect()
}
