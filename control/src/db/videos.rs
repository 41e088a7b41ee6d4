//! Videos in the database: one row per asset (owner, title, description, visibility),
//! written in the asset's transactions; the listing joins the asset for its status.

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::{assets, Db, DbError};
use crate::domain::asset::Asset;
use crate::domain::videos::{Order, Video, Visibility};
use crate::domain::warnings::Flags;

pub(crate) const COLUMNS: &str = "v.asset_id, v.owner_id, v.title, v.description, v.visibility, \
     v.created_at, v.flags, v.warning_summary, v.views, COALESCE(u.display_name, '') AS owner_name, a.doc, a.version";
pub(crate) const FROM: &str =
    "videos v JOIN assets a ON a.id = v.asset_id LEFT JOIN users u ON u.id = v.owner_id";

/// A video with its asset and its owner's display name.
#[derive(Debug, Clone)]
pub struct Listed {
    /// The video.
    pub video: Video,
    /// Its asset (media state).
    pub asset: Asset,
    /// The owner's display name (empty when the account is gone).
    pub owner_name: String,
    /// Views counted (`db::views`).
    pub views: i64,
}

impl Listed {
    /// The content flags viewers are warned about: its uploader's and moderation's.
    pub fn warnings(&self) -> Flags {
        self.video.flags.union(self.asset.moderation.warnings())
    }
}

/// The condition a video meets to be listed (home, channels, feeds, search) for a viewer who
/// hides videos flagged `hidden`: public, ready, and none of those flags set by its uploader
/// or moderation (`assets.flags` mirrors the latter, written with the asset).
pub(crate) fn listable(hidden: Flags) -> String {
    let seen = "v.visibility = 'public' AND a.status = 'ready'";
    if hidden.is_empty() {
        // `assets.flags` comes after the asset's document in its row: not read unless needed.
        return seen.to_string();
    }
    format!("{seen} AND ((v.flags | a.flags) & {}) = 0", hidden.bits())
}

pub(crate) fn listed_of(row: &AnyRow) -> Result<Listed, DbError> {
    Ok(Listed {
        video: video_of(row)?,
        asset: assets::stored_of(row)?.asset,
        owner_name: row.try_get("owner_name")?,
        views: row.try_get("views")?,
    })
}

fn video_of(row: &AnyRow) -> Result<Video, DbError> {
    let visibility: String = row.try_get("visibility")?;
    Ok(Video {
        asset_id: row.try_get("asset_id")?,
        owner_id: row.try_get("owner_id")?,
        title: row.try_get("title")?,
        description: row.try_get("description")?,
        visibility: Visibility::parse(&visibility)
            .ok_or_else(|| DbError::Corrupt(format!("visibility {visibility:?}")))?,
        created_at: row.try_get("created_at")?,
        flags: Flags::from_bits(row.try_get("flags")?),
        warning_summary: row.try_get("warning_summary")?,
    })
}

/// Stores a new video (in its asset's transaction).
pub async fn insert(tx: &mut Transaction<'static, Any>, v: &Video) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO videos (asset_id, owner_id, title, description, visibility, created_at, \
         flags, warning_summary) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(v.asset_id.as_str())
    .bind(v.owner_id.as_str())
    .bind(v.title.as_str())
    .bind(v.description.as_str())
    .bind(v.visibility.as_str())
    .bind(v.created_at.as_str())
    .bind(v.flags.bits())
    .bind(v.warning_summary.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Video `asset_id` with its asset and owner (`None` when the video or asset is gone).
pub async fn get(db: &Db, asset_id: &str) -> Result<Option<Listed>, DbError> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM {FROM} WHERE v.asset_id = $1"
    ))
    .bind(asset_id)
    .fetch_optional(db.pool())
    .await?;
    row.as_ref().map(listed_of).transpose()
}

/// Changes video `asset_id`'s title, description and visibility; `false` when it is gone.
pub async fn update(db: &Db, v: &Video) -> Result<bool, DbError> {
    let done = sqlx::query(
        "UPDATE videos SET title = $1, description = $2, visibility = $3, flags = $5, \
         warning_summary = $6 WHERE asset_id = $4",
    )
    .bind(v.title.as_str())
    .bind(v.description.as_str())
    .bind(v.visibility.as_str())
    .bind(v.asset_id.as_str())
    .bind(v.flags.bits())
    .bind(v.warning_summary.as_str())
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Removes video `asset_id` (in its asset's deletion).
pub async fn delete(tx: &mut Transaction<'static, Any>, asset_id: &str) -> Result<(), DbError> {
    sqlx::query("DELETE FROM videos WHERE asset_id = $1")
        .bind(asset_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Which videos a page lists. The public listings leave out videos with a flag their
/// viewer hides (see [`listable`]).
pub enum Listing<'a> {
    /// Public videos that are ready (the home page), in an order.
    Public(Flags, Order),
    /// Every video of one owner, whatever its state (their studio).
    Owner(&'a str),
    /// One channel's public, ready videos (its page).
    Channel(&'a str, Flags),
    /// Public, ready videos of the channels an account subscribes to (its feed).
    Subscriptions(&'a str, Flags),
}

/// A page of videos, newest first (or as a public listing's order says), with their assets,
/// and whether more follow.
pub async fn page(
    db: &Db,
    listing: Listing<'_>,
    limit: u32,
    offset: u64,
) -> Result<(Vec<Listed>, bool), DbError> {
    let (filter, bind) = match listing {
        Listing::Public(hidden, _) => (listable(hidden), None),
        Listing::Owner(id) => ("v.owner_id = $3".to_string(), Some(id)),
        Listing::Channel(id, hidden) => (
            format!("{} AND v.owner_id = $3", listable(hidden)),
            Some(id),
        ),
        Listing::Subscriptions(id, hidden) => (
            format!(
                "{} AND v.owner_id IN \
                 (SELECT channel_id FROM subscriptions WHERE subscriber_id = $3)",
                listable(hidden)
            ),
            Some(id),
        ),
    };
    let order = match listing {
        Listing::Public(_, Order::Popular) => "v.views DESC, v.created_at DESC, v.asset_id DESC",
        _ => "v.created_at DESC, v.asset_id DESC",
    };
    let sql =
        format!("SELECT {COLUMNS} FROM {FROM} WHERE {filter} ORDER BY {order} LIMIT $1 OFFSET $2");
    let mut q = sqlx::query(&sql)
        .bind(i64::from(limit) + 1)
        .bind(i64::try_from(offset).unwrap_or(i64::MAX));
    if let Some(id) = bind {
        q = q.bind(id);
    }
    let rows = q.fetch_all(db.pool()).await?;
    let more = rows.len() > limit as usize;
    let page = rows
        .iter()
        .take(limit as usize)
        .map(listed_of)
        .collect::<Result<Vec<_>, DbError>>()?;
    Ok((page, more))
}
