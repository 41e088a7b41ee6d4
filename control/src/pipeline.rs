//! The transcode job: validate the source (probe) → transcode with the origin library
//! (progress reported while it runs) → analysis → publish. Idempotent per (asset, source
//! version): a redelivered job finds what is done and goes on from there, and never
//! publishes twice.
//!
//! Racing workers (one thought dead but still running) each write their files to their own
//! run folder (`videos/{id}/runs/{run}/`); the first to record its run on the asset (a
//! compare-and-swap) wins and only then writes the manifest, so the manifest never names a
//! half-written or losing run.

use std::sync::Arc;

use object_store::ObjectStoreExt;
use sunomi_origin::layout;
use sunomi_origin::publish::{store_files, OutputFile};
use sunomi_origin::transcode::{self, Progress, TranscodeError, TranscodeOptions};
use sunomi_packager::manifest::{Manifest, VideoStatus};

use crate::analysis::captions;
use crate::analysis::{Analysis, AnalysisError, MediaInputs};
use crate::app::{now_rfc3339, App, AppError};
use crate::domain::asset::{
    Asset, AssetErrorCode, AssetErrorInfo, AssetStatus, CaptionSource, Change, RenditionInfo,
    StageStatus, CAPTIONS_STAGE, MODERATION_STAGE,
};
use crate::domain::ids::random_token;
use crate::domain::moderation::Decision;
use crate::queue::Delivery;

/// How a job attempt ended.
#[derive(Debug)]
pub enum Outcome {
    /// Done (or nothing to do): acknowledge.
    Done,
    /// The input is bad: the asset is errored; acknowledge, no retry.
    Refused(AssetErrorInfo),
    /// A failure that another attempt may not have: retry (or bury after the last).
    Retry(String),
}

fn refused(code: AssetErrorCode, message: impl Into<String>) -> Outcome {
    Outcome::Refused(AssetErrorInfo {
        code,
        message: message.into(),
    })
}

impl From<AppError> for Outcome {
    fn from(e: AppError) -> Self {
        Outcome::Retry(e.to_string())
    }
}

/// Maps a transcoder error to an asset error (bad input) or a retry (our side).
fn classify(e: TranscodeError) -> Outcome {
    match e {
        TranscodeError::NotVideo(m) => refused(AssetErrorCode::ErrNonVideo, m),
        TranscodeError::Input(m) | TranscodeError::Empty(m) => {
            refused(AssetErrorCode::ErrMalformedVideo, m)
        }
        TranscodeError::Ffmpeg { .. } => refused(
            AssetErrorCode::ErrMalformedVideo,
            format!("the video cannot be decoded: {e}"),
        ),
        TranscodeError::Setup(m) | TranscodeError::Output(m) => Outcome::Retry(m),
    }
}

