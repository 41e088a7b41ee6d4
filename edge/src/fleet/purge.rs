//! Fleet-wide purges. The edge that takes `POST /purge` applies it at once, then numbers it
//! with the purge epoch (`INCR sunomi:purge:epoch`), appends it to a short log and publishes
//! it on `sunomi:purge`. Every edge applies published purges as they arrive and, on every
//! heartbeat, compares the epoch with the last one it applied: purges it missed (a dropped
//! subscription, Redis restarted) are replayed from the log, and if the log no longer reaches
//! back far enough, everything is purged. Applying a purge twice is harmless.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Purges kept in the log for edges that missed the message.
pub const LOG_LENGTH: isize = 1000;

/// What to purge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "scope", rename_all = "lowercase")]
pub enum PurgeScope {
    /// One URL path (a playlist or a segment).
    Url {
        /// The path, e.g. `/v/abc/720p/seg-3.m4s`.
        path: String,
    },
    /// Everything derived from one video.
    Video {
        /// The video id.
        id: String,
    },
    /// Everything.
    All,
}

/// A numbered purge, as published and logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurgeRecord {
    /// Its place in the fleet's purge sequence.
    pub epoch: u64,
    /// What it purges.
    #[serde(flatten)]
    pub scope: PurgeScope,
    /// When it was requested (Unix milliseconds), for the purge lag metric.
    pub at_ms: u64,
    /// The edge that took the request.
    pub node: String,
}

/// Now in Unix milliseconds.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// What an edge must do to catch up with the fleet's purge epoch.
#[derive(Debug, PartialEq, Eq)]
pub enum CatchUp {
    /// Nothing was missed.
    Nothing,
    /// Replay these records, oldest first.
    Replay(Vec<PurgeRecord>),
    /// The log does not reach back far enough (or Redis lost it): purge everything.
    All,
}

/// Decides how to catch up from `applied` (the epoch this edge has applied up to) to
/// `current` (the fleet's epoch) given the `log` (newest first, as stored).
pub fn catch_up(applied: u64, current: u64, log: &[PurgeRecord]) -> CatchUp {
    if current <= applied {
        return CatchUp::Nothing;
    }
    let mut missed: Vec<PurgeRecord> = log.iter().filter(|r| r.epoch > applied).cloned().collect();
    missed.sort_by_key(|r| r.epoch);
    let contiguous = missed.len() as u64 == current - applied
        && missed
            .iter()
            .zip(applied + 1..)
            .all(|(r, expected)| r.epoch == expected);
    if contiguous {
        CatchUp::Replay(missed)
    } else {
        CatchUp::All
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(epoch: u64) -> PurgeRecord {
        PurgeRecord {
            epoch,
            scope: PurgeScope::Video {
                id: format!("v{epoch}"),
            },
            at_ms: 0,
            node: "a".into(),
        }
    }

    #[test]
    fn missed_purges_are_replayed_in_order() {
        let log: Vec<_> = (1..=5).rev().map(record).collect();
        assert_eq!(catch_up(5, 5, &log), CatchUp::Nothing);
        assert_eq!(catch_up(7, 5, &log), CatchUp::Nothing);
        assert_eq!(
            catch_up(3, 5, &log),
            CatchUp::Replay(vec![record(4), record(5)])
        );
    }

    #[test]
    fn a_log_that_does_not_reach_back_purges_everything() {
        let log: Vec<_> = (4..=5).rev().map(record).collect();
        assert_eq!(catch_up(1, 5, &log), CatchUp::All);
        assert_eq!(catch_up(1, 5, &[]), CatchUp::All);
    }

    #[test]
    fn records_round_trip_as_json() {
        for scope in [
            PurgeScope::All,
            PurgeScope::Url {
                path: "/v/a/master.m3u8".into(),
            },
            PurgeScope::Video { id: "a".into() },
        ] {
            let r = PurgeRecord {
                epoch: 9,
                scope,
                at_ms: 1,
                node: "n".into(),
            };
            let text = serde_json::to_string(&r).unwrap();
            assert_eq!(serde_json::from_str::<PurgeRecord>(&text).unwrap(), r);
        }
    }
}
