//! Taking uploads in: creating an upload (and its asset), storing each chunk as an object of
//! its own under `uploads/{id}/parts/` (so any control instance can resume it, and a restart
//! loses nothing acknowledged), committing a chunk by compare-and-swap on the upload's record
//! (two clients racing on one offset: one wins, the other gets 409 and its chunk is removed),
//! and, when the last byte arrives, assembling `videos/{id}/source` and queueing the
//! transcode. A sweeper expires stalled uploads and finishes ones a crash left complete.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use object_store::buffered::BufWriter;
use object_store::ObjectStoreExt;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use sunomi_origin::layout;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use crate::apikeys;
use crate::app::{now_ms, now_rfc3339, now_unix, AppError};
use crate::config::UploadConfig;
use crate::db::intake::IntakeRow;
use crate::db::uploads::{self, UpdateError};
use crate::db::Db;
use crate::domain::asset::{
    Asset, AssetErrorCode, AssetErrorInfo, AssetStatus, Change, SourceInfo,
};
use crate::domain::ids::{random_token, AssetId, UploadId};
use crate::domain::upload::{IntakeSource, Part, PatchRefused, Upload, UploadStatus};
use crate::metrics::metrics;
use crate::records::Records;
use crate::services::assets::Assets;

/// Buffer of a part being written: S3's smallest multipart part, so a large chunk goes up
/// as a multipart upload in 5 MiB pieces and memory stays flat.
const PART_BUFFER: usize = 5 << 20;

/// A checksum algorithm of the tus checksum extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumAlgorithm {
    /// SHA-1.
    Sha1,
    /// SHA-256.
    Sha256,
}

impl ChecksumAlgorithm {
    /// Parses a tus algorithm name.
    pub fn parse(name: &str) -> Option<ChecksumAlgorithm> {
        match name {
            "sha1" => Some(ChecksumAlgorithm::Sha1),
            "sha256" => Some(ChecksumAlgorithm::Sha256),
            _ => None,
        }
    }
}

enum Hasher {
    Sha1(Sha1),
    Sha256(Sha256),
}

impl Hasher {
    fn new(a: ChecksumAlgorithm) -> Hasher {
        match a {
            ChecksumAlgorithm::Sha1 => Hasher::Sha1(Sha1::new()),
            ChecksumAlgorithm::Sha256 => Hasher::Sha256(Sha256::new()),
        }
    }
    fn update(&mut self, b: &[u8]) {
        match self {
            Hasher::Sha1(h) => h.update(b),
            Hasher::Sha256(h) => h.update(b),
        }
    }
    fn finish(self) -> Vec<u8> {
        match self {
            Hasher::Sha1(h) => h.finalize().to_vec(),
            Hasher::Sha256(h) => h.finalize().to_vec(),
        }
    }
}

