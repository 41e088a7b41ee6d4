//! Any bytes as fragments (`moof` + `mdat`): parsing must answer or refuse, never panic, and
//! every sample it returns must lie inside the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sunomi_packager::fragment::{parse_fragment, samples_of};

fuzz_target!(|data: &[u8]| {
    let _ = parse_fragment(data, 0, 512);
    if let Ok(samples) = samples_of(data, 0, 512) {
        let range = data.as_ptr_range();
        for s in samples {
            assert!(s.data.is_empty() || range.contains(&s.data.as_ptr()));
        }
    }
});
