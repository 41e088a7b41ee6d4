//! The one cache key: every object any cache of this edge holds is named by a [`CacheKey`],
//! built here and nowhere else, and a purge decides what it drops by asking the key
//! ([`CacheKey::purged_by`]) instead of matching strings. Its text form ([`fmt::Display`])
//! names fill locks in Redis (`sunomi:fill:{key}`) and appears in logs.

use std::fmt;
use std::ops::Range;

use sunomi_packager::route::{parse_request, request_path, Protection, Route};

use crate::fleet::purge::PurgeScope;

/// A cache key: what the object is ([`KeyKind`]) and a fingerprint of it. Caches hash only
/// the fingerprint and compare it before the fields, so a lookup compares strings once, on
/// the match (caches probe several entries per lookup).
#[derive(Debug, Clone)]
pub struct CacheKey {
    kind: KeyKind,
    fingerprint: u64,
}

impl PartialEq for CacheKey {
    fn eq(&self, other: &Self) -> bool {
        self.fingerprint == other.fingerprint && self.kind == other.kind
    }
}

impl Eq for CacheKey {}

impl std::hash::Hash for CacheKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.fingerprint);
    }
}

/// The fingerprint hasher: eight bytes per step (rotate, xor, multiply: FxHash's mix), so
/// keys that carry a viewer's token (a few hundred bytes) cost a few dozen steps, not one per
/// byte. Fixed (not seeded): like the FNV it replaced, it is a local table hash, never stored
/// or shared between edges.
struct WordHasher(u64);

impl WordHasher {
    const K: u64 = 0x517c_c1b7_2722_0a95;

    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(Self::K);
    }
}

impl std::hash::Hasher for WordHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            // The length goes in too, so "a" and "a\0" differ.
            self.add(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 56));
        }
    }
}

impl From<KeyKind> for CacheKey {
    fn from(kind: KeyKind) -> CacheKey {
        use std::hash::Hash;
        let mut h = WordHasher(0);
        kind.hash(&mut h);
        CacheKey {
            fingerprint: std::hash::Hasher::finish(&h),
            kind,
        }
    }
}

/// What a cached object is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// What a playback id resolves to (its record, or the fact that it has none). Purged
    /// by the playback id, as a video: revoking a playback id purges it fleet-wide.
    Playback {
        /// The playback id.
        id: String,
    },
    /// A video's manifest (or the fact that it has none: a negative entry).
    Manifest {
        /// The video.
        video: String,
    },
    /// A track file's head (init segment and index).
    TrackHead {
        /// The video.
        video: String,
        /// The track file's path in the video (`video/720p.mp4`).
        path: String,
    },
    /// The languages of a video's subtitle files.
    SubtitleLanguages {
        /// The video.
        video: String,
    },
    /// One subtitle file, raw and parsed.
    Subtitles {
        /// The video.
        video: String,
        /// Its language.
        lang: String,
    },
    /// A generated playlist, under one filter and one viewer token: one string
    /// `{request path}?{canonical filter}|{token}` (the request path, protection prefix
    /// included, is its first `request_len` bytes). One string, because the hottest lookup of
    /// the edge compares it: one comparison instead of three.
    Playlist {
        /// `{request}?{filter}|{token}`.
        identity: String,
        /// Length of the request path at its start.
        request_len: usize,
    },
    /// A clear media segment (CMAF or TS) of one version of its track file: one string
    /// `{route path}@{version}` (the clear route path is its first `route_len` bytes).
    Segment {
        /// `{route}@{version}`.
        identity: String,
        /// Length of the route path at its start.
        route_len: usize,
    },
    /// A protected form of a clear segment (AES-128 or SAMPLE-AES).
    Protected {
        /// The clear route path it was made from.
        route: String,
        /// The request path with its protection prefix.
        request: String,
        /// The content key id.
        kid: String,
        /// The entity tag of the clear segment (its version and range).
        clear_etag: String,
    },
    /// A planned progressive download: one string `{route path}@{track versions}` (the
    /// route path is its first `route_len` bytes).
    Download {
        /// `{route}@{versions}`.
        identity: String,
        /// Length of the route path at its start.
        route_len: usize,
    },
    /// A picture drawn from one version of a rendition: one string
    /// `{route path}?{picture spec}@{version}` (the route path is its first `route_len`
    /// bytes).
    Picture {
        /// `{route}?{spec}@{version}`.
        identity: String,
        /// Length of the route path at its start.
        route_len: usize,
    },
    /// A byte range of a track file that is no segment (byte-range mode).
    TrackRange {
        /// The video.
        video: String,
        /// The track file's path in the video.
        path: String,
        /// The track file's version.
        version: String,
        /// The bytes.
        range: Range<u64>,
    },
}

