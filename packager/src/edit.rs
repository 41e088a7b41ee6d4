//! Edit lists: where a track's presentation starts in its media timeline.
//!
//! An AAC encoder primes its first frame with 1024 samples of delay; the samples of content
//! start 1024 samples into the decode timeline. CMAF (ISO/IEC 23000-19 §7.5.13) and Apple's
//! HLS authoring rules signal that with an edit list in the header, `elst` with one entry whose
//! `media_time` is the priming: players present decode time `t` at `t - media_time`, so audio
//! and video start together, and `sidx`/playlist times are presentation times.
//!
//! [`presentation_offset`] reads it (TS output has no edit lists and subtracts it from every
//! PTS instead); [`insert_presentation_offset`] writes it into a track file's header.

use crate::boxes::{self, Fields, FourCc};
use crate::error::{PackagerError, Result};

/// The media time at which presentation starts, in the track's timescale: the `media_time` of
/// the first non-empty entry of the track's `elst`, or 0 without one.
pub fn presentation_offset(init: &[u8]) -> Result<u64> {
    let moov = boxes::require(init, b"moov")?;
    let trak = boxes::require(moov, b"trak")?;
    let Some(edts) = boxes::find(trak, b"edts")? else {
        return Ok(0);
    };
    let Some(elst) = boxes::find(edts, b"elst")? else {
        return Ok(0);
    };
    let mut f = Fields::new(elst, "elst");
    let (version, _) = f.full_box()?;
    let count = f.u32()?;
    for _ in 0..count.min(1024) {
        let _duration = f.u32_or_u64(version)?;
        let media_time = if version == 1 {
            f.u64()? as i64
        } else {
            i64::from(f.u32()? as i32)
        };
        f.skip(4)?; // media rate
                    // -1 is an empty edit (a gap before the media starts): look further.
        if media_time >= 0 {
            return Ok(media_time as u64);
        }
    }
    Ok(0)
}

fn header(kind: &FourCc, body_len: usize) -> Result<[u8; 8]> {
    let size = u32::try_from(body_len + 8).map_err(|_| PackagerError::MalformedBox {
        kind: boxes::kind_name(kind),
        reason: "grows beyond 4 GiB".into(),
    })?;
    let mut h = [0u8; 8];
    h[..4].copy_from_slice(&size.to_be_bytes());
    h[4..].copy_from_slice(kind);
    Ok(h)
}

/// `edts` holding one edit: present the whole media from `media_time` on at normal rate
/// (segment duration 0: "the rest of the media", as fragmented files have no total yet).
fn edts_box(media_time: u64) -> Vec<u8> {
    let mut elst = Vec::with_capacity(36);
    let media_time = i64::try_from(media_time).unwrap_or(i64::MAX);
    if let Ok(t) = i32::try_from(media_time) {
        elst.extend_from_slice(&[0, 0, 0, 0]); // version 0, flags
        elst.extend_from_slice(&1u32.to_be_bytes());
        elst.extend_from_slice(&0u32.to_be_bytes());
        elst.extend_from_slice(&t.to_be_bytes());
    } else {
        elst.extend_from_slice(&[1, 0, 0, 0]);
        elst.extend_from_slice(&1u32.to_be_bytes());
        elst.extend_from_slice(&0u64.to_be_bytes());
        elst.extend_from_slice(&media_time.to_be_bytes());
    }
    elst.extend_from_slice(&[0, 1, 0, 0]); // rate 1.0
    let mut out = Vec::with_capacity(elst.len() + 16);
    out.extend_from_slice(&(elst.len() as u32 + 16).to_be_bytes());
    out.extend_from_slice(b"edts");
    out.extend_from_slice(&(elst.len() as u32 + 8).to_be_bytes());
    out.extend_from_slice(b"elst");
    out.extend_from_slice(&elst);
    out
}

