//! The job queue behind one trait: Redis Streams for fleets ([`redis::RedisQueue`]), an
//! in-process queue for the embedded default ([`memory::MemoryQueue`]). Both give the same
//! guarantees: at-least-once delivery, a job whose worker stops heartbeating is delivered
//! again after the visibility timeout, attempts are counted across redeliveries, retries wait
//! in a delayed set, and jobs that fail every attempt go to the dead letters.

pub mod memory;
pub mod redis;

use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::ids::JobId;
use crate::jobs::{Job, JobKind};

/// Why the queue failed.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// Redis did not answer or refused.
    #[error("redis: {0}")]
    Redis(String),
}

/// A job handed to a worker.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The job.
    pub job: Job,
    /// Which attempt this is (1 for the first).
    pub attempt: u32,
    /// The queue's handle of this delivery (a stream entry id).
    pub receipt: String,
}

/// A job that failed every attempt.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeadLetter {
    /// The job.
    pub job: Job,
    /// The last attempt's error.
    pub reason: String,
    /// Attempts made.
    pub attempts: u32,
    /// When it was buried (Unix milliseconds).
    pub at_ms: u64,
}

/// Jobs of one kind by state (what an autoscaler scales on).
#[derive(Debug, Clone, Copy, Default, Serialize, ToSchema)]
pub struct Depth {
    /// Waiting for a worker.
    pub waiting: u64,
    /// Delivered and not yet acknowledged.
    pub running: u64,
}

/// The queue.
#[async_trait]
pub trait Queue: Send + Sync {
    /// Adds a job.
    async fn enqueue(&self, job: &Job) -> Result<(), QueueError>;
    /// Adds a job to run after `delay`.
    async fn enqueue_later(&self, job: &Job, delay: Duration) -> Result<(), QueueError>;
    /// The next job of one of `kinds` for `consumer`, waiting up to `wait`.
    async fn receive(
        &self,
        kinds: &[JobKind],
        consumer: &str,
        wait: Duration,
    ) -> Result<Option<Delivery>, QueueError>;
    /// Says the delivery's worker is alive (resets its visibility timeout).
    async fn heartbeat(&self, delivery: &Delivery, consumer: &str) -> Result<(), QueueError>;
    /// The job is done (or needs nothing more): forget it.
    async fn ack(&self, delivery: &Delivery) -> Result<(), QueueError>;
    /// Moves the job to the dead letters with `reason`.
    async fn bury(&self, delivery: &Delivery, reason: &str) -> Result<(), QueueError>;
    /// The oldest `limit` dead letters, oldest first (the queue keeps the newest
    /// [`MAX_DEAD`]).
    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, QueueError>;
    /// How many dead letters there are.
    async fn dead_count(&self) -> Result<u64, QueueError>;
    /// Takes job `id` out of the dead letters and queues it again with fresh attempts.
    async fn revive(&self, id: &JobId) -> Result<Option<Job>, QueueError>;
    /// Jobs of `kind` waiting and running.
    async fn depth(&self, kind: JobKind) -> Result<Depth, QueueError>;
    /// Whether the queue's backend answers.
    async fn ping(&self) -> Result<(), QueueError>;
}

/// Dead letters a queue keeps (the oldest go first past it), so a storm of failures cannot
/// fill its memory.
pub const MAX_DEAD: usize = 10_000;

/// Retries the job of `delivery` after `delay`, counting this attempt, then acknowledges it.
pub async fn retry_later(
    queue: &dyn Queue,
    delivery: &Delivery,
    delay: Duration,
) -> Result<(), QueueError> {
    let mut job = delivery.job.clone();
    job.attempts_before = delivery.attempt;
    queue.enqueue_later(&job, delay).await?;
    queue.ack(delivery).await
}

/// Now in Unix milliseconds.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
