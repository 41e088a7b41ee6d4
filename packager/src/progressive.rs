//! A progressive ("fast start") MP4 planned from fragmented CMAF tracks, without re-encoding:
//! one `moov` with complete sample tables, then one `mdat` whose bytes are the tracks'
//! sample bytes, interleaved a fragment at a time.
//!
//! The plan ([`Progressive`]) holds the file's head (`ftyp`, `moov`, the `mdat` header) and a
//! map of where each chunk of the `mdat` comes from in the track files, so a caller can serve
//! any byte range of the file by reading only those ranges: the file is never built whole.
//! Fed with init segments and parsed `moof`s; no I/O.

use std::ops::Range;

use crate::boxes::{self, boxed, full, FourCc};
use crate::error::{PackagerError, Result};
use crate::fragment::Fragment;

/// Most samples a planned file may have across its tracks (a 4-hour 60 fps video with its
/// audio has about 1.5 million); the sample tables of a larger one would be tens of MB.
pub const MAX_SAMPLES: usize = 3_000_000;

/// Most tracks in one file.
pub const MAX_TRACKS: usize = 8;

/// One track to put in the file: its init segment and its fragments, in decode order.
#[derive(Debug, Clone, Copy)]
pub struct TrackInput<'a> {
    /// The track file's init segment (`ftyp` + `moov`).
    pub init: &'a [u8],
    /// The track's timescale (from its `mdhd`).
    pub timescale: u32,
    /// Each fragment with the offset of its `moof` in the track file.
    pub fragments: &'a [(u64, Fragment)],
}

/// The kind of file, for its `ftyp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Brand {
    /// A video file (`.mp4`).
    Mp4,
    /// An audio-only file (`.m4a`).
    M4a,
}

/// A run of one track's samples whose bytes are contiguous in its track file, and where they
/// go in the planned file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// Index of the track in the planner's input.
    pub track: usize,
    /// Index of the fragment (in that track's input) the samples belong to.
    pub fragment: usize,
    /// The samples' bytes in the track file.
    pub source: Range<u64>,
    /// Where those bytes start in the planned file.
    pub start: u64,
}

/// Where a byte range of the planned file comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Part of [`Progressive::head`].
    Head(Range<usize>),
    /// Bytes of a track file: `source` of chunk `chunk`'s track.
    Media {
        /// Index into [`Progressive::chunks`].
        chunk: usize,
        /// The bytes, in the track file.
        source: Range<u64>,
    },
}

/// A planned progressive MP4.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progressive {
    /// `ftyp`, `moov` and the `mdat` header: the file's first bytes.
    pub head: Vec<u8>,
    /// The `mdat` payload, chunk by chunk in file order (each starts where the previous ends).
    pub chunks: Vec<Chunk>,
    /// The file's length in bytes.
    pub len: u64,
}

impl Progressive {
    /// Where the bytes of `range` (within `0..len`) come from, in order.
    pub fn pieces(&self, range: Range<u64>) -> Vec<Piece> {
        let mut out = Vec::new();
        let head_len = self.head.len() as u64;
        let range = range.start.min(self.len)..range.end.min(self.len);
        if range.start < head_len {
            out.push(Piece::Head(
                range.start as usize..range.end.min(head_len) as usize,
            ));
        }
        // The first chunk that ends after the range starts.
        let first = self
            .chunks
            .partition_point(|c| c.start + (c.source.end - c.source.start) <= range.start);
        for (i, c) in self.chunks.iter().enumerate().skip(first) {
            if c.start >= range.end {
                break;
            }
            let len = c.source.end - c.source.start;
            let from = range.start.saturating_sub(c.start);
            let to = (range.end - c.start).min(len);
            out.push(Piece::Media {
                chunk: i,
                source: c.source.start + from..c.source.start + to,
            });
        }
        out
    }
}

