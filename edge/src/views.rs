//! The edge's part in counting views honestly (`sunomi_origin::views` has the whole protocol):
//! a player sends its view ticket as CMCD's session id with every media request; the edge
//! tallies the distinct media segments it served under each ticket, and once their media
//! covers what the ticket needs, answers with a signed receipt in [`VIEW_RECEIPT`]. Playlists,
//! init segments and requests without a valid ticket for the playback id count nothing.
//!
//! Tallies live in this edge's memory, at most `views.max_tickets` of them: a player served by
//! several edges (no affinity in front of the fleet) reaches its receipt later or not at all.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ::http::header::{HeaderName, HeaderValue};
use moka::future::Cache;
use sunomi_origin::views::{Receipt, Ticket, ViewSecret};

use crate::ops::metrics::metrics;

/// The response header carrying a receipt (exposed to cross-origin players).
pub const VIEW_RECEIPT: HeaderName = HeaderName::from_static("sunomi-view-receipt");

/// Segments remembered per ticket: enough for any view (a ticket needs seconds of media,
/// segments last seconds); a ticket asking for more is never covered.
const MAX_SEGMENTS: usize = 1024;

/// Tallies of the tickets this edge is serving.
pub struct ViewTally {
    secret: ViewSecret,
    tickets: Cache<String, Arc<Mutex<Progress>>>,
}

/// What one ticket's player has been served.
#[derive(Debug)]
struct Progress {
    first_served: u64,
    /// Segment numbers served (any rendition or track of the same number counts once).
    segments: Vec<u64>,
    covered_ms: u64,
    receipt: Option<HeaderValue>,
}

impl ViewTally {
    /// A tally keeping at most `max_tickets` tickets, each for as long as it is used (and at
    /// most a day).
    pub fn new(secret: ViewSecret, max_tickets: u64) -> ViewTally {
        ViewTally {
            secret,
            tickets: Cache::builder()
                .max_capacity(max_tickets)
                .time_to_idle(Duration::from_secs(3600))
                .time_to_live(Duration::from_secs(24 * 3600))
                .build(),
        }
    }

    /// Records that media segment `number` of `playback_id`, `media_ms` long, was served to a
    /// player whose CMCD session id is `sid`; the receipt once the ticket's media is covered
    /// (on that response and every later one under the same ticket). A session id that is
    /// not a valid ticket for `playback_id` is counted as invalid and tallies nothing.
    pub async fn served(
        &self,
        sid: &str,
        playback_id: &str,
        number: u64,
        media_ms: u64,
        now: u64,
    ) -> Option<HeaderValue> {
        let ticket = match Ticket::verify(&self.secret, sid, now) {
            Ok(t) if t.playback_id == playback_id => t,
            Ok(_) | Err(_) => {
                metrics().view_tickets.with_label_values(&["invalid"]).inc();
                return None;
            }
        };
        let progress = self
            .tickets
            .get_with_by_ref(&ticket.nonce, async {
                Arc::new(Mutex::new(Progress {
                    first_served: now,
                    segments: Vec::new(),
                    covered_ms: 0,
                    receipt: None,
                }))
            })
            .await;
        let mut p = progress.lock().unwrap_or_else(|e| e.into_inner());
        if p.receipt.is_none() && !p.segments.contains(&number) && p.segments.len() < MAX_SEGMENTS {
            p.segments.push(number);
            p.covered_ms += media_ms;
            if p.covered_ms >= ticket.need_ms {
                let receipt = Receipt {
                    first_served: p.first_served,
                    ticket,
                };
                p.receipt = HeaderValue::from_str(&receipt.sign(&self.secret)).ok();
                metrics().view_tickets.with_label_values(&["receipt"]).inc();
            }
        }
        p.receipt.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> ViewSecret {
        ViewSecret::new(vec![7; 16]).unwrap()
    }

    fn ticket(nonce: &str, need_ms: u64) -> String {
        Ticket {
            nonce: nonce.into(),
            playback_id: "pb".into(),
            expires: 1_000,
            need_ms,
        }
        .sign(&secret())
        .unwrap()
    }

    #[tokio::test]
    async fn a_receipt_comes_once_distinct_segments_cover_the_need() {
        let tally = ViewTally::new(secret(), 10);
        let t = ticket("n1", 10_000);
        assert_eq!(tally.served(&t, "pb", 0, 4_000, 100).await, None);
        // The same number again (another rendition, the audio track, a retry) adds nothing.
        assert_eq!(tally.served(&t, "pb", 0, 4_000, 101).await, None);
        assert_eq!(tally.served(&t, "pb", 1, 4_000, 102).await, None);
        let receipt = tally.served(&t, "pb", 2, 4_000, 103).await.unwrap();
        let parsed = Receipt::verify(&secret(), receipt.to_str().unwrap(), 500).unwrap();
        assert_eq!(parsed.first_served, 100);
        assert_eq!(parsed.ticket.nonce, "n1");
        // Later segments under the same ticket repeat it.
        assert_eq!(tally.served(&t, "pb", 7, 4_000, 104).await, Some(receipt));
    }

    #[tokio::test]
    async fn forged_foreign_or_expired_tickets_tally_nothing() {
        let tally = ViewTally::new(secret(), 10);
        let forged = Ticket {
            nonce: "n2".into(),
            playback_id: "pb".into(),
            expires: 1_000,
            need_ms: 1,
        }
        .sign(&ViewSecret::new(vec![8; 16]).unwrap())
        .unwrap();
        assert_eq!(tally.served(&forged, "pb", 0, 4_000, 100).await, None);
        let t = ticket("n3", 1);
        assert_eq!(tally.served(&t, "other", 0, 4_000, 100).await, None);
        assert_eq!(tally.served(&t, "pb", 0, 4_000, 1_001).await, None);
        assert_eq!(
            tally
                .served("sid-of-some-player", "pb", 0, 4_000, 100)
                .await,
            None
        );
        tally.tickets.run_pending_tasks().await;
        assert_eq!(tally.tickets.entry_count(), 0);
    }
}
