//! Captions: a [`Transcriber`] backend turns a video's speech into a [`Transcript`];
//! [`crate::domain::cues`] shapes it into readable WebVTT, which the packager's parser checks before it is
//! stored as `subs/{lang}.vtt`, listed as "{Language} (auto-generated)".
//! Backends: `offline` (whisper.cpp, [`whisper`]), `aws` (Transcribe, [`aws`]), `off`.

#[cfg(feature = "aws")]
pub mod aws;
#[cfg(feature = "whisper")]
pub mod whisper;

use async_trait::async_trait;

use super::{AnalysisError, MediaInputs};
use crate::domain::cues::{self, Transcript};

/// A speech-to-text backend.
#[async_trait]
pub trait Transcriber: Send + Sync {
    /// Its name, recorded on the stage.
    fn backend(&self) -> &'static str;
    /// What is said in the video `input` describes; `None` when it has no audio.
    async fn transcribe(
        &self,
        input: &MediaInputs<'_>,
    ) -> Result<Option<Transcript>, AnalysisError>;
}

/// The primary language subtag of a language tag (`en-US` → `en`), lowercased, if it is a
/// language code a captions file may be named after (2–3 letters).
pub fn primary_language(tag: &str) -> Option<String> {
    let primary = tag.split(['-', '_']).next()?.to_ascii_lowercase();
    ((2..=3).contains(&primary.len()) && primary.bytes().all(|b| b.is_ascii_lowercase()))
        .then_some(primary)
}

/// The WebVTT of `transcript` for a video of `duration` seconds, checked by the packager's
/// parser; `None` when nothing was said.
pub fn webvtt(transcript: &Transcript, duration: f64) -> Result<Option<String>, AnalysisError> {
    let cues = cues::shape(transcript, duration);
    if cues.is_empty() {
        return Ok(None);
    }
    let text = cues::to_webvtt(&cues);
    sunomi_packager::vtt::parse(&text).map_err(|e| {
        AnalysisError::Backend(format!("generated captions are not valid WebVTT: {e}"))
    })?;
    Ok(Some(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_tags_become_file_names() {
        assert_eq!(primary_language("en-US").as_deref(), Some("en"));
        assert_eq!(primary_language("pt_BR").as_deref(), Some("pt"));
        assert_eq!(primary_language("yue").as_deref(), Some("yue"));
        assert_eq!(primary_language("x"), None);
        assert_eq!(primary_language("../a"), None);
    }
}
