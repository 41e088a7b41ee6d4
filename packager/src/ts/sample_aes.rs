//! `METHOD=SAMPLE-AES` for MPEG-TS (Apple's "MPEG-2 Stream Encryption Format for HTTP Live
//! Streaming"): only parts of the samples are encrypted, so the stream stays parseable.
//!
//! - H.264: slice NAL units (types 1 and 5) longer than 48 bytes, as they are in the stream
//!   (emulation prevention bytes included): the first 32 bytes stay clear, then one 16-byte
//!   block in ten is encrypted (AES-128-CBC, the chain running through the encrypted blocks
//!   only, IV reset per NAL unit) while more than 16 bytes remain; the rest stays clear. The
//!   result is escaped (emulation prevention inserted wherever the ciphertext emulates a start
//!   code). Clients (hls.js, FFmpeg, AVPlayer) remove emulation prevention, decrypt, and hand
//!   the result to the decoder as is — so what is encrypted must be the NAL unit *with* its
//!   own emulation prevention, or every slice holding one decodes as garbage.
//! - AAC: each ADTS frame's header and first 16 payload bytes stay clear, then every whole
//!   16-byte block is encrypted (CBC, IV reset per frame); the partial tail stays clear.
//!   Frames of 31 payload bytes or fewer stay clear.

use aes::cipher::{BlockEncryptMut, KeyIvInit};

use crate::crypto::KEY_LEN;

type Aes128CbcEnc = cbc::Encryptor<aes::Aes128>;

/// Key and IV of a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleAes {
    /// The content key.
    pub key: [u8; KEY_LEN],
    /// The segment's IV (reset for every NAL unit and audio frame).
    pub iv: [u8; 16],
}

/// Shortest slice NAL unit (as it appears in the stream) that is encrypted.
const MIN_NAL: usize = 48;
/// Clear bytes at the start of an encrypted NAL unit.
const NAL_LEADER: usize = 32;
/// Clear bytes after the ADTS header.
const AUDIO_LEADER: usize = 16;

impl SampleAes {
    fn cipher(&self) -> Aes128CbcEnc {
        Aes128CbcEnc::new(&self.key.into(), &self.iv.into())
    }

    /// A slice NAL unit (escaped, as in the sample) encrypted for SAMPLE-AES and escaped
    /// again; `None` when it stays clear (not a slice, or too short). A client decides by the
    /// length it sees, which escaping never makes shorter.
    pub fn encrypt_nal(&self, nal: &[u8]) -> Option<Vec<u8>> {
        let kind = nal.first()? & 0x1f;
        if !(kind == 1 || kind == 5) || nal.len() <= MIN_NAL {
            return None;
        }
        let mut data = nal.to_vec();
        let mut cipher = self.cipher();
        let mut pos = NAL_LEADER;
        while pos < data.len() {
            let remaining = data.len() - pos;
            if remaining > 16 {
                let block = (&mut data[pos..pos + 16]).into();
                cipher.encrypt_block_mut(block);
                pos += 16;
            }
            pos += (data.len() - pos).min(144);
        }
        Some(escape(&data))
    }

    /// Encrypts the payload (after its ADTS header) of one AAC frame in place.
    pub fn encrypt_aac_frame(&self, payload: &mut [u8]) {
        if payload.len() <= 31 {
            return;
        }
        let mut cipher = self.cipher();
        let blocks = (payload.len() - AUDIO_LEADER) / 16;
        for i in 0..blocks {
            let at = AUDIO_LEADER + i * 16;
            cipher.encrypt_block_mut((&mut payload[at..at + 16]).into());
        }
    }
}

/// Removes emulation prevention bytes (`00 00 03` → `00 00`, a final one included), as
/// clients do before decrypting.
#[cfg(test)]
fn unescape(nal: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nal.len());
    let mut i = 0;
    while i < nal.len() {
        if nal.len() - i >= 3 && nal[i] == 0 && nal[i + 1] == 0 && nal[i + 2] == 3 {
            out.extend_from_slice(&[0, 0]);
            i += 3;
        } else {
            out.push(nal[i]);
            i += 1;
        }
    }
    out
}