/// Plans the file of `tracks` (the first one's `moov` gives the movie's timescale and
/// `udta`). Each track keeps its sample description; tracks are numbered from 1 in order.
pub fn plan(tracks: &[TrackInput<'_>], brand: Brand) -> Result<Progressive> {
    if tracks.is_empty() || tracks.len() > MAX_TRACKS {
        return Err(PackagerError::Unsupported(format!(
            "a download has 1 to {MAX_TRACKS} tracks, not {}",
            tracks.len()
        )));
    }
    let samples: usize = tracks
        .iter()
        .flat_map(|t| t.fragments.iter())
        .map(|(_, f)| f.samples.len())
        .sum();
    if samples > MAX_SAMPLES {
        return Err(PackagerError::TooMany {
            kind: "download (samples)",
            count: samples as u64,
            limit: MAX_SAMPLES as u64,
        });
    }
    let mut chunks = interleaved_chunks(tracks)?;
    let payload: u64 = chunks.iter().map(|c| c.source.end - c.source.start).sum();
    let ftyp = ftyp(brand);
    let movie = Movie::of(tracks[0].init)?;
    // Chunk offsets depend on the head's length, which depends on their width: 32-bit
    // offsets unless the file is too large for them.
    let mdat_header_len = if payload + 8 > u64::from(u32::MAX) {
        16
    } else {
        8
    };
    let draft = moov(tracks, &movie, &chunks, false)?;
    let narrow_len = (ftyp.len() + draft.len() + mdat_header_len) as u64;
    let wide = narrow_len + payload > u64::from(u32::MAX);
    // `co64` entries are 4 bytes wider than `stco`'s: one entry per chunk.
    let head_len = narrow_len + if wide { chunks.len() as u64 * 4 } else { 0 };
    let mut at = head_len;
    for c in &mut chunks {
        c.start = at;
        at += c.source.end - c.source.start;
    }
    let moov = moov(tracks, &movie, &chunks, wide)?;
    let mut head = Vec::with_capacity(head_len as usize);
    head.extend_from_slice(&ftyp);
    head.extend_from_slice(&moov);
    if mdat_header_len == 16 {
        head.extend_from_slice(&1u32.to_be_bytes());
        head.extend_from_slice(b"mdat");
        head.extend_from_slice(&(payload + 16).to_be_bytes());
    } else {
        head.extend_from_slice(&((payload + 8) as u32).to_be_bytes());
        head.extend_from_slice(b"mdat");
    }
    if head.len() as u64 != head_len {
        return Err(PackagerError::Unsupported(
            "planned head length changed between passes".into(),
        ));
    }
    Ok(Progressive {
        head,
        chunks,
        len: head_len + payload,
    })
}

/// Every track's samples cut into runs of contiguous bytes, ordered by decode time across
/// tracks (audio and video interleaved, so a player reading the file in order has both).
fn interleaved_chunks(tracks: &[TrackInput<'_>]) -> Result<Vec<Chunk>> {
    let mut timed: Vec<(f64, Chunk)> = Vec::new();
    for (t, track) in tracks.iter().enumerate() {
        if track.timescale == 0 {
            return Err(PackagerError::Unsupported("track timescale is 0".into()));
        }
        for (f, (moof, fragment)) in track.fragments.iter().enumerate() {
            let mut time = fragment.decode_time;
            let mut run: Option<(u64, Range<u64>)> = None;
            for s in &fragment.samples {
                let at = moof + s.offset;
                let end = at + u64::from(s.size);
                run = match run {
                    Some((t0, r)) if r.end == at => Some((t0, r.start..end)),
                    Some((t0, r)) => {
                        timed.push((t0 as f64 / f64::from(track.timescale), chunk(t, f, r)));
                        Some((time, at..end))
                    }
                    None => Some((time, at..end)),
                };
                time += u64::from(s.duration);
            }
            if let Some((t0, r)) = run {
                timed.push((t0 as f64 / f64::from(track.timescale), chunk(t, f, r)));
            }
        }
    }
    // Stable: within a track, file order; at equal times, the first track first.
    timed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.track.cmp(&b.1.track)));
    Ok(timed.into_iter().map(|(_, c)| c).collect())
}

fn chunk(track: usize, fragment: usize, source: Range<u64>) -> Chunk {
    Chunk {
        track,
        fragment,
        source,
        start: 0,
    }
}

fn ftyp(brand: Brand) -> Vec<u8> {
    let (major, compatible): (&FourCc, &[&FourCc]) = match brand {
        Brand::Mp4 => (b"isom", &[b"isom", b"iso2", b"avc1", b"mp41"]),
        Brand::M4a => (b"M4A ", &[b"M4A ", b"isom", b"iso2"]),
    };
    let mut body = major.to_vec();
    body.extend_from_slice(&512u32.to_be_bytes());
    for c in compatible {
        body.extend_from_slice(*c);
    }
    boxed(b"ftyp", &body)
}

/// What the file's `mvhd` keeps from the first track's.
struct Movie<'a> {
    /// Movie timescale (durations in `mvhd`, `tkhd` and `elst` are in it).
    timescale: u32,
    /// The `mvhd` fields after the duration (rate, volume, matrix, …, next track id).
    tail: &'a [u8],
    /// The first track's `moov/udta`, if any.
    udta: Option<&'a [u8]>,
}

