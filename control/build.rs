//! Copies the web app's third-party scripts (hls.js, tus-js-client) from
//! `control/web/node_modules` — `make deps` runs `npm ci` there — into `OUT_DIR`, where
//! `src/web/assets.rs` embeds them. A build without them (no npm) still succeeds: the files
//! are empty, the pages that need them say so, and `serve` warns at start.

use std::path::PathBuf;

/// (name in OUT_DIR, path under node_modules)
const VENDOR: &[(&str, &str)] = &[
    ("hls.min.js", "hls.js/dist/hls.min.js"),
    ("tus.min.js", "tus-js-client/dist/tus.min.js"),
];

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets it"));
    let modules = manifest.join("web").join("node_modules");
    println!("cargo:rerun-if-changed={}", modules.display());
    for (name, rel) in VENDOR {
        let from = modules.join(rel);
        println!("cargo:rerun-if-changed={}", from.display());
        let bytes = std::fs::read(&from).unwrap_or_default();
        std::fs::write(out.join(name), bytes).expect("writing OUT_DIR");
    }
}
