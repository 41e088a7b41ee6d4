//! Analysis stages (captions, moderation) behind one trait. This crate ships the trait and
//! the honest `off` backend, which marks its stage `skipped`; real backends plug in here.

use async_trait::async_trait;

use crate::asset::Asset;

/// What an analyzer concluded.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Did not run (its backend is off): the stage is `skipped` with this reason.
    Skipped(String),
    /// Ran; the video may be published.
    Passed,
    /// Ran; the video must not be published (the edge answers 451).
    Blocked(String),
}

/// An analysis stage.
#[async_trait]
pub trait Analyzer: Send + Sync {
    /// The stage's name on the asset.
    fn stage(&self) -> &'static str;
    /// Analyses a transcoded asset (its files are in storage, not yet published).
    async fn analyze(&self, asset: &Asset) -> Result<Verdict, String>;
}

/// The `off` backend.
pub struct Off;

#[async_trait]
impl Analyzer for Off {
    fn stage(&self) -> &'static str {
        "analyze"
    }

    async fn analyze(&self, _asset: &Asset) -> Result<Verdict, String> {
        Ok(Verdict::Skipped(
            "no analysis backend is configured (analysis is off)".into(),
        ))
    }
}
