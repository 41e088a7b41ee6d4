//! Assets, the use cases: read one (from memory on PostgreSQL, [`crate::db::cache`]), create
//! one, change one — the change, its events and everything they imply (the edge projection,
//! its purge, webhooks, jobs) committed in one transaction, the outbox, which the relay
//! applies — and delete one.

use std::sync::Arc;

use crate::app::{now_ms, now_rfc3339, AppError};
use crate::db::{assets, outbox, uploads, Db, DbError};
use crate::domain::asset::{
    Asset, AssetErrorInfo, Change, Event, PlaybackIdInfo, PlaybackPolicy, Review, SourceInfo,
};
use crate::domain::effects::{self, Effect};
use crate::domain::ids::{AssetId, PlaybackId, UploadId};
use crate::domain::upload::{Upload, UploadStatus};
use crate::relay::Relay;
use crate::services::endpoints::Endpoints;

/// The asset use cases and what they need: the database, its read cache, the outbox relay
/// (to wait for a change to be applied) and the webhook endpoints (to address messages).
pub struct Assets {
    /// The state of record.
    pub db: Db,
    /// Assets as the API reads them, in memory while the database announces writes.
    pub cache: Arc<crate::db::cache::AssetCache>,
    /// This process's outbox relay.
    pub relay: Arc<Relay>,
    /// Where webhook messages are addressed.
    pub endpoints: Arc<Endpoints>,
    /// The database's URL (the cache listens on its own connection).
    pub database_url: String,
}

impl Assets {
    /// An asset to show a reader: from memory while the database announces writes
    /// ([`crate::db::cache`]), so possibly a few milliseconds behind a write another process
    /// just made. Never for deciding a change: [`Assets::asset`] reads the row.
    pub async fn asset_to_show(&self, id: &AssetId) -> Result<Asset, AppError> {
        self.cache
            .get(&self.db, id)
            .await?
            .ok_or(AppError::NotFound)
    }

    /// Starts listening to the database's announcements of asset writes, so
    /// [`Assets::asset_to_show`] can answer from memory (PostgreSQL only: SQLite announces
    /// nothing, and reads there stay on the database).
    pub fn cache_assets(&self) {
        if self.db.backend() == crate::db::Backend::Postgres {
            tokio::spawn(self.cache.clone().listen(self.database_url.clone()));
        }
    }

    /// Reads an asset.
    pub async fn asset(&self, id: &AssetId) -> Result<Asset, AppError> {
        Ok(assets::get(&self.db, id)
            .await?
            .ok_or(AppError::NotFound)?
            .asset)
    }

    /// Stores a new asset (and the upload that feeds it, the video it is, the intake object
    /// version it came from) with its events and what they imply (its playback record, the
    /// announcements), in one transaction; the relay applies those after. An intake version
    /// taken already makes it a conflict, and nothing is stored.
    pub async fn create_asset(
        &self,
        asset: &Asset,
        upload: Option<&Upload>,
        video: Option<&crate::domain::videos::Video>,
        intake: Option<&crate::db::intake::IntakeRow>,
    ) -> Result<(), AppError> {
        let events: Vec<Event> = asset.events_after(0).cloned().collect();
        let effects = effects::of_change(None, Some(asset), &events, &self.endpoints.ids().await?);
        let mut tx = self.db.pool().begin().await.map_err(DbError::from)?;
        if !assets::insert(&mut tx, asset).await? {
            return Err(AppError::Conflict(format!("asset {} exists", asset.id)));
        }
        if let Some(u) = upload {
            uploads::insert(&mut tx, u).await?;
        }
        if let Some(v) = video {
            crate::db::videos::insert(&mut tx, v).await?;
        }
        if let Some(row) = intake {
            if !crate::db::intake::insert_in(&mut tx, row).await? {
                return Err(AppError::Conflict(format!(
                    "intake object {} version {} was taken already",
                    row.object_key, row.version
                )));
            }
        }
        assets::insert_events(&mut tx, &events).await?;
        let last = self.push_effects(&mut tx, &asset.id, &effects).await?;
        tx.commit().await.map_err(DbError::from)?;
        // This process lists its own new asset at once; others on the notification.
        self.cache.invalidate(&asset.id).await;
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

    /// A person's moderation decision: recorded on the asset with the audit trail, in the
    /// same transaction as what it implies (the manifest's availability — `blocked`: every
    /// edge answers 451, `published`: served again — the fleet purge, the events). Answers
    /// once every edge serves the decision ([`Relay::settle`]).
    pub async fn review(&self, id: &AssetId, review: Review) -> Result<Asset, AppError> {
        self.change_settled(id, Change::Reviewed(review)).await
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
            &self.endpoints.ids().await?,
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
        crate::db::notifications::on_events(&mut tx, &events, crate::app::now_ms()).await?;
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

    /// Applies `change` to asset `id` (see [`Assets::commit_change`]); its effects follow
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
        self.relay.settle(id, last.unwrap_or(i64::MAX)).await?;
        Ok(asset)
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
            let effects = effects::of_change(
                Some(&stored.asset),
                None,
                &events,
                &self.endpoints.ids().await?,
            );
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
            crate::db::videos::delete(&mut tx, id.as_str()).await?;
            crate::db::transcripts::delete_all(&mut tx, id.as_str()).await?;
            crate::db::reports::delete_of_video(&mut tx, id.as_str()).await?;
            crate::db::social::delete_of_video(&mut tx, id.as_str()).await?;
            crate::db::notifications::delete_of_video(&mut tx, id.as_str()).await?;
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
                self.relay.settle(id, last).await?;
            }
            return Ok(());
        }
    }

    /// A page of assets, newest first, and whether more follow (from memory on PostgreSQL
    /// while no asset changed, [`crate::db::cache`]).
    pub async fn list_assets(
        &self,
        limit: u32,
        offset: u64,
    ) -> Result<(Vec<Asset>, bool), AppError> {
        Ok(self.cache.page(&self.db, limit, offset).await?)
    }

    /// The moderation decisions people made on asset `id`, newest first: up to `limit`
    /// before event `before`, and whether more follow.
    pub async fn reviews(
        &self,
        id: &AssetId,
        before: Option<u64>,
        limit: u32,
    ) -> Result<(Vec<Event>, bool), AppError> {
        self.asset_to_show(id).await?;
        let mut events = assets::events_of_kind(
            &self.db,
            id,
            crate::domain::asset::REVIEWED_EVENT,
            before,
            limit + 1,
        )
        .await?;
        let more = events.len() > limit as usize;
        events.truncate(limit as usize);
        Ok((events, more))
    }

    /// Up to `limit` events of asset `id` after sequence number `after` (all assets' when
    /// `id` is `None`).
    pub async fn events_after(
        &self,
        id: &AssetId,
        after: u64,
        limit: u32,
    ) -> Result<Vec<Event>, AppError> {
        Ok(assets::events_after(&self.db, id, after, limit).await?)
    }
}
