//! The head of a CMAF track file (`ftyp`, `moov`, `sidx`) parsed into a [`TrackIndex`].
//!
//! One ranged read of a track's head is enough to serve its init segment and to locate every
//! fragment: [`scan_track_head`] either returns the index or says how many bytes it needs.

use std::ops::Range;

use crate::boxes::{self, kind_name, Fields};
use crate::error::{PackagerError, Result};

/// Upper bound on `sidx` references (fragments) in one track: 2 s fragments for 30 days.
pub const MAX_FRAGMENTS: u64 = 1_300_000;

/// How many bytes of a track file to read first: enough for the head of a multi-hour title.
pub const HEAD_READ_HINT: u64 = 64 * 1024;

/// What kind of media a track holds, with the properties players are told about.
#[derive(Debug, Clone, PartialEq)]
pub enum TrackKind {
    /// A video track.
    Video {
        /// Coded width in pixels.
        width: u32,
        /// Coded height in pixels.
        height: u32,
        /// Frames per second as a ratio (from the fragment defaults), when constant.
        frame_rate: Option<(u32, u32)>,
    },
    /// An audio track.
    Audio {
        /// Channel count.
        channels: u16,
        /// Sample rate in Hz.
        sample_rate: u32,
    },
}

/// One `moof`+`mdat` fragment of a track file, as the `sidx` describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragmentRef {
    /// Byte offset of the fragment's `moof` in the track file.
    pub offset: u64,
    /// Size of the fragment (`moof` + `mdat`) in bytes.
    pub size: u32,
    /// Presentation time of the fragment's start, in the track's timescale.
    pub time: u64,
    /// Duration in the track's timescale.
    pub duration: u32,
    /// Whether the fragment starts with a stream access point (a key frame).
    pub starts_with_sap: bool,
}

impl FragmentRef {
    /// The fragment's byte range in the track file.
    pub fn range(&self) -> Range<u64> {
        self.offset..self.offset + u64::from(self.size)
    }
}

/// Everything the packager needs to know about one track file, from its head alone.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackIndex {
    /// The track's id in `moov` (fragments refer to it).
    pub track_id: u32,
    /// Units per second of every time and duration in this index.
    pub timescale: u32,
    /// RFC 6381 codec string, e.g. `avc1.64001f` or `mp4a.40.2`.
    pub codec: String,
    /// ISO 639-2 language from `mdhd` (`und` when unset).
    pub language: String,
    /// Video or audio properties.
    pub kind: TrackKind,
    /// Default sample duration from `trex` (0 when unset).
    pub default_sample_duration: u32,
    /// The init segment's byte range (`ftyp` + `moov`).
    pub init: Range<u64>,
    /// Every fragment, in file order.
    pub fragments: Vec<FragmentRef>,
}

impl TrackIndex {
    /// Total duration of all fragments in seconds.
    pub fn duration_secs(&self) -> f64 {
        let total: u64 = self.fragments.iter().map(|f| u64::from(f.duration)).sum();
        total as f64 / f64::from(self.timescale)
    }

    /// Whether this is a video track.
    pub fn is_video(&self) -> bool {
        matches!(self.kind, TrackKind::Video { .. })
    }
}

/// The outcome of scanning the start of a track file.
#[derive(Debug, Clone, PartialEq)]
pub enum HeadScan {
    /// The buffer ends before the head does: read at least this many bytes from the start.
    NeedMore {
        /// Minimum total length of the head, in bytes from the start of the file.
        at_least: u64,
    },
    /// The head was complete and parsed.
    Complete(TrackIndex),
}

