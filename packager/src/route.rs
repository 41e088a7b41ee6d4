//! The edge's URL shapes (DESIGN.md "Edge URLs"): parsing request paths and naming the
//! relative URIs playlists point at. One module, so the two cannot drift apart.

use crate::names;

/// Prefix of every media URL.
pub const PREFIX: &str = "/v/";
/// File name of the multivariant playlist.
pub const MASTER: &str = "master.m3u8";
/// File name of a media playlist.
pub const MEDIA_PLAYLIST: &str = "media.m3u8";
/// File name of an I-frame playlist.
pub const IFRAME_PLAYLIST: &str = "iframes.m3u8";
/// File name of an init segment.
pub const INIT: &str = "init.mp4";
/// Extension of an fMP4 media segment.
pub const SEGMENT_EXT: &str = ".m4s";
/// Path segment under which audio tracks live.
pub const AUDIO_DIR: &str = "audio";

/// Which track of a video a URL names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TrackRef {
    /// A video rendition by ladder label (`720p`).
    Video(String),
    /// An audio track by language code (`und`).
    Audio(String),
}

impl TrackRef {
    /// The track's folder relative to the video's URL folder (`720p` or `audio/und`).
    pub fn dir(&self) -> String {
        match self {
            TrackRef::Video(r) => r.clone(),
            TrackRef::Audio(t) => format!("{AUDIO_DIR}/{t}"),
        }
    }
}

/// A parsed media URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Route {
    /// `/v/{id}/master.m3u8`
    Master {
        /// Video id.
        id: String,
    },
    /// `/v/{id}/{track}/media.m3u8`
    MediaPlaylist {
        /// Video id.
        id: String,
        /// The track.
        track: TrackRef,
    },
    /// `/v/{id}/{rendition}/iframes.m3u8`
    IFramePlaylist {
        /// Video id.
        id: String,
        /// The video rendition.
        rendition: String,
    },
    /// `/v/{id}/{track}/init.mp4`
    Init {
        /// Video id.
        id: String,
        /// The track.
        track: TrackRef,
    },
    /// `/v/{id}/{track}/{n}.m4s`
    Segment {
        /// Video id.
        id: String,
        /// The track.
        track: TrackRef,
        /// Segment number from 0.
        number: u64,
    },
}

/// Why a path is not a media URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// The path is not of any known shape, or has characters no valid URL has (400).
    #[error("malformed path: {0}")]
    Malformed(&'static str),
    /// The path is well formed but names something that cannot exist (404), such as a segment
    /// number too large for any video.
    #[error("not found: {0}")]
    NotFound(&'static str),
}

impl Route {
    /// The video id the route belongs to.
    pub fn video_id(&self) -> &str {
        match self {
            Route::Master { id }
            | Route::MediaPlaylist { id, .. }
            | Route::IFramePlaylist { id, .. }
            | Route::Init { id, .. }
            | Route::Segment { id, .. } => id,
        }
    }

    /// A short name of the route's kind, for metrics labels.
    pub fn kind(&self) -> &'static str {
        match self {
            Route::Master { .. } => "master",
            Route::MediaPlaylist { .. } => "media_playlist",
            Route::IFramePlaylist { .. } => "iframe_playlist",
            Route::Init { .. } => "init",
            Route::Segment { .. } => "segment",
        }
    }

    /// Parses a request path (without query string).
    ///
    /// Percent-encoded paths are refused outright: no valid media URL needs encoding, and
    /// decoding is how `%2e%2e` turns into `..`.
    pub fn parse(path: &str) -> Result<Route, RouteError> {
        if path.contains('%') {
            return Err(RouteError::Malformed(
                "percent-encoding is not used in media URLs",
            ));
        }
        let rest = path
            .strip_prefix(PREFIX)
            .ok_or(RouteError::Malformed("media URLs start with /v/"))?;
        let parts: Vec<&str> = rest.split('/').collect();
        let id = *parts
            .first()
            .ok_or(RouteError::Malformed("missing video id"))?;
        if !names::is_valid_video_id(id) {
            return Err(RouteError::Malformed("invalid video id"));
        }
        let id = id.to_string();
        match parts.as_slice() {
            [_, MASTER] => Ok(Route::Master { id }),
            [_, AUDIO_DIR, track, file] => {
                if !names::is_valid_audio_track(track) {
                    return Err(RouteError::Malformed("invalid audio track name"));
                }
                Self::track_file(id, TrackRef::Audio(track.to_string()), file)
            }
            [_, rendition, file] => {
                if !names::is_valid_rendition(rendition) {
                    return Err(RouteError::Malformed("invalid rendition name"));
                }
                if *file == IFRAME_PLAYLIST {
                    return Ok(Route::IFramePlaylist {
                        id,
                        rendition: rendition.to_string(),
                    });
                }
                Self::track_file(id, TrackRef::Video(rendition.to_string()), file)
            }
            _ => Err(RouteError::Malformed("unknown path shape")),
        }
    }

    fn track_file(id: String, track: TrackRef, file: &str) -> Result<Route, RouteError> {
        match file {
            MEDIA_PLAYLIST => Ok(Route::MediaPlaylist { id, track }),
            INIT => Ok(Route::Init { id, track }),
            _ => {
                let digits = file
                    .strip_suffix(SEGMENT_EXT)
                    .ok_or(RouteError::Malformed("unknown file name"))?;
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(RouteError::Malformed(
                        "segment number is not a decimal integer",
                    ));
                }
                if digits.len() > 1 && digits.starts_with('0') {
                    return Err(RouteError::Malformed("segment number has leading zeros"));
                }
                let number = digits
                    .parse::<u64>()
                    .map_err(|_| RouteError::NotFound("segment number beyond any video"))?;
                Ok(Route::Segment { id, track, number })
            }
        }
    }

    /// The canonical path of this route; `Route::parse(&r.to_path()) == Ok(r)`.
    pub fn to_path(&self) -> String {
        match self {
            Route::Master { id } => format!("{PREFIX}{id}/{MASTER}"),
            Route::MediaPlaylist { id, track } => {
                format!("{PREFIX}{id}/{}/{MEDIA_PLAYLIST}", track.dir())
            }
            Route::IFramePlaylist { id, rendition } => {
                format!("{PREFIX}{id}/{rendition}/{IFRAME_PLAYLIST}")
            }
            Route::Init { id, track } => format!("{PREFIX}{id}/{}/{INIT}", track.dir()),
            Route::Segment { id, track, number } => {
                format!("{PREFIX}{id}/{}/{}", track.dir(), segment_file(*number))
            }
        }
    }
}