impl<'a> Movie<'a> {
    fn of(init: &'a [u8]) -> Result<Movie<'a>> {
        let moov = boxes::require(init, b"moov")?;
        let mvhd = boxes::require(moov, b"mvhd")?;
        let (version, head) = time_header(mvhd, "mvhd")?;
        // After the times: timescale (4) then the duration.
        let timescale = u32::from_be_bytes(field(mvhd, head, 4, "mvhd")?);
        let tail_at = head + 4 + if version == 1 { 8 } else { 4 };
        let tail = mvhd
            .get(tail_at..)
            .ok_or_else(|| malformed("mvhd", "too short"))?;
        if tail.len() < 4 || timescale == 0 {
            return Err(malformed("mvhd", "too short or timescale 0"));
        }
        Ok(Movie {
            timescale,
            tail,
            udta: boxes::find(moov, b"udta")?,
        })
    }
}

fn malformed(kind: &str, reason: &str) -> PackagerError {
    PackagerError::MalformedBox {
        kind: kind.into(),
        reason: reason.into(),
    }
}

/// A full box with creation and modification times first (`mvhd`, `tkhd`, `mdhd`): its
/// version and where the field after the two times starts.
fn time_header(body: &[u8], kind: &str) -> Result<(u8, usize)> {
    let version = *body.first().ok_or_else(|| malformed(kind, "empty"))?;
    match version {
        0 => Ok((0, 4 + 8)),
        1 => Ok((1, 4 + 16)),
        _ => Err(malformed(kind, "unknown version")),
    }
}

fn field<const N: usize>(body: &[u8], at: usize, len: usize, kind: &str) -> Result<[u8; N]> {
    body.get(at..at + len)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| malformed(kind, "too short"))
}

/// `value` scaled from timescale `from` to `to`, rounded.
fn rescale(value: u64, from: u32, to: u32) -> u64 {
    ((u128::from(value) * u128::from(to) + u128::from(from) / 2) / u128::from(from.max(1))) as u64
}

/// The `moov`: an `mvhd`, one `trak` per track with complete sample tables; no `mvex`.
fn moov(
    tracks: &[TrackInput<'_>],
    movie: &Movie<'_>,
    chunks: &[Chunk],
    wide: bool,
) -> Result<Vec<u8>> {
    let mut traks = Vec::new();
    let mut movie_duration = 0u64;
    for (t, track) in tracks.iter().enumerate() {
        let (trak, duration) = trak(t, track, movie, chunks, wide)?;
        movie_duration = movie_duration.max(duration);
        traks.extend_from_slice(&trak);
    }
    let mut mvhd = Vec::new();
    mvhd.extend_from_slice(&[0u8; 16]); // creation and modification times
    mvhd.extend_from_slice(&movie.timescale.to_be_bytes());
    mvhd.extend_from_slice(&movie_duration.to_be_bytes());
    // Everything after the duration but the last field, then the next track id.
    mvhd.extend_from_slice(&movie.tail[..movie.tail.len() - 4]);
    mvhd.extend_from_slice(&(tracks.len() as u32 + 1).to_be_bytes());
    let mut body = boxed(b"mvhd", &full(1, 0, &mvhd));
    body.extend_from_slice(&traks);
    if let Some(udta) = movie.udta {
        body.extend_from_slice(&boxed(b"udta", udta));
    }
    Ok(boxed(b"moov", &body))
}

/// Track `t`'s `trak` and its duration in the movie's timescale.
fn trak(
    t: usize,
    track: &TrackInput<'_>,
    movie: &Movie<'_>,
    chunks: &[Chunk],
    wide: bool,
) -> Result<(Vec<u8>, u64)> {
    let moov = boxes::require(track.init, b"moov")?;
    let source = boxes::require(moov, b"trak")?;
    let tables = SampleTables::of(t, track, chunks, wide)?;
    let media_duration = tables.duration;
    let first_time = track.fragments.first().map_or(0, |(_, f)| f.decode_time);
    let edit = Edit::of(track.init, first_time)?;
    let track_duration = rescale(
        edit.empty + edit.presented(media_duration),
        track.timescale,
        movie.timescale,
    );
    let mut body = Vec::new();
    for child in boxes::children(source) {
        let (kind, b) = child?;
        match &kind {
            b"tkhd" => body.extend_from_slice(&tkhd(b, t as u32 + 1, track_duration)?),
            b"edts" => {}
            b"mdia" => {
                body.extend_from_slice(&edit.edts(track, movie, media_duration));
                body.extend_from_slice(&mdia(b, media_duration, &tables)?);
            }
            _ => body.extend_from_slice(&boxed(&kind, b)),
        }
    }
    Ok((boxed(b"trak", &body), track_duration))
}

/// `tkhd` as version 1 with track id `id` and `duration` (movie timescale).
fn tkhd(body: &[u8], id: u32, duration: u64) -> Result<Vec<u8>> {
    let (version, head) = time_header(body, "tkhd")?;
    let flags: [u8; 4] = field(body, 0, 4, "tkhd")?;
    // After the times: track id (4), reserved (4), duration (4 or 8), then the rest.
    let rest_at = head + 8 + if version == 1 { 8 } else { 4 };
    let rest = body
        .get(rest_at..)
        .ok_or_else(|| malformed("tkhd", "too short"))?;
    let mut out = vec![1, flags[1], flags[2], flags[3]];
    out.extend_from_slice(&[0u8; 16]);
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&[0u8; 4]);
    out.extend_from_slice(&duration.to_be_bytes());
    out.extend_from_slice(rest);
    Ok(boxed(b"tkhd", &out))
}

