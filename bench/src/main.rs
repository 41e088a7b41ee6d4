//! `sunomi-bench`: the load tester — not built yet.
//!
//! It will drive any HLS server over HTTP only (no other crate of the workspace): simulated
//! players with ABR and buffer models, raw HTTP load with coordinated-omission correction,
//! and reports comparable run against run. Until then it only says so, rather than pretending.

use clap::Parser;

/// Sunomi bench (not built yet): simulated HLS players and raw HTTP load against any HLS
/// server, with JSON and chart reports. Today, use `wrk` or `ffmpeg -i URL -f null -`.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {}

fn main() {
    let _ = Cli::parse();
    eprintln!("sunomi-bench: not built yet; see the README for what exists today.");
    std::process::exit(2);
}
