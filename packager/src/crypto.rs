//! HLS `METHOD=AES-128` encryption: the whole segment, AES-128 in CBC mode with PKCS#7
//! padding (RFC 8216 §4.3.2.4), with an explicit IV per segment. Works the same for fMP4 and
//! TS segments; init sections stay clear (their `EXT-X-MAP` comes before the first key).

use aes::cipher::{block_padding::Pkcs7, BlockEncryptMut, KeyIvInit};

/// AES-128 key size.
pub const KEY_LEN: usize = 16;

type Aes128CbcEnc = cbc::Encryptor<aes::Aes128>;

/// The IV of segment `n`: its number as a 128-bit big-endian integer (what RFC 8216 uses
/// when the IV is implicit; written explicitly in every `EXT-X-KEY` anyway).
pub fn segment_iv(n: u64) -> [u8; 16] {
    u128::from(n).to_be_bytes()
}

/// The IV of the key-frame resource of fragment `n` (an encrypted I-frame playlist's
/// entries): the top bit set, so it never equals a segment's IV under the same key.
pub fn iframe_iv(n: u64) -> [u8; 16] {
    (u128::from(n) | 1 << 127).to_be_bytes()
}

/// The IV as `EXT-X-KEY` writes it (`0x` + 32 hex digits).
pub fn iv_attribute(iv: &[u8; 16]) -> String {
    let mut s = String::with_capacity(34);
    s.push_str("0x");
    for b in iv {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// `data` encrypted with AES-128-CBC under `key` and `iv`, PKCS#7 padded (always 1–16 bytes
/// longer, to a multiple of 16).
pub fn encrypt_segment(key: &[u8; KEY_LEN], iv: &[u8; 16], data: &[u8]) -> Vec<u8> {
    Aes128CbcEnc::new(key.into(), iv.into()).encrypt_padded_vec_mut::<Pkcs7>(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_nist_cbc_vector_and_pads() {
        // NIST SP 800-38A F.2.1, first block.
        let key: [u8; 16] = [
            0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6, 0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf,
            0x4f, 0x3c,
        ];
        let iv: [u8; 16] = std::array::from_fn(|i| i as u8);
        let plain = [
            0x6b, 0xc1, 0xbe, 0xe2, 0x2e, 0x40, 0x9f, 0x96, 0xe9, 0x3d, 0x7e, 0x11, 0x73, 0x93,
            0x17, 0x2a,
        ];
        let out = encrypt_segment(&key, &iv, &plain);
        assert_eq!(
            out.len(),
            32,
            "a full block of padding follows a whole block"
        );
        assert_eq!(
            &out[..16],
            &[
                0x76, 0x49, 0xab, 0xac, 0x81, 0x19, 0xb2, 0x46, 0xce, 0xe9, 0x8e, 0x9b, 0x12, 0xe9,
                0x19, 0x7d
            ]
        );
        assert_eq!(encrypt_segment(&key, &iv, &[1, 2, 3]).len(), 16);
    }

    #[test]
    fn ivs_are_the_segment_number() {
        assert_eq!(segment_iv(258)[14..], [1, 2]);
        assert_eq!(
            iv_attribute(&segment_iv(1)),
            "0x00000000000000000000000000000001"
        );
    }
}
