//! Still images: the poster (one frame of the video as a JPEG) and account pictures (an
//! uploaded image decoded once and made a small JPEG, so nothing of the upload is served).

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
    let (dw, dh) = display;
    let width = dw.min(MAX_WIDTH) & !1;
    let height = ((u64::from(dh) * u64::from(width) / u64::from(dw.max(1))) as u32 & !1).max(2);
    let data = encode_jpeg(source, width, height)?;
    std::fs::write(path, data)
        .map_err(|e| TranscodeError::Output(format!("{}: {e}", path.display())))
}

/// The demuxers an account picture may be read with.
const PICTURE_DEMUXERS: &str = "png_pipe,jpeg_pipe,webp_pipe,gif,gif_pipe,bmp_pipe";

/// Largest picture an account picture is made from, either side (a decompression bomb is
/// refused before its pixels are decoded).
const MAX_PICTURE_SIDE: u32 = 8192;

/// An account picture from the image file at `input` (JPEG, PNG, WebP, GIF: the first
/// frame): the centre square, scaled to `side` × `side`, as a JPEG.
pub fn account_picture(input: &Path, side: u32) -> Result<Vec<u8>, TranscodeError> {
    let ff = |stage| move |source| TranscodeError::Ffmpeg { stage, source };
    let not_image = |what: &str| TranscodeError::NotVideo(format!("not an image: {what}"));
    super::init()?;
    // Image demuxers only, from this file only: an upload that is really a playlist or a
    // concat list opens nothing else.
    let mut options = ffmpeg::Dictionary::new();
    options.set("format_whitelist", PICTURE_DEMUXERS);
    options.set("protocol_whitelist", "file");
    let mut ictx =
        format::input_with_dictionary(&input, options).map_err(|_| not_image("unreadable"))?;
    let stream = ictx
        .streams()
        .best(ffmpeg::media::Type::Video)
        .ok_or_else(|| not_image("no picture in it"))?;
    let index = stream.index();
    let mut decoder = codec::context::Context::from_parameters(stream.parameters())
        .and_then(|c| c.decoder().video())
        .map_err(|_| not_image("no decoder for it"))?;
    let (w, h) = (decoder.width(), decoder.height());
    if w == 0 || h == 0 || w > MAX_PICTURE_SIDE || h > MAX_PICTURE_SIDE {
        return Err(TranscodeError::Input(format!(
            "a picture must be 1 to {MAX_PICTURE_SIDE} pixels a side ({w}×{h})"
        )));
    }
    let mut decoded = frame::Video::empty();
    let mut got = false;
    for (s, packet) in ictx.packets() {
        if s.index() != index {
            continue;
        }
        if decoder.send_packet(&packet).is_err() {
            continue;
        }
        if decoder.receive_frame(&mut decoded).is_ok() {
            got = true;
            break;
        }
    }
    if !got {
        let _ = decoder.send_eof();
        got = decoder.receive_frame(&mut decoded).is_ok();
    }
    if !got || decoded.width() != w || decoded.height() != h {
        return Err(TranscodeError::Input("the picture does not decode".into()));
    }
    // The centre square: crop by moving the planes' starts is not possible through the safe
    // API, so scale the whole picture to cover `side` and keep its middle when encoding.
    let scale = f64::from(side) / f64::from(w.min(h));
    let cover = |n: u32| ((f64::from(n) * scale).round() as u32).max(side) & !1;
    let (cw, ch) = (cover(w), cover(h));
    let mut scaler = scaling::Context::get(
        decoded.format(),
        w,
        h,
        format::Pixel::YUVJ420P,
        cw,
        ch,
        scaling::Flags::BICUBIC,
    )
    .map_err(ff("picture scaler"))?;
    let mut covered = frame::Video::empty();
    scaler
        .run(&decoded, &mut covered)
        .map_err(ff("picture scale"))?;
    let mut square = frame::Video::new(format::Pixel::YUVJ420P, side, side);
    let (x0, y0) = (((cw - side) / 2) & !1, ((ch - side) / 2) & !1);
    for plane in 0..3 {
        let shift = u32::from(plane > 0);
        let (px, py, rows, cols) = (x0 >> shift, y0 >> shift, side >> shift, side >> shift);
        let src_stride = covered.stride(plane);
        let dst_stride = square.stride(plane);
        let src = covered.data(plane).to_vec();
        let dst = square.data_mut(plane);
        for row in 0..rows as usize {
            let from = (py as usize + row) * src_stride + px as usize;
            let to = row * dst_stride;
            dst[to..to + cols as usize].copy_from_slice(&src[from..from + cols as usize]);
        }
    }
    encode_jpeg(&square, side, side)
}

/// `source` scaled to `width` × `height` and encoded as one JPEG.
fn encode_jpeg(source: &frame::Video, width: u32, height: u32) -> Result<Vec<u8>, TranscodeError> {
    let ff = |stage| move |source| TranscodeError::Ffmpeg { stage, source };
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
    Ok(packet.data().unwrap_or_default().to_vec())
}