impl CacheKey {
    /// The key of a clear segment at `route` (CMAF or TS) cut from track `version`.
    pub fn segment(route: &Route, version: &str) -> CacheKey {
        let mut identity = route.to_path();
        let route_len = identity.len();
        identity.push('@');
        identity.push_str(version);
        KeyKind::Segment {
            identity,
            route_len,
        }
        .into()
    }

    /// The key of download `route`'s plan, made from tracks of `versions`.
    pub fn download(route: &Route, versions: &str) -> CacheKey {
        let mut identity = route.to_path();
        let route_len = identity.len();
        identity.push('@');
        identity.push_str(versions);
        KeyKind::Download {
            identity,
            route_len,
        }
        .into()
    }

    /// The key of picture `route` drawn as `spec` (its canonical query) from the track at
    /// `version`.
    pub fn picture(route: &Route, spec: &str, version: &str) -> CacheKey {
        let mut identity = route.to_path();
        let route_len = identity.len();
        identity.push('?');
        identity.push_str(spec);
        identity.push('@');
        identity.push_str(version);
        KeyKind::Picture {
            identity,
            route_len,
        }
        .into()
    }

    /// The key of playback id `id`'s record (or of its absence).
    pub fn playback(id: &str) -> CacheKey {
        KeyKind::Playback { id: id.into() }.into()
    }

    /// The key of video `id`'s manifest (or of its absence).
    pub fn manifest(id: &str) -> CacheKey {
        KeyKind::Manifest { video: id.into() }.into()
    }

    /// The key of the head of the track file at `path` of video `id`.
    pub fn track_head(id: &str, path: &str) -> CacheKey {
        KeyKind::TrackHead {
            video: id.into(),
            path: path.into(),
        }
        .into()
    }

    /// The key of the list of video `id`'s subtitle languages.
    pub fn subtitle_languages(id: &str) -> CacheKey {
        KeyKind::SubtitleLanguages { video: id.into() }.into()
    }

    /// The key of video `id`'s subtitles in `lang`.
    pub fn subtitles(id: &str, lang: &str) -> CacheKey {
        KeyKind::Subtitles {
            video: id.into(),
            lang: lang.into(),
        }
        .into()
    }

    /// The key of bytes `range` of version `version` of the track file at `path` of `id`.
    pub fn track_range(id: &str, path: &str, version: &str, range: Range<u64>) -> CacheKey {
        KeyKind::TrackRange {
            video: id.into(),
            path: path.into(),
            version: version.into(),
            range,
        }
        .into()
    }

    /// The key of `route` served under `protection` with key `kid`, made from the clear
    /// object whose entity tag is `clear_etag`.
    pub fn protected(
        protection: Protection,
        route: &Route,
        kid: &str,
        clear_etag: &str,
    ) -> CacheKey {
        KeyKind::Protected {
            route: route.to_path(),
            request: request_path(protection, route),
            kid: kid.to_owned(),
            clear_etag: clear_etag.to_owned(),
        }
        .into()
    }

    /// The key of playlist `route` under `protection`, `filter` (canonical) and `token`.
    pub fn playlist(protection: Protection, route: &Route, filter: &str, token: &str) -> CacheKey {
        let mut identity = request_path(protection, route);
        let request_len = identity.len();
        identity.reserve(2 + filter.len() + token.len());
        identity.push('?');
        identity.push_str(filter);
        identity.push('|');
        identity.push_str(token);
        KeyKind::Playlist {
            identity,
            request_len,
        }
        .into()
    }

