//! The control plane's shared state and the operations every entry point (API handlers,
//! workers, the sweeper, `reindex`) goes through: asset changes committed with their events
//! and effects (the outbox), the projections the relay applies (manifest, playback records)
//! and fleet purges, uploads ending and taking their source, deletion, the import of an
//! earlier version's store, API key checks.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use object_store::ObjectStoreExt;
use redis::aio::ConnectionManager;
use sunomi_origin::layout;
use sunomi_origin::purge::{self, PurgeScope};
use sunomi_origin::Store;
use sunomi_packager::manifest::Manifest;
use sunomi_packager::playback::PlaybackRecord;
use tokio::sync::Semaphore;

use crate::apikeys::KeyRecord;
use crate::config::Config;
use crate::db::{assets, imports, keys, outbox, uploads, Db, DbError};
use crate::domain::asset::{
    Asset, AssetErrorInfo, AssetStatus, CaptionSource, Change, Event, PlaybackIdInfo,
    PlaybackPolicy, Review, SourceInfo, TransitionError,
};
use crate::domain::effects::{self, Effect, Endpoint};
use crate::domain::ids::{AssetId, PlaybackId, UploadId};
use crate::domain::upload::{Upload, UploadStatus};
use crate::domain::webhooks::Signer;
use crate::events::{EventBus, MemoryBus, RedisBus};
use crate::jobs::{Job, JobKind};
use crate::keycheck::{Check, KeyChecker};
use crate::metrics::metrics;
use crate::queue::memory::MemoryQueue;
use crate::queue::redis::RedisQueue;
use crate::queue::{Queue, QueueError};
use crate::records::{RecordError, Records, UpdateError};
use crate::relay::Relay;

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
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The change is committed but not yet applied everywhere (the edge fleet, webhooks): it
    /// will be, and the request may be repeated to learn when.
    #[error("the change is recorded but not yet applied everywhere: {0}")]
    Propagating(String),
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

/// Unix milliseconds `ms` as RFC 3339 (seconds).
pub fn rfc3339_of_ms(ms: i64) -> String {
    let at = SystemTime::UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_seconds(at).to_string()
}

/// Unix milliseconds now.
pub fn now_ms() -> i64 {
    i64::try_from(crate::queue::now_ms()).unwrap_or(i64::MAX)
}

/// The revision a purge announces for an id that is gone for good (a deleted video, a
/// revoked playback id: ids are never reused).
const GONE: u64 = u64::MAX;

/// How long an API mutation waits for its effects (projection, purge) before it answers
/// that the change is recorded but still propagating.
const SETTLE_WITHIN: Duration = Duration::from_secs(10);

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
    /// The state of record (everything that is not media).
    pub db: Db,
    /// Assets as the API reads them, in memory while the database announces writes.
    pub cache: Arc<crate::db::cache::AssetCache>,
    /// JSON records and media in object storage.
    pub records: Records,
    /// This process's outbox relay.
    pub relay: Relay,
    /// Jobs.
    pub queue: Arc<dyn Queue>,
    /// Event fan-out.
    pub bus: Arc<dyn EventBus>,
    /// Redis for purges and indexes (none embedded).
    redis: Option<ConnectionManager>,
    /// Webhook endpoints of the config file by id, with their signers.
    endpoints: Vec<(String, crate::config::WebhookEndpoint, Signer)>,
    /// Where requests for API callers may go.
    pub outbound: crate::outbound::Policy,
    /// Upload PATCHes in flight (each holds one permit).
    pub patches: Semaphore,
    /// Uploads with a PATCH in flight in this process (one at a time per upload).
    pub patching: std::sync::Mutex<std::collections::HashSet<UploadId>>,
    /// API key checks (cache, per-address miss budgets).
    pub keys: KeyChecker,
    /// HTTP client for webhooks to the config file's endpoints (and the edges' admin).
    pub http: reqwest::Client,
    /// HTTP client for webhooks to endpoints made through the API: it resolves names only to
    /// addresses [`App::outbound`] allows.
    pub guarded_http: reqwest::Client,
}

/// A stored endpoint whose secret does not read as one.
fn corrupt_endpoint(id: &str, why: &str) -> AppError {
    AppError::Db(DbError::Corrupt(format!("webhook endpoint {id}: {why}")))
}

/// Where a webhook message goes and how it is signed, looked up when it is sent.
pub struct WebhookTarget {
    /// Its URL.
    pub url: String,
    /// Every secret that signs it (two while a rotated secret still signs).
    pub signers: Vec<Signer>,
    /// Made through the API: sent only to addresses the outbound policy allows.
    pub guarded: bool,
}

