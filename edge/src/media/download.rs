//! Progressive MP4 downloads (`/v/{id}/download/{rendition}.mp4`, `…/audio.m4a`), made just
//! in time from the fMP4 tracks without re-encoding and streamed.
//!
//! - The plan (the file's `moov` and where each byte of its `mdat` lies in the track files)
//!   is made once per edge and track version from the tracks' `moof`s: one small ranged
//!   read per fragment, [`MOOF_READS_AT_ONCE`] at a time, never the sample bytes. It is kept
//!   in the metadata cache and purged with the video.
//! - The `mdat`'s bytes are the CMAF segments' own: each chunk is cut from the segment that
//!   holds it, fetched through the segment tiers (memory, owner edge, storage under the fill
//!   lock), so a download and the HLS/DASH players of the same video share one copy and
//!   storage still sees each segment once per fleet.
//! - A response holds at most one segment per track at a time ([`Streamed`]), whatever the
//!   file's length; `Range` requests read only the segments they cover.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use sunomi_packager::boxes;
use sunomi_packager::fragment::{parse_fragment, Fragment};
use sunomi_packager::progressive::{self, Brand, Piece, Progressive, TrackInput};
use sunomi_packager::route::{Download, Route, TrackRef};
use sunomi_packager::track::FragmentRef;

use super::cache::segments::Segments;
use super::catalog::{Catalog, Meta};
use super::{CacheKey, Object, RequestFlags};
use crate::error::EdgeError;
use crate::net::http;

/// `moof` reads in flight at once while planning a download.
const MOOF_READS_AT_ONCE: usize = 8;

/// Bytes read from the start of a fragment to find its `moof` (a 2 s fragment's is about
/// 1–2 KB); a larger `moof` is read again whole.
const MOOF_READ_HINT: u64 = 16 * 1024;

/// Most fragments a download is planned from (about 55 hours of 2 s fragments per track):
/// planning reads one `moof` per fragment.
const MAX_FRAGMENTS: usize = 200_000;

/// One fragment's `moof` read and parsed, with the `moof`'s offset in the track file.
type MoofRead<'a> = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<(u64, Fragment), EdgeError>> + Send + 'a>,
>;

/// A planned download: the file, and where its chunks' bytes are among the video's segments.
#[derive(Debug)]
pub(crate) struct DownloadPlan {
    file: Progressive,
    tracks: Vec<PlannedTrack>,
    etag: http::EntityTag,
}

impl DownloadPlan {
    /// Approximate bytes held, for the metadata cache's weigher.
    pub(crate) fn weight(&self) -> usize {
        256 + self.file.head.len()
            + self.file.chunks.len() * 48
            + self
                .tracks
                .iter()
                .map(|t| 64 + t.segments.len() * 16)
                .sum::<usize>()
    }
}

/// One track of a planned download.
#[derive(Debug)]
struct PlannedTrack {
    track: TrackRef,
    path: String,
    /// The track file's version the plan was made from.
    version: String,
    /// For each planned fragment: the number of the segment holding it and where that
    /// segment starts in the track file.
    segments: Vec<(u64, u64)>,
}

/// Progressive downloads: planned from the fragments' `moof`s, streamed from cached
/// segments.
pub(in crate::media) struct Downloads<'m> {
    /// What storage holds.
    pub catalog: &'m Catalog,
    /// The cache tiers segments come through.
    pub segments: &'m Arc<Segments>,
}

