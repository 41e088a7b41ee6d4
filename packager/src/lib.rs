//! Sunomi's packager: pure media logic, bytes in and bytes out.
//!
//! It parses CMAF track files (the head: `ftyp`, `moov`, `sidx`; fragments: `moof`/`trun`),
//! plans HLS segments over their fragments, and writes HLS playlists with `m3u8-rs`. It holds
//! the manifest schema, the encoding ladder and the URL shapes, so each fact lives in one
//! place. It does no I/O, reads no clock and is not async: the edge and the origin wrap it.
#![deny(missing_docs)]

pub mod bandwidth;
pub mod boxes;
pub mod cenc;
pub mod codec;
pub mod crypto;
pub mod dash;
pub mod edit;
pub mod error;
pub mod filter;
pub mod fragment;
pub mod iframe;
pub mod ladder;
pub mod manifest;
pub mod names;
pub mod picture;
pub mod playback;
pub mod playlist;
pub mod progressive;
pub mod route;
pub mod segment;
pub mod track;
pub mod ts;
pub mod vtt;

pub use error::{PackagerError, Result};
