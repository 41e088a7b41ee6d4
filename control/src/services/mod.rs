//! The services: the control plane's use cases, each a struct that owns the adapters it
//! needs (the database, object storage, the queue, the fleet) and nothing else. HTTP
//! handlers, workers and the relay call these; none of them reaches past a service into an
//! adapter, and no service knows [`crate::app::App`], which only builds them
//! (`deploy/local/check-layers.sh` checks both).
//!
//! The upload, signing-key and webhook-delivery use cases live in [`crate::ingest`],
//! [`crate::keyring`] and [`crate::deliveries`], over their own service structs
//! ([`crate::ingest::Uploads`], [`crate::keyring::SigningKeys`],
//! [`crate::deliveries::Webhooks`]).

pub mod account_data;
pub mod accounts;
pub mod admin;
pub mod api_keys;
pub mod assets;
pub mod captions;
pub mod endpoints;
pub mod fleet;
pub mod importer;
pub mod intake;
pub mod jobs;
pub mod moderation;
pub mod notifications;
pub mod page_tokens;
pub mod profiles;
pub mod projection;
pub mod social;
pub mod sso;
pub mod two_factor;
pub mod videos;
pub mod views;
pub mod webhook_admin;
