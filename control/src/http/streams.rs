//! Live event streams held to account: a bounded number per API key, ended when the key is
//! revoked, and ended — with a reason and the id to resume from — when the subscriber falls
//! so far behind that the fan-out dropped events for it, instead of silently skipping them.

use std::collections::HashMap;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::response::sse::Event as SseEvent;
use futures::stream::{self, Stream, StreamExt};
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

use super::problem::{ApiError, ErrorCode};
use crate::events::Published;
use crate::services::api_keys::ApiKeys;

/// How often an open stream checks that its key still works.
pub const KEY_RECHECK: Duration = Duration::from_secs(5);

/// Open streams per API key, in this process.
fn open_streams() -> std::sync::MutexGuard<'static, HashMap<String, usize>> {
    static OPEN: OnceLock<Mutex<HashMap<String, usize>>> = OnceLock::new();
    OPEN.get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

/// One open stream's place in its key's count (given back when dropped).
pub struct StreamSlot {
    key: String,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut map = open_streams();
        if let Some(n) = map.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&self.key);
            }
        }
    }
}

/// Takes a stream slot for key `key`: 429 when it already holds `api.max_streams_per_key`.
pub fn take_slot(max_per_key: usize, key: &str) -> Result<StreamSlot, ApiError> {
    let mut map = open_streams();
    let n = map.entry(key.to_string()).or_insert(0);
    if *n >= max_per_key {
        return Err(ApiError::new(
            ErrorCode::TooManyStreams,
            format!(
                "this key has {} event streams open already; close one",
                max_per_key
            ),
        )
        .with_header(axum::http::header::RETRY_AFTER, "5"));
    }
    *n += 1;
    Ok(StreamSlot {
        key: key.to_string(),
    })
}

/// The event that ends a stream early: `event: end`, its reason, and the id the client
/// resumes from (its `Last-Event-ID` becomes the last event it got).
pub fn end_event(reason: &str, resume_from: Option<&str>) -> SseEvent {
    let data = serde_json::json!({ "reason": reason, "resume_from": resume_from });
    let event = SseEvent::default().event("end").data(data.to_string());
    match resume_from {
        Some(id) => event.id(id),
        None => event,
    }
}

/// A boxed event stream.
pub type Events = Pin<Box<dyn Stream<Item = Result<SseEvent, Infallible>> + Send>>;

enum Step {
    Item(Option<Result<Published, BroadcastStreamRecvError>>),
    Tick,
}

/// `live` as the client gets it: each item through `pick` (which returns the event to send
/// and its id, or skips it), ended with a reason when the key `key` stops working or the
/// subscriber lagged. `last` is the id of the last event already sent (history), if any.
pub fn guard<L, P>(
    keys: Arc<ApiKeys>,
    slot: StreamSlot,
    live: L,
    last: Option<String>,
    pick: P,
) -> Events
where
    L: Stream<Item = Result<Published, BroadcastStreamRecvError>> + Send + Unpin + 'static,
    P: FnMut(&Published) -> Option<(String, SseEvent)> + Send + 'static,
{
    let mut ticker = tokio::time::interval(KEY_RECHECK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let state = (keys, slot, live, last, pick, ticker, false);
    Box::pin(stream::unfold(
        state,
        |(keys, slot, mut live, mut last, mut pick, mut ticker, ended)| async move {
            if ended {
                return None;
            }
            loop {
                let step = tokio::select! {
                    item = live.next() => Step::Item(item),
                    _ = ticker.tick() => Step::Tick,
                };
                match step {
                    Step::Item(None) => return None,
                    Step::Item(Some(Ok(p))) => {
                        if let Some((id, event)) = pick(&p) {
                            last = Some(id);
                            return Some((
                                Ok(event),
                                (keys, slot, live, last, pick, ticker, false),
                            ));
                        }
                    }
                    Step::Item(Some(Err(BroadcastStreamRecvError::Lagged(n)))) => {
                        tracing::info!(
                            key = %slot.key,
                            missed = n,
                            "an event stream fell behind; ending it so it resumes"
                        );
                        let end = end_event("lagged", last.as_deref());
                        return Some((Ok(end), (keys, slot, live, last, pick, ticker, true)));
                    }
                    Step::Tick => {
                        // A database that does not answer keeps the stream (checked again).
                        if !keys.still_works(&slot.key).await {
                            let end = end_event("key_revoked", last.as_deref());
                            return Some((Ok(end), (keys, slot, live, last, pick, ticker, true)));
                        }
                    }
                }
            }
        },
    ))
}