impl App {
    /// Opens the database (migrating it), storage, the queue and the bus the configuration
    /// names.
    pub async fn open(config: Config) -> Result<Arc<App>, String> {
        let db = Db::open(&config.database)
            .await
            .map_err(|e| format!("{e} ({})", config.database))?;
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
        let endpoints = config
            .webhooks
            .iter()
            .map(|w| Ok((w.id(), w.clone(), Signer::from_secret(&w.secret)?)))
            .collect::<Result<Vec<_>, String>>()?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        let outbound = crate::outbound::Policy::new(&config.outbound.allow_networks)?;
        let guarded_http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(outbound.resolver())
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Arc::new(App {
            patches: Semaphore::new(config.uploads.max_concurrent_patches),
            patching: Default::default(),
            config,
            db,
            cache: Arc::default(),
            records: Records::new(store),
            relay: Relay::default(),
            queue,
            bus,
            redis,
            endpoints,
            outbound,
            keys: KeyChecker::default(),
            http,
            guarded_http,
        }))
    }

    /// The store.
    pub fn store(&self) -> &Store {
        self.records.store()
    }

    /// An asset to show a reader: from memory while the database announces writes
    /// ([`crate::db::cache`]), so possibly a few milliseconds behind a write another process
    /// just made. Never for deciding a change: [`App::asset`] reads the row.
    pub async fn asset_to_show(&self, id: &AssetId) -> Result<Asset, AppError> {
        self.cache
            .get(&self.db, id)
            .await?
            .ok_or(AppError::NotFound)
    }

    /// Starts listening to the database's announcements of asset writes, so
    /// [`App::asset_to_show`] can answer from memory (PostgreSQL only: SQLite announces
    /// nothing, and reads there stay on the database).
    pub fn cache_assets(&self) {
        if self.db.backend() == crate::db::Backend::Postgres {
            tokio::spawn(self.cache.clone().listen(self.config.database.clone()));
        }
    }

    /// Reads an asset.
    pub async fn asset(&self, id: &AssetId) -> Result<Asset, AppError> {
        Ok(assets::get(&self.db, id)
            .await?
            .ok_or(AppError::NotFound)?
            .asset)
    }

    /// The webhook endpoints messages are addressed to: the config file's, then those made
    /// through the API.
    async fn endpoints(&self) -> Result<Vec<Endpoint>, AppError> {
        let mut all: Vec<Endpoint> = self
            .endpoints
            .iter()
            .map(|(id, _, _)| Endpoint { id: id.clone() })
            .collect();
        for id in crate::db::webhooks::endpoint_ids(&self.db).await? {
            if !all.iter().any(|e| e.id == id) {
                all.push(Endpoint { id });
            }
        }
        Ok(all)
    }

    /// The webhook endpoints of the config file: id, URL.
    pub fn configured_endpoints(&self) -> impl Iterator<Item = (&str, &str)> {
        self.endpoints
            .iter()
            .map(|(id, e, _)| (id.as_str(), e.url.as_str()))
    }

    /// Stores a new asset (and the upload that feeds it) with its events and what they imply
    /// (its playback record, the announcements), in one transaction; the relay applies those
    /// after.
    pub async fn create_asset(
        &self,
        asset: &Asset,
        upload: Option<&Upload>,
    ) -> Result<(), AppError> {
        let events: Vec<Event> = asset.events_after(0).cloned().collect();
        let effects = effects::of_change(None, Some(asset), &events, &self.endpoints().await?);
        let mut tx = self.db.pool().begin().await.map_err(DbError::from)?;
        if !assets::insert(&mut tx, asset).await? {
            return Err(AppError::Conflict(format!("asset {} exists", asset.id)));
        }
        if let Some(u) = upload {
            uploads::insert(&mut tx, u).await?;
        }
        assets::insert_events(&mut tx, &events).await?;
        let last = self.push_effects(&mut tx, &asset.id, &effects).await?;
        tx.commit().await.map_err(DbError::from)?;
        if last.is_some() {
            // Not waited for: nothing plays before the asset is ready.
            self.relay.nudge();
        }
        Ok(())
    }

    async fn push_effects(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        asset: &AssetId,
        effects: &[Effect],
    ) -> Result<Option<i64>, AppError> {
        let now = now_ms();
        let mut last = None;
        for e in effects {
            last = Some(outbox::push(tx, Some(asset), e, now).await?);
        }
        Ok(last)
    }

    /// Waits until outbox row `row` is applied, as [`App::settle`] does for an asset's rows.
    pub async fn settle_row(&self, row: i64) -> Result<(), AppError> {
        let deadline = tokio::time::Instant::now() + SETTLE_WITHIN;
        while outbox::is_pending(&self.db, row).await? {
            if tokio::time::Instant::now() >= deadline {
                return Err(AppError::Propagating(
                    "storage has not taken it yet (unavailable?)".into(),
                ));
            }
            self.relay.nudge();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }

    /// Waits until the outbox rows of asset `id` up to `up_to` are applied (the edge fleet
    /// serves the new state); [`AppError::Propagating`] when that takes longer than
    /// [`SETTLE_WITHIN`] (they stay queued and are applied when they can be).
    pub async fn settle(&self, id: &AssetId, up_to: i64) -> Result<(), AppError> {
        let deadline = tokio::time::Instant::now() + SETTLE_WITHIN;
        loop {
            if outbox::pending(&self.db, id, up_to).await? == 0 {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(AppError::Propagating(
                    "the edge fleet has not confirmed it yet (storage or Redis unavailable?)"
                        .into(),
                ));
            }
            self.relay.nudge();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A person's moderation decision: recorded on the asset with the audit trail, in the
    /// same transaction as what it implies (the manifest's availability — `blocked`: every
    /// edge answers 451, `published`: served again — the fleet purge, the events). Answers
    /// once every edge serves the decision ([`App::settle`]).
    pub async fn review(&self, id: &AssetId, review: Review) -> Result<Asset, AppError> {
        self.change_settled(id, Change::Reviewed(review)).await
    }

    /// Stores captions (already checked WebVTT) as `videos/{id}/subs/{lang}.vtt` and records
    /// them on the asset; the manifest's list of generated languages (playlists name those
    /// "{Language} (auto-generated)") is projected from the asset, and the video purged.
    ///
    /// Uploaded captions always win: their record is committed before their file is
    /// written, and generated ones are written only where no file is (or where an earlier
    /// attempt of speech-to-text left its own), so captions a person uploads while the video
    /// is analysed are never overwritten or relabelled.
    pub async fn put_captions(
        &self,
        id: &AssetId,
        lang: &str,
        vtt: bytes::Bytes,
        source: CaptionSource,
    ) -> Result<Asset, AppError> {
        let key = layout::video_key(id.as_str(), &layout::subtitle_path(lang));
        let path = self.store().path(&key);
        let store_err = |e: object_store::Error| AppError::Store(e.to_string());
        let captioned = Change::Captioned {
            language: lang.to_string(),
            source,
        };
        let uploaded_here = |a: &Asset| {
            a.captions
                .iter()
                .any(|c| c.language == lang && c.source == CaptionSource::Uploaded)
        };
        if source == CaptionSource::Uploaded {
            let asset = self.change_settled(id, captioned).await?;
            self.store()
                .object_store()
                .put(&path, vtt.into())
                .await
                .map_err(store_err)?;
            self.purge(id).await;
            return Ok(asset);
        }
        if uploaded_here(&self.asset(id).await?) {
            // Kept: the change records the stage as done without touching the captions.
            return self.change(id, captioned).await;
        }
        let create = object_store::PutOptions {
            mode: object_store::PutMode::Create,
            ..Default::default()
        };
        match self
            .store()
            .object_store()
            .put_opts(&path, vtt.clone().into(), create)
            .await
        {
            Ok(_) => {}
            Err(object_store::Error::AlreadyExists { .. })
            | Err(object_store::Error::Precondition { .. }) => {
                if uploaded_here(&self.asset(id).await?) {
                    return self.change(id, captioned).await;
                }
                // An earlier attempt of this stage left its file: replace it.
                self.store()
                    .object_store()
                    .put(&path, vtt.into())
                    .await
                    .map_err(store_err)?;
            }
            Err(e) => return Err(store_err(e)),
        }
        let asset = self.change(id, captioned).await?;
        self.purge(id).await;
        Ok(asset)
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
        // The record follows (and the manifest's generated list with it, through the outbox).
        self.change_settled(id, Change::CaptionsRemoved(lang.to_string()))
            .await?;
        self.purge(id).await;
        Ok(())
    }

    /// Adds a playback id to asset `id` (its record is written before this answers).
    pub async fn add_playback_id(
        &self,
        id: &AssetId,
        policy: PlaybackPolicy,
    ) -> Result<PlaybackIdInfo, AppError> {
        let p = PlaybackIdInfo {
            id: PlaybackId::generate(),
            policy,
        };
        self.change_settled(id, Change::PlaybackAdded(p.clone()))
            .await?;
        Ok(p)
    }

    /// Revokes playback id `pid` of asset `id`: its record goes and every edge forgets it
    /// (a fleet purge of the id) before this answers; the media stay.
    pub async fn remove_playback_id(&self, id: &AssetId, pid: &PlaybackId) -> Result<(), AppError> {
        let asset = self.asset(id).await?;
        if !asset.playback_ids.iter().any(|p| &p.id == pid) {
            return Err(AppError::NotFound);
        }
        self.change_settled(id, Change::PlaybackRemoved(pid.clone()))
            .await?;
        Ok(())
    }

    /// Applies `change` to asset `id` and commits it with its events and their effects in
    /// one transaction (retried when another writer got there first). A change already
    /// reflected writes nothing. Returns the asset and the last outbox row it wrote.
    async fn commit_change(
        &self,
        id: &AssetId,
        change: &Change,
    ) -> Result<(Asset, Option<i64>), AppError> {
        loop {
            let stored = assets::get(&self.db, id).await?.ok_or(AppError::NotFound)?;
            let now = now_rfc3339();
            let Some(next) = stored.asset.apply(change.clone(), &now)? else {
                return Ok((stored.asset, None));
            };
            match self.commit_next(&stored, &next, None).await? {
                Some(last) => return Ok((next, last)),
                None => continue,
            }
        }
    }

    /// Writes `next` over `stored` with its events and effects (and `upload` over the version
    /// it names) in one transaction. `Ok(None)`: someone wrote the asset or the upload since
    /// they were read (nothing written; read again). `Ok(Some(last outbox row))` otherwise.
    async fn commit_next(
        &self,
        stored: &assets::Stored,
        next: &Asset,
        upload: Option<(&Upload, i64)>,
    ) -> Result<Option<Option<i64>>, AppError> {
        let id = &stored.asset.id;
        let events: Vec<Event> = next.events_after(stored.asset.event_seq).cloned().collect();
        let effects = effects::of_change(
            Some(&stored.asset),
            Some(next),
            &events,
            &self.endpoints().await?,
        );
        let mut tx = self.db.pool().begin().await.map_err(DbError::from)?;
        if !assets::update(&mut tx, next, stored.version).await? {
            // Someone else wrote it since it was read: apply the change to theirs.
            return Ok(None);
        }
        if let Some((u, version)) = upload {
            if !uploads::replace(&mut tx, u, version).await? {
                return Ok(None);
            }
        }
        assets::insert_events(&mut tx, &events).await?;
        let last = self.push_effects(&mut tx, id, &effects).await?;
        crate::failpoint::hit("change.before_commit");
        tx.commit().await.map_err(DbError::from)?;
        // This process reads its own writes at once; others drop theirs on the notification.
        self.cache.invalidate(id).await;
        crate::failpoint::hit("change.after_commit");
        if last.is_some() {
            self.relay.nudge();
        }
        Ok(Some(last))
    }

    /// A complete upload's source is stored: in one transaction the upload ends
    /// `asset_created` (its token cleared) and its asset takes the source (`uploaded`, which
    /// queues the transcode through the outbox). `false` when the upload no longer waits
    /// (cancelled or finished meanwhile) or its asset is gone: nothing is written.
    pub async fn take_source(
        &self,
        upload: &UploadId,
        source: SourceInfo,
    ) -> Result<bool, AppError> {
        loop {
            let Some((current, version)) = uploads::get(&self.db, upload).await? else {
                return Ok(false);
            };
            if current.status != UploadStatus::Waiting {
                return Ok(false);
            }
            let Some(stored) = assets::get(&self.db, &current.asset_id).await? else {
                return Ok(false);
            };
            let now = now_rfc3339();
            let mut next = stored.asset.clone();
            for change in [
                Change::Uploaded(source.clone()),
                Change::Note {
                    kind: "video.upload.asset_created".into(),
                    data: serde_json::json!({ "upload_id": upload }),
                },
            ] {
                if let Some(n) = next.apply(change, &now)? {
                    next = n;
                }
            }
            let mut done = current.clone();
            done.status = UploadStatus::AssetCreated;
            done.token_hash = None;
            done.token_expires_at = None;
            if self
                .commit_next(&stored, &next, Some((&done, version)))
                .await?
                .is_some()
            {
                return Ok(true);
            }
        }
    }

    /// Ends upload `upload` unless it already ended: in one transaction it becomes `to`
    /// (its token cleared) and its asset, if any, records `note` and ends `errored` with
    /// `error`. Returns the upload as it is after, and whether this call ended it.
    pub async fn end_upload(
        &self,
        upload: &UploadId,
        to: UploadStatus,
        note: Option<&str>,
        error: AssetErrorInfo,
    ) -> Result<(Upload, bool), AppError> {
        loop {
            let (current, version) = uploads::get(&self.db, upload)
                .await?
                .ok_or(AppError::NotFound)?;
            if current.status != UploadStatus::Waiting {
                return Ok((current, false));
            }
            let mut ended = current.clone();
            ended.status = to;
            ended.token_hash = None;
            ended.token_expires_at = None;
            let Some(stored) = assets::get(&self.db, &current.asset_id).await? else {
                // The asset is gone: the upload alone.
                let mut tx = self.db.pool().begin().await.map_err(DbError::from)?;
                if uploads::replace(&mut tx, &ended, version).await? {
                    tx.commit().await.map_err(DbError::from)?;
                    return Ok((ended, true));
                }
                continue;
            };
            let now = now_rfc3339();
            let mut next = stored.asset.clone();
            let changes = note
                .map(|kind| Change::Note {
                    kind: kind.into(),
                    data: serde_json::json!({ "upload_id": upload }),
                })
                .into_iter()
                .chain([Change::Errored(error.clone())]);
            for change in changes {
                match next.apply(change, &now) {
                    Ok(Some(n)) => next = n,
                    Ok(None) => {}
                    // An asset past its upload keeps its state; the upload still ends.
                    Err(_) => {}
                }
            }
            if self
                .commit_next(&stored, &next, Some((&ended, version)))
                .await?
                .is_some()
            {
                return Ok((ended, true));
            }
        }
    }

    /// Applies `change` to asset `id` (see [`App::commit_change`]); its effects follow
    /// through the relay.
    pub async fn change(&self, id: &AssetId, change: Change) -> Result<Asset, AppError> {
        Ok(self.commit_change(id, &change).await?.0)
    }

    /// Applies `change` to asset `id` and waits until its effects are applied (the API's
    /// mutations: a takedown is acknowledged only once no edge serves the video).
    pub async fn change_settled(&self, id: &AssetId, change: Change) -> Result<Asset, AppError> {
        let (asset, last) = self.commit_change(id, &change).await?;
        // A change already reflected (a repeated request) waits for whatever is still
        // propagating of the asset: a repeated takedown answers once it holds.
        self.settle(id, last.unwrap_or(i64::MAX)).await?;
        Ok(asset)
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

    /// Where webhook endpoint `id` is now and how its messages are signed: the config
    /// file's endpoint of that id, else the one made through the API; `None` when neither
    /// exists (any more).
    pub async fn webhook_target(&self, id: &str) -> Result<Option<WebhookTarget>, AppError> {
        if let Some((_, e, signer)) = self.endpoints.iter().find(|(i, _, _)| i == id) {
            return Ok(Some(WebhookTarget {
                url: e.url.clone(),
                signers: vec![signer.clone()],
                guarded: false,
            }));
        }
        let Some(e) = crate::db::webhooks::endpoint(&self.db, id).await? else {
            return Ok(None);
        };
        let mut signers =
            vec![Signer::from_secret(&e.secret).map_err(|m| corrupt_endpoint(id, &m))?];
        if let Some(previous) = e.previous_secret.filter(|_| e.previous_until_ms > now_ms()) {
            signers.push(Signer::from_secret(&previous).map_err(|m| corrupt_endpoint(id, &m))?);
        }
        Ok(Some(WebhookTarget {
            url: e.url,
            signers,
            guarded: true,
        }))
    }

    /// Makes what the edge reads of asset `id` match the database (an outbox effect): the
    /// manifest's availability and its list of generated captions become the asset's, unless
    /// the manifest holds a projection
    /// of a newer version; a deleted asset loses its manifest, then its media. Then purges the
    /// video fleet-wide.
    pub async fn project(&self, id: &AssetId) -> Result<(), String> {
        let stored = assets::get(&self.db, id).await.map_err(|e| e.to_string())?;
        match stored {
            Some(stored) => {
                let status = stored.asset.availability();
                let generated = stored.asset.generated_captions();
                let revision = u64::try_from(stored.version).unwrap_or(0);
                self.update_manifest(id, |m| {
                    let same = m.status == status && m.auto_captions == generated;
                    if m.revision > revision || (same && m.revision == revision) {
                        return false;
                    }
                    m.status = status;
                    m.auto_captions = generated.clone();
                    m.revision = revision;
                    true
                })
                .await
                .map_err(|e| e.to_string())?;
                crate::failpoint::hit("project.before_purge");
                self.purge_id(id.as_str(), Some(revision)).await
            }
            None => {
                match self
                    .records
                    .delete(&layout::video_key(id.as_str(), layout::MANIFEST))
                    .await
                {
                    Ok(()) | Err(RecordError::NotFound) => {}
                    Err(e) => return Err(e.to_string()),
                }
                self.purge_id(id.as_str(), Some(GONE)).await?;
                self.delete_media(id).await.map_err(|e| e.to_string())
            }
        }
    }

    /// Asset `asset` as stored, if it exists and still lists playback id `pid` (what the
    /// playback-record projections decide on).
    async fn listing(
        &self,
        asset: &AssetId,
        pid: &PlaybackId,
    ) -> Result<Option<assets::Stored>, String> {
        Ok(assets::get(&self.db, asset)
            .await
            .map_err(|e| e.to_string())?
            .filter(|s| s.asset.playback_ids.iter().any(|p| &p.id == pid)))
    }

    /// Writes playback id `pid`'s record (`playback/{id}.json`, which edges resolve) if
    /// asset `asset` still lists it, then purges the id (an edge may hold "unknown").
    pub async fn project_playback(
        &self,
        pid: &PlaybackId,
        asset: &AssetId,
        policy: PlaybackPolicy,
    ) -> Result<(), String> {
        let Some(stored) = self.listing(asset, pid).await? else {
            return Ok(());
        };
        let revision = u64::try_from(stored.version).unwrap_or(0);
        let record = PlaybackRecord {
            id: pid.to_string(),
            video_id: asset.to_string(),
            policy: policy.into(),
            revision,
        };
        let body = serde_json::to_vec(&record).map_err(|e| e.to_string())?;
        let key = layout::playback_record(pid.as_str());
        self.store()
            .object_store()
            .put(&self.store().path(&key), body.into())
            .await
            .map_err(|e| format!("writing {key}: {e}"))?;
        self.purge_id(pid.as_str(), Some(revision)).await
    }

    /// Removes playback id `pid`'s record unless asset `asset` lists it again, and purges the
    /// id from every edge.
    pub async fn revoke_playback(&self, pid: &PlaybackId, asset: &AssetId) -> Result<(), String> {
        if self.listing(asset, pid).await?.is_some() {
            return Ok(());
        }
        match self
            .records
            .delete(&layout::playback_record(pid.as_str()))
            .await
        {
            Ok(()) | Err(RecordError::NotFound) => {}
            Err(e) => return Err(e.to_string()),
        }
        self.purge_id(pid.as_str(), Some(GONE)).await
    }

    /// Purges video `id` from every edge, logging a failure (for changes outside the
    /// outbox: captions).
    pub async fn purge(&self, id: &AssetId) {
        if let Err(e) = self.purge_id(id.as_str(), None).await {
            tracing::warn!(%id, error = %e, "fleet purge failed");
        }
    }

    /// Purges everything edges hold under id `id` (a video or a playback id): through the
    /// edges' purge channel on Redis, or, without Redis, by calling each configured edge
    /// admin listener (`edge_admin_urls`; an edge that does not answer at all is not running
    /// and holds nothing). `revision` is the record version the purge announces: edges then
    /// keep no copy projected from an older one (`u64::MAX`: gone for good). `Err` when the
    /// purge could not be announced.
    pub async fn purge_id(&self, id: &str, revision: Option<u64>) -> Result<(), String> {
        let Some(conn) = &self.redis else {
            for base in &self.config.edge_admin_urls {
                let mut url = format!("{}/purge?id={id}", base.trim_end_matches('/'));
                if let Some(r) = revision {
                    url.push_str(&format!("&revision={r}"));
                }
                let mut req = self.http.post(&url);
                if let Some(t) = &self.config.edge_admin_token {
                    req = req.bearer_auth(t);
                }
                match req.send().await {
                    Ok(r) if r.status().is_success() => tracing::info!(%id, edge = %base, "purged"),
                    Ok(r) => {
                        return Err(format!("edge {base} refused the purge: {}", r.status()));
                    }
                    Err(e) if e.is_connect() => {
                        tracing::warn!(%id, edge = %base, error = %e, "edge not running; nothing to purge")
                    }
                    Err(e) => return Err(format!("purging edge {base}: {e}")),
                }
            }
            return Ok(());
        };
        let mut conn = conn.clone();
        let scope = PurgeScope::Video {
            id: id.to_string(),
            revision,
        };
        match tokio::time::timeout(
            Duration::from_secs(5),
            purge::publish(&mut conn, &scope, "control"),
        )
        .await
        {
            Ok(Ok(epoch)) => {
                tracing::info!(%id, epoch, "purged from the fleet");
                Ok(())
            }
            Ok(Err(e)) => Err(format!("fleet purge: {e}")),
            Err(_) => Err("fleet purge timed out".into()),
        }
    }

    /// Deletes asset `id`: its row goes in one transaction with its events and what that
    /// implies (the manifest removed and the video purged, then its media; its playback ids
    /// revoked; `video.asset.deleted` announced). Answers once no edge serves it.
    pub async fn delete_asset(&self, id: &AssetId) -> Result<(), AppError> {
        loop {
            let stored = assets::get(&self.db, id).await?.ok_or(AppError::NotFound)?;
            let deleted = stored
                .asset
                .apply(
                    Change::Note {
                        kind: "video.asset.deleted".into(),
                        data: serde_json::json!({}),
                    },
                    &now_rfc3339(),
                )?
                .unwrap_or(stored.asset.clone());
            let events: Vec<Event> = deleted
                .events_after(stored.asset.event_seq)
                .cloned()
                .collect();
            let effects =
                effects::of_change(Some(&stored.asset), None, &events, &self.endpoints().await?);
            // Its uploads in progress end with it (their tokens stop working at once); the
            // sweeper removes their parts.
            let waiting = uploads::waiting_for(&self.db, id).await?;
            let mut tx = self.db.pool().begin().await.map_err(DbError::from)?;
            if !assets::delete(&mut tx, id, stored.version).await? {
                continue;
            }
            let mut raced = false;
            for (u, version) in &waiting {
                let mut ended = u.clone();
                ended.status = UploadStatus::Cancelled;
                ended.token_hash = None;
                ended.token_expires_at = None;
                raced |= !uploads::replace(&mut tx, &ended, *version).await?;
            }
            if raced {
                continue;
            }
            assets::delete_events(&mut tx, id).await?;
            let mut effects = effects;
            effects.extend(waiting.iter().map(|(u, _)| Effect::UploadDiscard {
                upload_id: u.id.clone(),
            }));
            let last = self.push_effects(&mut tx, id, &effects).await?;
            crate::failpoint::hit("change.before_commit");
            tx.commit().await.map_err(DbError::from)?;
            self.cache.invalidate(id).await;
            crate::failpoint::hit("change.after_commit");
            self.relay.nudge();
            if let Some(last) = last {
                self.settle(id, last).await?;
            }
            return Ok(());
        }
    }

    /// Removes what an ended upload stored: its parts, a local data file, an S3 multipart
    /// upload. An upload still waiting for bytes is left alone.
    pub async fn discard_upload_bytes(&self, upload: &Upload) -> Result<(), AppError> {
        if upload.status == UploadStatus::Waiting {
            return Ok(());
        }
        self.records
            .delete_dir(&layout::upload_parts_dir(upload.id.as_str()))
            .await?;
        self.records
            .delete(&layout::upload_data(upload.id.as_str()))
            .await?;
        if let Some(d) = &upload.direct {
            crate::direct::abort(self, &upload.asset_id, d).await;
        }
        Ok(())
    }

    /// Removes every object under `videos/{id}/` (after its manifest is gone and the fleet
    /// purged).
    async fn delete_media(&self, id: &AssetId) -> Result<(), RecordError> {
        for key in self.records.list(&layout::video_dir(id.as_str())).await? {
            self.records.delete(&key).await?;
        }
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
        Ok(())
    }

    /// Checks an API key presented from `client` (see [`KeyChecker`]: unknown ids are
    /// charged to the caller's address, never to everyone).
    pub async fn authenticate(&self, key: &str, client: Option<IpAddr>) -> Check {
        self.keys
            .check(key, client, |id| async move {
                keys::get(&self.db, &id).await.map_err(|e| e.to_string())
            })
            .await
    }

    /// Every asset id with a record from an earlier version in storage
    /// (`videos/*/asset.json`).
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

    /// Imports the records earlier versions kept in storage — assets
    /// (`videos/{id}/asset.json`, with their events), uploads in progress
    /// (`uploads/{id}/upload.json`) and API keys (`keys/api/{id}.json`) —
    /// into the database. Idempotent: what the database has is left as it is. Returns
    /// (records found, records imported). The files stay where they are (nothing reads them
    /// any more; they are a way back to the earlier version).
    pub async fn import_store(&self) -> Result<(usize, usize), AppError> {
        let ids = self.stored_asset_ids().await?;
        let mut found = ids.len();
        let mut imported = 0;
        for id in &ids {
            let key = layout::video_key(id.as_str(), layout::ASSET);
            let asset = match self.records.get::<Asset>(&key).await {
                Ok(a) => a.value,
                Err(e) => {
                    tracing::warn!(%id, error = %e, "unreadable asset record not imported");
                    continue;
                }
            };
            // Versions continue after what the manifest's projection already carries (a store
            // moved from another database), so the next projection is not taken for an older
            // one.
            let projected = match self
                .records
                .find::<Manifest>(&layout::video_key(id.as_str(), layout::MANIFEST))
                .await
            {
                Ok(m) => m.map_or(0, |m| m.value.revision),
                Err(e) => {
                    tracing::warn!(%id, error = %e, "unreadable manifest; importing at version 1");
                    0
                }
            };
            let version = i64::try_from(projected).unwrap_or(i64::MAX - 1).max(0) + 1;
            let mut tx = self.db.pool().begin().await.map_err(DbError::from)?;
            if assets::insert_at(&mut tx, &asset, version).await? {
                assets::insert_events(&mut tx, &asset.events).await?;
                imported += 1;
            }
            tx.commit().await.map_err(DbError::from)?;
        }
        for key in self.records.list(layout::UPLOADS).await? {
            if !key.ends_with("/upload.json") {
                continue;
            }
            found += 1;
            let upload = match self.records.get::<Upload>(&key).await {
                Ok(u) => u.value,
                Err(e) => {
                    tracing::warn!(%key, error = %e, "unreadable upload record not imported");
                    continue;
                }
            };
            if uploads::get(&self.db, &upload.id).await?.is_none() {
                let mut tx = self.db.pool().begin().await.map_err(DbError::from)?;
                uploads::insert(&mut tx, &upload).await?;
                tx.commit().await.map_err(DbError::from)?;
                imported += 1;
            }
        }
        for key in self.records.list(layout::API_KEYS).await? {
            if !key.ends_with(".json") {
                continue;
            }
            found += 1;
            match self.records.get::<KeyRecord>(&key).await {
                Ok(r) => imported += usize::from(keys::insert(&self.db, &r.value).await?),
                Err(e) => tracing::warn!(%key, error = %e, "unreadable key record not imported"),
            }
        }
        imported += crate::keyring::import(self).await?;
        Ok((found, imported))
    }

    /// Imports this store's earlier-version records once (the first start of this version
    /// on a store an earlier one made). Returns how many records were imported.
    pub async fn import_if_new(&self) -> Result<usize, AppError> {
        let store = self.config.store.as_str();
        if imports::store_imported(&self.db, store).await? {
            // Signing keys moved to the database after the rest: a store imported before
            // that still has them to import, once.
            return crate::keyring::import_if_new(self).await;
        }
        let (_, imported) = self.import_store().await?;
        imports::mark_store_imported(&self.db, store, &now_rfc3339()).await?;
        let marker = crate::keyring::import_marker(store);
        imports::mark_store_imported(&self.db, &marker, &now_rfc3339()).await?;
        Ok(imported)
    }

    /// A page of assets, newest first, and whether more follow.
    pub async fn list_assets(
        &self,
        limit: u32,
        offset: u64,
    ) -> Result<(Vec<Asset>, bool), AppError> {
        Ok(assets::page(&self.db, limit, offset).await?)
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

    /// Whether the database, storage (and Redis, when configured) answer.
    pub async fn ready(&self) -> Result<(), String> {
        self.db.ping().await.map_err(|e| e.to_string())?;
        self.records
            .find::<serde_json::Value>("readyz-probe.json")
            .await
            .map_err(|e| format!("storage: {e}"))?;
        self.queue.ping().await.map_err(|e| e.to_string())?;
        Ok(())
    }
}