/// Why a chunk was not taken.
#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    /// The upload's state refuses it (see [`PatchRefused`]).
    #[error(transparent)]
    Refused(#[from] PatchRefused),
    /// The chunk's checksum does not match (tus 460); it was discarded.
    #[error("checksum mismatch")]
    Checksum,
    /// The client's stream failed and a checksum was given: nothing kept.
    #[error("the request body was cut off")]
    Incomplete,
    /// Our side failed.
    #[error(transparent)]
    App(#[from] AppError),
}

/// What a new upload starts with.
pub struct NewUpload {
    /// Declared length (tus `Upload-Length`), when known.
    pub length: Option<u64>,
    /// tus metadata.
    pub metadata: BTreeMap<String, String>,
    /// Echoed back on the asset.
    pub passthrough: Option<String>,
    /// The asset's metadata.
    pub meta: BTreeMap<String, String>,
    /// Whether the tus resource exists now (tus creation) or comes later (a delegated
    /// upload created through the JSON API).
    pub tus_created: bool,
    /// Issue a delegated upload token.
    pub with_token: bool,
    /// The video a person's upload becomes (its `asset_id` is filled in here).
    pub video: Option<crate::domain::videos::Video>,
    /// For S3 event intake: the object the upload's bytes are (the upload starts complete),
    /// and the record of that object version, written with the asset (its `asset_id` is
    /// filled in here); a version recorded already makes this a [`AppError::Conflict`].
    pub intake: Option<(IntakeSource, IntakeRow)>,
}

/// What the upload use cases need: the database (uploads and their parts), storage (the
/// bytes), the asset use cases (an upload feeds an asset), the `[uploads]` settings, and
/// this process's bounds on PATCHes.
pub struct Uploads {
    /// The state of record.
    pub db: Db,
    /// Object storage.
    pub records: Records,
    /// The asset use cases.
    pub assets: Arc<Assets>,
    /// `[uploads]`.
    pub config: UploadConfig,
    /// Upload PATCHes in flight (each holds one permit).
    pub patches: tokio::sync::Semaphore,
    /// Uploads with a PATCH in flight in this process (one at a time per upload).
    pub patching: std::sync::Mutex<std::collections::HashSet<UploadId>>,
}

/// Removes what an ended upload stored: its parts, a local data file, an S3 multipart
/// upload. An upload still waiting for bytes is left alone.
pub async fn discard_bytes(up: &Uploads, upload: &Upload) -> Result<(), AppError> {
    if upload.status == UploadStatus::Waiting {
        return Ok(());
    }
    up.records
        .delete_dir(&layout::upload_parts_dir(upload.id.as_str()))
        .await?;
    up.records
        .delete(&layout::upload_data(upload.id.as_str()))
        .await?;
    if let Some(d) = &upload.direct {
        crate::direct::abort(up.records.store(), &upload.asset_id, d).await;
    }
    Ok(())
}

/// Reads an upload.
pub async fn get(up: &Uploads, id: &UploadId) -> Result<Upload, AppError> {
    Ok(uploads::get(&up.db, id).await?.ok_or(AppError::NotFound)?.0)
}

impl From<UpdateError<()>> for AppError {
    fn from(e: UpdateError<()>) -> Self {
        match e {
            UpdateError::NotFound | UpdateError::Rejected(()) => AppError::NotFound,
            UpdateError::Db(d) => AppError::Db(d),
        }
    }
}

/// Creates an upload and its asset (`waiting_upload`). Returns the upload and, if asked,
/// its delegated token (shown once).
pub async fn create(up: &Uploads, new: NewUpload) -> Result<(Upload, Option<String>), AppError> {
    let id = UploadId::generate();
    let asset_id = AssetId::generate();
    let now = now_unix();
    let token = new.with_token.then(|| apikeys::new_upload_token(&id));
    let upload = Upload {
        id: id.clone(),
        status: UploadStatus::Waiting,
        asset_id: asset_id.clone(),
        length: new.length,
        // An intake upload's bytes are all there (in the bucket) from the start.
        offset: if new.intake.is_some() {
            new.length.unwrap_or(0)
        } else {
            0
        },
        parts: Vec::new(),
        metadata: new.metadata,
        token_hash: token.as_deref().map(apikeys::hash),
        token_expires_at: token.as_ref().map(|_| now + up.config.token_ttl_secs),
        direct: None,
        intake: new.intake.as_ref().map(|(source, _)| source.clone()),
        tus_created: new.tus_created,
        created_at: now,
        expires_at: now + up.config.expiry_secs,
    };
    let asset = Asset::new(
        asset_id,
        Some(id.clone()),
        new.passthrough,
        new.meta,
        &now_rfc3339(),
    );
    let video = new.video.map(|mut v| {
        v.asset_id = asset.id.to_string();
        v
    });
    let intake = new.intake.map(|(_, mut row)| {
        row.asset_id = Some(asset.id.to_string());
        row
    });
    up.assets
        .create_asset(&asset, Some(&upload), video.as_ref(), intake.as_ref())
        .await?;
    up.assets
        .change(
            &asset.id,
            Change::Note {
                kind: "video.upload.created".into(),
                data: serde_json::json!({ "upload_id": id }),
            },
        )
        .await?;
    if upload.is_complete() {
        finish(up, &upload).await?;
    }
    Ok((upload, token))
}

/// Creates a direct upload of `size` bytes on an `s3://` store: the upload, its asset and the
/// S3 multipart upload its parts go to.
pub async fn create_direct(
    up: &Uploads,
    mut new: NewUpload,
    size: u64,
) -> Result<(Upload, Option<String>), crate::direct::DirectError> {
    use crate::direct::{self, DirectError};
    if up.records.store().s3().is_none() {
        return Err(DirectError::Unsupported);
    }
    direct::plan(size)?;
    new.length = Some(size);
    new.tus_created = false;
    let (upload, token) = create(up, new).await?;
    let started = match direct::start(up.records.store(), &upload.asset_id, size).await {
        Ok(d) => d,
        Err(e) => {
            let _ = end(up, &upload.id, UploadStatus::Errored).await;
            return Err(e);
        }
    };
    let upload = uploads::update::<(), _>(&up.db, &upload.id, |u| {
        let mut u = u.clone();
        u.direct = Some(started.clone());
        Ok(Some(u))
    })
    .await
    .map_err(AppError::from)?;
    Ok((upload, token))
}

/// Binds a delegated upload to its tus resource (tus creation with an upload token).
pub async fn bind(
    up: &Uploads,
    id: &UploadId,
    length: Option<u64>,
    metadata: BTreeMap<String, String>,
) -> Result<Upload, AppError> {
    let bound = uploads::update::<(), _>(&up.db, id, |u| {
        if u.tus_created || u.direct.is_some() || u.status != UploadStatus::Waiting {
            return Err(());
        }
        let mut u = u.clone();
        u.tus_created = true;
        u.length = length;
        u.metadata.extend(metadata.clone());
        Ok(Some(u))
    })
    .await;
    match bound {
        Ok(u) => {
            if u.is_complete() {
                finish(up, &u).await?;
            }
            Ok(u)
        }
        Err(UpdateError::Rejected(())) => Err(AppError::Conflict(
            "this upload already has its tus resource".into(),
        )),
        Err(e) => Err(e.into()),
    }
}

/// Whether `token` may write upload `upload`.
pub fn token_allows(upload: &Upload, token: &str, now: u64) -> bool {
    let Some(hash) = &upload.token_hash else {
        return false;
    };
    apikeys::upload_token_scope(token).as_ref() == Some(&upload.id)
        && upload.token_expires_at.is_some_and(|t| now < t)
        && apikeys::matches(token, hash)
}

/// Stores one chunk of `id` that starts at `offset`, reading it from `body` (which ends
/// when the request body ends or the client goes away). A cut-off body without a checksum
/// keeps what arrived, as tus asks; with a checksum nothing is kept.
pub async fn receive(
    up: Arc<Uploads>,
    id: UploadId,
    offset: u64,
    checksum: Option<(ChecksumAlgorithm, Vec<u8>)>,
    mut body: mpsc::Receiver<Result<Bytes, String>>,
) -> Result<Upload, PatchError> {
    let upload = get(&up, &id).await?;
    let room = upload.may_patch(offset, now_unix())?;
    if room == 0 {
        // Every byte is here (a client repeating its last PATCH, or one after a finish that
        // failed part way): nothing to write, and nothing must touch what is stored.
        return Ok(upload);
    }
    if let Some(data) = up
        .records
        .store()
        .local_file(&layout::upload_data(id.as_str()))
    {
        return receive_local(up, upload, offset, checksum, body, data).await;
    }
    let key = layout::upload_part(id.as_str(), offset, &random_token(8));
    let path = up.records.path(&key);
    let mut writer =
        BufWriter::with_capacity(up.records.store().object_store().clone(), path, PART_BUFFER);
    let len = match copy_chunk(&mut body, room, &upload, &checksum, &mut writer).await {
        Ok(len) => len,
        Err(e) => {
            let _ = writer.abort().await;
            return Err(e);
        }
    };
    if len == 0 {
        let _ = writer.abort().await;
        return Ok(upload);
    }
    if let Err(e) = writer.shutdown().await {
        // A writer that was shut down cannot be aborted (object_store panics): what it may
        // have stored is deleted instead.
        let _ = up.records.delete(&key).await;
        return Err(AppError::Store(format!("storing a chunk: {e}")).into());
    }
    let part = Part {
        key: key.clone(),
        offset,
        len,
    };
    commit(&up, &id, part, Some(&key)).await
}

/// Records a stored chunk on the upload (compare-and-swap; `discard` is removed when the
/// upload moved meanwhile) and finishes the upload when it was the last.
async fn commit(
    up: &Arc<Uploads>,
    id: &UploadId,
    part: Part,
    discard: Option<&str>,
) -> Result<Upload, PatchError> {
    let len = part.len;
    let now = now_unix();
    let committed = uploads::update(&up.db, id, |u| u.with_part(part.clone(), now).map(Some)).await;
    let upload = match committed {
        Ok(u) => u,
        Err(e) => {
            if let Some(key) = discard {
                let _ = up.records.delete(key).await;
            }
            return Err(match e {
                UpdateError::Rejected(r) => r.into(),
                UpdateError::NotFound => AppError::NotFound.into(),
                UpdateError::Db(d) => AppError::Db(d).into(),
            });
        }
    };
    metrics().upload_bytes.inc_by(len);
    if upload.is_complete() {
        finish(up, &upload).await?;
    }
    Ok(upload)
}

/// Copies one chunk from `body` into `out`: at most `room` bytes, hashed when the client
/// sent a checksum. Returns the length. A body cut off with a checksum, a checksum mismatch,
/// too many bytes or a failed write is an error (the caller discards what `out` holds).
async fn copy_chunk<W: tokio::io::AsyncWrite + Unpin>(
    body: &mut mpsc::Receiver<Result<Bytes, String>>,
    room: u64,
    upload: &Upload,
    checksum: &Option<(ChecksumAlgorithm, Vec<u8>)>,
    out: &mut W,
) -> Result<u64, PatchError> {
    let mut hasher = checksum.as_ref().map(|(a, _)| Hasher::new(*a));
    let mut len: u64 = 0;
    let mut cut_off = false;
    while let Some(chunk) = body.recv().await {
        let Ok(chunk) = chunk else {
            cut_off = true;
            break;
        };
        if len + chunk.len() as u64 > room {
            return Err(PatchRefused::TooLong(upload.length.unwrap_or(0)).into());
        }
        if let Some(h) = &mut hasher {
            h.update(&chunk);
        }
        len += chunk.len() as u64;
        out.write_all(&chunk)
            .await
            .map_err(|e| AppError::Store(format!("storing a chunk: {e}")))?;
    }
    if cut_off && checksum.is_some() {
        return Err(PatchError::Incomplete);
    }
    if let (Some(h), Some((_, expected))) = (hasher, checksum) {
        if &h.finish() != expected {
            return Err(PatchError::Checksum);
        }
    }
    Ok(len)
}

/// A chunk for an upload to a local store: written in place into `uploads/{id}/data` at its
/// offset under an exclusive lock on that file (a second writer gets 409 at once), synced,
/// then committed. Bytes past the committed offset (a refused or cut-off chunk with a
/// checksum) are overwritten by the next chunk; completion renames the file into place, so
/// every byte is written once.
async fn receive_local(
    up: Arc<Uploads>,
    upload: Upload,
    offset: u64,
    checksum: Option<(ChecksumAlgorithm, Vec<u8>)>,
    mut body: mpsc::Receiver<Result<Bytes, String>>,
    data: std::path::PathBuf,
) -> Result<Upload, PatchError> {
    use tokio::io::AsyncSeekExt;
    let store_err =
        |e: std::io::Error| PatchError::App(AppError::Store(format!("storing a chunk: {e}")));
    let file = {
        let data = data.clone();
        tokio::task::spawn_blocking(move || -> std::io::Result<Option<std::fs::File>> {
            if let Some(dir) = data.parent() {
                std::fs::create_dir_all(dir)?;
            }
            // Only the first chunk creates the file: a later one finding none (the source
            // was assembled from it already) must not start an empty one.
            let f = std::fs::OpenOptions::new()
                .create(offset == 0)
                .truncate(false)
                .write(true)
                .open(&data)?;
            // SAFETY: flock on a descriptor we own; released when the file closes.
            let rc = unsafe {
                libc::flock(
                    std::os::fd::AsRawFd::as_raw_fd(&f),
                    libc::LOCK_EX | libc::LOCK_NB,
                )
            };
            Ok((rc == 0).then_some(f))
        })
        .await
        .map_err(|e| store_err(std::io::Error::other(e)))?
        .map_err(store_err)?
    };
    let Some(file) = file else {
        return Err(PatchRefused::OffsetMismatch {
            given: offset,
            expected: upload.offset,
        }
        .into());
    };
    // Under the lock: the offset may have moved since the caller looked.
    let upload = get(&up, &upload.id).await?;
    let room = upload.may_patch(offset, now_unix())?;
    let mut file = tokio::fs::File::from_std(file);
    file.seek(std::io::SeekFrom::Start(offset))
        .await
        .map_err(store_err)?;
    let len = copy_chunk(&mut body, room, &upload, &checksum, &mut file).await?;
    if len == 0 {
        return Ok(upload);
    }
    file.flush().await.map_err(store_err)?;
    file.sync_data().await.map_err(store_err)?;
    let part = Part {
        key: layout::upload_data(upload.id.as_str()),
        offset,
        len,
    };
    let result = commit(&up, &upload.id, part, None).await;
    drop(file);
    result
}

/// The lease on assembling a complete upload's source: renewed every third of it while the
/// finisher works, so a finisher that died holds it at most this long before the sweeper
/// takes the upload over.
const FINISH_LEASE_MS: i64 = 30_000;

/// Assembles the source of a complete upload and, in one transaction, ends the upload
/// `asset_created` and moves its asset to `uploaded` (which queues the transcode). One
/// process at a time (a lease: the PATCH that completed it or, after a crash, a sweeper);
/// the upload and its asset are read again under the lease, so a cancelled upload or a
/// deleted asset is never assembled. Safe to run again after a crash part way.
pub async fn finish(up: &Uploads, upload: &Upload) -> Result<(), AppError> {
    let now = now_ms();
    if !uploads::lease_finish(&up.db, &upload.id, now, now + FINISH_LEASE_MS).await? {
        tracing::debug!(id = %upload.id, "another process is finishing this upload");
        return Ok(());
    }
    let renew = {
        let (db, id) = (up.db.clone(), upload.id.clone());
        tokio::spawn(async move {
            let every = std::time::Duration::from_millis(FINISH_LEASE_MS as u64 / 3);
            loop {
                tokio::time::sleep(every).await;
                if let Err(e) = uploads::renew_finish(&db, &id, now_ms() + FINISH_LEASE_MS).await {
                    tracing::warn!(%id, error = %e, "could not renew the finish lease");
                }
            }
        })
    };
    let result = finish_leased(up, &upload.id).await;
    renew.abort();
    if let Err(e) = uploads::release_finish(&up.db, &upload.id).await {
        tracing::warn!(id = %upload.id, error = %e, "could not release the finish lease");
    }
    result
}

/// [`finish`] under its lease.
async fn finish_leased(up: &Uploads, id: &UploadId) -> Result<(), AppError> {
    let upload = get(up, id).await?;
    if upload.status != UploadStatus::Waiting || !upload.is_complete() {
        return Ok(());
    }
    let asset_id = &upload.asset_id;
    match up.assets.asset(asset_id).await {
        Ok(a) if a.status == AssetStatus::WaitingUpload => {}
        Ok(_) | Err(AppError::NotFound) => {
            // Its asset is gone (deleted) or past its upload: nothing to assemble.
            end(up, id, UploadStatus::Cancelled).await?;
            return Ok(());
        }
        Err(e) => return Err(e),
    }
    if upload.length == Some(0) {
        let error = AssetErrorInfo {
            code: AssetErrorCode::ErrEmptyUpload,
            message: "the upload is empty".into(),
        };
        up.assets
            .end_upload(id, UploadStatus::Errored, None, error)
            .await?;
        return Ok(());
    }
    let source_key = layout::video_key(asset_id.as_str(), layout::SOURCE);
    let source_path = up.records.path(&source_key);
    let os = up.records.store().object_store().clone();
    let data_key = layout::upload_data(upload.id.as_str());
    let local_data = up
        .records
        .store()
        .local_file(&data_key)
        .filter(|f| f.exists());
    if let Some(intake) = &upload.intake {
        let length = upload.length.unwrap_or(0);
        if let Err(why) = copy_intake(up, intake, length, &source_path).await? {
            let error = AssetErrorInfo {
                code: AssetErrorCode::ErrUploadSizeMismatch,
                message: why,
            };
            up.assets
                .end_upload(id, UploadStatus::Errored, None, error)
                .await?;
            let _ = up.records.delete(&source_key).await;
            return Ok(());
        }
    } else if upload.direct.is_some() {
        // The browser's parts were assembled by S3 when the upload was completed.
    } else if let (Some(data), Some(source)) =
        (local_data, up.records.store().local_file(&source_key))
    {
        // Written in place: trim anything past the upload's length, then rename.
        let length = upload.length.unwrap_or(0);
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            let f = std::fs::OpenOptions::new().write(true).open(&data)?;
            f.set_len(length)?;
            f.sync_all()?;
            if let Some(dir) = source.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::rename(&data, &source)
        })
        .await
        .map_err(|e| AppError::Store(e.to_string()))?
        .map_err(|e| AppError::Store(format!("assembling the source: {e}")))?;
    } else if upload.parts.iter().all(|p| p.key == data_key) {
        // Renamed into place by an earlier run of this (a crash before the record said so).
    } else if let [only] = upload.parts.as_slice() {
        os.copy(&up.records.path(&only.key), &source_path)
            .await
            .map_err(|e| AppError::Store(format!("assembling the source: {e}")))?;
    } else {
        let parts: Vec<_> = upload
            .parts
            .iter()
            .map(|p| up.records.path(&p.key))
            .collect();
        stream_concat(&os, &parts, &source_path)
            .await
            .map_err(|e| AppError::Store(format!("assembling the source: {e}")))?;
    }
    let head = os
        .head(&source_path)
        .await
        .map_err(|e| AppError::Store(format!("reading the source back: {e}")))?;
    let source = SourceInfo {
        size: head.size,
        version: head
            .e_tag
            .unwrap_or_else(|| format!("{}-{}", head.size, head.last_modified.timestamp_micros())),
    };
    crate::failpoint::hit("finish.before_commit");
    crate::failpoint::pause("finish.before_commit").await;
    if !up.assets.take_source(id, source).await? {
        // Cancelled (or its asset deleted) while the source was assembled: it goes.
        tracing::info!(%id, "upload ended while its source was assembled; discarding it");
        let _ = up.records.delete(&source_key).await;
    }
    up.records
        .delete_dir(&layout::upload_parts_dir(id.as_str()))
        .await?;
    Ok(())
}

