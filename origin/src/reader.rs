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
use sunomi_packager::track::{scan_track_head, HeadScan, TrackIndex, HEAD_READ_HINT};
use sunomi_packager::{names, PackagerError};

use crate::layout;
use crate::store::Store;

/// Why a read failed, in the terms the edge answers with.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The object does not exist (404).
    #[error("not found: {0}")]
    NotFound(String),
    /// Storage could not be reached or failed (503).
    #[error("storage unavailable reading {key}: {source}")]
    Unavailable {
        /// The key being read.
        key: String,
        /// The store's error.
        #[source]
        source: object_store::Error,
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

/// Reads `range` of a local file by mapping it: the bytes are served straight from the page
/// cache (no copy into a user buffer, none of `object_store`'s buffer zeroing). Local stores
/// replace files by renaming new ones into place, so a mapped file is never truncated under us.
fn read_file_range(
    path: &std::path::Path,
    range: Range<u64>,
) -> Result<Bytes, object_store::Error> {
    let io_err = |source: std::io::Error| {
        if source.kind() == std::io::ErrorKind::NotFound {
            object_store::Error::NotFound {
                path: path.display().to_string(),
                source: Box::new(source),
            }
        } else {
            object_store::Error::Generic {
                store: "local",
                source: Box::new(source),
            }
        }
    };
    let file = std::fs::File::open(path).map_err(io_err)?;
    let len = file.metadata().map_err(io_err)?.len();
    // A range past the end gives the bytes that exist; the caller's length check turns that
    // into "corrupt" (the index promised more than the file holds).
    let range = range.start.min(len)..range.end.min(len);
    if range.start >= range.end {
        return Ok(Bytes::new());
    }
    // SAFETY: the mapping is read-only and the file is never modified in place (writers
    // rename a new file over it), so the bytes stay valid for the mapping's lifetime.
    let map = unsafe {
        memmap2::MmapOptions::new()
            .offset(0)
            .len(len as usize)
            .map(&file)
    }
    .map_err(io_err)?;
    let _ = map.advise_range(
        memmap2::Advice::Sequential,
        range.start as usize,
        (range.end - range.start) as usize,
    );
    Ok(Bytes::from_owner(map).slice(range.start as usize..range.end as usize))
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
#[derive(Clone)]
pub struct MediaReader {
    store: Store,
    observer: Option<Arc<dyn ReadObserver>>,
}

impl MediaReader {
    /// A reader over `store` that reports nothing.
    pub fn new(store: Store) -> Self {
        MediaReader {
            store,
            observer: None,
        }
    }

    /// Reports every storage request to `observer`.
    pub fn with_observer(mut self, observer: Arc<dyn ReadObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The store read from.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Runs one storage request, reports it to the observer and classifies its failure.
    /// `len` tells how many bytes a successful answer carried.
    async fn request<T>(
        &self,
        key: &str,
        request: impl Future<Output = Result<T, object_store::Error>>,
        len: impl Fn(&T) -> usize,
    ) -> Result<T, ReadError> {
        let started = Instant::now();
        let result = request.await;
        if let Some(o) = &self.observer {
            o.observe(ReadEvent {
                bytes: result.as_ref().map_or(0, |v| len(v) as u64),
                elapsed: started.elapsed(),
                // A missing object is an answer, not a storage failure.
                ok: !matches!(&result, Err(e) if !matches!(e, object_store::Error::NotFound { .. })),
            });
        }
        result.map_err(|e| match e {
            object_store::Error::NotFound { .. } => ReadError::NotFound(key.to_string()),
            other => ReadError::Unavailable {
                key: key.to_string(),
                source: other,
            },
        })
    }

    async fn get_all(&self, key: &str) -> Result<Bytes, ReadError> {
        let path = self.store.path(key);
        let os = self.store.object_store();
        self.request(
            key,
            async { os.get(&path).await?.bytes().await },
            Bytes::len,
        )
        .await
    }

    async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes, ReadError> {
        if let Some(file) = self.store.local_file(key) {
            let read = async move {
                tokio::task::spawn_blocking(move || read_file_range(&file, range))
                    .await
                    .map_err(|e| object_store::Error::Generic {
                        store: "local",
                        source: Box::new(e),
                    })?
            };
            return self.request(key, read, Bytes::len).await;
        }
        let path = self.store.path(key);
        let os = self.store.object_store();
        self.request(key, os.get_range(&path, range), Bytes::len)
            .await
    }

    /// The manifest of video `id`. Invalid ids are refused before any request is made.
    pub async fn manifest(&self, id: &str) -> Result<Manifest, ReadError> {
        if !names::is_valid_video_id(id) {
            return Err(ReadError::NotFound(format!("invalid video id {id:?}")));
        }
        let key = layout::video_key(id, layout::MANIFEST);
        let bytes = self.get_all(&key).await?;
        Manifest::from_json(&bytes).map_err(|source| ReadError::Corrupt { key, source })
    }

    /// The head of the track file at `relative` (a path from the manifest) of video `id`.
    pub async fn track_head(&self, id: &str, relative: &str) -> Result<TrackHead, ReadError> {
        let key = self.track_key(id, relative)?;
        let corrupt = |source| ReadError::Corrupt {
            key: key.clone(),
            source,
        };
        let (mut head, version) = self.read_prefix(&key, HEAD_READ_HINT).await?;
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
                    head = self.read_prefix(&key, at_least).await?.0;
                    if (head.len() as u64) < at_least {
                        return Err(corrupt(PackagerError::MissingBox("sidx")));
                    }
                }
            }
        }
    }

    /// The first `len` bytes of an object (or all of it when it is shorter) and its version.
    async fn read_prefix(&self, key: &str, len: u64) -> Result<(Bytes, String), ReadError> {
        let path = self.store.path(key);
        let os = self.store.object_store();
        let opts = object_store::GetOptions {
            range: Some(object_store::GetRange::Bounded(0..len)),
            ..Default::default()
        };
        let read = async {
            let got = os.get_opts(&path, opts).await?;
            let meta = &got.meta;
            let version = meta.e_tag.clone().unwrap_or_else(|| {
                format!("{}-{}", meta.last_modified.timestamp_micros(), meta.size)
            });
            Ok((got.bytes().await?, version))
        };
        self.request(key, read, |(b, _)| b.len()).await
    }

    /// Bytes `range` of the track file at `relative` of video `id`: one storage request.
    pub async fn read_range(
        &self,
        id: &str,
        relative: &str,
        range: Range<u64>,
    ) -> Result<Bytes, ReadError> {
        let key = self.track_key(id, relative)?;
        let expected = range.end - range.start;
        let bytes = self.get_range(&key, range).await?;
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
        let list = async {
            use futures::TryStreamExt;
            os.list(Some(&prefix)).try_collect::<Vec<_>>().await
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

    /// The subtitle file of video `id` in `lang`, whole.
    pub async fn subtitles(&self, id: &str, lang: &str) -> Result<Bytes, ReadError> {
        if !names::is_valid_video_id(id) || !names::is_valid_audio_track(lang) {
            return Err(ReadError::NotFound(format!(
                "invalid subtitle {id:?}/{lang:?}"
            )));
        }
        self.get_all(&layout::video_key(id, &layout::subtitle_path(lang)))
            .await
    }

    /// Checks that storage answers (a metadata request for a key that need not exist).
    pub async fn probe(&self) -> Result<(), ReadError> {
        let key = format!("{}/.probe", layout::VIDEOS);
        let path = self.store.path(&key);
        let os = self.store.object_store();
        match self.request(&key, os.head(&path), |_| 0).await {
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
            .block_on(reader.read_range("v", "video/360p.mp4", 100..4100))
            .unwrap();
        assert_eq!(&got[..], &data[100..4100]);
        assert!(matches!(
            rt.block_on(reader.read_range("v", "video/360p.mp4", 9_000..11_000)),
            Err(ReadError::Corrupt { .. })
        ));
        assert!(matches!(
            rt.block_on(reader.read_range("v", "video/720p.mp4", 0..10)),
            Err(ReadError::NotFound(_))
        ));
        assert!(matches!(
            rt.block_on(reader.read_range("v", "../etc/passwd", 0..10)),
            Err(ReadError::NotFound(_))
        ));
    }
}
