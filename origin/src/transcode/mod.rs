//! Transcode once: decode a source a single time and encode every rung of the ladder plus one
//! audio track into CMAF track files, with key frames aligned across rungs.
//!
//! The work happens in a temporary folder; [`transcode`] returns the files and the manifest
//! measured from them, and [`crate::publish`] stores them (manifest last).

mod audio;
mod cmaf;
mod measure;
mod poster;
mod sample;
mod source;
mod video;

use std::path::{Path, PathBuf};

use ffmpeg::frame;
use ffmpeg_next as ffmpeg;
use sunomi_packager::ladder::{plan_ladder, plan_picture_track, PICTURE_TRACK_GOP_MS};
use sunomi_packager::manifest::{
    AudioTrack, FrameRate, Manifest, Rendition, VideoStatus, MANIFEST_SCHEMA,
};

use crate::layout;
use crate::publish::OutputFile;
use source::Source;
use video::{CfrClock, RungEncoder, VideoSettings};

pub use poster::account_picture;
pub use sample::{decode_audio, sample_frames, SampledFrame};
pub use source::output_frame_rate;
pub use video::x264_params;

/// Why a transcode failed. Messages are one line, fit to show a user as they are.
#[derive(Debug, thiserror::Error)]
pub enum TranscodeError {
    /// The input is not a video: not a media file, empty, or without a video stream.
    #[error("{0}")]
    NotVideo(String),
    /// The input is a video that cannot be transcoded (corrupt, truncated, too small...).
    #[error("{0}")]
    Input(String),
    /// FFmpeg lacks something the transcoder needs.
    #[error("FFmpeg setup: {0}")]
    Setup(String),
    /// An FFmpeg call failed.
    #[error("FFmpeg failed at {stage}: {source}")]
    Ffmpeg {
        /// What was being done.
        stage: &'static str,
        /// FFmpeg's error.
        #[source]
        source: ffmpeg::Error,
    },
    /// Nothing was produced (the source had no decodable frames).
    #[error("{0}")]
    Empty(String),
    /// Writing or reading back an output file failed.
    #[error("output: {0}")]
    Output(String),
}

/// A source whose decodable video is shorter than this share of its declared duration (less
/// one second) is refused as truncated rather than published half-empty.
const TRUNCATION_RATIO: f64 = 0.9;

/// Transcode settings.
#[derive(Debug, Clone)]
pub struct TranscodeOptions {
    /// x264 preset (`ultrafast` … `veryslow`).
    pub preset: String,
    /// Fragment (GOP) duration in seconds.
    pub fragment_seconds: u32,
    /// Folder for the work files (a fresh temporary folder inside it is used).
    pub work_dir: Option<PathBuf>,
}

impl Default for TranscodeOptions {
    fn default() -> Self {
        TranscodeOptions {
            preset: "veryfast".into(),
            fragment_seconds: 2,
            work_dir: None,
        }
    }
}

/// Receives progress as frames are encoded (a terminal bar or log lines in the binary).
pub trait Progress {
    /// The transcode started; `expected_frames` when the duration is known.
    fn begin(&self, expected_frames: Option<u64>, rungs: &[String]);
    /// `frames` output frames are done.
    fn advance(&self, frames: u64);
    /// The transcode finished encoding.
    fn end(&self, frames: u64);
}

/// Progress that is not reported.
pub struct Silent;

impl Progress for Silent {
    fn begin(&self, _: Option<u64>, _: &[String]) {}
    fn advance(&self, _: u64) {}
    fn end(&self, _: u64) {}
}

/// A finished transcode, waiting to be published.
pub struct Transcoded {
    /// The catalog entry (availability `published`; the control plane stores it `pending`).
    pub manifest: Manifest,
    /// The files to store, relative to the video's folder.
    pub files: Vec<OutputFile>,
    /// Output frames encoded per rung.
    pub frames: u64,
    /// The work folder; removed when this is dropped.
    pub work: tempfile::TempDir,
}

/// Chooses the representative frame (the poster, and the thumbnail without a `time`): of a
/// few candidate instants spread over the first half of the video (at most its first
/// minute), the frame with the most detail (the spread of its luma); a dark or flat frame
/// (a fade, a black leader, a title card) loses to any other, and when every candidate is
/// one, candidates go on at the same spacing until a frame shows something. Copies at most
/// two frames at a time.
struct PosterPicker {
    candidates: Vec<f64>,
    next: usize,
    /// The best so far: its score, the frame and its time in seconds.
    best: Option<(f64, frame::Video, f64)>,
}

