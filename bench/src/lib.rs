//! Sunomi's load tester, as a library so its behaviour can be tested against real servers.
//!
//! It speaks HTTP only and depends on no other crate of the workspace, so it can bench any HLS
//! server: the Sunomi edge, nginx serving pre-packaged HLS, a CDN.
#![deny(missing_docs)]

pub mod abr;
pub mod charts;
pub mod client;
pub mod hammer;
pub mod live;
pub mod players;
pub mod proxy;
pub mod report;
pub mod scrape;
pub mod stats;
pub mod workload;