/// Runs one transcode job.
pub async fn run(app: &Arc<App>, analysis: &Analysis, delivery: &Delivery) -> Outcome {
    let job = &delivery.job;
    let Some(id) = job.asset_id.clone() else {
        return Outcome::Done;
    };
    let asset = match app.assets.asset(&id).await {
        Ok(a) => a,
        Err(AppError::NotFound) => return Outcome::Done, // deleted meanwhile
        Err(e) => return e.into(),
    };
    let current_source = asset.source.as_ref().map(|s| s.version.clone());
    if current_source.is_none() || job.source_version != current_source {
        tracing::info!(%id, "job is for another source version; nothing to do");
        return Outcome::Done;
    }
    match asset.status {
        // A stale or duplicate job never revives an errored asset (a person's retry moves it
        // back to `uploaded` first).
        AssetStatus::Ready
        | AssetStatus::Blocked
        | AssetStatus::InReview
        | AssetStatus::WaitingUpload
        | AssetStatus::Errored => return Outcome::Done,
        AssetStatus::Analyzing if asset.run.is_some() => {
            // A previous attempt stored and claimed its run: go on from analysis.
            return finish(app, analysis, asset).await;
        }
        _ => {}
    }
    let asset = match app.assets.change(&id, Change::Validating).await {
        Ok(a) => a,
        Err(e) => return e.into(),
    };
    let work = match &app.config.transcode.work_dir {
        Some(dir) => tempfile::tempdir_in(dir),
        None => tempfile::tempdir(),
    };
    let work = match work {
        Ok(w) => w,
        Err(e) => return Outcome::Retry(format!("cannot make a work folder: {e}")),
    };
    let source = work.path().join("source");
    let source_key = layout::video_key(asset.id.as_str(), layout::SOURCE);
    if let Err(e) = app.records.download(&source_key, &source).await {
        return Outcome::Retry(e);
    }

    // Validate.
    let probe = {
        let source = source.clone();
        tokio::task::spawn_blocking(move || transcode::probe(&source)).await
    };
    let probe = match probe {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => return classify(e),
        Err(e) => return Outcome::Retry(format!("probe task failed: {e}")),
    };
    let limits = &app.config.limits;
    if let Some(d) = probe.duration_secs {
        if d > limits.max_duration_secs {
            return refused(
                AssetErrorCode::ErrDurationExceedConstraint,
                format!(
                    "the video declares {d:.1} s; the longest accepted is {:.0} s",
                    limits.max_duration_secs
                ),
            );
        }
        if d < limits.min_duration_secs {
            return refused(
                AssetErrorCode::ErrDurationTooShort,
                format!(
                    "the video is {d:.2} s; the shortest accepted is {:.2} s",
                    limits.min_duration_secs
                ),
            );
        }
    }
    if let Err(e) = app
        .assets
        .change(
            &id,
            Change::Validated {
                duration: probe.duration_secs.unwrap_or(0.0),
            },
        )
        .await
    {
        return e.into();
    }

    // Transcode, reporting progress.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u8>();
    let reporter = {
        let app = app.clone();
        let id = id.clone();
        tokio::spawn(async move {
            while let Some(p) = rx.recv().await {
                if let Err(e) = app.assets.change(&id, Change::Progress(p)).await {
                    tracing::debug!(%id, error = %e, "progress not recorded");
                }
            }
        })
    };
    let options = TranscodeOptions {
        preset: app.config.transcode.preset.clone(),
        work_dir: Some(work.path().to_path_buf()),
        ..TranscodeOptions::default()
    };
    let result = {
        let source = source.clone();
        let id = id.to_string();
        tokio::task::spawn_blocking(move || {
            let progress = Percent::new(tx);
            transcode::transcode(&source, &id, &options, &progress)
        })
        .await
    };
    let _ = reporter.await;
    let done = match result {
        Ok(Ok(t)) => t,
        Ok(Err(e)) => return classify(e),
        Err(e) => return Outcome::Retry(format!("transcode task failed: {e}")),
    };
    let duration = done.manifest.duration_secs;
    if duration < limits.min_duration_secs {
        return refused(
            AssetErrorCode::ErrDurationTooShort,
            format!(
                "the video is {duration:.2} s; the shortest accepted is {:.2} s",
                limits.min_duration_secs
            ),
        );
    }

    // Store this run's files, then claim the asset for this run.
    let run = random_token(12);
    let prefix = layout::run_dir(&run);
    let files: Vec<OutputFile> = done
        .files
        .iter()
        .map(|f| OutputFile {
            relative: format!("{prefix}/{}", f.relative),
            local: f.local.clone(),
        })
        .collect();
    let mut manifest = done.manifest.clone();
    manifest.status = VideoStatus::Pending;
    // Edge URLs carry playback ids, never the asset id.
    manifest.playback_ids_only = true;
    for path in manifest.stored_paths_mut() {
        *path = format!("{prefix}/{path}");
    }
    if let Err(e) = store_files(app.store(), id.as_str(), &files).await {
        return Outcome::Retry(e.to_string());
    }
    let renditions = manifest
        .renditions
        .iter()
        .map(|r| RenditionInfo {
            name: r.name.clone(),
            width: r.width,
            height: r.height,
            peak_bit_rate: r.peak_bit_rate,
        })
        .collect();
    let claimed = app
        .assets
        .change(
            &id,
            Change::Transcoded {
                run: run.clone(),
                renditions,
                duration,
            },
        )
        .await;
    let asset = match claimed {
        Ok(a) if a.run.as_deref() == Some(run.as_str()) => a,
        Ok(_) | Err(AppError::Transition(_)) => {
            tracing::info!(%id, %run, "another attempt published first; discarding this run");
            discard_run(app, &id.to_string(), &run).await;
            return Outcome::Done;
        }
        Err(e) => {
            discard_run(app, &id.to_string(), &run).await;
            return e.into();
        }
    };
    let manifest_key = layout::video_key(id.as_str(), layout::MANIFEST);
    if let Err(e) = app
        .store()
        .object_store()
        .put(&app.store().path(&manifest_key), manifest.to_json().into())
        .await
    {
        return Outcome::Retry(format!("writing the manifest: {e}"));
    }
    finish(app, analysis, asset).await
}