/// Candidate instants a poster is chosen among.
const POSTER_CANDIDATES: usize = 8;

impl PosterPicker {
    fn new(duration_secs: Option<f64>) -> Self {
        let window = duration_secs.map_or(2.0, |d| (d * 0.5).min(60.0)).max(0.0);
        let candidates = (0..POSTER_CANDIDATES)
            .map(|k| window * (k as f64 + 1.0) / (POSTER_CANDIDATES as f64 + 1.0))
            .collect();
        PosterPicker {
            candidates,
            next: 0,
            best: None,
        }
    }

    fn offer(&mut self, f: &frame::Video, seconds: f64) {
        // Every candidate dark or flat (a long leader): keep looking, as far apart, until a
        // frame shows something or the video ends.
        if self.next == self.candidates.len() && self.best.as_ref().is_some_and(|b| b.0 < 0.0) {
            let last = self.candidates.last().copied().unwrap_or(0.0);
            let spacing = self.candidates.first().copied().unwrap_or(1.0).max(0.04);
            self.candidates.push(last + spacing);
        }
        let due = self
            .candidates
            .get(self.next)
            .is_some_and(|c| seconds >= *c);
        // The first frame stands in until a candidate is reached (a very short video).
        if !due && self.best.is_some() {
            return;
        }
        while self
            .candidates
            .get(self.next)
            .is_some_and(|c| seconds >= *c)
        {
            self.next += 1;
        }
        let score = detail(f);
        if self.best.as_ref().is_none_or(|(best, _, _)| score > *best) {
            self.best = Some((score, f.clone(), seconds));
        }
    }

    /// The chosen frame and when it is shown, in milliseconds (rounded down, so the first
    /// frame at or after that time is this one).
    fn chosen(&self) -> Option<(&frame::Video, u64)> {
        self.best
            .as_ref()
            .map(|(_, f, t)| (f, (t * 1000.0).floor().max(0.0) as u64))
    }
}

/// How much a frame shows: the standard deviation of its first plane (luma for every YUV
/// and grey format) over a grid of samples, less a large penalty when the frame is dark
/// (mean below 24) or flat (deviation below 8), so such frames lose to any other.
fn detail(f: &frame::Video) -> f64 {
    let (w, h) = (f.width() as usize, f.height() as usize);
    let stride = f.stride(0);
    let plane = f.data(0);
    let (mut n, mut sum, mut squares) = (0f64, 0f64, 0f64);
    for y in (0..h).step_by(4) {
        for x in (0..w).step_by(4) {
            if let Some(v) = plane.get(y * stride + x) {
                let v = f64::from(*v);
                n += 1.0;
                sum += v;
                squares += v * v;
            }
        }
    }
    if n == 0.0 {
        return f64::MIN;
    }
    let mean = sum / n;
    let deviation = (squares / n - mean * mean).max(0.0).sqrt();
    if mean < 24.0 || deviation < 8.0 {
        deviation - 1000.0
    } else {
        deviation
    }
}

/// Initialises FFmpeg once and keeps its own logging quiet (errors only).
pub fn init() -> Result<(), TranscodeError> {
    ffmpeg::init().map_err(|source| TranscodeError::Ffmpeg {
        stage: "init",
        source,
    })?;
    ffmpeg::util::log::set_level(ffmpeg::util::log::Level::Fatal);
    Ok(())
}

/// The demuxers an uploaded source may be read with: video containers and elementary
/// streams. Not playlists (`hls`), lists of other files (`concat`), or anything else that
/// makes FFmpeg open more than the upload.
const SOURCE_DEMUXERS: &str = "mov,matroska,avi,flv,mpegts,mpeg,mpegvideo,ogg,asf,mxf,dv,ivf,\
                               h264,hevc,m4v,obu,wav,mp3,aac,flac,gif";

/// Opens an uploaded file for reading: only [`SOURCE_DEMUXERS`], only the file itself.
pub(crate) fn open_upload(
    path: &std::path::Path,
) -> Result<ffmpeg::format::context::Input, ffmpeg::Error> {
    let mut options = ffmpeg::Dictionary::new();
    options.set("format_whitelist", SOURCE_DEMUXERS);
    options.set("protocol_whitelist", "file");
    ffmpeg::format::input_with_dictionary(&path, options)
}

