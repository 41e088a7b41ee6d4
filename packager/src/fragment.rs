//! One `moof` parsed into its samples: sizes, durations, sync flags and where their bytes are.

use crate::boxes::{self, Fields};
use crate::error::{PackagerError, Result};

/// Upper bound on samples in one fragment (a 2 s fragment of 240 fps video has 480).
pub const MAX_SAMPLES_PER_FRAGMENT: u64 = 100_000;

/// One sample of a fragment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// Offset of the sample's bytes from the start of the `moof`.
    pub offset: u64,
    /// Size in bytes.
    pub size: u32,
    /// Decode duration in the track's timescale.
    pub duration: u32,
    /// Whether it is a sync sample (a key frame).
    pub is_sync: bool,
    /// Composition time offset (presentation minus decode time).
    pub composition_offset: i32,
}

/// The samples of one fragment and its decode time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fragment {
    /// The track the fragment belongs to (`tfhd`).
    pub track_id: u32,
    /// Decode time of the first sample (`tfdt`), in the track's timescale.
    pub decode_time: u64,
    /// The samples, in decode order.
    pub samples: Vec<Sample>,
}

impl Fragment {
    /// Byte length from the start of the `moof` to the end of the first sample: the range an
    /// I-frame playlist names for a fragment that starts with a key frame.
    pub fn first_sample_end(&self) -> Option<u64> {
        self.samples.first().map(|s| s.offset + u64::from(s.size))
    }
}

const TFHD_BASE_DATA_OFFSET: u32 = 0x01;
const TFHD_SAMPLE_DESCRIPTION_INDEX: u32 = 0x02;
const TFHD_DEFAULT_DURATION: u32 = 0x08;
const TFHD_DEFAULT_SIZE: u32 = 0x10;
const TFHD_DEFAULT_FLAGS: u32 = 0x20;
const TRUN_DATA_OFFSET: u32 = 0x01;
const TRUN_FIRST_SAMPLE_FLAGS: u32 = 0x04;
const TRUN_DURATION: u32 = 0x100;
const TRUN_SIZE: u32 = 0x200;
const TRUN_FLAGS: u32 = 0x400;
const TRUN_COMPOSITION_OFFSET: u32 = 0x800;
const SAMPLE_IS_NON_SYNC: u32 = 0x0001_0000;

/// Parses the fragment whose `moof` box starts `buf` (the rest of `buf` is ignored).
///
/// `moof_file_offset` is where that `moof` sits in the track file, needed only when a `tfhd`
/// carries an absolute base data offset. `default_sample_duration` comes from `trex`.
pub fn parse_fragment(
    buf: &[u8],
    moof_file_offset: u64,
    default_sample_duration: u32,
) -> Result<Fragment> {
    let header = boxes::read_header(buf, 0)?.ok_or(PackagerError::MissingBox("moof"))?;
    if &header.kind != b"moof" {
        return Err(PackagerError::MissingBox("moof"));
    }
    let end = usize::try_from(header.end())
        .ok()
        .filter(|&e| e <= buf.len())
        .ok_or_else(|| PackagerError::MalformedBox {
            kind: "moof".into(),
            reason: "runs past the end of the fragment".into(),
        })?;
    let moof = &buf[header.header_len..end];
    let traf = boxes::require(moof, b"traf")?;

    let mut f = Fields::new(boxes::require(traf, b"tfhd")?, "tfhd");
    let (_, tf_flags) = f.full_box()?;
    let track_id = f.u32()?;
    let mut base = 0u64;
    if tf_flags & TFHD_BASE_DATA_OFFSET != 0 {
        base =
            f.u64()?
                .checked_sub(moof_file_offset)
                .ok_or_else(|| PackagerError::MalformedBox {
                    kind: "tfhd".into(),
                    reason: "base data offset lies before the moof".into(),
                })?;
    }
    if tf_flags & TFHD_SAMPLE_DESCRIPTION_INDEX != 0 {
        f.u32()?;
    }
    let default_duration = if tf_flags & TFHD_DEFAULT_DURATION != 0 {
        f.u32()?
    } else {
        default_sample_duration
    };
    let default_size = if tf_flags & TFHD_DEFAULT_SIZE != 0 {
        f.u32()?
    } else {
        0
    };
    let default_flags = if tf_flags & TFHD_DEFAULT_FLAGS != 0 {
        f.u32()?
    } else {
        0
    };

    let decode_time = match boxes::find(traf, b"tfdt")? {
        Some(body) => {
            let mut f = Fields::new(body, "tfdt");
            let (version, _) = f.full_box()?;
            f.u32_or_u64(version)?
        }
        None => 0,
    };

    let mut samples = Vec::new();
    let mut next_offset = base;
    for child in boxes::children(traf) {
        let (kind, body) = child?;
        if &kind != b"trun" {
            continue;
        }
        let mut f = Fields::new(body, "trun");
        let (version, flags) = f.full_box()?;
        let count = u64::from(f.u32()?);
        if samples.len() as u64 + count > MAX_SAMPLES_PER_FRAGMENT {
            return Err(PackagerError::TooMany {
                kind: "trun",
                count,
                limit: MAX_SAMPLES_PER_FRAGMENT,
            });
        }
        if flags & TRUN_DATA_OFFSET != 0 {
            let rel = i64::from(f.u32()? as i32);
            next_offset =
                base.checked_add_signed(rel)
                    .ok_or_else(|| PackagerError::MalformedBox {
                        kind: "trun".into(),
                        reason: "data offset points before the moof".into(),
                    })?;
        }
        let first_flags = if flags & TRUN_FIRST_SAMPLE_FLAGS != 0 {
            Some(f.u32()?)
        } else {
            None
        };
        samples.reserve(count as usize);
        for i in 0..count {
            let duration = if flags & TRUN_DURATION != 0 {
                f.u32()?
            } else {
                default_duration
            };
            let size = if flags & TRUN_SIZE != 0 {
                f.u32()?
            } else {
                default_size
            };
            let mut sample_flags = if flags & TRUN_FLAGS != 0 {
                f.u32()?
            } else {
                default_flags
            };
            if i == 0 {
                if let Some(first) = first_flags {
                    sample_flags = first;
                }
            }
            let composition_offset = if flags & TRUN_COMPOSITION_OFFSET != 0 {
                let raw = f.u32()?;
                if version == 0 {
                    i32::try_from(raw).unwrap_or(i32::MAX)
                } else {
                    raw as i32
                }
            } else {
                0
            };
            samples.push(Sample {
                offset: next_offset,
                size,
                duration,
                is_sync: sample_flags & SAMPLE_IS_NON_SYNC == 0,
                composition_offset,
            });
            next_offset = next_offset.checked_add(u64::from(size)).ok_or_else(|| {
                PackagerError::MalformedBox {
                    kind: "trun".into(),
                    reason: "sample offsets overflow".into(),
                }
            })?;
        }
    }
    if samples.is_empty() {
        return Err(PackagerError::MissingBox("trun"));
    }
    Ok(Fragment {
        track_id,
        decode_time,
        samples,
    })
}

