//! The reader API the edge uses: a video's manifest, a track's head, a byte range of a track.
//!
//! Every call is one storage request (a track head may need a second when its `sidx` is
//! larger than the first read), and every request is reported to a [`ReadObserver`] so the
//! edge can count storage reads, bytes and latency.

use std::future::Future;
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use object_store::ObjectStoreExt;
use sunomi_packager::manifest::Manifest;
use sunomi_packager::playback::PlaybackRecord;
use sunomi_packager::track::{scan_track_head, HeadScan, TrackIndex, HEAD_READ_HINT};
use sunomi_packager::{names, PackagerError};
use tokio::sync::Semaphore;

use crate::layout;
use crate::local::{self, Extent};
use crate::store::Store;

/// Why a read failed, in the terms the edge answers with.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The object does not exist (404).
    #[error("not found: {0}")]
    NotFound(String),
    /// Storage could not be reached, failed, timed out or is too busy (503).
    #[error("storage unavailable reading {key}: {source}")]
    Unavailable {
        /// The key being read.
        key: String,
        /// The store's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The object exists but is not what the layout promises (500).
    #[error("corrupt object {key}: {source}")]
    Corrupt {
        /// The key being read.
        key: String,
        /// What the packager found wrong.
        #[source]
        source: PackagerError,
    },
    /// The object is no longer the version the read was planned against (replaced or
    /// truncated since its head was read): re-read the head and plan again.
    #[error("object {key} changed since it was indexed")]
    Changed {
        /// The key being read.
        key: String,
    },
}

/// One storage request, as reported to a [`ReadObserver`].
#[derive(Debug, Clone, Copy)]
pub struct ReadEvent {
    /// Bytes received (0 on failure).
    pub bytes: u64,
    /// Time the request took.
    pub elapsed: Duration,
    /// Whether it succeeded.
    pub ok: bool,
}

/// Receives every storage request the reader makes (metrics live in the edge).
pub trait ReadObserver: Send + Sync {
    /// Called once per storage request, after it completes.
    fn observe(&self, event: ReadEvent);
}

/// Largest manifest or subtitle file read whole (bounded memory per request).
pub const MAX_WHOLE_OBJECT_BYTES: u64 = 16 * 1024 * 1024;

/// A failure of one storage request, before it is named by key.
enum Failure {
    NotFound,
    Unavailable(Box<dyn std::error::Error + Send + Sync>),
    Corrupt(String),
    Changed,
}

impl From<object_store::Error> for Failure {
    fn from(e: object_store::Error) -> Self {
        match e {
            object_store::Error::NotFound { .. } => Failure::NotFound,
            object_store::Error::Precondition { .. } => Failure::Changed,
            other => Failure::Unavailable(Box::new(other)),
        }
    }
}

impl From<local::LocalError> for Failure {
    fn from(e: local::LocalError) -> Self {
        use local::LocalError as L;
        match e {
            L::NotFound => Failure::NotFound,
            L::Changed { .. } => Failure::Changed,
            e @ (L::NotRegular | L::TooLarge { .. } | L::Short { .. }) => {
                Failure::Corrupt(e.to_string())
            }
            e @ (L::StoreMissing(_) | L::Io(_)) => Failure::Unavailable(Box::new(e)),
        }
    }
}

/// The version string of a remote object: its entity tag, else modification time and size.
fn remote_version(meta: &object_store::ObjectMeta) -> String {
    meta.e_tag
        .clone()
        .unwrap_or_else(|| format!("{}-{}", meta.last_modified.timestamp_micros(), meta.size))
}

/// A track's head: its index and the init segment bytes.
#[derive(Debug, Clone)]
pub struct TrackHead {
    /// Where every fragment is, codec, timescale.
    pub index: TrackIndex,
    /// The init segment (`ftyp` + `moov`), sliced from the head read.
    pub init: Bytes,
    /// The stored object's version (its entity tag, or modification time and size): changes
    /// whenever the file is rewritten, so caches can key derived objects by it.
    pub version: String,
    /// The bytes the index was parsed from (file start to the first fragment), kept so the
    /// head can be shared (see [`TrackHead::to_shared`]) without another storage read.
    pub head: Bytes,
}

impl TrackHead {
    /// Parses a complete head (`ftyp` + `moov` + `sidx`, from the start of the file).
    pub fn parse(head: Bytes, version: String) -> Result<TrackHead, PackagerError> {
        match scan_track_head(&head)? {
            HeadScan::Complete(index) => Self::from_index(index, head, version),
            HeadScan::NeedMore { .. } => Err(PackagerError::MissingBox("sidx")),
        }
    }

