//! The edge fleet as the control plane reaches it: purges, through the edges' purge channel
//! on Redis or, without Redis, each configured edge's admin listener.

use std::time::Duration;

use redis::aio::ConnectionManager;
use sunomi_origin::purge::{self, PurgeScope};

use crate::domain::ids::AssetId;

/// The revision a purge announces for an id that is gone for good (a deleted video, a
/// revoked playback id: ids are never reused).
pub const GONE: u64 = u64::MAX;

/// Where purges go.
pub struct Fleet {
    /// Redis, whose purge channel every edge follows (none embedded).
    pub redis: Option<ConnectionManager>,
    /// Without Redis: each edge's admin listener.
    pub edge_admin_urls: Vec<String>,
    /// The bearer token those listeners ask for.
    pub edge_admin_token: Option<String>,
    /// The client that calls them.
    pub http: reqwest::Client,
}

impl Fleet {
    /// Purges video `id` from every edge, logging a failure (for changes outside the
    /// outbox: captions).
    pub async fn purge(&self, id: &AssetId) {
        if let Err(e) = self.purge_id(id.as_str(), None).await {
            tracing::warn!(%id, error = %e, "fleet purge failed");
        }
    }

    /// Purges everything edges hold under id `id` (a video or a playback id): through the
    /// edges' purge channel on Redis, or, without Redis, by calling each configured edge
    /// admin listener (`edge_admin_urls`; an edge that does not answer at all is not running
    /// and holds nothing). `revision` is the record version the purge announces: edges then
    /// keep no copy projected from an older one (`u64::MAX`: gone for good). `Err` when the
    /// purge could not be announced.
    pub async fn purge_id(&self, id: &str, revision: Option<u64>) -> Result<(), String> {
        let Some(conn) = &self.redis else {
            for base in &self.edge_admin_urls {
                let mut url = format!("{}/purge?id={id}", base.trim_end_matches('/'));
                if let Some(r) = revision {
                    url.push_str(&format!("&revision={r}"));
                }
                let mut req = self.http.post(&url);
                if let Some(t) = &self.edge_admin_token {
                    req = req.bearer_auth(t);
                }
                match req.send().await {
                    Ok(r) if r.status().is_success() => tracing::info!(%id, edge = %base, "purged"),
                    Ok(r) => {
                        return Err(format!("edge {base} refused the purge: {}", r.status()));
                    }
                    Err(e) if e.is_connect() => {
                        tracing::warn!(%id, edge = %base, error = %e, "edge not running; nothing to purge")
                    }
                    Err(e) => return Err(format!("purging edge {base}: {e}")),
                }
            }
            return Ok(());
        };
        let mut conn = conn.clone();
        let scope = PurgeScope::Video {
            id: id.to_string(),
            revision,
        };
        match tokio::time::timeout(
            Duration::from_secs(5),
            purge::publish(&mut conn, &scope, "control"),
        )
        .await
        {
            Ok(Ok(epoch)) => {
                tracing::info!(%id, epoch, "purged from the fleet");
                Ok(())
            }
            Ok(Err(e)) => Err(format!("fleet purge: {e}")),
            Err(_) => Err("fleet purge timed out".into()),
        }
    }
}