impl Downloads<'_> {
    /// The progressive download `file` of video `id`: its length, entity tag and a body
    /// that reads its bytes as they are sent.
    pub(super) async fn download(
        &self,
        route: &Route,
        id: &str,
        file: &Download,
    ) -> Result<Object, EdgeError> {
        let manifest = self.catalog.manifest(id).await?;
        let mut tracks = Vec::new();
        let default_audio = manifest
            .audio
            .first()
            .map(|a| TrackRef::Audio(a.name.clone()));
        let brand = match file {
            Download::Video(rendition) => {
                tracks.push(TrackRef::Video(rendition.clone()));
                tracks.extend(default_audio);
                Brand::Mp4
            }
            Download::Audio => {
                tracks.push(default_audio.ok_or_else(|| {
                    EdgeError::NotFound(format!("video {id} has no audio track"))
                })?);
                Brand::M4a
            }
        };
        let mut heads = Vec::with_capacity(tracks.len());
        let mut versions = String::new();
        for track in &tracks {
            let path = Catalog::track_path(&manifest, track)?;
            let head = self.catalog.head(id, path).await?;
            versions.push_str(&head.version);
            versions.push('|');
            heads.push((track.clone(), path.to_owned(), head));
        }
        let key = CacheKey::download(route, &versions);
        let (meta, cache) = self
            .catalog
            .cached_meta(key, move |_| async move {
                let plan = Box::pin(self.plan_download(id, &manifest, heads, brand)).await?;
                Ok(Meta::Download(Arc::new(plan)))
            })
            .await?;
        let Meta::Download(plan) = meta else {
            return Err(EdgeError::Internal("cache entry of the wrong kind".into()));
        };
        let len = plan.file.len;
        Ok(Object {
            body: Bytes::new(),
            gzip: None,
            etag: plan.etag.clone(),
            immutable: true,
            cache,
            content_range: None,
            private: false,
            media_ms: 0,
            streamed: Some(Streamed {
                segments: self.segments.clone(),
                id: id.to_owned(),
                plan,
                range: 0..len,
            }),
        })
    }

    /// Reads every planned fragment's `moof` and plans the file.
    async fn plan_download(
        &self,
        id: &str,
        manifest: &sunomi_packager::manifest::Manifest,
        heads: Vec<(TrackRef, String, Arc<sunomi_origin::TrackHead>)>,
        brand: Brand,
    ) -> Result<DownloadPlan, EdgeError> {
        let timeline = self.catalog.timeline(id, manifest).await?;
        let mut planned = Vec::with_capacity(heads.len());
        let mut fragments = Vec::with_capacity(heads.len());
        let mut total = 0usize;
        for (track, path, head) in &heads {
            // The fragments the video's segments hold, in order, with their segment.
            let mut wanted: Vec<(FragmentRef, (u64, u64))> = Vec::new();
            for seg in timeline.segments(&head.index) {
                for f in seg.fragments.clone() {
                    let Some(fragment) = head.index.fragments.get(f) else {
                        continue;
                    };
                    wanted.push((*fragment, (u64::from(seg.number), seg.bytes.start)));
                }
            }
            total += wanted.len();
            if total > MAX_FRAGMENTS {
                return Err(EdgeError::NotFound(format!(
                    "no download of video {id}: longer than {MAX_FRAGMENTS} fragments"
                )));
            }
            let default_duration = head.index.default_sample_duration;
            // Boxed with their type spelled out: a stream of closures' futures that borrow
            // would not be provably `Send` for every lifetime.
            let reads: Vec<MoofRead<'_>> = wanted
                .iter()
                .map(|(fragment, _)| -> MoofRead<'_> {
                    Box::pin(async move {
                        let moof = self.read_moof(id, path, &head.version, fragment).await?;
                        let parsed = parse_fragment(&moof, fragment.offset, default_duration)?;
                        Ok((fragment.offset, parsed))
                    })
                })
                .collect();
            let parsed: Vec<(u64, Fragment)> = futures::stream::iter(reads)
                .buffered(MOOF_READS_AT_ONCE)
                .try_collect()
                .await?;
            planned.push(PlannedTrack {
                track: track.clone(),
                path: path.clone(),
                version: head.version.clone(),
                segments: wanted.iter().map(|(_, s)| *s).collect(),
            });
            fragments.push(parsed);
        }
        let inputs: Vec<TrackInput<'_>> = heads
            .iter()
            .zip(&fragments)
            .map(|((_, _, head), fragments)| TrackInput {
                init: &head.init,
                timescale: head.index.timescale,
                fragments,
            })
            .collect();
        let file = progressive::plan(&inputs, brand)?;
        let mut tag_parts: Vec<&[u8]> = vec![b"download"];
        for t in &planned {
            tag_parts.push(t.path.as_bytes());
            tag_parts.push(t.version.as_bytes());
        }
        Ok(DownloadPlan {
            etag: http::etag(&tag_parts),
            file,
            tracks: planned,
        })
    }

    /// The `moof` of `fragment`, whole (one read, two for a `moof` over [`MOOF_READ_HINT`]).
    async fn read_moof(
        &self,
        id: &str,
        path: &str,
        version: &str,
        fragment: &FragmentRef,
    ) -> Result<Bytes, EdgeError> {
        let end = fragment.range().end;
        let first = fragment.offset..end.min(fragment.offset + MOOF_READ_HINT);
        let bytes = self
            .catalog
            .reader()
            .read_range(id, path, first, version)
            .await?;
        let header = boxes::read_header(&bytes, 0)?
            .ok_or_else(|| EdgeError::Internal(format!("{id}/{path}: fragment too short")))?;
        if header.end() <= bytes.len() as u64 {
            return Ok(bytes);
        }
        let moof = fragment.offset..(fragment.offset + header.end()).min(end);
        Ok(self
            .catalog
            .reader()
            .read_range(id, path, moof, version)
            .await?)
    }

    /// Segment `number` of a planned track, as cached; `Changed` if the track is no longer
    /// the version the plan was made from.
    async fn planned_segment(
        &self,
        id: &str,
        track: &PlannedTrack,
        number: u64,
    ) -> Result<Bytes, EdgeError> {
        let head = self.catalog.head(id, &track.path).await?;
        if head.version != track.version {
            return Err(EdgeError::Changed(format!("{id}/{}", track.path)));
        }
        let route = Route::Segment {
            id: id.to_owned(),
            track: track.track.clone(),
            number,
        };
        let flags = RequestFlags::default();
        let obj = Box::pin(
            self.segments
                .segment(&route, id, &track.track, number, &flags),
        )
        .await?;
        Ok(obj.body)
    }
}

