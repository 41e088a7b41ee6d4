//! What a change of an asset implies outside the database, as a pure function of the asset
//! before and after: the outbox rows its transaction writes ([`Effect`]). No I/O.
//!
//! Order matters and is fixed here: what the edge serves changes first (projection), then
//! work is queued (a transcode), playback records are written, then the change is announced
//! (events, webhooks), so a receiver of
//! `video.asset.ready` finds the video playing and one of `video.asset.blocked` finds it
//! gone. The relay applies an asset's rows in this order and stops at the first that fails.

use serde::{Deserialize, Serialize};

use crate::domain::asset::{Asset, AssetStatus, Event, PlaybackPolicy, PROGRESS_EVENT};
use crate::domain::ids::{AssetId, PlaybackId, UploadId};
use crate::domain::webhooks;

/// One thing a change implies outside the database.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Effect {
    /// Fan an event out to every instance's event streams.
    Publish {
        /// The event.
        event: Event,
    },
    /// Queue one webhook message for one endpoint.
    Webhook {
        /// The job's payload (endpoint, message id, message).
        job: serde_json::Value,
        /// The asset the event is about.
        asset_id: AssetId,
    },
    /// Make what the edge reads of the asset match the database — the manifest's
    /// availability, or, for a deleted asset, no manifest and no media — then purge the
    /// video from every edge.
    Project {
        /// The asset.
        asset_id: AssetId,
    },
    /// Queue the transcode of the asset's source (it was just uploaded or retried).
    Transcode {
        /// The asset.
        asset_id: AssetId,
        /// The source version the job is for (jobs are idempotent per asset and version).
        source_version: Option<String>,
    },
    /// Remove what an upload that ended stored (its parts; an S3 multipart upload).
    UploadDiscard {
        /// The upload.
        upload_id: UploadId,
    },
    /// Write a playback id's record (`playback/{id}.json`), which edges resolve.
    PlaybackWrite {
        /// The playback id.
        playback_id: PlaybackId,
        /// The asset it plays.
        asset_id: AssetId,
        /// Who may play it.
        policy: PlaybackPolicy,
    },
    /// Make `keys/signing/{kid}.pub` match the database: written while the key exists,
    /// removed once it does not.
    SigningKey {
        /// The key id.
        kid: String,
    },
    /// Remove a playback id's record and purge the id from every edge (unless the asset
    /// lists it again by the time this is applied).
    PlaybackRevoke {
        /// The playback id.
        playback_id: PlaybackId,
        /// The asset it played.
        asset_id: AssetId,
    },
}

impl Effect {
    /// Its name (the `kind` column, for people reading the table).
    pub fn name(&self) -> &'static str {
        match self {
            Effect::Publish { .. } => "publish",
            Effect::Webhook { .. } => "webhook",
            Effect::Project { .. } => "project",
            Effect::Transcode { .. } => "transcode",
            Effect::UploadDiscard { .. } => "upload_discard",
            Effect::PlaybackWrite { .. } => "playback_write",
            Effect::PlaybackRevoke { .. } => "playback_revoke",
            Effect::SigningKey { .. } => "signing_key",
        }
    }
}

/// A webhook endpoint as messages address it: by its stable id (its URL and secret are
/// looked up when the message is delivered).
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    /// The endpoint's id.
    pub id: String,
}

