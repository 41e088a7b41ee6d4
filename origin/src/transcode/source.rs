//! Opening a source file and describing what will be transcoded from it.

use std::path::Path;

use ffmpeg::{codec, decoder, format, media, Rational};
use ffmpeg_next as ffmpeg;
use sunomi_packager::ladder::MIN_SOURCE_DIMENSION;

use super::TranscodeError;

/// Frame rates sources are snapped to when their average rate is within 1 % of one.
const STANDARD_RATES: [(u32, u32); 10] = [
    (24000, 1001),
    (24, 1),
    (25, 1),
    (30000, 1001),
    (30, 1),
    (48, 1),
    (50, 1),
    (60000, 1001),
    (60, 1),
    (15, 1),
];

/// Highest output frame rate; faster sources are encoded at this rate.
const MAX_FPS: f64 = 60.0;

/// Picks the constant output frame rate for a source from its average and real base rates.
///
/// Standard rates are kept exactly; other rates (VFR phones, odd captures) are rounded to a
/// whole number of frames per second within 1..=60.
pub fn output_frame_rate(avg: (i32, i32), base: (i32, i32)) -> (u32, u32) {
    let as_f64 = |(n, d): (i32, i32)| {
        if n > 0 && d > 0 {
            f64::from(n) / f64::from(d)
        } else {
            0.0
        }
    };
    let fps = match as_f64(avg) {
        f if f > 0.5 => f,
        _ => as_f64(base),
    };
    if fps.is_nan() || fps <= 0.5 {
        return (30, 1);
    }
    let distance = |&(n, d): &(u32, u32)| ((f64::from(n) / f64::from(d)) - fps).abs() / fps;
    if let Some(rate) = STANDARD_RATES
        .iter()
        .filter(|r| distance(r) < 0.01)
        .min_by(|a, b| distance(a).total_cmp(&distance(b)))
    {
        return *rate;
    }
    ((fps.round().clamp(1.0, MAX_FPS)) as u32, 1)
}

/// The opened source and the decoders the transcode needs.
pub struct Source {
    /// The demuxer.
    pub input: format::context::Input,
    /// Index of the video stream.
    pub video_stream: usize,
    /// Time base of the video stream.
    pub video_time_base: Rational,
    /// The video decoder.
    pub video: decoder::Video,
    /// Display size (sample aspect ratio applied).
    pub display: (u32, u32),
    /// Output frame rate (num, den).
    pub fps: (u32, u32),
    /// Duration in seconds when the container knows it.
    pub duration_secs: Option<f64>,
    /// The audio streams to keep, the default first: one per language (the best stream
    /// FFmpeg picks, then every other decodable stream in a language not yet kept), at
    /// most [`MAX_AUDIO_TRACKS`].
    pub audio: Vec<AudioSource>,
}

/// Most audio tracks taken from one source (languages beyond are left out, with a warning).
pub const MAX_AUDIO_TRACKS: usize = 8;

/// The source's audio stream.
pub struct AudioSource {
    /// Index of the stream.
    pub stream: usize,
    /// Its time base.
    pub time_base: Rational,
    /// Its decoder.
    pub decoder: decoder::Audio,
    /// ISO 639-2 language from the stream's metadata (`und` when absent or invalid).
    pub language: String,
}

fn open_reason(e: ffmpeg::Error) -> String {
    match e {
        ffmpeg::Error::InvalidData => "not a media file FFmpeg can read (invalid data)".into(),
        ffmpeg::Error::Eof => "the file is empty or ends before any media".into(),
        // Probed as something that is not a video container (a playlist, a list of files).
        ffmpeg::Error::Other { errno } if errno == libc::EINVAL => {
            "not a video container Sunomi takes (MP4, MOV, MKV, WebM, AVI, FLV, MPEG-TS, …)".into()
        }
        other => other.to_string(),
    }
}

