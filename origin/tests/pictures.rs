//! The picture service's drawing on real media (sources made by the FFmpeg CLI, transcoded
//! by the library): a worker keeps its decoder and scaling contexts from one picture to the
//! next (`pictures/kit.rs`), and no picture may depend on what the worker drew before it;
//! the service keeps each track's head by version (`pictures/sources.rs`), and a rewritten
//! or removed track is never drawn from what was kept.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use object_store::ObjectStoreExt;
use sunomi_origin::layout;
use sunomi_origin::pictures::{PictureError, PictureMaker};
use sunomi_origin::publish::publish;
use sunomi_origin::transcode::{transcode, Silent, TranscodeOptions};
use sunomi_origin::{MediaReader, ReadEvent, ReadObserver, Store};
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

/// A runtime of `threads` workers for the maker's reads.
fn runtime(threads: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .unwrap()
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
    let rt = runtime(1);
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

/// Counts storage requests.
#[derive(Default)]
struct Reads(AtomicUsize);

impl ReadObserver for Reads {
    fn observe(&self, _: ReadEvent) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

impl Reads {
    /// Requests since the last call.
    fn take(&self) -> usize {
        self.0.swap(0, Ordering::SeqCst)
    }
}

#[test]
fn a_cold_picture_reads_only_its_fragments_once_the_track_version_is_known() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(2);
    let store = Store::open("memory://").unwrap();
    video(dir.path(), &store, &rt, "clip", "1280x720");
    let reads = Arc::new(Reads::default());
    let reader = MediaReader::new(store.clone()).with_observer(reads.clone());
    let manifest = rt.block_on(reader.manifest("clip")).unwrap();
    let track = manifest.picture_track.clone().unwrap().path;
    // The version the edge planned against: the track's, from its own head read.
    let v1 = rt
        .block_on(reader.track_head("clip", &track))
        .unwrap()
        .version;
    let at = |t: f64| {
        spec(
            &rt,
            &reader,
            "clip",
            "thumbnail.jpg",
            &format!("time={t}&width=320"),
        )
    };
    let times = [0.4, 1.3, 2.2, 3.1];
    let specs: Vec<PictureSpec> = times.iter().map(|t| at(*t)).collect();
    let uncached: Vec<_> = specs
        .iter()
        .map(|s| {
            rt.block_on(
                PictureMaker::new(reader.clone(), 1, Duration::from_secs(30)).draw("clip", s, None),
            )
            .unwrap()
        })
        .collect();
    reads.take();

    // The first picture reads the manifest, the head and its fragment; the next ones only
    // their fragments, and draw the same pictures.
    let maker = PictureMaker::new(reader.clone(), 1, Duration::from_secs(30));
    assert_eq!(
        rt.block_on(maker.draw("clip", &specs[0], Some(&v1)))
            .unwrap(),
        uncached[0]
    );
    let first = reads.take();
    assert!(first >= 3, "manifest, head and fragment: {first} reads");
    for (s, picture) in specs.iter().zip(&uncached).skip(1) {
        assert_eq!(
            &rt.block_on(maker.draw("clip", s, Some(&v1))).unwrap(),
            picture
        );
        assert_eq!(reads.take(), 1, "one fragment read for {s:?}");
    }

    // Cold pictures asked at once of a new maker share one manifest and head read.
    let maker = Arc::new(PictureMaker::new(
        reader.clone(),
        1,
        Duration::from_secs(30),
    ));
    let drawn = rt.block_on(async {
        let tasks = specs.iter().map(|s| {
            let (maker, v1, s) = (maker.clone(), v1.clone(), s.clone());
            tokio::spawn(async move { maker.draw("clip", &s, Some(&v1)).await })
        });
        futures::future::join_all(tasks).await
    });
    for (d, picture) in drawn.into_iter().zip(&uncached) {
        assert_eq!(&d.unwrap().unwrap(), picture);
    }
    assert_eq!(
        reads.take(),
        first - 1 + specs.len(),
        "one head for four pictures"
    );

    // A version storage does not hold is refused, and not kept.
    for _ in 0..2 {
        let stale = rt.block_on(maker.draw("clip", &specs[1], Some("\"not-a-version\"")));
        assert!(matches!(stale, Err(PictureError::Changed(_))), "{stale:?}");
    }

    // The track is rewritten (same bytes, a new version): a picture planned against the
    // kept version is refused (the edge plans again), one planned against the new version is
    // drawn from a fresh head.
    let os = store.object_store();
    let key = store.path(&layout::video_key("clip", &track));
    let bytes = rt.block_on(async { os.get(&key).await.unwrap().bytes().await.unwrap() });
    rt.block_on(os.put(&key, bytes.into())).unwrap();
    let v2 = rt
        .block_on(reader.track_head("clip", &track))
        .unwrap()
        .version;
    assert_ne!(v1, v2);
    let old = rt.block_on(maker.draw("clip", &specs[2], Some(&v1)));
    assert!(matches!(old, Err(PictureError::Changed(_))), "{old:?}");
    assert_eq!(
        rt.block_on(maker.draw("clip", &specs[2], Some(&v2)))
            .unwrap(),
        uncached[2]
    );
    reads.take();
    assert_eq!(
        rt.block_on(maker.draw("clip", &specs[3], Some(&v2)))
            .unwrap(),
        uncached[3]
    );
    assert_eq!(reads.take(), 1, "the new version's head is kept");

    // The track is removed: its kept head does not draw it.
    rt.block_on(os.delete(&key)).unwrap();
    let gone = rt.block_on(maker.draw("clip", &specs[0], Some(&v2)));
    assert!(matches!(gone, Err(PictureError::NotFound(_))), "{gone:?}");
}

#[test]
fn a_kept_head_is_read_again_when_its_file_is_gone_though_its_version_lives_on() {
    // On a local store a version is the file's inode, time and size, so a hard link is the
    // same version under another name — as S3's MD5 entity tag is for the same bytes written
    // by a later transcode to another folder.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    std::fs::create_dir_all(&root).unwrap();
    let rt = runtime(1);
    let store = Store::open(root.to_str().unwrap()).unwrap();
    video(dir.path(), &store, &rt, "moved", "1280x720");
    let reader = MediaReader::new(store.clone());
    let mut manifest = rt.block_on(reader.manifest("moved")).unwrap();
    let old = manifest.picture_track.clone().unwrap().path;
    let version = rt
        .block_on(reader.track_head("moved", &old))
        .unwrap()
        .version;
    let maker = PictureMaker::new(reader.clone(), 1, Duration::from_secs(30));
    let first = spec(&rt, &reader, "moved", "thumbnail.jpg", "time=1.3&width=320");
    let second = spec(&rt, &reader, "moved", "thumbnail.jpg", "time=2.2&width=320");
    rt.block_on(maker.draw("moved", &first, Some(&version)))
        .unwrap();
    let expected = rt.block_on(maker.draw("moved", &second, None)).unwrap();

    // The manifest now names the same file under a new name; the old name is gone.
    let new = old.replace(".mp4", "-b.mp4");
    let file = |path: &str| root.join(layout::video_key("moved", path));
    std::fs::hard_link(file(&old), file(&new)).unwrap();
    manifest.picture_track.as_mut().unwrap().path = new.clone();
    rt.block_on(store.object_store().put(
        &store.path(&layout::video_key("moved", layout::MANIFEST)),
        manifest.to_json().into(),
    ))
    .unwrap();
    std::fs::remove_file(file(&old)).unwrap();
    let planned = rt
        .block_on(reader.track_head("moved", &new))
        .unwrap()
        .version;
    assert_eq!(planned, version, "one file, one version");

    // The edge planned against that version, which the kept head also has: the kept head's
    // file is not found, so the service reads the manifest and head again and draws.
    let drawn = rt.block_on(maker.draw("moved", &second, Some(&planned)));
    assert_eq!(drawn.unwrap(), expected);
}
