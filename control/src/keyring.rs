//! Signing keys, the use cases: make one (its private half returned once, never stored),
//! list, delete, and keep what edges read — `keys/signing/{kid}.pub` — a projection of the
//! database's `signing_keys` table, written by the outbox relay.
//!
//! A key is usable once [`create`] returns: its projection is applied before the answer.
//! Deleting one removes its `.pub` the same way; edges stop accepting its tokens when their
//! key cache entry (a minute) runs out.

use object_store::ObjectStoreExt;
use sunomi_origin::layout;

use std::sync::Arc;

use crate::app::{now_ms, now_rfc3339, AppError};
use crate::db::outbox;
use crate::db::signing_keys::{self, SigningKeyRecord};
use crate::db::{imports, Db, DbError};
use crate::domain::effects::Effect;
use crate::records::Records;
use crate::relay::Relay;
use crate::signing::{self, NewKey, SigningAlgorithm};

/// What the signing-key use cases need: the database (public halves), storage (the
/// projections edges read) and the relay (to wait until a projection is written).
pub struct SigningKeys {
    /// The state of record.
    pub db: Db,
    /// Object storage (`keys/signing/{kid}.pub`).
    pub records: Records,
    /// This process's outbox relay.
    pub relay: Arc<Relay>,
}

/// Keys that may exist at once (each is a file every edge may read).
pub const MAX_KEYS: i64 = 100;

/// Why a key cannot be made or removed.
#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    /// [`MAX_KEYS`] exist.
    #[error("at most {MAX_KEYS} signing keys; delete one first")]
    Full,
    /// No such key.
    #[error("no such signing key")]
    NotFound,
    /// The rest.
    #[error(transparent)]
    App(#[from] AppError),
}

impl From<DbError> for KeyringError {
    fn from(e: DbError) -> Self {
        KeyringError::App(e.into())
    }
}

/// A key id the edge would look up (what storage paths may hold).
pub fn valid_kid(kid: &str) -> bool {
    !kid.is_empty() && kid.len() <= 64 && kid.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Makes a key pair for `algorithm`: its public half recorded and projected, the pair
/// returned (the only time the private half exists outside the caller).
pub async fn create(
    keys: &SigningKeys,
    algorithm: SigningAlgorithm,
) -> Result<NewKey, KeyringError> {
    if signing_keys::count(&keys.db).await? >= MAX_KEYS {
        return Err(KeyringError::Full);
    }
    let k = signing::generate(algorithm).map_err(AppError::Store)?;
    let record = SigningKeyRecord {
        id: k.kid.clone(),
        algorithm: k.algorithm,
        public_key: k.public_pem.clone(),
        created_at: now_rfc3339(),
    };
    let mut tx = keys.db.pool().begin().await.map_err(DbError::from)?;
    if !signing_keys::insert(&mut tx, &record).await? {
        return Err(AppError::Conflict(format!("signing key {} exists", record.id)).into());
    }
    let row = outbox::push(
        &mut tx,
        None,
        &Effect::SigningKey { kid: k.kid.clone() },
        now_ms(),
    )
    .await?;
    tx.commit().await.map_err(DbError::from)?;
    keys.relay.settle_row(row).await?;
    Ok(k)
}

/// Every key (up to [`MAX_KEYS`]), oldest first.
pub async fn list(keys: &SigningKeys) -> Result<Vec<SigningKeyRecord>, KeyringError> {
    Ok(signing_keys::list(&keys.db, MAX_KEYS).await?)
}

/// Deletes key `kid` and its projection.
pub async fn delete(keys: &SigningKeys, kid: &str) -> Result<(), KeyringError> {
    if !valid_kid(kid) {
        return Err(KeyringError::NotFound);
    }
    let mut tx = keys.db.pool().begin().await.map_err(DbError::from)?;
    if !signing_keys::delete(&mut tx, kid).await? {
        return Err(KeyringError::NotFound);
    }
    let row = outbox::push(
        &mut tx,
        None,
        &Effect::SigningKey { kid: kid.into() },
        now_ms(),
    )
    .await?;
    tx.commit().await.map_err(DbError::from)?;
    keys.relay.settle_row(row).await?;
    Ok(())
}

/// Makes `keys/signing/{kid}.pub` match the database (an outbox effect): written from the
/// key's record while it exists, removed once it does not.
pub async fn project(keys: &SigningKeys, kid: &str) -> Result<(), String> {
    if !valid_kid(kid) {
        return Ok(());
    }
    let path = keys.records.store().path(&layout::signing_key(kid));
    let store = keys.records.store().object_store();
    match signing_keys::get(&keys.db, kid)
        .await
        .map_err(|e| e.to_string())?
    {
        Some(k) => store
            .put(&path, k.public_key.into_bytes().into())
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        None => match store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.to_string()),
        },
    }
}

/// The `store_imports` row saying store `store`'s signing keys were imported.
pub fn import_marker(store: &str) -> String {
    format!("signing-keys:{store}")
}

/// Records the public keys an earlier version kept only in storage (`keys/signing/*.pub`),
/// once per store; how many were new.
pub async fn import_if_new(keys: &SigningKeys, store: &str) -> Result<usize, AppError> {
    let marker = import_marker(store);
    if imports::store_imported(&keys.db, &marker).await? {
        return Ok(0);
    }
    let imported = import(keys).await?;
    imports::mark_store_imported(&keys.db, &marker, &now_rfc3339()).await?;
    Ok(imported)
}

/// Records every public key in storage the database does not have; how many were new.
pub async fn import(keys: &SigningKeys) -> Result<usize, AppError> {
    let mut imported = 0;
    for key in keys.records.list(layout::SIGNING_KEYS).await? {
        let Some(kid) = key
            .rsplit('/')
            .next()
            .and_then(|f| f.strip_suffix(".pub"))
            .filter(|k| valid_kid(k))
        else {
            continue;
        };
        let bytes = match keys
            .records
            .store()
            .object_store()
            .get(&keys.records.store().path(&key))
            .await
        {
            Ok(got) => got
                .bytes()
                .await
                .map_err(|e| AppError::Store(e.to_string()))?,
            Err(object_store::Error::NotFound { .. }) => continue,
            Err(e) => return Err(AppError::Store(e.to_string())),
        };
        let public_key = String::from_utf8_lossy(&bytes).into_owned();
        let Some(algorithm) = SigningAlgorithm::of_public_pem(&public_key) else {
            tracing::warn!(%kid, "unreadable public key not imported");
            continue;
        };
        let record = SigningKeyRecord {
            id: kid.to_string(),
            algorithm,
            public_key,
            created_at: now_rfc3339(),
        };
        let mut tx = keys.db.pool().begin().await.map_err(DbError::from)?;
        if signing_keys::insert(&mut tx, &record).await? {
            imported += 1;
        }
        tx.commit().await.map_err(DbError::from)?;
    }
    Ok(imported)
}
