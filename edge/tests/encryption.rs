//! Encrypted delivery judged by real tools: openssl decrypts every AES-128 segment back to the
//! clear bytes, ffmpeg plays the encrypted playlists, and key URLs refuse bad tokens.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;

use common::*;

const MASTER_KEY: &str = "000102030405060708090a0b0c0d0e0f";
const TOKEN_SECRET: &str = "0f0e0d0c0b0a09080706050403020100";

fn config(dir: &Path, name: &str, extra: &str) -> String {
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!(
            "[encryption]\nmaster_key = \"{MASTER_KEY}\"\ntoken_secret = \"{TOKEN_SECRET}\"\nclear_lead_segments = 1\nrequire = [\"locked\"]\n{extra}"
        ),
    )
    .unwrap();
    path.to_str().unwrap().to_string()
}

/// `sunomi-edge token`: the operator's way to sign a viewer's URL.
fn token(config: &str, id: &str, ttl: &str) -> String {
    let out = Command::new(binary("sunomi-edge"))
        .args(["--config", config, "token", "--id", id, "--ttl", ttl])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Publishes an 8 s clip as `enc` and the same media as `locked` (only served encrypted).
fn store(dir: &Path) -> String {
    let src = hd_clip_with_audio(dir, 8);
    let store = dir.join("store");
    transcode(&src, "enc", store.to_str().unwrap(), &[]);
    transcode(&src, "locked", store.to_str().unwrap(), &[]);
    store.to_str().unwrap().to_string()
}

fn openssl_decrypt(dir: &Path, key: &[u8], n: u64, data: &[u8]) -> Vec<u8> {
    openssl_decrypt_iv(dir, key, &format!("{n:032x}"), data)
}

/// AES-128-CBC decryption by openssl with `iv` (32 hex digits).
fn openssl_decrypt_iv(dir: &Path, key: &[u8], iv: &str, data: &[u8]) -> Vec<u8> {
    let input = dir.join(format!("enc-{iv}"));
    std::fs::write(&input, data).unwrap();
    let key_hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    let out = Command::new("openssl")
        .args(["aes-128-cbc", "-d", "-K", &key_hex, "-iv", iv, "-in"])
        .arg(&input)
        .output()
        .expect("openssl must be installed");
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn media(bytes: &[u8]) -> m3u8_rs::MediaPlaylist {
    m3u8_rs::parse_media_playlist_res(bytes).expect("valid media playlist")
}

#[test]
fn aes_128_segments_decrypt_to_the_clear_ones_and_play() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let cfg = config(dir.path(), "edge.toml", "");
    let edge = Edge::start(&store, &["--config", &cfg], &[]);
    let t = token(&cfg, "enc", "600");

    for (prefix, rendition) in [("", "720p"), ("ts/", "720p")] {
        let url = edge.url(&format!("/v/enc/aes/{prefix}{rendition}/media.m3u8?{t}"));
        let text = String::from_utf8(get_ok(&url)).unwrap();
        let playlist = media(text.as_bytes());
        assert!(
            text.contains("#EXT-X-KEY:METHOD=NONE"),
            "clear lead: {text}"
        );
        let mut key = None;
        for (n, s) in playlist.segments.iter().enumerate() {
            let n = n as u64;
            let enc = get_ok(&resolve(&url, &s.uri));
            let clear = get_ok(&edge.url(&format!("/v/enc/{prefix}{rendition}/{}", s.uri)));
            if n == 0 {
                assert_eq!(enc, clear, "segment 0 is the clear lead");
                continue;
            }
            let k = s.key.as_ref().expect("a key tag per encrypted segment");
            assert_eq!(k.method, m3u8_rs::KeyMethod::AES128);
            assert_eq!(k.iv.as_deref(), Some(format!("0x{n:032x}").as_str()));
            let key_url = resolve(&url, k.uri.as_deref().unwrap());
            let key_bytes = key.get_or_insert_with(|| {
                let r = get(&key_url);
                assert_eq!(r.status, 200);
                assert_eq!(r.header("Cache-Control"), Some("private, no-store"));
                r.body
            });
            assert_eq!(key_bytes.len(), 16);
            assert_ne!(enc, clear);
            assert_eq!(
                openssl_decrypt(dir.path(), key_bytes, n, &enc),
                clear,
                "segment {n}"
            );
        }
        let master = edge.url(&format!("/v/enc/aes/{prefix}master.m3u8?{t}"));
        let duration = decodes_cleanly(&master);
        assert!(
            (duration - 8.0).abs() < 0.2,
            "{prefix}: duration {duration}"
        );
    }
}

#[test]
fn key_urls_need_a_valid_unexpired_token() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let cfg = config(dir.path(), "edge.toml", "");
    let edge = Edge::start(&store, &["--config", &cfg], &[]);
    let good = token(&cfg, "enc", "600");
    let key = |q: &str| get(&edge.url(&format!("/v/enc/keys/k1.key{q}"))).status;
    assert_eq!(key(&format!("?{good}")), 200);
    assert_eq!(key(""), 403);
    assert_eq!(key("?exp=99999999999&sig=00"), 403);
    let other = token(&cfg, "locked", "600");
    assert_eq!(key(&format!("?{other}")), 403, "a token is for one video");
    let expired = token(&cfg, "enc", "0");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert_eq!(key(&format!("?{expired}")), 403, "expired");
    let r = get(&edge.url(&format!("/v/enc/keys/k1.key?{expired}")));
    assert!(r.text().contains("expired"), "{}", r.text());
    // A bad token on an encrypted playlist is refused at once, not at the key.
    assert_eq!(
        get(&edge.url("/v/enc/aes/master.m3u8?exp=1&sig=00")).status,
        403
    );
    // Unknown video: no key.
    let t = token(&cfg, "nosuch", "600");
    assert_eq!(
        get(&edge.url(&format!("/v/nosuch/keys/k1.key?{t}"))).status,
        404
    );

    // A video that must be encrypted is not served clear.
    assert_eq!(get(&edge.url("/v/locked/master.m3u8")).status, 403);
    assert_eq!(get(&edge.url("/v/locked/720p/1.m4s")).status, 403);
    assert_eq!(get(&edge.url("/v/locked/aes/master.m3u8")).status, 200);

    // Rotation: a new current key id; old ids still give their key.
    let rotated = config(dir.path(), "rotated.toml", "current_key_id = \"k2\"\n");
    let edge2 = Edge::start(&store, &["--config", &rotated], &[]);
    let text = String::from_utf8(get_ok(
        &edge2.url(&format!("/v/enc/aes/720p/media.m3u8?{good}")),
    ))
    .unwrap();
    assert!(text.contains("keys/k2.key"), "{text}");
    let k1 = get(&edge2.url(&format!("/v/enc/keys/k1.key?{good}")));
    assert_eq!(
        k1.body,
        get(&edge.url(&format!("/v/enc/keys/k1.key?{good}"))).body
    );
    assert_ne!(
        k1.body,
        get(&edge2.url(&format!("/v/enc/keys/k2.key?{good}"))).body
    );
}

