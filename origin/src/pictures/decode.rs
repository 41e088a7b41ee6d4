//! Frames out of CMAF fragments: the samples the packager finds in `moof`/`mdat`, turned into
//! Annex B (start codes, the init segment's SPS and PPS before each key frame) and decoded
//! with FFmpeg's H.264 decoder. No demuxer: nothing but the bytes given is read.

use ffmpeg::{codec, decoder, frame, Packet};
use ffmpeg_next as ffmpeg;
use sunomi_packager::codec::{codec_config, AvcConfig, CodecConfig};
use sunomi_packager::fragment::{samples_of, MediaSample};

use super::PictureError;

/// Most frames one request may decode (10 s at 60 fps, with room): bounds the CPU a
/// request can spend whatever the track holds.
pub const MAX_DECODED_FRAMES: usize = 1_200;

/// A decoder for one video track.
pub struct TrackDecoder {
    avc: AvcConfig,
    decoder: decoder::Video,
    decoded: usize,
}

/// The H.264 configuration of the track whose init segment is `init`.
pub fn track_config(init: &[u8]) -> Result<AvcConfig, PictureError> {
    match codec_config(init).map_err(|e| PictureError::Corrupt(e.to_string()))? {
        CodecConfig::Avc(avc) => Ok(avc),
        CodecConfig::Aac(_) => Err(PictureError::Corrupt("not a video track".into())),
    }
}

impl TrackDecoder {
    /// A decoder for the track whose H.264 configuration is `avc`.
    pub fn new(avc: AvcConfig) -> Result<TrackDecoder, PictureError> {
        crate::transcode::init().map_err(|e| PictureError::Draw(e.to_string()))?;
        let h264 = decoder::find(codec::Id::H264)
            .ok_or_else(|| PictureError::Draw("FFmpeg has no H.264 decoder".into()))?;
        let mut context = codec::context::Context::new_with_codec(h264);
        // One thread: a picture decodes a few frames, and frame threads delay each frame by
        // their count (more packets sent before the asked frame comes out) for no less CPU;
        // the service runs one picture per core instead.
        context.set_threading(codec::threading::Config::count(1));
        let decoder = context
            .decoder()
            .video()
            .map_err(|e| PictureError::Draw(format!("opening the H.264 decoder: {e}")))?;
        Ok(TrackDecoder {
            avc,
            decoder,
            decoded: 0,
        })
    }

    /// Whether this decoder was opened for a track configured as `avc` (and so may decode
    /// its fragments: the parameter sets it was opened with are the ones sent in band).
    pub fn decodes(&self, avc: &AvcConfig) -> bool {
        self.avc == *avc
    }

    /// Ready for a new picture: the picture's frame budget whole again (what the last one
    /// left in the decoder is flushed by [`Self::decode`] before it sends anything).
    pub fn reset(&mut self) {
        self.decoded = 0;
    }

    /// Annex B of one sample: each length-prefixed NAL unit behind a start code, the
    /// parameter sets first on a key frame.
    fn annex_b(&self, sample: &MediaSample<'_>) -> Result<Vec<u8>, PictureError> {
        let mut out = Vec::with_capacity(sample.data.len() + 64);
        if sample.is_sync {
            for ps in self.avc.sps.iter().chain(&self.avc.pps) {
                out.extend_from_slice(&[0, 0, 0, 1]);
                out.extend_from_slice(ps);
            }
        }
        let size = usize::from(self.avc.nal_length_size);
        let mut at = 0usize;
        while at < sample.data.len() {
            let len_bytes = sample
                .data
                .get(at..at + size)
                .ok_or_else(|| PictureError::Corrupt("a NAL length runs past its sample".into()))?;
            let len = len_bytes
                .iter()
                .fold(0usize, |n, b| (n << 8) | usize::from(*b));
            let nal = sample
                .data
                .get(at + size..at + size + len)
                .ok_or_else(|| PictureError::Corrupt("a NAL unit runs past its sample".into()))?;
            out.extend_from_slice(&[0, 0, 0, 1]);
            out.extend_from_slice(nal);
            at += size + len;
        }
        Ok(out)
    }

    /// Whether a sample may be a reference for others: any of its slices has a non-zero
    /// `nal_ref_idc` (or it cannot be read, and is kept to be safe).
    fn is_reference(&self, sample: &MediaSample<'_>) -> bool {
        let size = usize::from(self.avc.nal_length_size);
        let mut at = 0usize;
        while at + size < sample.data.len() {
            let len = sample.data[at..at + size]
                .iter()
                .fold(0usize, |n, b| (n << 8) | usize::from(*b));
            let Some(&header) = sample.data.get(at + size) else {
                return true;
            };
            // Coded slices (types 1 to 5) say whether other pictures refer to them.
            if (1..=5).contains(&(header & 0x1f)) && header & 0x60 != 0 {
                return true;
            }
            at = at.saturating_add(size).saturating_add(len);
        }
        false
    }

