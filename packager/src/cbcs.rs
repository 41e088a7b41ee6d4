//! `METHOD=SAMPLE-AES` for fMP4: Common Encryption `cbcs` (ISO/IEC 23001-7), the scheme
//! Apple's HLS uses. The init segment's sample entry becomes `encv` with a `sinf`
//! (`frma`, `schm` = cbcs, `tenc` with the 1:9 pattern, the key id and a constant IV; no
//! `pssh`); every fragment gets `saiz`/`saio`/`senc` subsample maps, its `trun` data offsets
//! move by what was added, and in each H.264 slice NAL unit longer than 48 bytes everything
//! after the length prefix and 32 clear bytes is encrypted one 16-byte block in ten (the IV
//! reset per subsample, a partial last block clear). Other NAL units stay clear.

use aes::cipher::{BlockEncryptMut, KeyIvInit};

use crate::boxes::{self, boxed, full, FourCc};
use crate::error::{PackagerError, Result};
use crate::fragment::parse_fragment;

type Aes128CbcEnc = cbc::Encryptor<aes::Aes128>;

/// Blocks encrypted, then skipped, in each run of the pattern.
const CRYPT_BLOCKS: u8 = 1;
const SKIP_BLOCKS: u8 = 9;
/// Bytes of a slice NAL unit (from its header) left clear.
const NAL_LEADER: usize = 32;
/// Slice NAL units this long or shorter stay clear.
const MIN_NAL: usize = 48;

/// Key, key id and the constant IV of a protected track.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cbcs {
    /// Content key.
    pub key: [u8; 16],
    /// Key id written in `tenc`.
    pub kid: [u8; 16],
    /// Constant IV (written in `tenc`, used for every subsample).
    pub iv: [u8; 16],
}

/// Rebuilds the boxes of `body`, replacing the one at `path` by `f(its body)`.
fn rewrite(
    body: &[u8],
    path: &[&FourCc],
    f: &mut dyn FnMut(&[u8]) -> Result<Vec<u8>>,
) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(body.len() + 128);
    let mut found = false;
    for child in boxes::children(body) {
        let (kind, child_body) = child?;
        if !found && &kind == path[0] {
            found = true;
            let new_body = if path.len() == 1 {
                f(child_body)?
            } else {
                rewrite(child_body, &path[1..], f)?
            };
            out.extend(boxed(&kind, &new_body));
        } else {
            out.extend(boxed(&kind, child_body));
        }
    }
    if !found {
        return Err(PackagerError::MissingBox("trak/mdia/minf/stbl/stsd"));
    }
    Ok(out)
}

