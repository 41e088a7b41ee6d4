//! What a picture is drawn from — its rendition's entry in the manifest and the head of its
//! track (index and init segment) — kept between pictures by the track version the edge
//! planned against, so a cold picture costs one storage read (its fragments), not three.
//!
//! An entry is keyed by video, rendition name and track version, and a version names one
//! file's bytes: a rewritten track has another version, so nothing here is invalidated by
//! time. What a key cannot prove — that the manifest still points at that file (a later
//! transcode may write the same bytes elsewhere and remove the old folder) — the fragment
//! read proves: it names the file and its version, and when it finds neither the caller
//! drops the entry and reads both again ([`Sources::forget`]). Concurrent misses of one key
//! share one read. Entries are bounded by their bytes ([`MAX_SOURCE_BYTES`]) and leave after
//! [`SOURCE_IDLE`] unused.

use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;
use sunomi_packager::edit::presentation_offset;
use sunomi_packager::manifest::Rendition;

use super::PictureError;
use crate::reader::{MediaReader, TrackHead};

/// Most bytes of heads and manifest entries kept.
pub const MAX_SOURCE_BYTES: u64 = 64 << 20;

/// How long an unused entry stays.
pub const SOURCE_IDLE: Duration = Duration::from_secs(600);

/// A picture's source: the rendition named in the manifest, the video's duration, the track's
/// head.
#[derive(Debug)]
pub struct Source {
    /// The rendition (or picture track) the picture is drawn from.
    pub rendition: Rendition,
    /// The video's duration in milliseconds (a storyboard spreads its tiles over it).
    pub duration_ms: u64,
    /// The track's index and init segment, at [`TrackHead::version`].
    pub head: TrackHead,
    /// The track's presentation offset (its edit list), in its timescale.
    pub offset: u64,
}

impl Source {
    /// Bytes this entry holds, roughly (what the cache is bounded by).
    fn weight(&self) -> u32 {
        let fragments = std::mem::size_of_val(self.head.index.fragments.as_slice());
        let bytes = self.head.head.len()
            + fragments
            + self.rendition.keyframe_ends.len() * 4
            + self.rendition.path.len()
            + 256;
        u32::try_from(bytes).unwrap_or(u32::MAX)
    }
}

/// (video, rendition name, track version).
type Key = (String, String, String);

/// Sources by track version (see the module's doc).
pub struct Sources {
    cache: Cache<Key, Arc<Source>>,
}

impl Default for Sources {
    fn default() -> Self {
        Sources::new(MAX_SOURCE_BYTES)
    }
}

impl Sources {
    /// Sources bounded to about `max_bytes`.
    pub fn new(max_bytes: u64) -> Sources {
        Sources {
            cache: Cache::builder()
                .max_capacity(max_bytes)
                .weigher(|_, source: &Arc<Source>| source.weight())
                .time_to_idle(SOURCE_IDLE)
                .build(),
        }
    }

    /// The source of rendition `name` of video `id` at track `version`, and whether it was
    /// read just now (`true`) or kept from an earlier picture. Without a version nothing is
    /// kept: the source is read, and is whatever version storage holds.
    pub async fn get(
        &self,
        reader: &MediaReader,
        id: &str,
        name: &str,
        version: Option<&str>,
    ) -> Result<(Arc<Source>, bool), PictureError> {
        let Some(version) = version else {
            return Ok((Arc::new(read(reader, id, name, None).await?), true));
        };
        let key = (id.to_owned(), name.to_owned(), version.to_owned());
        let entry = self
            .cache
            .entry(key)
            .or_try_insert_with(async { read(reader, id, name, Some(version)).await.map(Arc::new) })
            .await
            .map_err(|e| (*e).clone())?;
        let fresh = entry.is_fresh();
        Ok((entry.into_value(), fresh))
    }

    /// Drops the entry for rendition `name` of video `id` at `version` (a read of its track
    /// found the file gone or changed).
    pub async fn forget(&self, id: &str, name: &str, version: &str) {
        self.cache
            .invalidate(&(id.to_owned(), name.to_owned(), version.to_owned()))
            .await;
    }
}

/// Reads the manifest and the track head of rendition `name`; the head must be `version`
/// when one is given.
async fn read(
    reader: &MediaReader,
    id: &str,
    name: &str,
    version: Option<&str>,
) -> Result<Source, PictureError> {
    let manifest = reader.manifest(id).await?;
    let rendition = manifest
        .picture_source(name)
        .ok_or_else(|| PictureError::NotFound(format!("no rendition {name}")))?
        .clone();
    let head = reader.track_head(id, &rendition.path).await?;
    if version.is_some_and(|v| v != head.version) {
        return Err(PictureError::Changed(format!(
            "{} is at another version",
            rendition.path
        )));
    }
    let offset =
        presentation_offset(&head.init).map_err(|e| PictureError::Corrupt(e.to_string()))?;
    Ok(Source {
        rendition,
        duration_ms: (manifest.duration_secs.max(0.0) * 1000.0) as u64,
        head,
        offset,
    })
}
