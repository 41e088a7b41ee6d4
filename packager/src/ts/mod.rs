//! MPEG-TS remuxing of a CMAF segment, at request time: H.264 samples become Annex B access
//! units (AUD first, SPS/PPS before every IDR), AAC samples become ADTS frames, both in PES
//! packets with 90 kHz PTS/DTS, muxed by decode time behind a PAT and PMT, PCR on the video
//! PID. One TS segment holds video segment `n` and audio segment `n` of the same video.
//!
//! Every segment stands alone yet continuity counters run on across segments: each segment's
//! PAT and PMT carry counter `n mod 16`, and every elementary PID's packet count per segment
//! is padded to a multiple of 16 (by splitting the PID's last PES into a few more packets), so
//! each PID starts every segment at counter 0 exactly where the previous segment left it.

pub mod packets;
pub mod psi;
pub mod sample_aes;

use std::ops::Range;

use crate::codec::{AacConfig, AvcConfig, CodecConfig};
use crate::error::{PackagerError, Result};
use crate::fragment::{samples_of, MediaSample};
use packets::{packets_for, write_pes, write_section, FirstPacket, Payload, PACKET};
use sample_aes::SampleAes;

/// PID of the video elementary stream.
pub const VIDEO_PID: u16 = 0x100;
/// PID of the audio elementary stream.
pub const AUDIO_PID: u16 = 0x101;
/// Added to every timestamp (10 s at 90 kHz), so PCR can lead DTS from the first frame and
/// subtitle `X-TIMESTAMP-MAP` has a fixed anchor (`MPEGTS:900000` ↔ media time 0).
pub const TIME_OFFSET_90K: u64 = 900_000;
/// How far the PCR runs ahead of the DTS it travels with (100 ms).
const PCR_LEAD_90K: u64 = 9_000;
/// AAC frames grouped into one PES (about 100 ms at 48 kHz).
const AAC_FRAMES_PER_PES: usize = 5;
const STREAM_ID_VIDEO: u8 = 0xe0;
const STREAM_ID_AUDIO: u8 = 0xc0;
const MASK_33: u64 = 0x1_ffff_ffff;

/// One track's part of a segment: its whole fragments and how to read them.
#[derive(Debug, Clone, Copy)]
pub struct TrackSegment<'a> {
    /// Decoder configuration from the track's init segment.
    pub config: &'a CodecConfig,
    /// The track's timescale.
    pub timescale: u32,
    /// `trex` default sample duration.
    pub default_sample_duration: u32,
    /// The segment's fragments (`moof` + `mdat`…), as stored.
    pub bytes: &'a [u8],
    /// Where `bytes` starts in the track file.
    pub file_offset: u64,
    /// Decode time at which presentation starts (the init's edit list, see
    /// [`crate::edit::presentation_offset`]): TS has no edit lists, so it is subtracted from
    /// every timestamp, and audio frames that end before it (an AAC encoder's priming) are
    /// left out.
    pub presentation_offset: u64,
}

/// A remuxed segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TsSegment {
    /// The transport stream: 188-byte packets, PAT and PMT first.
    pub bytes: Vec<u8>,
    /// Byte ranges of the packets holding each key frame's PES, for I-frame playlists
    /// (the PAT and PMT are the first [`PSI_BYTES`] of every segment).
    pub key_frames: Vec<Range<u64>>,
}

/// Bytes of PAT + PMT at the start of every segment (the I-frame playlists' map).
pub const PSI_BYTES: u64 = 2 * PACKET as u64;

/// A PES ready to be cut into packets, held as pieces: small bytes the muxer made (PES
/// header, start codes, ADTS headers) and slices of the samples, so sample data is copied
/// once, straight into the packets.
struct Unit<'a> {
    pid: u16,
    dts: u64,
    key: bool,
    own: Vec<u8>,
    pieces: Vec<Piece<'a>>,
    len: usize,
}

#[derive(Clone)]
enum Piece<'a> {
    Own(Range<usize>),
    Data(&'a [u8]),
}

impl<'a> Unit<'a> {
    fn new(pid: u16, dts: u64, key: bool) -> Unit<'a> {
        Unit {
            pid,
            dts,
            key,
            own: Vec::with_capacity(64),
            pieces: Vec::new(),
            len: 0,
        }
    }

    fn own(&mut self, bytes: &[u8]) {
        let start = self.own.len();
        self.own.extend_from_slice(bytes);
        match self.pieces.last_mut() {
            Some(Piece::Own(r)) if r.end == start => r.end = self.own.len(),
            _ => self.pieces.push(Piece::Own(start..self.own.len())),
        }
        self.len += bytes.len();
    }

    fn data(&mut self, bytes: &'a [u8]) {
        self.pieces.push(Piece::Data(bytes));
        self.len += bytes.len();
    }

    fn cursor(&self) -> Cursor<'_, 'a> {
        Cursor {
            unit: self,
            piece: 0,
            offset: 0,
            remaining: self.len,
        }
    }
}

