//! `sunomi-edge` as a library: the Pingora edge that packages HLS, DASH, downloads and
//! pictures just in time from CMAF mezzanines, caches them and shares the work with its
//! fleet. The binary (`main.rs`) parses flags and starts the listeners; everything else
//! lives here, in wings a newcomer can find:
//!
//! - [`net`]: HTTP and connections (listeners, requests, answers, TLS, zero-copy sends);
//! - [`media`]: the formats — HLS, DASH, TS, byte ranges, subtitles, encryption, trick play,
//!   downloads, pictures — and, in [`media::cache`], the cache: its keys, tiers, live
//!   settings and purges;
//! - [`access`]: content keys and viewer tokens;
//! - [`fleet`]: membership, owners, fill locks, peers, shared metadata, purges (Redis);
//! - [`ops`]: configuration and reload, the admin listener, metrics, upgrades;
//! - [`views`]: the edge's part in counting views; [`error`]: failures and their statuses.
#![deny(missing_docs)]

pub mod access;
pub mod error;
pub mod fleet;
pub mod media;
pub mod net;
pub mod ops;
pub mod views;