/// The track's edit list. In the fragmented file, the first sample's decode time is its
/// `tfdt` and the `elst` (if any) says which media time is presented first (AAC priming,
/// the composition delay of B-frames); in the planned file samples start at media time 0,
/// so the edit is shifted by that `tfdt`: what was presented at 0 still is.
struct Edit {
    /// Media time presented first (in the planned file's media timeline).
    media_time: u64,
    /// Presentation time before the first sample is shown (an empty edit), media timescale.
    empty: u64,
    /// Whether presentation starts anywhere but at media time 0 (else no list is written).
    needed: bool,
}

impl Edit {
    fn of(init: &[u8], first_time: u64) -> Result<Edit> {
        let source_time = crate::edit::presentation_offset(init)?;
        let shift = i128::from(source_time) - i128::from(first_time);
        Ok(Edit {
            media_time: shift.max(0) as u64,
            empty: (-shift).max(0) as u64,
            needed: source_time != 0 || first_time != 0,
        })
    }

    /// How much of `media_duration` is presented.
    fn presented(&self, media_duration: u64) -> u64 {
        media_duration.saturating_sub(self.media_time)
    }

    fn edts(&self, track: &TrackInput<'_>, movie: &Movie<'_>, media_duration: u64) -> Vec<u8> {
        if !self.needed {
            return Vec::new();
        }
        let mut entries: Vec<(u64, i64)> = Vec::new();
        if self.empty > 0 {
            entries.push((rescale(self.empty, track.timescale, movie.timescale), -1));
        }
        let shown = rescale(
            self.presented(media_duration),
            track.timescale,
            movie.timescale,
        );
        entries.push((shown, self.media_time as i64));
        let mut rest = (entries.len() as u32).to_be_bytes().to_vec();
        for (duration, time) in entries {
            rest.extend_from_slice(&duration.to_be_bytes());
            rest.extend_from_slice(&time.to_be_bytes());
            rest.extend_from_slice(&0x0001_0000u32.to_be_bytes()); // rate 1.0
        }
        boxed(b"edts", &boxed(b"elst", &full(1, 0, &rest)))
    }
}

/// `mdia` with its `mdhd` duration set and its `stbl` replaced by `tables`.
fn mdia(body: &[u8], duration: u64, tables: &SampleTables) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for child in boxes::children(body) {
        let (kind, b) = child?;
        match &kind {
            b"mdhd" => {
                let (version, head) = time_header(b, "mdhd")?;
                let timescale: [u8; 4] = field(b, head, 4, "mdhd")?;
                let rest_at = head + 4 + if version == 1 { 8 } else { 4 };
                let rest = b
                    .get(rest_at..)
                    .ok_or_else(|| malformed("mdhd", "too short"))?;
                let mut m = vec![1, 0, 0, 0];
                m.extend_from_slice(&[0u8; 16]);
                m.extend_from_slice(&timescale);
                m.extend_from_slice(&duration.to_be_bytes());
                m.extend_from_slice(rest);
                out.extend_from_slice(&boxed(b"mdhd", &m));
            }
            b"minf" => {
                let mut minf = Vec::new();
                for grand in boxes::children(b) {
                    let (k, g) = grand?;
                    if &k == b"stbl" {
                        let stsd = boxes::require(g, b"stsd")?;
                        minf.extend_from_slice(&tables.stbl(stsd));
                    } else {
                        minf.extend_from_slice(&boxed(&k, g));
                    }
                }
                out.extend_from_slice(&boxed(b"minf", &minf));
            }
            _ => out.extend_from_slice(&boxed(&kind, b)),
        }
    }
    Ok(boxed(b"mdia", &out))
}

