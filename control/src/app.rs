//! The control plane's shared state and the operations every entry point (API handlers,
//! workers, the sweeper, `reindex`) goes through: asset changes with their events, the
//! publication contract with the edge, fleet purges, deletion, API key checks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use object_store::ObjectStoreExt;
use redis::aio::ConnectionManager;
use sunomi_origin::layout;
use sunomi_origin::purge::{self, PurgeScope};
use sunomi_origin::Store;
use sunomi_packager::manifest::{Manifest, VideoStatus};
use sunomi_packager::playback::PlaybackRecord;
use tokio::sync::Semaphore;

use crate::apikeys::{self, KeyRecord};
use crate::asset::{
    Asset, AssetStatus, CaptionSource, Change, Event, PlaybackIdInfo, PlaybackPolicy, Review,
    ReviewDecision, TransitionError,
};
use crate::config::Config;
use crate::events::{EventBus, MemoryBus, RedisBus};
use crate::ids::{AssetId, PlaybackId};
use crate::jobs::{Job, JobKind};
use crate::metrics::metrics;
use crate::queue::memory::MemoryQueue;
use crate::queue::redis::RedisQueue;
use crate::queue::{Queue, QueueError};
use crate::records::{RecordError, Records, UpdateError};
use crate::webhooks::{self, Signer};

/// Redis sorted set of asset ids by creation time (an index: `reindex` rebuilds it).
pub const ASSET_INDEX: &str = "sunomi:assets";
/// Set once [`ASSET_INDEX`] holds every asset in storage (by `reindex`). Redis restarted
/// empty loses it with the index, and listings fall back to storage until the next reindex.
pub const ASSET_INDEX_COMPLETE: &str = "sunomi:assets:complete";

/// Why an operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// No such object.
    #[error("not found")]
    NotFound,
    /// The object is in a state that refuses the request (409).
    #[error("{0}")]
    Conflict(String),
    /// The change does not fit the object's state.
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// Storage failed.
    #[error("storage: {0}")]
    Store(String),
    /// The queue failed.
    #[error("queue: {0}")]
    Queue(#[from] QueueError),
}

impl From<RecordError> for AppError {
    fn from(e: RecordError) -> Self {
        match e {
            RecordError::NotFound => AppError::NotFound,
            other => AppError::Store(other.to_string()),
        }
    }
}

impl From<UpdateError<TransitionError>> for AppError {
    fn from(e: UpdateError<TransitionError>) -> Self {
        match e {
            UpdateError::Record(r) => r.into(),
            UpdateError::Rejected(t) => AppError::Transition(t),
        }
    }
}

/// Now as RFC 3339 (seconds).
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

/// Now in Unix seconds.
pub fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The shared state.
pub struct App {
    /// Configuration.
    pub config: Config,
    /// State of record.
    pub records: Records,
    /// Jobs.
    pub queue: Arc<dyn Queue>,
    /// Event fan-out.
    pub bus: Arc<dyn EventBus>,
    /// Redis for purges and indexes (none embedded).
    redis: Option<ConnectionManager>,
    signers: Vec<Signer>,
    /// Upload PATCHes in flight (each holds one permit).
    pub patches: Semaphore,
    key_cache: Mutex<HashMap<String, (Instant, Option<KeyRecord>)>>,
    lookups: RateLimit,
    /// HTTP client for webhooks.
    pub http: reqwest::Client,
}

/// Storage lookups of API key ids not in the cache, per second at most.
const KEY_LOOKUPS_PER_SECOND: u32 = 50;

/// At most `limit` events per one-second window.
pub struct RateLimit {
    limit: u32,
    window: Mutex<Option<(Instant, u32)>>,
}

impl RateLimit {
    /// A limit of `limit` a second.
    pub fn new(limit: u32) -> RateLimit {
        RateLimit {
            limit,
            window: Mutex::new(None),
        }
    }

    /// Whether one more event may happen at `now` (counting it if so).
    pub fn allow(&self, now: Instant) -> bool {
        let mut w = self.window.lock().unwrap_or_else(|p| p.into_inner());
        let (start, count) = match *w {
            Some((start, count)) if now.duration_since(start) < Duration::from_secs(1) => {
                (start, count)
            }
            _ => (now, 0),
        };
        if count >= self.limit {
            return false;
        }
        *w = Some((start, count + 1));
        true
    }
}

