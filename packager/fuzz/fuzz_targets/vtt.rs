//! Any text as WebVTT: parsing must answer or refuse, never panic, and every piece the
//! segmenter writes from a parsed file must parse again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sunomi_packager::vtt::{parse, segment};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(vtt) = parse(text) {
        for (start, end) in [(0, 6_000), (6_000, 12_000), (0, u64::MAX / 2)] {
            let piece = segment(&vtt, start, end, 900_000);
            assert!(
                parse(&piece).is_ok(),
                "a written piece does not parse: {piece:?}"
            );
        }
    }
});
