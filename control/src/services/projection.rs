//! What the edge reads, projected from the database: a video's manifest availability and
//! generated-captions list, playback records, and the media of a deleted video — each write
//! followed by a fleet purge that carries the record's version. The relay applies these as
//! outbox effects.

use std::sync::Arc;

use object_store::ObjectStoreExt;
use sunomi_origin::layout;
use sunomi_packager::manifest::Manifest;
use sunomi_packager::playback::PlaybackRecord;

use crate::app::AppError;
use crate::db::{assets, Db};
use crate::domain::asset::PlaybackPolicy;
use crate::domain::ids::{AssetId, PlaybackId};
use crate::records::{RecordError, Records};
use crate::services::fleet::{Fleet, GONE};

/// Writes the edge's records from the database and purges the fleet.
pub struct Projector {
    /// The state of record.
    pub db: Db,
    /// Object storage.
    pub records: Records,
    /// Where purges go.
    pub fleet: Arc<Fleet>,
}

impl Projector {
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
                self.fleet.purge_id(id.as_str(), Some(revision)).await
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
                self.fleet.purge_id(id.as_str(), Some(GONE)).await?;
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
        self.records
            .store()
            .object_store()
            .put(&self.records.store().path(&key), body.into())
            .await
            .map_err(|e| format!("writing {key}: {e}"))?;
        self.fleet.purge_id(pid.as_str(), Some(revision)).await
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
        self.fleet.purge_id(pid.as_str(), Some(GONE)).await
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

    /// Removes every object under `videos/{id}/` (after its manifest is gone and the fleet
    /// purged).
    async fn delete_media(&self, id: &AssetId) -> Result<(), RecordError> {
        for key in self.records.list(&layout::video_dir(id.as_str())).await? {
            self.records.delete(&key).await?;
        }
        self.records
            .delete_dir(&layout::video_dir(id.as_str()))
            .await?;
        if let Some(dir) = self
            .records
            .store()
            .local_file(&layout::video_dir(id.as_str()))
        {
            // A local store keeps the emptied folders; remove them too.
            if let Err(e) = tokio::fs::remove_dir_all(&dir).await {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(%id, error = %e, "could not remove the emptied folder");
                }
            }
        }
        Ok(())
    }
}