    /// The video the object belongs to. Keys holding a URL path take it from there (every
    /// path is `/v/{id}/…`), so a hit compares and hashes no more strings than it must.
    pub fn video(&self) -> &str {
        match &self.kind {
            KeyKind::Playback { id: video }
            | KeyKind::Manifest { video }
            | KeyKind::TrackHead { video, .. }
            | KeyKind::SubtitleLanguages { video }
            | KeyKind::Subtitles { video, .. }
            | KeyKind::TrackRange { video, .. } => video,
            KeyKind::Playlist {
                identity,
                request_len: len,
            }
            | KeyKind::Segment {
                identity,
                route_len: len,
            }
            | KeyKind::Download {
                identity,
                route_len: len,
            }
            | KeyKind::Picture {
                identity,
                route_len: len,
            } => video_of(identity.get(..*len).unwrap_or_default()),
            KeyKind::Protected { route: path, .. } => video_of(path),
        }
    }

    /// Approximate bytes the key itself takes in a cache (for weighers).
    pub fn weight(&self) -> usize {
        let strings: usize = match &self.kind {
            KeyKind::Playback { id: video }
            | KeyKind::Manifest { video }
            | KeyKind::SubtitleLanguages { video } => video.len(),
            KeyKind::TrackHead { video, path } => video.len() + path.len(),
            KeyKind::Subtitles { video, lang } => video.len() + lang.len(),
            KeyKind::Playlist { identity, .. }
            | KeyKind::Segment { identity, .. }
            | KeyKind::Download { identity, .. }
            | KeyKind::Picture { identity, .. } => identity.len(),
            KeyKind::Protected {
                route,
                request,
                kid,
                clear_etag,
            } => route.len() + request.len() + kid.len() + clear_etag.len(),
            KeyKind::TrackRange {
                video,
                path,
                version,
                ..
            } => video.len() + path.len() + version.len() + 16,
        };
        64 + strings
    }

    /// Whether a purge of `scope` drops this object.
    ///
    /// A URL purge drops the object at that URL and whatever is derived from the same bytes:
    /// a segment in any protection drops its clear form and every protected form (they are
    /// remade from the clear one); an init segment or track file drops the video's track heads
    /// (and the byte ranges cut from them); a subtitle URL drops the video's subtitles; a
    /// playlist drops that playlist under every filter and token; a picture URL drops that
    /// picture under every query (an init segment or track file drops them too). A path that is no route
    /// drops nothing.
    pub fn purged_by(&self, scope: &PurgeScope) -> bool {
        match scope {
            PurgeScope::All => true,
            PurgeScope::Video { id, .. } => self.video() == id,
            PurgeScope::Url { path } => {
                let Ok((protection, route)) = parse_request(path) else {
                    return false;
                };
                let video = route.video_id();
                match (&route, &self.kind) {
                    _ if self.video() != video => false,
                    (
                        Route::Segment { .. } | Route::TsSegment { .. },
                        KeyKind::Segment {
                            identity,
                            route_len,
                        },
                    ) => identity.get(..*route_len) == Some(route.to_path().as_str()),
                    (
                        Route::Segment { .. } | Route::TsSegment { .. },
                        KeyKind::Protected { route: r, .. },
                    ) => *r == route.to_path(),
                    (
                        Route::Init { .. } | Route::TrackFile { .. },
                        KeyKind::TrackHead { .. }
                        | KeyKind::TrackRange { .. }
                        | KeyKind::Download { .. }
                        | KeyKind::Picture { .. },
                    ) => true,
                    (
                        Route::Download { .. },
                        KeyKind::Download {
                            identity,
                            route_len,
                        },
                    )
                    | (
                        Route::Picture { .. },
                        KeyKind::Picture {
                            identity,
                            route_len,
                        },
                    ) => identity.get(..*route_len) == Some(route.to_path().as_str()),
                    (
                        Route::SubtitleSegment { .. } | Route::SubtitleFile { .. },
                        KeyKind::Subtitles { .. } | KeyKind::SubtitleLanguages { .. },
                    ) => true,
                    (
                        r,
                        KeyKind::Playlist {
                            identity,
                            request_len,
                        },
                    ) if r.is_playlist() => {
                        identity.get(..*request_len) == Some(request_path(protection, r).as_str())
                    }
                    _ => false,
                }
            }
        }
    }
}

/// The video id of a route path (`/v/{id}/…`).
fn video_of(path: &str) -> &str {
    let rest = path
        .strip_prefix(sunomi_packager::route::PREFIX)
        .unwrap_or(path);
    rest.split('/').next().unwrap_or(rest)
}

