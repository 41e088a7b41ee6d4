//! The domain: what Sunomi's control plane knows and decides, with no I/O. Nothing here
//! touches the database, storage, the queue, the network or a clock it was not handed
//! (`deploy/local/check-layers.sh` enforces it in `make test`).
//!
//! - [`accounts`]: people: roles, status, what valid credentials are, lockout.
//! - [`asset`]: the asset and its lifecycle state machine (`Asset::apply`), events, reviews.
//! - [`upload`]: an upload's record (tus and direct) and its rules.
//! - [`effects`]: what a change implies outside the database ([`effects::Effect`]), in order.
//! - [`moderation`]: the policy that turns labels into a verdict.
//! - [`cues`]: a transcript shaped into readable WebVTT.
//! - [`webhooks`]: webhook messages and their Standard Webhooks signatures.
//! - [`videos`]: videos as the platform shows them, and who may see or change one.
//! - [`social`]: comments and who may change them.
//! - [`intake`]: S3 event notifications of sources put straight into the bucket.
//! - [`ids`]: typed ids.

pub mod accounts;
pub mod asset;
pub mod cues;
pub mod effects;
pub mod ids;
pub mod intake;
pub mod moderation;
pub mod notifications;
pub mod ranking;
pub mod reports;
pub mod social;
pub mod upload;
pub mod videos;
pub mod warnings;
pub mod webhooks;