/// Analysis (captions and moderation, side by side), then the gate: publish (manifest `published`, fleet
/// purge, asset `ready`), hold for review (manifest stays `pending`) or block (manifest
/// `blocked`: every edge answers 451). Stages already finished by an earlier attempt are not
/// run again.
async fn finish(app: &Arc<App>, analysis: &Analysis, asset: Asset) -> Outcome {
    let id = asset.id.clone();
    let manifest_key = layout::video_key(id.as_str(), layout::MANIFEST);
    let manifest = match app.records.get::<Manifest>(&manifest_key).await {
        Ok(m) => m.value,
        Err(e) => return Outcome::Retry(format!("reading the manifest: {e}")),
    };
    let inputs = match MediaInputs::new(app, &asset, &manifest) {
        Ok(i) => i,
        Err(e) => return Outcome::Retry(e.to_string()),
    };
    // The two analyses are independent (each records its own stage; the inputs are fetched
    // once, by whichever asks first): they run side by side, so a video waits for the
    // longer of them, not for both.
    let (captioned, moderated) = tokio::join!(
        caption(app, analysis, asset.clone(), &inputs),
        moderate(app, analysis, &asset, &inputs),
    );
    let asset = match captioned {
        Ok(a) => a,
        Err(outcome) => return outcome,
    };
    let decision = match moderated {
        Ok(d) => d,
        Err(outcome) => return outcome,
    };
    let gate = match decision {
        // The manifest's availability follows the asset's status through the outbox (the
        // projection is applied before the status's event is announced).
        Decision::Passed | Decision::Warned => app.assets.change(&id, Change::Ready).await,
        Decision::Review => app.assets.change(&id, Change::HeldForReview).await,
        Decision::Blocked => app.assets.change(&id, Change::AutoBlocked).await,
    };
    if let Err(e) = gate {
        return e.into();
    }
    remove_other_runs(app, &asset).await;
    Outcome::Done
}

fn stage_done(asset: &Asset, stage: &str) -> bool {
    asset.stages.get(stage).is_some_and(|s| {
        matches!(
            s.status,
            StageStatus::Completed | StageStatus::Skipped | StageStatus::Failed
        )
    })
}

fn observe(stage: &str, backend: &str, started: std::time::Instant) {
    crate::metrics::metrics()
        .analysis_duration
        .with_label_values(&[stage, backend])
        .observe(started.elapsed().as_secs_f64());
}

/// The captions stage. It never stops publication: a backend failure marks the stage
/// `failed` with the backend's message; only a storage failure retries the job.
async fn caption(
    app: &App,
    analysis: &Analysis,
    asset: Asset,
    inputs: &MediaInputs<'_>,
) -> Result<Asset, Outcome> {
    let id = asset.id.clone();
    if stage_done(&asset, CAPTIONS_STAGE) {
        return Ok(asset);
    }
    let skip = |reason: String| Change::StageSkipped {
        stage: CAPTIONS_STAGE.into(),
        reason,
    };
    let Some(transcriber) = &analysis.transcriber else {
        return app
            .assets
            .change(
                &id,
                skip("captions are off (captions.backend = \"off\")".into()),
            )
            .await
            .map_err(Outcome::from);
    };
    app.assets
        .change(&id, Change::StageStarted(CAPTIONS_STAGE))
        .await?;
    let started = std::time::Instant::now();
    let result = transcriber.transcribe(inputs).await;
    observe(CAPTIONS_STAGE, transcriber.backend(), started);
    let change = match result {
        Ok(None) => skip("the video has no audio".into()),
        Ok(Some(transcript)) => {
            let duration = asset.duration.unwrap_or(inputs.manifest.duration_secs);
            match captions::webvtt(&transcript, duration) {
                Ok(None) => skip("no speech was found".into()),
                Ok(Some(_))
                    if asset.captions.iter().any(|c| {
                        c.language == transcript.language && c.source == CaptionSource::Uploaded
                    }) =>
                {
                    skip(format!(
                        "captions in {} were uploaded; they are kept",
                        transcript.language
                    ))
                }
                Ok(Some(vtt)) => {
                    crate::failpoint::pause("captions.before_store").await;
                    return app
                        .captions
                        .put(
                            &id,
                            &transcript.language,
                            bytes::Bytes::from(vtt),
                            CaptionSource::Generated,
                        )
                        .await
                        .map_err(Outcome::from);
                }
                Err(e) => Change::StageFailed {
                    stage: CAPTIONS_STAGE.into(),
                    message: e.to_string(),
                },
            }
        }
        Err(e @ (AnalysisError::Store(_) | AnalysisError::Busy(_))) => {
            return Err(Outcome::Retry(format!("captions: {e}")))
        }
        Err(e) => {
            tracing::warn!(%id, error = %e, "captions failed; publishing without them");
            Change::StageFailed {
                stage: CAPTIONS_STAGE.into(),
                message: e.to_string(),
            }
        }
    };
    app.assets.change(&id, change).await.map_err(Outcome::from)
}