/// One track's sample tables, in the order its chunks appear in the file.
struct SampleTables {
    /// `stts` run lengths: (count, delta).
    times: Vec<(u32, u32)>,
    /// `ctts` run lengths: (count, offset); empty when every offset is 0.
    offsets: Vec<(u32, i32)>,
    /// 1-based numbers of the sync samples; `None` when every sample is one.
    syncs: Option<Vec<u32>>,
    sizes: Vec<u32>,
    /// `stsc` runs: (first chunk, samples per chunk).
    per_chunk: Vec<(u32, u32)>,
    /// Where each chunk starts in the file.
    chunk_offsets: Vec<u64>,
    wide: bool,
    /// Sum of the sample durations, in the track's timescale.
    duration: u64,
}

impl SampleTables {
    fn of(t: usize, track: &TrackInput<'_>, chunks: &[Chunk], wide: bool) -> Result<Self> {
        let mut tables = SampleTables {
            times: Vec::new(),
            offsets: Vec::new(),
            syncs: Some(Vec::new()),
            sizes: Vec::new(),
            per_chunk: Vec::new(),
            chunk_offsets: Vec::new(),
            wide,
            duration: 0,
        };
        let mut all_sync = true;
        let mut any_offset = false;
        for c in chunks.iter().filter(|c| c.track == t) {
            let (moof, fragment) = &track.fragments[c.fragment];
            let samples = fragment
                .samples
                .iter()
                .filter(|s| c.source.contains(&(moof + s.offset)));
            let mut in_chunk = 0u32;
            for s in samples {
                in_chunk += 1;
                tables.sizes.push(s.size);
                let number = tables.sizes.len() as u32;
                push_run(&mut tables.times, s.duration);
                push_run(&mut tables.offsets, s.composition_offset);
                any_offset |= s.composition_offset != 0;
                if s.is_sync {
                    if let Some(v) = &mut tables.syncs {
                        v.push(number);
                    }
                } else {
                    all_sync = false;
                }
                tables.duration += u64::from(s.duration);
            }
            if in_chunk == 0 {
                return Err(malformed("trun", "a chunk without samples"));
            }
            tables.chunk_offsets.push(c.start);
            let chunk_number = tables.chunk_offsets.len() as u32;
            if tables.per_chunk.last().map(|&(_, n)| n) != Some(in_chunk) {
                tables.per_chunk.push((chunk_number, in_chunk));
            }
        }
        if all_sync {
            tables.syncs = None;
        }
        if !any_offset {
            tables.offsets.clear();
        }
        Ok(tables)
    }

    fn stbl(&self, stsd: &[u8]) -> Vec<u8> {
        let mut body = boxed(b"stsd", stsd);
        let mut stts = (self.times.len() as u32).to_be_bytes().to_vec();
        for (count, delta) in &self.times {
            stts.extend_from_slice(&count.to_be_bytes());
            stts.extend_from_slice(&delta.to_be_bytes());
        }
        body.extend_from_slice(&boxed(b"stts", &full(0, 0, &stts)));
        if !self.offsets.is_empty() {
            let negative = self.offsets.iter().any(|&(_, o)| o < 0);
            let mut ctts = (self.offsets.len() as u32).to_be_bytes().to_vec();
            for (count, offset) in &self.offsets {
                ctts.extend_from_slice(&count.to_be_bytes());
                ctts.extend_from_slice(&offset.to_be_bytes());
            }
            body.extend_from_slice(&boxed(b"ctts", &full(u8::from(negative), 0, &ctts)));
        }
        if let Some(syncs) = &self.syncs {
            let mut stss = (syncs.len() as u32).to_be_bytes().to_vec();
            for n in syncs {
                stss.extend_from_slice(&n.to_be_bytes());
            }
            body.extend_from_slice(&boxed(b"stss", &full(0, 0, &stss)));
        }
        let mut stsc = (self.per_chunk.len() as u32).to_be_bytes().to_vec();
        for (first, count) in &self.per_chunk {
            stsc.extend_from_slice(&first.to_be_bytes());
            stsc.extend_from_slice(&count.to_be_bytes());
            stsc.extend_from_slice(&1u32.to_be_bytes());
        }
        body.extend_from_slice(&boxed(b"stsc", &full(0, 0, &stsc)));
        let uniform = self
            .sizes
            .first()
            .filter(|&&s| self.sizes.iter().all(|&x| x == s));
        let mut stsz = uniform.copied().unwrap_or(0).to_be_bytes().to_vec();
        stsz.extend_from_slice(&(self.sizes.len() as u32).to_be_bytes());
        if uniform.is_none() {
            for s in &self.sizes {
                stsz.extend_from_slice(&s.to_be_bytes());
            }
        }
        body.extend_from_slice(&boxed(b"stsz", &full(0, 0, &stsz)));
        let mut co = (self.chunk_offsets.len() as u32).to_be_bytes().to_vec();
        for &o in &self.chunk_offsets {
            if self.wide {
                co.extend_from_slice(&o.to_be_bytes());
            } else {
                co.extend_from_slice(&(o as u32).to_be_bytes());
            }
        }
        let kind = if self.wide { b"co64" } else { b"stco" };
        body.extend_from_slice(&boxed(kind, &full(0, 0, &co)));
        boxed(b"stbl", &body)
    }
}