/// S3's largest `CopyObject`; larger intake objects are streamed through this process.
const MAX_SERVER_COPY: u64 = 5 << 30;

/// Copies an intake object to `dest` (the source's place): server-side up to 5 GiB, streamed
/// beyond. `Ok(Err(why))` when the object is gone or no longer what was announced (its size
/// differs), which ends the upload; `Err` for a failure worth trying again.
async fn copy_intake(
    up: &Uploads,
    intake: &IntakeSource,
    length: u64,
    dest: &object_store::path::Path,
) -> Result<Result<(), String>, AppError> {
    let os = up.records.store().object_store();
    let from = match object_store::path::Path::parse(&intake.key) {
        Ok(p) if p.as_ref() == intake.key => p,
        _ => {
            return Ok(Err(format!(
                "the intake key {:?} cannot be read",
                intake.key
            )))
        }
    };
    let copied = if length <= MAX_SERVER_COPY {
        os.copy(&from, dest).await
    } else {
        stream_concat(os, std::slice::from_ref(&from), dest).await
    };
    match copied {
        Ok(()) => {}
        Err(object_store::Error::NotFound { .. }) => {
            return Ok(Err(format!(
                "the intake object {} was deleted before it was copied",
                intake.key
            )))
        }
        Err(e) => return Err(AppError::Store(format!("copying the intake object: {e}"))),
    }
    let head = os
        .head(dest)
        .await
        .map_err(|e| AppError::Store(format!("reading the source back: {e}")))?;
    if head.size != length {
        return Ok(Err(format!(
            "the intake object {} holds {} bytes; its notification said {length}",
            intake.key, head.size
        )));
    }
    Ok(Ok(()))
}

