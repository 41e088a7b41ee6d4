//! Webhook administration, the use cases: endpoints made through the API (create with a
//! secret shown once, list, read, rotate the secret with an overlap, delete) and the
//! messages sent to them (a page, one with its attempts, redeliver a failed one). The
//! config file's endpoints are listed beside them and change only there.

use crate::app::{now_ms, now_rfc3339, AppError};
use crate::db::webhooks::{self as store, EndpointRecord, Filter};
use crate::deliveries::Webhooks;
use crate::domain::webhooks::{Delivery, Signer};

/// Endpoints made through the API at most.
pub const MAX_ENDPOINTS: i64 = 50;
/// Longest endpoint URL, in bytes.
pub const MAX_URL: usize = 2048;
/// Longest endpoint description, in characters.
pub const MAX_DESCRIPTION: usize = 500;
/// How long a rotated-out secret keeps signing, at most and by default (a day).
pub const MAX_OVERLAP_SECS: u64 = 24 * 3600;

/// Why an endpoint or message operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum WebhookAdminError {
    /// No such endpoint or message.
    #[error("no such {0}")]
    NotFound(&'static str),
    /// The endpoint is in the config file and changes only there.
    #[error("it is in the config file and changes only there")]
    Configured,
    /// The URL is malformed or points where outbound requests may not go.
    #[error("{0}")]
    Refused(String),
    /// As many endpoints as may be made exist.
    #[error("at most {MAX_ENDPOINTS} endpoints; delete one first")]
    Full,
    /// Only failed messages are redelivered.
    #[error("the message is {0}")]
    NotFailed(&'static str),
    /// The database failed.
    #[error(transparent)]
    App(#[from] AppError),
}

impl From<crate::db::DbError> for WebhookAdminError {
    fn from(e: crate::db::DbError) -> Self {
        WebhookAdminError::App(e.into())
    }
}

/// An endpoint as listed: the config file's have no record.
pub enum Listed<'a> {
    /// From the config file: id, URL.
    Configured(&'a str, &'a str),
    /// Made through the API.
    Made(EndpointRecord),
}

impl Webhooks {
    /// Makes an endpoint for `url` with a new secret (in the record returned; shown once).
    pub async fn create_endpoint(
        &self,
        url: String,
        description: String,
    ) -> Result<EndpointRecord, WebhookAdminError> {
        if url.len() > MAX_URL || description.chars().count() > MAX_DESCRIPTION {
            return Err(WebhookAdminError::Refused(format!(
                "the URL is at most {MAX_URL} bytes and the description {MAX_DESCRIPTION} characters"
            )));
        }
        self.outbound
            .check_url(&url)
            .await
            .map_err(|e| WebhookAdminError::Refused(e.to_string()))?;
        if store::endpoint_count(&self.db).await? >= MAX_ENDPOINTS {
            return Err(WebhookAdminError::Full);
        }
        let record = EndpointRecord {
            id: format!("we_{}", hex::encode(rand::random::<[u8; 12]>())),
            url,
            description,
            secret: Signer::new_secret(),
            previous_secret: None,
            previous_until_ms: 0,
            created_at: now_rfc3339(),
        };
        store::insert_endpoint(&self.db, &record).await?;
        Ok(record)
    }

    /// Every endpoint: the config file's, then those made through the API.
    pub async fn list_endpoints(&self) -> Result<Vec<Listed<'_>>, WebhookAdminError> {
        let mut out: Vec<Listed<'_>> = self
            .endpoints
            .configured()
            .map(|(id, url)| Listed::Configured(id, url))
            .collect();
        let made = store::endpoints(&self.db, MAX_ENDPOINTS).await?;
        out.extend(made.into_iter().map(Listed::Made));
        Ok(out)
    }

    /// Endpoint `id`, wherever it is defined.
    pub async fn endpoint(&self, id: &str) -> Result<Listed<'_>, WebhookAdminError> {
        if let Some((id, url)) = self.endpoints.configured().find(|(i, _)| *i == id) {
            return Ok(Listed::Configured(id, url));
        }
        self.made_endpoint(id).await.map(Listed::Made)
    }

    /// The endpoint made through the API with id `id`, or why not.
    async fn made_endpoint(&self, id: &str) -> Result<EndpointRecord, WebhookAdminError> {
        if !valid_id(id, 64) {
            return Err(WebhookAdminError::NotFound("webhook endpoint"));
        }
        if self.endpoints.configured().any(|(i, _)| i == id) {
            return Err(WebhookAdminError::Configured);
        }
        store::endpoint(&self.db, id)
            .await?
            .ok_or(WebhookAdminError::NotFound("webhook endpoint"))
    }

    /// Gives endpoint `id` a new secret; the old one keeps signing beside it for
    /// `keep_previous_secs` (at most a day). Returns the record with the new secret.
    pub async fn rotate_secret(
        &self,
        id: &str,
        keep_previous_secs: u64,
    ) -> Result<EndpointRecord, WebhookAdminError> {
        let mut record = self.made_endpoint(id).await?;
        let secret = Signer::new_secret();
        let keep_ms = i64::try_from(keep_previous_secs.min(MAX_OVERLAP_SECS) * 1000).unwrap_or(0);
        if !store::rotate_secret(&self.db, id, &secret, now_ms() + keep_ms).await? {
            return Err(WebhookAdminError::NotFound("webhook endpoint"));
        }
        record.secret = secret;
        Ok(record)
    }

    /// Removes endpoint `id`: no message is addressed to it from now on, and those pending
    /// fail at their next attempt.
    pub async fn delete_endpoint(&self, id: &str) -> Result<(), WebhookAdminError> {
        self.made_endpoint(id).await?;
        if !store::delete_endpoint(&self.db, id).await? {
            return Err(WebhookAdminError::NotFound("webhook endpoint"));
        }
        Ok(())
    }

    /// Up to `limit` messages matching `filter`, newest first, before position `before`,
    /// with their positions, and whether more follow.
    pub async fn deliveries(
        &self,
        filter: &Filter,
        before: Option<i64>,
        limit: u32,
    ) -> Result<(Vec<(i64, Delivery)>, bool), WebhookAdminError> {
        let mut page = store::page(&self.db, filter, before, i64::from(limit) + 1).await?;
        let more = page.len() > limit as usize;
        page.truncate(limit as usize);
        Ok((page, more))
    }

    /// Message `msg_id` with every attempt.
    pub async fn delivery(&self, msg_id: &str) -> Result<Delivery, WebhookAdminError> {
        if !valid_id(msg_id, 200) {
            return Err(WebhookAdminError::NotFound("message"));
        }
        store::get(&self.db, msg_id)
            .await?
            .ok_or(WebhookAdminError::NotFound("message"))
    }

    /// Makes failed message `msg_id` pending again with a fresh count of attempts.
    pub async fn redeliver(&self, msg_id: &str) -> Result<Delivery, WebhookAdminError> {
        if !valid_id(msg_id, 200) {
            return Err(WebhookAdminError::NotFound("message"));
        }
        let again = store::redeliver(&self.db, msg_id, now_ms()).await?;
        let found = store::get(&self.db, msg_id)
            .await?
            .ok_or(WebhookAdminError::NotFound("message"))?;
        if !again {
            return Err(WebhookAdminError::NotFailed(found.state.as_str()));
        }
        Ok(found)
    }
}

/// Whether `id` can name an endpoint or a message at all (printable, bounded): anything
/// else is not found without a lookup.
pub fn valid_id(id: &str, max: usize) -> bool {
    !id.is_empty()
        && id.len() <= max
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}
