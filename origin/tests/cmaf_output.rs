//! The transcoder's output, checked on real bytes: sources made by the FFmpeg CLI, transcoded
//! by the library, parsed back by the packager and the reader.

use std::path::{Path, PathBuf};
use std::process::Command;

use sunomi_origin::publish::publish;
use sunomi_origin::transcode::{transcode, Silent, TranscodeOptions};
use sunomi_origin::{MediaReader, Store};
use sunomi_packager::fragment::parse_fragment;
use sunomi_packager::track::TrackKind;

fn make_source(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
    let out = dir.join(name);
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y"])
        .args(args)
        .arg(&out)
        .status()
        .expect("ffmpeg must be installed (make test installs it)");
    assert!(status.success(), "ffmpeg failed making {name}");
    out
}

fn options() -> TranscodeOptions {
    TranscodeOptions {
        preset: "ultrafast".into(),
        ..Default::default()
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn ladder_is_fragmented_cmaf_with_aligned_key_frames() {
    let dir = tempfile::tempdir().unwrap();
    let src = make_source(
        dir.path(),
        "src.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=1280x720:rate=30",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=300:sample_rate=44100",
            "-t",
            "9",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-c:a",
            "aac",
            "-shortest",
        ],
    );
    let done = transcode(&src, "ladder", &options(), &Silent).unwrap();
    let m = &done.manifest;
    let names: Vec<_> = m.renditions.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["720p", "480p", "360p"]);
    assert_eq!(done.frames, 270);
    assert!((m.duration_secs - 9.0).abs() < 0.05, "{}", m.duration_secs);
    assert_eq!(m.audio.len(), 1);
    assert_eq!(m.audio[0].codec, "mp4a.40.2");

    let rt = runtime();
    let store = Store::open("memory://").unwrap();
    rt.block_on(publish(&store, &done.files, m)).unwrap();
    let reader = MediaReader::new(store);
    assert_eq!(&rt.block_on(reader.manifest("ladder")).unwrap(), m);

    let mut starts = Vec::new();
    for r in &m.renditions {
        let head = rt.block_on(reader.track_head("ladder", &r.path)).unwrap();
        let idx = &head.index;
        assert_eq!(idx.codec, r.codec);
        assert!(r.codec.starts_with("avc1."), "{}", r.codec);
        assert!(
            matches!(idx.kind, TrackKind::Video { width, height, .. } if (width, height) == (r.width, r.height)),
            "{:?}",
            idx.kind
        );
        assert_eq!(idx.fragments.len(), 5, "{} fragments", r.name);
        assert_eq!(r.keyframe_ends.len(), 5);
        let ts = u64::from(idx.timescale);
        for (i, f) in idx.fragments.iter().enumerate() {
            assert!(f.starts_with_sap);
            let expected = if i < 4 { 2 * ts } else { ts };
            assert_eq!(
                u64::from(f.duration),
                expected,
                "fragment {i} of {}",
                r.name
            );
            let bytes = rt
                .block_on(reader.read_range("ladder", &r.path, f.range(), &head.version))
                .unwrap();
            let frag = parse_fragment(&bytes, f.offset, idx.default_sample_duration).unwrap();
            assert!(
                frag.samples[0].is_sync,
                "fragment {i} of {} starts with a key frame",
                r.name
            );
            assert_eq!(
                frag.samples.iter().filter(|s| s.is_sync).count(),
                1,
                "one key frame per GOP"
            );
            assert_eq!(frag.samples.len(), if i < 4 { 60 } else { 30 });
            assert!(
                frag.samples
                    .iter()
                    .all(|s| u64::from(s.duration) * 30 == ts),
                "constant 30 fps"
            );
            assert_eq!(frag.first_sample_end(), Some(u64::from(r.keyframe_ends[i])));
            let end = frag
                .samples
                .last()
                .map(|s| s.offset + u64::from(s.size))
                .unwrap();
            assert_eq!(end, u64::from(f.size), "samples fill the fragment exactly");
        }
        assert_eq!(head.init.len() as u64, idx.init.end);
        starts.push(
            idx.fragments
                .iter()
                .map(|f| f.time * 1000 / ts)
                .collect::<Vec<_>>(),
        );
        assert!(r.peak_bit_rate >= r.average_bit_rate);
    }
    assert!(
        starts.windows(2).all(|w| w[0] == w[1]),
        "key frames aligned: {starts:?}"
    );

    // The picture track: 180 lines, a key frame every 0.2 s (6 frames at 30 fps), never a
    // rendition.
    let pictures = m
        .picture_track
        .as_ref()
        .expect("a picture track below 360p");
    assert_eq!(
        (pictures.name.as_str(), pictures.width, pictures.height),
        ("180p", 320, 180)
    );
    assert_eq!(pictures.path, "pictures/180p.mp4");
    assert!(m.rendition("180p").is_none());
    assert!(done.files.iter().any(|f| f.relative == pictures.path));
    let head = rt
        .block_on(reader.track_head("ladder", &pictures.path))
        .unwrap();
    let ts = u64::from(head.index.timescale);
    assert_eq!(head.index.fragments.len(), 45);
    assert_eq!(pictures.keyframe_ends.len(), 45);
    for (i, f) in head.index.fragments.iter().enumerate() {
        assert_eq!(
            f.time * 5,
            i as u64 * ts,
            "fragment {i} starts at {i} x 0.2 s"
        );
        let bytes = rt
            .block_on(reader.read_range("ladder", &pictures.path, f.range(), &head.version))
            .unwrap();
        let frag = parse_fragment(&bytes, f.offset, head.index.default_sample_duration).unwrap();
        assert!(frag.samples[0].is_sync);
        assert_eq!(frag.samples.len(), 6);
    }

    let audio = rt
        .block_on(reader.track_head("ladder", &m.audio[0].path))
        .unwrap();
    assert_eq!(
        audio.index.kind,
        TrackKind::Audio {
            channels: 2,
            sample_rate: 48_000
        }
    );
    let ts = f64::from(audio.index.timescale);
    for (i, f) in audio.index.fragments.iter().enumerate() {
        let start = f.time as f64 / ts;
        let video_start = 2.0 * i as f64;
        assert!(
            (start - video_start).abs() <= 1024.0 / 48_000.0 + 1e-9,
            "audio fragment {i} starts at {start}, video at {video_start}"
        );
    }
}