/// The moderation stage: labels from the backend, the verdict from the policy. A video is
/// never published unmoderated: failures retry the job, and access errors end it.
async fn moderate(
    app: &App,
    analysis: &Analysis,
    asset: &Asset,
    inputs: &MediaInputs<'_>,
) -> Result<Decision, Outcome> {
    let id = &asset.id;
    if stage_done(asset, MODERATION_STAGE) {
        return Ok(asset
            .moderation
            .verdict
            .as_ref()
            .map_or(Decision::Passed, |v| v.decision));
    }
    let Some(moderator) = &analysis.moderator else {
        app.assets
            .change(
                id,
                Change::StageSkipped {
                    stage: MODERATION_STAGE.into(),
                    reason: "moderation is off (moderation.backend = \"off\")".into(),
                },
            )
            .await?;
        return Ok(Decision::Passed);
    };
    app.assets
        .change(id, Change::StageStarted(MODERATION_STAGE))
        .await?;
    let started = std::time::Instant::now();
    let result = moderator.moderate(inputs).await;
    observe(MODERATION_STAGE, moderator.backend(), started);
    match result {
        Ok(findings) => {
            let verdict = analysis
                .policy
                .verdict(moderator.backend(), findings, &now_rfc3339());
            let decision = verdict.decision;
            app.assets.change(id, Change::Moderated(verdict)).await?;
            Ok(decision)
        }
        Err(e @ AnalysisError::Denied(_)) => Err(refused(
            AssetErrorCode::ErrInternal,
            format!("moderation: {e}"),
        )),
        Err(e) => Err(Outcome::Retry(format!("moderation: {e}"))),
    }
}

async fn discard_run(app: &App, id: &str, run: &str) {
    let dir = layout::video_key(id, &layout::run_dir(run));
    if let Err(e) = app.records.delete_dir(&dir).await {
        tracing::warn!(%id, %run, error = %e, "could not remove a discarded run");
    }
}

/// Removes runs other than the published one (an earlier source version's files).
async fn remove_other_runs(app: &App, asset: &Asset) {
    let Some(run) = &asset.run else { return };
    let runs = layout::video_key(asset.id.as_str(), "runs");
    let keep = format!("{runs}/{run}/");
    match app.records.list(&runs).await {
        Ok(keys) => {
            for key in keys.iter().filter(|k| !k.starts_with(&keep)) {
                let _ = app.records.delete(key).await;
            }
        }
        Err(e) => tracing::warn!(id = %asset.id, error = %e, "could not list old runs"),
    }
}

/// Turns frame counts into whole percents, sent only when they change.
struct Percent {
    tx: tokio::sync::mpsc::UnboundedSender<u8>,
    expected: std::sync::atomic::AtomicU64,
    last: std::sync::atomic::AtomicU8,
}

impl Percent {
    fn new(tx: tokio::sync::mpsc::UnboundedSender<u8>) -> Percent {
        Percent {
            tx,
            expected: 0.into(),
            last: 0.into(),
        }
    }
}

/// Progress is reported in steps of this many percent (each step is one record write).
const PROGRESS_STEP: u8 = 10;

impl Progress for Percent {
    fn begin(&self, expected_frames: Option<u64>, _rungs: &[String]) {
        use std::sync::atomic::Ordering;
        self.expected
            .store(expected_frames.unwrap_or(0), Ordering::Relaxed);
    }

    fn advance(&self, frames: u64) {
        use std::sync::atomic::Ordering;
        let expected = self.expected.load(Ordering::Relaxed);
        if expected == 0 {
            return;
        }
        let p = ((frames.min(expected) * 99) / expected) as u8;
        let step = p / PROGRESS_STEP * PROGRESS_STEP;
        if step > self.last.load(Ordering::Relaxed) {
            self.last.store(step, Ordering::Relaxed);
            let _ = self.tx.send(step);
        }
    }

    fn end(&self, _frames: u64) {}
}
