//! JSON records in object storage, updated with compare-and-swap: the control plane's state
//! of record. Two writers never lose each other's update: every write names the version it
//! read, and a write over a newer version fails with [`RecordError::Conflict`].
//!
//! S3 and memory stores do this with conditional puts (`If-Match` / `If-None-Match`). The
//! local file store has no conditional overwrite in `object_store`, so local writes take an
//! exclusive `flock` on a lock file beside the record, compare the version and replace the
//! file atomically (rename) — safe across processes on one machine, which is what a local
//! store can be shared by.

use std::sync::Arc;

use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sunomi_origin::Store;

/// Why a record could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// No record under that key.
    #[error("not found")]
    NotFound,
    /// Someone else wrote the record since it was read (or created it first).
    #[error("written by someone else meanwhile")]
    Conflict,
    /// The stored bytes are not a valid record.
    #[error("corrupt record {key}: {reason}")]
    Corrupt {
        /// The record's key.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// The store failed.
    #[error("storage: {0}")]
    Store(String),
}

/// A record as read, with the version a later write must name.
#[derive(Debug, Clone)]
pub struct Versioned<T> {
    /// The record.
    pub value: T,
    /// Its version (ETag, and the object version where the store has one).
    pub version: UpdateVersion,
}

/// Reads and writes JSON records in one store.
#[derive(Clone)]
pub struct Records {
    store: Store,
}

