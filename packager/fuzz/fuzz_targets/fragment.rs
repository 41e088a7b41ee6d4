//! Any bytes as fragments (`moof` + `mdat`): parsing must answer or refuse, never panic, and
//! every sample it returns must lie inside the input.
#![no_main]

#[path = "../../tests/support/harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::fragment(data));