/// Parses the head of a CMAF track file given its first bytes.
///
/// `buf` may be longer than the head (the rest is ignored) or shorter (the answer is
/// [`HeadScan::NeedMore`]). The head ends at the `sidx`; a file without one is refused, since
/// the fragments could not be located without reading all of it.
pub fn scan_track_head(buf: &[u8]) -> Result<HeadScan> {
    let mut offset = 0usize;
    let mut ftyp_seen = false;
    let mut moov: Option<(&[u8], u64)> = None;
    loop {
        let Some(header) = boxes::read_header(buf, offset)? else {
            return Ok(HeadScan::NeedMore {
                at_least: (offset as u64).saturating_add(16),
            });
        };
        let wanted = matches!(&header.kind, b"ftyp" | b"moov" | b"sidx");
        if wanted && header.end() > buf.len() as u64 {
            return Ok(HeadScan::NeedMore {
                at_least: header.end(),
            });
        }
        let body_range = || header.start + header.header_len..header.end() as usize;
        match &header.kind {
            b"ftyp" => ftyp_seen = true,
            b"moov" => moov = Some((&buf[body_range()], header.end())),
            b"sidx" => {
                if !ftyp_seen {
                    return Err(PackagerError::MissingBox("ftyp"));
                }
                let (moov_body, moov_end) = moov.ok_or(PackagerError::MissingBox("moov"))?;
                let mut index = parse_moov(moov_body)?;
                index.init = 0..moov_end;
                index.fragments = parse_sidx(&buf[body_range()], header.end())?;
                if index.fragments.is_empty() {
                    return Err(PackagerError::Unsupported("track has no fragments".into()));
                }
                return Ok(HeadScan::Complete(index));
            }
            b"moof" | b"mdat" => return Err(PackagerError::MissingBox("sidx")),
            _ => {}
        }
        if offset == 0 && !ftyp_seen && &header.kind != b"ftyp" {
            return Err(PackagerError::MissingBox("ftyp"));
        }
        offset = usize::try_from(header.end()).map_err(|_| PackagerError::MalformedBox {
            kind: kind_name(&header.kind),
            reason: "size does not fit in memory".into(),
        })?;
    }
}

fn parse_sidx(body: &[u8], sidx_end: u64) -> Result<Vec<FragmentRef>> {
    let mut f = Fields::new(body, "sidx");
    let (version, _) = f.full_box()?;
    let _reference_id = f.u32()?;
    let _timescale = f.u32()?;
    let earliest = f.u32_or_u64(version)?;
    let first_offset = f.u32_or_u64(version)?;
    f.skip(2)?;
    let count = u64::from(f.u16()?);
    if count > MAX_FRAGMENTS {
        return Err(PackagerError::TooMany {
            kind: "sidx",
            count,
            limit: MAX_FRAGMENTS,
        });
    }
    let mut offset = sidx_end
        .checked_add(first_offset)
        .ok_or_else(|| malformed("sidx", "first_offset overflows"))?;
    let mut time = earliest;
    let mut fragments = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let size_word = f.u32()?;
        if size_word & 0x8000_0000 != 0 {
            return Err(PackagerError::Unsupported(
                "hierarchical sidx (a reference to another sidx)".into(),
            ));
        }
        let size = size_word & 0x7fff_ffff;
        let duration = f.u32()?;
        let sap = f.u32()?;
        fragments.push(FragmentRef {
            offset,
            size,
            time,
            duration,
            starts_with_sap: sap & 0x8000_0000 != 0,
        });
        offset = offset
            .checked_add(u64::from(size))
            .ok_or_else(|| malformed("sidx", "fragment offsets overflow"))?;
        time = time
            .checked_add(u64::from(duration))
            .ok_or_else(|| malformed("sidx", "fragment times overflow"))?;
    }
    Ok(fragments)
}

fn malformed(kind: &str, reason: &str) -> PackagerError {
    PackagerError::MalformedBox {
        kind: kind.into(),
        reason: reason.into(),
    }
}

