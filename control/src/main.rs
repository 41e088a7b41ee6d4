//! `sunomi-control`: the control plane — not built yet.
//!
//! It will take uploads (pre-signed PUT into object storage, or direct upload in the embedded
//! mode), record videos, enqueue transcode jobs for `sunomi-origin` workers, run analysis
//! (speech-to-text captions, content moderation) and decide what is published. Until then it
//! only says so, rather than pretending.

use clap::Parser;

/// Sunomi control plane (not built yet): uploads, transcode jobs, captions, moderation and
/// publishing. Today, transcode with `sunomi-origin transcode` and serve with `sunomi-edge`.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {}

fn main() {
    let _ = Cli::parse();
    eprintln!(
        "sunomi-control: not built yet. Transcode with `sunomi-origin transcode INPUT --id ID --store STORE` \
         and serve with `sunomi-edge --store STORE`."
    );
    std::process::exit(2);
}
