//! The outbox relay: applies what committed changes imply outside the database
//! ([`crate::domain::effects::Effect`]), oldest first, retrying each until it is done.
//!
//! Every control process (API or worker) runs one; rows are leased, so two relays never
//! apply a row at the same time, and a row whose relay died is leased again when its lease
//! runs out. Effects are idempotent and read the truth when they are applied: a projection
//! writes the asset's state *now* (never older than what the manifest holds: its `revision`),
//! a playback record is written only while the asset still lists the id and removed only
//! once it does not. So rows applied twice, or by two relays in a different order, end in
//! the state the database holds.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};

use crate::app::{now_ms, App, AppError};
use crate::db::outbox::{self, Leased};
use crate::db::{Db, DbError};
use crate::domain::effects::Effect;
use crate::domain::ids::random_token;
use crate::domain::ids::AssetId;
use crate::jobs::{Job, JobKind};
use crate::metrics::metrics;

/// How long a relay holds rows it leased before another may take them (a relay that died
/// holding rows delays them this long).
const LEASE_MS: i64 = 15_000;
/// Rows leased at once (applied within the lease even when one asset's rows each wait their
/// full timeout on an unavailable Redis or store: assets are applied side by side).
const BATCH: i64 = 64;
/// How often an idle relay looks for rows another process wrote.
const IDLE_POLL: Duration = Duration::from_millis(250);

/// How long an API mutation waits for its effects (projection, purge) before it answers
/// that the change is recorded but still propagating.
const SETTLE_WITHIN: Duration = Duration::from_secs(10);

/// One process's relay: its name (in leases), the signal that rows were written, and the
/// database whose outbox it applies (to wait for rows to be applied).
pub struct Relay {
    name: String,
    wake: Notify,
    db: Db,
}

impl Relay {
    /// A relay over `db`'s outbox.
    pub fn new(db: Db) -> Relay {
        Relay {
            name: format!("relay-{}-{}", std::process::id(), random_token(8)),
            wake: Notify::new(),
            db,
        }
    }

