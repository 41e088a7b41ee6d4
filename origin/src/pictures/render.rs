//! Frames made pictures: scaled (swscale) to the spec's size in RGB, placed on the picture
//! (cropped or padded with black), and for a smart crop, placed where the detail is.

use ffmpeg::format::Pixel;
use ffmpeg::frame;
use ffmpeg::software::scaling;
use ffmpeg_next as ffmpeg;
use sunomi_packager::picture::{smart_crop, FitMode, Geometry};

use super::PictureError;

/// An RGB picture, 8 bits a channel, rows packed (`width * 3` bytes each).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rgb {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// The pixels.
    pub data: Vec<u8>,
}

fn ff(stage: &'static str) -> impl Fn(ffmpeg::Error) -> PictureError {
    move |e| PictureError::Draw(format!("{stage}: {e}"))
}

/// What a scaling context converts: from a format and size to a format and size, with
/// which filter flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Conversion {
    from: (Pixel, u32, u32),
    to: (Pixel, u32, u32),
    flags: scaling::Flags,
}

/// A scaling context owned by one worker at a time.
struct Scaler(scaling::Context);

// SAFETY: an `SwsContext` has no thread affinity; it is only ever used by the thread that
// holds it (`Scalers` is owned by one worker's kit, taken by one picture at a time).
unsafe impl Send for Scaler {}

/// The scaling contexts a worker keeps between pictures, by what they convert. Initialising
/// one (its filter tables) costs about as much as running it on a thumbnail, and a service
/// mostly draws a few sizes from a few track sizes.
#[derive(Default)]
pub struct Scalers {
    contexts: Vec<(Conversion, Scaler)>,
}

/// Most scaling contexts a worker keeps (the oldest is dropped past it).
const MAX_SCALERS: usize = 8;

impl Scalers {
    /// The context for `conversion`, made on first use.
    fn get(&mut self, conversion: Conversion) -> Result<&mut scaling::Context, PictureError> {
        let at = match self.contexts.iter().position(|(c, _)| *c == conversion) {
            Some(at) => at,
            None => {
                let ((from, w, h), (to, dw, dh)) = (conversion.from, conversion.to);
                let context = scaling::Context::get(from, w, h, to, dw, dh, conversion.flags)
                    .map_err(ff("scaler"))?;
                if self.contexts.len() >= MAX_SCALERS {
                    self.contexts.remove(0);
                }
                self.contexts.push((conversion, Scaler(context)));
                self.contexts.len() - 1
            }
        };
        Ok(&mut self.contexts[at].1 .0)
    }

    /// `frame` converted to `format` at `width` × `height` with `flags`.
    fn run(
        &mut self,
        frame: &frame::Video,
        (format, width, height): (Pixel, u32, u32),
        flags: scaling::Flags,
    ) -> Result<frame::Video, PictureError> {
        let scaler = self.get(Conversion {
            from: (frame.format(), frame.width(), frame.height()),
            to: (format, width, height),
            flags,
        })?;
        let mut out = frame::Video::empty();
        scaler.run(frame, &mut out).map_err(ff("scale"))?;
        Ok(out)
    }
}

/// `frame` scaled to `width` × `height`, as RGB.
pub fn scale(
    scalers: &mut Scalers,
    frame: &frame::Video,
    width: u32,
    height: u32,
) -> Result<Rgb, PictureError> {
    let out = scalers.run(
        frame,
        (Pixel::RGB24, width, height),
        scaling::Flags::BICUBIC | scaling::Flags::ACCURATE_RND | scaling::Flags::FULL_CHR_H_INT,
    )?;
    let stride = out.stride(0);
    let row = width as usize * 3;
    let plane = out.data(0);
    let mut data = Vec::with_capacity(row * height as usize);
    for y in 0..height as usize {
        data.extend_from_slice(&plane[y * stride..y * stride + row]);
    }
    Ok(Rgb {
        width,
        height,
        data,
    })
}

/// Whether a picture drawn with `geometry` is the scaled frame itself (nothing cropped or
/// padded), so it can be scaled straight into an encoder's format ([`convert`]).
pub fn fills(geometry: &Geometry) -> bool {
    geometry.scaled_w == geometry.width && geometry.scaled_h == geometry.height
}

/// `frame` scaled to `width` × `height` in `format` (a YUV format an encoder takes), in one
/// pass: what `ffmpeg -vf scale` does before a JPEG or WebP encoder, without the trip through
/// RGB that placing a picture needs.
pub fn convert(
    scalers: &mut Scalers,
    frame: &frame::Video,
    width: u32,
    height: u32,
    format: Pixel,
) -> Result<frame::Video, PictureError> {
    scalers.run(
        frame,
        (format, width, height),
        scaling::Flags::BICUBIC | scaling::Flags::ACCURATE_RND,
    )
}

/// A black `width` × `height` picture with `src` at (`x`, `y`) (negative: its edge cropped).
pub fn place(src: &Rgb, width: u32, height: u32, x: i32, y: i32) -> Rgb {
    let row = width as usize * 3;
    let mut data = vec![0u8; row * height as usize];
    // The columns of `src` that land on the picture.
    let from_x = (-i64::from(x)).max(0);
    let to_x = i64::from(x).max(0);
    let span = (i64::from(src.width) - from_x).min(i64::from(width) - to_x);
    if span > 0 {
        let (from_x, to_x, span) = (from_x as usize * 3, to_x as usize * 3, span as usize * 3);
        for dst_y in 0..height as i64 {
            let src_y = dst_y - i64::from(y);
            if src_y < 0 || src_y >= i64::from(src.height) {
                continue;
            }
            let s = src_y as usize * src.width as usize * 3 + from_x;
            let d = dst_y as usize * row + to_x;
            data[d..d + span].copy_from_slice(&src.data[s..s + span]);
        }
    }
    Rgb {
        width,
        height,
        data,
    }
}

