//! The composition root: [`App::open`] opens the adapters the configuration names (the
//! database, object storage, the queue, the event bus, Redis for purges) and builds the
//! services over them ([`crate::services`], [`crate::ingest::Uploads`],
//! [`crate::keyring::SigningKeys`], [`crate::deliveries::Webhooks`]). Entry points — the
//! API router, workers, the relay, the CLI — take the services they use from here; services
//! never see `App`. Also the error every use case answers with ([`AppError`]) and the
//! clock helpers.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use sunomi_origin::Store;

use crate::config::Config;
use crate::db::{Db, DbError};
use crate::deliveries::Webhooks;
use crate::domain::asset::TransitionError;
use crate::events::{EventBus, MemoryBus, RedisBus};
use crate::ingest::Uploads;
use crate::keycheck::KeyChecker;
use crate::keyring::SigningKeys;
use crate::queue::memory::MemoryQueue;
use crate::queue::redis::RedisQueue;
use crate::queue::{Queue, QueueError};
use crate::records::{RecordError, Records, UpdateError};
use crate::relay::Relay;
use crate::services::account_data::AccountData;
use crate::services::accounts::Accounts;
use crate::services::admin::Admin;
use crate::services::api_keys::ApiKeys;
use crate::services::assets::Assets;
use crate::services::captions::Captions;
use crate::services::endpoints::Endpoints;
use crate::services::fleet::Fleet;
use crate::services::importer::Importer;
use crate::services::jobs::Jobs;
use crate::services::moderation::Moderation;
use crate::services::notifications::Notifications;
use crate::services::page_tokens::PageTokens;
use crate::services::profiles::Profiles;
use crate::services::projection::Projector;
use crate::services::social::Social;
use crate::services::sso::SingleSignOn;
use crate::services::videos::Videos;
use crate::services::views::Views;

/// Why an operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// No such object.
    #[error("not found")]
    NotFound,
    /// The object is in a state that refuses the request (409).
    #[error("{0}")]
    Conflict(String),
    /// The change does not fit the object's state.
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// Storage failed.
    #[error("storage: {0}")]
    Store(String),
    /// The queue failed.
    #[error("queue: {0}")]
    Queue(#[from] QueueError),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The change is committed but not yet applied everywhere (the edge fleet, webhooks): it
    /// will be, and the request may be repeated to learn when.
    #[error("the change is recorded but not yet applied everywhere: {0}")]
    Propagating(String),
}

impl From<RecordError> for AppError {
    fn from(e: RecordError) -> Self {
        match e {
            RecordError::NotFound => AppError::NotFound,
            other => AppError::Store(other.to_string()),
        }
    }
}

impl From<UpdateError<TransitionError>> for AppError {
    fn from(e: UpdateError<TransitionError>) -> Self {
        match e {
            UpdateError::Record(r) => r.into(),
            UpdateError::Rejected(t) => AppError::Transition(t),
        }
    }
}

/// Now as RFC 3339 (seconds).
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

/// Unix milliseconds `ms` as RFC 3339 (seconds).
pub fn rfc3339_of_ms(ms: i64) -> String {
    let at = SystemTime::UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_seconds(at).to_string()
}

/// Unix milliseconds now.
pub fn now_ms() -> i64 {
    i64::try_from(crate::queue::now_ms()).unwrap_or(i64::MAX)
}

/// Now in Unix seconds.
pub fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The adapters and the services built over them.
pub struct App {
    /// Configuration.
    pub config: Arc<Config>,
    /// The state of record (everything that is not media).
    pub db: Db,
    /// JSON records and media in object storage.
    pub records: Records,
    /// Jobs.
    pub queue: Arc<dyn Queue>,
    /// Event fan-out.
    pub bus: Arc<dyn EventBus>,
    /// This process's outbox relay.
    pub relay: Arc<Relay>,
    /// Purges.
    pub fleet: Arc<Fleet>,
    /// Webhook endpoints.
    pub endpoints: Arc<Endpoints>,
    /// The asset use cases.
    pub assets: Arc<Assets>,
    /// Captions.
    pub captions: Arc<Captions>,
    /// The edge's records, projected from the database.
    pub projector: Arc<Projector>,
    /// Queueing jobs.
    pub jobs: Arc<Jobs>,
    /// API key checks.
    pub api_keys: Arc<ApiKeys>,
    /// Signing keys.
    pub signing_keys: Arc<SigningKeys>,
    /// Uploads.
    pub uploads: Arc<Uploads>,
    /// Webhook deliveries.
    pub webhooks: Arc<Webhooks>,
    /// People's accounts and sessions.
    pub accounts: Arc<Accounts>,
    /// People's videos.
    pub videos: Arc<Videos>,
    /// Likes, subscriptions, comments.
    pub social: Arc<Social>,
    /// Reports and the moderation queue.
    pub moderation: Arc<Moderation>,
    /// A person's own account: name, password, export, deletion.
    pub account_data: Arc<AccountData>,
    /// In-app notifications.
    pub notifications: Arc<Notifications>,
    /// Administering people.
    pub admin: Arc<Admin>,
    /// Counting views.
    pub views: Arc<Views>,
    /// Signing in with other providers.
    pub sso: Arc<SingleSignOn>,
    /// Playback tokens the watch page mints (private videos).
    pub page_tokens: Arc<PageTokens>,
    /// Channels' pictures and descriptions.
    pub profiles: Arc<Profiles>,
}

