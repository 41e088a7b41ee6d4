//! The import of an earlier version's store: the records it kept in object storage become
//! database rows, once (`sunomi-control import`, and the first start on such a store).

use crate::apikeys::KeyRecord;
use crate::app::{now_rfc3339, AppError};
use crate::db::{assets, imports, keys, uploads, Db, DbError};
use crate::domain::asset::Asset;
use crate::domain::ids::AssetId;
use crate::domain::upload::Upload;
use crate::keyring::SigningKeys;
use crate::records::Records;
use sunomi_origin::layout;
use sunomi_packager::manifest::Manifest;

/// What an import reads and writes.
pub struct Importer<'a> {
    /// The database rows are written to.
    pub db: &'a Db,
    /// The store records are read from.
    pub records: &'a Records,
    /// The store's URL (the import is marked done per store).
    pub store: &'a str,
    /// Signing keys (imported too).
    pub signing_keys: &'a SigningKeys,
}

impl Importer<'_> {
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
            if uploads::get(self.db, &upload.id).await?.is_none() {
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
                Ok(r) => imported += usize::from(keys::insert(self.db, &r.value).await?),
                Err(e) => tracing::warn!(%key, error = %e, "unreadable key record not imported"),
            }
        }
        imported += crate::keyring::import(self.signing_keys).await?;
        Ok((found, imported))
    }

    /// Imports this store's earlier-version records once (the first start of this version
    /// on a store an earlier one made). Returns how many records were imported.
    pub async fn import_if_new(&self) -> Result<usize, AppError> {
        let store = self.store;
        if imports::store_imported(self.db, store).await? {
            // Signing keys moved to the database after the rest: a store imported before
            // that still has them to import, once.
            return crate::keyring::import_if_new(self.signing_keys, self.store).await;
        }
        let (_, imported) = self.import_store().await?;
        imports::mark_store_imported(self.db, store, &now_rfc3339()).await?;
        let marker = crate::keyring::import_marker(store);
        imports::mark_store_imported(self.db, &marker, &now_rfc3339()).await?;
        Ok(imported)
    }
}
