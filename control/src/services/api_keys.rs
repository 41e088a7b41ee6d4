//! API keys as requests present them: checked against the database through
//! [`KeyChecker`] (a cache, and budgets of misses per client address).

use std::net::IpAddr;

use crate::db::{keys, Db};
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