/// The luma of an RGB picture (BT.601 weights), one byte a pixel.
fn luma(src: &Rgb) -> Vec<u8> {
    src.data
        .chunks_exact(3)
        .map(|p| ((u32::from(p[0]) * 77 + u32::from(p[1]) * 150 + u32::from(p[2]) * 29) >> 8) as u8)
        .collect()
}

/// `frame` drawn as `geometry` asks with `fit`: scaled, then placed (centred, or for a smart
/// crop over the window with the most detail).
pub fn draw(
    scalers: &mut Scalers,
    frame: &frame::Video,
    geometry: &Geometry,
    fit: FitMode,
) -> Result<Rgb, PictureError> {
    let scaled = scale(scalers, frame, geometry.scaled_w, geometry.scaled_h)?;
    if fills(geometry) {
        return Ok(scaled);
    }
    let (x, y) = match fit {
        FitMode::Smartcrop
            if geometry.scaled_w >= geometry.width && geometry.scaled_h >= geometry.height =>
        {
            let (cx, cy) = smart_crop(
                &luma(&scaled),
                scaled.width as usize,
                scaled.width,
                scaled.height,
                geometry.width,
                geometry.height,
            );
            (-(cx as i32), -(cy as i32))
        }
        _ => (geometry.x, geometry.y),
    };
    Ok(place(&scaled, geometry.width, geometry.height, x, y))
}

/// An RGB picture as an FFmpeg frame of `format` (what an encoder takes).
pub fn to_frame(
    scalers: &mut Scalers,
    src: &Rgb,
    format: Pixel,
) -> Result<frame::Video, PictureError> {
    let mut rgb = frame::Video::new(Pixel::RGB24, src.width, src.height);
    let stride = rgb.stride(0);
    let row = src.width as usize * 3;
    let plane = rgb.data_mut(0);
    for y in 0..src.height as usize {
        plane[y * stride..y * stride + row].copy_from_slice(&src.data[y * row..(y + 1) * row]);
    }
    if format == Pixel::RGB24 {
        return Ok(rgb);
    }
    scalers.run(
        &rgb,
        (format, src.width, src.height),
        scaling::Flags::BICUBIC | scaling::Flags::ACCURATE_RND | scaling::Flags::FULL_CHR_H_INP,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn solid(width: u32, height: u32, v: u8) -> Rgb {
        Rgb {
            width,
            height,
            data: vec![v; (width * height * 3) as usize],
        }
    }

    #[test]
    fn a_scaler_is_made_once_per_conversion_and_the_oldest_goes_first() {
        let conversion = |w: u32| Conversion {
            from: (Pixel::YUV420P, 320, 180),
            to: (Pixel::RGB24, w, 180),
            flags: scaling::Flags::BILINEAR,
        };
        let mut scalers = Scalers::default();
        let frame = frame::Video::new(Pixel::YUV420P, 320, 180);
        for _ in 0..3 {
            let rgb = scale(&mut scalers, &frame, 320, 180).unwrap();
            assert_eq!(
                (rgb.width, rgb.height, rgb.data.len()),
                (320, 180, 320 * 180 * 3)
            );
        }
        assert_eq!(scalers.contexts.len(), 1, "one conversion, one context");
        for w in 1..=MAX_SCALERS as u32 {
            scalers.get(conversion(2 * w)).unwrap();
        }
        let kept: Vec<Conversion> = scalers.contexts.iter().map(|(c, _)| *c).collect();
        assert_eq!(kept.len(), MAX_SCALERS);
        assert_eq!(kept[0], conversion(2), "the first one made went first");
        assert_eq!(kept[MAX_SCALERS - 1], conversion(2 * MAX_SCALERS as u32));
        // The same sizes with other flags are another conversion, not the kept context.
        let sharper = Conversion {
            flags: scaling::Flags::BICUBIC,
            ..conversion(2 * MAX_SCALERS as u32)
        };
        scalers.get(sharper).unwrap();
        assert_eq!(scalers.contexts[MAX_SCALERS - 1].0, sharper);
        assert_eq!(
            scalers.contexts[MAX_SCALERS - 2].0,
            conversion(2 * MAX_SCALERS as u32)
        );
        // A size the scaler refuses is an error, not a crash.
        assert!(scale(&mut scalers, &frame, 0, 0).is_err());
    }

    #[test]
    fn placing_crops_and_pads() {
        let src = solid(4, 2, 200);
        // Padded: two black columns each side.
        let p = place(&src, 8, 2, 2, 0);
        assert_eq!(&p.data[0..6], &[0; 6]);
        assert_eq!(&p.data[6..18], &[200; 12]);
        assert_eq!(&p.data[18..24], &[0; 6]);
        // Cropped: the middle two columns.
        let c = place(&src, 2, 2, -1, 0);
        assert_eq!(c.data, vec![200; 12]);
        // Off the picture entirely: black.
        assert_eq!(place(&src, 2, 2, 5, 5).data, vec![0; 12]);
        assert_eq!(place(&src, 2, 2, -9, 0).data, vec![0; 12]);
    }
}
