//! Program-specific information: the PAT and PMT sections (ISO/IEC 13818-1 §2.4.4), with
//! their CRC-32/MPEG-2.

/// PID of the PAT.
pub const PAT_PID: u16 = 0x0000;
/// PID of the PMT of the one program.
pub const PMT_PID: u16 = 0x1000;
/// Program number of the one program.
const PROGRAM_NUMBER: u16 = 1;

/// `stream_type` of H.264 video.
pub const STREAM_TYPE_H264: u8 = 0x1b;
/// `stream_type` of AAC in ADTS.
pub const STREAM_TYPE_AAC_ADTS: u8 = 0x0f;
/// `stream_type` of SAMPLE-AES encrypted H.264 (Apple).
pub const STREAM_TYPE_H264_SAMPLE_AES: u8 = 0xdb;
/// `stream_type` of SAMPLE-AES encrypted AAC in ADTS (Apple).
pub const STREAM_TYPE_AAC_SAMPLE_AES: u8 = 0xcf;

/// An elementary stream as the PMT lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stream {
    /// `stream_type`.
    pub stream_type: u8,
    /// Its PID.
    pub pid: u16,
    /// Its ES_info descriptors, encoded.
    pub descriptors: Vec<u8>,
}

/// A `private_data_indicator_descriptor` (tag 0x0F) with a four-character code.
pub fn private_data_indicator(code: &[u8; 4]) -> Vec<u8> {
    let mut d = vec![0x0f, 4];
    d.extend_from_slice(code);
    d
}

/// A `registration_descriptor` (tag 0x05) with `format_identifier` and extra bytes.
pub fn registration(format: &[u8; 4], info: &[u8]) -> Vec<u8> {
    let mut d = vec![0x05, (4 + info.len()) as u8];
    d.extend_from_slice(format);
    d.extend_from_slice(info);
    d
}

/// CRC-32/MPEG-2 (polynomial 0x04C11DB7, initial 0xFFFFFFFF, no reflection, no final xor).
pub fn crc32_mpeg2(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &byte in data {
        crc ^= u32::from(byte) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04c1_1db7
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// A long-form section: header, `body`, CRC. `table_id_extension` is the transport stream
/// id (PAT) or program number (PMT).
fn section(table_id: u8, table_id_extension: u16, body: &[u8]) -> Vec<u8> {
    // section_length counts from after its own field to the end of the CRC.
    let section_length = 5 + body.len() + 4;
    let mut s = Vec::with_capacity(3 + section_length);
    s.push(table_id);
    s.push(0xb0 | ((section_length >> 8) as u8 & 0x0f));
    s.push(section_length as u8);
    s.extend_from_slice(&table_id_extension.to_be_bytes());
    s.push(0xc1); // reserved, version 0, current_next_indicator 1
    s.push(0); // section_number
    s.push(0); // last_section_number
    s.extend_from_slice(body);
    let crc = crc32_mpeg2(&s);
    s.extend_from_slice(&crc.to_be_bytes());
    s
}

/// The PAT: program 1 → [`PMT_PID`].
pub fn pat() -> Vec<u8> {
    let mut body = Vec::with_capacity(4);
    body.extend_from_slice(&PROGRAM_NUMBER.to_be_bytes());
    body.extend_from_slice(&(0xe000 | PMT_PID).to_be_bytes());
    section(0x00, 1, &body)
}

/// The PMT of program 1: `streams` as (stream_type, PID), PCR carried on `pcr_pid`.
pub fn pmt(pcr_pid: u16, streams: &[(u8, u16)]) -> Vec<u8> {
    let streams: Vec<Stream> = streams
        .iter()
        .map(|&(stream_type, pid)| Stream {
            stream_type,
            pid,
            descriptors: Vec::new(),
        })
        .collect();
    pmt_with(pcr_pid, &streams)
}

/// The PMT of program 1 with each stream's descriptors.
pub fn pmt_with(pcr_pid: u16, streams: &[Stream]) -> Vec<u8> {
    let mut body = Vec::with_capacity(4 + streams.len() * 16);
    body.extend_from_slice(&(0xe000 | pcr_pid).to_be_bytes());
    body.extend_from_slice(&0xf000u16.to_be_bytes()); // program_info_length 0
    for s in streams {
        body.push(s.stream_type);
        body.extend_from_slice(&(0xe000 | s.pid).to_be_bytes());
        let len = (s.descriptors.len() as u16) & 0x03ff;
        body.extend_from_slice(&(0xf000 | len).to_be_bytes());
        body.extend_from_slice(&s.descriptors[..usize::from(len)]);
    }
    section(0x02, PROGRAM_NUMBER, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_matches_the_mpeg2_check_value() {
        // The CRC catalogue's check value for CRC-32/MPEG-2 over "123456789".
        assert_eq!(crc32_mpeg2(b"123456789"), 0x0376_e6e7);
    }

    #[test]
    fn sections_carry_a_crc_that_checks_to_zero() {
        for s in [
            pat(),
            pmt(
                0x100,
                &[(STREAM_TYPE_H264, 0x100), (STREAM_TYPE_AAC_ADTS, 0x101)],
            ),
        ] {
            // Over a whole section including its CRC, CRC-32/MPEG-2 gives 0.
            assert_eq!(crc32_mpeg2(&s), 0);
            let declared = usize::from(s[1] & 0x0f) << 8 | usize::from(s[2]);
            assert_eq!(declared + 3, s.len());
        }
    }
}