/// Inserts emulation prevention so no `00 00 0x` (x ≤ 3) appears, and a final `03` when the
/// data ends in zero (H.264 §7.4.1).
fn escape(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 64 + 1);
    let mut zeros = 0;
    for &b in data {
        if zeros >= 2 && b <= 3 {
            out.push(3);
            zeros = 0;
        }
        out.push(b);
        zeros = if b == 0 { zeros + 1 } else { 0 };
    }
    if out.last() == Some(&0) {
        out.push(3);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use aes::cipher::BlockDecryptMut;

    type Aes128CbcDec = cbc::Decryptor<aes::Aes128>;

    /// The client side, as hls.js and FFmpeg's hls_sample_encryption.c do it: unescape,
    /// decrypt, and the result goes to the decoder unchanged.
    fn decrypt_nal(s: &SampleAes, nal: &[u8]) -> Vec<u8> {
        if nal.len() <= MIN_NAL {
            return nal.to_vec();
        }
        let mut data = unescape(nal);
        let mut d = Aes128CbcDec::new(&s.key.into(), &s.iv.into());
        let mut pos = NAL_LEADER;
        while pos < data.len() {
            if data.len() - pos > 16 {
                d.decrypt_block_mut((&mut data[pos..pos + 16]).into());
                pos += 16;
            }
            pos += (data.len() - pos).min(144);
        }
        data
    }

    fn key() -> SampleAes {
        SampleAes {
            key: [7; 16],
            iv: [9; 16],
        }
    }

    #[test]
    fn escaping_round_trips_and_never_emulates_a_start_code() {
        let data = [0u8, 0, 1, 0, 0, 0, 0, 0, 3, 5, 0, 0];
        let e = escape(&data);
        assert!(!e.windows(3).any(|w| w[0] == 0 && w[1] == 0 && w[2] <= 2));
        assert_eq!(unescape(&e)[..data.len()], data);
    }

    #[test]
    fn slices_round_trip_through_the_client_algorithm() {
        let s = key();
        for len in [49usize, 60, 64, 65, 200, 208, 1000] {
            let mut nal: Vec<u8> = (0..len).map(|i| (i * 7 + 1) as u8).collect();
            nal[0] = 0x65;
            let enc = s.encrypt_nal(&nal).unwrap();
            assert!(enc.len() > MIN_NAL);
            assert_eq!(&enc[..NAL_LEADER], &nal[..NAL_LEADER], "leader clear");
            assert_ne!(enc, nal);
            assert_eq!(decrypt_nal(&s, &enc), nal, "len {len}");
        }
    }

    #[test]
    fn slices_holding_emulation_prevention_decrypt_to_what_the_decoder_needs() {
        // hls.js_sample_aes_plays_every_rung: a slice with emulation prevention bytes in the
        // encrypted region must come back with them, byte for byte.
        let s = key();
        let mut nal: Vec<u8> = (0..400).map(|i| (i * 13 + 5) as u8 | 0x10).collect();
        nal[0] = 0x41;
        for at in [40, 100, 192, 195, 300] {
            nal[at..at + 4].copy_from_slice(&[0, 0, 3, 1]);
        }
        let enc = s.encrypt_nal(&nal).unwrap();
        assert!(!enc.windows(3).any(|w| w[0] == 0 && w[1] == 0 && w[2] <= 2));
        assert_eq!(decrypt_nal(&s, &enc), nal);
        // Short slices and other NAL types stay clear.
        assert_eq!(s.encrypt_nal(&[0x65; 48]), None);
        assert_eq!(s.encrypt_nal(&[0x67; 500]), None);
    }

    #[test]
    fn aac_frames_keep_their_leader_and_tail() {
        let s = key();
        let clear: Vec<u8> = (0..100u8).collect();
        let mut p = clear.clone();
        s.encrypt_aac_frame(&mut p);
        assert_eq!(&p[..16], &clear[..16]);
        assert_ne!(&p[16..96], &clear[16..96]);
        assert_eq!(&p[96..], &clear[96..], "partial tail clear");
        let mut short = clear[..31].to_vec();
        s.encrypt_aac_frame(&mut short);
        assert_eq!(short, clear[..31]);
    }
}
