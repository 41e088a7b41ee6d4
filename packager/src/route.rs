//! The edge's URL shapes (DESIGN.md "Edge URLs"): parsing request paths and naming the
//! relative URIs playlists point at. One module, so the two cannot drift apart.

use crate::names;
use crate::picture::{PictureFile, PictureKind};

/// Prefix of every media URL.
pub const PREFIX: &str = "/v/";
/// File name of the multivariant playlist.
pub const MASTER: &str = "master.m3u8";
/// File name of the DASH manifest (the MPD).
pub const MPD: &str = "manifest.mpd";
/// File name of a media playlist.
pub const MEDIA_PLAYLIST: &str = "media.m3u8";
/// File name of an I-frame playlist.
pub const IFRAME_PLAYLIST: &str = "iframes.m3u8";
/// Folder, beside a rendition's segments, of its key frames as resources of their own
/// (the I-frame playlists of the encrypted profiles and DASH's trick-play track name them).
pub const IFRAMES_DIR: &str = "iframes";
/// File name of an init segment.
pub const INIT: &str = "init.mp4";
/// Extension of an fMP4 media segment.
pub const SEGMENT_EXT: &str = ".m4s";
/// Path segment under which audio tracks live.
pub const AUDIO_DIR: &str = "audio";
/// Extension of an MPEG-TS segment.
pub const TS_EXT: &str = ".ts";
/// File name of a whole track file in byte-range mode.
pub const TRACK_FILE: &str = "track.mp4";
/// Path segment under which subtitles live.
pub const SUBS_DIR: &str = "subs";
/// Extension of a WebVTT subtitle segment.
pub const VTT_EXT: &str = ".vtt";

/// Path segment under which progressive MP4 downloads are served.
pub const DOWNLOADS_DIR: &str = "download";
/// File name, under `download/`, of the audio-only download.
pub const AUDIO_DOWNLOAD: &str = "audio.m4a";
/// Extension of a rendition's download (`download/720p.mp4`).
pub const MP4_EXT: &str = ".mp4";

/// Path segment under which content keys are served.
pub const KEYS_DIR: &str = "keys";
/// Extension of a content key.
pub const KEY_EXT: &str = ".key";
/// Path segment that asks for AES-128-encrypted segments.
pub const AES_DIR: &str = "aes";
/// Path segment that asks for SAMPLE-AES: Apple's format in TS, `cbcs` in fMP4 (HLS and
/// DASH).
pub const SAMPLE_AES_DIR: &str = "saes";
/// Path segment that asks for Common Encryption's `cenc` scheme (DASH).
pub const CENC_DIR: &str = "cenc";
/// File name, under `keys/`, of the W3C ClearKey licence of a video (`POST`).
pub const CLEARKEY_LICENCE: &str = "clearkey";

/// Whether a URL asks for encrypted media: `/v/{id}/aes/…` serves the same routes with
/// every media segment encrypted (`METHOD=AES-128`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Protection {
    /// Clear media.
    #[default]
    Clear,
    /// Whole segments encrypted with AES-128-CBC.
    Aes128,
    /// Parts of each sample encrypted (`METHOD=SAMPLE-AES`): Apple's format in TS, `cbcs`
    /// in fMP4.
    SampleAes,
    /// Common Encryption `cenc` (AES-CTR) of the fMP4 video: DASH only.
    Cenc,
}

impl Protection {
    /// The Common Encryption scheme fMP4 video takes under this protection, if any.
    pub fn common_scheme(self) -> Option<crate::cenc::Scheme> {
        match self {
            Protection::SampleAes => Some(crate::cenc::Scheme::Cbcs),
            Protection::Cenc => Some(crate::cenc::Scheme::Cenc),
            Protection::Clear | Protection::Aes128 => None,
        }
    }
}