/// The init segment with its video sample entry protected (`avc1` → `encv` + `sinf`).
pub fn protect_init(init: &[u8], cbcs: &Cbcs) -> Result<Vec<u8>> {
    let path: [&FourCc; 6] = [b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsd"];
    rewrite(init, &path, &mut |stsd| {
        let header = stsd
            .get(..8)
            .ok_or(PackagerError::MissingBox("stsd entry"))?;
        let mut out = header.to_vec();
        for (i, entry) in boxes::children(&stsd[8..]).enumerate() {
            let (kind, body) = entry?;
            if i > 0 {
                out.extend(boxed(&kind, body));
                continue;
            }
            if !matches!(&kind, b"avc1" | b"avc3") {
                return Err(PackagerError::Unsupported(
                    "cbcs is applied to H.264 video tracks".into(),
                ));
            }
            let mut tenc = vec![0, (CRYPT_BLOCKS << 4) | SKIP_BLOCKS, 1, 0];
            tenc.extend_from_slice(&cbcs.kid);
            tenc.push(16);
            tenc.extend_from_slice(&cbcs.iv);
            let sinf = [
                boxed(b"frma", &kind),
                boxed(b"schm", &full(0, 0, &[b'c', b'b', b'c', b's', 0, 1, 0, 0])),
                boxed(b"schi", &boxed(b"tenc", &full(1, 0, &tenc))),
            ]
            .concat();
            out.extend(boxed(b"encv", &[body, &boxed(b"sinf", &sinf)].concat()));
        }
        Ok(out)
    })
}

/// One subsample: clear bytes, then protected bytes.
type Subsample = (u16, u32);

/// Encrypts a protected range in place: 1:9 pattern over whole blocks, IV reset.
fn encrypt_range(data: &mut [u8], cbcs: &Cbcs) {
    let mut cipher = Aes128CbcEnc::new(&cbcs.key.into(), &cbcs.iv.into());
    let blocks = data.len() / 16;
    let mut b = 0;
    while b < blocks {
        for k in b..(b + usize::from(CRYPT_BLOCKS)).min(blocks) {
            cipher.encrypt_block_mut((&mut data[k * 16..k * 16 + 16]).into());
        }
        b += usize::from(CRYPT_BLOCKS) + usize::from(SKIP_BLOCKS);
    }
}

/// Encrypts one length-prefixed H.264 sample in place; returns its subsample map.
fn protect_sample(
    sample: &mut [u8],
    nal_length_size: usize,
    cbcs: &Cbcs,
) -> Result<Vec<Subsample>> {
    let mut subsamples = Vec::new();
    let mut clear = 0usize;
    let mut pos = 0usize;
    let truncated = || PackagerError::Unsupported("a NAL unit runs past its sample".into());
    while pos < sample.len() {
        let prefix = sample
            .get(pos..pos + nal_length_size)
            .ok_or_else(truncated)?;
        let len = prefix
            .iter()
            .fold(0usize, |a, &b| (a << 8) | usize::from(b));
        let end = pos
            .checked_add(nal_length_size + len)
            .filter(|&e| e <= sample.len())
            .ok_or_else(truncated)?;
        let kind = sample.get(pos + nal_length_size).map_or(0, |b| b & 0x1f);
        if (kind == 1 || kind == 5) && len > MIN_NAL {
            clear += nal_length_size + NAL_LEADER;
            let protected = len - NAL_LEADER;
            while clear > usize::from(u16::MAX) {
                subsamples.push((u16::MAX, 0));
                clear -= usize::from(u16::MAX);
            }
            let start = pos + nal_length_size + NAL_LEADER;
            encrypt_range(&mut sample[start..end], cbcs);
            subsamples.push((clear as u16, protected as u32));
            clear = 0;
        } else {
            clear += end - pos;
        }
        pos = end;
    }
    while clear > 0 {
        let c = clear.min(usize::from(u16::MAX));
        subsamples.push((c as u16, 0));
        clear -= c;
    }
    Ok(subsamples)
}

/// The fragments of a video segment with their samples `cbcs`-encrypted and each `traf`
/// carrying `saiz`, `saio` and `senc`.
pub fn protect_fragments(
    bytes: &[u8],
    file_offset: u64,
    default_sample_duration: u32,
    nal_length_size: u8,
    cbcs: &Cbcs,
) -> Result<Vec<u8>> {
    let n = usize::from(nal_length_size);
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 100 + 1024);
    let mut pos = 0usize;
    while let Some(header) = boxes::read_header(bytes, pos)? {
        let end = usize::try_from(header.end())
            .ok()
            .filter(|&e| e <= bytes.len())
            .ok_or(PackagerError::MissingBox("mdat"))?;
        if &header.kind != b"moof" {
            out.extend_from_slice(&bytes[pos..end]);
            pos = end;
            continue;
        }
        let fragment = parse_fragment(
            &bytes[pos..],
            file_offset.saturating_add(pos as u64),
            default_sample_duration,
        )?;
        // The fragment (moof and what follows up to the next moof), encrypted in place.
        let next = next_moof(bytes, end)?;
        let mut data = bytes[pos..next].to_vec();
        let mut maps = Vec::with_capacity(fragment.samples.len());
        for s in &fragment.samples {
            let start = usize::try_from(s.offset).map_err(|_| PackagerError::MissingBox("mdat"))?;
            let stop = start
                .checked_add(s.size as usize)
                .filter(|&e| e <= data.len())
                .ok_or(PackagerError::MissingBox("mdat"))?;
            maps.push(protect_sample(&mut data[start..stop], n, cbcs)?);
        }
        let moof_len = end - pos;
        let (moof, delta) = protected_moof(&bytes[pos..end], &maps)?;
        out.extend_from_slice(&moof);
        out.extend_from_slice(&data[moof_len..]);
        debug_assert_eq!(moof.len(), moof_len + delta);
        pos = next;
    }
    Ok(out)
}

/// Where the next `moof` after `from` starts (or the end of the buffer).
fn next_moof(bytes: &[u8], mut from: usize) -> Result<usize> {
    while let Some(h) = boxes::read_header(bytes, from)? {
        if &h.kind == b"moof" {
            return Ok(from);
        }
        from = usize::try_from(h.end())
            .ok()
            .filter(|&e| e <= bytes.len() && e > from)
            .ok_or(PackagerError::MissingBox("mdat"))?;
    }
    Ok(bytes.len())
}

