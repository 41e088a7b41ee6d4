//! API keys as requests present them: checked against the database through
//! [`KeyChecker`] (a cache, and budgets of misses per client address).

use std::net::IpAddr;

use crate::apikeys::KeyRecord;
use crate::app::now_rfc3339;
use crate::db::{keys, Db, DbError};
use crate::keycheck::{Check, KeyChecker};

/// API key checks.
pub struct ApiKeys {
    /// The state of record (hashes only).
    pub db: Db,
    /// The cache and per-address miss budgets.
    pub checker: KeyChecker,
}

impl ApiKeys {
    /// Checks an API key presented from `client` (see [`KeyChecker`]: unknown ids are
    /// charged to the caller's address, never to everyone).
    pub async fn authenticate(&self, key: &str, client: Option<IpAddr>) -> Check {
        self.checker
            .check(key, client, |id| async move {
                keys::get(&self.db, &id).await.map_err(|e| e.to_string())
            })
            .await
    }

    /// Every key (revoked ones too), oldest first.
    pub async fn list(&self) -> Result<Vec<KeyRecord>, DbError> {
        keys::list(&self.db).await
    }

    /// A new key named `name`: the key itself (shown only now) and its record.
    pub async fn create(&self, name: &str) -> Result<(String, KeyRecord), DbError> {
        let (key, record) = crate::apikeys::new_key(name, &now_rfc3339());
        keys::insert(&self.db, &record).await?;
        Ok((key, record))
    }

    /// Revokes key `id` (at once in this process; other processes' caches within their
    /// lifetime); `false` when there is no such live key.
    pub async fn revoke(&self, id: &str) -> Result<bool, DbError> {
        let done = keys::revoke(&self.db, id, &now_rfc3339()).await?;
        self.checker.forget(id);
        Ok(done)
    }

    /// Whether key `id` still works (a database that does not answer counts as yes: streams
    /// are not cut for an outage); a key that does not is dropped from the cache.
    pub async fn still_works(&self, id: &str) -> bool {
        let works = match keys::get(&self.db, id).await {
            Ok(Some(k)) => k.revoked_at.is_none(),
            Ok(None) => false,
            Err(_) => true,
        };
        if !works {
            self.checker.forget(id);
        }
        works
    }
}
