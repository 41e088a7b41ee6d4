//! Byte-range mode: a whole track file at one URL, read by `Range`. The ranges the byte-range
//! playlists name (the init section, whole segments) are served from the same caches as the
//! CMAF segments they equal; any other range (the whole file without `Range` included) is
//! one storage read, cached by track version and range like a segment, so repeating it costs
//! no further read.

use std::ops::Range;
use std::sync::Arc;

use sunomi_packager::route::{Route, TrackRef};

use super::cache::segments::Segments;
use super::catalog::Catalog;
use super::{CacheKey, Object, RequestFlags};
use crate::error::EdgeError;
use crate::net::http::{self, RangeRequest};

/// Largest response this edge builds in memory for one track-file request. Players of
/// byte-range playlists ask for ranges; a client asking for a larger file whole is told to.
const MAX_RESPONSE_BYTES: u64 = 64 * 1024 * 1024;

/// Whole track files served by byte range, assembled from cached segments.
pub(in crate::media) struct TrackFiles<'m> {
    /// What storage holds.
    pub catalog: &'m Catalog,
    /// The cache tiers segments come through.
    pub segments: &'m Arc<Segments>,
}

impl TrackFiles<'_> {
    /// Track file `track` of video `id`, whole or the range the request asks.
    pub(super) async fn track_file(
        &self,
        id: &str,
        track: &TrackRef,
        flags: &RequestFlags,
    ) -> Result<Object, EdgeError> {
        let manifest = self.catalog.manifest(id).await?;
        let path = Catalog::track_path(&manifest, track)?;
        let (head, head_outcome) = self.catalog.head_with_outcome(id, path).await?;
        let total = head
            .index
            .fragments
            .last()
            .map_or(head.index.init.end, |f| f.offset + u64::from(f.size));
        let etag = http::etag(&[head.version.as_bytes(), b"track"]);
        // Under an If-Range that no longer matches, the Range is ignored (200, whole file).
        let range_header = flags
            .range
            .as_deref()
            .filter(|_| http::range_applies(flags.if_range.as_deref(), &etag));
        let range = match http::parse_range(range_header, total) {
            RangeRequest::Full => 0..total,
            RangeRequest::Partial(r) => r,
            RangeRequest::Unsatisfiable => {
                return Err(EdgeError::RangeNotSatisfiable { length: total })
            }
        };
        if range.end - range.start > MAX_RESPONSE_BYTES {
            return Err(EdgeError::BadRequest(format!(
                "track files are read by byte range (at most {MAX_RESPONSE_BYTES} bytes at once); this one has {total}"
            )));
        }
        let (body, cache) = if range.end <= head.init.len() as u64 {
            let r = range.start as usize..range.end as usize;
            (head.init.slice(r), head_outcome)
        } else if let Some(number) = self.segment_at(&manifest, id, &head.index, &range).await? {
            let route = Route::Segment {
                id: id.to_string(),
                track: track.clone(),
                number,
            };
            let obj = self
                .segments
                .segment(&route, id, track, number, flags)
                .await?;
            (obj.body, obj.cache)
        } else {
            let key = CacheKey::track_range(id, path, &head.version, range.clone());
            let read = async {
                Ok(self
                    .segments
                    .reader()
                    .read_range(id, path, range.clone(), &head.version)
                    .await?)
            };
            self.segments.cached(key, read).await?
        };
        Ok(Object {
            body,
            gzip: None,
            etag,
            immutable: true,
            cache,
            content_range: (range.start != 0 || range.end != total).then_some((range, total)),
            private: false,
            media_ms: 0,
            streamed: None,
        })
    }

    /// The number of the segment whose bytes are exactly `range`, if one is.
    async fn segment_at(
        &self,
        manifest: &sunomi_packager::manifest::Manifest,
        id: &str,
        index: &sunomi_packager::track::TrackIndex,
        range: &Range<u64>,
    ) -> Result<Option<u64>, EdgeError> {
        let Ok(first) = index
            .fragments
            .binary_search_by_key(&range.start, |f| f.offset)
        else {
            return Ok(None);
        };
        let timeline = self.catalog.timeline(id, manifest).await?;
        let k = timeline.k;
        if first % k as usize != 0 {
            return Ok(None);
        }
        let number = (first / k as usize) as u64;
        Ok(timeline
            .segment(index, number)
            .ok()
            .filter(|s| s.bytes == *range)
            .map(|_| number))
    }
}
