//! The control plane's database: the state of record for everything that is not media.
//!
//! One schema on two engines: **SQLite** (the embedded default, a file beside the process)
//! and **PostgreSQL** (deployments: several API processes and workers on one database).
//! Queries go through sqlx's `Any` driver, chosen at run time by the URL, so there is one
//! query layer: the SQL is written once in the dialect both engines share (`$1` parameters,
//! `RETURNING`, `ON CONFLICT`), and only the migrations differ (`migrations/sqlite`,
//! `migrations/postgres`, embedded in the binary and applied at start or by
//! `sunomi-control migrate`). Why `Any` and not an ORM or a crate per backend: the queries
//! are few and plain, values cross as text and integers (JSON documents as text), and one
//! code path means every test of the control plane exercises the same code on both engines.
//!
//! - [`assets`]: assets, their events; [`cache`]: assets in memory on PostgreSQL, dropped
//!   when a write anywhere announces them.
//! - [`keys`]: API keys (hashes only).
//! - [`imports`]: stores whose earlier-version records were imported.
//! - [`uploads`]: uploads in progress (their bytes are in object storage).
//! - [`webhooks`]: webhook endpoints made through the API, messages and their attempts.
//! - [`signing_keys`]: signing keys' public halves (storage's `.pub` files are projected).
//! - [`outbox`]: what committed changes imply outside the database, applied by
//!   [`crate::relay`].

pub mod assets;
pub mod cache;
pub mod imports;
pub mod intake;
pub mod keys;
pub mod notifications;
pub mod outbox;
pub mod profiles;
pub mod reports;
pub mod search;
pub mod signing_keys;
pub mod social;
pub mod sso;
pub mod transcripts;
pub mod uploads;
pub mod users;
pub mod videos;
pub mod views;
pub mod webhooks;

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor};

/// The database URL when none is given: a SQLite file in the working directory.
pub const DEFAULT_URL: &str = "sqlite://sunomi-control.db";

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// Which engine a database runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite (embedded).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// Why a database operation failed.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The URL names no supported database.
    #[error("database URL {0:?}: expected sqlite://PATH or postgres://…")]
    Url(String),
    /// The database failed or refused the statement.
    #[error("database: {0}")]
    Sql(#[from] sqlx::Error),
    /// A migration failed.
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored row does not hold what its schema says.
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

/// A pool of connections to the control plane's database.
#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("backend", &self.backend)
            .finish()
    }
}

/// The backend a URL names, and the URL as sqlx should get it (a SQLite file is created
/// when missing).
pub fn parse_url(url: &str) -> Result<(Backend, String), DbError> {
    if let Some(rest) = url.strip_prefix("sqlite:") {
        if rest.trim_start_matches('/').is_empty() {
            return Err(DbError::Url(url.to_string()));
        }
        let url = if url.contains('?') {
            url.to_string()
        } else {
            format!("{url}?mode=rwc")
        };
        return Ok((Backend::Sqlite, url));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok((Backend::Postgres, url.to_string()));
    }
    Err(DbError::Url(url.to_string()))
}

impl Db {
    /// Connects to the database at `url` (`sqlite://PATH` or `postgres://…`). Does not
    /// migrate: call [`Db::migrate`].
    pub async fn connect(url: &str) -> Result<Db, DbError> {
        sqlx::any::install_default_drivers();
        let (backend, url) = parse_url(url)?;
        let options = AnyConnectOptions::from_str(&url)?;
        let pool = match backend {
            Backend::Sqlite => {
                AnyPoolOptions::new()
                    .max_connections(8)
                    .acquire_timeout(Duration::from_secs(30))
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            // WAL: readers never wait for the writer; a writer waits up to
                            // 10 s for another (another process on the same file).
                            for pragma in [
                                "PRAGMA journal_mode = WAL",
                                "PRAGMA busy_timeout = 10000",
                                "PRAGMA synchronous = NORMAL",
                                "PRAGMA foreign_keys = ON",
                                // Reads from a memory map (no read call per page) and a
                                // 16 MiB page cache per connection: searches and lists
                                // touch many small pages.
                                "PRAGMA mmap_size = 268435456",
                                "PRAGMA cache_size = -16384",
                            ] {
                                (&mut *conn).execute(pragma).await?;
                            }
                            Ok(())
                        })
                    })
                    .connect_with(options)
                    .await?
            }
            Backend::Postgres => {
                AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect_with(options)
                    .await?
            }
        };
        Ok(Db { pool, backend })
    }

    /// Connects and applies every migration not yet applied.
    pub async fn open(url: &str) -> Result<Db, DbError> {
        let db = Db::connect(url).await?;
        db.migrate().await?;
        Ok(db)
    }

    /// Applies the migrations of its backend that are not applied yet (several processes
    /// may race here: PostgreSQL serialises them with an advisory lock, SQLite with its
    /// write lock).
    pub async fn migrate(&self) -> Result<(), DbError> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&self.pool).await?;
        Ok(())
    }

    /// The pool.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Which engine it is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), DbError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_their_backend() {
        assert_eq!(
            parse_url("sqlite://x.db").unwrap(),
            (Backend::Sqlite, "sqlite://x.db?mode=rwc".into())
        );
        assert_eq!(
            parse_url("sqlite:///abs/x.db?mode=ro").unwrap(),
            (Backend::Sqlite, "sqlite:///abs/x.db?mode=ro".into())
        );
        assert_eq!(parse_url("postgres://u@h/db").unwrap().0, Backend::Postgres);
        assert_eq!(
            parse_url("postgresql://u@h/db").unwrap().0,
            Backend::Postgres
        );
        for bad in ["", "mysql://x", "sqlite://", "x.db"] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn a_fresh_sqlite_file_is_created_and_migrated_twice_without_harm() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/c.db", dir.path().display());
        let db = Db::open(&url).await.unwrap();
        db.migrate().await.unwrap();
        db.ping().await.unwrap();
        assert!(dir.path().join("c.db").exists());
    }
}
