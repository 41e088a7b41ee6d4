//! The cache: what every cached object is called (`key`), the caches and knobs a reload
//! swaps whole (`live`), the tiers an object comes through — this edge's memory, its owner
//! edge, storage or the picture service under the fleet's fill lock, and prefetch
//! (`segments`) — and what a purge drops and the record versions it leaves behind
//! (`purge`, `floors`). The formats in [`crate::media`] ask it for objects; it makes no
//! format's bytes (a segment is a range of a track file, a picture the picture service's).

pub(super) mod floors;
pub mod key;
pub(super) mod live;
pub(super) mod purge;
pub(super) mod segments;
