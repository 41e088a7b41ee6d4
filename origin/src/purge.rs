//! Fleet-wide purges: the protocol edges and the control plane share. Whoever purges (an edge
//! taking `POST /purge`, control publishing or deleting a video) numbers the purge with the
//! purge epoch (`INCR sunomi:purge:epoch`), appends it to a short log and publishes it on
//! `sunomi:purge` ([`publish`]). Every edge applies published purges as they arrive and, on every
//! heartbeat, compares the epoch with the last one it applied: purges it missed (a dropped
//! subscription, Redis restarted) are replayed from the log, and if the log no longer reaches
//! back far enough, everything is purged. Applying a purge twice is harmless.

use std::time::{SystemTime, UNIX_EPOCH};

use redis::aio::ConnectionLike;
use redis::RedisResult;

use serde::{Deserialize, Serialize};

/// Pub/sub channel of purges.
pub const CHANNEL: &str = "sunomi:purge";
/// Counter of purges ever published (the purge epoch).
pub const EPOCH_KEY: &str = "sunomi:purge:epoch";
/// The most recent purges, newest first, for edges that missed a message.
pub const LOG_KEY: &str = "sunomi:purge:log";
/// Prefix of shared metadata hashes (`sunomi:meta:{id}`), which a purge deletes first.
pub const META_PREFIX: &str = "sunomi:meta:";

/// The shared metadata key of video `id`.
pub fn meta_key(id: &str) -> String {
    format!("{META_PREFIX}{id}")
}

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
    /// Everything derived from one video (or everything resolved through one playback id).
    Video {
        /// The video id (or playback id).
        id: String,
        /// The version of the control plane's record the purge announces: from now on an
        /// edge keeps no manifest or playback record of `id` projected from an older one (a
        /// fill that read storage before the purge cannot cache what it read after it).
        /// `u64::MAX`: the id is gone for good (deleted, revoked). None: a plain purge.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        revision: Option<u64>,
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

/// Publishes a purge fleet-wide on `conn`: deletes the shared metadata it covers (so no edge
/// refills from a stale shared copy), takes the next epoch, logs and publishes the record.
/// Returns the epoch.
pub async fn publish<C: ConnectionLike>(
    conn: &mut C,
    scope: &PurgeScope,
    node: &str,
) -> RedisResult<u64> {
    match scope {
        PurgeScope::Video { id, .. } => {
            redis::cmd("DEL")
                .arg(meta_key(id))
                .query_async::<()>(conn)
                .await?
        }
        PurgeScope::All => delete_all_shared_metadata(conn).await?,
        PurgeScope::Url { .. } => {}
    }
    let epoch: u64 = redis::cmd("INCR").arg(EPOCH_KEY).query_async(conn).await?;
    let record = PurgeRecord {
        epoch,
        scope: scope.clone(),
        at_ms: now_ms(),
        node: node.to_string(),
    };
    // A record of strings and numbers always serialises.
    let text = serde_json::to_string(&record).unwrap_or_default();
    redis::pipe()
        .atomic()
        .cmd("LPUSH")
        .arg(LOG_KEY)
        .arg(&text)
        .ignore()
        .cmd("LTRIM")
        .arg(LOG_KEY)
        .arg(0)
        .arg(LOG_LENGTH - 1)
        .ignore()
        .cmd("PUBLISH")
        .arg(CHANNEL)
        .arg(&text)
        .ignore()
        .query_async::<()>(conn)
        .await?;
    Ok(epoch)
}

async fn delete_all_shared_metadata<C: ConnectionLike>(conn: &mut C) -> RedisResult<()> {
    let mut cursor: u64 = 0;
    loop {
        let (next, found): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{META_PREFIX}*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(conn)
            .await?;
        if !found.is_empty() {
            redis::cmd("DEL")
                .arg(&found)
                .query_async::<()>(conn)
                .await?;
        }
        if next == 0 {
            return Ok(());
        }
        cursor = next;
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
                revision: None,
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
            PurgeScope::Video {
                id: "a".into(),
                revision: None,
            },
            PurgeScope::Video {
                id: "b".into(),
                revision: Some(7),
            },
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