impl Records {
    /// Streams the object at storage key `key` to the local file `to`.
    pub async fn download(&self, key: &str, to: &std::path::Path) -> Result<(), String> {
        use futures::StreamExt;
        use tokio::io::AsyncWriteExt;
        let got = self
            .store
            .object_store()
            .get(&self.store.path(key))
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

    /// Records in `store`.
    pub fn new(store: Store) -> Records {
        Records { store }
    }

    /// The store records live in.
    pub fn store(&self) -> &Store {
        &self.store
    }

    fn os(&self) -> &Arc<dyn ObjectStore> {
        self.store.object_store()
    }

    /// Reads the record at `key`.
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Versioned<T>, RecordError> {
        if let Some(file) = self.store.local_file(key) {
            let (bytes, e_tag) = local::read(&file).await?;
            let value = serde_json::from_slice(&bytes).map_err(|e| RecordError::Corrupt {
                key: key.to_string(),
                reason: e.to_string(),
            })?;
            let version = UpdateVersion {
                e_tag: Some(e_tag),
                version: None,
            };
            return Ok(Versioned { value, version });
        }
        let got = match self.os().get(&self.store.path(key)).await {
            Ok(got) => got,
            Err(object_store::Error::NotFound { .. }) => return Err(RecordError::NotFound),
            Err(e) => return Err(RecordError::Store(e.to_string())),
        };
        let version = UpdateVersion {
            e_tag: got.meta.e_tag.clone(),
            version: got.meta.version.clone(),
        };
        let bytes = got
            .bytes()
            .await
            .map_err(|e| RecordError::Store(e.to_string()))?;
        let value = serde_json::from_slice(&bytes).map_err(|e| RecordError::Corrupt {
            key: key.to_string(),
            reason: e.to_string(),
        })?;
        Ok(Versioned { value, version })
    }

    /// Reads the record at `key`, `None` when there is none.
    pub async fn find<T: DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<Versioned<T>>, RecordError> {
        match self.get(key).await {
            Ok(v) => Ok(Some(v)),
            Err(RecordError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates the record at `key`; [`RecordError::Conflict`] when one exists.
    pub async fn create<T: Serialize>(&self, key: &str, value: &T) -> Result<(), RecordError> {
        let body = to_json(value);
        if let Some(file) = self.store.local_file(key) {
            return local::create(&file, &body).await;
        }
        let opts = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        match self
            .os()
            .put_opts(&self.store.path(key), PutPayload::from(body), opts)
            .await
        {
            Ok(_) => Ok(()),
            Err(object_store::Error::AlreadyExists { .. })
            | Err(object_store::Error::Precondition { .. }) => Err(RecordError::Conflict),
            Err(e) => Err(RecordError::Store(e.to_string())),
        }
    }

    /// Replaces the record at `key` if it is still at `version`.
    pub async fn replace<T: Serialize>(
        &self,
        key: &str,
        value: &T,
        version: &UpdateVersion,
    ) -> Result<(), RecordError> {
        let body = to_json(value);
        if let Some(file) = self.store.local_file(key) {
            return local::replace(&file, &body, version).await;
        }
        let opts = PutOptions {
            mode: PutMode::Update(version.clone()),
            ..Default::default()
        };
        match self
            .os()
            .put_opts(&self.store.path(key), PutPayload::from(body), opts)
            .await
        {
            Ok(_) => Ok(()),
            Err(object_store::Error::Precondition { .. })
            | Err(object_store::Error::NotFound { .. }) => Err(RecordError::Conflict),
            Err(e) => Err(RecordError::Store(e.to_string())),
        }
    }

    /// Reads, changes and writes back the record at `key`, retrying from a fresh read when
    /// someone else wrote it meanwhile. `change` returns `Ok(None)` to leave the record as it
    /// is; its error ends the update. Returns the record as written (or as left).
    pub async fn update<T, E, F>(&self, key: &str, mut change: F) -> Result<T, UpdateError<E>>
    where
        T: Serialize + DeserializeOwned + Clone,
        F: FnMut(&T) -> Result<Option<T>, E>,
    {
        for attempt in 0..MAX_UPDATE_TRIES {
            if attempt > 0 {
                // Back off a little (random, growing) so racing writers stop colliding.
                let ms = rand::Rng::gen_range(&mut rand::thread_rng(), 0..=attempt as u64 * 4);
                tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
            }
            let current: Versioned<T> = self.get(key).await.map_err(UpdateError::Record)?;
            let Some(next) = change(&current.value).map_err(UpdateError::Rejected)? else {
                return Ok(current.value);
            };
            match self.replace(key, &next, &current.version).await {
                Ok(()) => return Ok(next),
                Err(RecordError::Conflict) => continue,
                Err(e) => return Err(UpdateError::Record(e)),
            }
        }
        Err(UpdateError::Record(RecordError::Conflict))
    }

    /// Deletes the record at `key` (gone already is fine).
    pub async fn delete(&self, key: &str) -> Result<(), RecordError> {
        match self.os().delete(&self.store.path(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(RecordError::Store(e.to_string())),
        }
    }

    /// Keys (relative to the store's prefix) of every object under `dir`.
    pub async fn list(&self, dir: &str) -> Result<Vec<String>, RecordError> {
        use futures::TryStreamExt;
        let prefix = self.store.path(dir);
        let metas: Vec<_> = self
            .os()
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(|e| RecordError::Store(e.to_string()))?;
        let root = self.store.path("");
        let root = root.as_ref();
        Ok(metas
            .into_iter()
            .map(|m| {
                let full = m.location.as_ref();
                full.strip_prefix(root)
                    .map(|s| s.trim_start_matches('/'))
                    .unwrap_or(full)
                    .to_string()
            })
            .collect())
    }

    /// Deletes every object under `dir`.
    pub async fn delete_dir(&self, dir: &str) -> Result<usize, RecordError> {
        let keys = self.list(dir).await?;
        for key in &keys {
            self.delete(key).await?;
        }
        Ok(keys.len())
    }

    /// The storage path of `key` (for streaming reads and writes).
    pub fn path(&self, key: &str) -> Path {
        self.store.path(key)
    }
}

/// Tries of [`Records::update`] before it gives up with a conflict.
const MAX_UPDATE_TRIES: usize = 32;

/// Why [`Records::update`] failed.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError<E> {
    /// Reading or writing the record failed.
    #[error(transparent)]
    Record(RecordError),
    /// The change refused the record as it is.
    #[error("refused")]
    Rejected(E),
}

fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    // Records are plain structs of strings, numbers and maps: serialising cannot fail.
    serde_json::to_vec_pretty(value).unwrap_or_default()
}

/// Compare-and-swap on a local directory store.
mod local {
    use std::io::Write;
    use std::os::unix::fs::MetadataExt;
    use std::path::{Path, PathBuf};

    use object_store::UpdateVersion;

    use super::RecordError;

    fn io(e: std::io::Error) -> RecordError {
        RecordError::Store(e.to_string())
    }

    /// The ETag `object_store`'s local store reports for a file (inode, mtime µs, size).
    fn e_tag(meta: &std::fs::Metadata) -> String {
        let mtime_us = meta.mtime() as i128 * 1_000_000 + i128::from(meta.mtime_nsec()) / 1000;
        format!("{:x}-{:x}-{:x}", meta.ino(), mtime_us, meta.size())
    }

    fn lock_path(file: &Path) -> PathBuf {
        let mut name = file.file_name().unwrap_or_default().to_os_string();
        name.push(".lock");
        file.with_file_name(name)
    }

    /// Holds an exclusive advisory lock on the record's lock file while alive.
    struct Locked(#[allow(dead_code)] std::fs::File);

    fn lock(file: &Path) -> Result<Locked, RecordError> {
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(lock_path(file))
            .map_err(io)?;
        // SAFETY: flock on a descriptor we own; it is released when the file closes.
        let rc = unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&f), libc::LOCK_EX) };
        if rc != 0 {
            return Err(io(std::io::Error::last_os_error()));
        }
        Ok(Locked(f))
    }

    fn write_atomically(file: &Path, body: &[u8]) -> Result<(), RecordError> {
        let dir = file.parent().unwrap_or(Path::new("."));
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
        tmp.write_all(body).map_err(io)?;
        tmp.as_file().sync_data().map_err(io)?;
        tmp.persist(file).map_err(|e| io(e.error))?;
        Ok(())
    }

    /// Reads a record and the version of exactly the bytes read (from the open file).
    pub async fn read(file: &Path) -> Result<(Vec<u8>, String), RecordError> {
        use std::io::Read;
        let file = file.to_path_buf();
        blocking(move || {
            let mut f = match std::fs::File::open(&file) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(RecordError::NotFound)
                }
                Err(e) => return Err(io(e)),
            };
            let meta = f.metadata().map_err(io)?;
            if !meta.is_file() {
                return Err(RecordError::NotFound);
            }
            let mut bytes = Vec::with_capacity(meta.len() as usize);
            f.read_to_end(&mut bytes).map_err(io)?;
            Ok((bytes, e_tag(&meta)))
        })
        .await
    }

    pub async fn create(file: &Path, body: &[u8]) -> Result<(), RecordError> {
        let (file, body) = (file.to_path_buf(), body.to_vec());
        blocking(move || {
            let _guard = lock(&file)?;
            if file.exists() {
                return Err(RecordError::Conflict);
            }
            write_atomically(&file, &body)
        })
        .await
    }

    pub async fn replace(
        file: &Path,
        body: &[u8],
        version: &UpdateVersion,
    ) -> Result<(), RecordError> {
        let (file, body, expected) = (file.to_path_buf(), body.to_vec(), version.e_tag.clone());
        blocking(move || {
            let _guard = lock(&file)?;
            let meta = match std::fs::metadata(&file) {
                Ok(m) => m,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(RecordError::Conflict)
                }
                Err(e) => return Err(io(e)),
            };
            if Some(e_tag(&meta)) != expected {
                return Err(RecordError::Conflict);
            }
            write_atomically(&file, &body)
        })
        .await
    }

    async fn blocking<T: Send + 'static>(
        f: impl FnOnce() -> Result<T, RecordError> + Send + 'static,
    ) -> Result<T, RecordError> {
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| RecordError::Store(e.to_string()))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Counter {
        n: u32,
    }

    async fn stores() -> Vec<(Records, Option<tempfile::TempDir>)> {
        let dir = tempfile::tempdir().unwrap();
        let local = Store::open(dir.path().to_str().unwrap()).unwrap();
        vec![
            (Records::new(Store::open("memory://").unwrap()), None),
            (Records::new(local), Some(dir)),
        ]
    }

    #[tokio::test]
    async fn a_write_over_a_newer_version_conflicts() {
        for (records, _dir) in stores().await {
            records.create("a/r.json", &Counter { n: 1 }).await.unwrap();
            assert!(matches!(
                records.create("a/r.json", &Counter { n: 9 }).await,
                Err(RecordError::Conflict)
            ));
            let first: Versioned<Counter> = records.get("a/r.json").await.unwrap();
            records
                .replace("a/r.json", &Counter { n: 2 }, &first.version)
                .await
                .unwrap();
            assert!(matches!(
                records
                    .replace("a/r.json", &Counter { n: 3 }, &first.version)
                    .await,
                Err(RecordError::Conflict)
            ));
            let now: Versioned<Counter> = records.get("a/r.json").await.unwrap();
            assert_eq!(now.value, Counter { n: 2 });
        }
    }

    #[tokio::test]
    async fn concurrent_updates_all_land() {
        for (records, _dir) in stores().await {
            records.create("c.json", &Counter { n: 0 }).await.unwrap();
            let mut tasks = Vec::new();
            for _ in 0..8 {
                let r = records.clone();
                tasks.push(tokio::spawn(async move {
                    for _ in 0..5 {
                        r.update::<Counter, (), _>("c.json", |c| Ok(Some(Counter { n: c.n + 1 })))
                            .await
                            .unwrap();
                    }
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
            let done: Versioned<Counter> = records.get("c.json").await.unwrap();
            assert_eq!(done.value.n, 40);
        }
    }
}