/// The effects of `before` becoming `after` (`None`: created / deleted), with `events` the
/// events the change emitted, announced to `endpoints`.
pub fn of_change(
    before: Option<&Asset>,
    after: Option<&Asset>,
    events: &[Event],
    endpoints: &[Endpoint],
) -> Vec<Effect> {
    let mut out = Vec::new();
    let Some(asset_id) = after.or(before).map(|a| a.id.clone()) else {
        return out;
    };
    let projected = |a: Option<&Asset>| a.map(|a| (a.availability(), a.generated_captions()));
    let deleted = before.is_some() && after.is_none();
    if deleted || (before.is_some() && projected(before) != projected(after)) {
        out.push(Effect::Project {
            asset_id: asset_id.clone(),
        });
    }
    // A source to transcode: just uploaded, or retried by a person.
    if let Some(a) = after.filter(|a| a.status == AssetStatus::Uploaded) {
        if before.is_none_or(|b| b.status != AssetStatus::Uploaded) {
            out.push(Effect::Transcode {
                asset_id: asset_id.clone(),
                source_version: a.source.as_ref().map(|s| s.version.clone()),
            });
        }
    }
    let listed = |a: Option<&Asset>| a.map(|a| a.playback_ids.clone()).unwrap_or_default();
    let (was, now) = (listed(before), listed(after));
    for p in now.iter().filter(|p| !was.contains(p)) {
        out.push(Effect::PlaybackWrite {
            playback_id: p.id.clone(),
            asset_id: asset_id.clone(),
            policy: p.policy,
        });
    }
    for p in was.iter().filter(|p| !now.iter().any(|n| n.id == p.id)) {
        out.push(Effect::PlaybackRevoke {
            playback_id: p.id.clone(),
            asset_id: asset_id.clone(),
        });
    }
    for event in events {
        out.push(Effect::Publish {
            event: event.clone(),
        });
        // Progress ticks go to event streams only: a webhook per 10 % would flood receivers.
        if event.kind == PROGRESS_EVENT {
            continue;
        }
        for endpoint in endpoints {
            out.push(Effect::Webhook {
                asset_id: asset_id.clone(),
                job: serde_json::json!({
                    "endpoint_id": endpoint.id,
                    "msg_id": webhooks::message_id(event, &endpoint.id),
                    "message": webhooks::Message::of(event),
                }),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::asset::{Change, PlaybackIdInfo, PlaybackPolicy, Review, ReviewDecision};
    use crate::domain::ids::{AssetId, PlaybackId};

    fn ready() -> Asset {
        let mut a = Asset::new(AssetId::generate(), None, None, Default::default(), "t0");
        a.status = crate::domain::asset::AssetStatus::Ready;
        a
    }

    fn names(effects: &[Effect]) -> Vec<&'static str> {
        effects.iter().map(Effect::name).collect()
    }

    fn endpoints() -> Vec<Endpoint> {
        vec![Endpoint { id: "ep_a".into() }]
    }

    #[test]
    fn a_block_projects_first_then_announces() {
        let before = ready();
        let after = before
            .apply(
                Change::Reviewed(Review {
                    decision: ReviewDecision::Block,
                    flags: vec![],
                    reason: "r".into(),
                    by: "k".into(),
                    at: "t1".into(),
                }),
                "t1",
            )
            .unwrap()
            .unwrap();
        let events: Vec<Event> = after.events_after(before.event_seq).cloned().collect();
        let effects = of_change(Some(&before), Some(&after), &events, &endpoints());
        // The review's own event, then the status's.
        assert_eq!(
            names(&effects),
            ["project", "publish", "webhook", "publish", "webhook"]
        );
    }

    #[test]
    fn progress_is_published_without_webhooks_or_projection() {
        let mut before = ready();
        before.status = crate::domain::asset::AssetStatus::Transcoding;
        let after = before.apply(Change::Progress(40), "t1").unwrap().unwrap();
        let events: Vec<Event> = after.events_after(before.event_seq).cloned().collect();
        assert_eq!(
            names(&of_change(
                Some(&before),
                Some(&after),
                &events,
                &endpoints()
            )),
            ["publish"]
        );
    }

    #[test]
    fn playback_ids_added_and_removed_are_written_and_revoked() {
        let before = ready();
        let added = PlaybackIdInfo {
            id: PlaybackId::generate(),
            policy: PlaybackPolicy::Signed,
        };
        let mut after = before.clone();
        after.playback_ids.remove(0);
        after.playback_ids.push(added.clone());
        let effects = of_change(Some(&before), Some(&after), &[], &[]);
        assert_eq!(
            effects,
            vec![
                Effect::PlaybackWrite {
                    playback_id: added.id.clone(),
                    asset_id: before.id.clone(),
                    policy: PlaybackPolicy::Signed,
                },
                Effect::PlaybackRevoke {
                    playback_id: before.playback_ids[0].id.clone(),
                    asset_id: before.id.clone(),
                },
            ]
        );
    }

    #[test]
    fn a_new_asset_writes_its_playback_record_and_a_deleted_one_is_projected_away() {
        let a = ready();
        assert_eq!(
            names(&of_change(None, Some(&a), &[], &[])),
            ["playback_write"]
        );
        assert_eq!(
            names(&of_change(Some(&a), None, &[], &[])),
            ["project", "playback_revoke"]
        );
    }

    #[test]
    fn an_upload_queues_its_transcode_in_the_same_transaction() {
        let before = Asset::new(AssetId::generate(), None, None, Default::default(), "t0");
        let source = crate::domain::asset::SourceInfo {
            size: 10,
            version: "v1".into(),
        };
        let after = before
            .apply(Change::Uploaded(source), "t1")
            .unwrap()
            .unwrap();
        let events: Vec<Event> = after.events_after(before.event_seq).cloned().collect();
        let effects = of_change(Some(&before), Some(&after), &events, &[]);
        assert_eq!(
            effects[0],
            Effect::Transcode {
                asset_id: before.id.clone(),
                source_version: Some("v1".into()),
            }
        );
        // Nothing queued again by later changes of an uploaded asset.
        let noted = after
            .apply(
                Change::Note {
                    kind: "video.upload.asset_created".into(),
                    data: serde_json::json!({}),
                },
                "t2",
            )
            .unwrap()
            .unwrap();
        assert_eq!(
            names(&of_change(Some(&after), Some(&noted), &[], &[])),
            Vec::<&str>::new()
        );
    }
}
