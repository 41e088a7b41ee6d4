//! `/api/v1/search`: ranked full-text search over public videos (title, channel name,
//! description) and the moments their captions say the words; suggestions while typing.
//! What the caller's content policy hides is never found.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::accounts::Viewer;
use super::problem::{errors, ApiError};
use super::videos::VideoView;
use crate::config::Config;
use crate::services::videos::Videos;

/// `?q=`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// What to look for: up to 8 words (letters and digits; anything else separates them),
    /// each matched as a prefix; at most 100 characters are read.
    #[param(max_length = 1000)]
    pub q: String,
}

/// Where a video says the words.
#[derive(Debug, Serialize, ToSchema)]
pub struct Moment {
    /// The video.
    pub video: VideoView,
    /// Where the cue starts, in whole seconds (the watch page's `?t=`).
    pub at_secs: u64,
    /// The cue's words.
    pub text: String,
}

/// What a search found.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchResults {
    /// Videos whose title, channel name or description has every word, best first (at most
    /// 24).
    pub videos: Vec<VideoView>,
    /// Videos whose captions say every word in one cue, at the best such cue (at most 24).
    pub moments: Vec<Moment>,
}

fn query(
    params: Result<Query<SearchParams>, axum::extract::rejection::QueryRejection>,
) -> Result<String, ApiError> {
    let Query(p) = params.map_err(|e| ApiError::bad_request(e.body_text()))?;
    if p.q.len() > 1000 {
        return Err(ApiError::bad_request("q is at most 1000 bytes"));
    }
    Ok(p.q)
}

errors!(SearchErrors: InvalidRequest, Unavailable);

/// Search public videos and what is said in them.
#[utoipa::path(get, path = "/api/v1/search", tag = "videos",
    params(SearchParams),
    responses(
        (status = 200, description = "What matched", body = SearchResults),
        SearchErrors,
    ))]
pub async fn search(
    viewer: Viewer,
    State(videos): State<Arc<Videos>>,
    State(config): State<Arc<Config>>,
    params: Result<Query<SearchParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<SearchResults>, ApiError> {
    let q = query(params)?;
    let found = videos.search(&q, viewer.policy.hidden()).await?;
    let view = |l| VideoView::of(l, &config.edge_url, &viewer.policy);
    Ok(Json(SearchResults {
        videos: found.videos.iter().map(view).collect(),
        moments: found
            .moments
            .iter()
            .map(|(l, at_ms, text)| Moment {
                video: view(l),
                at_secs: at_ms / 1000,
                text: text.clone(),
            })
            .collect(),
    }))
}

/// Titles to offer while someone types.
#[derive(Debug, Serialize, ToSchema)]
pub struct Suggestions {
    /// Up to 8 titles, best first.
    pub data: Vec<String>,
}

errors!(SuggestErrors: InvalidRequest, Unavailable);

/// Titles of public videos matching what has been typed so far (every word as a prefix).
#[utoipa::path(get, path = "/api/v1/search/suggestions", tag = "videos",
    params(SearchParams),
    responses(
        (status = 200, description = "Titles to offer", body = Suggestions),
        SuggestErrors,
    ))]
pub async fn suggestions(
    viewer: Viewer,
    State(videos): State<Arc<Videos>>,
    params: Result<Query<SearchParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Suggestions>, ApiError> {
    let q = query(params)?;
    let data = videos.suggestions(&q, viewer.policy.hidden()).await?;
    Ok(Json(Suggestions { data }))
}