/// The audio streams of `input` to transcode (see [`Source::audio`]).
fn audio_sources(input: &format::context::Input) -> Vec<AudioSource> {
    let best = input.streams().best(media::Type::Audio).map(|s| s.index());
    let mut candidates: Vec<_> = input
        .streams()
        .filter(|s| s.parameters().medium() == media::Type::Audio)
        .collect();
    // The best stream first (the default track), then the others in file order.
    candidates.sort_by_key(|s| Some(s.index()) != best);
    let mut kept: Vec<AudioSource> = Vec::new();
    for a in candidates {
        let language = a
            .metadata()
            .get("language")
            .map(str::to_ascii_lowercase)
            .filter(|l| sunomi_packager::names::is_valid_audio_track(l))
            .unwrap_or_else(|| "und".to_string());
        if kept.iter().any(|k| k.language == language) {
            tracing::warn!(stream = a.index(), %language, "a second audio stream in one language; left out");
            continue;
        }
        if kept.len() == MAX_AUDIO_TRACKS {
            tracing::warn!(
                stream = a.index(),
                "more than {MAX_AUDIO_TRACKS} audio languages; left out"
            );
            continue;
        }
        let decoder = codec::context::Context::from_parameters(a.parameters())
            .and_then(|c| c.decoder().audio());
        match decoder {
            Ok(decoder) => kept.push(AudioSource {
                stream: a.index(),
                time_base: a.time_base(),
                decoder,
                language,
            }),
            Err(e) => {
                tracing::warn!(stream = a.index(), error = %e, "audio stream cannot be decoded; left out")
            }
        }
    }
    kept
}

impl Source {
    /// Opens `path`, its best video stream and its audio streams, refusing what cannot be
    /// streamed.
    pub fn open(path: &Path) -> Result<Source, TranscodeError> {
        let meta = std::fs::metadata(path)
            .map_err(|e| TranscodeError::Input(format!("cannot read {}: {e}", path.display())))?;
        if meta.len() == 0 {
            return Err(TranscodeError::NotVideo("the file is empty".into()));
        }
        let input =
            super::open_upload(path).map_err(|e| TranscodeError::NotVideo(open_reason(e)))?;
        let stream = input
            .streams()
            .best(media::Type::Video)
            .ok_or_else(|| TranscodeError::NotVideo("the file has no video stream".into()))?;
        let video_stream = stream.index();
        let video_time_base = stream.time_base();
        let mut ctx = codec::context::Context::from_parameters(stream.parameters())
            .map_err(|e| TranscodeError::Input(format!("unsupported video stream: {e}")))?;
        ctx.set_threading(codec::threading::Config {
            kind: codec::threading::Type::Frame,
            count: 0,
            ..Default::default()
        });
        let video = ctx
            .decoder()
            .video()
            .map_err(|e| TranscodeError::Input(format!("no decoder for the video stream: {e}")))?;
        let (w, h) = (video.width(), video.height());
        if w < MIN_SOURCE_DIMENSION || h < MIN_SOURCE_DIMENSION {
            return Err(TranscodeError::Input(format!(
                "video is {w}x{h}; the minimum is {MIN_SOURCE_DIMENSION}x{MIN_SOURCE_DIMENSION}"
            )));
        }
        let sar = video.aspect_ratio();
        let display =
            if sar.numerator() > 0 && sar.denominator() > 0 && sar.numerator() != sar.denominator()
            {
                let dw = f64::from(w) * f64::from(sar.numerator()) / f64::from(sar.denominator());
                (dw.round() as u32, h)
            } else {
                (w, h)
            };
        let avg = stream.avg_frame_rate();
        let base = stream.rate();
        let fps = output_frame_rate(
            (avg.numerator(), avg.denominator()),
            (base.numerator(), base.denominator()),
        );
        let duration_secs = (input.duration() > 0)
            .then(|| input.duration() as f64 / f64::from(ffmpeg::ffi::AV_TIME_BASE));

        let audio = audio_sources(&input);
        Ok(Source {
            input,
            video_stream,
            video_time_base,
            video,
            display,
            fps,
            duration_secs,
            audio,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_rates_are_kept_exactly() {
        assert_eq!(output_frame_rate((30000, 1001), (0, 0)), (30000, 1001));
        assert_eq!(output_frame_rate((25, 1), (25, 1)), (25, 1));
        assert_eq!(output_frame_rate((30, 1), (30, 1)), (30, 1));
        assert_eq!(output_frame_rate((60, 1), (60, 1)), (60, 1));
        assert_eq!(output_frame_rate((24000, 1001), (0, 0)), (24000, 1001));
        assert_eq!(output_frame_rate((2997, 100), (30, 1)), (30000, 1001));
    }

    #[test]
    fn odd_and_missing_rates_are_made_constant() {
        assert_eq!(output_frame_rate((0, 0), (0, 0)), (30, 1));
        assert_eq!(output_frame_rate((0, 1), (12, 1)), (12, 1));
        assert_eq!(output_frame_rate((1000, 1), (1000, 1)), (60, 1));
        assert_eq!(output_frame_rate((2000, 100), (0, 0)), (20, 1));
    }
}
