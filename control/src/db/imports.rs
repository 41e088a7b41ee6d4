//! Which object stores' earlier-version records (JSON in storage) were imported, so the
//! import runs once per store.

use super::{Db, DbError};

/// Whether store `store`'s earlier-version records were imported.
pub async fn store_imported(db: &Db, store: &str) -> Result<bool, DbError> {
    Ok(
        sqlx::query("SELECT store FROM store_imports WHERE store = $1")
            .bind(store)
            .fetch_optional(db.pool())
            .await?
            .is_some(),
    )
}

/// Notes that store `store`'s earlier-version records were imported at `now`.
pub async fn mark_store_imported(db: &Db, store: &str, now: &str) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO store_imports (store, imported_at) VALUES ($1, $2) \
         ON CONFLICT (store) DO NOTHING",
    )
    .bind(store)
    .bind(now)
    .execute(db.pool())
    .await?;
    Ok(())
}
