//! Any text as WebVTT: parsing must answer or refuse, never panic, and every piece the
//! segmenter writes from a parsed file must parse again.
#![no_main]

#[path = "../../tests/support/harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::vtt(data));
