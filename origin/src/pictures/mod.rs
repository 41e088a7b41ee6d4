//! The picture service's drawing: thumbnails, storyboard images and animated previews made
//! from a video's CMAF renditions (feature `transcode`: it links FFmpeg).
//!
//! The edge plans a picture (`sunomi_packager::picture`: which rendition, which times, what
//! geometry) and asks for it by its [`PictureSpec`]; this reads only what that picture needs
//! from storage — the fragments holding its frames, or for a storyboard each tile's key
//! frame alone (`Rendition::keyframe_ends`) — decodes them with FFmpeg, and encodes the
//! result. Decoding runs on blocking threads, at most `workers` pictures at a time.
//! [`service`] is its HTTP face.

mod decode;
mod encode;
mod kit;
mod render;
pub mod service;
mod sources;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use sunomi_packager::iframe::key_frame_fragment;
use sunomi_packager::picture::{self, ImageFormat, PictureFile, PictureSpec};
use sunomi_packager::track::TrackIndex;
use tokio::sync::Semaphore;

use crate::reader::{MediaReader, ReadError, TrackHead};
use decode::Picker;
use ffmpeg_next::format::Pixel;
use ffmpeg_next::frame;
use kit::{Kit, Kits};
use render::{Rgb, Scalers};
use sources::{Source, Sources};

/// Most bytes of a track one picture reads (an animation's fragments at the largest rung).
pub const MAX_READ_BYTES: u64 = 64 << 20;

/// Storage reads a storyboard makes at once (one per tile).
const TILE_READS: usize = 8;

/// Why a picture could not be drawn.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PictureError {
    /// The video, rendition or time does not exist (404).
    #[error("not found: {0}")]
    NotFound(String),
    /// The track is not the version the picture was planned against (409).
    #[error("the track changed: {0}")]
    Changed(String),
    /// What was asked for is malformed or out of bounds (400).
    #[error("bad request: {0}")]
    Bad(String),
    /// Storage failed, or every worker stayed busy (503).
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The stored media is not what the layout promises (500).
    #[error("corrupt media: {0}")]
    Corrupt(String),
    /// More work than one picture may take (400).
    #[error("too much to draw: {0}")]
    TooMuch(String),
    /// FFmpeg failed (500).
    #[error("drawing failed: {0}")]
    Draw(String),
}

impl PictureError {
    /// The HTTP status the service answers with.
    pub fn status(&self) -> u16 {
        match self {
            PictureError::NotFound(_) => 404,
            PictureError::Changed(_) => 409,
            PictureError::Bad(_) | PictureError::TooMuch(_) => 400,
            PictureError::Unavailable(_) => 503,
            PictureError::Corrupt(_) | PictureError::Draw(_) => 500,
        }
    }
}

impl From<ReadError> for PictureError {
    fn from(e: ReadError) -> PictureError {
        match e {
            ReadError::NotFound(what) => PictureError::NotFound(what),
            ReadError::Changed { key } => PictureError::Changed(key),
            ReadError::Unavailable { .. } => PictureError::Unavailable(e.to_string()),
            ReadError::Corrupt { .. } => PictureError::Corrupt(e.to_string()),
        }
    }
}

/// Draws pictures of the videos a reader reads.
pub struct PictureMaker {
    reader: MediaReader,
    workers: Arc<Semaphore>,
    kits: Arc<Kits>,
    sources: Sources,
    queue_wait: Duration,
}

/// A frame time in milliseconds as a presentation time in `timescale` units, rounded up
/// (the first frame at or after it is the one shown).
fn to_timescale(ms: u64, timescale: u32) -> i64 {
    i64::try_from((u128::from(ms) * u128::from(timescale)).div_ceil(1000)).unwrap_or(i64::MAX)
}

/// The fragment presenting time `t` (in the track's timescale, presentation time less
/// `offset`): the last one starting at or before it.
fn fragment_at(index: &TrackIndex, offset: u64, t: i64) -> usize {
    index
        .fragments
        .partition_point(|f| i64::try_from(f.time.saturating_sub(offset)).unwrap_or(i64::MAX) <= t)
        .saturating_sub(1)
}