/// Writes the objects `parts`, one after another, to `dest` (a multipart upload, one
/// buffer's worth in memory at a time).
async fn stream_concat(
    os: &Arc<dyn object_store::ObjectStore>,
    parts: &[object_store::path::Path],
    dest: &object_store::path::Path,
) -> object_store::Result<()> {
    use futures::StreamExt;
    let io = |e: std::io::Error| object_store::Error::Generic {
        store: "stream copy",
        source: Box::new(e),
    };
    let mut writer = BufWriter::with_capacity(os.clone(), dest.clone(), PART_BUFFER);
    for part in parts {
        let mut stream = os.get(part).await?.into_stream();
        while let Some(chunk) = stream.next().await {
            writer.write_all(&chunk?).await.map_err(io)?;
        }
    }
    writer.shutdown().await.map_err(io)
}

/// Ends an unfinished upload (`cancelled` by its owner or `timed_out`) and errors its asset,
/// in one transaction; then removes what it stored. An upload that already ended (finished,
/// or ended by someone else) is returned as it is.
pub async fn end(up: &Uploads, id: &UploadId, status: UploadStatus) -> Result<Upload, AppError> {
    let (code, message, kind) = match status {
        UploadStatus::TimedOut => (
            AssetErrorCode::ErrUploadTimedOut,
            "the upload expired before it completed",
            "video.upload.timed_out",
        ),
        _ => (
            AssetErrorCode::ErrUploadCancelled,
            "the upload was cancelled",
            "video.upload.cancelled",
        ),
    };
    let error = AssetErrorInfo {
        code,
        message: message.into(),
    };
    let (upload, ended) = up.assets.end_upload(id, status, Some(kind), error).await?;
    if ended || upload.status == UploadStatus::Cancelled {
        discard_bytes(up, &upload).await?;
    }
    Ok(upload)
}