/// Parses a `moov` body holding exactly one track.
fn parse_moov(moov: &[u8]) -> Result<TrackIndex> {
    let mut traks = Vec::new();
    let mut trex_duration = Vec::new();
    for child in boxes::children(moov) {
        let (kind, body) = child?;
        match &kind {
            b"trak" => traks.push(body),
            b"mvex" => {
                for c in boxes::children(body) {
                    let (k, b) = c?;
                    if &k == b"trex" {
                        let mut f = Fields::new(b, "trex");
                        f.full_box()?;
                        let track_id = f.u32()?;
                        let _desc = f.u32()?;
                        trex_duration.push((track_id, f.u32()?));
                    }
                }
            }
            _ => {}
        }
    }
    let trak = match traks.as_slice() {
        [one] => *one,
        [] => return Err(PackagerError::MissingBox("trak")),
        _ => {
            return Err(PackagerError::Unsupported(format!(
                "{} tracks in one file; a CMAF track file holds one",
                traks.len()
            )))
        }
    };
    let mut index = parse_trak(trak)?;
    index.default_sample_duration = trex_duration
        .iter()
        .find(|(id, _)| *id == index.track_id)
        .map(|(_, d)| *d)
        .unwrap_or(0);
    if let TrackKind::Video { frame_rate, .. } = &mut index.kind {
        if index.default_sample_duration > 0 {
            *frame_rate = Some(reduce(index.timescale, index.default_sample_duration));
        }
    }
    Ok(index)
}

fn reduce(num: u32, den: u32) -> (u32, u32) {
    fn gcd(a: u32, b: u32) -> u32 {
        if b == 0 {
            a
        } else {
            gcd(b, a % b)
        }
    }
    let g = gcd(num, den).max(1);
    (num / g, den / g)
}

fn parse_trak(trak: &[u8]) -> Result<TrackIndex> {
    let tkhd = boxes::require(trak, b"tkhd")?;
    let mut f = Fields::new(tkhd, "tkhd");
    let (version, _) = f.full_box()?;
    f.skip(if version == 1 { 16 } else { 8 })?;
    let track_id = f.u32()?;

    let mdia = boxes::require(trak, b"mdia")?;
    let mdhd = boxes::require(mdia, b"mdhd")?;
    let mut f = Fields::new(mdhd, "mdhd");
    let (version, _) = f.full_box()?;
    f.skip(if version == 1 { 16 } else { 8 })?;
    let timescale = f.u32()?;
    if timescale == 0 {
        return Err(malformed("mdhd", "timescale is 0"));
    }
    f.u32_or_u64(version)?;
    let language = decode_language(f.u16()?);

    let hdlr = boxes::require(mdia, b"hdlr")?;
    let mut f = Fields::new(hdlr, "hdlr");
    f.full_box()?;
    f.skip(4)?;
    let handler: [u8; 4] = f.bytes(4)?.try_into().unwrap_or(*b"????");

    let stbl = boxes::require(boxes::require(mdia, b"minf")?, b"stbl")?;
    let stsd = boxes::require(stbl, b"stsd")?;
    let mut f = Fields::new(stsd, "stsd");
    f.full_box()?;
    let entries = f.u32()?;
    if entries != 1 {
        return Err(PackagerError::Unsupported(format!(
            "{entries} sample descriptions; expected 1"
        )));
    }
    let (entry_kind, entry) = boxes::children(f.rest())
        .next()
        .ok_or(PackagerError::MissingBox("stsd entry"))??;
    let (codec, kind) = match (&handler, &entry_kind) {
        (b"vide", b"avc1" | b"avc3") => parse_avc_entry(&entry_kind, entry)?,
        (b"soun", b"mp4a") => parse_mp4a_entry(entry)?,
        (_, other) => {
            return Err(PackagerError::Unsupported(format!(
                "sample entry `{}` in a `{}` track",
                kind_name(other),
                kind_name(&handler)
            )))
        }
    };
    Ok(TrackIndex {
        track_id,
        timescale,
        codec,
        language,
        kind,
        default_sample_duration: 0,
        init: 0..0,
        fragments: Vec::new(),
    })
}

fn decode_language(packed: u16) -> String {
    let chars = [(packed >> 10) & 0x1f, (packed >> 5) & 0x1f, packed & 0x1f];
    if chars.contains(&0) {
        return "und".into();
    }
    chars.iter().map(|&c| (c as u8 + 0x60) as char).collect()
}

/// Size of the fixed part of a visual sample entry before its child boxes.
const VISUAL_SAMPLE_ENTRY_LEN: usize = 78;
/// Size of the fixed part of an audio sample entry before its child boxes.
const AUDIO_SAMPLE_ENTRY_LEN: usize = 28;