/// One sample with its bytes and absolute times, from a run of whole fragments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaSample<'a> {
    /// Decode time in the track's timescale.
    pub decode_time: u64,
    /// Presentation minus decode time.
    pub composition_offset: i32,
    /// Decode duration.
    pub duration: u32,
    /// Whether it is a sync sample (a key frame).
    pub is_sync: bool,
    /// The sample's bytes.
    pub data: &'a [u8],
}

/// Every sample of the whole fragments (`moof` + `mdat`, repeated) in `bytes`, in decode
/// order. `file_offset` is where `bytes` starts in the track file (only needed for absolute
/// base data offsets); `default_sample_duration` comes from `trex`.
pub fn samples_of(
    bytes: &[u8],
    file_offset: u64,
    default_sample_duration: u32,
) -> Result<Vec<MediaSample<'_>>> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while let Some(header) = boxes::read_header(bytes, pos)? {
        let end = usize::try_from(header.end()).unwrap_or(usize::MAX);
        if &header.kind == b"moof" {
            let fragment = parse_fragment(
                &bytes[pos..],
                file_offset.saturating_add(pos as u64),
                default_sample_duration,
            )?;
            let mut time = fragment.decode_time;
            for s in &fragment.samples {
                let start = usize::try_from(s.offset)
                    .ok()
                    .and_then(|o| o.checked_add(pos));
                let data = start
                    .and_then(|a| Some(a..a.checked_add(s.size as usize)?))
                    .and_then(|r| bytes.get(r))
                    .ok_or_else(|| PackagerError::MalformedBox {
                        kind: "trun".into(),
                        reason: "a sample lies outside its fragment".into(),
                    })?;
                out.push(MediaSample {
                    decode_time: time,
                    composition_offset: s.composition_offset,
                    duration: s.duration,
                    is_sync: s.is_sync,
                    data,
                });
                time = time.checked_add(u64::from(s.duration)).ok_or_else(|| {
                    PackagerError::MalformedBox {
                        kind: "trun".into(),
                        reason: "decode times overflow".into(),
                    }
                })?;
            }
        }
        if end <= pos || end > bytes.len() {
            break;
        }
        pos = end;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boxes::boxed;

    fn moof(sample_sizes: &[u32]) -> Vec<u8> {
        let mut tfhd = vec![0, 0x02, 0, 0x20]; // default-base-is-moof | default flags
        tfhd.extend_from_slice(&1u32.to_be_bytes());
        tfhd.extend_from_slice(&SAMPLE_IS_NON_SYNC.to_be_bytes());
        let mut tfdt = vec![1, 0, 0, 0];
        tfdt.extend_from_slice(&90_000u64.to_be_bytes());
        let mut trun = vec![0, 0, 0x03, 0x05]; // data offset, first flags, duration, size
        trun.extend_from_slice(&(sample_sizes.len() as u32).to_be_bytes());
        trun.extend_from_slice(&100u32.to_be_bytes());
        trun.extend_from_slice(&0u32.to_be_bytes());
        for s in sample_sizes {
            trun.extend_from_slice(&3000u32.to_be_bytes());
            trun.extend_from_slice(&s.to_be_bytes());
        }
        let traf = [
            boxed(b"tfhd", &tfhd),
            boxed(b"tfdt", &tfdt),
            boxed(b"trun", &trun),
        ]
        .concat();
        boxed(b"moof", &boxed(b"traf", &traf))
    }

    #[test]
    fn samples_are_located_from_the_moof_start() {
        let frag = parse_fragment(&moof(&[10, 20, 30]), 5000, 0).unwrap();
        assert_eq!(frag.decode_time, 90_000);
        let offsets: Vec<_> = frag.samples.iter().map(|s| s.offset).collect();
        assert_eq!(offsets, vec![100, 110, 130]);
        assert!(frag.samples[0].is_sync);
        assert!(!frag.samples[1].is_sync);
        assert_eq!(frag.first_sample_end(), Some(110));
    }

    #[test]
    fn truncated_trun_is_an_error() {
        let mut m = moof(&[10, 20]);
        let len = m.len();
        m.truncate(len - 4);
        m[3] -= 4; // keep moof size consistent with the cut so the trun is what is short
        assert!(parse_fragment(&m, 0, 0).is_err());
    }
}
