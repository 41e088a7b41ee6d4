//! Hostile and broken sources: `sunomi-origin` exits non-zero with one clear line and writes
//! no manifest.

use std::path::Path;
use std::process::Command;

fn ffmpeg(args: &[&str], out: &Path) {
    let ok = Command::new("ffmpeg")
        .args(["-v", "error", "-y"])
        .args(args)
        .arg(out)
        .status()
        .expect("ffmpeg must be installed")
        .success();
    assert!(ok);
}

fn refused(input: &Path, expected: &str) {
    let store = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sunomi-origin"))
        .args([
            "transcode",
            input.to_str().unwrap(),
            "--id",
            "bad",
            "--store",
        ])
        .arg(store.path())
        .args(["--preset", "ultrafast"])
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{} was accepted", input.display());
    let lines: Vec<_> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line of error, got: {stderr}");
    assert!(lines[0].starts_with("sunomi-origin: error: "), "{stderr}");
    assert!(
        lines[0].to_lowercase().contains(expected),
        "{} should mention {expected:?}: {stderr}",
        input.display()
    );
    assert!(
        !store.path().join("videos/bad/manifest.json").exists(),
        "a manifest was written for {}",
        input.display()
    );
}

#[test]
fn broken_and_hostile_sources_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);

    std::fs::write(p("empty.mp4"), b"").unwrap();
    refused(&p("empty.mp4"), "empty");

    let noise: Vec<u8> = (0u32..200_000)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(p("random.mp4"), &noise).unwrap();
    refused(&p("random.mp4"), "not a media file");

    std::fs::write(p("text.mp4"), "this is not a video\n".repeat(100)).unwrap();
    refused(&p("text.mp4"), "not a media file");

    ffmpeg(
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=640x360:rate=25",
            "-t",
            "4",
        ],
        &p("whole.mp4"),
    );
    // Files that make FFmpeg read other files (a playlist, a concat list) pointing at a real
    // video: refused as what they are, so an upload never reads anything but itself.
    let playlist = "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\nwhole.mp4\n#EXT-X-ENDLIST\n";
    std::fs::write(p("playlist.mp4"), playlist).unwrap();
    refused(&p("playlist.mp4"), "not a video container");
    std::fs::write(p("list.mp4"), "ffconcat version 1.0\nfile 'whole.mp4'\n").unwrap();
    refused(&p("list.mp4"), "not a video container");
    let whole = std::fs::read(p("whole.mp4")).unwrap();
    std::fs::write(p("truncated.mp4"), &whole[..whole.len() / 2]).unwrap();
    refused(&p("truncated.mp4"), "");

    ffmpeg(
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=640x360:rate=25",
            "-t",
            "10",
            "-movflags",
            "+faststart",
        ],
        &p("faststart.mp4"),
    );
    let fs = std::fs::read(p("faststart.mp4")).unwrap();
    std::fs::write(p("truncated-faststart.mp4"), &fs[..fs.len() / 3]).unwrap();
    refused(&p("truncated-faststart.mp4"), "truncated");

    ffmpeg(
        &[
            "-f",
            "lavfi",
            "-i",
            "color=c=red:size=16x16:rate=25",
            "-t",
            "1",
            "-vf",
            "scale=1:1",
            "-c:v",
            "ffv1",
        ],
        &p("tiny.mkv"),
    );
    refused(&p("tiny.mkv"), "1x1");

    ffmpeg(
        &["-f", "lavfi", "-i", "sine=frequency=440", "-t", "2"],
        &p("audio-only.m4a"),
    );
    refused(&p("audio-only.m4a"), "no video");

    refused(&p("does-not-exist.mp4"), "cannot read");
}

#[test]
fn invalid_ids_and_stores_are_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("s.mp4");
    ffmpeg(
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=25",
            "-t",
            "1",
        ],
        &src,
    );
    for (id, store) in [
        ("../escape", dir.path().to_str().unwrap()),
        ("ok", "ftp://nope"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_sunomi-origin"))
            .args([
                "transcode",
                src.to_str().unwrap(),
                "--id",
                id,
                "--store",
                store,
            ])
            .output()
            .unwrap();
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("sunomi-origin: error:"), "{stderr}");
    }
    assert!(!dir.path().join("escape").exists());
}