/// A key service answering `GET /keys/{video}/{kid}` with a fixed hex key; counts requests.
fn key_service(key_hex: &'static str) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = hits.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 2048];
            let n = stream.read(&mut buf).unwrap_or(0);
            let request = String::from_utf8_lossy(&buf[..n]);
            let ok = request.starts_with("GET /keys/enc/k1 ");
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let (status, body) = if ok {
                ("200 OK", key_hex)
            } else {
                ("404 Not Found", "")
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (format!("http://{addr}/keys"), hits)
}

#[test]
fn keys_can_come_from_an_http_key_service() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let (url, hits) = key_service("a0a1a2a3a4a5a6a7a8a9aaabacadaeaf");
    let cfg = dir.path().join("http.toml");
    std::fs::write(
        &cfg,
        format!("[encryption]\nkey_source = \"http\"\nkey_service_url = \"{url}\"\ntoken_secret = \"{TOKEN_SECRET}\"\n"),
    )
    .unwrap();
    let cfg = cfg.to_str().unwrap().to_string();
    let edge = Edge::start(&store, &["--config", &cfg], &[]);
    let t = token(&cfg, "enc", "600");
    let key = get_ok(&edge.url(&format!("/v/enc/keys/k1.key?{t}")));
    assert_eq!(key, (0xa0u8..=0xaf).collect::<Vec<u8>>());
    let enc = get_ok(&edge.url("/v/enc/aes/720p/1.m4s"));
    let clear = get_ok(&edge.url("/v/enc/720p/1.m4s"));
    assert_eq!(openssl_decrypt(dir.path(), &key, 1, &enc), clear);
    // Cached: the service was asked once for all of that.
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1);
}

/// The PES payloads of `pid` in a transport stream.
fn pes_payloads(ts: &[u8], pid: u16) -> Vec<Vec<u8>> {
    let mut pes: Vec<Vec<u8>> = Vec::new();
    for p in ts.chunks(188) {
        if (u16::from(p[1] & 0x1f) << 8 | u16::from(p[2])) != pid || p[3] & 0x10 == 0 {
            continue;
        }
        let start = if p[3] & 0x20 != 0 {
            5 + usize::from(p[4])
        } else {
            4
        };
        if p[1] & 0x40 != 0 {
            pes.push(Vec::new());
        }
        if let Some(last) = pes.last_mut() {
            last.extend_from_slice(&p[start..]);
        }
    }
    pes.into_iter()
        .map(|p| p[9 + usize::from(p[8])..].to_vec())
        .collect()
}

/// NAL units of an Annex B access unit (the edge writes 4-byte start codes).
fn nal_units(au: &[u8]) -> Vec<Vec<u8>> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 4 <= au.len() {
        if au[i..i + 4] == [0, 0, 0, 1] {
            starts.push(i + 4);
            i += 4;
        } else {
            i += 1;
        }
    }
    starts
        .iter()
        .enumerate()
        .map(|(k, &s)| au[s..starts.get(k + 1).map_or(au.len(), |n| n - 4)].to_vec())
        .collect()
}

fn unescape(nal: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < nal.len() {
        if nal.len() - i >= 3 && nal[i..i + 3] == [0, 0, 3] {
            out.extend_from_slice(&[0, 0]);
            i += 3;
        } else {
            out.push(nal[i]);
            i += 1;
        }
    }
    out
}

