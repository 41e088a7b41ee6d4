//! The audio track: decode, resample to 48 kHz stereo, encode AAC-LC 128k once, and cut
//! fragments at absolute times (the first AAC frame at or after each k × fragment duration),
//! so audio segment n starts within one AAC frame of video segment n over any length.

use std::path::{Path, PathBuf};

use ffmpeg::software::resampling;
use ffmpeg::{codec, decoder, encoder, format, frame, ChannelLayout, Dictionary, Packet, Rational};
use ffmpeg_next as ffmpeg;

use super::cmaf::CmafWriter;
use super::TranscodeError;

/// Output sample rate.
pub const SAMPLE_RATE: u32 = 48_000;
/// Output channel count.
pub const CHANNELS: u16 = 2;
/// Output bit rate.
pub const BIT_RATE: usize = 128_000;
/// Samples per AAC frame.
const FRAME_SAMPLES: usize = 1024;

fn ff(stage: &'static str) -> impl FnOnce(ffmpeg::Error) -> TranscodeError {
    move |source| TranscodeError::Ffmpeg { stage, source }
}

/// Encodes the source's audio into one CMAF track file.
pub struct AudioEncoder {
    decoder: decoder::Audio,
    input_time_base: Rational,
    origin_secs: f64,
    resampler: Option<(resampling::Context, format::Sample, u64, u32)>,
    pending: [Vec<f32>; 2],
    skip: usize,
    started: bool,
    sent: i64,
    encoder: encoder::Audio,
    writer: CmafWriter,
    cut_every: i64,
    next_cut: i64,
    first_dts: Option<i64>,
    decoded: frame::Audio,
    packet: Packet,
    /// The language code written into the track.
    pub language: String,
}

impl AudioEncoder {
    /// Opens the AAC encoder and the track file at `path`. `origin_secs` is the source time of
    /// the video's first frame: audio before it is dropped, a late start is padded with silence.
    pub fn new(
        decoder: decoder::Audio,
        input_time_base: Rational,
        origin_secs: f64,
        language: String,
        fragment_seconds: u32,
        path: &Path,
    ) -> Result<Self, TranscodeError> {
        let codec = encoder::find(codec::Id::AAC)
            .ok_or_else(|| TranscodeError::Setup("FFmpeg has no AAC encoder".into()))?;
        let mut enc = codec::context::Context::new_with_codec(codec)
            .encoder()
            .audio()
            .map_err(ff("aac context"))?;
        let time_base = Rational::new(1, SAMPLE_RATE as i32);
        enc.set_rate(SAMPLE_RATE as i32);
        enc.set_format(format::Sample::F32(format::sample::Type::Planar));
        enc.set_channel_layout(ChannelLayout::STEREO);
        enc.set_channels(i32::from(CHANNELS));
        enc.set_bit_rate(BIT_RATE);
        enc.set_time_base(time_base);
        enc.set_flags(codec::Flags::GLOBAL_HEADER);
        let mut opts = Dictionary::new();
        opts.set("profile", "aac_low");
        let encoder = enc.open_with(opts).map_err(ff("open aac"))?;
        let writer = CmafWriter::create(
            path,
            codec::Parameters::from(&encoder),
            time_base,
            Some(&language),
        )?;
        let cut_every = i64::from(fragment_seconds) * i64::from(SAMPLE_RATE);
        Ok(AudioEncoder {
            decoder,
            input_time_base,
            origin_secs,
            resampler: None,
            pending: [Vec::new(), Vec::new()],
            skip: 0,
            started: false,
            sent: 0,
            encoder,
            writer,
            cut_every,
            next_cut: cut_every,
            first_dts: None,
            decoded: frame::Audio::empty(),
            packet: Packet::empty(),
            language,
        })
    }

    /// Decodes one packet of the source's audio stream.
    pub fn push(&mut self, packet: &Packet) -> Result<(), TranscodeError> {
        if let Err(e) = self.decoder.send_packet(packet) {
            // A damaged audio packet costs a few milliseconds of sound, not the video.
            tracing::debug!(error = %e, "skipping an undecodable audio packet");
            return Ok(());
        }
        self.receive_decoded()
    }

