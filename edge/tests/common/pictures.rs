//! Pictures as an independent decoder sees them: fMP4 fragments cut apart, and ffmpeg's
//! hash of every decoded picture.

use super::run;

/// The `moof`+`mdat` fragments of a segment, each on its own.
pub fn fragments(segment: &[u8]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    let mut i = 0;
    while i + 8 <= segment.len() {
        let size = u32::from_be_bytes(segment[i..i + 4].try_into().unwrap()) as usize;
        if &segment[i + 4..i + 8] == b"moof" || out.is_empty() {
            out.push(Vec::new());
        }
        out.last_mut()
            .unwrap()
            .extend_from_slice(&segment[i..i + size]);
        i += size;
    }
    out
}

/// The picture hashes ffmpeg decodes from `input` (a file or URL, after `args`), in order.
pub fn picture_hashes(args: &[&str], input: &str) -> Vec<String> {
    let mut all = vec!["-v", "error"];
    all.extend_from_slice(args);
    all.extend(["-i", input, "-map", "0:v", "-fps_mode", "passthrough"]);
    all.extend(["-f", "framemd5", "-"]);
    let (ok, out, err) = run("ffmpeg", &all);
    assert!(ok && err.trim().is_empty(), "ffmpeg on {input}: {err}");
    out.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.rsplit(',').next().unwrap().trim().to_string())
        .collect()
}