    fn from_index(
        index: TrackIndex,
        head: Bytes,
        version: String,
    ) -> Result<TrackHead, PackagerError> {
        let init_end = usize::try_from(index.init.end).unwrap_or(usize::MAX);
        if init_end > head.len() {
            return Err(PackagerError::MissingBox("moov"));
        }
        let head_end = index
            .fragments
            .first()
            .and_then(|f| usize::try_from(f.offset).ok())
            .unwrap_or(head.len())
            .clamp(init_end, head.len());
        Ok(TrackHead {
            init: head.slice(0..init_end),
            head: head.slice(0..head_end),
            index,
            version,
        })
    }

    /// The head as bytes another process can [`TrackHead::from_shared`] without storage:
    /// `u16` big-endian version length, version, head bytes.
    pub fn to_shared(&self) -> Vec<u8> {
        let version = self.version.as_bytes();
        let len = u16::try_from(version.len()).unwrap_or(0);
        let mut out = Vec::with_capacity(2 + len as usize + self.head.len());
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&version[..len as usize]);
        out.extend_from_slice(&self.head);
        out
    }

    /// Reads what [`TrackHead::to_shared`] wrote; any damage is an error, never a panic.
    pub fn from_shared(bytes: Bytes) -> Result<TrackHead, PackagerError> {
        let damaged = || PackagerError::Unsupported("damaged shared track head".into());
        let len_bytes: [u8; 2] = bytes
            .get(..2)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(damaged)?;
        let end = 2 + u16::from_be_bytes(len_bytes) as usize;
        let version = bytes.get(2..end).ok_or_else(damaged)?;
        let version = std::str::from_utf8(version)
            .map_err(|_| damaged())?
            .to_owned();
        Self::parse(bytes.slice(end..), version)
    }
}

/// Reads videos from a [`Store`].
///
/// Every request holds one of a bounded number of slots (`with_concurrency`): a flood of
/// distinct cold objects queues briefly and then gets "storage busy" instead of opening
/// unbounded connections or file reads. Every byte-range read names the object version it
/// was planned against ([`TrackHead::version`]) and fails with [`ReadError::Changed`] if the
/// object is no longer that version.
#[derive(Clone)]
pub struct MediaReader {
    store: Store,
    observer: Option<Arc<dyn ReadObserver>>,
    slots: Arc<Semaphore>,
    slot_wait: Duration,
}

/// Storage requests in flight at once per reader, by default.
pub const DEFAULT_CONCURRENCY: usize = 64;

impl MediaReader {
    /// A reader over `store` that reports nothing.
    pub fn new(store: Store) -> Self {
        MediaReader {
            store,
            observer: None,
            slots: Arc::new(Semaphore::new(DEFAULT_CONCURRENCY)),
            slot_wait: Duration::from_secs(2),
        }
    }

