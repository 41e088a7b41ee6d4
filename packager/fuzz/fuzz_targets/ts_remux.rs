//! Any bytes as a video and an audio segment remuxed to TS: the first two bytes say where the
//! video part ends. The output, when there is one, must be whole 188-byte packets that start
//! with PAT and PMT.
#![no_main]

#[path = "../../tests/support/harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::ts_remux(data));