/// How long a looked-up API key is trusted before storage is asked again (a revocation
/// takes effect within this).
const KEY_CACHE_TTL: Duration = Duration::from_secs(5);

impl App {
    /// Opens storage, the queue and the bus the configuration names.
    pub fn open(config: Config) -> Result<Arc<App>, String> {
        let store = Store::open(&config.store).map_err(|e| e.to_string())?;
        let (queue, bus, redis): (Arc<dyn Queue>, Arc<dyn EventBus>, _) = match &config.redis {
            Some(url) => {
                let queue = RedisQueue::new(url, config.visibility()).map_err(|e| e.to_string())?;
                let bus = RedisBus::start(url).map_err(|e| e.to_string())?;
                let client = redis::Client::open(url.as_str()).map_err(|e| e.to_string())?;
                let conn = client
                    .get_connection_manager_lazy(
                        redis::aio::ConnectionManagerConfig::new()
                            .set_connection_timeout(Some(Duration::from_secs(5)))
                            .set_response_timeout(Some(Duration::from_secs(5))),
                    )
                    .map_err(|e| e.to_string())?;
                (Arc::new(queue), bus, Some(conn))
            }
            None => (
                Arc::new(MemoryQueue::new(config.visibility())),
                Arc::new(MemoryBus::default()),
                None,
            ),
        };
        let signers = config
            .webhooks
            .iter()
            .map(|w| Signer::from_secret(&w.secret))
            .collect::<Result<Vec<_>, _>>()?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Arc::new(App {
            patches: Semaphore::new(config.uploads.max_concurrent_patches),
            config,
            records: Records::new(store),
            queue,
            bus,
            redis,
            signers,
            key_cache: Mutex::new(HashMap::new()),
            lookups: RateLimit::new(KEY_LOOKUPS_PER_SECOND),
            http,
        }))
    }

    /// The store.
    pub fn store(&self) -> &Store {
        self.records.store()
    }

    /// The asset record's key.
    pub fn asset_key(id: &AssetId) -> String {
        layout::video_key(id.as_str(), layout::ASSET)
    }

    /// Reads an asset.
    pub async fn asset(&self, id: &AssetId) -> Result<Asset, AppError> {
        Ok(self.records.get::<Asset>(&Self::asset_key(id)).await?.value)
    }

    /// Stores a new asset and announces it.
    pub async fn create_asset(&self, asset: &Asset) -> Result<(), AppError> {
        for p in &asset.playback_ids {
            self.write_playback(&asset.id, p).await?;
        }
        self.records
            .create(&Self::asset_key(&asset.id), asset)
            .await?;
        self.index_asset(asset).await;
        self.announce(0, asset).await;
        Ok(())
    }

    /// A person's moderation decision: recorded on the asset (with the audit trail), then the
    /// manifest's availability follows (`blocked` → the edge answers 451 everywhere,
    /// `published` → served again) and the video is purged fleet-wide.
    pub async fn review(&self, id: &AssetId, review: Review) -> Result<Asset, AppError> {
        let decision = review.decision;
        let asset = self.change(id, Change::Reviewed(review)).await?;
        let availability = match decision {
            ReviewDecision::Approve => VideoStatus::Published,
            ReviewDecision::Block => VideoStatus::Blocked,
        };
        self.set_availability(id, availability).await?;
        Ok(asset)
    }

    /// Stores captions (already checked WebVTT) as `videos/{id}/subs/{lang}.vtt`, records
    /// in the manifest whether speech-to-text made them (playlists then name them
    /// "{Language} (auto-generated)"), announces them and purges the video so every edge
    /// lists them.
    pub async fn put_captions(
        &self,
        id: &AssetId,
        lang: &str,
        vtt: bytes::Bytes,
        source: CaptionSource,
    ) -> Result<Asset, AppError> {
        let key = layout::video_key(id.as_str(), &layout::subtitle_path(lang));
        self.store()
            .object_store()
            .put(&self.store().path(&key), vtt.into())
            .await
            .map_err(|e| AppError::Store(e.to_string()))?;
        let generated = source == CaptionSource::Generated;
        self.update_manifest(id, |m| {
            let listed = m.auto_captions.iter().any(|l| l == lang);
            if generated == listed {
                return false;
            }
            m.auto_captions.retain(|l| l != lang);
            if generated {
                m.auto_captions.push(lang.to_string());
            }
            true
        })
        .await?;
        self.purge(id).await;
        self.change(
            id,
            Change::Captioned {
                language: lang.to_string(),
                source,
            },
        )
        .await
    }

    /// Changes video `id`'s manifest with `edit` (which says whether it changed anything)
    /// by compare-and-swap. Returns whether the video has a manifest (one without is left
    /// alone).
    pub async fn update_manifest(
        &self,
        id: &AssetId,
        edit: impl Fn(&mut Manifest) -> bool,
    ) -> Result<bool, AppError> {
        let key = layout::video_key(id.as_str(), layout::MANIFEST);
        loop {
            let current = match self.records.get::<Manifest>(&key).await {
                Ok(c) => c,
                Err(RecordError::NotFound) => return Ok(false),
                Err(e) => return Err(e.into()),
            };
            let mut next = current.value.clone();
            if !edit(&mut next) {
                return Ok(true);
            }
            match self.records.replace(&key, &next, &current.version).await {
                Ok(_) => return Ok(true),
                Err(RecordError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Streams the object at storage key `key` to the local file `to`.
    pub async fn download(&self, key: &str, to: &std::path::Path) -> Result<(), String> {
        use futures::StreamExt;
        use tokio::io::AsyncWriteExt;
        let got = self
            .store()
            .object_store()
            .get(&self.store().path(key))
            .await
            .map_err(|e| format!("reading {key}: {e}"))?;
        let mut stream = got.into_stream();
        let mut file = tokio::fs::File::create(to)
            .await
            .map_err(|e| format!("work file {}: {e}", to.display()))?;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| format!("reading {key}: {e}"))?;
            file.write_all(&chunk)
                .await
                .map_err(|e| format!("work file {}: {e}", to.display()))?;
        }
        file.flush()
            .await
            .map_err(|e| format!("work file {}: {e}", to.display()))
    }

    /// Deletes captions in `lang` and purges the video.
    pub async fn delete_captions(&self, id: &AssetId, lang: &str) -> Result<(), AppError> {
        let key = layout::video_key(id.as_str(), &layout::subtitle_path(lang));
        let path = self.store().path(&key);
        match self.store().object_store().head(&path).await {
            Ok(_) => {}
            Err(object_store::Error::NotFound { .. }) => return Err(AppError::NotFound),
            Err(e) => return Err(AppError::Store(e.to_string())),
        }
        self.records.delete(&key).await?;
        self.update_manifest(id, |m| {
            let before = m.auto_captions.len();
            m.auto_captions.retain(|l| l != lang);
            m.auto_captions.len() != before
        })
        .await?;
        self.purge(id).await;
        self.change(id, Change::CaptionsRemoved(lang.to_string()))
            .await?;
        Ok(())
    }

    /// Writes playback id `p`'s record (`playback/{id}.json`), which the edge resolves.
    async fn write_playback(&self, asset: &AssetId, p: &PlaybackIdInfo) -> Result<(), AppError> {
        let record = PlaybackRecord {
            id: p.id.to_string(),
            video_id: asset.to_string(),
            policy: p.policy.into(),
        };
        self.records
            .create(&layout::playback_record(p.id.as_str()), &record)
            .await?;
        Ok(())
    }

    /// Adds a playback id to asset `id`.
    pub async fn add_playback_id(
        &self,
        id: &AssetId,
        policy: PlaybackPolicy,
    ) -> Result<PlaybackIdInfo, AppError> {
        self.asset(id).await?;
        let p = PlaybackIdInfo {
            id: PlaybackId::generate(),
            policy,
        };
        self.write_playback(id, &p).await?;
        if let Err(e) = self.change(id, Change::PlaybackAdded(p.clone())).await {
            let _ = self
                .records
                .delete(&layout::playback_record(p.id.as_str()))
                .await;
            return Err(e);
        }
        Ok(p)
    }

    /// Revokes playback id `pid` of asset `id`: its record goes and every edge forgets it
    /// (a fleet purge of the id); the media stay.
    pub async fn remove_playback_id(&self, id: &AssetId, pid: &PlaybackId) -> Result<(), AppError> {
        let asset = self.asset(id).await?;
        if !asset.playback_ids.iter().any(|p| &p.id == pid) {
            return Err(AppError::NotFound);
        }
        self.records
            .delete(&layout::playback_record(pid.as_str()))
            .await?;
        self.purge_id(pid.as_str()).await;
        self.change(id, Change::PlaybackRemoved(pid.clone()))
            .await?;
        Ok(())
    }

    /// Applies `change` to asset `id` (compare-and-swap, retried on races) and announces the
    /// events it emitted. A change already reflected writes nothing.
    pub async fn change(&self, id: &AssetId, change: Change) -> Result<Asset, AppError> {
        let now = now_rfc3339();
        let before_seq = Mutex::new(0u64);
        let asset = self
            .records
            .update::<Asset, TransitionError, _>(&Self::asset_key(id), |a| {
                *before_seq.lock().unwrap_or_else(|p| p.into_inner()) = a.event_seq;
                a.apply(change.clone(), &now)
            })
            .await?;
        let before = *before_seq.lock().unwrap_or_else(|p| p.into_inner());
        self.announce(before, &asset).await;
        Ok(asset)
    }

    /// Publishes the asset's events after `before_seq` and queues their webhooks.
    async fn announce(&self, before_seq: u64, asset: &Asset) {
        for event in asset.events_after(before_seq) {
            self.emit(event).await;
        }
    }

    /// Publishes one event and queues a webhook message per endpoint (progress ticks go to
    /// event streams only: a webhook per 10 % would flood receivers for nothing).
    pub async fn emit(&self, event: &Event) {
        self.bus.publish(event).await;
        if event.kind == crate::asset::PROGRESS_EVENT {
            return;
        }
        for (i, endpoint) in self.config.webhooks.iter().enumerate() {
            let mut job = Job::new(JobKind::Webhook, Some(event.asset_id.clone()));
            job.payload = serde_json::json!({
                "endpoint": i,
                "url": endpoint.url,
                "msg_id": webhooks::message_id(event, i),
                "message": webhooks::Message::of(event),
            });
            if let Err(e) = self.enqueue(&job).await {
                tracing::error!(error = %e, event = %event.id, "could not queue a webhook");
            }
        }
    }

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

    /// The signer of webhook endpoint `i`.
    pub fn signer(&self, i: usize) -> Option<&Signer> {
        self.signers.get(i)
    }

    /// Sets the availability in the video's manifest (the edge serves only `published`),
    /// then purges the video fleet-wide.
    pub async fn set_availability(
        &self,
        id: &AssetId,
        status: VideoStatus,
    ) -> Result<(), AppError> {
        let exists = self
            .update_manifest(id, |m| {
                let changed = m.status != status;
                m.status = status;
                changed
            })
            .await?;
        // The manifest must exist: availability is what the gate publishes.
        if !exists {
            return Err(RecordError::NotFound.into());
        }
        self.purge(id).await;
        Ok(())
    }

    /// Purges video `id` from every edge: through the edges' purge channel on Redis, or,
    /// without Redis, by calling each configured edge admin listener (`edge_admin_urls`).
    pub async fn purge(&self, id: &AssetId) {
        self.purge_id(id.as_str()).await;
    }

    /// Purges everything edges hold under id `id` (a video or a playback id).
    pub async fn purge_id(&self, id: &str) {
        let Some(conn) = &self.redis else {
            for base in &self.config.edge_admin_urls {
                let url = format!("{}/purge?id={id}", base.trim_end_matches('/'));
                let mut req = self.http.post(&url);
                if let Some(t) = &self.config.edge_admin_token {
                    req = req.bearer_auth(t);
                }
                match req.send().await {
                    Ok(r) if r.status().is_success() => tracing::info!(%id, edge = %base, "purged"),
                    Ok(r) => {
                        tracing::warn!(%id, edge = %base, status = %r.status(), "edge purge refused")
                    }
                    Err(e) => tracing::warn!(%id, edge = %base, error = %e, "edge purge failed"),
                }
            }
            return;
        };
        let mut conn = conn.clone();
        let scope = PurgeScope::Video { id: id.to_string() };
        match tokio::time::timeout(
            Duration::from_secs(5),
            purge::publish(&mut conn, &scope, "control"),
        )
        .await
        {
            Ok(Ok(epoch)) => tracing::info!(%id, epoch, "purged from the fleet"),
            Ok(Err(e)) => tracing::warn!(%id, error = %e, "fleet purge failed"),
            Err(_) => tracing::warn!(%id, "fleet purge timed out"),
        }
    }

    /// Deletes asset `id`: the manifest first (edges stop serving), a fleet purge, every
    /// other object under `videos/{id}/`, the record last. Announces `video.asset.deleted`.
    pub async fn delete_asset(&self, id: &AssetId) -> Result<(), AppError> {
        let asset = self.asset(id).await?;
        self.records
            .delete(&layout::video_key(id.as_str(), layout::MANIFEST))
            .await?;
        self.purge(id).await;
        let asset_key = Self::asset_key(id);
        for key in self.records.list(&layout::video_dir(id.as_str())).await? {
            if key != asset_key {
                self.records.delete(&key).await?;
            }
        }
        for p in &asset.playback_ids {
            self.records
                .delete(&layout::playback_record(p.id.as_str()))
                .await?;
            self.purge_id(p.id.as_str()).await;
        }
        let deleted = asset
            .apply(
                Change::Note {
                    kind: "video.asset.deleted".into(),
                    data: serde_json::json!({}),
                },
                &now_rfc3339(),
            )?
            .unwrap_or(asset.clone());
        self.records.delete(&asset_key).await?;
        self.records
            .delete_dir(&layout::video_dir(id.as_str()))
            .await?;
        if let Some(dir) = self.store().local_file(&layout::video_dir(id.as_str())) {
            // A local store keeps the emptied folders; remove them too.
            if let Err(e) = tokio::fs::remove_dir_all(&dir).await {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(%id, error = %e, "could not remove the emptied folder");
                }
            }
        }
        self.unindex_asset(id).await;
        self.announce(asset.event_seq, &deleted).await;
        Ok(())
    }

    /// Checks an API key.
    pub async fn authenticate(&self, key: &str) -> bool {
        let Some(id) = apikeys::key_id(key) else {
            return false;
        };
        let cached = self
            .key_cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .filter(|(at, _)| at.elapsed() < KEY_CACHE_TTL)
            .map(|(_, r)| r.clone());
        let record = match cached {
            Some(r) => r,
            None if !self.lookups.allow(Instant::now()) => {
                // Someone is trying key ids faster than people create keys: answer from
                // memory only until the window passes (storage reads stay bounded).
                tracing::warn!("API key lookups over their rate; refusing unknown ids");
                return false;
            }
            None => {
                let found = match self
                    .records
                    .find::<KeyRecord>(&layout::api_key_record(id))
                    .await
                {
                    Ok(r) => r.map(|v| v.value),
                    Err(e) => {
                        tracing::warn!(error = %e, "API key lookup failed");
                        return false;
                    }
                };
                let mut cache = self.key_cache.lock().unwrap_or_else(|p| p.into_inner());
                if cache.len() > 10_000 {
                    cache.clear();
                }
                cache.insert(id.to_string(), (Instant::now(), found.clone()));
                found
            }
        };
        record.is_some_and(|r| r.revoked_at.is_none() && apikeys::matches(key, &r.hash))
    }

    async fn index_asset(&self, asset: &Asset) {
        let Some(conn) = &self.redis else { return };
        let score = humantime::parse_rfc3339(&asset.created_at)
            .ok()
            .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_millis() as u64);
        let mut cmd = redis::cmd("ZADD");
        cmd.arg(ASSET_INDEX).arg(score).arg(asset.id.as_str());
        let mut c = conn.clone();
        if let Err(e) = cmd.query_async::<()>(&mut c).await {
            tracing::warn!(error = %e, "asset index update failed (reindex rebuilds it)");
        }
    }

    async fn unindex_asset(&self, id: &AssetId) {
        let Some(conn) = &self.redis else { return };
        let mut cmd = redis::cmd("ZREM");
        cmd.arg(ASSET_INDEX).arg(id.as_str());
        let mut c = conn.clone();
        let _ = cmd.query_async::<()>(&mut c).await;
    }

    /// Every asset id in storage (a listing of `videos/*/asset.json`).
    pub async fn stored_asset_ids(&self) -> Result<Vec<AssetId>, AppError> {
        let keys = self.records.list(layout::VIDEOS).await?;
        let suffix = format!("/{}", layout::ASSET);
        Ok(keys
            .iter()
            .filter_map(|k| {
                k.strip_prefix(&format!("{}/", layout::VIDEOS))?
                    .strip_suffix(&suffix)
            })
            .filter_map(|id| AssetId::parse(id).ok())
            .collect())
    }

    /// Asset ids newest first: from the Redis index when there is one (falling back to
    /// storage when Redis fails), else from storage.
    pub async fn asset_ids(&self) -> Result<Vec<AssetId>, AppError> {
        if let Some(conn) = &self.redis {
            let mut c = conn.clone();
            let read = redis::pipe()
                .cmd("EXISTS")
                .arg(ASSET_INDEX_COMPLETE)
                .cmd("ZREVRANGE")
                .arg(ASSET_INDEX)
                .arg(0)
                .arg(-1)
                .query_async::<(bool, Vec<String>)>(&mut c)
                .await;
            match read {
                Ok((true, ids)) => {
                    return Ok(ids.iter().filter_map(|i| AssetId::parse(i).ok()).collect())
                }
                Ok((false, _)) => {
                    tracing::warn!("asset index incomplete (run reindex); listing storage")
                }
                Err(e) => tracing::warn!(error = %e, "asset index unavailable; listing storage"),
            }
        }
        let mut assets = Vec::new();
        for id in self.stored_asset_ids().await? {
            if let Ok(a) = self.asset(&id).await {
                assets.push((a.created_at, id));
            }
        }
        assets.sort_by(|a, b| b.cmp(a));
        Ok(assets.into_iter().map(|(_, id)| id).collect())
    }

    /// Rebuilds the Redis indexes from storage and queues the transcode of every asset whose
    /// pipeline was under way (its job may have been lost with Redis; a duplicate job is
    /// harmless: jobs are idempotent per asset and source version). Returns (assets, requeued).
    pub async fn reindex(&self) -> Result<(usize, usize), AppError> {
        let ids = self.stored_asset_ids().await?;
        if let Some(conn) = &self.redis {
            let mut c = conn.clone();
            let _ = redis::cmd("DEL")
                .arg(ASSET_INDEX)
                .query_async::<()>(&mut c)
                .await;
        }
        let mut requeued = 0;
        for id in &ids {
            let asset = match self.asset(id).await {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(%id, error = %e, "unreadable asset record skipped");
                    continue;
                }
            };
            self.index_asset(&asset).await;
            if matches!(
                asset.status,
                AssetStatus::Uploaded
                    | AssetStatus::Validating
                    | AssetStatus::Transcoding
                    | AssetStatus::Analyzing
            ) {
                self.enqueue_transcode(&asset).await?;
                requeued += 1;
            }
        }
        if let Some(conn) = &self.redis {
            let mut c = conn.clone();
            if let Err(e) = redis::cmd("SET")
                .arg(ASSET_INDEX_COMPLETE)
                .arg(now_rfc3339())
                .query_async::<()>(&mut c)
                .await
            {
                tracing::warn!(error = %e, "could not mark the asset index complete");
            }
        }
        Ok((ids.len(), requeued))
    }

    /// Whether the Redis asset index is marked complete (false without Redis or when Redis
    /// does not answer).
    pub async fn asset_index_complete(&self) -> bool {
        let Some(conn) = &self.redis else {
            return false;
        };
        let mut c = conn.clone();
        redis::cmd("EXISTS")
            .arg(ASSET_INDEX_COMPLETE)
            .query_async::<bool>(&mut c)
            .await
            .unwrap_or(false)
    }

    /// Whether storage (and Redis, when configured) answer.
    pub async fn ready(&self) -> Result<(), String> {
        self.records
            .find::<serde_json::Value>("readyz-probe.json")
            .await
            .map_err(|e| format!("storage: {e}"))?;
        self.queue.ping().await.map_err(|e| e.to_string())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_limit_counts_per_second_window() {
        let t = Instant::now();
        let r = RateLimit::new(3);
        assert!((0..3).all(|_| r.allow(t)));
        assert!(!r.allow(t + Duration::from_millis(999)));
        assert!(r.allow(t + Duration::from_secs(1)));
    }
}