/// Parses a request path into its protection and route: `/v/{id}/aes/REST` is `REST` of
/// video `id`, encrypted. Key URLs are not under `aes/`.
pub fn parse_request(path: &str) -> Result<(Protection, Route), RouteError> {
    // `/v/{id}/{protection dir}/{tail}`: looked at without allocating, as most requests are
    // clear and this runs on every one.
    let protected = path
        .strip_prefix(PREFIX)
        .and_then(|rest| rest.split_once('/'))
        .and_then(|(id, rest)| {
            let (dir, tail) = rest.split_once('/')?;
            let protection = match dir {
                AES_DIR => Protection::Aes128,
                SAMPLE_AES_DIR => Protection::SampleAes,
                CENC_DIR => Protection::Cenc,
                _ => return None,
            };
            Some((id, protection, tail))
        });
    if let Some((id, protection, tail)) = protected {
        let route = Route::parse(&format!("{PREFIX}{id}/{tail}"))?;
        let allowed = match (&route, protection) {
            (
                Route::Key { .. }
                | Route::Licence { .. }
                | Route::TrackFile { .. }
                | Route::Download { .. }
                | Route::Picture { .. },
                _,
            ) => false,
            // `cenc` is DASH's: the MPD and what it names.
            (_, Protection::Cenc) => matches!(
                route,
                Route::Mpd { .. }
                    | Route::Init { .. }
                    | Route::Segment { .. }
                    | Route::SubtitleFile { .. }
                    | Route::IFrame {
                        format: Format::Cmaf,
                        ..
                    }
            ),
            // Encrypted trick play names key-frame resources, which byte-range mode has not.
            (Route::IFramePlaylist { format, .. } | Route::IFrame { format, .. }, _) => {
                *format != Format::ByteRange
            }
            (_, Protection::Aes128) => true,
            // SAMPLE-AES: TS, and CMAF as `cbcs` (not byte-range mode).
            (
                Route::Master { format, .. }
                | Route::MediaPlaylist { format, .. }
                | Route::SubtitlePlaylist { format, .. }
                | Route::SubtitleSegment { format, .. },
                _,
            ) => *format != Format::ByteRange,
            (
                Route::TsSegment { .. }
                | Route::Init { .. }
                | Route::Segment { .. }
                | Route::Mpd { .. }
                | Route::SubtitleFile { .. },
                _,
            ) => true,
        };
        if !allowed {
            return Err(RouteError::Malformed(
                "not served encrypted: keys, track files, downloads, byte-range I-frame playlists; SAMPLE-AES is not served in byte-range mode, cenc only to DASH",
            ));
        }
        return Ok((protection, route));
    }
    Ok((Protection::Clear, Route::parse(path)?))
}

/// The path of `route` under `protection` (the inverse of [`parse_request`]).
pub fn request_path(protection: Protection, route: &Route) -> String {
    let path = route.to_path();
    let dir = match protection {
        Protection::Clear => return path,
        Protection::Aes128 => AES_DIR,
        Protection::SampleAes => SAMPLE_AES_DIR,
        Protection::Cenc => CENC_DIR,
    };
    let id = route.video_id();
    let tail = &path[PREFIX.len() + id.len() + 1..];
    format!("{PREFIX}{id}/{dir}/{tail}")
}

/// Whether `kid` can name a key: 1 to 32 of `[A-Za-z0-9_-]`.
pub fn is_valid_key_id(kid: &str) -> bool {
    (1..=32).contains(&kid.len())
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// How a video is packaged: which container and addressing a URL asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Format {
    /// CMAF (fMP4) segments, one URL per segment: `/v/{id}/…` (the default).
    #[default]
    Cmaf,
    /// MPEG-TS segments with audio muxed into each video segment: `/v/{id}/ts/…`.
    Ts,
    /// fMP4 with `EXT-X-BYTERANGE` into the whole track file: `/v/{id}/br/…`.
    ByteRange,
}

impl Format {
    /// The path segment after the video id (`ts/`, `br/`, or nothing).
    pub fn prefix(self) -> &'static str {
        match self {
            Format::Cmaf => "",
            Format::Ts => "ts/",
            Format::ByteRange => "br/",
        }
    }

    /// A short name for metrics and logs.
    pub fn name(self) -> &'static str {
        match self {
            Format::Cmaf => "cmaf",
            Format::Ts => "ts",
            Format::ByteRange => "br",
        }
    }
}

/// What a progressive download holds (`/v/{id}/download/…`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Download {
    /// A video rendition with the video's default audio track: `{rendition}.mp4`.
    Video(String),
    /// The default audio track alone: `audio.m4a`.
    Audio,
}

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
        TrackDir(self).to_string()
    }
}

