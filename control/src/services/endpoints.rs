//! Webhook endpoints as messages are addressed and signed: the config file's, then those
//! made through the API (the `webhook_endpoints` table), looked up when a message is sent.

use crate::app::{now_ms, AppError};
use crate::db::{Db, DbError};
use crate::domain::effects::Endpoint;
use crate::domain::webhooks::Signer;

/// Where a webhook message goes and how it is signed, looked up when it is sent.
pub struct WebhookTarget {
    /// Its URL.
    pub url: String,
    /// Every secret that signs it (two while a rotated secret still signs).
    pub signers: Vec<Signer>,
    /// Made through the API: sent only to addresses the outbound policy allows.
    pub guarded: bool,
}

/// A stored endpoint whose secret does not read as one.
fn corrupt_endpoint(id: &str, why: &str) -> AppError {
    AppError::Db(DbError::Corrupt(format!("webhook endpoint {id}: {why}")))
}

/// The endpoints: the config file's (by id, with their signers) and the database's.
pub struct Endpoints {
    /// The config file's endpoints by id, with their signers.
    pub configured: Vec<(String, crate::config::WebhookEndpoint, Signer)>,
    /// The database (endpoints made through the API).
    pub db: Db,
}

impl Endpoints {
    /// Reads the config file's endpoints (their secrets must parse).
    pub fn new(config: &[crate::config::WebhookEndpoint], db: Db) -> Result<Endpoints, String> {
        let configured = config
            .iter()
            .map(|w| Ok((w.id(), w.clone(), Signer::from_secret(&w.secret)?)))
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Endpoints { configured, db })
    }

    /// The webhook endpoints messages are addressed to: the config file's, then those made
    /// through the API.
    pub async fn ids(&self) -> Result<Vec<Endpoint>, AppError> {
        let mut all: Vec<Endpoint> = self
            .configured
            .iter()
            .map(|(id, _, _)| Endpoint { id: id.clone() })
            .collect();
        for id in crate::db::webhooks::endpoint_ids(&self.db).await? {
            if !all.iter().any(|e| e.id == id) {
                all.push(Endpoint { id });
            }
        }
        Ok(all)
    }

    /// The webhook endpoints of the config file: id, URL.
    pub fn configured(&self) -> impl Iterator<Item = (&str, &str)> {
        self.configured
            .iter()
            .map(|(id, e, _)| (id.as_str(), e.url.as_str()))
    }

    /// Where webhook endpoint `id` is now and how its messages are signed: the config
    /// file's endpoint of that id, else the one made through the API; `None` when neither
    /// exists (any more).
    pub async fn target(&self, id: &str) -> Result<Option<WebhookTarget>, AppError> {
        if let Some((_, e, signer)) = self.configured.iter().find(|(i, _, _)| i == id) {
            return Ok(Some(WebhookTarget {
                url: e.url.clone(),
                signers: vec![signer.clone()],
                guarded: false,
            }));
        }
        let Some(e) = crate::db::webhooks::endpoint(&self.db, id).await? else {
            return Ok(None);
        };
        let mut signers =
            vec![Signer::from_secret(&e.secret).map_err(|m| corrupt_endpoint(id, &m))?];
        if let Some(previous) = e.previous_secret.filter(|_| e.previous_until_ms > now_ms()) {
            signers.push(Signer::from_secret(&previous).map_err(|m| corrupt_endpoint(id, &m))?);
        }
        Ok(Some(WebhookTarget {
            url: e.url,
            signers,
            guarded: true,
        }))
    }
}
