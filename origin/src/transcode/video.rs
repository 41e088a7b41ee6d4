//! One ladder rung: scale the decoded frame, encode with libx264 (fixed closed GOP, capped
//! VBR), mux one fragment per GOP.

use std::path::Path;

use ffmpeg::software::scaling;
use ffmpeg::{codec, encoder, format, frame, picture, Dictionary, Packet, Rational};
use ffmpeg_next as ffmpeg;
use sunomi_packager::ladder::{RungPlan, BUFFER_FACTOR, MAX_RATE_FACTOR};

use super::cmaf::CmafWriter;
use super::TranscodeError;

/// Encoder settings shared by every rung.
#[derive(Debug, Clone)]
pub struct VideoSettings {
    /// Output frame rate (num, den).
    pub fps: (u32, u32),
    /// Frames per GOP: `round(gop_seconds × fps)`.
    pub keyint: u32,
    /// x264 preset.
    pub preset: String,
}

/// The x264 options that make key frames line up across rungs: a fixed, closed GOP with no
/// scene-cut key frames.
pub fn x264_params(keyint: u32) -> String {
    format!("keyint={keyint}:min-keyint={keyint}:scenecut=0:open-gop=0")
}

/// One rung being encoded.
pub struct RungEncoder {
    /// The rung.
    pub plan: RungPlan,
    scaler: Option<(scaling::Context, format::Pixel, u32, u32)>,
    scaled: frame::Video,
    encoder: encoder::Video,
    time_base: Rational,
    writer: CmafWriter,
    packet: Packet,
}

impl RungEncoder {
    /// Opens the encoder and the track file for `plan` at `path`.
    pub fn new(
        plan: RungPlan,
        settings: &VideoSettings,
        path: &Path,
    ) -> Result<Self, TranscodeError> {
        let codec = encoder::find_by_name("libx264")
            .ok_or_else(|| TranscodeError::Setup("FFmpeg was built without libx264".into()))?;
        let mut enc = codec::context::Context::new_with_codec(codec)
            .encoder()
            .video()
            .map_err(|source| TranscodeError::Ffmpeg {
                stage: "x264 context",
                source,
            })?;
        let (num, den) = settings.fps;
        let time_base = Rational::new(den as i32, num as i32);
        enc.set_width(plan.width);
        enc.set_height(plan.height);
        enc.set_format(format::Pixel::YUV420P);
        enc.set_time_base(time_base);
        enc.set_frame_rate(Some(Rational::new(num as i32, den as i32)));
        enc.set_gop(settings.keyint);
        enc.set_bit_rate(plan.bit_rate as usize);
        enc.set_max_bit_rate((plan.bit_rate as f64 * MAX_RATE_FACTOR) as usize);
        enc.set_flags(codec::Flags::GLOBAL_HEADER);
        // SAFETY: a plain field of the not-yet-opened codec context.
        unsafe {
            (*enc.as_mut_ptr()).rc_buffer_size = (plan.bit_rate as f64 * BUFFER_FACTOR) as i32;
        }
        let mut opts = Dictionary::new();
        opts.set("preset", &settings.preset);
        opts.set("x264-params", &x264_params(settings.keyint));
        opts.set("forced-idr", "1");
        let encoder = enc
            .open_with(opts)
            .map_err(|source| TranscodeError::Ffmpeg {
                stage: "open x264",
                source,
            })?;
        let writer = CmafWriter::create(path, codec::Parameters::from(&encoder), time_base, None)?;
        Ok(RungEncoder {
            scaled: frame::Video::new(format::Pixel::YUV420P, plan.width, plan.height),
            plan,
            scaler: None,
            encoder,
            time_base,
            writer,
            packet: Packet::empty(),
        })
    }

    /// Encodes `source` as output frame number `index`. A source already at the rung's size
    /// and format goes to the encoder as is (its timestamp rewritten; the encoder takes its
    /// own reference, no copy).
    pub fn encode(&mut self, source: &mut frame::Video, index: i64) -> Result<(), TranscodeError> {
        let same = source.format() == format::Pixel::YUV420P
            && source.width() == self.plan.width
            && source.height() == self.plan.height;
        if same {
            source.set_pts(Some(index));
            source.set_kind(picture::Type::None);
            self.send(source)
        } else {
            let key = (source.format(), source.width(), source.height());
            let stale = !matches!(&self.scaler, Some((_, f, w, h)) if (*f, *w, *h) == key);
            if stale {
                let ctx = scaling::Context::get(
                    key.0,
                    key.1,
                    key.2,
                    format::Pixel::YUV420P,
                    self.plan.width,
                    self.plan.height,
                    scaling::Flags::BICUBIC,
                )
                .map_err(|source| TranscodeError::Ffmpeg {
                    stage: "create scaler",
                    source,
                })?;
                self.scaler = Some((ctx, key.0, key.1, key.2));
            }
            if let Some((ctx, ..)) = self.scaler.as_mut() {
                ctx.run(source, &mut self.scaled)
                    .map_err(|source| TranscodeError::Ffmpeg {
                        stage: "scale",
                        source,
                    })?;
            }
            let mut f = std::mem::replace(&mut self.scaled, frame::Video::empty());
            f.set_pts(Some(index));
            f.set_kind(picture::Type::None);
            let result = self.send(&f);
            self.scaled = f;
            result
        }
    }