impl PictureMaker {
    /// A maker reading through `reader`, drawing at most `workers` pictures at once; a
    /// picture that waits longer than `queue_wait` for a worker fails as unavailable.
    pub fn new(reader: MediaReader, workers: usize, queue_wait: Duration) -> PictureMaker {
        PictureMaker {
            reader,
            workers: Arc::new(Semaphore::new(workers.max(1))),
            kits: Arc::default(),
            sources: Sources::default(),
            queue_wait,
        }
    }

    /// Draws `spec` of video `id`; `version` (when given) is the track version the edge
    /// planned against.
    pub async fn draw(
        &self,
        id: &str,
        spec: &PictureSpec,
        version: Option<&str>,
    ) -> Result<Bytes, PictureError> {
        let name = &spec.rendition;
        let (source, fresh) = self.sources.get(&self.reader, id, name, version).await?;
        match self.draw_from(id, source.clone(), spec).await {
            Err(PictureError::Changed(_) | PictureError::NotFound(_)) if !fresh => {
                // The kept source's file is gone or was rewritten: read both again, once.
                self.sources.forget(id, name, &source.head.version).await;
                let (source, _) = self.sources.get(&self.reader, id, name, version).await?;
                self.draw_from(id, source, spec).await
            }
            drawn => drawn,
        }
    }

    /// Draws `spec` of video `id` from `source`: reads the fragments it needs (each read
    /// names the track's version) and draws them on a worker.
    async fn draw_from(
        &self,
        id: &str,
        source: Arc<Source>,
        spec: &PictureSpec,
    ) -> Result<Bytes, PictureError> {
        let head = &source.head;
        let rendition = &source.rendition;
        let (offset, duration_ms) = (source.offset, source.duration_ms);
        match spec.file {
            PictureFile::Thumbnail(_) | PictureFile::Animated(_) => {
                let times = spec.frame_times();
                let (first, last) = match (times.first(), times.last()) {
                    (Some(a), Some(b)) => (*a, *b),
                    _ => return Err(PictureError::Bad("no frame asked for".into())),
                };
                let ts = head.index.timescale;
                let from = fragment_at(&head.index, offset, to_timescale(first, ts));
                let to = fragment_at(&head.index, offset, to_timescale(last, ts));
                let (Some(a), Some(b)) =
                    (head.index.fragments.get(from), head.index.fragments.get(to))
                else {
                    return Err(PictureError::NotFound("the track has no fragments".into()));
                };
                let range = a.offset..b.range().end;
                if range.end - range.start > MAX_READ_BYTES {
                    return Err(PictureError::TooMuch(format!(
                        "{} bytes of media",
                        range.end - range.start
                    )));
                }
                let bytes = self
                    .reader
                    .read_range(id, &rendition.path, range.clone(), &head.version)
                    .await?;
                let spec = spec.clone();
                let source = source.clone();
                self.on_worker(move |kit| {
                    frames(kit, &source.head, &bytes, range.start, offset, &spec)
                })
                .await
            }
            PictureFile::StoryboardImage(format) => {
                let board = picture::track_storyboard(&head.init, &head.index, duration_ms, spec)
                    .map_err(|e| PictureError::Corrupt(e.to_string()))?;
                // Each read owns what it names: futures borrowing from here do not prove
                // `Send` for every lifetime, which a spawned connection needs.
                let reads: Vec<_> = board
                    .tiles
                    .iter()
                    .map(|tile| {
                        let f = head.index.fragments.get(tile.fragment).copied();
                        let end = rendition.keyframe_ends.get(tile.fragment).copied();
                        let reader = self.reader.clone();
                        let (id, path, version) =
                            (id.to_owned(), rendition.path.clone(), head.version.clone());
                        async move {
                            let f =
                                f.ok_or_else(|| PictureError::Corrupt("no such fragment".into()))?;
                            // The `moof` and the key frame only (the whole fragment without
                            // the manifest's key-frame end).
                            let len = end.map_or(f.size, |e| e.min(f.size));
                            let range = f.offset..f.offset + u64::from(len);
                            let bytes = reader.read_range(&id, &path, range, &version).await?;
                            Ok::<_, PictureError>((bytes, f.duration))
                        }
                    })
                    .collect();
                let key_frames: Vec<(Bytes, u32)> = futures::stream::iter(reads)
                    .buffered(TILE_READS)
                    .try_collect()
                    .await?;
                let source = source.clone();
                self.on_worker(move |kit| {
                    storyboard_image(kit, &source.head, &board, &key_frames, offset, format)
                })
                .await
            }
            PictureFile::StoryboardVtt | PictureFile::StoryboardJson => Err(PictureError::Bad(
                "the storyboard's index is written by the edge".into(),
            )),
        }
    }