/// The body of a download, or of a byte range of one: read a piece at a time as it is sent.
#[derive(Clone)]
pub struct Streamed {
    segments: Arc<Segments>,
    id: String,
    plan: Arc<DownloadPlan>,
    range: Range<u64>,
}

impl std::fmt::Debug for Streamed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Streamed")
            .field("id", &self.id)
            .field("range", &self.range)
            .finish_non_exhaustive()
    }
}

impl Streamed {
    /// Length of the whole resource (not of the range).
    pub fn total(&self) -> u64 {
        self.plan.file.len
    }

    /// Bytes this body sends.
    pub fn len(&self) -> u64 {
        self.range.end - self.range.start
    }

    /// Whether it sends nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The same resource cut to `range` (within `0..total()`).
    pub fn slice(&self, range: Range<u64>) -> Streamed {
        Streamed {
            range,
            ..self.clone()
        }
    }

    /// The body's pieces, read one at a time.
    pub fn reader(self) -> PieceReader {
        PieceReader {
            pieces: self.plan.file.pieces(self.range.clone()).into_iter(),
            held: vec![None; self.plan.tracks.len()],
            body: self,
        }
    }
}

/// Reads a [`Streamed`] body's pieces in order, holding at most the current segment of each
/// track.
pub struct PieceReader {
    body: Streamed,
    pieces: std::vec::IntoIter<Piece>,
    /// Per track: the segment last fetched (its number, its start in the track file, bytes).
    held: Vec<Option<(u64, u64, Bytes)>>,
}

impl PieceReader {
    /// The next bytes of the body; `None` at its end.
    pub async fn next(&mut self) -> Option<Result<Bytes, EdgeError>> {
        let piece = self.pieces.next()?;
        Some(self.read(piece).await)
    }

    async fn read(&mut self, piece: Piece) -> Result<Bytes, EdgeError> {
        let plan = &self.body.plan;
        let (chunk, source) = match piece {
            Piece::Head(r) => return Ok(Bytes::copy_from_slice(&plan.file.head[r])),
            Piece::Media { chunk, source } => (chunk, source),
        };
        let chunk = plan
            .file
            .chunks
            .get(chunk)
            .ok_or_else(|| EdgeError::Internal("download chunk out of plan".into()))?;
        let track = &plan.tracks[chunk.track];
        let (number, start) = *track
            .segments
            .get(chunk.fragment)
            .ok_or_else(|| EdgeError::Internal("download fragment out of plan".into()))?;
        let held = match &self.held[chunk.track] {
            Some((n, _, bytes)) if *n == number => bytes.clone(),
            _ => {
                let segments = &self.body.segments;
                let downloads = Downloads {
                    catalog: segments.catalog(),
                    segments,
                };
                let bytes = downloads
                    .planned_segment(&self.body.id, track, number)
                    .await?;
                self.held[chunk.track] = Some((number, start, bytes.clone()));
                bytes
            }
        };
        let from = usize::try_from(source.start - start).unwrap_or(usize::MAX);
        let to = usize::try_from(source.end - start).unwrap_or(usize::MAX);
        if to > held.len() || from > to {
            return Err(EdgeError::Changed(format!(
                "{}/{}: segment {number} is not the planned length",
                self.body.id, track.path
            )));
        }
        Ok(held.slice(from..to))
    }
}