/// A client's SAMPLE-AES decryption of one slice NAL unit (Apple's spec, as FFmpeg and
/// hls.js implement it: remove emulation prevention, decrypt), returning what the client
/// hands to its decoder.
fn decrypt_nal(key: &[u8], iv: &[u8; 16], nal: &[u8]) -> Vec<u8> {
    use aes::cipher::{BlockDecryptMut, KeyIvInit};
    // Only slices longer than 48 bytes are touched; everything else goes to the decoder as is.
    if !(nal[0] & 0x1f == 1 || nal[0] & 0x1f == 5) || nal.len() <= 48 {
        return nal.to_vec();
    }
    let mut data = unescape(nal);
    let mut d = cbc::Decryptor::<aes::Aes128>::new(key.into(), iv.into());
    let mut pos = 32;
    while pos < data.len() {
        if data.len() - pos > 16 {
            d.decrypt_block_mut((&mut data[pos..pos + 16]).into());
            pos += 16;
        }
        pos += (data.len() - pos).min(144);
    }
    data
}

#[test]
fn sample_aes_ts_decrypts_sample_by_sample_to_the_clear_stream() {
    use aes::cipher::{BlockDecryptMut, KeyIvInit};
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let cfg = config(dir.path(), "edge.toml", "");
    let edge = Edge::start(&store, &["--config", &cfg], &[]);
    let t = token(&cfg, "enc", "600");
    let url = edge.url(&format!("/v/enc/saes/ts/720p/media.m3u8?{t}"));
    let text = String::from_utf8(get_ok(&url)).unwrap();
    assert!(text.contains("METHOD=SAMPLE-AES"), "{text}");
    let playlist = media(text.as_bytes());
    let key = get_ok(&edge.url(&format!("/v/enc/keys/k1.key?{t}")));
    let mut slices = 0;
    let mut frames = 0;
    for (n, s) in playlist.segments.iter().enumerate().skip(1) {
        let iv: [u8; 16] = (n as u128).to_be_bytes();
        let enc = get_ok(&resolve(&url, &s.uri));
        let clear = get_ok(&edge.url(&format!("/v/enc/ts/720p/{}", s.uri)));
        // The PMT signals SAMPLE-AES: stream types 0xDB and 0xCF.
        assert!(enc[188..376].windows(3).any(|w| w == [0xdb, 0xe1, 0x00]));
        assert!(enc[188..376].windows(3).any(|w| w == [0xcf, 0xe1, 0x01]));
        let (ev, cv) = (pes_payloads(&enc, 0x100), pes_payloads(&clear, 0x100));
        assert_eq!(ev.len(), cv.len());
        for (e, c) in ev.iter().zip(&cv) {
            for (en, cn) in nal_units(e).iter().zip(nal_units(c)) {
                let decrypted = decrypt_nal(&key, &iv, en);
                if en != &cn {
                    slices += 1;
                }
                // Byte for byte the clear NAL unit, emulation prevention included: that is
                // what the decoder gets from hls.js and FFmpeg.
                if decrypted != cn {
                    let at = decrypted.iter().zip(&cn).position(|(a, b)| a != b);
                    panic!(
                        "segment {n}: a decrypted NAL unit differs: lengths {} (sent {}) vs {}, first difference at {at:?}, type {}",
                        decrypted.len(),
                        en.len(),
                        cn.len(),
                        cn[0] & 0x1f
                    );
                }
            }
        }
        let (ea, ca) = (
            pes_payloads(&enc, 0x101).concat(),
            pes_payloads(&clear, 0x101).concat(),
        );
        assert_eq!(ea.len(), ca.len());
        let mut at = 0;
        while at + 7 <= ea.len() {
            let len = (usize::from(ea[at + 3] & 3) << 11)
                | (usize::from(ea[at + 4]) << 3)
                | usize::from(ea[at + 5] >> 5);
            let mut frame = ea[at..at + len].to_vec();
            if len - 7 > 31 {
                let mut d = cbc::Decryptor::<aes::Aes128>::new(key[..].into(), (&iv).into());
                for b in 0..(len - 7 - 16) / 16 {
                    let o = 7 + 16 + b * 16;
                    d.decrypt_block_mut((&mut frame[o..o + 16]).into());
                }
            }
            assert_eq!(frame, ca[at..at + len], "segment {n} audio frame at {at}");
            frames += 1;
            at += len;
        }
    }
    assert!(
        slices >= 60,
        "every frame of segment 1 has an encrypted slice: {slices}"
    );
    assert!(frames > 80, "{frames} audio frames checked");
    // Byte-range mode is not served with SAMPLE-AES.
    assert_eq!(get(&edge.url("/v/enc/saes/br/master.m3u8")).status, 400);
}