/// The file name of segment `n` (`12.m4s`), relative to its media playlist.
pub fn segment_file(n: u64) -> String {
    format!("{n}{SEGMENT_EXT}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check(path: &str, expected: Result<Route, RouteError>) {
        assert_eq!(Route::parse(path), expected, "{path}");
    }

    #[test]
    fn parses_every_shape() {
        let id = || "abc".to_string();
        let v = || TrackRef::Video("720p".into());
        let a = || TrackRef::Audio("und".into());
        check("/v/abc/master.m3u8", Ok(Route::Master { id: id() }));
        check(
            "/v/abc/720p/media.m3u8",
            Ok(Route::MediaPlaylist {
                id: id(),
                track: v(),
            }),
        );
        check(
            "/v/abc/720p/init.mp4",
            Ok(Route::Init {
                id: id(),
                track: v(),
            }),
        );
        check(
            "/v/abc/720p/0.m4s",
            Ok(Route::Segment {
                id: id(),
                track: v(),
                number: 0,
            }),
        );
        check(
            "/v/abc/720p/iframes.m3u8",
            Ok(Route::IFramePlaylist {
                id: id(),
                rendition: "720p".into(),
            }),
        );
        check(
            "/v/abc/audio/und/media.m3u8",
            Ok(Route::MediaPlaylist {
                id: id(),
                track: a(),
            }),
        );
        check(
            "/v/abc/audio/und/17.m4s",
            Ok(Route::Segment {
                id: id(),
                track: a(),
                number: 17,
            }),
        );
    }

    #[test]
    fn refuses_traversal_and_junk() {
        for bad in [
            "/v/../master.m3u8",
            "/v/%2e%2e/master.m3u8",
            "/v/abc/..%2fetc/media.m3u8",
            "/v/abc/../abc/master.m3u8",
            "/v/abc/720p/x.m4s",
            "/v/abc/720p/-1.m4s",
            "/v/abc/720p/01.m4s",
            "/v/abc/720p/.m4s",
            "/v/abc/720p/1.5.m4s",
            "/v/abc/audio/../init.mp4",
            "/v/abc/720p/media.m3u8/extra",
            "/v/abc",
            "/v/",
            "/etc/passwd",
            "",
        ] {
            assert!(
                matches!(Route::parse(bad), Err(RouteError::Malformed(_))),
                "{bad}"
            );
        }
        check(
            "/v/abc/720p/99999999999999999999999.m4s",
            Err(RouteError::NotFound("segment number beyond any video")),
        );
    }

    proptest! {
        #[test]
        fn canonical_paths_round_trip(n in any::<u64>(), audio in any::<bool>()) {
            let track = if audio { TrackRef::Audio("eng".into()) } else { TrackRef::Video("1080p".into()) };
            let r = Route::Segment { id: "x_Y-9".into(), track, number: n };
            prop_assert_eq!(Route::parse(&r.to_path()), Ok(r));
        }

        #[test]
        fn arbitrary_paths_never_panic(s in ".{0,80}") {
            let _ = Route::parse(&s);
        }
    }
}
