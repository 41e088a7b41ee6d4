//! Jobs, the use cases: queue one (counted), queue an asset's transcode, requeue every
//! unfinished pipeline (`reindex`).

use std::sync::Arc;

use crate::app::AppError;
use crate::db::{assets, Db};
use crate::domain::asset::{Asset, AssetStatus};
use crate::jobs::{Job, JobKind};
use crate::metrics::metrics;
use crate::queue::{Queue, QueueError};

/// The job queue and what reads the pipelines' state.
pub struct Jobs {
    /// The queue (Redis Streams, or in memory embedded).
    pub queue: Arc<dyn Queue>,
    /// The state of record.
    pub db: Db,
}

impl Jobs {
    /// Queues a job, counting it.
    pub async fn enqueue(&self, job: &Job) -> Result<(), QueueError> {
        let mut job = job.clone();
        if job.payload.is_null() {
            job.payload = serde_json::json!({});
        }
        if let Some(obj) = job.payload.as_object_mut() {
            obj.insert("enqueued_ms".into(), crate::queue::now_ms().into());
        }
        self.queue.enqueue(&job).await?;
        metrics()
            .jobs_enqueued
            .with_label_values(&[job.kind.name()])
            .inc();
        Ok(())
    }

    /// Queues the transcode of `asset`'s current source.
    pub async fn enqueue_transcode(&self, asset: &Asset) -> Result<(), QueueError> {
        let mut job = Job::new(JobKind::Transcode, Some(asset.id.clone()));
        job.source_version = asset.source.as_ref().map(|s| s.version.clone());
        self.enqueue(&job).await
    }

    /// Queues the transcode of every asset whose pipeline was under way (its job may have
    /// been lost with Redis or with the embedded queue; a duplicate job is harmless: jobs are
    /// idempotent per asset and source version). Returns (assets, requeued).
    pub async fn reindex(&self) -> Result<(i64, usize), AppError> {
        let unfinished = assets::with_status(
            &self.db,
            &[
                AssetStatus::Uploaded,
                AssetStatus::Validating,
                AssetStatus::Transcoding,
                AssetStatus::Analyzing,
            ],
        )
        .await?;
        for asset in &unfinished {
            self.enqueue_transcode(asset).await?;
        }
        Ok((assets::count(&self.db).await?, unfinished.len()))
    }

    /// Jobs waiting and running by kind, and how many are dead.
    pub async fn depths(
        &self,
    ) -> Result<(std::collections::BTreeMap<String, crate::queue::Depth>, u64), AppError> {
        let mut depth = std::collections::BTreeMap::new();
        for kind in JobKind::ALL {
            depth.insert(kind.name().to_string(), self.queue.depth(kind).await?);
        }
        Ok((depth, self.queue.dead_count().await?))
    }

    /// The oldest `limit` dead letters.
    pub async fn dead_letters(
        &self,
        limit: usize,
    ) -> Result<Vec<crate::queue::DeadLetter>, AppError> {
        Ok(self.queue.dead_letters(limit).await?)
    }

    /// Queues dead job `id` again with fresh attempts; a transcode of an `errored` asset
    /// takes the asset out of `errored` (the one way out: the job then starts from
    /// `uploaded`). `None`: no such dead job.
    pub async fn revive(
        &self,
        id: &crate::domain::ids::JobId,
        assets: &crate::services::assets::Assets,
    ) -> Result<Option<Job>, AppError> {
        let Some(job) = self.queue.revive(id).await? else {
            return Ok(None);
        };
        if let (JobKind::Transcode, Some(asset)) = (job.kind, &job.asset_id) {
            if let Ok(a) = assets.asset(asset).await {
                if a.status == AssetStatus::Errored {
                    let retried = crate::domain::asset::Change::Retried {
                        job_id: job.id.to_string(),
                    };
                    if let Err(e) = assets.change(asset, retried).await {
                        tracing::warn!(%asset, error = %e, "the asset cannot be retried");
                    }
                }
            }
        }
        Ok(Some(job))
    }
}