/// ffmpeg's frame hashes of `init + fragment` (decrypted with `key` when given).
fn frame_hashes(dir: &Path, name: &str, init: &[u8], fragment: &[u8], key: Option<&str>) -> String {
    let file = dir.join(name);
    std::fs::write(&file, [init, fragment].concat()).unwrap();
    let mut args = vec!["-v", "error"];
    if let Some(k) = key {
        args.extend(["-decryption_key", k]);
    }
    let path = file.to_str().unwrap().to_string();
    args.extend(["-i", &path, "-map", "0:v", "-f", "framemd5", "-"]);
    let (ok, out, err) = run("ffmpeg", &args);
    assert!(ok && err.trim().is_empty(), "ffmpeg on {name}: {err}");
    out.lines()
        .filter(|l| !l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn sample_aes_fmp4_is_cbcs_that_ffmpeg_decrypts_frame_for_frame() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let cfg = config(dir.path(), "edge.toml", "");
    let edge = Edge::start(&store, &["--config", &cfg], &[]);
    let t = token(&cfg, "enc", "600");
    let url = edge.url(&format!("/v/enc/saes/720p/media.m3u8?{t}"));
    let text = String::from_utf8(get_ok(&url)).unwrap();
    let playlist = media(text.as_bytes());
    let keys: Vec<_> = playlist
        .segments
        .iter()
        .filter_map(|s| s.key.as_ref())
        .collect();
    assert_eq!(
        keys.len(),
        playlist.segments.len(),
        "every segment keyed (no clear lead in cbcs)"
    );
    assert!(keys
        .iter()
        .all(|k| k.method == m3u8_rs::KeyMethod::SampleAES));
    assert!(
        keys.windows(2).all(|w| w[0].iv == w[1].iv),
        "the constant IV of tenc"
    );
    let key: String = get_ok(&edge.url(&format!("/v/enc/keys/k1.key?{t}")))
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();

    let enc_init = get_ok(&edge.url("/v/enc/saes/720p/init.mp4"));
    let clear_init = get_ok(&edge.url("/v/enc/720p/init.mp4"));
    for needle in [&b"encv"[..], b"sinf", b"frma", b"cbcs", b"tenc"] {
        assert!(
            enc_init.windows(4).any(|w| w == needle),
            "init lacks {needle:?}"
        );
    }
    let mut checked = 0;
    for s in &playlist.segments {
        let enc = get_ok(&resolve(&url, &s.uri));
        let clear = get_ok(&edge.url(&format!("/v/enc/720p/{}", s.uri)));
        assert_ne!(enc, clear);
        assert!(enc.windows(4).any(|w| w == b"senc") && enc.windows(4).any(|w| w == b"saio"));
        // FFmpeg applies the encryption map of the fragment it parsed last, so each fragment
        // is judged on its own, behind its init segment.
        for (i, (e, c)) in fragments(&enc).iter().zip(fragments(&clear)).enumerate() {
            let decrypted =
                frame_hashes(dir.path(), &format!("e{i}.mp4"), &enc_init, e, Some(&key));
            let reference = frame_hashes(dir.path(), &format!("c{i}.mp4"), &clear_init, &c, None);
            assert_eq!(decrypted, reference, "{} fragment {i}", s.uri);
            assert!(!decrypted.is_empty());
            checked += 1;
        }
    }
    assert_eq!(checked, 4, "four 2 s fragments");
    // Audio stays clear in fMP4 SAMPLE-AES.
    let audio = String::from_utf8(get_ok(
        &edge.url(&format!("/v/enc/saes/audio/und/media.m3u8?{t}")),
    ))
    .unwrap();
    assert!(!audio.contains("EXT-X-KEY"), "{audio}");
    assert_eq!(
        get_ok(&edge.url("/v/enc/saes/audio/und/0.m4s")),
        get_ok(&edge.url("/v/enc/audio/und/0.m4s"))
    );
}

/// Apple's rule for trick play in every profile: the AES-128 (CMAF and TS) and SAMPLE-AES
/// (`cbcs` fMP4 and TS) masters list an I-frame playlist per rendition. Each entry is a key
/// frame as a resource of its own under its `EXT-X-KEY`; openssl decrypts the AES-128 ones
/// to the clear piece, ffmpeg decrypts the `cbcs` ones with the key, ffmpeg's HLS client
/// plays the AES-128 and SAMPLE-AES TS playlists themselves, and every picture is the key
/// frame of the clear fragment it stands for.
#[test]
fn encrypted_masters_list_i_frame_playlists_whose_key_frames_decrypt_to_the_clear_ones() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let cfg = config(dir.path(), "edge.toml", "");
    let edge = Edge::start(&store, &["--config", &cfg], &[]);
    let t = token(&cfg, "enc", "600");
    let key_bytes = get_ok(&edge.url(&format!("/v/enc/keys/k1.key?{t}")));
    let key_hex = hex::encode(&key_bytes);

    // The reference: the first picture of every clear fragment of 720p, in order.
    let clear_init = get_ok(&edge.url("/v/enc/720p/init.mp4"));
    let clear_media = media(&get_ok(&edge.url("/v/enc/720p/media.m3u8")));
    let mut reference = Vec::new();
    for s in &clear_media.segments {
        let clear = get_ok(&edge.url(&format!("/v/enc/720p/{}", s.uri)));
        for (i, f) in fragments(&clear).iter().enumerate() {
            let file = dir.path().join(format!("ref-{}-{i}.mp4", s.uri));
            std::fs::write(&file, [&clear_init[..], f].concat()).unwrap();
            let pictures = picture_hashes(&[], file.to_str().unwrap());
            reference.push(pictures[0].clone());
        }
    }
    assert_eq!(reference.len(), 4, "four 2 s fragments");
    let clear_master =
        m3u8_rs::parse_master_playlist_res(&get_ok(&edge.url("/v/enc/master.m3u8"))).unwrap();
    let renditions = clear_master
        .variants
        .iter()
        .filter(|v| v.is_i_frame)
        .count();
    assert!(renditions >= 2, "the ladder has I-frame playlists");

    for (protection, prefix) in [("aes", ""), ("aes", "ts/"), ("saes", ""), ("saes", "ts/")] {
        let what = format!("{protection}/{prefix}");
        let master_url = edge.url(&format!("/v/enc/{protection}/{prefix}master.m3u8?{t}"));
        let master = m3u8_rs::parse_master_playlist_res(&get_ok(&master_url)).unwrap();
        let iframe_variants: Vec<_> = master.variants.iter().filter(|v| v.is_i_frame).collect();
        assert_eq!(
            iframe_variants.len(),
            renditions,
            "{what}: one per rendition"
        );
        let v = iframe_variants
            .iter()
            .find(|v| v.uri.starts_with("720p/"))
            .expect("720p's I-frame playlist");
        let url = resolve(&master_url, &v.uri);
        let text = String::from_utf8(get_ok(&url)).unwrap();
        assert!(text.contains("#EXT-X-I-FRAMES-ONLY"), "{what}: {text}");
        let playlist = media(text.as_bytes());
        assert!(playlist.i_frames_only);
        assert_eq!(playlist.segments.len(), reference.len(), "{what}: {text}");
        let ts = prefix == "ts/";
        let ext = if ts { "ts" } else { "m4s" };
        let enc_init = (!ts).then(|| {
            let map = playlist.segments[0].map.as_ref().expect("EXT-X-MAP");
            get_ok(&resolve(&url, &map.uri))
        });
        for (n, s) in playlist.segments.iter().enumerate() {
            let at = format!("{what} I-frame {n}");
            assert_eq!(s.uri, format!("iframes/{n}.{ext}"), "{at}");
            assert!(s.byte_range.is_none(), "{at}: a resource of its own");
            assert!(
                (s.duration - 2.0).abs() < 0.05,
                "{at}: lasts until the next key frame, {}",
                s.duration
            );
            let k = s
                .key
                .as_ref()
                .expect("every I-frame is keyed: no clear lead");
            assert_eq!(
                k.method,
                if protection == "aes" {
                    m3u8_rs::KeyMethod::AES128
                } else {
                    m3u8_rs::KeyMethod::SampleAES
                },
                "{at}"
            );
            assert_eq!(get_ok(&resolve(&url, k.uri.as_deref().unwrap())), key_bytes);
            let iv =
                k.iv.as_deref()
                    .unwrap()
                    .trim_start_matches("0x")
                    .to_string();
            let enc = get_ok(&resolve(&url, &s.uri));
            let clear = get_ok(&edge.url(&format!("/v/enc/{prefix}720p/iframes/{n}.{ext}")));
            assert_ne!(enc, clear, "{at}");
            if protection == "aes" {
                assert_eq!(
                    openssl_decrypt_iv(dir.path(), &key_bytes, &iv, &enc),
                    clear,
                    "{at}"
                );
            }
            if ts {
                assert_eq!(clear[0], 0x47, "{at}: TS, PAT and PMT first");
                if protection == "saes" {
                    // The PMT signals SAMPLE-AES H.264, and every NAL unit decrypts (Apple's
                    // rules, as a client applies them) to the clear piece's.
                    assert!(enc[188..376].windows(3).any(|w| w == [0xdb, 0xe1, 0x00]));
                    let iv: [u8; 16] = hex::decode(&iv).unwrap().try_into().unwrap();
                    let (ev, cv) = (pes_payloads(&enc, 0x100), pes_payloads(&clear, 0x100));
                    assert_eq!((ev.len(), cv.len()), (1, 1), "{at}: one picture");
                    let (en, cn) = (nal_units(&ev[0]), nal_units(&cv[0]));
                    assert_eq!(en.len(), cn.len());
                    assert!(en.iter().zip(&cn).any(|(e, c)| e != c), "{at}: encrypted");
                    for (e, c) in en.iter().zip(&cn) {
                        assert_eq!(&decrypt_nal(&key_bytes, &iv, e), c, "{at}");
                    }
                }
                let file = dir.path().join(format!("{protection}-{n}.ts"));
                std::fs::write(&file, &clear).unwrap();
                let pictures = picture_hashes(&[], file.to_str().unwrap());
                assert_eq!(pictures, vec![reference[n].clone()], "{at}: the key frame");
                continue;
            }
            assert_eq!(&clear[4..8], b"moof", "{at}: starts at a moof");
            let pictures = if protection == "saes" {
                assert_eq!(&enc[4..8], b"moof", "{at}: starts at a moof");
                assert!(enc.windows(4).any(|w| w == b"senc"), "{at}");
                let file = dir.path().join(format!("cbcs-{n}.mp4"));
                std::fs::write(&file, [enc_init.as_deref().unwrap(), &enc].concat()).unwrap();
                picture_hashes(&["-decryption_key", &key_hex], file.to_str().unwrap())
            } else {
                let file = dir.path().join(format!("aes-{n}.mp4"));
                std::fs::write(&file, [enc_init.as_deref().unwrap(), &clear].concat()).unwrap();
                picture_hashes(&[], file.to_str().unwrap())
            };
            assert_eq!(
                pictures,
                vec![reference[n].clone()],
                "{at}: one picture, the key frame"
            );
        }
        // An independent HLS client plays the AES-128 I-frame playlists (the key fetched
        // with the token the playlist copied into its URI): the key frames, decrypted, in
        // order. FFmpeg's HLS client cannot judge the SAMPLE-AES ones: it does not decrypt
        // SAMPLE-AES fMP4, and a one-picture TS segment's only packet leaves its demuxer
        // after the segment has ended, when FFmpeg no longer decrypts it (checked by hand:
        // the same broken picture whatever the IV). Both are judged piece by piece above.
        if protection == "aes" {
            assert_eq!(
                picture_hashes(&["-allowed_extensions", "ALL"], &url),
                reference,
                "{what}: ffmpeg plays the I-frame playlist"
            );
        }
    }
    // Byte-range mode has no key-frame resources: its encrypted masters list none.
    let br =
        String::from_utf8(get_ok(&edge.url(&format!("/v/enc/aes/br/master.m3u8?{t}")))).unwrap();
    assert!(!br.contains("I-FRAME"), "{br}");
    assert_eq!(get(&edge.url("/v/enc/aes/720p/iframes/99.m4s")).status, 404);
}