/// A track file (or its first bytes, as long as they hold the whole `moov`) with an edit list
/// that starts presentation at `media_time`, inserted into its single `trak` right after
/// `tkhd`. Everything after the `moov` is copied unchanged: `sidx` offsets are relative to
/// the `sidx`, fragment data offsets to their `moof`, so growing the `moov` moves nothing
/// they point at. Refuses a track that already has an edit list.
pub fn insert_presentation_offset(file: &[u8], media_time: u64) -> Result<Vec<u8>> {
    let mut at = 0usize;
    let mut out = Vec::with_capacity(file.len() + 36);
    while let Some(b) = boxes::read_header(file, at)? {
        let end = usize::try_from(b.end()).unwrap_or(usize::MAX);
        if &b.kind != b"moov" {
            let Some(bytes) = file.get(at..end) else {
                break;
            };
            out.extend_from_slice(bytes);
            at = end;
            continue;
        }
        let body = file
            .get(at + b.header_len..end)
            .ok_or(PackagerError::MissingBox("moov"))?;
        let mut moov = Vec::with_capacity(body.len() + 36);
        let mut traks = 0;
        for child in boxes::children(body) {
            let (kind, child_body) = child?;
            if &kind != b"trak" {
                moov.extend_from_slice(&header(&kind, child_body.len())?);
                moov.extend_from_slice(child_body);
                continue;
            }
            traks += 1;
            if boxes::find(child_body, b"edts")?.is_some() {
                return Err(PackagerError::Unsupported(
                    "the track already has an edit list".into(),
                ));
            }
            let mut trak = Vec::with_capacity(child_body.len() + 36);
            for grandchild in boxes::children(child_body) {
                let (k, gbody) = grandchild?;
                trak.extend_from_slice(&header(&k, gbody.len())?);
                trak.extend_from_slice(gbody);
                if &k == b"tkhd" {
                    trak.extend_from_slice(&edts_box(media_time));
                }
            }
            moov.extend_from_slice(&header(b"trak", trak.len())?);
            moov.extend_from_slice(&trak);
        }
        if traks != 1 {
            return Err(PackagerError::Unsupported(format!(
                "a track file has one trak, this one {traks}"
            )));
        }
        out.extend_from_slice(&header(b"moov", moov.len())?);
        out.extend_from_slice(&moov);
        out.extend_from_slice(file.get(end..).unwrap_or_default());
        return Ok(out);
    }
    Err(PackagerError::MissingBox("moov"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bx(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        [&(body.len() as u32 + 8).to_be_bytes()[..], kind, body].concat()
    }

    #[test]
    fn an_inserted_edit_list_reads_back_and_moves_nothing_after_the_moov() {
        let tkhd = bx(b"tkhd", &[0u8; 84]);
        let mdia = bx(b"mdia", &bx(b"mdhd", &[0u8; 24]));
        let trak = bx(b"trak", &[tkhd, mdia].concat());
        let moov = bx(b"moov", &[bx(b"mvhd", &[0u8; 100]), trak].concat());
        let tail = [bx(b"sidx", &[1u8; 40]), bx(b"moof", &[2u8; 30])].concat();
        let file = [bx(b"ftyp", b"cmfc\0\0\0\0"), moov, tail.clone()].concat();
        assert_eq!(presentation_offset(&file).unwrap(), 0);
        let edited = insert_presentation_offset(&file, 1024).unwrap();
        assert_eq!(presentation_offset(&edited).unwrap(), 1024);
        assert_eq!(edited.len(), file.len() + 36);
        assert!(edited.ends_with(&tail));
        // Once is enough: a second edit list is refused, not stacked.
        assert!(insert_presentation_offset(&edited, 1024).is_err());
        // Large media times take a version-1 entry.
        let far = insert_presentation_offset(&file, 1 << 40).unwrap();
        assert_eq!(presentation_offset(&far).unwrap(), 1 << 40);
        assert!(insert_presentation_offset(b"not a file", 1).is_err());
    }
}