/// The `moof` with `saiz`, `saio` and `senc` added to its `traf` and `trun` data offsets moved;
/// returns it and how many bytes it grew.
fn protected_moof(moof: &[u8], maps: &[Vec<Subsample>]) -> Result<(Vec<u8>, usize)> {
    let mut senc = (maps.len() as u32).to_be_bytes().to_vec();
    let mut sizes = Vec::with_capacity(maps.len());
    for m in maps {
        senc.extend_from_slice(&(m.len() as u16).to_be_bytes());
        for (clear, protected) in m {
            senc.extend_from_slice(&clear.to_be_bytes());
            senc.extend_from_slice(&protected.to_be_bytes());
        }
        sizes.push(u8::try_from(2 + 6 * m.len()).unwrap_or(u8::MAX));
    }
    let senc = boxed(b"senc", &full(0, 0x2, &senc));
    let mut saiz = vec![0u8];
    saiz.extend_from_slice(&(maps.len() as u32).to_be_bytes());
    saiz.extend_from_slice(&sizes);
    let saiz = boxed(b"saiz", &full(0, 0, &saiz));
    let saio_placeholder = boxed(b"saio", &full(0, 0, &[0, 0, 0, 1, 0, 0, 0, 0]));
    let delta = senc.len() + saiz.len() + saio_placeholder.len();

    let body = moof.get(8..).ok_or(PackagerError::MissingBox("moof"))?;
    let mut new_body = Vec::with_capacity(body.len() + delta);
    let mut senc_at = None;
    for child in boxes::children(body) {
        let (kind, child_body) = child?;
        if &kind != b"traf" {
            new_body.extend(boxed(&kind, child_body));
            continue;
        }
        let mut traf = Vec::with_capacity(child_body.len() + delta);
        for grand in boxes::children(child_body) {
            let (gk, gb) = grand?;
            if &gk == b"trun" {
                let mut t = gb.to_vec();
                if t.len() >= 12 && t[3] & 0x01 != 0 {
                    let old = i32::from_be_bytes([t[8], t[9], t[10], t[11]]);
                    let new = old
                        .checked_add(delta as i32)
                        .ok_or(PackagerError::MissingBox("trun"))?;
                    t[8..12].copy_from_slice(&new.to_be_bytes());
                }
                traf.extend(boxed(&gk, &t));
            } else {
                traf.extend(boxed(&gk, gb));
            }
        }
        traf.extend_from_slice(&saiz);
        traf.extend_from_slice(&saio_placeholder);
        // senc's sample entries start 16 bytes into it (header, version/flags, count).
        senc_at = Some(8 + new_body.len() + 8 + traf.len() + 16);
        traf.extend_from_slice(&senc);
        new_body.extend(boxed(b"traf", &traf));
    }
    let senc_at = senc_at.ok_or(PackagerError::MissingBox("traf"))?;
    let mut out = boxed(b"moof", &new_body);
    // saio's offset field is the last 4 bytes before senc.
    let saio_offset_at = senc_at - 16 - 4;
    out[saio_offset_at..saio_offset_at + 4].copy_from_slice(&(senc_at as u32).to_be_bytes());
    let grown = out.len() - moof.len();
    Ok((out, grown))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cbcs() -> Cbcs {
        Cbcs {
            key: [3; 16],
            kid: [4; 16],
            iv: [5; 16],
        }
    }

    #[test]
    fn subsamples_keep_headers_clear_and_cover_the_sample() {
        let mut sample = Vec::new();
        // SEI (clear), a big IDR slice, a short slice (clear).
        for (kind, len) in [(6u8, 20usize), (5, 400), (1, 30)] {
            sample.extend_from_slice(&(len as u32).to_be_bytes());
            sample.push(kind);
            sample.extend(std::iter::repeat_n(0xab, len - 1));
        }
        let clear = sample.clone();
        let map = protect_sample(&mut sample, 4, &cbcs()).unwrap();
        let total: usize = map.iter().map(|(c, p)| usize::from(*c) + *p as usize).sum();
        assert_eq!(total, sample.len());
        assert_eq!(map[0], ((24 + 4 + 32) as u16, 400 - 32));
        assert_eq!(map[1], (34, 0));
        assert_eq!(&sample[..60], &clear[..60]);
        assert_ne!(&sample[60..76], &clear[60..76], "first block encrypted");
        assert_eq!(&sample[76..220], &clear[76..220], "nine blocks skipped");
    }

    #[test]
    fn bad_samples_are_errors() {
        let mut sample = vec![0, 0, 1, 0, 5];
        assert!(protect_sample(&mut sample, 4, &cbcs()).is_err());
    }
}
