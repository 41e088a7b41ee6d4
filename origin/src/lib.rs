//! Sunomi's origin: the media's home.
//!
//! - [`store`] opens the object store a STORE argument names (directory, `file://`, `s3://`,
//!   `memory://`) and [`layout`] names every key in it.
//! - [`local`] reads local-directory stores safely (pread, versions, no hangs).
//! - [`reader`] is the API the edge reads through: manifests, track heads, byte ranges.
//! - [`publish`] stores a finished transcode, manifest last.
//! - [`purge`] is the fleet purge protocol on Redis, shared by edges and the control plane.
//! - [`views`] is the view ticket and receipt format the control plane and edges share.
//! - `transcode` (feature `transcode`, links FFmpeg) decodes a source once and encodes the
//!   CMAF ladder. The edge depends on this crate without that feature.
//! - `pictures` (feature `transcode`) draws thumbnails, storyboards and animated previews
//!   from the renditions for the edges (`sunomi-origin pictures`).
#![deny(missing_docs)]

pub mod layout;
pub mod local;
#[cfg(feature = "transcode")]
pub mod pictures;
pub mod publish;
pub mod purge;
pub mod reader;
pub mod store;
#[cfg(feature = "transcode")]
pub mod transcode;
pub mod views;

pub use reader::{MediaReader, ReadError, ReadEvent, ReadObserver, TrackHead};
pub use store::{Store, StoreError};
