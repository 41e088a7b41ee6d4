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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{keys, Db};
    use crate::domain::asset::Event;
    use crate::domain::ids::AssetId;
    use crate::keycheck::KeyChecker;
    use axum::response::{IntoResponse, Sse};

    fn published(asset: &AssetId, seq: u64) -> Published {
        Published {
            global_id: format!("g{seq}"),
            event: Event {
                id: format!("{asset}.{seq}"),
                seq,
                kind: "video.asset.updated".into(),
                asset_id: asset.clone(),
                created_at: "2026-12-06T00:00:00Z".into(),
                data: serde_json::json!({}),
            },
        }
    }

    /// The events as a client reads them off the wire.
    async fn wire(events: Vec<SseEvent>) -> String {
        let resp =
            Sse::new(stream::iter(events.into_iter().map(Ok::<_, Infallible>))).into_response();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        String::from_utf8(body.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn a_subscriber_that_falls_behind_is_ended_with_the_point_to_resume_from() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&format!("sqlite://{}/k.db", dir.path().display()))
            .await
            .unwrap();
        let (_, record) = crate::apikeys::new_key("streams", "2026-12-06T00:00:00Z");
        keys::insert(&db, &record).await.unwrap();
        let api_keys = Arc::new(ApiKeys {
            db,
            checker: KeyChecker::default(),
        });
        let asset = AssetId::generate();
        let (tx, rx) = tokio::sync::broadcast::channel(2);
        let slot = take_slot(4, &record.id).unwrap();
        let mut events = guard(
            api_keys,
            slot,
            tokio_stream::wrappers::BroadcastStream::new(rx),
            Some("g0".into()),
            |p: &Published| {
                Some((
                    p.global_id.clone(),
                    SseEvent::default().id(&p.global_id).data(&p.global_id),
                ))
            },
        );
        tx.send(published(&asset, 1)).unwrap();
        let mut seen = vec![events.next().await.unwrap().unwrap()];
        // Five more into a channel that holds two: this subscriber missed three.
        for seq in 2..=6 {
            tx.send(published(&asset, seq)).unwrap();
        }
        while let Some(e) = events.next().await {
            seen.push(e.unwrap());
        }
        let text = wire(seen).await;
        assert!(text.contains("data: g1"), "{text}");
        assert!(text.contains("event: end"), "{text}");
        assert!(
            text.contains(r#""reason":"lagged""#) && text.contains(r#""resume_from":"g1""#),
            "the end names the last event delivered: {text}"
        );
        assert!(!text.contains("data: g5"), "nothing after the gap: {text}");
        // The slot is given back when the stream ends.
        let slots: Vec<_> = (0..4).map(|_| take_slot(4, &record.id)).collect();
        assert!(slots.iter().all(Result::is_ok));
    }
}