/// Reads a unit's pieces in order.
struct Cursor<'u, 'a> {
    unit: &'u Unit<'a>,
    piece: usize,
    offset: usize,
    remaining: usize,
}

impl Payload for Cursor<'_, '_> {
    #[inline]
    fn remaining(&self) -> usize {
        self.remaining
    }

    #[inline]
    fn take(&mut self, out: &mut Vec<u8>, mut n: usize) {
        n = n.min(self.remaining);
        self.remaining -= n;
        while n > 0 {
            let Some(piece) = self.unit.pieces.get(self.piece) else {
                return;
            };
            let bytes = match piece {
                Piece::Own(r) => &self.unit.own[r.clone()],
                Piece::Data(d) => d,
            };
            let here = &bytes[self.offset..];
            if here.len() > n {
                // The common case: the whole packet payload from one piece.
                out.extend_from_slice(&here[..n]);
                self.offset += n;
                return;
            }
            out.extend_from_slice(here);
            n -= here.len();
            self.piece += 1;
            self.offset = 0;
        }
    }
}

/// 90 kHz time of `t` in `timescale`, offset by [`TIME_OFFSET_90K`].
fn to_90k(t: i128, timescale: u32) -> u64 {
    let scaled = t.saturating_mul(90_000) / i128::from(timescale.max(1));
    // Timestamps are 33-bit on the wire; keep the low bits of absurd ones.
    ((scaled + i128::from(TIME_OFFSET_90K)).max(0) as u64) & MASK_33
}

fn put_timestamp(out: &mut Vec<u8>, prefix: u8, ts: u64) {
    let ts = ts & MASK_33;
    out.push((prefix << 4) | (((ts >> 29) as u8) & 0x0e) | 1);
    out.push((ts >> 22) as u8);
    out.push((((ts >> 14) as u8) & 0xfe) | 1);
    out.push((ts >> 7) as u8);
    out.push((((ts << 1) as u8) & 0xfe) | 1);
}

/// A PES packet header for a payload of `payload_len` bytes.
fn pes(stream_id: u8, pts: u64, dts: u64, payload_len: usize) -> Vec<u8> {
    let with_dts = dts != pts;
    let header_data = if with_dts { 10 } else { 5 };
    let length = 3 + header_data + payload_len;
    // Video PES may leave the length unset (0); audio must fit the 16-bit field.
    let length_field = if stream_id == STREAM_ID_VIDEO || length > 0xffff {
        0
    } else {
        length as u16
    };
    let mut out = Vec::with_capacity(9 + header_data);
    out.extend_from_slice(&[0, 0, 1, stream_id]);
    out.extend_from_slice(&length_field.to_be_bytes());
    out.push(0x80);
    out.push(if with_dts { 0xc0 } else { 0x80 });
    out.push(header_data as u8);
    put_timestamp(&mut out, if with_dts { 3 } else { 2 }, pts);
    if with_dts {
        put_timestamp(&mut out, 1, dts);
    }
    out
}

const START_CODE: [u8; 4] = [0, 0, 0, 1];
const AUD: [u8; 2] = [0x09, 0xf0];

/// A length-prefixed H.264 sample as an Annex B access unit (AUD, parameter sets on key
/// frames, every NAL unit behind a start code), as pieces of `unit`. Returns its length.
fn annex_b<'a>(
    unit: &mut Unit<'a>,
    config: &AvcConfig,
    sample: &MediaSample<'a>,
    encryption: Option<&SampleAes>,
) -> Result<()> {
    unit.own(&START_CODE);
    unit.own(&AUD);
    if sample.is_sync {
        for set in config.sps.iter().chain(&config.pps) {
            unit.own(&START_CODE);
            unit.own(set);
        }
    }
    let n = usize::from(config.nal_length_size);
    let mut rest = sample.data;
    while !rest.is_empty() {
        let prefix = rest.get(..n).ok_or_else(|| truncated_nal(sample))?;
        let len = prefix
            .iter()
            .fold(0usize, |a, &b| (a << 8) | usize::from(b));
        let end = n.checked_add(len).ok_or_else(|| truncated_nal(sample))?;
        let nal = rest.get(n..end).ok_or_else(|| truncated_nal(sample))?;
        rest = &rest[end..];
        // Access unit delimiters are written above; parameter sets already in band stay.
        if nal.first().is_some_and(|b| b & 0x1f == 9) || nal.is_empty() {
            continue;
        }
        unit.own(&START_CODE);
        match encryption.and_then(|e| e.encrypt_nal(nal)) {
            Some(encrypted) => unit.own(&encrypted),
            None => unit.data(nal),
        }
    }
    Ok(())
}