    /// Waits until outbox row `row` is applied, as [`Relay::settle`] does for an asset's rows.
    pub async fn settle_row(&self, row: i64) -> Result<(), AppError> {
        let deadline = tokio::time::Instant::now() + SETTLE_WITHIN;
        while outbox::is_pending(&self.db, row).await? {
            if tokio::time::Instant::now() >= deadline {
                return Err(AppError::Propagating(
                    "storage has not taken it yet (unavailable?)".into(),
                ));
            }
            self.nudge();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }

    /// Waits until the outbox rows of asset `id` up to `up_to` are applied (the edge fleet
    /// serves the new state); [`AppError::Propagating`] when that takes longer than
    /// [`SETTLE_WITHIN`] (they stay queued and are applied when they can be).
    pub async fn settle(&self, id: &AssetId, up_to: i64) -> Result<(), AppError> {
        let deadline = tokio::time::Instant::now() + SETTLE_WITHIN;
        loop {
            if outbox::pending(&self.db, id, up_to).await? == 0 {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(AppError::Propagating(
                    "the edge fleet has not confirmed it yet (storage or Redis unavailable?)"
                        .into(),
                ));
            }
            self.nudge();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Says rows were committed (the loop runs at once instead of at its next poll).
    pub fn nudge(&self) {
        self.wake.notify_one();
    }

    /// Its name in leases.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Delay before attempt `attempts + 1` of a failed row: 100 ms doubling, at most 10 s.
pub fn backoff_ms(attempts: i64) -> i64 {
    let exp = attempts.clamp(0, 7) as u32;
    (100i64 << exp).min(10_000)
}

/// Runs the relay until `stop` turns true.
pub async fn run(app: Arc<App>, mut stop: watch::Receiver<bool>) {
    loop {
        match outbox::backlog(&app.db, now_ms()).await {
            Ok((pending, oldest_ms)) => {
                metrics().outbox_pending.set(pending);
                metrics().outbox_oldest.set(oldest_ms / 1000);
            }
            Err(e) => tracing::warn!(error = %e, "outbox relay: database failed"),
        }
        match run_once(&app).await {
            Ok(n) if n > 0 => continue,
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "outbox relay: database failed"),
        }
        tokio::select! {
            _ = app.relay.wake.notified() => {}
            _ = tokio::time::sleep(IDLE_POLL) => {}
            _ = stop.changed() => return,
        }
    }
}

/// Leases one batch of due rows and applies them; returns how many it leased. Rows of one
/// asset are applied in id order, one after the other; different assets' rows at once.
pub async fn run_once(app: &App) -> Result<usize, DbError> {
    let name = app.relay.name().to_string();
    let rows = outbox::lease(&app.db, &name, now_ms(), LEASE_MS, BATCH).await?;
    let n = rows.len();
    // Group by asset, keeping each group's id order (rows about no asset stand alone).
    let mut groups: Vec<Vec<Leased>> = Vec::new();
    for row in rows {
        match groups
            .iter_mut()
            .find(|g| row.asset_id.is_some() && g[0].asset_id == row.asset_id)
        {
            Some(g) => g.push(row),
            None => groups.push(vec![row]),
        }
    }
    let applied = futures::future::join_all(
        groups
            .into_iter()
            .map(|group| apply_in_order(app, &name, group)),
    )
    .await;
    applied.into_iter().collect::<Result<Vec<()>, DbError>>()?;
    Ok(n)
}

/// Applies one asset's leased rows in order. After a failure its later rows are put back
/// unapplied, due with the failed one, so its effects keep their order (the projection
/// before the announcement).
async fn apply_in_order(app: &App, name: &str, group: Vec<Leased>) -> Result<(), DbError> {
    let mut held: Option<i64> = None;
    for Leased {
        id,
        asset_id: _,
        effect,
        attempts,
    } in group
    {
        if let Some(due) = held {
            outbox::retry(&app.db, id, name, due, "an earlier effect failed").await?;
            continue;
        }
        crate::failpoint::hit("relay.before_apply");
        match apply(app, &effect).await {
            Ok(()) => {
                outbox::done(&app.db, id, name).await?;
                metrics().outbox_applied.with_label_values(&["done"]).inc();
            }
            Err(e) => {
                metrics()
                    .outbox_applied
                    .with_label_values(&["failed"])
                    .inc();
                tracing::warn!(id, effect = effect.name(), attempts, error = %e, "outbox effect failed; retrying");
                let due = now_ms() + backoff_ms(attempts);
                outbox::retry(&app.db, id, name, due, &e).await?;
                held = Some(due);
            }
        }
    }
    Ok(())
}

/// Applies one effect.
async fn apply(app: &App, effect: &Effect) -> Result<(), String> {
    match effect {
        Effect::Publish { event } => {
            app.bus.publish(event).await;
            Ok(())
        }
        Effect::Webhook { job, asset_id } => {
            crate::deliveries::record(&app.webhooks, job, asset_id).await
        }
        Effect::Project { asset_id } => app.projector.project(asset_id).await,
        Effect::Transcode {
            asset_id,
            source_version,
        } => {
            let mut j = Job::new(JobKind::Transcode, Some(asset_id.clone()));
            j.source_version = source_version.clone();
            app.jobs.enqueue(&j).await.map_err(|e| e.to_string())
        }
        Effect::UploadDiscard { upload_id } => {
            match crate::db::uploads::get(&app.db, upload_id)
                .await
                .map_err(|e| e.to_string())?
            {
                Some((upload, _)) => crate::ingest::discard_bytes(&app.uploads, &upload)
                    .await
                    .map_err(|e| e.to_string()),
                None => Ok(()),
            }
        }
        Effect::PlaybackWrite {
            playback_id,
            asset_id,
            policy,
        } => {
            app.projector
                .project_playback(playback_id, asset_id, *policy)
                .await
        }
        Effect::PlaybackRevoke {
            playback_id,
            asset_id,
        } => app.projector.revoke_playback(playback_id, asset_id).await,
        Effect::SigningKey { kid } => crate::keyring::project(&app.signing_keys, kid).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_to_ten_seconds() {
        assert_eq!(backoff_ms(0), 100);
        assert_eq!(backoff_ms(1), 200);
        assert_eq!(backoff_ms(6), 6_400);
        assert_eq!(backoff_ms(7), 10_000);
        assert_eq!(backoff_ms(1_000), 10_000);
        assert_eq!(backoff_ms(-3), 100);
    }
}