const CENC_NS: &str = "urn:mpeg:cenc:2013";
const MPD_NS: &str = "urn:mpeg:dash:schema:mpd:2011";

/// The key id of the first `tenc` box in `init`, with the scheme its `schm` names and the
/// per-sample IV size.
fn tenc(init: &[u8]) -> (String, u8, [u8; 16]) {
    let at = |name: &[u8]| init.windows(4).position(|w| w == name).unwrap();
    let schm = at(b"schm");
    let scheme = String::from_utf8(init[schm + 8..schm + 12].to_vec()).unwrap();
    let t = at(b"tenc");
    let iv_size = init[t + 11];
    (scheme, iv_size, init[t + 12..t + 28].try_into().unwrap())
}

/// A key id written as a UUID, as bytes.
fn uuid_bytes(uuid: &str) -> [u8; 16] {
    hex::decode(uuid.replace('-', ""))
        .unwrap()
        .try_into()
        .unwrap()
}

/// DASH under Common Encryption: `cenc/manifest.mpd` and `saes/manifest.mpd` (`cbcs`) are
/// schema-valid and put on every video set the scheme, the key id the init's `tenc` and
/// common `pssh` carry, and the ClearKey licence's absolute URL (from the edge's
/// `public_url`; none without it); a W3C ClearKey licence request POSTed there with the token
/// gets that key id's key, with which FFmpeg decrypts every fragment of the MPD's segments
/// to the clear pictures. `cbcs`'s key is HLS's; `cenc` has
/// its own. Licences refuse a missing token, GET, non-JSON, unknown key ids, big bodies.
#[test]
fn protected_mpds_name_their_key_ids_and_a_clearkey_licence_that_decrypts_them() {
    use base64::Engine as _;
    let b64url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let public = "https://cdn.example.test";
    let cfg = config(
        dir.path(),
        "edge.toml",
        &format!("public_url = \"{public}\"\n"),
    );
    let edge = Edge::start(&store, &["--config", &cfg], &[]);
    let t = token(&cfg, "enc", "600");
    let content_key = get_ok(&edge.url(&format!("/v/enc/keys/k1.key?{t}")));
    let clear_init = get_ok(&edge.url("/v/enc/720p/init.mp4"));
    let mut kids = Vec::new();

    for (profile, scheme) in [("cenc", "cenc"), ("saes", "cbcs")] {
        let url = edge.url(&format!("/v/enc/{profile}/manifest.mpd?{t}"));
        let r = get(&url);
        assert_eq!(r.status, 200, "{profile}: {}", r.text());
        let text = r.text();
        mpd_schema_valid(dir.path(), &text);
        let doc = roxmltree::Document::parse(&text).unwrap();
        let mut licence = None;
        let mut kid = None;
        for set in doc
            .descendants()
            .filter(|n| n.has_tag_name((MPD_NS, "AdaptationSet")))
        {
            let protections: Vec<_> = set
                .children()
                .filter(|n| n.has_tag_name((MPD_NS, "ContentProtection")))
                .collect();
            if set.attribute("contentType") != Some("video") {
                assert!(
                    protections.is_empty(),
                    "{profile}: audio and text stay clear"
                );
                continue;
            }
            let scheme_of = |uri: &str| {
                protections
                    .iter()
                    .find(|p| p.attribute("schemeIdUri") == Some(uri))
                    .unwrap_or_else(|| panic!("{profile}: no {uri} in {text}"))
            };
            let mp4 = scheme_of("urn:mpeg:dash:mp4protection:2011");
            assert_eq!(mp4.attribute("value"), Some(scheme));
            let default_kid = uuid_bytes(mp4.attribute((CENC_NS, "default_KID")).unwrap());
            assert_eq!(*kid.get_or_insert(default_kid), default_kid, "one key id");
            let laurl = scheme_of("urn:uuid:e2719d58-a985-b3c9-781a-b030af78d30e")
                .descendants()
                .find(|n| n.tag_name().name() == "Laurl")
                .and_then(|n| n.text())
                .unwrap()
                .to_string();
            licence.get_or_insert(laurl);
        }
        let kid = kid.expect("a protected video set");
        kids.push(kid);
        // The public URL of the video's licence, with the MPD's token; asked of this edge.
        assert_eq!(
            licence.as_deref(),
            Some(format!("{public}/v/enc/keys/clearkey?{t}").as_str())
        );
        let licence = edge.url(&format!("/v/enc/keys/clearkey?{t}"));

        // Every video init segment's tenc carries the MPD's key id.
        let init = get_ok(&edge.url(&format!("/v/enc/{profile}/720p/init.mp4")));
        let (schm, iv_size, tenc_kid) = tenc(&init);
        assert_eq!(schm, scheme);
        assert_eq!(tenc_kid, kid, "{profile}: tenc and the MPD name one key");
        assert_eq!(iv_size, if scheme == "cenc" { 8 } else { 0 });
        // Its moov's common pssh (W3C's system id) lists that key id.
        let p = init.windows(4).position(|w| w == b"pssh").expect("a pssh");
        assert_eq!(
            init[p + 8..p + 24],
            [
                0x10, 0x77, 0xef, 0xec, 0xc0, 0xb2, 0x4d, 0x02, 0xac, 0xe3, 0x3c, 0x1e, 0x52, 0xe2,
                0xfb, 0x4b
            ]
        );
        assert_eq!(init[p + 24..p + 28], 1u32.to_be_bytes());
        assert_eq!(
            init[p + 28..p + 44],
            kid,
            "{profile}: the pssh lists the key id"
        );

        // The licence: EME's request in, a JSON Web Key set out.
        let request = format!(
            r#"{{"kids":["{}"],"type":"temporary"}}"#,
            b64url.encode(kid)
        );
        let r = post(&licence, "application/json", request.as_bytes());
        assert_eq!(r.status, 200, "{profile}: {}", r.text());
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.header("cache-control"), Some("private, no-store"));
        let answer: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(answer["type"], "temporary");
        let jwk = &answer["keys"][0];
        assert_eq!(jwk["kty"], "oct");
        assert_eq!(jwk["kid"].as_str().unwrap(), b64url.encode(kid));
        let key = b64url.decode(jwk["k"].as_str().unwrap()).unwrap();
        assert_eq!(key.len(), 16);
        if scheme == "cbcs" {
            assert_eq!(key, content_key, "cbcs is HLS SAMPLE-AES's key");
        } else {
            assert_ne!(key, content_key, "cenc has a key of its own");
        }
        let key_hex = hex::encode(&key);

        // FFmpeg decrypts every fragment of 720p's segments to the clear pictures.
        let mut checked = 0;
        for n in 0.. {
            let clear = get(&edge.url(&format!("/v/enc/720p/{n}.m4s")));
            if clear.status != 200 {
                break;
            }
            let enc = get_ok(&edge.url(&format!("/v/enc/{profile}/720p/{n}.m4s")));
            assert!(
                enc.windows(4).any(|w| w == b"senc"),
                "{profile} segment {n}"
            );
            for (i, (e, c)) in fragments(&enc)
                .iter()
                .zip(fragments(&clear.body))
                .enumerate()
            {
                let decrypted = frame_hashes(
                    dir.path(),
                    &format!("{profile}-{n}-{i}.mp4"),
                    &init,
                    e,
                    Some(&key_hex),
                );
                let reference =
                    frame_hashes(dir.path(), &format!("c-{n}-{i}.mp4"), &clear_init, &c, None);
                assert_eq!(decrypted, reference, "{profile} segment {n} fragment {i}");
                checked += 1;
            }
        }
        assert!(checked >= 4, "{profile}: {checked} fragments");
        // The trick-play pictures are protected the same way.
        let piece = get_ok(&edge.url(&format!("/v/enc/{profile}/720p/iframes/1.m4s")));
        let clear_piece = get_ok(&edge.url("/v/enc/720p/iframes/1.m4s"));
        assert_eq!(
            frame_hashes(dir.path(), "trick-e.mp4", &init, &piece, Some(&key_hex)),
            frame_hashes(dir.path(), "trick-c.mp4", &clear_init, &clear_piece, None),
            "{profile}"
        );

        // Refusals: no token, the wrong method, not a licence request, a key id of no key.
        let bare = licence.split('?').next().unwrap();
        assert_eq!(
            post(bare, "application/json", request.as_bytes()).status,
            403
        );
        assert_eq!(get(&licence).status, 405);
        assert_eq!(post(&licence, "application/json", b"kids").status, 400);
        let stranger = format!(r#"{{"kids":["{}"]}}"#, b64url.encode([0u8; 16]));
        assert_eq!(
            post(&licence, "application/json", stranger.as_bytes()).status,
            404
        );
        let big = vec![b' '; 16 * 1024 + 1];
        assert_eq!(post(&licence, "application/json", &big).status, 413);
    }
    assert_ne!(kids[0], kids[1], "cenc and cbcs have key ids of their own");
    // The licence answers both key ids at once.
    let both = format!(
        r#"{{"kids":["{}","{}"]}}"#,
        b64url.encode(kids[0]),
        b64url.encode(kids[1])
    );
    let r = post(
        &edge.url(&format!("/v/enc/keys/clearkey?{t}")),
        "application/json",
        both.as_bytes(),
    );
    let answer: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(answer["keys"].as_array().unwrap().len(), 2);
    // A POST is for licences only; whole-segment AES-128 has no MPD; cenc is DASH's only.
    assert_eq!(
        post(&edge.url("/v/enc/720p/0.m4s"), "text/plain", b"x").status,
        405
    );
    assert_eq!(
        get(&edge.url(&format!("/v/enc/aes/manifest.mpd?{t}"))).status,
        404
    );
    assert_eq!(get(&edge.url("/v/enc/cenc/master.m3u8")).status, 400);
    // An edge that does not know its public URL names no licence: players are told it.
    let quiet = config(dir.path(), "quiet.toml", "");
    let edge = Edge::start(&store, &["--config", &quiet], &[]);
    let text =
        String::from_utf8(get_ok(&edge.url(&format!("/v/enc/cenc/manifest.mpd?{t}")))).unwrap();
    mpd_schema_valid(dir.path(), &text);
    assert!(
        text.contains("e2719d58-a985-b3c9-781a-b030af78d30e"),
        "{text}"
    );
    assert!(!text.contains("Laurl"), "{text}");
}