    fn receive_decoded(&mut self) -> Result<(), TranscodeError> {
        while self.decoder.receive_frame(&mut self.decoded).is_ok() {
            let mut f = std::mem::replace(&mut self.decoded, frame::Audio::empty());
            let result = self.resample(&mut f);
            self.decoded = f;
            result?;
            self.encode_ready(false)?;
        }
        Ok(())
    }

    fn align_start(&mut self, f: &frame::Audio) {
        if self.started {
            return;
        }
        self.started = true;
        let Some(ts) = f.timestamp() else { return };
        let t = ts as f64 * f64::from(self.input_time_base);
        let lead = ((t - self.origin_secs) * f64::from(SAMPLE_RATE)).round() as i64;
        if lead > 0 {
            let pad = lead.min(i64::from(SAMPLE_RATE) * 10) as usize;
            for ch in &mut self.pending {
                ch.resize(pad, 0.0);
            }
        } else {
            self.skip = (-lead) as usize;
        }
    }

    fn resample(&mut self, f: &mut frame::Audio) -> Result<(), TranscodeError> {
        if f.samples() == 0 {
            return Ok(());
        }
        if f.channel_layout().is_empty() {
            f.set_channel_layout(ChannelLayout::default(i32::from(f.channels())));
        }
        self.align_start(f);
        let key = (f.format(), f.channel_layout().bits(), f.rate());
        let stale = !matches!(&self.resampler, Some((_, a, b, c)) if (*a, *b, *c) == key);
        if stale {
            let ctx = resampling::Context::get(
                f.format(),
                f.channel_layout(),
                f.rate(),
                format::Sample::F32(format::sample::Type::Planar),
                ChannelLayout::STEREO,
                SAMPLE_RATE,
            )
            .map_err(ff("create resampler"))?;
            self.resampler = Some((ctx, key.0, key.1, key.2));
        }
        let capacity = f.samples() * SAMPLE_RATE as usize / f.rate().max(1) as usize + 256;
        let mut out = frame::Audio::new(
            format::Sample::F32(format::sample::Type::Planar),
            capacity,
            ChannelLayout::STEREO,
        );
        if let Some((ctx, ..)) = self.resampler.as_mut() {
            ctx.run(f, &mut out).map_err(ff("resample"))?;
        }
        self.append(&out);
        Ok(())
    }

    fn append(&mut self, out: &frame::Audio) {
        let n = out.samples();
        let drop = self.skip.min(n);
        self.skip -= drop;
        for (ch, pending) in self.pending.iter_mut().enumerate() {
            let plane: &[f32] = out.plane(ch);
            pending.extend_from_slice(&plane[drop.min(plane.len())..n.min(plane.len())]);
        }
    }

    fn encode_ready(&mut self, flush: bool) -> Result<(), TranscodeError> {
        loop {
            let available = self.pending[0].len();
            let n = if available >= FRAME_SAMPLES {
                FRAME_SAMPLES
            } else if flush && available > 0 {
                available
            } else {
                return Ok(());
            };
            let mut f = frame::Audio::new(
                format::Sample::F32(format::sample::Type::Planar),
                n,
                ChannelLayout::STEREO,
            );
            f.set_rate(SAMPLE_RATE);
            for (ch, pending) in self.pending.iter_mut().enumerate() {
                f.plane_mut::<f32>(ch)[..n].copy_from_slice(&pending[..n]);
                pending.drain(..n);
            }
            f.set_pts(Some(self.sent));
            self.sent += n as i64;
            self.encoder.send_frame(&f).map_err(ff("aac encode"))?;
            self.write_packets()?;
        }
    }