/// Records that a direct upload's bytes are all in the bucket (S3 completed it), then
/// finishes it like a tus upload.
pub async fn direct_done(up: &Uploads, id: &UploadId) -> Result<Upload, AppError> {
    let upload = uploads::update::<(), _>(&up.db, id, |u| {
        let length = u.length.unwrap_or(0);
        if u.offset == length {
            return Ok(None);
        }
        let mut u = u.clone();
        u.offset = length;
        Ok(Some(u))
    })
    .await
    .map_err(AppError::from)?;
    finish(up, &upload).await?;
    get(up, id).await
}

/// Revokes an upload's delegated token.
pub async fn revoke_token(up: &Uploads, id: &UploadId) -> Result<Upload, AppError> {
    uploads::update::<(), _>(&up.db, id, |u| {
        if u.token_hash.is_none() {
            return Ok(None);
        }
        let mut u = u.clone();
        u.token_hash = None;
        u.token_expires_at = None;
        Ok(Some(u))
    })
    .await
    .map_err(AppError::from)
}

/// Uploads one sweep looks at, at most (the rest wait for the next sweep).
const SWEEP_BATCH: i64 = 500;

/// One sweep: finish complete uploads a crash left unfinished, expire the stalled, and
/// forget uploads that ended long ago (with whatever they left in storage).
pub async fn sweep(up: &Uploads) -> Result<(), AppError> {
    let now = now_unix();
    let forget_before = now.saturating_sub(up.config.expiry_secs);
    for upload in uploads::sweepable(&up.db, now, forget_before, SWEEP_BATCH).await? {
        let id = upload.id.clone();
        let result = if upload.status == UploadStatus::Waiting && upload.is_complete() {
            finish(up, &upload).await
        } else if upload.expired(now) {
            end(up, &id, UploadStatus::TimedOut).await.map(|_| ())
        } else if upload.status != UploadStatus::Waiting {
            // Long ended: forget the transient record and what it left behind.
            async {
                discard_bytes(up, &upload).await?;
                up.records
                    .delete_dir(&format!("{}/{}", layout::UPLOADS, id))
                    .await?;
                uploads::delete(&up.db, &id).await?;
                Ok(())
            }
            .await
        } else {
            Ok(())
        };
        if let Err(e) = result {
            tracing::warn!(%id, error = %e, "upload sweep step failed");
        }
    }
    Ok(())
}