/// A track's directory in URLs, written in place ([`TrackRef::dir`] without its allocation).
struct TrackDir<'a>(&'a TrackRef);

impl std::fmt::Display for TrackDir<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            TrackRef::Video(r) => f.write_str(r),
            TrackRef::Audio(t) => write!(f, "{AUDIO_DIR}/{t}"),
        }
    }
}

/// A parsed media URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Route {
    /// `/v/{id}/[ts/|br/]master.m3u8`
    Master {
        /// Video id.
        id: String,
        /// Packaging.
        format: Format,
    },
    /// `/v/{id}/manifest.mpd`: the DASH MPD, over the CMAF tracks and segments.
    Mpd {
        /// Video id.
        id: String,
    },
    /// `/v/{id}/[ts/|br/]{track}/media.m3u8` (TS: video renditions only, audio muxed in)
    MediaPlaylist {
        /// Video id.
        id: String,
        /// Packaging.
        format: Format,
        /// The track.
        track: TrackRef,
    },
    /// `/v/{id}/[ts/|br/]{rendition}/iframes.m3u8`
    IFramePlaylist {
        /// Video id.
        id: String,
        /// Packaging.
        format: Format,
        /// The video rendition.
        rendition: String,
    },
    /// `/v/{id}/[ts/]{rendition}/iframes/{n}.m4s|.ts`: the key frame that starts fragment
    /// `n` of the rendition, as a fragment (CMAF) or a TS segment of its own.
    IFrame {
        /// Video id.
        id: String,
        /// Packaging (CMAF or TS).
        format: Format,
        /// The video rendition.
        rendition: String,
        /// Fragment number from 0, over the whole track.
        number: u64,
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
    /// `/v/{id}/ts/{rendition}/{n}.ts`: video segment n with the audio of segment n.
    TsSegment {
        /// Video id.
        id: String,
        /// The video rendition.
        rendition: String,
        /// Segment number from 0.
        number: u64,
    },
    /// `/v/{id}/br/{track}/track.mp4`: the whole track file, read by byte ranges.
    TrackFile {
        /// Video id.
        id: String,
        /// The track.
        track: TrackRef,
    },
    /// `/v/{id}/[ts/|br/]subs/{lang}.m3u8`: a subtitle media playlist.
    SubtitlePlaylist {
        /// Video id.
        id: String,
        /// Packaging of the video it goes with (fixes the timestamp mapping).
        format: Format,
        /// Language code.
        lang: String,
    },
    /// `/v/{id}/keys/{kid}.key`: a content key (16 bytes), behind a token.
    Key {
        /// Video id.
        id: String,
        /// Key id.
        kid: String,
    },
    /// `/v/{id}/keys/clearkey`: the W3C ClearKey licence of the video's Common Encryption
    /// keys (`POST` of a licence request), behind the same token as its keys.
    Licence {
        /// Video id.
        id: String,
    },
    /// `/v/{id}/download/{rendition}.mp4` or `/v/{id}/download/audio.m4a`: a progressive
    /// MP4 (`moov` first) made from the fMP4 tracks, read whole or by `Range`.
    Download {
        /// Video id.
        id: String,
        /// Which file.
        file: Download,
    },
    /// `/v/{id}/thumbnail.jpg`, `storyboard.vtt`, `animated.gif`, …: a picture of the
    /// video (`crate::picture`), its query saying which.
    Picture {
        /// Video id.
        id: String,
        /// Which file.
        file: PictureFile,
    },
    /// `/v/{id}/subs/{lang}.vtt`: the whole subtitle file (sidecar for players that load
    /// WebVTT directly).
    SubtitleFile {
        /// Video id.
        id: String,
        /// Language code.
        lang: String,
    },
    /// `/v/{id}/[ts/|br/]subs/{lang}/{n}.vtt`: the cues of video segment n.
    SubtitleSegment {
        /// Video id.
        id: String,
        /// Packaging of the video it goes with.
        format: Format,
        /// Language code.
        lang: String,
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
            Route::Master { id, .. }
            | Route::Mpd { id }
            | Route::MediaPlaylist { id, .. }
            | Route::IFramePlaylist { id, .. }
            | Route::IFrame { id, .. }
            | Route::Init { id, .. }
            | Route::Segment { id, .. }
            | Route::TsSegment { id, .. }
            | Route::TrackFile { id, .. }
            | Route::SubtitlePlaylist { id, .. }
            | Route::Key { id, .. }
            | Route::Licence { id }
            | Route::Download { id, .. }
            | Route::Picture { id, .. }
            | Route::SubtitleFile { id, .. }
            | Route::SubtitleSegment { id, .. } => id,
        }
    }

    /// The same route for video `video` (a playback id resolved to the video it plays).
    pub fn with_video_id(&self, video: &str) -> Route {
        let mut r = self.clone();
        match &mut r {
            Route::Master { id, .. }
            | Route::Mpd { id }
            | Route::MediaPlaylist { id, .. }
            | Route::IFramePlaylist { id, .. }
            | Route::IFrame { id, .. }
            | Route::Init { id, .. }
            | Route::Segment { id, .. }
            | Route::TsSegment { id, .. }
            | Route::TrackFile { id, .. }
            | Route::SubtitlePlaylist { id, .. }
            | Route::Key { id, .. }
            | Route::Licence { id }
            | Route::Download { id, .. }
            | Route::Picture { id, .. }
            | Route::SubtitleFile { id, .. }
            | Route::SubtitleSegment { id, .. } => *id = video.to_string(),
        }
        r
    }

    /// A short name of the route's kind, for metrics labels.
    pub fn kind(&self) -> &'static str {
        match self {
            Route::Master { .. } => "master",
            Route::Mpd { .. } => "mpd",
            Route::MediaPlaylist { .. } => "media_playlist",
            Route::IFramePlaylist { .. } => "iframe_playlist",
            Route::IFrame { .. } => "iframe",
            Route::Init { .. } => "init",
            Route::Segment { .. } => "segment",
            Route::TsSegment { .. } => "ts_segment",
            Route::TrackFile { .. } => "track_file",
            Route::SubtitlePlaylist { .. } => "subtitle_playlist",
            Route::SubtitleSegment { .. } => "subtitle_segment",
            Route::Key { .. } => "key",
            Route::Licence { .. } => "licence",
            Route::Download { .. } => "download",
            Route::Picture { file, .. } => match file.kind() {
                PictureKind::Thumbnail => "thumbnail",
                PictureKind::Storyboard => "storyboard",
                PictureKind::Animated => "animated",
            },
            Route::SubtitleFile { .. } => "subtitle_file",
        }
    }

    /// The audience a signed playback token must have for this route (`t`, `s`, `g` for
    /// pictures, `v` for everything else).
    pub fn audience(&self) -> crate::playback::TokenAudience {
        use crate::playback::TokenAudience;
        match self {
            Route::Picture { file, .. } => match file.kind() {
                PictureKind::Thumbnail => TokenAudience::Thumbnail,
                PictureKind::Storyboard => TokenAudience::Storyboard,
                PictureKind::Animated => TokenAudience::Animated,
            },
            _ => TokenAudience::Play,
        }
    }

    /// Whether the response is a playlist (text, regenerated, not immutable).
    pub fn is_playlist(&self) -> bool {
        matches!(
            self,
            Route::Master { .. }
                | Route::Mpd { .. }
                | Route::MediaPlaylist { .. }
                | Route::IFramePlaylist { .. }
                | Route::SubtitlePlaylist { .. }
        )
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
        // Split without allocating: no media URL has more than MAX_PARTS parts.
        let mut slots = [""; MAX_PARTS];
        let mut count = 0;
        for part in rest.split('/') {
            *slots
                .get_mut(count)
                .ok_or(RouteError::Malformed("too many path segments"))? = part;
            count += 1;
        }
        let parts = &slots[..count];
        let id = *parts
            .first()
            .ok_or(RouteError::Malformed("missing video id"))?;
        if !names::is_valid_video_id(id) {
            return Err(RouteError::Malformed("invalid video id"));
        }
        let id = id.to_string();
        let (format, parts) = match parts.get(1).copied() {
            Some("ts") => (Format::Ts, &parts[2..]),
            Some("br") => (Format::ByteRange, &parts[2..]),
            _ => (Format::Cmaf, &parts[1..]),
        };
        match (format, parts) {
            (Format::Cmaf, [KEYS_DIR, CLEARKEY_LICENCE]) => Ok(Route::Licence { id }),
            (Format::Cmaf, [KEYS_DIR, file]) => {
                let kid = file
                    .strip_suffix(KEY_EXT)
                    .filter(|k| is_valid_key_id(k))
                    .ok_or(RouteError::Malformed("invalid key name"))?;
                Ok(Route::Key {
                    id,
                    kid: kid.to_string(),
                })
            }
            (Format::Cmaf, [DOWNLOADS_DIR, file]) => {
                let file = if *file == AUDIO_DOWNLOAD {
                    Download::Audio
                } else {
                    let rendition = file
                        .strip_suffix(MP4_EXT)
                        .filter(|r| names::is_valid_rendition(r))
                        .ok_or(RouteError::Malformed("invalid download name"))?;
                    Download::Video(rendition.to_string())
                };
                Ok(Route::Download { id, file })
            }
            (_, [MASTER]) => Ok(Route::Master { id, format }),
            (Format::Cmaf, [file]) if PictureFile::parse(file).is_some() => Ok(Route::Picture {
                id,
                file: PictureFile::parse(file).ok_or(RouteError::Malformed("unknown file"))?,
            }),
            (Format::Cmaf, [MPD]) => Ok(Route::Mpd { id }),
            (Format::Cmaf, [SUBS_DIR, file]) if file.ends_with(VTT_EXT) => {
                let lang = file
                    .strip_suffix(VTT_EXT)
                    .filter(|l| names::is_valid_audio_track(l))
                    .ok_or(RouteError::Malformed("invalid subtitle file name"))?;
                Ok(Route::SubtitleFile {
                    id,
                    lang: lang.to_string(),
                })
            }
            (_, [SUBS_DIR, file]) => {
                let lang = file
                    .strip_suffix(".m3u8")
                    .filter(|l| names::is_valid_audio_track(l))
                    .ok_or(RouteError::Malformed("invalid subtitle playlist name"))?;
                Ok(Route::SubtitlePlaylist {
                    id,
                    format,
                    lang: lang.to_string(),
                })
            }
            (_, [SUBS_DIR, lang, file]) => {
                if !names::is_valid_audio_track(lang) {
                    return Err(RouteError::Malformed("invalid subtitle language"));
                }
                Ok(Route::SubtitleSegment {
                    id,
                    format,
                    lang: lang.to_string(),
                    number: segment_number(file, VTT_EXT)?,
                })
            }
            (_, [AUDIO_DIR, track, file]) => {
                if !names::is_valid_audio_track(track) {
                    return Err(RouteError::Malformed("invalid audio track name"));
                }
                Self::track_file(id, format, TrackRef::Audio(track.to_string()), file)
            }
            (_, [rendition, IFRAMES_DIR, file]) if names::is_valid_rendition(rendition) => {
                let number = match format {
                    Format::Cmaf => segment_number(file, SEGMENT_EXT)?,
                    Format::Ts => segment_number(file, TS_EXT)?,
                    Format::ByteRange => {
                        return Err(RouteError::Malformed(
                            "byte-range mode names key frames by range",
                        ))
                    }
                };
                Ok(Route::IFrame {
                    id,
                    format,
                    rendition: rendition.to_string(),
                    number,
                })
            }
            (_, [rendition, file]) => {
                if !names::is_valid_rendition(rendition) {
                    return Err(RouteError::Malformed("invalid rendition name"));
                }
                if *file == IFRAME_PLAYLIST {
                    return Ok(Route::IFramePlaylist {
                        id,
                        format,
                        rendition: rendition.to_string(),
                    });
                }
                Self::track_file(id, format, TrackRef::Video(rendition.to_string()), file)
            }
            _ => Err(RouteError::Malformed("unknown path shape")),
        }
    }

    fn track_file(
        id: String,
        format: Format,
        track: TrackRef,
        file: &str,
    ) -> Result<Route, RouteError> {
        if file == MEDIA_PLAYLIST {
            if format == Format::Ts && matches!(track, TrackRef::Audio(_)) {
                return Err(RouteError::Malformed(
                    "TS muxes audio into the video renditions",
                ));
            }
            return Ok(Route::MediaPlaylist { id, format, track });
        }
        match (format, &track) {
            (Format::Cmaf, _) if file == INIT => Ok(Route::Init { id, track }),
            (Format::Cmaf, _) => Ok(Route::Segment {
                number: segment_number(file, SEGMENT_EXT)?,
                id,
                track,
            }),
            (Format::Ts, TrackRef::Video(rendition)) => Ok(Route::TsSegment {
                number: segment_number(file, TS_EXT)?,
                rendition: rendition.clone(),
                id,
            }),
            (Format::ByteRange, _) if file == TRACK_FILE => Ok(Route::TrackFile { id, track }),
            _ => Err(RouteError::Malformed("unknown file name")),
        }
    }

    /// The canonical path of this route; `Route::parse(&r.to_path()) == Ok(r)`.
    pub fn to_path(&self) -> String {
        // Room for any path this edge serves (ids and names are short): one allocation,
        // with space left for what cache keys append.
        let mut out = String::with_capacity(PATH_CAPACITY);
        self.write_path(&mut out);
        out
    }

    /// Appends the route's URL path to `out`.
    fn write_path(&self, out: &mut String) {
        use std::fmt::Write;
        // Writing to a `String` cannot fail.
        let _ = match self {
            Route::Master { id, format } => write!(out, "{PREFIX}{id}/{}{MASTER}", format.prefix()),
            Route::Mpd { id } => write!(out, "{PREFIX}{id}/{MPD}"),
            Route::MediaPlaylist { id, format, track } => {
                write!(
                    out,
                    "{PREFIX}{id}/{}{}/{MEDIA_PLAYLIST}",
                    format.prefix(),
                    TrackDir(track)
                )
            }
            Route::IFramePlaylist {
                id,
                format,
                rendition,
            } => write!(
                out,
                "{PREFIX}{id}/{}{rendition}/{IFRAME_PLAYLIST}",
                format.prefix()
            ),
            Route::IFrame {
                id,
                format,
                rendition,
                number,
            } => {
                let ext = if *format == Format::Ts {
                    TS_EXT
                } else {
                    SEGMENT_EXT
                };
                write!(
                    out,
                    "{PREFIX}{id}/{}{rendition}/{IFRAMES_DIR}/{number}{ext}",
                    format.prefix()
                )
            }
            Route::Init { id, track } => write!(out, "{PREFIX}{id}/{}/{INIT}", TrackDir(track)),
            Route::Key { id, kid } => write!(out, "{PREFIX}{id}/{KEYS_DIR}/{kid}{KEY_EXT}"),
            Route::Licence { id } => write!(out, "{PREFIX}{id}/{KEYS_DIR}/{CLEARKEY_LICENCE}"),
            Route::SubtitleFile { id, lang } => {
                write!(out, "{PREFIX}{id}/{SUBS_DIR}/{lang}{VTT_EXT}")
            }
            Route::Download {
                id,
                file: Download::Video(rendition),
            } => write!(out, "{PREFIX}{id}/{DOWNLOADS_DIR}/{rendition}{MP4_EXT}"),
            Route::Download {
                id,
                file: Download::Audio,
            } => write!(out, "{PREFIX}{id}/{DOWNLOADS_DIR}/{AUDIO_DOWNLOAD}"),
            Route::Picture { id, file } => write!(out, "{PREFIX}{id}/{}", file.file_name()),
            Route::Segment { id, track, number } => {
                // The file name `segment_file` gives, written in place.
                write!(
                    out,
                    "{PREFIX}{id}/{}/{number}{SEGMENT_EXT}",
                    TrackDir(track)
                )
            }
            Route::TsSegment {
                id,
                rendition,
                number,
            } => write!(out, "{PREFIX}{id}/ts/{rendition}/{number}{TS_EXT}"),
            Route::TrackFile { id, track } => {
                write!(out, "{PREFIX}{id}/br/{}/{TRACK_FILE}", TrackDir(track))
            }
            Route::SubtitlePlaylist { id, format, lang } => {
                write!(
                    out,
                    "{PREFIX}{id}/{}{SUBS_DIR}/{lang}.m3u8",
                    format.prefix()
                )
            }
            Route::SubtitleSegment {
                id,
                format,
                lang,
                number,
            } => write!(
                out,
                "{PREFIX}{id}/{}{SUBS_DIR}/{lang}/{number}{VTT_EXT}",
                format.prefix()
            ),
        };
    }
}

