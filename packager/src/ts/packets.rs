//! Cutting PES packets and PSI sections into 188-byte transport packets: continuity
//! counters, PCR and random-access flags in the adaptation field, and adaptation-field
//! stuffing so every packet is exactly 188 bytes.

/// Size of a transport packet.
pub const PACKET: usize = 188;
/// Payload bytes of a packet without an adaptation field.
const FULL_PAYLOAD: usize = PACKET - 4;

/// Flags for the first packet of a PES.
#[derive(Debug, Clone, Copy, Default)]
pub struct FirstPacket {
    /// Program clock reference (27 MHz) to carry, if any.
    pub pcr: Option<u64>,
    /// Set `random_access_indicator` (the PES starts with a key frame).
    pub random_access: bool,
}

impl FirstPacket {
    /// Length of the adaptation field these flags need (0 when none is needed).
    fn adaptation_len(&self) -> usize {
        match (self.pcr, self.random_access) {
            (Some(_), _) => 2 + 6,
            (None, true) => 2,
            (None, false) => 0,
        }
    }
}

/// How many packets `len` payload bytes take with `first` flags (no extra splitting).
pub fn packets_for(len: usize, first: FirstPacket) -> usize {
    let first_capacity = FULL_PAYLOAD - first.adaptation_len();
    if len <= first_capacity {
        1
    } else {
        1 + (len - first_capacity).div_ceil(FULL_PAYLOAD)
    }
}

/// Payload bytes handed out in order, possibly from several buffers (so the PES header and
/// the sample data can be packetized without first being copied together).
pub trait Payload {
    /// Bytes left.
    fn remaining(&self) -> usize;
    /// Appends the next `n` bytes (at most [`Payload::remaining`]) to `out`.
    fn take(&mut self, out: &mut Vec<u8>, n: usize);
}

impl Payload for &[u8] {
    fn remaining(&self) -> usize {
        self.len()
    }

    fn take(&mut self, out: &mut Vec<u8>, n: usize) {
        let (head, rest) = self.split_at(n.min(self.len()));
        out.extend_from_slice(head);
        *self = rest;
    }
}

/// Writes a PES packet as transport packets on `pid`, continuing the continuity counter
/// `cc`: [`packets_for`] packets plus `extra`, so that the caller can make a PID's packet count
/// per segment come out at a multiple of 16. Packets are filled from the front; the extra ones
/// at the end carry a single byte each behind adaptation-field stuffing (legal, if wasteful:
/// at most 15 × 188 bytes per PID per segment). Needs at least one payload byte per packet.
pub fn write_pes<P: Payload>(
    out: &mut Vec<u8>,
    pid: u16,
    cc: &mut u8,
    payload: &mut P,
    first: FirstPacket,
    extra: usize,
) {
    let count = packets_for(payload.remaining(), first) + extra;
    let first_capacity = FULL_PAYLOAD - first.adaptation_len();
    for i in 0..count {
        let capacity = if i == 0 { first_capacity } else { FULL_PAYLOAD };
        let left = payload.remaining();
        let after = count - i - 1;
        let take = capacity.min(left.saturating_sub(after)).max(1).min(left);
        let flags = if i == 0 {
            first
        } else {
            FirstPacket::default()
        };
        write_packet(out, pid, cc, i == 0, flags, take);
        payload.take(out, take);
    }
}

/// One transport packet's header and adaptation field, sized for `len` payload bytes (at
/// most what fits), which the caller appends next.
#[inline]
fn write_packet(
    out: &mut Vec<u8>,
    pid: u16,
    cc: &mut u8,
    unit_start: bool,
    flags: FirstPacket,
    len: usize,
) {
    let needed_af = flags.adaptation_len();
    let stuffing = FULL_PAYLOAD - needed_af - len;
    let has_af = needed_af > 0 || stuffing > 0;
    let header = [
        0x47,
        (u8::from(unit_start) << 6) | ((pid >> 8) as u8 & 0x1f),
        pid as u8,
        if has_af { 0x30 } else { 0x10 } | (*cc & 0x0f),
    ];
    *cc = (*cc + 1) & 0x0f;
    out.extend_from_slice(&header);
    if !has_af {
        return;
    }
    let start = out.len();
    // adaptation_field_length counts the bytes after itself.
    let af_len = (needed_af + stuffing).saturating_sub(1);
    out.push(af_len as u8);
    if af_len > 0 {
        let mut af_flags = 0u8;
        if flags.random_access {
            af_flags |= 0x40;
        }
        if flags.pcr.is_some() {
            af_flags |= 0x10;
        }
        out.push(af_flags);
        if let Some(pcr) = flags.pcr {
            let base = (pcr / 300) & 0x1_ffff_ffff;
            let ext = (pcr % 300) as u16;
            out.extend_from_slice(&[
                (base >> 25) as u8,
                (base >> 17) as u8,
                (base >> 9) as u8,
                (base >> 1) as u8,
                ((base as u8 & 1) << 7) | 0x7e | ((ext >> 8) as u8 & 1),
                ext as u8,
            ]);
        }
        out.resize(start + 1 + af_len, 0xff);
    }
    debug_assert_eq!(out.len() - start + 4 + len, PACKET);
}