fn parse_avc_entry(kind: &[u8; 4], entry: &[u8]) -> Result<(String, TrackKind)> {
    let mut f = Fields::new(entry, "avc1");
    f.skip(24)?;
    let width = u32::from(f.u16()?);
    let height = u32::from(f.u16()?);
    f.skip(VISUAL_SAMPLE_ENTRY_LEN - f.position())?;
    let avcc = boxes::require(f.rest(), b"avcC")?;
    let mut a = Fields::new(avcc, "avcC");
    let _version = a.u8()?;
    let profile = a.u8()?;
    let compat = a.u8()?;
    let level = a.u8()?;
    let codec = format!(
        "{}.{profile:02x}{compat:02x}{level:02x}",
        std::str::from_utf8(kind).unwrap_or("avc1")
    );
    Ok((
        codec,
        TrackKind::Video {
            width,
            height,
            frame_rate: None,
        },
    ))
}

fn parse_mp4a_entry(entry: &[u8]) -> Result<(String, TrackKind)> {
    let mut f = Fields::new(entry, "mp4a");
    f.skip(16)?;
    let channels = f.u16()?;
    f.skip(6)?;
    let sample_rate = f.u32()? >> 16;
    f.skip(AUDIO_SAMPLE_ENTRY_LEN - f.position())?;
    let esds = boxes::require(f.rest(), b"esds")?;
    let (object_type, audio_object_type) = parse_esds(esds)?;
    let codec = match audio_object_type {
        Some(aot) => format!("mp4a.{object_type:02x}.{aot}"),
        None => format!("mp4a.{object_type:02x}"),
    };
    Ok((
        codec,
        TrackKind::Audio {
            channels,
            sample_rate,
        },
    ))
}

/// Returns the object type indication and, for MPEG-4 audio, the audio object type.
fn parse_esds(esds: &[u8]) -> Result<(u8, Option<u8>)> {
    let (object_type, config) = crate::codec::decoder_config(esds)?;
    if object_type != 0x40 {
        return Ok((object_type, None));
    }
    let config = config
        .filter(|c| !c.is_empty())
        .ok_or_else(|| malformed("esds", "no AudioSpecificConfig"))?;
    let first = config[0];
    let mut aot = first >> 3;
    if aot == 31 {
        let second = *config
            .get(1)
            .ok_or_else(|| malformed("esds", "AudioSpecificConfig is cut short"))?;
        aot = 32 + (((first & 0x07) << 3) | (second >> 5));
    }
    Ok((object_type, Some(aot)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_decodes_packed_iso639() {
        // "eng" = e(5) n(14) g(7)
        let packed = (5u16 << 10) | (14 << 5) | 7;
        assert_eq!(decode_language(packed), "eng");
        assert_eq!(decode_language(0), "und");
    }

    #[test]
    fn empty_input_needs_more() {
        assert_eq!(
            scan_track_head(&[]).unwrap(),
            HeadScan::NeedMore { at_least: 16 }
        );
    }

    #[test]
    fn file_not_starting_with_ftyp_is_refused() {
        let mut buf = 16u32.to_be_bytes().to_vec();
        buf.extend_from_slice(b"free");
        buf.extend_from_slice(&[0; 8]);
        buf.extend_from_slice(&16u32.to_be_bytes());
        buf.extend_from_slice(b"moof");
        buf.extend_from_slice(&[0; 8]);
        assert!(scan_track_head(&buf).is_err());
    }

    #[test]
    fn aac_lc_esds_gives_mp4a_40_2() {
        // esds: fullbox, ES_Descriptor(3) { ES_ID, flags, DCD(4) { oti 0x40, st, buf, max, avg, DSI(5) {0x12 0x10} } }
        let mut esds = vec![0, 0, 0, 0];
        esds.extend_from_slice(&[0x03, 0x80, 0x80, 0x80, 25, 0, 1, 0]);
        esds.extend_from_slice(&[0x04, 17, 0x40, 0x15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        esds.extend_from_slice(&[0x05, 2, 0x12, 0x10]);
        assert_eq!(parse_esds(&esds).unwrap(), (0x40, Some(2)));
    }
}