    /// Runs `work` on a blocking thread under a worker slot, with a worker's kit.
    async fn on_worker<F>(&self, work: F) -> Result<Bytes, PictureError>
    where
        F: FnOnce(&mut Kit) -> Result<Vec<u8>, PictureError> + Send + 'static,
    {
        let permit = tokio::time::timeout(self.queue_wait, self.workers.clone().acquire_owned())
            .await
            .map_err(|_| PictureError::Unavailable("every picture worker is busy".into()))?
            .map_err(|_| PictureError::Unavailable("shutting down".into()))?;
        let kits = self.kits.clone();
        let result = tokio::task::spawn_blocking(move || {
            let mut kit = kits.take();
            let out = work(&mut kit);
            if out.is_ok() {
                kits.give_back(kit);
            }
            drop(permit);
            out
        })
        .await
        .map_err(|e| PictureError::Draw(format!("picture worker: {e}")))?;
        result.map(Bytes::from)
    }
}

/// A thumbnail or an animation from whole fragments `bytes` (at `file_offset` of the track).
fn frames(
    kit: &mut Kit,
    head: &TrackHead,
    bytes: &[u8],
    file_offset: u64,
    offset: u64,
    spec: &PictureSpec,
) -> Result<Vec<u8>, PictureError> {
    // A JPEG or WebP thumbnail that is the scaled frame itself (nothing cropped or padded)
    // is scaled straight into the encoder's format; the rest are drawn in RGB.
    let direct = match spec.file {
        PictureFile::Thumbnail(ImageFormat::Jpeg) => Some(Pixel::YUVJ420P),
        PictureFile::Thumbnail(ImageFormat::Webp) => Some(Pixel::YUV420P),
        _ => None,
    }
    .filter(|_| render::fills(&spec.geometry));
    if let Some(format) = direct {
        let (width, height) = (spec.geometry.width, spec.geometry.height);
        let (pictures, _) = pick(kit, head, bytes, file_offset, offset, spec, |s, f| {
            render::convert(s, f, width, height, format)
        })?;
        let first = pictures
            .into_iter()
            .next()
            .ok_or_else(|| PictureError::Corrupt("no frame decodes".into()))?;
        return match format {
            Pixel::YUVJ420P => encode::jpeg_of(first),
            _ => encode::webp_of(first),
        };
    }
    let (pictures, scalers) = pick(kit, head, bytes, file_offset, offset, spec, |s, f| {
        render::draw(s, f, &spec.geometry, spec.fit)
    })?;
    let first = pictures
        .first()
        .ok_or_else(|| PictureError::Corrupt("no frame decodes".into()))?;
    match spec.file {
        PictureFile::Thumbnail(ImageFormat::Png) => encode::png(scalers, first),
        PictureFile::Thumbnail(ImageFormat::Webp) => encode::webp(scalers, first),
        PictureFile::Thumbnail(_) => encode::jpeg(scalers, first),
        PictureFile::Animated(ImageFormat::Webp) => {
            encode::animated_webp(scalers, &pictures, spec.fps)
        }
        _ => encode::animated_gif(&pictures, spec.fps),
    }
}

