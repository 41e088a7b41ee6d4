//! Decoder configuration from an init segment (`avcC`, `esds`): what remuxing to other
//! containers needs beyond the codec string — H.264 parameter sets and NAL length size, AAC
//! AudioSpecificConfig fields for ADTS headers.

use crate::boxes::{self, Fields};
use crate::error::{PackagerError, Result};

/// H.264 configuration (`avcC`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvcConfig {
    /// Bytes of each NAL unit's length prefix in samples (1, 2 or 4).
    pub nal_length_size: u8,
    /// Sequence parameter sets.
    pub sps: Vec<Vec<u8>>,
    /// Picture parameter sets.
    pub pps: Vec<Vec<u8>>,
}

/// AAC configuration (AudioSpecificConfig from `esds`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AacConfig {
    /// Audio object type (2 = AAC-LC).
    pub object_type: u8,
    /// Sampling frequency index (ISO/IEC 14496-3 table 1.18).
    pub frequency_index: u8,
    /// Channel configuration (1 = mono, 2 = stereo, …).
    pub channel_config: u8,
}

/// A track's decoder configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodecConfig {
    /// H.264.
    Avc(AvcConfig),
    /// AAC.
    Aac(AacConfig),
}

fn malformed(kind: &str, reason: &str) -> PackagerError {
    PackagerError::MalformedBox {
        kind: kind.into(),
        reason: reason.into(),
    }
}

/// Reads the decoder configuration of the (single) track of an init segment.
pub fn codec_config(init: &[u8]) -> Result<CodecConfig> {
    let moov = boxes::require(init, b"moov")?;
    let trak = boxes::require(moov, b"trak")?;
    let mdia = boxes::require(trak, b"mdia")?;
    let stbl = boxes::require(boxes::require(mdia, b"minf")?, b"stbl")?;
    let stsd = boxes::require(stbl, b"stsd")?;
    let mut f = Fields::new(stsd, "stsd");
    f.full_box()?;
    f.u32()?;
    let (kind, entry) = boxes::children(f.rest())
        .next()
        .ok_or(PackagerError::MissingBox("stsd entry"))??;
    match &kind {
        b"avc1" | b"avc3" => {
            let mut e = Fields::new(entry, "avc1");
            e.skip(78)?;
            parse_avcc(boxes::require(e.rest(), b"avcC")?).map(CodecConfig::Avc)
        }
        b"mp4a" => {
            let mut e = Fields::new(entry, "mp4a");
            e.skip(28)?;
            parse_audio_specific_config(boxes::require(e.rest(), b"esds")?).map(CodecConfig::Aac)
        }
        other => Err(PackagerError::Unsupported(format!(
            "sample entry `{}`",
            boxes::kind_name(other)
        ))),
    }
}

/// Parses an `avcC` body.
pub fn parse_avcc(avcc: &[u8]) -> Result<AvcConfig> {
    let mut f = Fields::new(avcc, "avcC");
    f.skip(4)?;
    let nal_length_size = (f.u8()? & 0x03) + 1;
    if nal_length_size == 3 {
        return Err(malformed("avcC", "NAL length size 3"));
    }
    let sps_count = f.u8()? & 0x1f;
    let sps = parameter_sets(&mut f, sps_count)?;
    let pps_count = f.u8()?;
    let pps = parameter_sets(&mut f, pps_count)?;
    if sps.is_empty() || pps.is_empty() {
        return Err(malformed("avcC", "no SPS or PPS"));
    }
    Ok(AvcConfig {
        nal_length_size,
        sps,
        pps,
    })
}

/// `count` parameter sets, each a 16-bit length and its bytes.
fn parameter_sets(f: &mut Fields<'_>, count: u8) -> Result<Vec<Vec<u8>>> {
    (0..count)
        .map(|_| {
            let len = usize::from(f.u16()?);
            Ok(f.bytes(len)?.to_vec())
        })
        .collect()
}

