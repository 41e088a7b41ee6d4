//! Sunomi's control plane: uploads (tus 1.0) → jobs (Redis Streams or in-process) → assets,
//! events (SSE, Standard Webhooks), publication to the edge through storage and Redis.
//!
//! - [`asset`] and [`upload`] are the domain, pure: the asset lifecycle's state machine and
//!   the tus upload state; [`effects`] says what a change implies outside the database.
//! - [`db`] is the state of record (SQLite or PostgreSQL): assets, events, uploads, keys and
//!   the outbox, which [`relay`] applies. [`records`] keeps the JSON records still in object
//!   storage (and the projections the edge reads); [`app`] holds the shared state and the
//!   operations every entry point uses.
//! - [`ingest`] takes uploads in ([`direct`]: browser-to-bucket S3 multipart uploads;
//!   `intake_queue`: sources put straight into the bucket, announced on SQS); [`queue`] carries [`jobs`]; [`worker`] consumes them and
//!   [`pipeline`] runs a transcode job; [`analysis`] holds its analysis stages (captions,
//!   moderation) and their backends.
//! - [`events`] fans events out; [`webhooks`] signs and records deliveries.
//! - [`http`] is the API and admin routers; [`client`] the CLI upload client.
#![deny(missing_docs)]

pub mod analysis;
pub mod apikeys;
pub mod app;
pub mod client;
pub mod config;
pub mod db;
pub mod deliveries;
pub mod direct;
pub mod domain;
pub mod events;
pub mod failpoint;
pub mod http;
pub mod ingest;
#[cfg(feature = "aws")]
pub mod intake_queue;
pub mod jobs;
pub mod json_int;
pub mod keycheck;
pub mod keyring;
pub mod metrics;
pub mod outbound;
pub mod pipeline;
pub mod queue;
pub mod records;
pub mod relay;
pub mod services;
pub mod signing;
pub mod web;
pub mod worker;