    fn write_packets(&mut self) -> Result<(), TranscodeError> {
        let time_base = Rational::new(1, SAMPLE_RATE as i32);
        while self.encoder.receive_packet(&mut self.packet).is_ok() {
            // The muxer shifts the encoder's priming (negative first timestamps) to start the
            // file's decode timeline (`tfdt`) at zero; the edit list written at the end trims
            // it again, so presentation time = file time - priming = the encoder's pts. A
            // fragment starts with the frame that covers k × fragment on the presentation
            // timeline: audio segment n starts within one frame before video segment n, so a
            // player starting at any segment finds no hole before the audio.
            let dts = self.packet.dts().or(self.packet.pts()).unwrap_or(0);
            self.first_dts.get_or_insert(dts);
            let frame = FRAME_SAMPLES as i64;
            let cut = dts > self.next_cut - frame;
            while self.next_cut - frame < dts {
                self.next_cut += self.cut_every;
            }
            self.writer.write(&mut self.packet, time_base, cut)?;
        }
        Ok(())
    }

    /// Drains the decoder, resampler and encoder, and closes the track file. `None` when the
    /// stream held no audio at all.
    pub fn finish(mut self) -> Result<Option<PathBuf>, TranscodeError> {
        let _ = self.decoder.send_eof();
        self.receive_decoded()?;
        if let Some((mut ctx, ..)) = self.resampler.take() {
            loop {
                let mut out = frame::Audio::new(
                    format::Sample::F32(format::sample::Type::Planar),
                    4096,
                    ChannelLayout::STEREO,
                );
                match ctx.flush(&mut out) {
                    Ok(_) if out.samples() > 0 => self.append(&out),
                    _ => break,
                }
            }
        }
        self.encode_ready(true)?;
        if self.sent == 0 {
            return Ok(None);
        }
        self.encoder.send_eof().map_err(ff("aac flush"))?;
        self.write_packets()?;
        let priming = -self.first_dts.unwrap_or(0).min(0);
        let path = self.writer.finish()?;
        if priming > 0 {
            write_priming_edit(&path, priming as u64)?;
        }
        Ok(Some(path))
    }
}

/// Rewrites the head of the track file at `path` with an edit list trimming `priming`
/// samples (see [`sunomi_packager::edit`]); the fragments after the `moov` are copied as
/// they are.
fn write_priming_edit(path: &std::path::Path, priming: u64) -> Result<(), TranscodeError> {
    use std::io::{Read, Seek, SeekFrom, Write};
    let out = |what: &str, e: &dyn std::fmt::Display| {
        TranscodeError::Output(format!("edit list of {}: {what}: {e}", path.display()))
    };
    let mut file = std::fs::File::open(path).map_err(|e| out("open", &e))?;
    // The head ends with the `moov` (ftyp, moov; sidx and fragments follow).
    let mut head = Vec::new();
    loop {
        let mut box_header = [0u8; 8];
        file.read_exact(&mut box_header)
            .map_err(|e| out("reading the head", &e))?;
        let size = u64::from(u32::from_be_bytes([
            box_header[0],
            box_header[1],
            box_header[2],
            box_header[3],
        ]));
        if !(8..=64 * 1024 * 1024).contains(&size) {
            return Err(out("head", &format!("box of {size} bytes")));
        }
        head.extend_from_slice(&box_header);
        let start = head.len();
        head.resize(start + size as usize - 8, 0);
        file.read_exact(&mut head[start..])
            .map_err(|e| out("reading the head", &e))?;
        if &box_header[4..8] == b"moov" {
            break;
        }
    }
    let edited = sunomi_packager::edit::insert_presentation_offset(&head, priming)
        .map_err(|e| out("inserting", &e))?;
    let staged = path.with_extension("edit.mp4");
    let mut dest = std::fs::File::create(&staged).map_err(|e| out("create", &e))?;
    dest.write_all(&edited).map_err(|e| out("write", &e))?;
    file.seek(SeekFrom::Start(head.len() as u64))
        .map_err(|e| out("seek", &e))?;
    std::io::copy(&mut file, &mut dest).map_err(|e| out("copy", &e))?;
    dest.sync_all().map_err(|e| out("sync", &e))?;
    std::fs::rename(&staged, path).map_err(|e| out("rename", &e))?;
    Ok(())
}
