//! Common Encryption (ISO/IEC 23001-7) of fMP4 H.264 video, in its two schemes:
//!
//! - `cbcs`: AES-CBC, one 16-byte block in ten (1:9 pattern), a constant IV reset per
//!   subsample, a partial last block clear. Apple's HLS `METHOD=SAMPLE-AES` for fMP4, and
//!   DASH's `cbcs`.
//! - `cenc`: AES-CTR over the protected bytes of each sample as one stream, an 8-byte IV per
//!   sample (in `senc`). DASH's default scheme.
//!
//! The init segment's sample entry becomes `encv` with a `sinf` (`frma`, `schm`, `tenc` with
//! the key id, and for `cbcs` the pattern and the constant IV), and its `moov` gains the W3C
//! common system's `pssh` listing the key id (what a ClearKey CDM reads from the media). Every fragment gets `saiz`/`saio`/
//! `senc` subsample maps and its `trun` data offsets move by what was added. In each slice NAL
//! unit longer than 48 bytes the length prefix and 32 bytes stay clear (the slice header);
//! `cenc` also leaves clear what does not fill a whole block, so every protected range is
//! whole blocks. Other NAL units stay clear.

use aes::cipher::{BlockEncrypt, BlockEncryptMut, KeyInit, KeyIvInit};

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

/// The protection scheme (`schm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// AES-CTR, full subsample encryption, a per-sample IV.
    Cenc,
    /// AES-CBC with the 1:9 pattern and a constant IV.
    Cbcs,
}

impl Scheme {
    /// The scheme's four-character code, as `schm` and DASH's `mp4protection` value name it.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Cenc => "cenc",
            Scheme::Cbcs => "cbcs",
        }
    }
}

/// Scheme, key, key id and IV of a protected track.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommonEncryption {
    /// How samples are encrypted.
    pub scheme: Scheme,
    /// Content key.
    pub key: [u8; 16],
    /// Key id written in `tenc`.
    pub kid: [u8; 16],
    /// `cbcs`: the constant IV (written in `tenc`, used for every subsample). `cenc`: its
    /// first 8 bytes, XORed with a sample's decode time, are that sample's IV — so they must
    /// differ between the tracks that share a key (the renditions of a video), or two
    /// samples would share a key stream.
    pub iv: [u8; 16],
}

/// The W3C "common" protection system id (`1077efec-c0b2-4d02-ace3-3c1e52e2fb4b`), whose
/// `pssh` lists key ids: what ClearKey reads.
pub const COMMON_SYSTEM_ID: [u8; 16] = [
    0x10, 0x77, 0xef, 0xec, 0xc0, 0xb2, 0x4d, 0x02, 0xac, 0xe3, 0x3c, 0x1e, 0x52, 0xe2, 0xfb, 0x4b,
];

/// A version 1 `pssh` box of the common system listing `kids`, with no data.
pub fn common_pssh(kids: &[[u8; 16]]) -> Vec<u8> {
    let mut body = COMMON_SYSTEM_ID.to_vec();
    body.extend_from_slice(&(kids.len() as u32).to_be_bytes());
    for kid in kids {
        body.extend_from_slice(kid);
    }
    body.extend_from_slice(&0u32.to_be_bytes());
    boxed(b"pssh", &full(1, 0, &body))
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

/// The init segment with its video sample entry protected (`avc1` → `encv` + `sinf`) and
/// the common `pssh` at the end of its `moov`.
pub fn protect_init(init: &[u8], p: &CommonEncryption) -> Result<Vec<u8>> {
    let protected = protect_sample_entry(init, p)?;
    let pssh = common_pssh(&[p.kid]);
    rewrite(&protected, &[b"moov"], &mut |moov| {
        Ok([moov, &pssh].concat())
    })
}

/// The init segment with its video sample entry protected.
fn protect_sample_entry(init: &[u8], p: &CommonEncryption) -> Result<Vec<u8>> {
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
                    "common encryption is applied to H.264 video tracks".into(),
                ));
            }
            let tenc = match p.scheme {
                Scheme::Cbcs => {
                    let mut t = vec![0, (CRYPT_BLOCKS << 4) | SKIP_BLOCKS, 1, 0];
                    t.extend_from_slice(&p.kid);
                    t.push(16);
                    t.extend_from_slice(&p.iv);
                    full(1, 0, &t)
                }
                Scheme::Cenc => {
                    let mut t = vec![0, 0, 1, CENC_IV_SIZE as u8];
                    t.extend_from_slice(&p.kid);
                    full(0, 0, &t)
                }
            };
            let mut schm = p.scheme.name().as_bytes().to_vec();
            schm.extend_from_slice(&0x0001_0000u32.to_be_bytes());
            let sinf = [
                boxed(b"frma", &kind),
                boxed(b"schm", &full(0, 0, &schm)),
                boxed(b"schi", &boxed(b"tenc", &tenc)),
            ]
            .concat();
            out.extend(boxed(b"encv", &[body, &boxed(b"sinf", &sinf)].concat()));
        }
        Ok(out)
    })
}

