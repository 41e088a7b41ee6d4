//! The embedded queue: the same semantics as the Redis one inside one process (for
//! `sunomi-control serve` without `--redis`). Jobs do not survive a restart; assets do (they
//! are in storage), and the control plane re-queues unfinished assets at start.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::sync::Notify;

use super::{now_ms, DeadLetter, Delivery, Depth, Queue, QueueError};
use crate::domain::ids::JobId;
use crate::jobs::{Job, JobKind};

struct Running {
    job: Job,
    deliveries: u32,
    deadline: Instant,
}

#[derive(Default)]
struct State {
    ready: HashMap<JobKind, VecDeque<(Job, u32)>>,
    running: HashMap<String, Running>,
    delayed: Vec<(Instant, Job)>,
    dead: Vec<DeadLetter>,
    next_receipt: u64,
}

/// The in-process queue.
pub struct MemoryQueue {
    state: Mutex<State>,
    notify: Notify,
    visibility: Duration,
}

impl MemoryQueue {
    /// A queue that redelivers a job whose worker has not heartbeaten for `visibility`.
    pub fn new(visibility: Duration) -> MemoryQueue {
        MemoryQueue {
            state: Mutex::new(State::default()),
            notify: Notify::new(),
            visibility,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the plain collections inconsistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn take(&self, kinds: &[JobKind]) -> Option<Delivery> {
        let now = Instant::now();
        let mut s = self.state();
        let due: Vec<Job> = {
            let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut s.delayed)
                .into_iter()
                .partition(|(t, _)| *t <= now);
            s.delayed = later;
            due.into_iter().map(|(_, j)| j).collect()
        };
        for job in due {
            s.ready.entry(job.kind).or_default().push_back((job, 0));
        }
        let expired: Vec<String> = s
            .running
            .iter()
            .filter(|(_, r)| r.deadline <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for receipt in expired {
            if let Some(r) = s.running.remove(&receipt) {
                s.ready
                    .entry(r.job.kind)
                    .or_default()
                    .push_front((r.job, r.deliveries));
            }
        }
        for kind in kinds {
            if let Some((job, deliveries)) = s.ready.get_mut(kind).and_then(|q| q.pop_front()) {
                s.next_receipt += 1;
                let receipt = s.next_receipt.to_string();
                let deliveries = deliveries + 1;
                let attempt = job.attempts_before + deliveries;
                s.running.insert(
                    receipt.clone(),
                    Running {
                        job: job.clone(),
                        deliveries,
                        deadline: now + self.visibility,
                    },
                );
                return Some(Delivery {
                    job,
                    attempt,
                    receipt,
                });
            }
        }
        None
    }
}

#[async_trait]
impl Queue for MemoryQueue {
    async fn enqueue(&self, job: &Job) -> Result<(), QueueError> {
        self.state()
            .ready
            .entry(job.kind)
            .or_default()
            .push_back((job.clone(), 0));
        self.notify.notify_waiters();
        Ok(())
    }

    async fn enqueue_later(&self, job: &Job, delay: Duration) -> Result<(), QueueError> {
        self.state()
            .delayed
            .push((Instant::now() + delay, job.clone()));
        Ok(())
    }

    async fn receive(
        &self,
        kinds: &[JobKind],
        _consumer: &str,
        wait: Duration,
    ) -> Result<Option<Delivery>, QueueError> {
        let until = Instant::now() + wait;
        loop {
            let notified = self.notify.notified();
            if let Some(d) = self.take(kinds) {
                return Ok(Some(d));
            }
            let now = Instant::now();
            if now >= until {
                return Ok(None);
            }
            // Wake on a new job, or soon enough to see delayed and expired ones.
            let nap = (until - now).min(Duration::from_millis(200));
            let _ = tokio::time::timeout(nap, notified).await;
        }
    }

    async fn heartbeat(&self, delivery: &Delivery, _consumer: &str) -> Result<(), QueueError> {
        if let Some(r) = self.state().running.get_mut(&delivery.receipt) {
            r.deadline = Instant::now() + self.visibility;
        }
        Ok(())
    }

    async fn ack(&self, delivery: &Delivery) -> Result<(), QueueError> {
        self.state().running.remove(&delivery.receipt);
        Ok(())
    }

    async fn bury(&self, delivery: &Delivery, reason: &str) -> Result<(), QueueError> {
        let mut s = self.state();
        s.running.remove(&delivery.receipt);
        s.dead.push(DeadLetter {
            job: delivery.job.clone(),
            reason: reason.to_string(),
            attempts: delivery.attempt,
            at_ms: now_ms(),
        });
        let over = s.dead.len().saturating_sub(super::MAX_DEAD);
        s.dead.drain(..over);
        Ok(())
    }

    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, QueueError> {
        Ok(self.state().dead.iter().take(limit).cloned().collect())
    }

    async fn dead_count(&self) -> Result<u64, QueueError> {
        Ok(self.state().dead.len() as u64)
    }

    async fn revive(&self, id: &JobId) -> Result<Option<Job>, QueueError> {
        let job = {
            let mut s = self.state();
            let Some(i) = s.dead.iter().position(|d| &d.job.id == id) else {
                return Ok(None);
            };
            let mut job = s.dead.remove(i).job;
            job.attempts_before = 0;
            job
        };
        self.enqueue(&job).await?;
        Ok(Some(job))
    }

    async fn depth(&self, kind: JobKind) -> Result<Depth, QueueError> {
        let s = self.state();
        let waiting = s.ready.get(&kind).map_or(0, |q| q.len())
            + s.delayed.iter().filter(|(_, j)| j.kind == kind).count();
        let running = s.running.values().filter(|r| r.job.kind == kind).count();
        Ok(Depth {
            waiting: waiting as u64,
            running: running as u64,
        })
    }

    async fn ping(&self) -> Result<(), QueueError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::retry_later;

    const NO_WAIT: Duration = Duration::ZERO;

    #[tokio::test]
    async fn a_job_whose_worker_went_silent_is_delivered_again_as_a_new_attempt() {
        let q = MemoryQueue::new(Duration::from_millis(30));
        let job = Job::new(JobKind::Transcode, None);
        q.enqueue(&job).await.unwrap();
        let first = q
            .receive(&[JobKind::Transcode], "a", NO_WAIT)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(first.attempt, 1);
        assert!(q
            .receive(&[JobKind::Transcode], "b", NO_WAIT)
            .await
            .unwrap()
            .is_none());
        let second = q
            .receive(&[JobKind::Transcode], "b", Duration::from_secs(5))
            .await
            .unwrap()
            .unwrap();
        assert_eq!((second.job.id.clone(), second.attempt), (job.id, 2));
    }

    #[tokio::test]
    async fn heartbeats_keep_a_job_and_retries_count_attempts() {
        let q = MemoryQueue::new(Duration::from_millis(200));
        q.enqueue(&Job::new(JobKind::Webhook, None)).await.unwrap();
        let d = q
            .receive(&[JobKind::Webhook], "a", NO_WAIT)
            .await
            .unwrap()
            .unwrap();
        q.heartbeat(&d, "a").await.unwrap();
        assert_eq!(q.depth(JobKind::Webhook).await.unwrap().running, 1);
        retry_later(&q, &d, Duration::from_millis(1)).await.unwrap();
        let again = q
            .receive(&[JobKind::Webhook], "a", Duration::from_secs(5))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(again.attempt, 2);
        q.bury(&again, "boom").await.unwrap();
        let dead = q.dead_letters(10).await.unwrap();
        assert_eq!(
            (dead.len(), dead[0].attempts, dead[0].reason.as_str()),
            (1, 2, "boom")
        );
        let revived = q.revive(&again.job.id).await.unwrap().unwrap();
        assert_eq!(revived.attempts_before, 0);
        assert!(q.dead_letters(10).await.unwrap().is_empty());
        let d = q
            .receive(&[JobKind::Webhook], "a", NO_WAIT)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(d.attempt, 1);
    }

    #[tokio::test]
    async fn dead_letters_keep_the_newest_and_list_a_bounded_page() {
        let q = MemoryQueue::new(Duration::from_secs(5));
        let mut first = None;
        for i in 0..super::super::MAX_DEAD + 5 {
            let job = Job::new(JobKind::Transcode, None);
            if i == 5 {
                first = Some(job.id.clone());
            }
            q.enqueue(&job).await.unwrap();
            let d = q
                .receive(&[JobKind::Transcode], "a", NO_WAIT)
                .await
                .unwrap()
                .unwrap();
            q.bury(&d, "boom").await.unwrap();
        }
        assert_eq!(q.dead_count().await.unwrap(), super::super::MAX_DEAD as u64);
        let page = q.dead_letters(100).await.unwrap();
        assert_eq!(page.len(), 100);
        assert_eq!(Some(page[0].job.id.clone()), first, "the oldest five went");
    }
}
