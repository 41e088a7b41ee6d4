//! Server-Sent Events: `GET /api/v1/assets/{id}/events` (the asset's history from its
//! record, then live) and `GET /api/v1/events` (every asset, live, resumable from the global
//! log). Both resume from `Last-Event-ID` (or `?after=`). Live streams are bounded per key,
//! end when the key is revoked, and end with `event: end` (and the id to resume from) when
//! the subscriber fell behind ([`super::streams`]).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::IntoResponse;
use futures::stream::{self, StreamExt};
use serde::Deserialize;
use tokio_stream::wrappers::BroadcastStream;
use utoipa::IntoParams;

use super::assets::{asset_id, load};
use super::auth::ApiKey;
use super::problem::{errors, ApiError, ErrorCode};
use super::streams::{end_event, guard, take_slot};
use crate::domain::asset::Event;
use crate::events::EventBus;
use crate::services::api_keys::ApiKeys;
use crate::services::assets::Assets;

/// Where to resume.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Resume {
    /// Resume after this event id (as `Last-Event-ID`, which wins when both are given).
    pub after: Option<String>,
}

fn resume_point(headers: &HeaderMap, query: &Resume) -> Option<String> {
    headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| query.after.clone())
        .filter(|s| !s.is_empty())
}

fn sse(id: &str, event: &Event) -> SseEvent {
    SseEvent::default()
        .id(id)
        .event(&event.kind)
        .data(serde_json::to_string(event).unwrap_or_default())
}

type EventStream = axum::response::Response;

/// Events replayed at most when a stream (re)starts; a client further behind resumes from
/// the last one it got.
const HISTORY_PAGE: u32 = 1_000;

errors!(AssetEventsErrors: API_KEY, InvalidRequest, NotFound, TooManyStreams);

errors!(AllEventsErrors: API_KEY, InvalidRequest, TooManyStreams, EventsExpired);

/// What an event stream needs: the bus (live events), the assets (history), the key checks
/// (a revoked key's stream ends) and the per-key bound on open streams.
#[derive(Clone)]
pub struct Streams {
    /// Live events.
    pub bus: Arc<dyn EventBus>,
    /// History.
    pub assets: Arc<Assets>,
    /// Key checks while a stream is open.
    pub api_keys: Arc<ApiKeys>,
    /// `api.max_streams_per_key`.
    pub max_per_key: usize,
}

/// Follow one asset's events.
#[utoipa::path(get, path = "/api/v1/assets/{asset_id}/events", tag = "events",
    params(("asset_id" = String, Path, description = "Asset id"), Resume,
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event id (`{asset_id}.{seq}`)")),
    responses(
        (status = 200, description = "An event stream: history after the resume point, then live events", content_type = "text/event-stream", body = String),
        AssetEventsErrors,
    ),
    security(("api_key" = [])))]
pub async fn asset_events(
    key: ApiKey,
    State(streams): State<Streams>,
    Path(id): Path<String>,
    headers: HeaderMap,
    query: Result<Query<Resume>, axum::extract::rejection::QueryRejection>,
) -> Result<EventStream, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let id = asset_id(&id)?;
    let after = match resume_point(&headers, &query) {
        None => 0,
        Some(text) => {
            let seq = text
                .strip_prefix(&format!("{id}."))
                .and_then(|s| s.parse::<u64>().ok());
            seq.ok_or_else(|| {
                ApiError::bad_request("Last-Event-ID is not an event id of this asset")
            })?
        }
    };
    // Subscribe before reading the record, so nothing falls between history and live.
    let live = streams.bus.subscribe();
    load(&streams.assets, &id).await?;
    let history: Vec<Event> = streams
        .assets
        .events_after(&id, after, HISTORY_PAGE)
        .await?;
    let mut last = history.last().map_or(after, |e| e.seq);
    last = last.max(after);
    if history.len() == HISTORY_PAGE as usize {
        // More history than one page: this stream ends after it, and the client resumes
        // from its last event (nothing between history and live is skipped).
        let resume = history.last().map(|e| e.id.clone());
        let page = history
            .into_iter()
            .map(|e| Ok::<_, std::convert::Infallible>(sse(&e.id, &e)));
        let end = std::iter::once(Ok(end_event("more_history", resume.as_deref())));
        return Ok(Sse::new(stream::iter(page.chain(end))).into_response());
    }
    let target = id.clone();
    let slot = take_slot(streams.max_per_key, &key.id)?;
    let resume = history
        .last()
        .map(|e| e.id.clone())
        .or_else(|| (after > 0).then(|| format!("{id}.{after}")));
    let history = stream::iter(history.into_iter().map(|e| Ok(sse(&e.id, &e))));
    let live = guard(
        streams.api_keys.clone(),
        slot,
        BroadcastStream::new(live),
        resume,
        move |p| {
            (p.event.asset_id == target && p.event.seq > last).then(|| {
                last = p.event.seq;
                (p.event.id.clone(), sse(&p.event.id, &p.event))
            })
        },
    );
    Ok(Sse::new(history.chain(live))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}

/// Follow every asset's events.
#[utoipa::path(get, path = "/api/v1/events", tag = "events",
    params(Resume,
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this global event id")),
    responses(
        (status = 200, description = "An event stream of every asset's events", content_type = "text/event-stream", body = String),
        AllEventsErrors,
    ),
    security(("api_key" = [])))]
pub async fn all_events(
    key: ApiKey,
    State(streams): State<Streams>,
    headers: HeaderMap,
    query: Result<Query<Resume>, axum::extract::rejection::QueryRejection>,
) -> Result<EventStream, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let live = streams.bus.subscribe();
    let from = resume_point(&headers, &query);
    let history = match from.clone() {
        None => Vec::new(),
        Some(after) => streams.bus.replay(&after).await.map_err(|e| {
            if e.contains("malformed") {
                ApiError::bad_request(e)
            } else {
                ApiError::new(ErrorCode::EventsExpired, e)
            }
        })?,
    };
    let slot = take_slot(streams.max_per_key, &key.id)?;
    let seen: std::collections::HashSet<String> =
        history.iter().map(|p| p.global_id.clone()).collect();
    let resume = history.last().map(|p| p.global_id.clone()).or(from);
    let history = stream::iter(history.into_iter().map(|p| Ok(sse(&p.global_id, &p.event))));
    let live = guard(
        streams.api_keys.clone(),
        slot,
        BroadcastStream::new(live),
        resume,
        move |p| {
            (!seen.contains(&p.global_id))
                .then(|| (p.global_id.clone(), sse(&p.global_id, &p.event)))
        },
    );
    Ok(Sse::new(history.chain(live))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}
