//! Webhook endpoints made through the API, and every message's delivery with its attempts.
//!
//! The deliveries table is the queue webhooks are delivered from ([`crate::deliveries`]): a
//! message is recorded once, with its body, when the relay applies the change that implies
//! it; dispatchers lease due rows, post them and record each attempt. A message therefore
//! survives any process and is always sent with the body it was recorded with.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::{Db, DbError};
use crate::domain::webhooks::{Attempt, Delivery, DeliveryState};

/// An endpoint made through the API, as stored (its secrets included).
#[derive(Debug, Clone)]
pub struct EndpointRecord {
    /// `we_…`.
    pub id: String,
    /// Where messages are posted.
    pub url: String,
    /// What it is for, as its maker described it.
    pub description: String,
    /// The `whsec_…` secret deliveries are signed with.
    pub secret: String,
    /// The secret before the last rotation, still signing until `previous_until_ms`.
    pub previous_secret: Option<String>,
    /// When the previous secret stops signing (Unix ms).
    pub previous_until_ms: i64,
    /// When it was made (RFC 3339).
    pub created_at: String,
}

fn endpoint_of(row: &AnyRow) -> Result<EndpointRecord, DbError> {
    Ok(EndpointRecord {
        id: row.try_get("id")?,
        url: row.try_get("url")?,
        description: row.try_get("description")?,
        secret: row.try_get("secret")?,
        previous_secret: row.try_get("previous_secret")?,
        previous_until_ms: row.try_get("previous_until_ms")?,
        created_at: row.try_get("created_at")?,
    })
}

const ENDPOINT_COLUMNS: &str =
    "id, url, description, secret, previous_secret, previous_until_ms, created_at";