    fn send(&mut self, f: &frame::Video) -> Result<(), TranscodeError> {
        self.encoder
            .send_frame(f)
            .map_err(|source| TranscodeError::Ffmpeg {
                stage: "x264 encode",
                source,
            })?;
        self.drain()
    }

    fn drain(&mut self) -> Result<(), TranscodeError> {
        while self.encoder.receive_packet(&mut self.packet).is_ok() {
            let key = self.packet.is_key();
            self.writer.write(&mut self.packet, self.time_base, key)?;
        }
        Ok(())
    }

    /// Flushes the encoder and closes the track file.
    pub fn finish(mut self) -> Result<(RungPlan, std::path::PathBuf), TranscodeError> {
        self.encoder
            .send_eof()
            .map_err(|source| TranscodeError::Ffmpeg {
                stage: "x264 flush",
                source,
            })?;
        self.drain()?;
        let path = self.writer.finish()?;
        Ok((self.plan, path))
    }
}

/// Turns decoded frames with arbitrary timestamps into a constant frame rate, as
/// `ffmpeg -vsync cfr` does: a frame is repeated to fill a gap and dropped when it arrives
/// before its slot is due.
#[derive(Debug)]
pub struct CfrClock {
    fps: (u32, u32),
    origin: Option<f64>,
    next: i64,
}

/// Longest gap filled by repeating a frame; beyond it the timeline is closed up instead, so a
/// broken timestamp cannot make the encoder produce hours of frozen video.
const MAX_GAP_SECONDS: f64 = 10.0;

impl CfrClock {
    /// A clock at `fps` (num, den).
    pub fn new(fps: (u32, u32)) -> Self {
        CfrClock {
            fps,
            origin: None,
            next: 0,
        }
    }

    /// Output frame numbers a frame presented at `seconds` (source time) fills. Empty when the
    /// frame is to be dropped.
    pub fn slots(&mut self, seconds: Option<f64>) -> std::ops::Range<i64> {
        let fps = f64::from(self.fps.0) / f64::from(self.fps.1);
        let Some(t) = seconds else {
            let n = self.next;
            self.next += 1;
            return n..n + 1;
        };
        let origin = *self.origin.get_or_insert(t);
        let mut due = ((t - origin) * fps).round() as i64;
        if due - self.next > (MAX_GAP_SECONDS * fps) as i64 {
            // Close the gap: shift the origin so this frame lands in the next slot.
            self.origin = Some(t - self.next as f64 / fps);
            due = self.next;
        }
        if due < self.next {
            return self.next..self.next;
        }
        let slots = self.next..due + 1;
        self.next = due + 1;
        slots
    }

    /// How many frames have been emitted.
    pub fn emitted(&self) -> i64 {
        self.next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_input_maps_one_to_one() {
        let mut c = CfrClock::new((25, 1));
        for i in 0..10 {
            assert_eq!(
                c.slots(Some(1.0 + f64::from(i) * 0.04)),
                i64::from(i)..i64::from(i) + 1
            );
        }
    }

    #[test]
    fn gaps_repeat_and_early_frames_drop() {
        let mut c = CfrClock::new((10, 1));
        assert_eq!(c.slots(Some(0.0)), 0..1);
        assert_eq!(c.slots(Some(0.3)), 1..4);
        assert!(c.slots(Some(0.31)).is_empty());
        assert_eq!(c.slots(Some(0.4)), 4..5);
    }

    #[test]
    fn huge_gaps_are_closed_not_filled() {
        let mut c = CfrClock::new((30, 1));
        c.slots(Some(0.0));
        assert_eq!(c.slots(Some(3600.0)), 1..2);
        assert_eq!(c.slots(Some(3600.0 + 1.0 / 30.0)), 2..3);
    }

    #[test]
    fn x264_gets_a_fixed_closed_gop() {
        assert_eq!(
            x264_params(60),
            "keyint=60:min-keyint=60:scenecut=0:open-gop=0"
        );
    }
}