/// `keyformat=clearkey`: the SAMPLE-AES fMP4 playlists name their key for EME's W3C
/// ClearKey (hls.js decrypts `cbcs` only through EME) — a data URI of the key id the init's
/// `tenc` carries, `KEYFORMAT="org.w3.clearkey"` — and the multivariant playlist passes the
/// choice on; the licence gives that key id the key the identity form's URL gives. Anywhere
/// else the parameter is refused.
#[test]
fn sample_aes_fmp4_playlists_name_their_key_for_clearkey_when_asked() {
    use base64::Engine as _;
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let cfg = config(dir.path(), "edge.toml", "");
    let edge = Edge::start(&store, &["--config", &cfg], &[]);
    let t = token(&cfg, "enc", "600");
    let master_url = edge.url(&format!("/v/enc/saes/master.m3u8?{t}&keyformat=clearkey"));
    let master = m3u8_rs::parse_master_playlist_res(&get_ok(&master_url)).unwrap();
    let uris: Vec<String> = master
        .variants
        .iter()
        .map(|v| v.uri.clone())
        .chain(master.alternatives.iter().filter_map(|a| a.uri.clone()))
        .collect();
    assert!(uris.len() >= 4, "{uris:?}");
    for uri in &uris {
        assert!(
            uri.contains("keyformat=clearkey") && uri.contains(&t),
            "{uri}"
        );
    }
    let (_, _, kid) = tenc(&get_ok(&edge.url("/v/enc/saes/720p/init.mp4")));
    let key = get_ok(&edge.url(&format!("/v/enc/keys/k1.key?{t}")));
    let identity = media(&get_ok(
        &edge.url(&format!("/v/enc/saes/720p/media.m3u8?{t}")),
    ));
    let identity_key = identity.segments[0].key.clone().unwrap();
    assert_eq!(identity_key.keyformat, None);
    assert!(identity_key.uri.unwrap().contains("keys/k1.key"));
    for path in ["720p/media.m3u8", "720p/iframes.m3u8"] {
        let url = resolve(&master_url, &format!("{path}?{t}&keyformat=clearkey"));
        let playlist = media(&get_ok(&url));
        assert!(!playlist.segments.is_empty());
        for s in &playlist.segments {
            let k = s.key.as_ref().expect("every entry keyed");
            assert_eq!(k.method, m3u8_rs::KeyMethod::SampleAES, "{path}");
            assert_eq!(k.keyformat.as_deref(), Some("org.w3.clearkey"), "{path}");
            assert_eq!(k.keyformatversions.as_deref(), Some("1"), "{path}");
            assert_eq!(k.iv, identity_key.iv, "{path}: the same constant IV");
            let data = k.uri.as_deref().unwrap();
            let b64 = data.strip_prefix("data:text/plain;base64,").expect(data);
            let named = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .unwrap();
            assert_eq!(named, kid, "{path}: the key id of the init's tenc");
        }
    }
    // The licence gives that key id the key the identity form's URL gives.
    let b64url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let request = format!(
        r#"{{"kids":["{}"],"type":"temporary"}}"#,
        b64url.encode(kid)
    );
    let licence = post(
        &edge.url(&format!("/v/enc/keys/clearkey?{t}")),
        "application/json",
        request.as_bytes(),
    );
    assert_eq!(licence.status, 200, "{}", licence.text());
    let jwks: serde_json::Value = serde_json::from_slice(&licence.body).unwrap();
    let k = b64url
        .decode(jwks["keys"][0]["k"].as_str().unwrap())
        .unwrap();
    assert_eq!(k, key);
    for refused in [
        format!("/v/enc/aes/master.m3u8?{t}&keyformat=clearkey"),
        format!("/v/enc/saes/ts/master.m3u8?{t}&keyformat=clearkey"),
        format!("/v/enc/saes/manifest.mpd?{t}&keyformat=clearkey"),
        "/v/enc/master.m3u8?keyformat=clearkey".to_string(),
        format!("/v/enc/saes/master.m3u8?{t}&keyformat=fairplay"),
    ] {
        assert_eq!(get(&edge.url(&refused)).status, 400, "{refused}");
    }
}
