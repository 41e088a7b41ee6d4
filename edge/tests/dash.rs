//! DASH from the same CMAF as HLS: the MPD is valid against the MPEG-DASH schema, names
//! exactly the init and media segments the HLS fMP4 playlists name (so one cached segment
//! serves both), with the same codecs and bit rates, filters and clips; ffmpeg's DASH
//! demuxer reads and decodes it.

mod common;

use std::path::Path;

use common::*;

/// Publishes an 8 s 720p clip with English and French audio and English subtitles as `id`.
fn publish(dir: &Path, id: &str) -> Edge {
    let src = hd_clip_with_two_audio_tracks(dir, 8);
    let store = dir.join("store");
    transcode(&src, id, store.to_str().unwrap(), &[]);
    let subs = store.join(format!("videos/{id}/subs"));
    std::fs::create_dir_all(&subs).unwrap();
    std::fs::write(
        subs.join("en.vtt"),
        "WEBVTT\n\n00:00:01.000 --> 00:00:03.000\nFirst\n",
    )
    .unwrap();
    Edge::start(
        store.to_str().unwrap(),
        &["--segment-target-ms", "2000"],
        &[],
    )
}

/// One Representation of an MPD, with its segment URLs expanded from its template.
#[derive(Debug)]
struct Rep {
    id: String,
    content_type: String,
    /// The id of the AdaptationSet whose trick-play pictures this set holds (DASH-IF's
    /// `trickmode` EssentialProperty), if it is one.
    trick_of: Option<String>,
    /// Its AdaptationSet's id.
    set: String,
    bandwidth: u64,
    codecs: String,
    init: String,
    media: Vec<String>,
    /// Seconds of media the timeline holds.
    seconds: f64,
}

const DASH: &str = "urn:mpeg:dash:schema:mpd:2011";

fn representations<'t>(mpd_url: &str, text: &'t str) -> (roxmltree::Document<'t>, Vec<Rep>) {
    let doc = roxmltree::Document::parse(text).expect("the MPD is XML");
    let mut reps = Vec::new();
    for set in doc
        .descendants()
        .filter(|n| n.has_tag_name((DASH, "AdaptationSet")))
    {
        let content_type = set.attribute("contentType").unwrap_or("").to_string();
        let trick_of = set
            .children()
            .find(|n| {
                n.has_tag_name((DASH, "EssentialProperty"))
                    && n.attribute("schemeIdUri") == Some("http://dashif.org/guidelines/trickmode")
            })
            .and_then(|n| n.attribute("value"))
            .map(str::to_string);
        let set_id = set.attribute("id").unwrap_or("").to_string();
        for rep in set
            .children()
            .filter(|n| n.has_tag_name((DASH, "Representation")))
        {
            let id = rep.attribute("id").unwrap().to_string();
            let Some(t) = rep
                .children()
                .find(|n| n.has_tag_name((DASH, "SegmentTemplate")))
            else {
                continue;
            };
            let timescale: f64 = t.attribute("timescale").unwrap().parse().unwrap();
            let start: u64 = t.attribute("startNumber").unwrap().parse().unwrap();
            let pto: u64 = t
                .attribute("presentationTimeOffset")
                .unwrap()
                .parse()
                .unwrap();
            let media = t.attribute("media").unwrap();
            let (mut number, mut next_t, mut total) = (start, None::<u64>, 0u64);
            let mut urls = Vec::new();
            for s in t.descendants().filter(|n| n.has_tag_name((DASH, "S"))) {
                let d: u64 = s.attribute("d").unwrap().parse().unwrap();
                let at: u64 = s
                    .attribute("t")
                    .map(|t| t.parse().unwrap())
                    .or(next_t)
                    .unwrap();
                if next_t.is_none() {
                    assert_eq!(at, pto, "{id}: the first segment starts at the offset");
                }
                let r: u64 = s.attribute("r").map_or(0, |r| r.parse().unwrap());
                for i in 0..=r {
                    urls.push(resolve(
                        mpd_url,
                        &media.replace("$Number$", &number.to_string()),
                    ));
                    number += 1;
                    total += d;
                    next_t = Some(at + d * (i + 1));
                }
            }
            reps.push(Rep {
                id,
                content_type: content_type.clone(),
                trick_of: trick_of.clone(),
                set: set_id.clone(),
                bandwidth: rep.attribute("bandwidth").unwrap().parse().unwrap(),
                codecs: rep.attribute("codecs").unwrap().to_string(),
                init: resolve(mpd_url, t.attribute("initialization").unwrap()),
                media: urls,
                seconds: total as f64 / timescale,
            });
        }
    }
    (doc, reps)
}

