//! Assets as the API reads them, kept in memory on PostgreSQL: every asset write notifies
//! (`pg_notify('sunomi_assets', id)`, a trigger of migration 0006), each process listens and
//! drops what changed, so a read costs a round trip only once per change. Pages of the
//! listing are kept the same way, and every write of any asset drops them all (a write can
//! move, add or remove an asset on any page).
//!
//! Correctness, not only speed, decides what is cached:
//! - a load stores what it read only if no invalidation at all happened while it read (a
//!   global epoch), so a notification racing a load never leaves the older copy behind;
//! - while the listener is not connected (starting, or reconnecting after an error) nothing
//!   is served from memory, and everything is dropped when it connects, since notifications
//!   may have been missed;
//! - entries live at most [`TTL`] whatever happens.
//!
//! Writers never read through it: they read the row and name its version. SQLite has no
//! notifications, and several processes share its file, so it is not cached there.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;

use super::{assets, Db, DbError};
use crate::domain::asset::Asset;
use crate::domain::ids::AssetId;
use crate::metrics::metrics;

/// The channel asset writes are announced on (migration 0006's trigger).
pub const CHANNEL: &str = "sunomi_assets";
/// Longest an entry is kept, whatever the notifications say.
pub const TTL: Duration = Duration::from_secs(30);
/// Assets kept at most.
const CAPACITY: u64 = 100_000;
/// Assets kept at most across the cached pages of the listing.
const PAGE_CAPACITY: u64 = 20_000;

/// A page of the listing: its assets and whether more follow.
type Page = Arc<(Vec<Asset>, bool)>;

/// The cache of assets as the API reads them.
pub struct AssetCache {
    entries: Cache<AssetId, Arc<Asset>>,
    /// Pages of the listing by (limit, offset), weighed by their assets.
    pages: Cache<(u32, u64), Page>,
    /// Bumped by every invalidation: a load that saw it move does not store what it read.
    epoch: AtomicU64,
    /// Whether notifications are being received (only then is memory trusted).
    live: AtomicBool,
}

impl Default for AssetCache {
    fn default() -> Self {
        AssetCache {
            entries: Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_live(TTL)
                .build(),
            pages: Cache::builder()
                .max_capacity(PAGE_CAPACITY)
                .weigher(|_, page: &Page| u32::try_from(page.0.len()).unwrap_or(u32::MAX).max(1))
                .time_to_live(TTL)
                .build(),
            epoch: AtomicU64::new(0),
            live: AtomicBool::new(false),
        }
    }
}

impl AssetCache {
    /// Asset `id`: from memory while notifications flow, else from the database.
    pub async fn get(&self, db: &Db, id: &AssetId) -> Result<Option<Asset>, DbError> {
        let reads = &metrics().asset_reads;
        if !self.live.load(Ordering::Acquire) {
            reads.with_label_values(&["database"]).inc();
            return Ok(assets::get(db, id).await?.map(|s| s.asset));
        }
        if let Some(a) = self.entries.get(id).await {
            reads.with_label_values(&["memory"]).inc();
            return Ok(Some(Asset::clone(&a)));
        }
        reads.with_label_values(&["database"]).inc();
        let epoch = self.epoch.load(Ordering::Acquire);
        let loaded = assets::get(db, id).await?.map(|s| s.asset);
        if let Some(a) = &loaded {
            if self.live.load(Ordering::Acquire) && self.epoch.load(Ordering::Acquire) == epoch {
                self.entries.insert(id.clone(), Arc::new(a.clone())).await;
            }
        }
        Ok(loaded)
    }

    /// A page of the listing (`limit` assets from `offset`, newest first) and whether more
    /// follow: from memory while notifications flow, else from the database.
    pub async fn page(
        &self,
        db: &Db,
        limit: u32,
        offset: u64,
    ) -> Result<(Vec<Asset>, bool), DbError> {
        let reads = &metrics().asset_pages;
        let live = self.live.load(Ordering::Acquire);
        if live {
            if let Some(p) = self.pages.get(&(limit, offset)).await {
                reads.with_label_values(&["memory"]).inc();
                return Ok((p.0.clone(), p.1));
            }
        }
        reads.with_label_values(&["database"]).inc();
        let epoch = self.epoch.load(Ordering::Acquire);
        let loaded = assets::page(db, limit, offset).await?;
        if live && self.live.load(Ordering::Acquire) && self.epoch.load(Ordering::Acquire) == epoch
        {
            self.pages
                .insert((limit, offset), Arc::new(loaded.clone()))
                .await;
        }
        Ok(loaded)
    }

    /// Drops asset `id` (it changed), and every page of the listing.
    pub async fn invalidate(&self, id: &AssetId) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.pages.invalidate_all();
        self.entries.invalidate(id).await;
    }

    /// Drops everything and says whether memory may be trusted from now on.
    pub fn reset(&self, live: bool) {
        self.live.store(false, Ordering::Release);
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.entries.invalidate_all();
        self.pages.invalidate_all();
        self.live.store(live, Ordering::Release);
    }

    /// Listens to asset writes on the PostgreSQL database at `url` until the process ends,
    /// dropping each changed asset; reconnects after errors (trusting memory again only once
    /// listening).
    pub async fn listen(self: Arc<Self>, url: String) {
        loop {
            match sqlx::postgres::PgListener::connect(&url).await {
                Ok(mut listener) => match listener.listen(CHANNEL).await {
                    Ok(()) => {
                        self.reset(true);
                        loop {
                            match listener.try_recv().await {
                                Ok(Some(n)) => match AssetId::parse(n.payload()) {
                                    Ok(id) => self.invalidate(&id).await,
                                    Err(_) => self.reset(true),
                                },
                                // The connection was lost: notifications until a new one
                                // listens are gone. Start over.
                                Ok(None) => break,
                                Err(e) => {
                                    tracing::warn!(error = %e, "asset notifications failed");
                                    break;
                                }
                            }
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot listen to asset notifications"),
                },
                Err(e) => tracing::warn!(error = %e, "cannot connect for asset notifications"),
            }
            self.reset(false);
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}
