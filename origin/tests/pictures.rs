//! The picture service's drawing on real media (sources made by the FFmpeg CLI, transcoded
//! by the library): a worker keeps its decoder and scaling contexts from one picture to the
//! next (`pictures/kit.rs`), and no picture may depend on what the worker drew before it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use object_store::ObjectStoreExt;
use sunomi_origin::layout;
use sunomi_origin::pictures::{PictureError, PictureMaker};
use sunomi_origin::publish::publish;
use sunomi_origin::transcode::{transcode, Silent, TranscodeOptions};
use sunomi_origin::{MediaReader, Store};
use sunomi_packager::manifest::Manifest;
use sunomi_packager::picture::{resolve, PictureFile, PictureQuery, PictureSpec};

/// A `seconds` long test pattern of `size`, transcoded and published as `id`.
fn video(dir: &Path, store: &Store, rt: &tokio::runtime::Runtime, id: &str, size: &str) {
    let src: PathBuf = dir.join(format!("{id}.mp4"));
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("testsrc2=size={size}:rate=30"))
        .args(["-t", "4", "-c:v", "libx264", "-preset", "ultrafast"])
        .arg(&src)
        .status()
        .expect("ffmpeg must be installed (make test installs it)");
    assert!(status.success(), "ffmpeg failed making {id}");
    let options = TranscodeOptions {
        preset: "ultrafast".into(),
        ..Default::default()
    };
    let done = transcode(&src, id, &options, &Silent).unwrap();
    rt.block_on(publish(store, &done.files, &done.manifest))
        .unwrap();
}

/// The spec the edge would send for `file?query` of video `id`.
fn spec(
    rt: &tokio::runtime::Runtime,
    reader: &MediaReader,
    id: &str,
    file: &str,
    query: &str,
) -> PictureSpec {
    let manifest = rt.block_on(reader.manifest(id)).unwrap();
    let file = PictureFile::parse(file).unwrap();
    let query = PictureQuery::parse(file, query).unwrap();
    resolve(
        file,
        &query,
        &manifest.renditions,
        manifest.picture_track.as_ref(),
        (manifest.duration_secs * 1000.0) as u64,
        manifest.poster_ms.unwrap_or(0),
    )
    .unwrap()
}

#[test]
fn a_worker_draws_the_same_picture_whatever_it_drew_before() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let store = Store::open("memory://").unwrap();
    // Two sizes: two sets of H.264 parameters, so a kept decoder must be replaced.
    video(dir.path(), &store, &rt, "wide", "1280x720");
    video(dir.path(), &store, &rt, "small", "640x360");
    let reader = MediaReader::new(store.clone());

    let asks = [
        // From the picture track, straight into JPEG's format.
        ("wide", "thumbnail.jpg", "time=1.3&width=320"),
        // From the 360p rung, through RGB (padded).
        (
            "small",
            "thumbnail.png",
            "time=2.1&width=640&height=480&fit_mode=pad",
        ),
        // Every tile's key frame through one decoder.
        ("wide", "storyboard.jpg", ""),
        // A run of frames, each scaled.
        ("small", "animated.gif", "start=1&end=2&width=320&fps=10"),
        // Another size of the first track: another scaling context.
        ("wide", "thumbnail.webp", "time=3.9&width=640"),
    ];
    let specs: Vec<(&str, PictureSpec)> = asks
        .iter()
        .map(|(id, file, query)| (*id, spec(&rt, &reader, id, file, query)))
        .collect();
    let draw = |maker: &PictureMaker, (id, spec): &(&str, PictureSpec)| {
        rt.block_on(maker.draw(id, spec, None))
            .unwrap_or_else(|e| panic!("{id} {spec:?}: {e}"))
    };

    // Each picture drawn by a worker that has drawn nothing yet.
    let alone: Vec<_> = specs
        .iter()
        .map(|s| {
            draw(
                &PictureMaker::new(reader.clone(), 1, Duration::from_secs(30)),
                s,
            )
        })
        .collect();
    // The same pictures, twice over and in reverse order, by one worker that keeps its kit.
    let one = PictureMaker::new(reader.clone(), 1, Duration::from_secs(30));
    for round in 0..2 {
        for (n, s) in specs.iter().enumerate() {
            assert_eq!(draw(&one, s), alone[n], "round {round}: {:?}", asks[n]);
        }
        for (n, s) in specs.iter().enumerate().rev() {
            assert_eq!(
                draw(&one, s),
                alone[n],
                "round {round}, reversed: {:?}",
                asks[n]
            );
        }
    }

    // A picture that fails on the worker (a copy of the video whose picture track has every
    // sample zeroed: nothing decodes) drops that worker's kit; the next picture is the same.
    rt.block_on(broken_copy(&store, "wide", "broken"));
    let broken = spec(
        &rt,
        &reader,
        "broken",
        "thumbnail.jpg",
        "time=1.3&width=320",
    );
    assert_eq!(
        broken.rendition, specs[0].1.rendition,
        "drawn from the picture track"
    );
    let failed = rt.block_on(one.draw("broken", &broken, None));
    assert!(
        matches!(failed, Err(PictureError::Corrupt(_))),
        "{failed:?}"
    );
    assert_eq!(draw(&one, &specs[0]), alone[0]);
    assert_eq!(draw(&one, &specs[1]), alone[1]);
}

/// Video `to`: a copy of `from` whose picture track's `mdat` payloads are all zeros.
async fn broken_copy(store: &Store, from: &str, to: &str) {
    let os = store.object_store();
    let read = |key: String| async move {
        os.get(&store.path(&key))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
    };
    let mut manifest =
        Manifest::from_json(&read(layout::video_key(from, layout::MANIFEST)).await).unwrap();
    let picture_track = manifest.picture_track.clone().unwrap().path;
    for path in manifest.stored_paths() {
        let mut bytes = read(layout::video_key(from, path)).await.to_vec();
        if path == picture_track {
            let mut at = 0;
            while at + 8 <= bytes.len() {
                let size = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
                if &bytes[at + 4..at + 8] == b"mdat" {
                    bytes[at + 8..at + size].fill(0);
                }
                at += size;
            }
        }
        os.put(&store.path(&layout::video_key(to, path)), bytes.into())
            .await
            .unwrap();
    }
    manifest.id = to.into();
    os.put(
        &store.path(&layout::video_key(to, layout::MANIFEST)),
        manifest.to_json().into(),
    )
    .await
    .unwrap();
}
