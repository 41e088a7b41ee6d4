//! Pictures encoded: JPEG, PNG and WebP stills through FFmpeg's encoders, animated WebP
//! through `libwebp_anim` (one packet at the end: the whole file), animated GIF through the
//! `gif` crate (NeuQuant palettes per frame: FFmpeg's GIF encoder takes palettised frames
//! only and has no quantiser of its own outside the filter graph).

use ffmpeg::format::Pixel;
use ffmpeg::{codec, encoder, frame, Dictionary, Packet, Rational};
use ffmpeg_next as ffmpeg;

use super::render::{to_frame, Rgb, Scalers};
use super::PictureError;

fn ff(stage: &'static str) -> impl Fn(ffmpeg::Error) -> PictureError {
    move |e| PictureError::Draw(format!("{stage}: {e}"))
}

/// Encodes `frames` (all `width` × `height`, in `format`, presented `1 / rate` s apart) with
/// `codec` and returns every packet's bytes, in order.
fn encode(
    codec: codec::codec::Codec,
    frames: &mut [frame::Video],
    format: Pixel,
    rate: u32,
    options: Dictionary,
    quality: Option<usize>,
) -> Result<Vec<u8>, PictureError> {
    let first = frames
        .first()
        .ok_or_else(|| PictureError::Draw("nothing to encode".into()))?;
    let (width, height) = (first.width(), first.height());
    let mut enc = codec::context::Context::new_with_codec(codec)
        .encoder()
        .video()
        .map_err(ff("encoder"))?;
    enc.set_width(width);
    enc.set_height(height);
    enc.set_format(format);
    enc.set_time_base(Rational::new(1, rate.max(1) as i32));
    enc.set_frame_rate(Some(Rational::new(rate.max(1) as i32, 1)));
    if let Some(q) = quality {
        enc.set_flags(codec::Flags::QSCALE);
        enc.set_quality(q * ffmpeg::ffi::FF_QP2LAMBDA as usize);
    }
    let mut enc = enc.open_with(options).map_err(ff("open encoder"))?;
    let mut out = Vec::new();
    let mut packet = Packet::empty();
    for (n, f) in frames.iter_mut().enumerate() {
        f.set_pts(Some(n as i64));
        enc.send_frame(f).map_err(ff("encode"))?;
        while enc.receive_packet(&mut packet).is_ok() {
            out.extend_from_slice(packet.data().unwrap_or_default());
        }
    }
    enc.send_eof().map_err(ff("flush encoder"))?;
    while enc.receive_packet(&mut packet).is_ok() {
        out.extend_from_slice(packet.data().unwrap_or_default());
    }
    if out.is_empty() {
        return Err(PictureError::Draw("the encoder wrote nothing".into()));
    }
    Ok(out)
}

fn by_id(id: codec::Id, what: &str) -> Result<codec::codec::Codec, PictureError> {
    encoder::find(id).ok_or_else(|| PictureError::Draw(format!("FFmpeg has no {what} encoder")))
}

fn by_name(name: &str) -> Result<codec::codec::Codec, PictureError> {
    encoder::find_by_name(name)
        .ok_or_else(|| PictureError::Draw(format!("FFmpeg has no {name} encoder")))
}

/// A JPEG (4:2:0, quality scale 3: what the poster uses).
pub fn jpeg(scalers: &mut Scalers, picture: &Rgb) -> Result<Vec<u8>, PictureError> {
    jpeg_of(to_frame(scalers, picture, Pixel::YUVJ420P)?)
}

/// A JPEG of a frame already in `YUVJ420P` (as [`jpeg`]).
pub fn jpeg_of(frame: frame::Video) -> Result<Vec<u8>, PictureError> {
    encode(
        by_id(codec::Id::MJPEG, "JPEG")?,
        &mut [frame],
        Pixel::YUVJ420P,
        25,
        Dictionary::new(),
        Some(3),
    )
}

/// A PNG (RGB, lossless).
pub fn png(scalers: &mut Scalers, picture: &Rgb) -> Result<Vec<u8>, PictureError> {
    let mut f = [to_frame(scalers, picture, Pixel::RGB24)?];
    encode(
        by_id(codec::Id::PNG, "PNG")?,
        &mut f,
        Pixel::RGB24,
        25,
        Dictionary::new(),
        None,
    )
}

/// libwebp's options: quality 80 (lossy), its "picture" preset.
fn webp_options() -> Dictionary<'static> {
    let mut o = Dictionary::new();
    o.set("quality", "80");
    o.set("preset", "picture");
    o
}

/// A still WebP (lossy).
pub fn webp(scalers: &mut Scalers, picture: &Rgb) -> Result<Vec<u8>, PictureError> {
    webp_of(to_frame(scalers, picture, Pixel::YUV420P)?)
}

/// A still WebP of a frame already in `YUV420P` (as [`webp`]).
pub fn webp_of(frame: frame::Video) -> Result<Vec<u8>, PictureError> {
    encode(
        by_name("libwebp")?,
        &mut [frame],
        Pixel::YUV420P,
        25,
        webp_options(),
        None,
    )
}

/// An animated WebP of `frames` at `fps`, looping.
pub fn animated_webp(
    scalers: &mut Scalers,
    frames: &[Rgb],
    fps: u32,
) -> Result<Vec<u8>, PictureError> {
    let mut f = frames
        .iter()
        .map(|p| to_frame(scalers, p, Pixel::YUV420P))
        .collect::<Result<Vec<_>, _>>()?;
    let mut options = webp_options();
    options.set("loop", "0");
    encode(
        by_name("libwebp_anim")?,
        &mut f,
        Pixel::YUV420P,
        fps,
        options,
        None,
    )
}

/// An animated GIF of `frames` at `fps`, looping forever.
pub fn animated_gif(frames: &[Rgb], fps: u32) -> Result<Vec<u8>, PictureError> {
    let first = frames
        .first()
        .ok_or_else(|| PictureError::Draw("nothing to encode".into()))?;
    let side =
        |n: u32| u16::try_from(n).map_err(|_| PictureError::Draw("too large for a GIF".into()));
    let (width, height) = (side(first.width)?, side(first.height)?);
    let mut out = Vec::new();
    {
        let gif_err = |e: gif::EncodingError| PictureError::Draw(format!("GIF: {e}"));
        let mut encoder = gif::Encoder::new(&mut out, width, height, &[]).map_err(gif_err)?;
        encoder.set_repeat(gif::Repeat::Infinite).map_err(gif_err)?;
        // GIF delays are in hundredths of a second; the rounding is spread so the whole
        // lasts frames / fps.
        let mut shown = 0u64;
        for (n, picture) in frames.iter().enumerate() {
            let until = (n as u64 + 1) * 100 / u64::from(fps.max(1));
            let mut frame = gif::Frame::from_rgb_speed(width, height, &picture.data, 10);
            frame.delay = u16::try_from(until - shown).unwrap_or(u16::MAX);
            shown = until;
            encoder.write_frame(&frame).map_err(gif_err)?;
        }
    }
    Ok(out)
}