/// The most `/`-separated parts after `/v/` any media URL has (id, format, `audio`, track
/// name, file), with room to spare.
const MAX_PARTS: usize = 8;

/// Bytes reserved for a route's path: room for it and for what cache keys append.
const PATH_CAPACITY: usize = 128;

/// Parses `{n}{ext}`: a decimal segment number without leading zeros.
fn segment_number(file: &str, ext: &str) -> Result<u64, RouteError> {
    let digits = file
        .strip_suffix(ext)
        .ok_or(RouteError::Malformed("unknown file name"))?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(RouteError::Malformed(
            "segment number is not a decimal integer",
        ));
    }
    if digits.len() > 1 && digits.starts_with('0') {
        return Err(RouteError::Malformed("segment number has leading zeros"));
    }
    digits
        .parse::<u64>()
        .map_err(|_| RouteError::NotFound("segment number beyond any video"))
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
        check(
            "/v/abc/master.m3u8",
            Ok(Route::Master {
                id: id(),
                format: Format::Cmaf,
            }),
        );
        check(
            "/v/abc/720p/media.m3u8",
            Ok(Route::MediaPlaylist {
                id: id(),
                format: Format::Cmaf,
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
                format: Format::Cmaf,
                rendition: "720p".into(),
            }),
        );
        check(
            "/v/abc/audio/und/media.m3u8",
            Ok(Route::MediaPlaylist {
                id: id(),
                format: Format::Cmaf,
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
            // Deeper than any media URL: refused before the parts are matched.
            "/v/abc/ts/audio/en/a/b/c/d/media.m3u8",
            &format!("/v/abc{}", "/x".repeat(10_000)),
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

    #[test]
    fn every_format_round_trips() {
        let id = || "abc".to_string();
        let routes = [
            Route::Mpd { id: id() },
            Route::Master {
                id: id(),
                format: Format::Ts,
            },
            Route::Master {
                id: id(),
                format: Format::ByteRange,
            },
            Route::MediaPlaylist {
                id: id(),
                format: Format::Ts,
                track: TrackRef::Video("720p".into()),
            },
            Route::MediaPlaylist {
                id: id(),
                format: Format::ByteRange,
                track: TrackRef::Audio("und".into()),
            },
            Route::IFramePlaylist {
                id: id(),
                format: Format::Ts,
                rendition: "360p".into(),
            },
            Route::TsSegment {
                id: id(),
                rendition: "720p".into(),
                number: 12,
            },
            Route::IFrame {
                id: id(),
                format: Format::Cmaf,
                rendition: "720p".into(),
                number: 7,
            },
            Route::IFrame {
                id: id(),
                format: Format::Ts,
                rendition: "360p".into(),
                number: 0,
            },
            Route::TrackFile {
                id: id(),
                track: TrackRef::Video("480p".into()),
            },
            Route::TrackFile {
                id: id(),
                track: TrackRef::Audio("eng".into()),
            },
            Route::Licence { id: id() },
            Route::Download {
                id: id(),
                file: Download::Video("1080p".into()),
            },
            Route::Download {
                id: id(),
                file: Download::Audio,
            },
            Route::Picture {
                id: id(),
                file: PictureFile::Thumbnail(crate::picture::ImageFormat::Webp),
            },
            Route::Picture {
                id: id(),
                file: PictureFile::StoryboardVtt,
            },
            Route::Picture {
                id: id(),
                file: PictureFile::Animated(crate::picture::ImageFormat::Gif),
            },
            Route::SubtitlePlaylist {
                id: id(),
                format: Format::Cmaf,
                lang: "en".into(),
            },
            Route::SubtitlePlaylist {
                id: id(),
                format: Format::Ts,
                lang: "fr".into(),
            },
            Route::SubtitleSegment {
                id: id(),
                format: Format::Cmaf,
                lang: "en".into(),
                number: 3,
            },
            Route::SubtitleSegment {
                id: id(),
                format: Format::ByteRange,
                lang: "en".into(),
                number: 0,
            },
        ];
        for r in routes {
            assert_eq!(Route::parse(&r.to_path()), Ok(r.clone()), "{}", r.to_path());
        }
        assert_eq!(
            Route::parse("/v/abc/ts/720p/3.ts").unwrap().kind(),
            "ts_segment"
        );
        for bad in [
            "/v/abc/ts/audio/und/media.m3u8",
            "/v/abc/ts/720p/3.m4s",
            "/v/abc/ts/720p/init.mp4",
            "/v/abc/br/720p/3.m4s",
            "/v/abc/720p/3.ts",
            "/v/abc/720p/track.mp4",
            "/v/abc/subs/EN.m3u8",
            "/v/abc/subs/en/01.vtt",
            "/v/abc/ts/ts/master.m3u8",
            "/v/abc/br/720p/iframes/3.m4s",
            "/v/abc/720p/iframes/3.ts",
            "/v/abc/ts/720p/iframes/3.m4s",
            "/v/abc/720p/iframes/03.m4s",
            "/v/abc/download/720.mp4",
            "/v/abc/download/720p.m4a",
            "/v/abc/thumbnail.gif",
            "/v/abc/ts/thumbnail.jpg",
            "/v/abc/720p/thumbnail.jpg",
            "/v/abc/download/audio.mp4",
            "/v/abc/ts/download/720p.mp4",
            "/v/abc/br/download/720p.mp4",
        ] {
            assert!(
                matches!(Route::parse(bad), Err(RouteError::Malformed(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn protection_is_the_directory_after_the_id_and_request_paths_round_trip() {
        let media = |id: &str| Route::MediaPlaylist {
            id: id.into(),
            format: Format::Cmaf,
            track: TrackRef::Video("720p".into()),
        };
        for (path, protection) in [
            ("/v/abc/720p/media.m3u8", Protection::Clear),
            ("/v/abc/aes/720p/media.m3u8", Protection::Aes128),
            ("/v/abc/saes/720p/media.m3u8", Protection::SampleAes),
        ] {
            assert_eq!(
                parse_request(path),
                Ok((protection, media("abc"))),
                "{path}"
            );
            assert_eq!(request_path(protection, &media("abc")), path);
        }
        // A video or rendition named like a protection directory is not one.
        assert_eq!(
            parse_request("/v/aes/aes/720p/media.m3u8"),
            Ok((Protection::Aes128, media("aes")))
        );
        // Encrypted trick play: key-frame resources and their playlists, not in byte-range mode.
        for served in [
            "/v/abc/cenc/manifest.mpd",
            "/v/abc/cenc/720p/init.mp4",
            "/v/abc/cenc/720p/3.m4s",
            "/v/abc/cenc/720p/iframes/3.m4s",
            "/v/abc/cenc/subs/en.vtt",
            "/v/abc/saes/manifest.mpd",
            "/v/abc/saes/subs/en.vtt",
            "/v/abc/aes/720p/iframes.m3u8",
            "/v/abc/aes/ts/720p/iframes.m3u8",
            "/v/abc/saes/720p/iframes/4.m4s",
            "/v/abc/saes/ts/720p/iframes/4.ts",
        ] {
            assert!(parse_request(served).is_ok(), "{served}");
        }
        for refused in [
            "/v/abc/cenc/master.m3u8",
            "/v/abc/cenc/720p/media.m3u8",
            "/v/abc/cenc/ts/720p/3.ts",
            "/v/abc/cenc/keys/clearkey",
            "/v/abc/aes/br/720p/iframes.m3u8",
            "/v/abc/aes/keys/0123456789abcdef0123456789abcdef.key",
            "/v/abc/aes/720p/track.mp4",
            "/v/abc/aes/download/720p.mp4",
            "/v/abc/aes/thumbnail.jpg",
            "/v/abc/saes/storyboard.vtt",
            "/v/abc/cenc/download/audio.m4a",
            "/v/abc/saes/br/720p/media.m3u8",
            "/v/abc/aes/",
            "/v//aes/720p/media.m3u8",
            "/v/abc/aes/aes/720p/media.m3u8",
        ] {
            assert!(
                matches!(parse_request(refused), Err(RouteError::Malformed(_))),
                "{refused}"
            );
        }
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