    /// Decodes every sample of the whole fragments in `bytes` (starting at `file_offset` of
    /// the track file), calling `each` with every frame in presentation order and its
    /// presentation time (decode time + composition offset − `presentation_offset`). `each`
    /// returns false to stop; it may take the frame (swap it out) instead of copying it. The
    /// decoder is flushed before and after, so it is ready for other fragments whatever the
    /// last call ended with.
    ///
    /// Frames shown before `skip_before` that no other frame refers to are not decoded at
    /// all (a thumbnail in the middle of a fragment needs only the reference frames before
    /// it) — unless no frame is shown at or after it, when the last frame is the answer.
    pub fn decode(
        &mut self,
        bytes: &[u8],
        file_offset: u64,
        default_sample_duration: u32,
        presentation_offset: u64,
        skip_before: i64,
        mut each: impl FnMut(&mut frame::Video, i64) -> bool,
    ) -> Result<(), PictureError> {
        self.decoder.flush();
        let samples = samples_of(bytes, file_offset, default_sample_duration)
            .map_err(|e| PictureError::Corrupt(e.to_string()))?;
        let offset = i64::try_from(presentation_offset).unwrap_or(0);
        let shown = |s: &MediaSample<'_>| {
            i64::try_from(s.decode_time).unwrap_or(i64::MAX) + i64::from(s.composition_offset)
                - offset
        };
        let skipping = samples.iter().any(|s| shown(s) >= skip_before);
        let mut frame = frame::Video::empty();
        let mut going = true;
        for sample in &samples {
            if skipping
                && !sample.is_sync
                && shown(sample) < skip_before
                && !self.is_reference(sample)
            {
                continue;
            }
            if self.decoded >= MAX_DECODED_FRAMES {
                return Err(PictureError::TooMuch(format!(
                    "more than {MAX_DECODED_FRAMES} frames to decode"
                )));
            }
            let data = self.annex_b(sample)?;
            let dts = i64::try_from(sample.decode_time).unwrap_or(i64::MAX);
            let mut packet = Packet::copy(&data);
            packet.set_dts(Some(dts));
            packet.set_pts(Some(dts + i64::from(sample.composition_offset)));
            if sample.is_sync {
                packet.set_flags(ffmpeg::packet::Flags::KEY);
            }
            self.decoded += 1;
            // A damaged sample is skipped (the frames after it may still decode).
            if self.decoder.send_packet(&packet).is_err() {
                continue;
            }
            while going && self.decoder.receive_frame(&mut frame).is_ok() {
                let pts = frame.pts().or(frame.timestamp()).unwrap_or(0) - offset;
                going = each(&mut frame, pts);
            }
            if !going {
                break;
            }
        }
        let _ = self.decoder.send_eof();
        while going && self.decoder.receive_frame(&mut frame).is_ok() {
            let pts = frame.pts().or(frame.timestamp()).unwrap_or(0) - offset;
            going = each(&mut frame, pts);
        }
        self.decoder.flush();
        Ok(())
    }
}

/// Which frames a request takes, as they come out of the decoder in presentation order:
/// for each target time (ascending), the first frame shown at or after it, as `ffmpeg -ss`
/// picks it; targets past the last frame take the last one ([`Picker::rest`]).
#[derive(Debug)]
pub struct Picker {
    targets: Vec<i64>,
    next: usize,
}

impl Picker {
    /// A picker of `targets` (ascending presentation times).
    pub fn new(targets: Vec<i64>) -> Picker {
        Picker { targets, next: 0 }
    }

    /// The targets a frame presented at `pts` satisfies (indices into the targets).
    pub fn offer(&mut self, pts: i64) -> std::ops::Range<usize> {
        let start = self.next;
        while self.next < self.targets.len() && pts >= self.targets[self.next] {
            self.next += 1;
        }
        start..self.next
    }

    /// Whether every target has its frame.
    pub fn done(&self) -> bool {
        self.next >= self.targets.len()
    }

    /// The targets no frame reached (they take the last frame).
    pub fn rest(&self) -> std::ops::Range<usize> {
        self.next..self.targets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_target_takes_the_first_frame_at_or_after_it() {
        let mut p = Picker::new(vec![0, 1, 512, 1500, 9999]);
        assert_eq!(p.offer(0), 0..1);
        assert_eq!(p.offer(512), 1..3);
        assert_eq!(p.offer(1024), 3..3);
        assert_eq!(p.offer(1536), 3..4);
        assert!(!p.done());
        assert_eq!(p.rest(), 4..5);
        let mut p = Picker::new(vec![100]);
        assert_eq!(p.offer(-50), 0..0);
        assert_eq!(p.offer(100), 0..1);
        assert!(p.done());
    }
}