/// What [`probe`] learns about a source without decoding it.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    /// Duration the container declares, seconds.
    pub duration_secs: Option<f64>,
    /// Display size of the video stream.
    pub width: u32,
    /// Display height.
    pub height: u32,
    /// Whether a decodable audio stream is present.
    pub has_audio: bool,
    /// Languages of the audio tracks a transcode would make, the default first.
    pub audio_languages: Vec<String>,
}

/// Opens `input` as the transcoder would and reports what it found: the check a control
/// plane runs before it spends a transcode on a file.
pub fn probe(input: &Path) -> Result<Probe, TranscodeError> {
    init()?;
    let src = Source::open(input)?;
    Ok(Probe {
        duration_secs: src.duration_secs,
        width: src.display.0,
        height: src.display.1,
        has_audio: !src.audio.is_empty(),
        audio_languages: src.audio.iter().map(|a| a.language.clone()).collect(),
    })
}

/// Transcodes `input` for video `id`.
pub fn transcode(
    input: &Path,
    id: &str,
    options: &TranscodeOptions,
    progress: &dyn Progress,
) -> Result<Transcoded, TranscodeError> {
    if !sunomi_packager::names::is_valid_video_id(id) {
        return Err(TranscodeError::Input(format!(
            "invalid video id {id:?}: use 1-64 characters of A-Z a-z 0-9 _ -"
        )));
    }
    init()?;
    let mut src = Source::open(input)?;
    let work = match &options.work_dir {
        Some(dir) => tempfile::tempdir_in(dir),
        None => tempfile::tempdir(),
    }
    .map_err(|e| TranscodeError::Output(format!("cannot create a work folder: {e}")))?;
    std::fs::create_dir_all(work.path().join("video"))
        .and_then(|_| std::fs::create_dir_all(work.path().join("audio")))
        .and_then(|_| std::fs::create_dir_all(work.path().join("pictures")))
        .map_err(|e| TranscodeError::Output(e.to_string()))?;

    let (num, den) = src.fps;
    let fps = f64::from(num) / f64::from(den);
    let keyint = (f64::from(options.fragment_seconds) * fps).round().max(1.0) as u32;
    let settings = VideoSettings {
        fps: src.fps,
        keyint,
        preset: options.preset.clone(),
    };
    let plans = plan_ladder(src.display.0, src.display.1);
    let picture_plan = plan_picture_track(src.display.0, src.display.1, &plans);
    let mut rungs = Vec::with_capacity(plans.len() + 1);
    for plan in plans {
        let path = work.path().join(layout::rendition_path(&plan.name));
        rungs.push(RungEncoder::new(plan, &settings, &path)?);
    }
    let names: Vec<String> = rungs.iter().map(|r| r.plan.name.clone()).collect();
    // The picture track is encoded with the rungs, from the same frames, with its own
    // (shorter) GOP; it is kept last in `rungs`.
    let picture_at = match picture_plan {
        Some(plan) => {
            let keyint = (f64::from(PICTURE_TRACK_GOP_MS) / 1000.0 * fps)
                .round()
                .max(1.0) as u32;
            let picture_settings = VideoSettings {
                keyint,
                ..settings.clone()
            };
            let path = work.path().join(layout::picture_track_path(&plan.name));
            rungs.push(RungEncoder::new(plan, &picture_settings, &path)?);
            Some(rungs.len() - 1)
        }
        None => None,
    };

    let stream_start = src
        .input
        .stream(src.video_stream)
        .map(|s| s.start_time())
        .filter(|&t| t != ffmpeg::ffi::AV_NOPTS_VALUE)
        .unwrap_or(0);
    let tb = f64::from(src.video_time_base);
    let origin = stream_start as f64 * tb;

    // One encoder per kept audio stream, found by the stream's index.
    let mut audio = Vec::with_capacity(src.audio.len());
    for a in std::mem::take(&mut src.audio) {
        let path = work.path().join(layout::audio_path(&a.language));
        audio.push((
            a.stream,
            audio::AudioEncoder::new(
                a.decoder,
                a.time_base,
                origin,
                a.language,
                options.fragment_seconds,
                &path,
            )?,
        ));
    }

    progress.begin(src.duration_secs.map(|d| (d * fps).round() as u64), &names);

    let mut clock = CfrClock::new(src.fps);
    let mut decoded = frame::Video::empty();
    let mut poster = PosterPicker::new(src.duration_secs);
    let encode_frame = |f: &mut frame::Video,
                        clock: &mut CfrClock,
                        rungs: &mut Vec<RungEncoder>,
                        poster: &mut PosterPicker|
     -> Result<(), TranscodeError> {
        let t = f.timestamp().map(|ts| ts as f64 * tb);
        for index in clock.slots(t) {
            poster.offer(f, index as f64 / fps);
            for rung in rungs.iter_mut() {
                rung.encode(f, index)?;
            }
            progress.advance(clock.emitted() as u64);
        }
        Ok(())
    };

    let video_stream = src.video_stream;
    for (stream, packet) in src.input.packets() {
        let index = stream.index();
        if index == video_stream {
            if let Err(e) = src.video.send_packet(&packet) {
                tracing::debug!(error = %e, "skipping an undecodable video packet");
                continue;
            }
            while src.video.receive_frame(&mut decoded).is_ok() {
                encode_frame(&mut decoded, &mut clock, &mut rungs, &mut poster)?;
            }
        } else if let Some((_, a)) = audio.iter_mut().find(|(s, _)| *s == index) {
            a.push(&packet)?;
        }
    }
    let _ = src.video.send_eof();
    while src.video.receive_frame(&mut decoded).is_ok() {
        encode_frame(&mut decoded, &mut clock, &mut rungs, &mut poster)?;
    }
    let frames = clock.emitted() as u64;
    if frames == 0 {
        return Err(TranscodeError::Empty(
            "no video frame could be decoded (truncated or corrupt file)".into(),
        ));
    }
    if let Some(declared) = src.duration_secs {
        let decoded = frames as f64 / fps;
        if decoded < declared * TRUNCATION_RATIO - 1.0 {
            return Err(TranscodeError::Input(format!(
                "the file is truncated or corrupt: decoded {decoded:.1} s of the {declared:.1} s it declares"
            )));
        }
    }

    let mut files = Vec::new();
    let mut renditions = Vec::new();
    let mut picture_track = None;
    for (i, rung) in rungs.into_iter().enumerate() {
        let (plan, path) = rung.finish()?;
        let m = measure::measure(&path)?;
        let is_picture_track = picture_at == Some(i);
        let relative = if is_picture_track {
            layout::picture_track_path(&plan.name)
        } else {
            layout::rendition_path(&plan.name)
        };
        let track = Rendition {
            width: plan.width,
            height: plan.height,
            frame_rate: FrameRate { num, den },
            codec: m.index.codec.clone(),
            target_bit_rate: plan.bit_rate,
            peak_bit_rate: m.peak_bit_rate,
            average_bit_rate: m.average_bit_rate,
            path: relative.clone(),
            keyframe_ends: m.keyframe_ends,
            name: plan.name,
        };
        if is_picture_track {
            picture_track = Some(track);
        } else {
            renditions.push(track);
        }
        files.push(OutputFile {
            relative,
            local: path,
        });
    }
    let mut duration_secs = frames as f64 / fps;
    let mut audio_tracks = Vec::new();
    for (_, a) in audio {
        let language = a.language.clone();
        if let Some(path) = a.finish()? {
            let m = measure::measure(&path)?;
            duration_secs = duration_secs.max(m.index.duration_secs());
            let relative = layout::audio_path(&language);
            audio_tracks.push(AudioTrack {
                name: language.clone(),
                language,
                channels: audio::CHANNELS,
                sample_rate: audio::SAMPLE_RATE,
                codec: m.index.codec,
                average_bit_rate: m.average_bit_rate,
                path: relative.clone(),
            });
            files.push(OutputFile {
                relative,
                local: path,
            });
        }
    }
    progress.end(frames);

    let poster_path = work.path().join(layout::POSTER);
    let chosen = poster.chosen();
    let poster_key = match chosen {
        Some((f, _)) => match poster::write_poster(f, src.display, &poster_path) {
            Ok(()) => {
                files.push(OutputFile {
                    relative: layout::POSTER.into(),
                    local: poster_path,
                });
                Some(layout::POSTER.to_string())
            }
            Err(e) => {
                tracing::warn!(error = %e, "no poster");
                None
            }
        },
        None => None,
    };
    let poster_ms = chosen.map(|(_, ms)| ms);

    let manifest = Manifest {
        schema: MANIFEST_SCHEMA,
        id: id.to_string(),
        status: VideoStatus::Published,
        duration_secs,
        renditions,
        audio: audio_tracks,
        poster: poster_key,
        poster_ms,
        picture_track,
        labels: Vec::new(),
        playback_ids_only: false,
        auto_captions: vec![],
        revision: 0,
    };
    manifest
        .validate()
        .map_err(|e| TranscodeError::Output(e.to_string()))?;
    Ok(Transcoded {
        manifest,
        files,
        frames,
        work,
    })
}