fn truncated_nal(sample: &MediaSample<'_>) -> PackagerError {
    PackagerError::Unsupported(format!(
        "H.264 sample at decode time {} has a NAL unit running past its end",
        sample.decode_time
    ))
}

/// The 7-byte ADTS header of an AAC frame of `len` bytes.
fn adts_header(config: &AacConfig, len: usize) -> Result<[u8; 7]> {
    let frame = len + 7;
    if frame > 0x1fff {
        return Err(PackagerError::Unsupported(format!(
            "AAC frame of {len} bytes does not fit ADTS"
        )));
    }
    let profile = config.object_type.saturating_sub(1) & 0x03;
    Ok([
        0xff,
        0xf1, // MPEG-4, layer 0, no CRC
        (profile << 6)
            | ((config.frequency_index & 0x0f) << 2)
            | ((config.channel_config >> 2) & 1),
        ((config.channel_config & 3) << 6) | ((frame >> 11) as u8 & 0x03),
        (frame >> 3) as u8,
        (((frame & 7) as u8) << 5) | 0x1f,
        0xfc,
    ])
}

/// Decode-time lead of TS DTS over the CMAF decode time, in the track's timescale.
///
/// CMAF from FFmpeg uses negative composition offsets (version 1 `trun`) so the first
/// frame's presentation time equals its decode time; TS forbids PTS < DTS, so DTS moves
/// earlier by a constant: two frame durations (the reorder depth of x264's default B-pyramid),
/// or more if this segment needs it. Being constant for conforming input, DTS stays continuous
/// across independently remuxed segments; presentation times are never changed.
fn dts_lead(samples: &[MediaSample<'_>]) -> i128 {
    let frame = samples.first().map_or(0, |s| i128::from(s.duration));
    let needed = samples
        .iter()
        .map(|s| -i128::from(s.composition_offset))
        .max()
        .unwrap_or(0);
    (2 * frame).max(needed).max(0)
}

fn video_units<'a>(
    track: &TrackSegment<'a>,
    config: &AvcConfig,
    encryption: Option<&SampleAes>,
) -> Result<Vec<Unit<'a>>> {
    let samples = samples_of(
        track.bytes,
        track.file_offset,
        track.default_sample_duration,
    )?;
    let lead = dts_lead(&samples);
    let mut units = Vec::with_capacity(samples.len());
    for s in &samples {
        let decode = i128::from(s.decode_time) - i128::from(track.presentation_offset);
        let dts = to_90k(decode - lead, track.timescale);
        let pts = to_90k(decode + i128::from(s.composition_offset), track.timescale).max(dts);
        let mut unit = Unit::new(VIDEO_PID, dts, s.is_sync);
        // Video PES leave the length field 0, so the header does not need the AU's size.
        unit.own(&pes(STREAM_ID_VIDEO, pts, dts, 0));
        annex_b(&mut unit, config, s, encryption)?;
        units.push(unit);
    }
    Ok(units)
}

fn audio_units<'a>(
    track: &TrackSegment<'a>,
    config: &AacConfig,
    encryption: Option<&SampleAes>,
) -> Result<Vec<Unit<'a>>> {
    let mut samples = samples_of(
        track.bytes,
        track.file_offset,
        track.default_sample_duration,
    )?;
    // What the edit list trims (the encoder's priming) is not presented: TS has no edit
    // lists, so those frames are left out and the audio starts with the picture.
    let presented_from = u128::from(track.presentation_offset);
    samples.retain(|s| u128::from(s.decode_time) + u128::from(s.duration) > presented_from);
    let mut units = Vec::with_capacity(samples.len() / AAC_FRAMES_PER_PES + 1);
    for group in samples.chunks(AAC_FRAMES_PER_PES) {
        let first = &group[0];
        let pts = to_90k(
            i128::from(first.decode_time) + i128::from(first.composition_offset)
                - i128::from(track.presentation_offset),
            track.timescale,
        );
        let payload_len: usize = group.iter().map(|s| 7 + s.data.len()).sum();
        let mut unit = Unit::new(AUDIO_PID, pts, false);
        unit.own(&pes(STREAM_ID_AUDIO, pts, pts, payload_len));
        for s in group {
            unit.own(&adts_header(config, s.data.len())?);
            match encryption {
                Some(e) => {
                    let mut payload = s.data.to_vec();
                    e.encrypt_aac_frame(&mut payload);
                    unit.own(&payload);
                }
                None => unit.data(s.data),
            }
        }
        units.push(unit);
    }
    Ok(units)
}