/// The segment URLs and init URL of an HLS media playlist, resolved, and its length.
fn hls_track(url: &str) -> (String, Vec<String>, f64) {
    let p = m3u8_rs::parse_media_playlist_res(&get_ok(url)).unwrap();
    let init = p.segments[0].map.as_ref().unwrap().uri.clone();
    (
        resolve(url, &init),
        p.segments.iter().map(|s| resolve(url, &s.uri)).collect(),
        p.segments.iter().map(|s| f64::from(s.duration)).sum(),
    )
}

/// Decodes the video and audio of `url` with ffmpeg (nothing may be printed at level
/// error; the text streams have no decoder to the null muxer) and returns its duration.
fn decodes(url: &str) -> f64 {
    let (ok, _, err) = run(
        "ffmpeg",
        &[
            "-v", "error", "-i", url, "-map", "0:v", "-map", "0:a", "-f", "null", "-",
        ],
    );
    assert!(ok && err.trim().is_empty(), "ffmpeg on {url}: {err}");
    probed_duration(url)
}

#[test]
fn the_mpd_names_the_hls_segments_with_their_codecs_and_bit_rates_and_ffmpeg_decodes_it() {
    let dir = tempfile::tempdir().unwrap();
    let edge = publish(dir.path(), "dash");
    let url = edge.url("/v/dash/manifest.mpd");
    let r = get(&url);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/dash+xml"));
    let text = r.text();
    mpd_schema_valid(dir.path(), &text);
    let (doc, reps) = representations(&url, &text);
    let root = doc.root_element();
    assert_eq!(root.attribute("type"), Some("static"));
    assert!(root
        .attribute("profiles")
        .unwrap()
        .contains("urn:mpeg:dash:profile:isoff-live:2011"));

    let master_url = edge.url("/v/dash/master.m3u8");
    let mut master = m3u8_rs::parse_master_playlist_res(&get_ok(&master_url)).unwrap();
    let iframe_playlists = master.variants.iter().filter(|v| v.is_i_frame).count();
    master.variants.retain(|v| !v.is_i_frame);
    let video: Vec<&Rep> = reps
        .iter()
        .filter(|r| r.content_type == "video" && r.trick_of.is_none())
        .collect();
    let trick: Vec<&Rep> = reps.iter().filter(|r| r.trick_of.is_some()).collect();
    let audio: Vec<&Rep> = reps.iter().filter(|r| r.content_type == "audio").collect();
    assert_eq!(video.len(), master.variants.len(), "{text}");
    assert_eq!(audio.len(), 2, "one set per language: {text}");
    // Each language's set: its `lang`, the default one `main` and the other `alternate`,
    // over the HLS audio rendition's init and segments.
    for (lang, role) in [("eng", "main"), ("fra", "alternate")] {
        let set = doc
            .descendants()
            .find(|n| {
                n.has_tag_name((DASH, "AdaptationSet"))
                    && n.attribute("contentType") == Some("audio")
                    && n.attribute("lang") == Some(lang)
            })
            .unwrap_or_else(|| panic!("no {lang} audio set: {text}"));
        let set_role = set
            .children()
            .find(|n| n.has_tag_name((DASH, "Role")))
            .and_then(|n| n.attribute("value"));
        assert_eq!(set_role, Some(role), "{lang}");
        let rep = audio
            .iter()
            .find(|r| r.set == set.attribute("id").unwrap())
            .unwrap();
        let (init, segments, seconds) =
            hls_track(&edge.url(&format!("/v/dash/audio/{lang}/media.m3u8")));
        assert_eq!(rep.init, init, "{lang}");
        assert_eq!(rep.media, segments, "{lang}: the same audio segments");
        assert!((rep.seconds - seconds).abs() < 0.01, "{lang}");
    }
    let loudest_audio = audio.iter().map(|a| a.bandwidth).max().unwrap();
    let subtitle_bandwidth: u64 = doc
        .descendants()
        .filter(|n| {
            n.has_tag_name((DASH, "AdaptationSet")) && n.attribute("contentType") == Some("text")
        })
        .flat_map(|set| {
            set.children()
                .filter(|n| n.has_tag_name((DASH, "Representation")))
        })
        .map(|r| r.attribute("bandwidth").unwrap().parse::<u64>().unwrap())
        .max()
        .expect("a subtitle representation");
    assert!(subtitle_bandwidth > 1, "measured from the pieces");
    for variant in &master.variants {
        let media_url = resolve(&master_url, &variant.uri);
        let name = variant.uri.split('/').next().unwrap();
        let rep = video
            .iter()
            .find(|r| r.id == name)
            .unwrap_or_else(|| panic!("no representation {name}: {text}"));
        let (init, segments, seconds) = hls_track(&media_url);
        assert_eq!(rep.init, init, "{name}: the same init segment");
        assert_eq!(rep.media, segments, "{name}: the same segments");
        assert!(
            (rep.seconds - seconds).abs() < 0.01,
            "{name}: {} vs {seconds}",
            rep.seconds
        );
        // HLS's BANDWIDTH is the largest sum over what may play together (RFC 8216
        // 4.3.4.2): the video's peak plus the larger audio's plus the subtitles'; DASH states
        // them apart.
        assert_eq!(
            rep.bandwidth + loudest_audio + subtitle_bandwidth,
            variant.bandwidth,
            "{name}"
        );
        let codecs = variant.codecs.as_deref().unwrap();
        assert!(
            codecs.contains(&rep.codecs),
            "{name}: {codecs} vs {}",
            rep.codecs
        );
        assert!(audio.iter().all(|a| codecs.contains(&a.codecs)));
    }
    // Trick play: a set pointing at the video set, a representation of key frames per
    // rendition HLS has an I-frame playlist for, over the same time and init segment.
    assert_eq!(trick.len(), iframe_playlists, "{text}");
    for t in &trick {
        assert_eq!(t.trick_of.as_deref(), Some(video[0].set.as_str()), "{text}");
        let name = t.id.strip_suffix("-trick").unwrap();
        let main = video.iter().find(|r| r.id == name).unwrap();
        assert_eq!(t.init, main.init, "{name}");
        assert!((t.seconds - main.seconds).abs() < 0.01, "{name}");
        let iframes = m3u8_rs::parse_media_playlist_res(&get_ok(
            &edge.url(&format!("/v/dash/{name}/iframes.m3u8")),
        ))
        .unwrap();
        assert_eq!(
            t.media.len(),
            iframes.segments.len(),
            "{name}: one per key frame"
        );
    }
    // Each of its segments is one picture: the first of the fragment it stands for.
    let t = trick[0];
    let main = video
        .iter()
        .find(|r| t.id == format!("{}-trick", r.id))
        .unwrap();
    let init = get_ok(&t.init);
    let mut reference = Vec::new();
    for (n, m) in main.media.iter().enumerate() {
        for (i, f) in fragments(&get_ok(m)).iter().enumerate() {
            let file = dir.path().join(format!("fragment-{n}-{i}.mp4"));
            std::fs::write(&file, [&init[..], f].concat()).unwrap();
            reference.push(picture_hashes(&[], file.to_str().unwrap())[0].clone());
        }
    }
    assert_eq!(t.media.len(), reference.len());
    for (i, m) in t.media.iter().enumerate() {
        let piece = get_ok(m);
        assert_eq!(&piece[4..8], b"moof", "{m}");
        let file = dir.path().join(format!("trick-{i}.mp4"));
        std::fs::write(&file, [&init[..], &piece[..]].concat()).unwrap();
        assert_eq!(
            picture_hashes(&[], file.to_str().unwrap()),
            vec![reference[i].clone()],
            "{m}"
        );
    }
    // Every segment answers, and it is the HLS segment (the same URL, the same bytes).
    for rep in &reps {
        assert_eq!(get(&rep.init).status, 200, "{}", rep.init);
        for m in &rep.media {
            let got = get(m);
            assert_eq!(got.status, 200, "{m}");
            assert_eq!(got.header("content-type"), Some("video/iso.segment"), "{m}");
        }
    }
    // The subtitles: a text set naming the sidecar WebVTT file.
    let text_set = doc
        .descendants()
        .find(|n| {
            n.has_tag_name((DASH, "AdaptationSet")) && n.attribute("contentType") == Some("text")
        })
        .expect("a text AdaptationSet");
    assert_eq!(text_set.attribute("lang"), Some("en"));
    let base = text_set
        .descendants()
        .find(|n| n.has_tag_name((DASH, "BaseURL")))
        .and_then(|n| n.text())
        .unwrap();
    let vtt = get(&resolve(&url, base));
    assert_eq!(vtt.status, 200);
    assert!(vtt.text().starts_with("WEBVTT"));

    // ffmpeg's DASH demuxer reads every representation and decodes them.
    let (ok, out, err) = run(
        "ffprobe",
        &[
            "-v",
            "error",
            "-show_entries",
            "stream=codec_type,width,height",
            "-of",
            "json",
            &url,
        ],
    );
    assert!(ok, "{err}");
    let probed: serde_json::Value = serde_json::from_str(&out).unwrap();
    let kinds: Vec<&str> = probed["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["codec_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "video").count(),
        video.len() + trick.len(),
        "{out}"
    );
    assert_eq!(kinds.iter().filter(|k| **k == "audio").count(), 2, "{out}");
    let seconds = decodes(&url);
    assert!((seconds - 8.0).abs() < 0.2, "ffprobe says {seconds} s");
}