#[test]
fn vfr_source_becomes_constant_frame_rate() {
    let dir = tempfile::tempdir().unwrap();
    // Drop frames at irregular times, keeping timestamps: a variable frame rate source.
    let src = make_source(
        dir.path(),
        "vfr.mkv",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=640x360:rate=30",
            "-t",
            "5",
            "-vf",
            "select='not(eq(mod(n\\,7)\\,3))*not(eq(mod(n\\,11)\\,5))'",
            "-fps_mode",
            "vfr",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
        ],
    );
    let done = transcode(&src, "vfr", &options(), &Silent).unwrap();
    let r = &done.manifest.renditions[0];
    assert_eq!(r.name, "360p");
    let fps = r.frame_rate.as_f64();
    assert!(
        (fps - 30.0).abs() < 1e-9 || (fps - 29.97).abs() < 0.01,
        "{fps}"
    );
    // Constant rate: the output has a frame for every slot of the 5 s.
    assert!(
        (done.frames as f64 - 5.0 * fps).abs() <= 2.0,
        "{} frames",
        done.frames
    );
}

#[test]
fn republishing_an_id_replaces_the_old_video() {
    let dir = tempfile::tempdir().unwrap();
    let big = make_source(
        dir.path(),
        "big.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=854x480:rate=25",
            "-t",
            "3",
        ],
    );
    let small = make_source(
        dir.path(),
        "small.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=640x360:rate=25",
            "-t",
            "3",
        ],
    );
    let store_dir = tempfile::tempdir().unwrap();
    let store = Store::open(store_dir.path().to_str().unwrap()).unwrap();
    let rt = runtime();
    let first = transcode(&big, "again", &options(), &Silent).unwrap();
    rt.block_on(publish(&store, &first.files, &first.manifest))
        .unwrap();
    assert!(store_dir
        .path()
        .join("videos/again/video/480p.mp4")
        .exists());
    let second = transcode(&small, "again", &options(), &Silent).unwrap();
    rt.block_on(publish(&store, &second.files, &second.manifest))
        .unwrap();
    let m = rt
        .block_on(MediaReader::new(store).manifest("again"))
        .unwrap();
    assert_eq!(m.renditions.len(), 1);
    assert!(
        !store_dir
            .path()
            .join("videos/again/video/480p.mp4")
            .exists(),
        "stale rung removed"
    );
    assert!(store_dir
        .path()
        .join("videos/again/video/360p.mp4")
        .exists());
}

