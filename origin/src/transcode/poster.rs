//! The poster image: one frame of the video as a JPEG.

use std::path::Path;

use ffmpeg::software::scaling;
use ffmpeg::{codec, encoder, format, frame, Packet, Rational};
use ffmpeg_next as ffmpeg;

use super::TranscodeError;

/// Widest poster made; larger sources are scaled down keeping their aspect.
const MAX_WIDTH: u32 = 1280;

/// Encodes `source` as a JPEG at `path`, at most [`MAX_WIDTH`] wide.
pub fn write_poster(
    source: &frame::Video,
    display: (u32, u32),
    path: &Path,
) -> Result<(), TranscodeError> {
    let ff = |stage| move |source| TranscodeError::Ffmpeg { stage, source };
    let (dw, dh) = display;
    let width = dw.min(MAX_WIDTH) & !1;
    let height = ((u64::from(dh) * u64::from(width) / u64::from(dw.max(1))) as u32 & !1).max(2);
    let mut scaler = scaling::Context::get(
        source.format(),
        source.width(),
        source.height(),
        format::Pixel::YUVJ420P,
        width,
        height,
        scaling::Flags::BICUBIC,
    )
    .map_err(ff("poster scaler"))?;
    let mut scaled = frame::Video::empty();
    scaler
        .run(source, &mut scaled)
        .map_err(ff("poster scale"))?;
    scaled.set_pts(Some(0));
    let codec = encoder::find(codec::Id::MJPEG)
        .ok_or_else(|| TranscodeError::Setup("FFmpeg has no JPEG encoder".into()))?;
    let mut enc = codec::context::Context::new_with_codec(codec)
        .encoder()
        .video()
        .map_err(ff("jpeg context"))?;
    enc.set_width(width);
    enc.set_height(height);
    enc.set_format(format::Pixel::YUVJ420P);
    enc.set_time_base(Rational::new(1, 25));
    enc.set_quality(3);
    let mut enc = enc.open().map_err(ff("open jpeg"))?;
    enc.send_frame(&scaled).map_err(ff("jpeg encode"))?;
    enc.send_eof().map_err(ff("jpeg flush"))?;
    let mut packet = Packet::empty();
    enc.receive_packet(&mut packet).map_err(ff("jpeg packet"))?;
    let data = packet.data().unwrap_or_default();
    std::fs::write(path, data)
        .map_err(|e| TranscodeError::Output(format!("{}: {e}", path.display())))
}
