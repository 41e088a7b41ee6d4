//! Writes seed inputs for the cargo-fuzz targets (`packager/fuzz`): small but valid heads,
//! fragments, segments and subtitles, so the fuzzer starts from the shapes that matter.
//! Usage: `cargo run -p sunomi-packager --example fuzz_seeds -- CORPUS_DIR`.

#[path = "../tests/support/synth.rs"]
mod synth;

use std::path::Path;

fn write(dir: &Path, target: &str, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let d = dir.join(target);
    std::fs::create_dir_all(&d)?;
    std::fs::write(d.join(name), bytes)
}

fn main() -> std::io::Result<()> {
    let Some(dir) = std::env::args().nth(1) else {
        eprintln!("usage: fuzz_seeds CORPUS_DIR");
        std::process::exit(2);
    };
    let dir = Path::new(&dir);
    write(
        dir,
        "track_head",
        "head-10",
        &synth::video_head(10, 2, 30_000),
    )?;
    write(dir, "track_head", "head-1", &synth::video_head(1, 6, 1_000))?;
    let video = synth::video_segment(2, 5, 100_000);
    let audio = synth::audio_segment(2, 5);
    write(dir, "fragment", "video", &video)?;
    write(dir, "fragment", "audio", &audio)?;
    let split = video.len() as u16;
    let mut ts = split.to_be_bytes().to_vec();
    ts.extend_from_slice(&video);
    ts.extend_from_slice(&audio);
    write(dir, "ts_remux", "av", &ts)?;
    write(
        dir,
        "ts_remux",
        "video-only",
        &[&split.to_be_bytes()[..], &video].concat(),
    )?;
    write(
        dir,
        "vtt",
        "cues",
        b"WEBVTT - t\n\nNOTE x\n\n1\n00:00:01.000 --> 00:00:04.000 align:start\nHello\nthere\n\n00:05.500 --> 00:13.000\nLong\n",
    )?;
    Ok(())
}