/// The tone (Hz) of the audio in `path`, from ffmpeg's decode of it: zero crossings / 2 per s.
fn tone_of(path: &Path) -> f64 {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args([
            "-map", "0:a", "-f", "s16le", "-ac", "1", "-ar", "48000", "-",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let samples: Vec<i16> = out
        .stdout
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    let crossings = samples
        .windows(2)
        .filter(|w| (w[0] < 0) != (w[1] < 0))
        .count();
    crossings as f64 / 2.0 / (samples.len() as f64 / 48_000.0)
}

#[test]
fn every_audio_language_becomes_a_track_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    // French at 440 Hz, English at 880 Hz, and a second English stream (left out).
    let src = make_source(
        dir.path(),
        "src.mkv",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=640x360:rate=25",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=880:sample_rate=48000",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=1320:sample_rate=48000",
            "-map",
            "0:v",
            "-map",
            "1:a",
            "-map",
            "2:a",
            "-map",
            "3:a",
            "-t",
            "4",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-c:a",
            "aac",
            "-metadata:s:a:0",
            "language=fra",
            "-metadata:s:a:1",
            "language=eng",
            "-metadata:s:a:2",
            "language=eng",
        ],
    );
    let done = transcode(&src, "langs", &options(), &Silent).unwrap();
    let m = &done.manifest;
    let mut languages: Vec<_> = m.audio.iter().map(|a| a.language.as_str()).collect();
    languages.sort_unstable();
    assert_eq!(languages, ["eng", "fra"], "one track per language");
    for a in &m.audio {
        assert_eq!(a.name, a.language);
        assert_eq!(a.path, format!("audio/{}.mp4", a.language));
        let file = done
            .files
            .iter()
            .find(|f| f.relative == a.path)
            .expect("the track is published");
        let tone = tone_of(&file.local);
        let expected = if a.language == "fra" { 440.0 } else { 880.0 };
        assert!(
            (tone - expected).abs() < 10.0,
            "{}: {tone} Hz, not {expected}",
            a.language
        );
    }
    let probe = sunomi_origin::transcode::probe(&src).unwrap();
    assert_eq!(
        probe.audio_languages[0], m.audio[0].language,
        "the default first"
    );
    assert_eq!(probe.audio_languages.len(), 2);
}

/// The mean luma of a picture file, as FFmpeg's `signalstats` measures it (YAVG, 0–255).
fn mean_luma(path: &Path) -> f64 {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-f", "lavfi", "-i"])
        .arg(format!(
            "movie={},signalstats",
            path.to_str()
                .unwrap()
                .replace('\\', "\\\\")
                .replace(':', "\\:")
        ))
        .args([
            "-show_entries",
            "frame_tags=lavfi.signalstats.YAVG",
            "-of",
            "csv=p=0",
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("no YAVG for {}", path.display()))
}

#[test]
fn the_poster_is_a_representative_frame_not_a_black_leader_or_a_flat_card() {
    let dir = tempfile::tempdir().unwrap();
    // 3 s of black, 1 s of a flat grey card, then 4 s of picture: the first third of the
    // video (where posters used to be taken) shows nothing.
    let src = make_source(
        dir.path(),
        "leader.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "color=c=black:size=640x360:rate=25:duration=3",
            "-f",
            "lavfi",
            "-i",
            "color=c=gray:size=640x360:rate=25:duration=1",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=640x360:rate=25:duration=4",
            "-filter_complex",
            "[0:v][1:v][2:v]concat=n=3:v=1:a=0[v]",
            "-map",
            "[v]",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
        ],
    );
    let done = transcode(&src, "leader", &options(), &Silent).unwrap();
    let poster_ms = done
        .manifest
        .poster_ms
        .expect("the manifest names the poster's time");
    assert!(
        (4_000..8_000).contains(&poster_ms),
        "the poster is taken from the picture, not the leader or the card: {poster_ms} ms"
    );
    let poster = done
        .files
        .iter()
        .find(|f| f.relative == "poster.jpg")
        .expect("a poster is published");
    let luma = mean_luma(&poster.local);
    assert!(luma > 40.0, "the poster is not dark: mean luma {luma}");
    // The same frame as the source shows at that time (within a JPEG's loss).
    let reference = dir.path().join("ref.png");
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-ss"])
        .arg(format!("{}.{:03}", poster_ms / 1000, poster_ms % 1000))
        .arg("-i")
        .arg(&src)
        .args(["-frames:v", "1"])
        .arg(&reference)
        .status()
        .unwrap();
    assert!(status.success());
    assert!((mean_luma(&reference) - luma).abs() < 3.0);
}