/// Appends `value` to a run-length table.
fn push_run<T: PartialEq + Copy>(runs: &mut Vec<(u32, T)>, value: T) {
    match runs.last_mut() {
        Some((count, v)) if *v == value => *count += 1,
        _ => runs.push((1, value)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fragment::Sample;

    /// A minimal init segment: `mvhd` (timescale 1000), one `trak` with a `tkhd`, an `elst`
    /// starting at `media_time` when given, and `mdhd` at `timescale`.
    fn init(timescale: u32, media_time: Option<u32>) -> Vec<u8> {
        let mut mvhd = vec![0u8; 8];
        mvhd.extend_from_slice(&1000u32.to_be_bytes());
        mvhd.extend_from_slice(&0u32.to_be_bytes());
        mvhd.extend_from_slice(&[7u8; 76]); // rate … pre-defined
        mvhd.extend_from_slice(&2u32.to_be_bytes()); // next track id
        let mut tkhd = vec![0u8; 8];
        tkhd.extend_from_slice(&1u32.to_be_bytes());
        tkhd.extend_from_slice(&[0u8; 8]);
        tkhd.extend_from_slice(&[5u8; 60]);
        let mut mdhd = vec![0u8; 8];
        mdhd.extend_from_slice(&timescale.to_be_bytes());
        mdhd.extend_from_slice(&0u32.to_be_bytes());
        mdhd.extend_from_slice(&[0x55, 0xc4, 0, 0]);
        let stbl = [
            boxed(b"stsd", &full(0, 0, &[0, 0, 0, 0])),
            boxed(b"stts", &full(0, 0, &[0, 0, 0, 0])),
        ]
        .concat();
        let minf = [boxed(b"vmhd", &full(0, 1, &[0; 8])), boxed(b"stbl", &stbl)].concat();
        let mdia = [
            boxed(b"mdhd", &full(0, 0, &mdhd)),
            boxed(b"hdlr", &full(0, 0, b"\0\0\0\0vide")),
            boxed(b"minf", &minf),
        ]
        .concat();
        let mut trak = boxed(b"tkhd", &full(0, 3, &tkhd));
        if let Some(t) = media_time {
            let mut elst = 1u32.to_be_bytes().to_vec();
            elst.extend_from_slice(&0u32.to_be_bytes());
            elst.extend_from_slice(&t.to_be_bytes());
            elst.extend_from_slice(&0x0001_0000u32.to_be_bytes());
            trak.extend(boxed(b"edts", &boxed(b"elst", &full(0, 0, &elst))));
        }
        trak.extend(boxed(b"mdia", &mdia));
        let moov = [
            boxed(b"mvhd", &full(0, 0, &mvhd)),
            boxed(b"trak", &trak),
            boxed(b"mvex", &[]),
        ]
        .concat();
        [boxed(b"ftyp", b"iso6\0\0\0\0"), boxed(b"moov", &moov)].concat()
    }

    /// A fragment at `moof` whose samples (of `sizes`, each `duration` long) follow a
    /// 100-byte `moof` and `mdat` header; the first is a sync sample.
    fn fragment(moof: u64, decode_time: u64, sizes: &[u32], duration: u32) -> (u64, Fragment) {
        let mut offset = 100;
        let samples = sizes
            .iter()
            .enumerate()
            .map(|(i, &size)| {
                let s = Sample {
                    offset,
                    size,
                    duration,
                    is_sync: i == 0,
                    composition_offset: if i == 1 { 2 } else { 0 },
                };
                offset += u64::from(size);
                s
            })
            .collect();
        (
            moof,
            Fragment {
                track_id: 1,
                decode_time,
                samples,
            },
        )
    }

    fn child<'a>(buf: &'a [u8], path: &[&FourCc]) -> &'a [u8] {
        path.iter()
            .fold(buf, |b, k| boxes::find(b, k).unwrap().unwrap())
    }

    fn u32s(body: &[u8], skip: usize) -> Vec<u32> {
        body[skip..]
            .chunks(4)
            .map(|c| u32::from_be_bytes(c.try_into().unwrap()))
            .collect()
    }

    /// Two video fragments of 2 s (3 frames each) and three audio fragments of ~1.3 s.
    type Track = (Vec<u8>, Vec<(u64, Fragment)>);

    fn inputs<'a>((vi, v): &'a Track, (ai, a): &'a Track) -> [TrackInput<'a>; 2] {
        [
            TrackInput {
                init: vi,
                timescale: 90_000,
                fragments: v,
            },
            TrackInput {
                init: ai,
                timescale: 48_000,
                fragments: a,
            },
        ]
    }

    fn two_tracks() -> (Track, Track) {
        let video = vec![
            fragment(0, 0, &[1000, 200, 300], 30_000),
            fragment(2000, 90_000, &[900, 250, 350], 30_000),
        ];
        let audio = vec![
            fragment(0, 0, &[10, 10], 32_000),
            fragment(500, 64_000, &[10, 10], 32_000),
            fragment(1000, 128_000, &[10, 10], 32_000),
        ];
        (
            (init(90_000, None), video),
            (init(48_000, Some(1024)), audio),
        )
    }

    #[test]
    fn puts_complete_sample_tables_before_the_interleaved_sample_bytes() {
        let (video, audio) = two_tracks();
        let tracks = inputs(&video, &audio);
        let p = plan(&tracks, Brand::Mp4).unwrap();
        let kinds: Vec<_> = boxes::children(&p.head[..p.head.len() - 8])
            .map(|c| c.unwrap().0)
            .collect();
        assert_eq!(
            kinds,
            [*b"ftyp", *b"moov"],
            "no mvex or anything else at the top"
        );
        assert_eq!(&p.head[p.head.len() - 4..], b"mdat");
        let payload = 1500 + 1500 + 60;
        assert_eq!(p.len, p.head.len() as u64 + payload);
        let mdat_size = u32::from_be_bytes(p.head[p.head.len() - 8..][..4].try_into().unwrap());
        assert_eq!(u64::from(mdat_size), payload + 8);

        // By time: video 0 s, audio 0 s, audio 1.33 s, video 1 s? No: video fragment 2 at
        // 1 s sorts before audio at 1.33 s.
        let order: Vec<_> = p.chunks.iter().map(|c| (c.track, c.fragment)).collect();
        assert_eq!(order, [(0, 0), (1, 0), (0, 1), (1, 1), (1, 2)]);
        let mut at = p.head.len() as u64;
        for c in &p.chunks {
            assert_eq!(c.start, at, "chunks follow each other");
            at += c.source.end - c.source.start;
        }
        assert_eq!(p.chunks[2].source, 2100..3600);

        let moov = child(&p.head, &[b"moov"]);
        let traks: Vec<_> = boxes::children(moov)
            .map(|c| c.unwrap())
            .filter(|(k, _)| k == b"trak")
            .map(|(_, b)| b)
            .collect();
        assert_eq!(traks.len(), 2);
        let stbl = child(traks[0], &[b"mdia", b"minf", b"stbl"]);
        assert_eq!(u32s(child(stbl, &[b"stts"]), 4), [1, 6, 30_000]);
        assert_eq!(u32s(child(stbl, &[b"stss"]), 4), [2, 1, 4]);
        assert_eq!(
            u32s(child(stbl, &[b"stsz"]), 4),
            [0, 6, 1000, 200, 300, 900, 250, 350]
        );
        assert_eq!(u32s(child(stbl, &[b"stsc"]), 4), [1, 1, 3, 1]);
        let stco = u32s(child(stbl, &[b"stco"]), 4);
        assert_eq!(
            stco[1..],
            [p.chunks[0].start as u32, p.chunks[2].start as u32]
        );
        assert_eq!(
            u32s(child(stbl, &[b"ctts"]), 4),
            [5, 1, 0, 1, 2, 2, 0, 1, 2, 1, 0]
        );
        // Track ids 1 and 2; durations in the movie's timescale (ms), version 1 headers.
        let tkhd = child(traks[1], &[b"tkhd"]);
        assert_eq!(tkhd[0], 1);
        assert_eq!(u32::from_be_bytes(tkhd[20..24].try_into().unwrap()), 2);
        // Audio: 6 × 32000 at 48 kHz = 4 s, less the 1024 priming samples (21.33 ms).
        assert_eq!(u64::from_be_bytes(tkhd[28..36].try_into().unwrap()), 3979);
        let elst = child(traks[1], &[b"edts", b"elst"]);
        assert_eq!(&elst[4..8], &1u32.to_be_bytes());
        assert_eq!(u64::from_be_bytes(elst[16..24].try_into().unwrap()), 1024);
        assert!(boxes::find(traks[0], b"edts").unwrap().is_none());
        let mdhd = child(traks[0], &[b"mdia", b"mdhd"]);
        assert_eq!(
            u64::from_be_bytes(mdhd[24..32].try_into().unwrap()),
            180_000
        );
        let mvhd = child(moov, &[b"mvhd"]);
        assert_eq!(u64::from_be_bytes(mvhd[24..32].try_into().unwrap()), 3979);
        assert_eq!(&mvhd[mvhd.len() - 4..], &3u32.to_be_bytes());
    }

    #[test]
    fn a_range_maps_onto_the_head_and_the_track_bytes_it_covers() {
        let (video, audio) = two_tracks();
        let tracks = inputs(&video, &audio);
        let p = plan(&tracks, Brand::Mp4).unwrap();
        let h = p.head.len();
        assert_eq!(p.pieces(0..10), [Piece::Head(0..10)]);
        assert_eq!(
            p.pieces(h as u64 - 2..h as u64 + 5),
            [
                Piece::Head(h - 2..h),
                Piece::Media {
                    chunk: 0,
                    source: 100..105
                }
            ]
        );
        // From inside the first video chunk to inside the second.
        let start = p.chunks[0].start + 1499;
        assert_eq!(
            p.pieces(start..p.chunks[2].start + 1),
            [
                Piece::Media {
                    chunk: 0,
                    source: 1599..1600
                },
                Piece::Media {
                    chunk: 1,
                    source: 100..120
                },
                Piece::Media {
                    chunk: 2,
                    source: 2100..2101
                }
            ]
        );
        let whole: u64 = p
            .pieces(0..p.len)
            .iter()
            .map(|piece| match piece {
                Piece::Head(r) => (r.end - r.start) as u64,
                Piece::Media { source, .. } => source.end - source.start,
            })
            .sum();
        assert_eq!(whole, p.len);
        assert!(p.pieces(p.len..p.len + 10).is_empty());
    }

    #[test]
    fn a_file_past_4_gib_gets_64_bit_chunk_offsets_and_mdat_size() {
        let big = 1_500_000_000;
        let v = vec![
            fragment(0, 0, &[big, big, big], 3000),
            fragment(4_500_000_200, 9000, &[big, big, big], 3000),
        ];
        let vi = init(90_000, None);
        let p = plan(
            &[TrackInput {
                init: &vi,
                timescale: 90_000,
                fragments: &v,
            }],
            Brand::Mp4,
        )
        .unwrap();
        let stbl = child(&p.head, &[b"moov", b"trak", b"mdia", b"minf", b"stbl"]);
        assert!(boxes::find(stbl, b"stco").unwrap().is_none());
        let co64 = child(stbl, &[b"co64"]);
        let second = u64::from_be_bytes(co64[16..24].try_into().unwrap());
        assert_eq!(second, p.chunks[1].start);
        assert!(second > u64::from(u32::MAX));
        let mdat = &p.head[p.head.len() - 16..];
        assert_eq!(&mdat[..8], &[0, 0, 0, 1, b'm', b'd', b'a', b't']);
        assert_eq!(
            u64::from_be_bytes(mdat[8..].try_into().unwrap()),
            6 * u64::from(big) + 16
        );
        assert_eq!(p.len, p.head.len() as u64 + 6 * u64::from(big));
    }

    #[test]
    fn a_track_starting_late_gets_an_empty_edit() {
        let v = vec![fragment(0, 45_000, &[10, 10], 45_000)];
        let vi = init(90_000, None);
        let p = plan(
            &[TrackInput {
                init: &vi,
                timescale: 90_000,
                fragments: &v,
            }],
            Brand::M4a,
        )
        .unwrap();
        assert_eq!(&p.head[8..12], b"M4A ");
        let elst = child(&p.head, &[b"moov", b"trak", b"edts", b"elst"]);
        assert_eq!(&elst[4..8], &2u32.to_be_bytes());
        // 500 ms empty, then 1 s of media from its start.
        assert_eq!(u64::from_be_bytes(elst[8..16].try_into().unwrap()), 500);
        assert_eq!(&elst[16..24], &(-1i64).to_be_bytes());
        assert_eq!(u64::from_be_bytes(elst[28..36].try_into().unwrap()), 1000);
        assert_eq!(u64::from_be_bytes(elst[36..44].try_into().unwrap()), 0);
    }

    #[test]
    fn refuses_what_it_cannot_plan_without_panicking() {
        assert!(plan(&[], Brand::Mp4).is_err());
        let v = vec![fragment(0, 0, &[10], 1)];
        for init in [Vec::new(), b"garbage".to_vec(), boxed(b"moov", &[])] {
            let tracks = [TrackInput {
                init: &init,
                timescale: 1,
                fragments: &v,
            }];
            assert!(plan(&tracks, Brand::Mp4).is_err());
        }
        let vi = init(90_000, None);
        let tracks = [TrackInput {
            init: &vi,
            timescale: 0,
            fragments: &v,
        }];
        assert!(plan(&tracks, Brand::Mp4).is_err());
    }
}