/// Bytes of a `cenc` sample IV (the counter fills the other 8 of the AES-CTR block).
const CENC_IV_SIZE: usize = 8;

/// One subsample: clear bytes, then protected bytes.
type Subsample = (u16, u32);

/// How one sample was protected: its IV (`cenc`) and its subsamples.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SampleMap {
    iv: Option<[u8; CENC_IV_SIZE]>,
    subsamples: Vec<Subsample>,
}

/// The cipher state of one sample: `cbcs` restarts per range, `cenc` runs one counter over
/// the sample's protected ranges (each whole blocks).
enum SampleCipher<'k> {
    Cbcs {
        key: [u8; 16],
        iv: [u8; 16],
    },
    Cenc {
        aes: &'k aes::Aes128,
        iv: [u8; CENC_IV_SIZE],
        counter: u64,
    },
}

impl<'k> SampleCipher<'k> {
    /// The cipher of the sample decoded at `decode_time`; `aes` is `p.key`'s schedule.
    fn new(p: &CommonEncryption, aes: &'k aes::Aes128, decode_time: u64) -> SampleCipher<'k> {
        match p.scheme {
            Scheme::Cbcs => SampleCipher::Cbcs {
                key: p.key,
                iv: p.iv,
            },
            Scheme::Cenc => SampleCipher::Cenc {
                aes,
                iv: cenc_sample_iv(p, decode_time),
                counter: 0,
            },
        }
    }

    /// The bytes a slice NAL unit of `len` bytes (header included) leaves clear after its
    /// length prefix.
    fn clear_leader(&self, len: usize) -> usize {
        match self {
            SampleCipher::Cbcs { .. } => NAL_LEADER,
            // Whole blocks only: the remainder stays clear with the slice header.
            SampleCipher::Cenc { .. } => NAL_LEADER + (len - NAL_LEADER) % 16,
        }
    }

    /// Encrypts a protected range in place.
    fn encrypt(&mut self, data: &mut [u8]) {
        match self {
            SampleCipher::Cbcs { key, iv } => encrypt_range(data, key, iv),
            SampleCipher::Cenc { aes, iv, counter } => {
                for block in data.chunks_exact_mut(16) {
                    let mut keystream = [0u8; 16];
                    keystream[..CENC_IV_SIZE].copy_from_slice(iv);
                    keystream[CENC_IV_SIZE..].copy_from_slice(&counter.to_be_bytes());
                    let mut ks = keystream.into();
                    aes.encrypt_block(&mut ks);
                    for (b, k) in block.iter_mut().zip(ks.iter()) {
                        *b ^= k;
                    }
                    *counter += 1;
                }
            }
        }
    }

    fn iv(&self) -> Option<[u8; CENC_IV_SIZE]> {
        match self {
            SampleCipher::Cbcs { .. } => None,
            SampleCipher::Cenc { iv, .. } => Some(*iv),
        }
    }
}

/// The `cenc` IV of the sample decoded at `decode_time`: the track's salt XOR the time, so
/// no two samples of a track share one.
fn cenc_sample_iv(p: &CommonEncryption, decode_time: u64) -> [u8; CENC_IV_SIZE] {
    let mut salt = [0u8; CENC_IV_SIZE];
    salt.copy_from_slice(&p.iv[..CENC_IV_SIZE]);
    (u64::from_be_bytes(salt) ^ decode_time).to_be_bytes()
}

/// Encrypts a protected range in place: 1:9 pattern over whole blocks, IV reset.
fn encrypt_range(data: &mut [u8], key: &[u8; 16], iv: &[u8; 16]) {
    let mut cipher = Aes128CbcEnc::new(key.into(), iv.into());
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
    cipher: &mut SampleCipher<'_>,
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
            let leader = cipher.clear_leader(len);
            clear += nal_length_size + leader;
            let protected = len - leader;
            while clear > usize::from(u16::MAX) {
                subsamples.push((u16::MAX, 0));
                clear -= usize::from(u16::MAX);
            }
            let start = pos + nal_length_size + leader;
            cipher.encrypt(&mut sample[start..end]);
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

/// The fragments of a video segment with their samples encrypted as `p` says and each
/// `traf` carrying `saiz`, `saio` and `senc`.
pub fn protect_fragments(
    bytes: &[u8],
    file_offset: u64,
    default_sample_duration: u32,
    nal_length_size: u8,
    p: &CommonEncryption,
) -> Result<Vec<u8>> {
    let n = usize::from(nal_length_size);
    let aes = aes::Aes128::new(&p.key.into());
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
        let mut decode_time = fragment.decode_time;
        for s in &fragment.samples {
            let start = usize::try_from(s.offset).map_err(|_| PackagerError::MissingBox("mdat"))?;
            let stop = start
                .checked_add(s.size as usize)
                .filter(|&e| e <= data.len())
                .ok_or(PackagerError::MissingBox("mdat"))?;
            let mut cipher = SampleCipher::new(p, &aes, decode_time);
            let subsamples = protect_sample(&mut data[start..stop], n, &mut cipher)?;
            maps.push(SampleMap {
                iv: cipher.iv(),
                subsamples,
            });
            decode_time = decode_time.wrapping_add(u64::from(s.duration));
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
fn protected_moof(moof: &[u8], maps: &[SampleMap]) -> Result<(Vec<u8>, usize)> {
    let mut senc = (maps.len() as u32).to_be_bytes().to_vec();
    let mut sizes = Vec::with_capacity(maps.len());
    for m in maps {
        let iv_len = m.iv.map_or(0, |iv| {
            senc.extend_from_slice(&iv);
            iv.len()
        });
        senc.extend_from_slice(&(m.subsamples.len() as u16).to_be_bytes());
        for (clear, protected) in &m.subsamples {
            senc.extend_from_slice(&clear.to_be_bytes());
            senc.extend_from_slice(&protected.to_be_bytes());
        }
        let size = iv_len + 2 + 6 * m.subsamples.len();
        sizes.push(u8::try_from(size).map_err(|_| {
            PackagerError::Unsupported(format!("a sample of {} NAL units", m.subsamples.len()))
        })?);
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

    /// The schedule of the tests' key, `[3; 16]`.
    fn schedule() -> &'static aes::Aes128 {
        static SCHEDULE: std::sync::OnceLock<aes::Aes128> = std::sync::OnceLock::new();
        SCHEDULE.get_or_init(|| aes::Aes128::new(&[3u8; 16].into()))
    }

    fn params(scheme: Scheme) -> CommonEncryption {
        CommonEncryption {
            scheme,
            key: [3; 16],
            kid: [4; 16],
            iv: [5; 16],
        }
    }

    fn cbcs() -> SampleCipher<'static> {
        SampleCipher::new(&params(Scheme::Cbcs), schedule(), 0)
    }

    fn cenc(decode_time: u64) -> SampleCipher<'static> {
        SampleCipher::new(&params(Scheme::Cenc), schedule(), decode_time)
    }

    /// SEI (clear), a big IDR slice, a short slice (clear).
    fn sample() -> Vec<u8> {
        let mut sample = Vec::new();
        for (kind, len) in [(6u8, 20usize), (5, 400), (1, 30)] {
            sample.extend_from_slice(&(len as u32).to_be_bytes());
            sample.push(kind);
            sample.extend(std::iter::repeat_n(0xab, len - 1));
        }
        sample
    }

    #[test]
    fn subsamples_keep_headers_clear_and_cover_the_sample() {
        let mut sample = sample();
        let clear = sample.clone();
        let map = protect_sample(&mut sample, 4, &mut cbcs()).unwrap();
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
        assert!(protect_sample(&mut sample, 4, &mut cbcs()).is_err());
    }

    /// `cenc`: the slice's protected range is whole blocks (the remainder joins the clear
    /// leader), and it is AES-CTR with the sample's IV and a counter from 0 — checked
    /// against a CTR built from the block cipher by hand (NIST SP 800-38A's construction).
    #[test]
    fn cenc_encrypts_whole_blocks_with_a_counter_from_the_sample_iv() {
        let mut sample = sample();
        let clear = sample.clone();
        let mut cipher = cenc(90_000);
        let map = protect_sample(&mut sample, 4, &mut cipher).unwrap();
        // 400-byte slice: 32 + 368 % 16 = 32 clear (368 is 23 blocks).
        assert_eq!(map[0], ((24 + 4 + 32) as u16, 368));
        let iv = cipher.iv().unwrap();
        assert_eq!(
            u64::from_be_bytes(iv),
            u64::from_be_bytes([5; 8]) ^ 90_000,
            "the salt XOR the decode time"
        );
        let aes = aes::Aes128::new(&[3u8; 16].into());
        for (i, block) in sample[60..428].chunks(16).enumerate() {
            let mut counter = [0u8; 16];
            counter[..8].copy_from_slice(&iv);
            counter[8..].copy_from_slice(&(i as u64).to_be_bytes());
            let mut ks = counter.into();
            aes.encrypt_block(&mut ks);
            let want: Vec<u8> = clear[60 + i * 16..76 + i * 16]
                .iter()
                .zip(ks.iter())
                .map(|(c, k)| c ^ k)
                .collect();
            assert_eq!(block, &want[..], "block {i}");
        }
        assert_eq!(&sample[428..], &clear[428..], "the short slice stays clear");
        // A slice whose protected part is not whole blocks leaves the remainder clear.
        let mut odd = vec![0, 0, 0, 100, 5];
        odd.extend(std::iter::repeat_n(7u8, 99));
        let map = protect_sample(&mut odd, 4, &mut cenc(0)).unwrap();
        assert_eq!(map, vec![((4 + 32 + 68 % 16) as u16, 64)]);
    }

    #[test]
    fn the_common_pssh_lists_its_key_ids() {
        let pssh = common_pssh(&[[9; 16]]);
        assert_eq!(&pssh[4..8], b"pssh");
        assert_eq!(pssh[8], 1, "version 1");
        assert_eq!(&pssh[12..28], &COMMON_SYSTEM_ID);
        assert_eq!(&pssh[28..32], &1u32.to_be_bytes());
        assert_eq!(&pssh[32..48], &[9; 16]);
        assert_eq!(pssh.len(), 52);
    }
}