#[test]
fn filters_and_clips_shape_the_mpd_as_they_shape_hls() {
    let dir = tempfile::tempdir().unwrap();
    let edge = publish(dir.path(), "clipped");
    // A clip: the segments the HLS clip holds, numbered and named as there;
    // the sidecar subtitles (in the video's own times) are left out of a clip that does not
    // start at 0.
    let url = edge.url("/v/clipped/manifest.mpd?start=3&end=7&max_height=480");
    let text = String::from_utf8(get_ok(&url)).unwrap();
    mpd_schema_valid(dir.path(), &text);
    let (doc, reps) = representations(&url, &text);
    let hls_master = edge.url("/v/clipped/master.m3u8?start=3&end=7&max_height=480");
    let mut master = m3u8_rs::parse_master_playlist_res(&get_ok(&hls_master)).unwrap();
    master.variants.retain(|v| !v.is_i_frame);
    let video: Vec<&Rep> = reps
        .iter()
        .filter(|r| r.content_type == "video" && r.trick_of.is_none())
        .collect();
    assert_eq!(video.len(), master.variants.len());
    assert!(
        video.iter().all(|r| r.id != "720p"),
        "max_height=480: {text}"
    );
    let (_, segments, seconds) = hls_track(&resolve(&hls_master, &master.variants[0].uri));
    let rep = video
        .iter()
        .find(|r| master.variants[0].uri.starts_with(&r.id))
        .unwrap();
    assert_eq!(
        rep.media, segments,
        "the clip's segments, their URLs as in HLS"
    );
    // The clip's trick play: the key frames of the segments it keeps, from the same offset.
    let trick = reps
        .iter()
        .find(|r| r.id == format!("{}-trick", rep.id))
        .expect("a trick-play representation");
    let iframes = m3u8_rs::parse_media_playlist_res(&get_ok(&resolve(
        &hls_master,
        &format!("{}/iframes.m3u8?start=3&end=7&max_height=480", rep.id),
    )))
    .unwrap();
    assert_eq!(trick.media.len(), iframes.segments.len(), "{text}");
    assert!((trick.seconds - seconds).abs() < 0.01, "{}", trick.seconds);
    assert!(!rep.media[0].ends_with("/0.m4s"), "starts past 0");
    let presented = doc
        .root_element()
        .attribute("mediaPresentationDuration")
        .unwrap();
    let presented: f64 = presented
        .trim_start_matches("PT")
        .trim_end_matches('S')
        .parse()
        .unwrap();
    assert!(
        (presented - seconds).abs() < 0.002,
        "{presented} vs {seconds}"
    );
    assert!(!text.contains("text/vtt"), "{text}");
    let played = decodes(&url);
    assert!((played - seconds).abs() < 0.2, "{played} vs {seconds}");

    // Filters that leave nothing are refused as in HLS; encrypted profiles have no MPD yet.
    assert_eq!(
        get(&edge.url("/v/clipped/manifest.mpd?max_height=10")).status,
        get(&edge.url("/v/clipped/master.m3u8?max_height=10")).status
    );
    assert_ne!(get(&edge.url("/v/clipped/aes/manifest.mpd")).status, 200);
    assert_eq!(get(&edge.url("/v/nothing/manifest.mpd")).status, 404);
}
