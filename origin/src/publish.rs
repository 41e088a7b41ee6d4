//! Putting a finished transcode into storage: track files first, manifest last.
//!
//! A reader only ever finds a manifest whose every file was written before it, so a crash part
//! way leaves no playable half-video. Re-publishing an id first removes the old manifest (the
//! video stops being served while its files are replaced), then removes old files the new
//! manifest no longer names.

use std::path::PathBuf;

use object_store::buffered::BufWriter;
use object_store::{ObjectStoreExt, PutPayload};
use sunomi_packager::manifest::Manifest;
use tokio::io::AsyncWriteExt;

use crate::layout;
use crate::store::Store;

/// A file made by the transcoder, waiting to be stored.
#[derive(Debug, Clone)]
pub struct OutputFile {
    /// Path relative to the video's folder (`video/720p.mp4`).
    pub relative: String,
    /// Where it is on local disk.
    pub local: PathBuf,
}

/// Why publishing failed.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// Reading a local output file failed.
    #[error("reading {path}: {source}")]
    Local {
        /// The local file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Writing to or deleting from the store failed.
    #[error("storing {key}: {source}")]
    Store {
        /// The storage key.
        key: String,
        /// The store's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

fn store_err(key: &str, e: impl std::error::Error + Send + Sync + 'static) -> PublishError {
    PublishError::Store {
        key: key.to_string(),
        source: Box::new(e),
    }
}

/// Stores `files` in video `id`'s folder (streamed, never whole in memory). Writes no
/// manifest: callers that decide which files become the video (the control plane, racing
/// workers) write it themselves once they know.
pub async fn store_files(
    store: &Store,
    id: &str,
    files: &[OutputFile],
) -> Result<(), PublishError> {
    let os = store.object_store();
    for file in files {
        let key = layout::video_key(id, &file.relative);
        let mut local =
            tokio::fs::File::open(&file.local)
                .await
                .map_err(|source| PublishError::Local {
                    path: file.local.clone(),
                    source,
                })?;
        let mut writer = BufWriter::new(os.clone(), store.path(&key));
        tokio::io::copy(&mut local, &mut writer)
            .await
            .map_err(|e| store_err(&key, e))?;
        writer.shutdown().await.map_err(|e| store_err(&key, e))?;
    }
    Ok(())
}

/// Stores `files` and then `manifest` for video `manifest.id`.
pub async fn publish(
    store: &Store,
    files: &[OutputFile],
    manifest: &Manifest,
) -> Result<(), PublishError> {
    let id = manifest.id.as_str();
    let os = store.object_store();
    let manifest_key = layout::video_key(id, layout::MANIFEST);
    let manifest_path = store.path(&manifest_key);

    let previous = match os.get(&manifest_path).await {
        Ok(got) => got
            .bytes()
            .await
            .ok()
            .and_then(|b| Manifest::from_json(&b).ok()),
        Err(object_store::Error::NotFound { .. }) => None,
        Err(e) => return Err(store_err(&manifest_key, e)),
    };
    if previous.is_some() {
        os.delete(&manifest_path)
            .await
            .map_err(|e| store_err(&manifest_key, e))?;
    }

    store_files(store, id, files).await?;

    os.put(&manifest_path, PutPayload::from(manifest.to_json()))
        .await
        .map_err(|e| store_err(&manifest_key, e))?;

    if let Some(old) = previous {
        let keep: Vec<&str> = files.iter().map(|f| f.relative.as_str()).collect();
        for stale in old.stored_paths().filter(|p| !keep.contains(p)) {
            let key = layout::video_key(id, stale);
            match os.delete(&store.path(&key)).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => tracing::warn!(%key, error = %e, "could not remove a stale file"),
            }
        }
    }
    Ok(())
}