/// The frames `spec` asks for out of whole fragments `bytes` (at `file_offset` of the
/// track), each made a picture by `draw`, in the order of the spec's times; and the kit's
/// scalers, for encoding them.
fn pick<'k, P: Clone>(
    kit: &'k mut Kit,
    head: &TrackHead,
    bytes: &[u8],
    file_offset: u64,
    offset: u64,
    spec: &PictureSpec,
    mut draw: impl FnMut(&mut Scalers, &frame::Video) -> Result<P, PictureError>,
) -> Result<(Vec<P>, &'k mut Scalers), PictureError> {
    let ts = head.index.timescale;
    let targets: Vec<i64> = spec
        .frame_times()
        .iter()
        .map(|ms| to_timescale(*ms, ts))
        .collect();
    let mut picked: Vec<Option<P>> = vec![None; targets.len()];
    let first = targets.first().copied().unwrap_or(i64::MIN);
    let mut picker = Picker::new(targets);
    let mut last: Option<frame::Video> = None;
    let mut failed = None;
    let (decoder, scalers) = kit.tools(&head.init)?;
    decoder.decode(
        bytes,
        file_offset,
        head.index.default_sample_duration,
        offset,
        first,
        |frame, pts| {
            let wanted = picker.offer(pts);
            if !wanted.is_empty() {
                match draw(scalers, frame) {
                    Ok(picture) => fill(&mut picked, wanted, picture),
                    Err(e) => {
                        failed = Some(e);
                        return false;
                    }
                }
            }
            if picker.done() {
                return false;
            }
            // Kept by taking it: the decoder writes the next frame into what it gets back.
            let mut kept = last.take().unwrap_or_else(frame::Video::empty);
            std::mem::swap(&mut kept, frame);
            last = Some(kept);
            true
        },
    )?;
    if let Some(e) = failed {
        return Err(e);
    }
    let rest = picker.rest();
    if !rest.is_empty() {
        let frame = last.ok_or_else(|| PictureError::Corrupt("no frame decodes".into()))?;
        fill(&mut picked, rest, draw(scalers, &frame)?);
    }
    Ok((picked.into_iter().flatten().collect(), scalers))
}

/// `picture` put at every index of `targets` (copied for all but the last).
fn fill<P: Clone>(picked: &mut [Option<P>], mut targets: std::ops::Range<usize>, picture: P) {
    if let Some(last) = targets.next_back() {
        for k in targets {
            picked[k] = Some(picture.clone());
        }
        picked[last] = Some(picture);
    }
}

/// The storyboard's image: each tile's key frame (`key_frames`: `moof` and key frame bytes,
/// and the fragment's duration) decoded alone, scaled to the tile and put in its place.
fn storyboard_image(
    kit: &mut Kit,
    head: &TrackHead,
    board: &picture::Storyboard,
    key_frames: &[(Bytes, u32)],
    offset: u64,
    format: ImageFormat,
) -> Result<Vec<u8>, PictureError> {
    let (width, height) = board.size();
    let mut canvas = Rgb {
        width,
        height,
        data: vec![0; width as usize * height as usize * 3],
    };
    let (decoder, scalers) = kit.tools(&head.init)?;
    for (tile, (bytes, duration)) in board.tiles.iter().zip(key_frames) {
        let one = key_frame_fragment(bytes, head.index.default_sample_duration, *duration, 1)
            .map_err(|e| PictureError::Corrupt(e.to_string()))?;
        let mut tile_rgb = None;
        let mut failed = None;
        decoder.decode(
            &one,
            0,
            head.index.default_sample_duration,
            offset,
            i64::MIN,
            |frame, _| {
                match render::scale(scalers, frame, board.tile_w, board.tile_h) {
                    Ok(rgb) => tile_rgb = Some(rgb),
                    Err(e) => failed = Some(e),
                }
                false
            },
        )?;
        if let Some(e) = failed {
            return Err(e);
        }
        // A key frame that does not decode leaves its tile black.
        let Some(rgb) = tile_rgb else { continue };
        let (x, y, w, h) = board.rect(tile);
        let row = canvas.width as usize * 3;
        for r in 0..h as usize {
            let d = (y as usize + r) * row + x as usize * 3;
            let s = r * w as usize * 3;
            canvas.data[d..d + w as usize * 3].copy_from_slice(&rgb.data[s..s + w as usize * 3]);
        }
    }
    match format {
        ImageFormat::Webp => encode::webp(scalers, &canvas),
        _ => encode::jpeg(scalers, &canvas),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_rounds_up_to_the_timescale() {
        assert_eq!(to_timescale(1000, 15360), 15360);
        assert_eq!(to_timescale(1, 15360), 16);
        assert_eq!(to_timescale(0, 90000), 0);
    }
}