impl fmt::Display for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            KeyKind::Playback { id } => write!(f, "b:{id}"),
            KeyKind::Manifest { video } => write!(f, "m:{video}"),
            KeyKind::TrackHead { video, path } => write!(f, "t:{video}/{path}"),
            KeyKind::SubtitleLanguages { video } => write!(f, "l:{video}"),
            KeyKind::Subtitles { video, lang } => write!(f, "v:{video}/{lang}"),
            KeyKind::Playlist { identity, .. } => write!(f, "p:{identity}"),
            KeyKind::Segment { identity, .. } => write!(f, "s:{identity}"),
            KeyKind::Download { identity, .. } => write!(f, "d:{identity}"),
            KeyKind::Picture { identity, .. } => write!(f, "i:{identity}"),
            KeyKind::Protected {
                request,
                kid,
                clear_etag,
                ..
            } => write!(f, "e:{request}@{kid}@{clear_etag}"),
            KeyKind::TrackRange {
                video,
                path,
                version,
                range,
            } => write!(
                f,
                "r:{video}/{path}@{version}#{}-{}",
                range.start, range.end
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_playback_id_is_purged_by_its_id() {
        let k = CacheKey::playback("p1");
        assert!(k.purged_by(&PurgeScope::Video {
            id: "p1".into(),
            revision: None
        }));
        assert!(!k.purged_by(&PurgeScope::Video {
            id: "v1".into(),
            revision: None
        }));
        assert!(k.purged_by(&PurgeScope::All));
        assert_eq!(k.to_string(), "b:p1");
    }

    fn route(path: &str) -> (Protection, Route) {
        parse_request(path).unwrap()
    }

    fn url(path: &str) -> PurgeScope {
        PurgeScope::Url { path: path.into() }
    }

    /// One key of every kind for video `v` (and a segment of video `vv`, whose id has `v`
    /// as a prefix).
    fn keys() -> Vec<CacheKey> {
        let (_, seg) = route("/v/v/720p/3.m4s");
        let (_, ts) = route("/v/v/ts/720p/3.ts");
        let (_, master) = route("/v/v/master.m3u8");
        let (aes, aes_media) = route("/v/v/aes/720p/media.m3u8");
        let (_, other) = route("/v/vv/720p/3.m4s");
        vec![
            CacheKey::manifest("v"),
            CacheKey::track_head("v", "video/720p.mp4"),
            CacheKey::subtitle_languages("v"),
            CacheKey::subtitles("v", "en"),
            CacheKey::playlist(Protection::Clear, &master, "", ""),
            CacheKey::playlist(aes, &aes_media, "", "exp=1&sig=00"),
            CacheKey::segment(&seg, "v1"),
            CacheKey::segment(&ts, "v1"),
            CacheKey::protected(Protection::Aes128, &seg, "k1", "\"e\""),
            CacheKey::protected(Protection::SampleAes, &seg, "k1", "\"e\""),
            CacheKey::protected(Protection::Aes128, &ts, "k1", "\"e\""),
            CacheKey::track_range("v", "video/720p.mp4", "v1", 0..10),
            CacheKey::segment(&other, "v1"),
        ]
    }

    /// The keys (by their text) a purge of `scope` drops.
    fn dropped(scope: &PurgeScope) -> Vec<String> {
        keys()
            .into_iter()
            .filter(|k| k.purged_by(scope))
            .map(|k| k.to_string())
            .collect()
    }

    #[test]
    fn a_video_purge_drops_every_kind_of_its_keys_and_nothing_of_other_videos() {
        let all = dropped(&PurgeScope::Video {
            id: "v".into(),
            revision: None,
        });
        assert_eq!(all.len(), keys().len() - 1);
        assert!(all.iter().all(|k| !k.contains("/v/vv/")));
        assert_eq!(dropped(&PurgeScope::All).len(), keys().len());
    }

    #[test]
    fn purging_any_form_of_a_segment_drops_the_clear_and_every_protected_form() {
        let expected = vec![
            "s:/v/v/720p/3.m4s@v1".to_string(),
            "e:/v/v/aes/720p/3.m4s@k1@\"e\"".to_string(),
            "e:/v/v/saes/720p/3.m4s@k1@\"e\"".to_string(),
        ];
        assert_eq!(dropped(&url("/v/v/720p/3.m4s")), expected);
        assert_eq!(dropped(&url("/v/v/aes/720p/3.m4s")), expected);
        assert_eq!(dropped(&url("/v/v/saes/720p/3.m4s")), expected);
        assert_eq!(
            dropped(&url("/v/v/aes/ts/720p/3.ts")),
            vec![
                "s:/v/v/ts/720p/3.ts@v1".to_string(),
                "e:/v/v/aes/ts/720p/3.ts@k1@\"e\"".to_string(),
            ]
        );
    }

    #[test]
    fn url_purges_of_playlists_heads_and_subtitles() {
        assert_eq!(
            dropped(&url("/v/v/master.m3u8")),
            vec!["p:/v/v/master.m3u8?|".to_string()]
        );
        assert_eq!(
            dropped(&url("/v/v/aes/720p/media.m3u8")),
            vec!["p:/v/v/aes/720p/media.m3u8?|exp=1&sig=00".to_string()]
        );
        assert_eq!(dropped(&url("/v/v/720p/media.m3u8")), Vec::<String>::new());
        assert_eq!(
            dropped(&url("/v/v/720p/init.mp4")),
            vec![
                "t:v/video/720p.mp4".to_string(),
                "r:v/video/720p.mp4@v1#0-10".to_string()
            ]
        );
        assert_eq!(
            dropped(&url("/v/v/subs/en.vtt")),
            vec!["l:v".to_string(), "v:v/en".to_string()]
        );
        assert_eq!(dropped(&url("/etc/passwd")), Vec::<String>::new());
    }

    #[test]
    fn a_download_plan_is_purged_by_its_url_its_tracks_and_its_video() {
        let route = Route::parse("/v/v/download/720p.mp4").unwrap();
        let key = CacheKey::download(&route, "v1|v2|");
        assert_eq!(key.video(), "v");
        for (scope, purged) in [
            (url("/v/v/download/720p.mp4"), true),
            (url("/v/v/720p/init.mp4"), true),
            (url("/v/v/br/audio/und/track.mp4"), true),
            (url("/v/v/download/480p.mp4"), false),
            (url("/v/v/master.m3u8"), false),
            (url("/v/w/download/720p.mp4"), false),
            (
                PurgeScope::Video {
                    id: "v".into(),
                    revision: None,
                },
                true,
            ),
        ] {
            assert_eq!(key.purged_by(&scope), purged, "{scope:?}");
        }
    }

    #[test]
    fn a_picture_is_purged_by_its_url_under_any_query_its_rendition_and_its_video() {
        let route = Route::parse("/v/v/thumbnail.jpg").unwrap();
        let key = CacheKey::picture(&route, "rendition=360p&time=2000", "v1");
        let other = CacheKey::picture(&route, "rendition=360p&time=3000", "v1");
        assert_ne!(key, other);
        assert_eq!(
            key,
            CacheKey::picture(&route, "rendition=360p&time=2000", "v1")
        );
        assert_ne!(
            key,
            CacheKey::picture(&route, "rendition=360p&time=2000", "v2")
        );
        assert_eq!(key.video(), "v");
        assert!(key.to_string().starts_with("i:/v/v/thumbnail.jpg?"));
        for (scope, purged) in [
            (url("/v/v/thumbnail.jpg"), true),
            (url("/v/v/360p/init.mp4"), true),
            (url("/v/v/thumbnail.png"), false),
            (url("/v/v/storyboard.jpg"), false),
            (url("/v/v/360p/3.m4s"), false),
            (url("/v/w/thumbnail.jpg"), false),
            (
                PurgeScope::Video {
                    id: "v".into(),
                    revision: None,
                },
                true,
            ),
        ] {
            assert_eq!(key.purged_by(&scope), purged, "{scope:?}");
            assert_eq!(other.purged_by(&scope), purged, "{scope:?}");
        }
    }

    #[test]
    fn equal_keys_have_equal_fingerprints_and_different_ones_differ() {
        for (i, a) in keys().iter().enumerate() {
            for (j, b) in keys().iter().enumerate() {
                assert_eq!(a == b, i == j);
                assert_eq!(a.fingerprint == b.fingerprint, i == j, "{a} {b}");
            }
        }
        assert_eq!(CacheKey::manifest("v"), CacheKey::manifest("v"));
    }

    #[test]
    fn every_key_has_a_distinct_text() {
        let texts: std::collections::HashSet<String> =
            keys().iter().map(ToString::to_string).collect();
        assert_eq!(texts.len(), keys().len());
    }
}