    /// Reports every storage request to `observer`.
    pub fn with_observer(mut self, observer: Arc<dyn ReadObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// At most `requests` storage requests in flight; a request that waits longer than
    /// `wait` for a slot fails as unavailable ("storage busy").
    pub fn with_concurrency(mut self, requests: usize, wait: Duration) -> Self {
        self.slots = Arc::new(Semaphore::new(requests.max(1)));
        self.slot_wait = wait;
        self
    }

    /// The store read from.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Runs one storage request in a slot, under the store's request timeout, reports it to
    /// the observer and names its failure by `key`. `len` tells how many bytes a successful
    /// answer carried.
    async fn request<T>(
        &self,
        key: &str,
        request: impl Future<Output = Result<T, Failure>>,
        len: impl Fn(&T) -> usize,
    ) -> Result<T, ReadError> {
        let unavailable = |why: &str| ReadError::Unavailable {
            key: key.to_string(),
            source: why.into(),
        };
        let _slot = match tokio::time::timeout(self.slot_wait, self.slots.acquire()).await {
            Ok(Ok(permit)) => permit,
            _ => return Err(unavailable("storage busy: too many reads in flight")),
        };
        let started = Instant::now();
        let result = match tokio::time::timeout(self.store.request_timeout(), request).await {
            Ok(r) => r,
            Err(_) => Err(Failure::Unavailable("timed out".into())),
        };
        if let Some(o) = &self.observer {
            o.observe(ReadEvent {
                bytes: result.as_ref().map_or(0, |v| len(v) as u64),
                elapsed: started.elapsed(),
                // A missing or changed object is an answer, not a storage failure.
                ok: !matches!(&result, Err(Failure::Unavailable(_) | Failure::Corrupt(_))),
            });
        }
        result.map_err(|f| match f {
            Failure::NotFound => ReadError::NotFound(key.to_string()),
            Failure::Changed => ReadError::Changed {
                key: key.to_string(),
            },
            Failure::Unavailable(source) => ReadError::Unavailable {
                key: key.to_string(),
                source,
            },
            Failure::Corrupt(why) => ReadError::Corrupt {
                key: key.to_string(),
                source: PackagerError::Unsupported(why),
            },
        })
    }

    /// Reads `extent` of the object at `key` (expected to be version `expect`, if given) and
    /// returns the bytes with the object's version.
    async fn read(
        &self,
        key: &str,
        extent: Extent,
        expect: Option<&str>,
    ) -> Result<(Bytes, String), ReadError> {
        if let (Some(file), Some(root)) = (self.store.local_file(key), self.store.local_root()) {
            let root = root.to_path_buf();
            let expect = expect.map(str::to_owned);
            let read = async move {
                tokio::task::spawn_blocking(move || {
                    local::read(&root, &file, extent, expect.as_deref())
                })
                .await
                .map_err(|e| Failure::Unavailable(Box::new(e)))?
                .map_err(Failure::from)
            };
            return self.request(key, read, |(b, _)| b.len()).await;
        }
        let path = self.store.path(key);
        let os = self.store.object_store();
        let range = match &extent {
            Extent::Whole { .. } => None,
            Extent::Prefix(len) => Some(object_store::GetRange::Bounded(0..*len)),
            Extent::Range(r) => Some(object_store::GetRange::Bounded(r.clone())),
        };
        let opts = object_store::GetOptions {
            range,
            if_match: expect.map(str::to_owned),
            ..Default::default()
        };
        let read = async {
            let got = os.get_opts(&path, opts).await?;
            if let Extent::Whole { max } = extent {
                if got.meta.size > max {
                    return Err(Failure::Corrupt(format!(
                        "object of {} bytes is larger than {max}",
                        got.meta.size
                    )));
                }
            }
            let version = remote_version(&got.meta);
            Ok((got.bytes().await?, version))
        };
        self.request(key, read, |(b, _)| b.len()).await
    }

    /// The manifest of video `id`. Invalid ids are refused before any request is made.
    pub async fn manifest(&self, id: &str) -> Result<Manifest, ReadError> {
        if !names::is_valid_video_id(id) {
            return Err(ReadError::NotFound(format!("invalid video id {id:?}")));
        }
        let key = layout::video_key(id, layout::MANIFEST);
        let extent = Extent::Whole {
            max: MAX_WHOLE_OBJECT_BYTES,
        };
        let (bytes, _) = self.read(&key, extent, None).await?;
        Manifest::from_json(&bytes).map_err(|source| ReadError::Corrupt { key, source })
    }

    /// The record of playback id `id` (`playback/{id}.json`); `None` when there is none (the
    /// id may then be a video id: videos published without the control plane are their own
    /// public playback ids).
    pub async fn playback(&self, id: &str) -> Result<Option<PlaybackRecord>, ReadError> {
        if !names::is_valid_video_id(id) {
            return Ok(None);
        }
        let key = layout::playback_record(id);
        let extent = Extent::Whole {
            max: MAX_WHOLE_OBJECT_BYTES,
        };
        let bytes = match self.read(&key, extent, None).await {
            Ok((bytes, _)) => bytes,
            Err(ReadError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        let record = PlaybackRecord::from_json(&bytes)
            .map_err(|source| ReadError::Corrupt { key, source })?;
        if record.id != id {
            return Ok(None);
        }
        Ok(Some(record))
    }

    /// The public key `kid` that signs playback tokens (PEM), if there is one.
    pub async fn signing_key(&self, kid: &str) -> Result<Option<Bytes>, ReadError> {
        if kid.is_empty() || !kid.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Ok(None);
        }
        let extent = Extent::Whole { max: 64 * 1024 };
        match self.read(&layout::signing_key(kid), extent, None).await {
            Ok((bytes, _)) => Ok(Some(bytes)),
            Err(ReadError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The head of the track file at `relative` (a path from the manifest) of video `id`.
    pub async fn track_head(&self, id: &str, relative: &str) -> Result<TrackHead, ReadError> {
        let key = self.track_key(id, relative)?;
        let corrupt = |source| ReadError::Corrupt {
            key: key.clone(),
            source,
        };
        let (mut head, version) = self
            .read(&key, Extent::Prefix(HEAD_READ_HINT), None)
            .await?;
        loop {
            match scan_track_head(&head).map_err(corrupt)? {
                HeadScan::Complete(index) => {
                    return TrackHead::from_index(index, head, version).map_err(corrupt);
                }
                HeadScan::NeedMore { at_least } => {
                    if at_least <= head.len() as u64 {
                        // The object ended before the head did.
                        return Err(corrupt(PackagerError::MissingBox("sidx")));
                    }
                    // The same version as the first read, or the head would mix two files.
                    head = self
                        .read(&key, Extent::Prefix(at_least), Some(&version))
                        .await?
                        .0;
                    if (head.len() as u64) < at_least {
                        return Err(corrupt(PackagerError::MissingBox("sidx")));
                    }
                }
            }
        }
    }

    /// Bytes `range` of the track file at `relative` of video `id`, which must still be
    /// `version` (the [`TrackHead::version`] the range was planned from): one storage request.
    pub async fn read_range(
        &self,
        id: &str,
        relative: &str,
        range: Range<u64>,
        version: &str,
    ) -> Result<Bytes, ReadError> {
        let key = self.track_key(id, relative)?;
        let expected = range.end.saturating_sub(range.start);
        let (bytes, _) = self.read(&key, Extent::Range(range), Some(version)).await?;
        if bytes.len() as u64 != expected {
            return Err(ReadError::Corrupt {
                key,
                source: PackagerError::Unsupported(format!(
                    "short read: {} of {expected} bytes",
                    bytes.len()
                )),
            });
        }
        Ok(bytes)
    }

    /// The languages of video `id`'s subtitle files (`subs/{lang}.vtt`), sorted. Files whose
    /// name is not a language code are ignored.
    pub async fn subtitle_languages(&self, id: &str) -> Result<Vec<String>, ReadError> {
        if !names::is_valid_video_id(id) {
            return Err(ReadError::NotFound(format!("invalid video id {id:?}")));
        }
        let dir = layout::video_key(id, layout::SUBS_DIR);
        let prefix = self.store.path(&dir);
        let os = self.store.object_store();
        let root = self.store.local_root().map(std::path::Path::to_path_buf);
        let list = async {
            use futures::TryStreamExt;
            if let Some(root) = &root {
                local::root_present(root)?;
            }
            Ok(os.list(Some(&prefix)).try_collect::<Vec<_>>().await?)
        };
        let objects = self.request(&dir, list, Vec::len).await?;
        let mut langs: Vec<String> = objects
            .iter()
            .filter_map(|o| o.location.filename())
            .filter_map(|f| f.strip_suffix(".vtt"))
            .filter(|l| names::is_valid_audio_track(l))
            .map(str::to_owned)
            .collect();
        langs.sort();
        langs.dedup();
        Ok(langs)
    }

    /// The subtitle file of video `id` in `lang`, whole (at most
    /// [`MAX_WHOLE_OBJECT_BYTES`]).
    pub async fn subtitles(&self, id: &str, lang: &str) -> Result<Bytes, ReadError> {
        if !names::is_valid_video_id(id) || !names::is_valid_audio_track(lang) {
            return Err(ReadError::NotFound(format!(
                "invalid subtitle {id:?}/{lang:?}"
            )));
        }
        let key = layout::video_key(id, &layout::subtitle_path(lang));
        let extent = Extent::Whole {
            max: MAX_WHOLE_OBJECT_BYTES,
        };
        Ok(self.read(&key, extent, None).await?.0)
    }

    /// Checks that storage answers: a local store's directory exists; a remote store answers
    /// a metadata request (for a key that need not exist).
    pub async fn probe(&self) -> Result<(), ReadError> {
        let key = format!("{}/.probe", layout::VIDEOS);
        if let Some(root) = self.store.local_root() {
            let root = root.to_path_buf();
            let check = async move { Ok(local::root_present(&root)?) };
            return self.request(&key, check, |_| 0).await;
        }
        let path = self.store.path(&key);
        let os = self.store.object_store();
        let head = async { Ok(os.head(&path).await?) };
        match self.request(&key, head, |_| 0).await {
            Ok(_) | Err(ReadError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn track_key(&self, id: &str, relative: &str) -> Result<String, ReadError> {
        if !names::is_valid_video_id(id) || !names::is_safe_relative_path(relative) {
            return Err(ReadError::NotFound(format!(
                "invalid key {id:?}/{relative:?}"
            )));
        }
        Ok(layout::video_key(id, relative))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::ObjectStoreExt;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn damaged_shared_heads_are_errors_not_panics() {
        for bytes in [
            &b""[..],
            b"\x00",
            b"\x00\x09short",
            b"\x00\x02\xff\xfe",
            b"\x00\x01vnot a head",
        ] {
            assert!(TrackHead::from_shared(Bytes::from_static(bytes)).is_err());
        }
    }

    #[test]
    fn local_ranges_are_exact_and_failures_are_classified() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().to_str().unwrap()).unwrap();
        std::fs::create_dir_all(dir.path().join("videos/v/video")).unwrap();
        let data: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
        std::fs::write(dir.path().join("videos/v/video/360p.mp4"), &data).unwrap();
        let reader = MediaReader::new(store);
        let rt = runtime();
        let got = rt
            .block_on(reader.track_head("v", "video/360p.mp4"))
            .map(|_| ())
            .unwrap_err();
        assert!(matches!(got, ReadError::Corrupt { .. }), "{got}");
        let version = local::version_of(
            &std::fs::metadata(dir.path().join("videos/v/video/360p.mp4")).unwrap(),
        );
        let got = rt
            .block_on(reader.read_range("v", "video/360p.mp4", 100..4100, &version))
            .unwrap();
        assert_eq!(&got[..], &data[100..4100]);
        assert!(matches!(
            rt.block_on(reader.read_range("v", "video/360p.mp4", 9_000..11_000, &version)),
            Err(ReadError::Corrupt { .. })
        ));
        assert!(matches!(
            rt.block_on(reader.read_range("v", "video/720p.mp4", 0..10, &version)),
            Err(ReadError::NotFound(_))
        ));
        assert!(matches!(
            rt.block_on(reader.read_range("v", "../etc/passwd", 0..10, &version)),
            Err(ReadError::NotFound(_))
        ));
    }

    #[test]
    fn remote_reads_check_the_version_they_were_planned_against() {
        let store = Store::open("memory://").unwrap();
        let reader = MediaReader::new(store.clone());
        let rt = runtime();
        let path = store.path("videos/v/video/360p.mp4");
        let os = store.object_store().clone();
        let put = rt.block_on(os.put(&path, vec![1u8; 1000].into())).unwrap();
        let version = put.e_tag.unwrap();
        let got = rt.block_on(reader.read_range("v", "video/360p.mp4", 10..20, &version));
        assert_eq!(got.unwrap().len(), 10);
        rt.block_on(os.put(&path, vec![2u8; 1000].into())).unwrap();
        assert!(matches!(
            rt.block_on(reader.read_range("v", "video/360p.mp4", 10..20, &version)),
            Err(ReadError::Changed { .. })
        ));
    }

    #[test]
    fn a_removed_store_directory_is_unavailable_not_missing_videos() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("store");
        let store = Store::open(root.to_str().unwrap()).unwrap();
        std::fs::create_dir_all(root.join("videos/v/video")).unwrap();
        std::fs::write(root.join("videos/v/video/360p.mp4"), b"").unwrap();
        let reader = MediaReader::new(store);
        let rt = runtime();
        // An empty track file is a bad object (500), not unavailable storage.
        assert!(matches!(
            rt.block_on(reader.track_head("v", "video/360p.mp4")),
            Err(ReadError::Corrupt { .. })
        ));
        assert!(matches!(
            rt.block_on(reader.manifest("x")),
            Err(ReadError::NotFound(_))
        ));
        assert!(rt.block_on(reader.probe()).is_ok());
        std::fs::remove_dir_all(&root).unwrap();
        assert!(matches!(
            rt.block_on(reader.manifest("x")),
            Err(ReadError::Unavailable { .. })
        ));
        assert!(matches!(
            rt.block_on(reader.subtitle_languages("x")),
            Err(ReadError::Unavailable { .. })
        ));
        assert!(rt.block_on(reader.probe()).is_err());
    }

    #[test]
    fn reads_beyond_the_concurrency_cap_are_refused_as_busy() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().to_str().unwrap()).unwrap();
        let reader = MediaReader::new(store).with_concurrency(1, Duration::from_millis(10));
        let rt = runtime();
        let held = reader.slots.clone();
        let _permit = rt.block_on(held.acquire()).unwrap();
        let got = rt.block_on(reader.manifest("x"));
        assert!(
            matches!(&got, Err(ReadError::Unavailable { source, .. }) if source.to_string().contains("busy")),
            "{got:?}"
        );
    }
}
