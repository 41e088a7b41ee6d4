//! Decoding for analysis: a video's audio as mono PCM at a chosen rate (speech-to-text) and
//! frames sampled every few seconds as small RGB images (moderation). Both stream through a
//! callback so memory stays bounded whatever the duration; both read any file FFmpeg opens
//! (the control plane passes a mezzanine track: the audio track, the lowest rendition).

use std::path::Path;

use ffmpeg::software::{resampling, scaling};
use ffmpeg::util::channel_layout::ChannelLayout;
use ffmpeg::{codec, format, frame, media};
use ffmpeg_next as ffmpeg;

use super::{init, TranscodeError};

fn ff(stage: &'static str) -> impl Fn(ffmpeg::Error) -> TranscodeError {
    move |source| TranscodeError::Ffmpeg { stage, source }
}

fn open(path: &Path) -> Result<format::context::Input, TranscodeError> {
    init()?;
    super::open_upload(path).map_err(|e| TranscodeError::Input(format!("{}: {e}", path.display())))
}

/// Decodes the first audio stream of `path` to mono `f32` samples at `rate` Hz, handing them
/// to `sink` in the order they play. Returns the number of samples delivered, or `None` when
/// the file has no audio stream.
pub fn decode_audio(
    path: &Path,
    rate: u32,
    sink: &mut dyn FnMut(&[f32]) -> Result<(), TranscodeError>,
) -> Result<Option<u64>, TranscodeError> {
    let mut input = open(path)?;
    let Some(stream) = input.streams().best(media::Type::Audio) else {
        return Ok(None);
    };
    let index = stream.index();
    let mut decoder = codec::context::Context::from_parameters(stream.parameters())
        .and_then(|c| c.decoder().audio())
        .map_err(|e| TranscodeError::Input(format!("audio stream cannot be decoded: {e}")))?;
    let target = format::Sample::F32(format::sample::Type::Packed);
    let mut resampler: Option<resampling::Context> = None;
    let mut decoded = frame::Audio::empty();
    let mut delivered = 0u64;
    let mut drain = |decoder: &mut ffmpeg::decoder::Audio,
                     resampler: &mut Option<resampling::Context>,
                     delivered: &mut u64|
     -> Result<(), TranscodeError> {
        while decoder.receive_frame(&mut decoded).is_ok() {
            if decoded.samples() == 0 {
                continue;
            }
            if decoded.channel_layout().is_empty() {
                decoded.set_channel_layout(ChannelLayout::default(i32::from(decoded.channels())));
            }
            if resampler.is_none() {
                *resampler = Some(
                    resampling::Context::get(
                        decoded.format(),
                        decoded.channel_layout(),
                        decoded.rate(),
                        target,
                        ChannelLayout::MONO,
                        rate,
                    )
                    .map_err(ff("create resampler"))?,
                );
            }
            let capacity = decoded.samples() * rate as usize / decoded.rate().max(1) as usize + 256;
            let mut out = frame::Audio::new(target, capacity, ChannelLayout::MONO);
            if let Some(ctx) = resampler.as_mut() {
                ctx.run(&decoded, &mut out).map_err(ff("resample"))?;
            }
            let samples = out.samples();
            let pcm: &[f32] = out.plane(0);
            sink(&pcm[..samples.min(pcm.len())])?;
            *delivered += samples as u64;
        }
        Ok(())
    };
    for (s, packet) in input.packets() {
        if s.index() != index {
            continue;
        }
        if decoder.send_packet(&packet).is_err() {
            continue; // a damaged packet costs a few milliseconds of sound
        }
        drain(&mut decoder, &mut resampler, &mut delivered)?;
    }
    decoder.send_eof().map_err(ff("audio flush"))?;
    drain(&mut decoder, &mut resampler, &mut delivered)?;
    Ok(Some(delivered))
}

/// A frame sampled from a video for analysis.
#[derive(Debug, Clone)]
pub struct SampledFrame {
    /// When it shows, in seconds from the start.
    pub time_secs: f64,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Packed RGB, `width * height * 3` bytes, rows top to bottom.
    pub rgb: Vec<u8>,
}

/// Decodes the video of `path` and hands `sink` every frame `choose` picks (asked with the
/// frame's time in seconds and whether it is a key frame, in decoding order), scaled to
/// `width`×`height` RGB (bilinear, aspect not kept: classifiers take a fixed square). Only
/// picked frames are scaled. Returns the number of frames sampled.
pub fn sample_frames(
    path: &Path,
    choose: &mut dyn FnMut(f64, bool) -> bool,
    (width, height): (u32, u32),
    sink: &mut dyn FnMut(SampledFrame) -> Result<(), TranscodeError>,
) -> Result<u64, TranscodeError> {
    let mut input = open(path)?;
    let stream = input
        .streams()
        .best(media::Type::Video)
        .ok_or_else(|| TranscodeError::NotVideo("the file has no video stream".into()))?;
    let index = stream.index();
    let time_base = f64::from(stream.time_base());
    let start = stream.start_time();
    let start = if start == ffmpeg::ffi::AV_NOPTS_VALUE {
        0
    } else {
        start
    };
    let mut decoder = codec::context::Context::from_parameters(stream.parameters())
        .and_then(|c| c.decoder().video())
        .map_err(|e| TranscodeError::Input(format!("video stream cannot be decoded: {e}")))?;
    let mut scaler: Option<scaling::Context> = None;
    let mut decoded = frame::Video::empty();
    let mut sampled = 0u64;
    let mut drain = |decoder: &mut ffmpeg::decoder::Video,
                     scaler: &mut Option<scaling::Context>,
                     sampled: &mut u64|
     -> Result<(), TranscodeError> {
        while decoder.receive_frame(&mut decoded).is_ok() {
            let Some(ts) = decoded.timestamp() else {
                continue;
            };
            let t = (ts - start) as f64 * time_base;
            if !choose(t, decoded.is_key()) {
                continue;
            }
            if scaler.is_none() {
                *scaler = Some(
                    scaling::Context::get(
                        decoded.format(),
                        decoded.width(),
                        decoded.height(),
                        format::Pixel::RGB24,
                        width,
                        height,
                        scaling::Flags::BILINEAR,
                    )
                    .map_err(ff("frame scaler"))?,
                );
            }
            let mut rgb = frame::Video::empty();
            if let Some(s) = scaler.as_mut() {
                s.run(&decoded, &mut rgb).map_err(ff("frame scale"))?;
            }
            let stride = rgb.stride(0);
            let data = rgb.data(0);
            let row = width as usize * 3;
            let mut packed = Vec::with_capacity(row * height as usize);
            for y in 0..height as usize {
                packed.extend_from_slice(&data[y * stride..y * stride + row]);
            }
            sink(SampledFrame {
                time_secs: t.max(0.0),
                width,
                height,
                rgb: packed,
            })?;
            *sampled += 1;
        }
        Ok(())
    };
    for (s, packet) in input.packets() {
        if s.index() != index {
            continue;
        }
        if decoder.send_packet(&packet).is_err() {
            continue;
        }
        drain(&mut decoder, &mut scaler, &mut sampled)?;
    }
    decoder.send_eof().map_err(ff("video flush"))?;
    drain(&mut decoder, &mut scaler, &mut sampled)?;
    Ok(sampled)
}