/// Stores a new endpoint.
pub async fn insert_endpoint(db: &Db, e: &EndpointRecord) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO webhook_endpoints (id, url, description, secret, previous_secret, \
         previous_until_ms, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(e.id.as_str())
    .bind(e.url.as_str())
    .bind(e.description.as_str())
    .bind(e.secret.as_str())
    .bind(e.previous_secret.clone())
    .bind(e.previous_until_ms)
    .bind(e.created_at.as_str())
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Endpoint `id`.
pub async fn endpoint(db: &Db, id: &str) -> Result<Option<EndpointRecord>, DbError> {
    sqlx::query(&format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(db.pool())
    .await?
    .as_ref()
    .map(endpoint_of)
    .transpose()
}

/// Every endpoint made through the API, oldest first (at most `limit`).
pub async fn endpoints(db: &Db, limit: i64) -> Result<Vec<EndpointRecord>, DbError> {
    sqlx::query(&format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints ORDER BY created_at, id LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(endpoint_of)
    .collect()
}

/// The ids of every endpoint made through the API.
pub async fn endpoint_ids(db: &Db) -> Result<Vec<String>, DbError> {
    sqlx::query("SELECT id FROM webhook_endpoints ORDER BY id")
        .fetch_all(db.pool())
        .await?
        .iter()
        .map(|r| Ok(r.try_get("id")?))
        .collect()
}

/// How many endpoints were made through the API.
pub async fn endpoint_count(db: &Db) -> Result<i64, DbError> {
    Ok(sqlx::query("SELECT COUNT(*) AS n FROM webhook_endpoints")
        .fetch_one(db.pool())
        .await?
        .try_get("n")?)
}

/// Replaces endpoint `id`'s secret with `secret`, the old one signing too until
/// `previous_until_ms`; `false` when there is no such endpoint.
pub async fn rotate_secret(
    db: &Db,
    id: &str,
    secret: &str,
    previous_until_ms: i64,
) -> Result<bool, DbError> {
    let done = sqlx::query(
        "UPDATE webhook_endpoints SET previous_secret = secret, previous_until_ms = $1, \
         secret = $2 WHERE id = $3",
    )
    .bind(previous_until_ms)
    .bind(secret)
    .bind(id)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Removes endpoint `id`; `false` when there is no such endpoint. Its pending messages fail
/// when next due (their endpoint is gone).
pub async fn delete_endpoint(db: &Db, id: &str) -> Result<bool, DbError> {
    let done = sqlx::query("DELETE FROM webhook_endpoints WHERE id = $1")
        .bind(id)
        .execute(db.pool())
        .await?;
    Ok(done.rows_affected() == 1)
}

/// A message to record for delivery.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    /// Its `webhook-id`.
    pub msg_id: String,
    /// The endpoint it is addressed to.
    pub endpoint_id: String,
    /// The asset it is about.
    pub asset_id: String,
    /// Its event type.
    pub event_type: String,
    /// Its body, exactly as every attempt sends it.
    pub body: String,
}

/// Records message `d`, due at once; `false` when it was already recorded (the relay applied
/// its effect twice), which keeps the first body.
pub async fn enqueue(db: &Db, d: &NewDelivery, now_ms: i64) -> Result<bool, DbError> {
    let done = sqlx::query(
        "INSERT INTO webhook_deliveries (msg_id, endpoint_id, asset_id, event_type, body, \
         state, due_ms, created_ms) VALUES ($1, $2, $3, $4, $5, 'pending', $6, $6) \
         ON CONFLICT (msg_id) DO NOTHING",
    )
    .bind(d.msg_id.as_str())
    .bind(d.endpoint_id.as_str())
    .bind(d.asset_id.as_str())
    .bind(d.event_type.as_str())
    .bind(d.body.as_str())
    .bind(now_ms)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A leased message, ready to post.
#[derive(Debug, Clone)]
pub struct Due {
    /// Its `webhook-id`.
    pub msg_id: String,
    /// The endpoint it is addressed to.
    pub endpoint_id: String,
    /// Its body.
    pub body: String,
    /// Attempts before this one.
    pub attempts: i64,
}

/// Leases up to `limit` due pending messages for `by` until `now_ms + lease_ms`, the
/// longest-waiting first.
pub async fn lease(
    db: &Db,
    by: &str,
    now_ms: i64,
    lease_ms: i64,
    limit: i64,
) -> Result<Vec<Due>, DbError> {
    let until = now_ms + lease_ms;
    sqlx::query(
        // The conditions stand in the outer WHERE too (see `outbox::lease`): a row another
        // dispatcher took meanwhile is not taken again.
        "UPDATE webhook_deliveries SET leased_by = $1, lease_until_ms = $2 WHERE seq IN \
         (SELECT seq FROM webhook_deliveries WHERE state = 'pending' AND due_ms <= $3 \
          AND lease_until_ms <= $3 ORDER BY due_ms, seq LIMIT $4) \
         AND state = 'pending' AND due_ms <= $3 AND lease_until_ms <= $3",
    )
    .bind(by)
    .bind(until)
    .bind(now_ms)
    .bind(limit)
    .execute(db.pool())
    .await?;
    sqlx::query(
        "SELECT msg_id, endpoint_id, body, attempts FROM webhook_deliveries \
         WHERE leased_by = $1 AND lease_until_ms = $2 AND state = 'pending' ORDER BY seq",
    )
    .bind(by)
    .bind(until)
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(|r| {
        Ok(Due {
            msg_id: r.try_get("msg_id")?,
            endpoint_id: r.try_get("endpoint_id")?,
            body: r.try_get("body")?,
            attempts: r.try_get("attempts")?,
        })
    })
    .collect()
}

/// What follows an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// It was delivered.
    Delivered,
    /// Try again at this time (Unix ms).
    RetryAt(i64),
    /// Give up: every attempt failed, or the endpoint is gone.
    Failed,
}

/// Records an attempt of leased message `msg_id` and what follows it, in one transaction;
/// `false` when `by` no longer holds the message (its lease ran out and another took it),
/// in which case nothing is written.
pub async fn record_attempt(
    db: &Db,
    msg_id: &str,
    by: &str,
    attempt: &Attempt,
    next: Next,
) -> Result<bool, DbError> {
    let mut tx = db.pool().begin().await?;
    let (state, due) = match next {
        Next::Delivered => (DeliveryState::Delivered, 0),
        Next::RetryAt(at) => (DeliveryState::Pending, at),
        Next::Failed => (DeliveryState::Failed, 0),
    };
    let held = sqlx::query(
        "UPDATE webhook_deliveries SET state = $1, due_ms = $2, attempts = attempts + 1, \
         leased_by = NULL, lease_until_ms = 0 WHERE msg_id = $3 AND leased_by = $4",
    )
    .bind(state.as_str())
    .bind(due)
    .bind(msg_id)
    .bind(by)
    .execute(&mut *tx)
    .await?;
    if held.rows_affected() != 1 {
        return Ok(false);
    }
    sqlx::query(
        "INSERT INTO webhook_attempts (msg_id, n, at, status, error, duration_ms) \
         SELECT $1, COALESCE(MAX(n), 0) + 1, $2, $3, $4, $5 FROM webhook_attempts \
         WHERE msg_id = $1",
    )
    .bind(msg_id)
    .bind(attempt.at.as_str())
    .bind(attempt.status.map(i64::from))
    .bind(attempt.error.clone())
    .bind(attempt.duration_ms as i64)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// Makes failed message `msg_id` pending again, due at once, with a fresh count of
/// attempts (its earlier attempts stay listed); `false` unless it had failed.
pub async fn redeliver(db: &Db, msg_id: &str, now_ms: i64) -> Result<bool, DbError> {
    let done = sqlx::query(
        "UPDATE webhook_deliveries SET state = 'pending', attempts = 0, due_ms = $1 \
         WHERE msg_id = $2 AND state = 'failed'",
    )
    .bind(now_ms)
    .bind(msg_id)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}

const DELIVERY_COLUMNS: &str = "seq, msg_id, endpoint_id, asset_id, event_type, state, \
     attempts, due_ms, created_ms";

fn delivery_of(row: &AnyRow) -> Result<(i64, Delivery), DbError> {
    let state: String = row.try_get("state")?;
    let state = DeliveryState::parse(&state)
        .ok_or_else(|| DbError::Corrupt(format!("webhook delivery state {state:?}")))?;
    let due_ms: i64 = row.try_get("due_ms")?;
    Ok((
        row.try_get("seq")?,
        Delivery {
            msg_id: row.try_get("msg_id")?,
            endpoint_id: row.try_get("endpoint_id")?,
            event_type: row.try_get("event_type")?,
            asset_id: row.try_get("asset_id")?,
            state,
            next_attempt_at: (state == DeliveryState::Pending)
                .then(|| crate::app::rfc3339_of_ms(due_ms)),
            attempts: Vec::new(),
        },
    ))
}

/// Message `msg_id` with every attempt.
pub async fn get(db: &Db, msg_id: &str) -> Result<Option<Delivery>, DbError> {
    let Some(row) = sqlx::query(&format!(
        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE msg_id = $1"
    ))
    .bind(msg_id)
    .fetch_optional(db.pool())
    .await?
    else {
        return Ok(None);
    };
    let (_, mut d) = delivery_of(&row)?;
    d.attempts = sqlx::query(
        "SELECT at, status, error, duration_ms FROM webhook_attempts WHERE msg_id = $1 \
         ORDER BY n",
    )
    .bind(msg_id)
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(|r| {
        let status: Option<i64> = r.try_get("status")?;
        let duration: i64 = r.try_get("duration_ms")?;
        Ok(Attempt {
            at: r.try_get("at")?,
            status: status.and_then(|s| u16::try_from(s).ok()),
            error: r.try_get("error")?,
            duration_ms: duration.max(0) as u64,
        })
    })
    .collect::<Result<_, DbError>>()?;
    Ok(Some(d))
}

/// Which deliveries a listing shows.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only those in this state.
    pub state: Option<DeliveryState>,
    /// Only those addressed to this endpoint.
    pub endpoint_id: Option<String>,
    /// Only those about this asset.
    pub asset_id: Option<String>,
}

/// Up to `limit` deliveries matching `filter`, newest first, older than the one at `before`
/// (a `seq`, from a previous page) when given; with each one's `seq`, the page cursor.
pub async fn page(
    db: &Db,
    filter: &Filter,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<(i64, Delivery)>, DbError> {
    sqlx::query(&format!(
        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE seq < $1 \
         AND ($2 = '' OR state = $2) AND ($3 = '' OR endpoint_id = $3) \
         AND ($4 = '' OR asset_id = $4) ORDER BY seq DESC LIMIT $5"
    ))
    .bind(before.unwrap_or(i64::MAX))
    .bind(filter.state.map_or("", |s| s.as_str()))
    .bind(filter.endpoint_id.clone().unwrap_or_default())
    .bind(filter.asset_id.clone().unwrap_or_default())
    .bind(limit)
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(delivery_of)
    .collect()
}

/// Removes delivered and failed messages (with their attempts) recorded before
/// `older_than_ms`; how many went.
pub async fn prune(db: &Db, older_than_ms: i64) -> Result<u64, DbError> {
    let mut tx = db.pool().begin().await?;
    sqlx::query(
        "DELETE FROM webhook_attempts WHERE msg_id IN (SELECT msg_id FROM webhook_deliveries \
         WHERE state <> 'pending' AND created_ms < $1)",
    )
    .bind(older_than_ms)
    .execute(&mut *tx)
    .await?;
    let done =
        sqlx::query("DELETE FROM webhook_deliveries WHERE state <> 'pending' AND created_ms < $1")
            .bind(older_than_ms)
            .execute(&mut *tx)
            .await?;
    tx.commit().await?;
    Ok(done.rows_affected())
}

/// Pending messages, and the oldest one's wait in milliseconds at `now_ms`.
pub async fn backlog(db: &Db, now_ms: i64) -> Result<(i64, i64), DbError> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n, MIN(created_ms) AS oldest FROM webhook_deliveries \
         WHERE state = 'pending'",
    )
    .fetch_one(db.pool())
    .await?;
    let n: i64 = row.try_get("n")?;
    let oldest: Option<i64> = row.try_get("oldest")?;
    Ok((n, oldest.map_or(0, |o| (now_ms - o).max(0))))
}