impl App {
    /// Opens the database (migrating it), storage, the queue and the bus the configuration
    /// names, and builds the services.
    pub async fn open(config: Config) -> Result<Arc<App>, String> {
        let db = Db::open(&config.database)
            .await
            .map_err(|e| format!("{e} ({})", config.database))?;
        let store = Store::open(&config.store).map_err(|e| e.to_string())?;
        let (queue, bus, redis): (Arc<dyn Queue>, Arc<dyn EventBus>, _) = match &config.redis {
            Some(url) => {
                let queue = RedisQueue::new(url, config.visibility()).map_err(|e| e.to_string())?;
                let bus = RedisBus::start(url).map_err(|e| e.to_string())?;
                let client = redis::Client::open(url.as_str()).map_err(|e| e.to_string())?;
                let conn = client
                    .get_connection_manager_lazy(
                        redis::aio::ConnectionManagerConfig::new()
                            .set_connection_timeout(Some(Duration::from_secs(5)))
                            .set_response_timeout(Some(Duration::from_secs(5))),
                    )
                    .map_err(|e| e.to_string())?;
                (Arc::new(queue), bus, Some(conn))
            }
            None => (
                Arc::new(MemoryQueue::new(config.visibility())),
                Arc::new(MemoryBus::default()),
                None,
            ),
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        let outbound = crate::outbound::Policy::new(&config.outbound.allow_networks)?;
        let guarded_http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(outbound.resolver())
            .build()
            .map_err(|e| e.to_string())?;
        let records = Records::new(store);
        let relay = Arc::new(Relay::new(db.clone()));
        let fleet = Arc::new(Fleet {
            redis,
            edge_admin_urls: config.edge_admin_urls.clone(),
            edge_admin_token: config.edge_admin_token.clone(),
            http: http.clone(),
        });
        let endpoints = Arc::new(Endpoints::new(&config.webhooks, db.clone())?);
        let accounts = Arc::new(Accounts::new(
            db.clone(),
            config.accounts.registration,
            config.accounts.content_warnings.clone(),
        ));
        let assets = Arc::new(Assets {
            db: db.clone(),
            cache: Arc::default(),
            relay: relay.clone(),
            endpoints: endpoints.clone(),
            database_url: config.database.clone(),
        });
        let uploads = Arc::new(Uploads {
            db: db.clone(),
            records: records.clone(),
            assets: assets.clone(),
            config: config.uploads.clone(),
            patches: tokio::sync::Semaphore::new(config.uploads.max_concurrent_patches),
            patching: Default::default(),
        });
        let videos = Arc::new(Videos {
            db: db.clone(),
            uploads: uploads.clone(),
            assets: assets.clone(),
            search_counts: Default::default(),
        });
        let signing_keys = Arc::new(SigningKeys {
            db: db.clone(),
            records: records.clone(),
            relay: relay.clone(),
        });
        Ok(Arc::new(App {
            captions: Arc::new(Captions {
                assets: assets.clone(),
                records: records.clone(),
                fleet: fleet.clone(),
            }),
            projector: Arc::new(Projector {
                db: db.clone(),
                records: records.clone(),
                fleet: fleet.clone(),
            }),
            jobs: Arc::new(Jobs {
                queue: queue.clone(),
                db: db.clone(),
            }),
            api_keys: Arc::new(ApiKeys {
                db: db.clone(),
                checker: KeyChecker::default(),
            }),
            signing_keys: signing_keys.clone(),
            uploads: uploads.clone(),
            social: Arc::new(Social {
                db: db.clone(),
                videos: videos.clone(),
            }),
            moderation: Arc::new(Moderation {
                db: db.clone(),
                assets: assets.clone(),
                videos: videos.clone(),
            }),
            notifications: Arc::new(Notifications { db: db.clone() }),
            admin: Arc::new(Admin { db: db.clone() }),
            views: Arc::new(Views::new(db.clone(), videos.clone(), &config.views)),
            profiles: Arc::new(Profiles { db: db.clone() }),
            page_tokens: Arc::new(PageTokens {
                db: db.clone(),
                keys: signing_keys.clone(),
            }),
            sso: Arc::new(SingleSignOn::new(
                db.clone(),
                accounts.clone(),
                config.accounts.sso.clone(),
            )),
            account_data: Arc::new(AccountData {
                db: db.clone(),
                accounts: accounts.clone(),
                assets: assets.clone(),
            }),
            videos,
            webhooks: Arc::new(Webhooks {
                db: db.clone(),
                endpoints: endpoints.clone(),
                outbound,
                http,
                guarded_http,
                retry: config.jobs.clone(),
            }),
            accounts,
            config: Arc::new(config),
            db,
            records,
            queue,
            bus,
            relay,
            fleet,
            endpoints,
            assets,
        }))
    }

    /// The store.
    pub fn store(&self) -> &Store {
        self.records.store()
    }

    /// The import of this store's earlier-version records.
    pub fn importer(&self) -> Importer<'_> {
        Importer {
            db: &self.db,
            records: &self.records,
            store: &self.config.store,
            signing_keys: &self.signing_keys,
        }
    }

    /// S3 event intake over this process's database, store and videos (`[intake]`).
    pub fn intake(&self) -> crate::services::intake::Intake {
        crate::services::intake::Intake {
            db: self.db.clone(),
            store: self.records.store().clone(),
            videos: self.videos.clone(),
            prefix: self.config.intake.prefix.clone(),
        }
    }

    /// Whether the database, storage (and Redis, when configured) answer.
    pub async fn ready(&self) -> Result<(), String> {
        self.db.ping().await.map_err(|e| e.to_string())?;
        self.records
            .find::<serde_json::Value>("readyz-probe.json")
            .await
            .map_err(|e| format!("storage: {e}"))?;
        self.queue.ping().await.map_err(|e| e.to_string())?;
        Ok(())
    }

    /// The metrics for a scrape: the database's side sampled now, then every metric.
    pub async fn metrics_text(&self) -> String {
        crate::metrics::observe_database(&self.db).await;
        crate::metrics::encode()
    }
}
