//! Any bytes as a track head: scanning, segment planning, playlists and the codec
//! configuration must answer or refuse, never panic.
#![no_main]

#[path = "../../tests/support/harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::track_head(data));