fn mismatch(what: &str) -> PackagerError {
    PackagerError::Unsupported(format!(
        "{what} track is not of the codec a TS carries there"
    ))
}

/// Remuxes segment `sequence` (its number, which fixes the PSI continuity counters) from the
/// video and audio tracks' fragments.
pub fn remux(
    video: Option<TrackSegment<'_>>,
    audio: Option<TrackSegment<'_>>,
    sequence: u64,
) -> Result<TsSegment> {
    remux_encrypted(video, audio, sequence, SampleAesMode::Off)
}

/// How a segment takes part in a SAMPLE-AES stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleAesMode<'k> {
    /// A clear stream.
    Off,
    /// Samples encrypted with this key and IV.
    On(&'k SampleAes),
}

/// [`remux`] for SAMPLE-AES: samples encrypted per `mode`, and the PMT signalling it (stream
/// types 0xDB/0xCF, `zavc`/`aacd` private data indicators, the `apad` audio setup
/// information). Clear-lead segments are plain TS (stream types 0x1B/0x0F): their playlist
/// entries carry no key, and players (hls.js) take encrypted stream types in a segment
/// without a key for unknown streams and find no media in it.
pub fn remux_encrypted(
    video: Option<TrackSegment<'_>>,
    audio: Option<TrackSegment<'_>>,
    sequence: u64,
    mode: SampleAesMode<'_>,
) -> Result<TsSegment> {
    let mut units = Vec::new();
    let mut streams = Vec::new();
    let encrypted = mode != SampleAesMode::Off;
    let encryption = match mode {
        SampleAesMode::On(e) => Some(e),
        _ => None,
    };
    if let Some(v) = &video {
        let CodecConfig::Avc(config) = v.config else {
            return Err(mismatch("video"));
        };
        units.extend(video_units(v, config, encryption)?);
        streams.push(if encrypted {
            psi::Stream {
                stream_type: psi::STREAM_TYPE_H264_SAMPLE_AES,
                pid: VIDEO_PID,
                descriptors: psi::private_data_indicator(b"zavc"),
            }
        } else {
            psi::Stream {
                stream_type: psi::STREAM_TYPE_H264,
                pid: VIDEO_PID,
                descriptors: Vec::new(),
            }
        });
    }
    if let Some(a) = &audio {
        let CodecConfig::Aac(config) = a.config else {
            return Err(mismatch("audio"));
        };
        units.extend(audio_units(a, config, encryption)?);
        streams.push(if encrypted {
            // audio_setup_information: 'zaac', priming, version, the AudioSpecificConfig.
            let asc = (u16::from(config.object_type) << 11)
                | (u16::from(config.frequency_index) << 7)
                | (u16::from(config.channel_config) << 3);
            let mut setup = b"zaac".to_vec();
            setup.extend_from_slice(&[0, 0, 1, 2]);
            setup.extend_from_slice(&asc.to_be_bytes());
            let mut descriptors = psi::private_data_indicator(b"aacd");
            descriptors.extend(psi::registration(b"apad", &setup));
            psi::Stream {
                stream_type: psi::STREAM_TYPE_AAC_SAMPLE_AES,
                pid: AUDIO_PID,
                descriptors,
            }
        } else {
            psi::Stream {
                stream_type: psi::STREAM_TYPE_AAC_ADTS,
                pid: AUDIO_PID,
                descriptors: Vec::new(),
            }
        });
    }
    if streams.is_empty() {
        return Err(PackagerError::Unsupported(
            "a TS segment needs a track".into(),
        ));
    }
    let pcr_pid = if video.is_some() {
        VIDEO_PID
    } else {
        AUDIO_PID
    };
    // By decode time; on ties video first (stable sort keeps each PID in order).
    units.sort_by_key(|u| (u.dts, u.pid != VIDEO_PID));

    let first_flags = |u: &Unit<'_>| FirstPacket {
        pcr: (u.pid == pcr_pid).then(|| (u.dts.saturating_sub(PCR_LEAD_90K) & MASK_33) * 300),
        random_access: u.key,
    };
    // Packets per PID without padding, and which unit is each PID's last.
    let mut counts = [0usize; 2];
    let mut last = [None; 2];
    let slot = |pid: u16| usize::from(pid == AUDIO_PID);
    for (i, u) in units.iter().enumerate() {
        counts[slot(u.pid)] += packets_for(u.len, first_flags(u));
        last[slot(u.pid)] = Some(i);
    }
    let extra = counts.map(|c| (16 - c % 16) % 16);

    let total: usize = counts.iter().sum::<usize>() + extra.iter().sum::<usize>() + 2;
    let mut out = Vec::with_capacity(total * PACKET);
    let psi_cc = (sequence % 16) as u8;
    write_section(&mut out, psi::PAT_PID, psi_cc, &psi::pat());
    write_section(
        &mut out,
        psi::PMT_PID,
        psi_cc,
        &psi::pmt_with(pcr_pid, &streams),
    );
    let mut cc = [0u8; 2];
    let mut key_frames = Vec::new();
    for (i, u) in units.iter().enumerate() {
        let s = slot(u.pid);
        let pad = if last[s] == Some(i) { extra[s] } else { 0 };
        let start = out.len() as u64;
        write_pes(
            &mut out,
            u.pid,
            &mut cc[s],
            &mut u.cursor(),
            first_flags(u),
            pad,
        );
        if u.key && u.pid == VIDEO_PID {
            key_frames.push(start..out.len() as u64);
        }
    }
    Ok(TsSegment {
        bytes: out,
        key_frames,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_encode_as_the_spec_lays_them_out() {
        let mut out = Vec::new();
        put_timestamp(&mut out, 2, 0x1_2345_6789);
        let ts = (u64::from(out[0] & 0x0e) << 29)
            | (u64::from(out[1]) << 22)
            | (u64::from(out[2] & 0xfe) << 14)
            | (u64::from(out[3]) << 7)
            | (u64::from(out[4]) >> 1);
        assert_eq!(ts, 0x1_2345_6789);
        assert_eq!(out[0] >> 4, 2);
        assert!(out[0] & 1 == 1 && out[2] & 1 == 1 && out[4] & 1 == 1);
    }

    #[test]
    fn adts_headers_carry_length_and_config() {
        let c = AacConfig {
            object_type: 2,
            frequency_index: 3,
            channel_config: 2,
        };
        let h = adts_header(&c, 371).unwrap();
        assert_eq!(h[0], 0xff);
        assert_eq!(h[1] & 0xf6, 0xf0);
        let len = (usize::from(h[3] & 3) << 11) | (usize::from(h[4]) << 3) | usize::from(h[5] >> 5);
        assert_eq!(len, 378);
        assert_eq!((h[2] >> 6) + 1, 2);
        assert_eq!((h[2] >> 2) & 0x0f, 3);
        assert_eq!(((h[2] & 1) << 2) | (h[3] >> 6), 2);
        assert!(adts_header(&c, 9000).is_err());
    }

    #[test]
    fn annex_b_adds_delimiter_and_parameter_sets_on_key_frames() {
        let config = AvcConfig {
            nal_length_size: 4,
            sps: vec![vec![0x67, 1]],
            pps: vec![vec![0x68, 2]],
        };
        let data = [0, 0, 0, 2, 0x09, 0x10, 0, 0, 0, 3, 0x65, 7, 8];
        let sample = MediaSample {
            decode_time: 0,
            composition_offset: 0,
            duration: 1,
            is_sync: true,
            data: &data,
        };
        let mut unit = Unit::new(VIDEO_PID, 0, true);
        annex_b(&mut unit, &config, &sample, None).unwrap();
        let mut out = Vec::new();
        let mut cursor = unit.cursor();
        let n = cursor.remaining();
        cursor.take(&mut out, n);
        assert_eq!(
            out,
            [
                0, 0, 0, 1, 9, 0xf0, 0, 0, 0, 1, 0x67, 1, 0, 0, 0, 1, 0x68, 2, 0, 0, 0, 1, 0x65, 7,
                8
            ]
        );
        let bad = [0, 0, 0, 9, 0x65];
        let sample = MediaSample {
            data: &bad,
            ..sample
        };
        assert!(annex_b(&mut Unit::new(VIDEO_PID, 0, true), &config, &sample, None).is_err());
    }
}