/// Writes a PSI section as one packet (pointer field 0, 0xFF-stuffed); `section` must fit.
pub fn write_section(out: &mut Vec<u8>, pid: u16, cc: u8, section: &[u8]) {
    let start = out.len();
    out.push(0x47);
    out.push(0x40 | ((pid >> 8) as u8 & 0x1f));
    out.push(pid as u8);
    out.push(0x10 | (cc & 0x0f));
    out.push(0); // pointer_field
    let room = PACKET - 5;
    out.extend_from_slice(&section[..section.len().min(room)]);
    out.resize(start + PACKET, 0xff);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packets(out: &[u8]) -> Vec<&[u8]> {
        out.chunks(PACKET).collect()
    }

    #[test]
    fn every_size_packs_into_whole_packets_with_the_payload_intact() {
        for len in [
            1usize, 2, 7, 175, 176, 177, 182, 183, 184, 185, 368, 369, 1000, 5000,
        ] {
            for first in [
                FirstPacket::default(),
                FirstPacket {
                    pcr: Some(27_000_000 * 10 + 5),
                    random_access: true,
                },
                FirstPacket {
                    pcr: None,
                    random_access: true,
                },
            ] {
                for extra in [0usize, 1, 15] {
                    if len < packets_for(len, first) + extra {
                        continue;
                    }
                    let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
                    let mut out = Vec::new();
                    let mut cc = 14;
                    write_pes(&mut out, 0x100, &mut cc, &mut &payload[..], first, extra);
                    assert_eq!(out.len() % PACKET, 0);
                    let ps = packets(&out);
                    assert_eq!(
                        ps.len(),
                        packets_for(len, first) + extra,
                        "len {len} extra {extra}"
                    );
                    assert_eq!(usize::from(cc), (14 + ps.len()) % 16);
                    let mut got = Vec::new();
                    for (i, p) in ps.iter().enumerate() {
                        assert_eq!(p[0], 0x47);
                        assert_eq!(p[1] & 0x40 != 0, i == 0, "unit start only on the first");
                        assert_eq!(u16::from(p[1] & 0x1f) << 8 | u16::from(p[2]), 0x100);
                        assert_eq!(usize::from(p[3] & 0x0f), (14 + i) % 16);
                        let body = if p[3] & 0x20 != 0 {
                            5 + usize::from(p[4])
                        } else {
                            4
                        };
                        if i == 0 && first.pcr.is_some() {
                            assert_eq!(p[5] & 0x10, 0x10);
                            let base = (u64::from(p[6]) << 25)
                                | (u64::from(p[7]) << 17)
                                | (u64::from(p[8]) << 9)
                                | (u64::from(p[9]) << 1)
                                | u64::from(p[10] >> 7);
                            let ext = (u64::from(p[10] & 1) << 8) | u64::from(p[11]);
                            assert_eq!(base * 300 + ext, 27_000_000 * 10 + 5);
                        }
                        got.extend_from_slice(&p[body..]);
                    }
                    assert_eq!(got, payload);
                }
            }
        }
    }

    #[test]
    fn sections_fill_one_packet() {
        let mut out = Vec::new();
        write_section(&mut out, 0, 3, &[1, 2, 3]);
        assert_eq!(out.len(), PACKET);
        assert_eq!(&out[..8], &[0x47, 0x40, 0, 0x13, 0, 1, 2, 3]);
        assert!(out[8..].iter().all(|&b| b == 0xff));
    }
}
