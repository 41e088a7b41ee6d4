//! The web app's static files into `OUT_DIR`, each with a gzip copy made once here (so the
//! server never compresses them per request): its own stylesheet and script
//! (`control/web/static/`) and the third-party scripts (hls.js, tus-js-client) from
//! `control/web/node_modules` — `make deps` runs `npm ci` there. A build without npm still
//! succeeds: those files are empty, the pages that need them say so, `serve` warns at start.

use std::io::Write;
use std::path::PathBuf;

/// (name in OUT_DIR, path under control/web)
const FILES: &[(&str, &str)] = &[
    ("app.css", "static/app.css"),
    ("app.js", "static/app.js"),
    ("hls.min.js", "node_modules/hls.js/dist/hls.min.js"),
    ("tus.min.js", "node_modules/tus-js-client/dist/tus.min.js"),
];

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets it"));
    let web = manifest.join("web");
    println!(
        "cargo:rerun-if-changed={}",
        web.join("node_modules").display()
    );
    for (name, rel) in FILES {
        let from = web.join(rel);
        println!("cargo:rerun-if-changed={}", from.display());
        let bytes = std::fs::read(&from).unwrap_or_default();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&bytes).expect("compressing in memory");
        let gz = if bytes.is_empty() {
            Vec::new()
        } else {
            gz.finish().expect("compressing in memory")
        };
        std::fs::write(out.join(name), &bytes).expect("writing OUT_DIR");
        std::fs::write(out.join(format!("{name}.gz")), gz).expect("writing OUT_DIR");
    }
}
