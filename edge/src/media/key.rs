//! The one cache key: every object any cache of this edge holds is named by a [`CacheKey`],
//! built here and nowhere else, and a purge decides what it drops by asking the key
//! ([`CacheKey::purged_by`]) instead of matching strings. Its text form ([`fmt::Display`])
//! names fill locks in Redis (`sunomi:fill:{key}`) and appears in logs.

use std::fmt;
use std::ops::Range;

use sunomi_packager::route::{parse_request, request_path, Protection, Route};

use crate::fleet::purge::PurgeScope;

/// What a cached object is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CacheKey {
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
    /// A generated playlist, under one filter and one viewer token.
    Playlist {
        /// The video.
        video: String,
        /// The request path, protection prefix included (`/v/x/aes/720p/media.m3u8`).
        request: String,
        /// The canonical filter query.
        filter: String,
        /// The viewer's token (encrypted playlists carry it in their URIs).
        token: String,
    },
    /// A clear media segment (CMAF or TS) of one version of its track file.
    Segment {
        /// The video.
        video: String,
        /// The clear route path (`/v/x/720p/3.m4s`, `/v/x/ts/720p/3.ts`).
        route: String,
        /// The track file's version the segment was cut from.
        version: String,
    },
    /// A protected form of a clear segment (AES-128 or SAMPLE-AES).
    Protected {
        /// The video.
        video: String,
        /// The clear route path it was made from.
        route: String,
        /// The request path with its protection prefix.
        request: String,
        /// The content key id.
        kid: String,
        /// The entity tag of the clear segment (its version and range).
        clear_etag: String,
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
        CacheKey::Segment {
            video: route.video_id().to_owned(),
            route: route.to_path(),
            version: version.to_owned(),
        }
    }

    /// The key of `route` served under `protection` with key `kid`, made from the clear
    /// object whose entity tag is `clear_etag`.
    pub fn protected(
        protection: Protection,
        route: &Route,
        kid: &str,
        clear_etag: &str,
    ) -> CacheKey {
        CacheKey::Protected {
            video: route.video_id().to_owned(),
            route: route.to_path(),
            request: request_path(protection, route),
            kid: kid.to_owned(),
            clear_etag: clear_etag.to_owned(),
        }
    }

    /// The key of playlist `route` under `protection`, `filter` (canonical) and `token`.
    pub fn playlist(protection: Protection, route: &Route, filter: &str, token: &str) -> CacheKey {
        CacheKey::Playlist {
            video: route.video_id().to_owned(),
            request: request_path(protection, route),
            filter: filter.to_owned(),
            token: token.to_owned(),
        }
    }

    /// The video the object belongs to.
    pub fn video(&self) -> &str {
        match self {
            CacheKey::Manifest { video }
            | CacheKey::TrackHead { video, .. }
            | CacheKey::SubtitleLanguages { video }
            | CacheKey::Subtitles { video, .. }
            | CacheKey::Playlist { video, .. }
            | CacheKey::Segment { video, .. }
            | CacheKey::Protected { video, .. }
            | CacheKey::TrackRange { video, .. } => video,
        }
    }

    /// Approximate bytes the key itself takes in a cache (for weighers).
    pub fn weight(&self) -> usize {
        let strings: usize = match self {
            CacheKey::Manifest { video } | CacheKey::SubtitleLanguages { video } => video.len(),
            CacheKey::TrackHead { video, path } => video.len() + path.len(),
            CacheKey::Subtitles { video, lang } => video.len() + lang.len(),
            CacheKey::Playlist {
                video,
                request,
                filter,
                token,
            } => video.len() + request.len() + filter.len() + token.len(),
            CacheKey::Segment {
                video,
                route,
                version,
            } => video.len() + route.len() + version.len(),
            CacheKey::Protected {
                video,
                route,
                request,
                kid,
                clear_etag,
            } => video.len() + route.len() + request.len() + kid.len() + clear_etag.len(),
            CacheKey::TrackRange {
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
    /// playlist drops that playlist under every filter and token. A path that is no route
    /// drops nothing.
    pub fn purged_by(&self, scope: &PurgeScope) -> bool {
        match scope {
            PurgeScope::All => true,
            PurgeScope::Video { id } => self.video() == id,
            PurgeScope::Url { path } => {
                let Ok((protection, route)) = parse_request(path) else {
                    return false;
                };
                let video = route.video_id();
                match (&route, self) {
                    _ if self.video() != video => false,
                    (
                        Route::Segment { .. } | Route::TsSegment { .. },
                        CacheKey::Segment { route: r, .. } | CacheKey::Protected { route: r, .. },
                    ) => *r == route.to_path(),
                    (
                        Route::Init { .. } | Route::TrackFile { .. },
                        CacheKey::TrackHead { .. } | CacheKey::TrackRange { .. },
                    ) => true,
                    (
                        Route::SubtitleSegment { .. } | Route::SubtitleFile { .. },
                        CacheKey::Subtitles { .. } | CacheKey::SubtitleLanguages { .. },
                    ) => true,
                    (r, CacheKey::Playlist { request, .. }) if r.is_playlist() => {
                        *request == request_path(protection, r)
                    }
                    _ => false,
                }
            }
        }
    }
}

impl fmt::Display for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CacheKey::Manifest { video } => write!(f, "m:{video}"),
            CacheKey::TrackHead { video, path } => write!(f, "t:{video}/{path}"),
            CacheKey::SubtitleLanguages { video } => write!(f, "l:{video}"),
            CacheKey::Subtitles { video, lang } => write!(f, "v:{video}/{lang}"),
            CacheKey::Playlist {
                request,
                filter,
                token,
                ..
            } => write!(f, "p:{request}?{filter}|{token}"),
            CacheKey::Segment { route, version, .. } => write!(f, "s:{route}@{version}"),
            CacheKey::Protected {
                request,
                kid,
                clear_etag,
                ..
            } => write!(f, "e:{request}@{kid}@{clear_etag}"),
            CacheKey::TrackRange {
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
            CacheKey::Manifest { video: "v".into() },
            CacheKey::TrackHead {
                video: "v".into(),
                path: "video/720p.mp4".into(),
            },
            CacheKey::SubtitleLanguages { video: "v".into() },
            CacheKey::Subtitles {
                video: "v".into(),
                lang: "en".into(),
            },
            CacheKey::playlist(Protection::Clear, &master, "", ""),
            CacheKey::playlist(aes, &aes_media, "", "exp=1&sig=00"),
            CacheKey::segment(&seg, "v1"),
            CacheKey::segment(&ts, "v1"),
            CacheKey::protected(Protection::Aes128, &seg, "k1", "\"e\""),
            CacheKey::protected(Protection::SampleAes, &seg, "k1", "\"e\""),
            CacheKey::protected(Protection::Aes128, &ts, "k1", "\"e\""),
            CacheKey::TrackRange {
                video: "v".into(),
                path: "video/720p.mp4".into(),
                version: "v1".into(),
                range: 0..10,
            },
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
        let all = dropped(&PurgeScope::Video { id: "v".into() });
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
    fn every_key_has_a_distinct_text() {
        let texts: std::collections::HashSet<String> =
            keys().iter().map(ToString::to_string).collect();
        assert_eq!(texts.len(), keys().len());
    }
}