/// Reads an MPEG-4 descriptor header: (tag, length).
fn descriptor(f: &mut Fields<'_>) -> Result<(u8, usize)> {
    let tag = f.u8()?;
    let mut len = 0usize;
    for _ in 0..4 {
        let b = f.u8()?;
        len = (len << 7) | usize::from(b & 0x7f);
        if b & 0x80 == 0 {
            break;
        }
    }
    Ok((tag, len))
}

/// The object type indication of an `esds` box and its DecoderSpecificInfo (for MPEG-4
/// audio: the AudioSpecificConfig), if any.
pub(crate) fn decoder_config(esds: &[u8]) -> Result<(u8, Option<&[u8]>)> {
    let mut f = Fields::new(esds, "esds");
    f.full_box()?;
    if descriptor(&mut f)?.0 != 0x03 {
        return Err(malformed("esds", "no ES_Descriptor"));
    }
    f.skip(2)?;
    let flags = f.u8()?;
    if flags & 0x80 != 0 {
        f.skip(2)?;
    }
    if flags & 0x40 != 0 {
        let n = f.u8()?;
        f.skip(usize::from(n))?;
    }
    if flags & 0x20 != 0 {
        f.skip(2)?;
    }
    if descriptor(&mut f)?.0 != 0x04 {
        return Err(malformed("esds", "no DecoderConfigDescriptor"));
    }
    let object_type = f.u8()?;
    f.skip(12)?;
    if f.rest().is_empty() {
        return Ok((object_type, None));
    }
    let (tag, len) = descriptor(&mut f)?;
    if tag != 0x05 {
        return Ok((object_type, None));
    }
    Ok((object_type, Some(f.bytes(len)?)))
}

fn parse_audio_specific_config(esds: &[u8]) -> Result<AacConfig> {
    let (object_type, config) = decoder_config(esds)?;
    if object_type != 0x40 {
        return Err(PackagerError::Unsupported(
            "audio other than MPEG-4 AAC".into(),
        ));
    }
    let config = config
        .filter(|c| c.len() >= 2)
        .ok_or_else(|| malformed("esds", "no AudioSpecificConfig"))?;
    let (b0, b1) = (config[0], config[1]);
    let object_type = b0 >> 3;
    let frequency_index = ((b0 & 0x07) << 1) | (b1 >> 7);
    let channel_config = (b1 >> 3) & 0x0f;
    if object_type == 0 || object_type > 4 || frequency_index > 12 || channel_config == 0 {
        return Err(PackagerError::Unsupported(format!(
            "AAC config (object type {object_type}, frequency index {frequency_index}, channels {channel_config}) cannot be carried in ADTS"
        )));
    }
    Ok(AacConfig {
        object_type,
        frequency_index,
        channel_config,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avcc_gives_parameter_sets() {
        let avcc = [
            1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 3, 0x67, 0x64, 0x1f, 1, 0, 2, 0x68, 0xee,
        ];
        let c = parse_avcc(&avcc).unwrap();
        assert_eq!(c.nal_length_size, 4);
        assert_eq!(c.sps, vec![vec![0x67, 0x64, 0x1f]]);
        assert_eq!(c.pps, vec![vec![0x68, 0xee]]);
        assert!(parse_avcc(&avcc[..10]).is_err());
        assert!(parse_avcc(&[1, 0x64, 0, 0x1f, 0xff, 0xe0, 0]).is_err());
    }

    #[test]
    fn esds_gives_adts_fields() {
        let mut esds = vec![0, 0, 0, 0];
        esds.extend_from_slice(&[0x03, 25, 0, 1, 0]);
        esds.extend_from_slice(&[0x04, 17, 0x40, 0x15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        // AAC-LC (2), 48 kHz (index 3), stereo (2): 00010 0011 0010 000
        esds.extend_from_slice(&[0x05, 2, 0x11, 0x90]);
        assert_eq!(
            parse_audio_specific_config(&esds).unwrap(),
            AacConfig {
                object_type: 2,
                frequency_index: 3,
                channel_config: 2
            }
        );
    }
}
