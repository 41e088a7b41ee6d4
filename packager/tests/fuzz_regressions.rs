//! Every input the fuzzers (`packager/fuzz`) ever crashed on, replayed through the same calls
//! (`support/harness.rs`) on stable Rust: each must now be answered or refused without a
//! panic. To add one, drop the crash file into `tests/fuzz_regressions/{target}/`.

#[path = "support/harness.rs"]
mod harness;

/// Runs every stored input of `target` through `check`.
fn replay(target: &str, check: fn(&[u8])) {
    let dir = manifest_dir().join("tests/fuzz_regressions").join(target);
    // A folder that is missing or empty would replay nothing and pass: that is a failure.
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| {
        panic!(
            "no regression inputs for {target} at {}: {e}",
            dir.display()
        )
    });
    let mut replayed = 0;
    for entry in entries.filter_map(Result::ok) {
        let data = std::fs::read(entry.path()).unwrap();
        check(&data);
        replayed += 1;
        eprintln!("replayed {target}/{}", entry.file_name().to_string_lossy());
    }
    assert!(replayed > 0, "{} holds no regression input", dir.display());
}

#[test]
fn track_heads() {
    replay("track_head", harness::track_head);
}

#[test]
fn fragments() {
    replay("fragment", harness::fragment);
}

#[test]
fn ts_remuxes() {
    replay("ts_remux", harness::ts_remux);
}

#[test]
fn vtts() {
    replay("vtt", harness::vtt);
}

/// This package's folder: where cargo says at run time (a test binary built in another
/// checkout, from a shared build cache, still reads this checkout's files), else where it
/// was built.
fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}
