//! Pictures of a video (Mux's image API): thumbnails at a time, the storyboard (a grid of
//! key frames with its WebVTT and JSON index, for seek-bar previews) and animated previews.
//!
//! Pure planning: which file a URL names, what its query asks for (every number bounded), the
//! concrete picture a request resolves to (its canonical query, the cache key and what the
//! picture service is asked), the geometry of a fit mode, which rendition to decode, the
//! storyboard's tiles and their index files, and where a smart crop goes. Pixels are
//! decoded and encoded by the picture service (`sunomi-origin pictures`), never here.

use std::fmt::Write as _;

use crate::manifest::Rendition;
use crate::track::TrackIndex;

/// Stem of a thumbnail's file name (`thumbnail.jpg`).
pub const THUMBNAIL: &str = "thumbnail";
/// Stem of the storyboard's files (`storyboard.vtt`, `.json`, `.jpg`, `.webp`).
pub const STORYBOARD: &str = "storyboard";
/// Stem of an animated preview's file name (`animated.gif`).
pub const ANIMATED: &str = "animated";

/// Path prefix of the picture service's requests: `{SERVICE_PATH}/{video}/{file}?{spec}`,
/// the spec being [`PictureSpec::to_query`].
pub const SERVICE_PATH: &str = "/pictures";
/// The request header naming the track file's version the edge planned a picture against:
/// the service answers 409 when storage holds another.
pub const VERSION_HEADER: &str = "X-Sunomi-Track-Version";

/// Largest width or height of a thumbnail or an animated preview's frame, in pixels.
pub const MAX_SIDE: u32 = 1920;
/// Smallest width or height asked for.
pub const MIN_SIDE: u32 = 16;
/// Width of a thumbnail when the query names no size (the source's when smaller).
pub const DEFAULT_WIDTH: u32 = 1280;
/// Longest animated preview, in milliseconds.
pub const MAX_ANIMATED_MS: u64 = 10_000;
/// An animated preview's default length.
pub const DEFAULT_ANIMATED_MS: u64 = 5_000;
/// Largest width of an animated preview.
pub const MAX_ANIMATED_WIDTH: u32 = 640;
/// Default width of an animated preview.
pub const DEFAULT_ANIMATED_WIDTH: u32 = 320;
/// Highest frame rate of an animated preview.
pub const MAX_FPS: u32 = 30;
/// Default frame rate of an animated preview.
pub const DEFAULT_FPS: u32 = 15;
/// Most tiles in a storyboard.
pub const MAX_TILES: usize = 100;
/// Tiles per row of a storyboard.
pub const STORYBOARD_COLUMNS: u32 = 10;
/// Width of a storyboard tile.
pub const TILE_WIDTH: u32 = 256;
/// Largest scaled picture a fit mode may ask for, either side (a crop of an extreme aspect
/// would otherwise scale the source to tens of thousands of pixels).
pub const MAX_SCALED_SIDE: u32 = 4096;

/// An image encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageFormat {
    /// JPEG (`.jpg`).
    Jpeg,
    /// PNG (`.png`).
    Png,
    /// WebP (`.webp`; animated for `animated.webp`).
    Webp,
    /// GIF (`.gif`; animated previews only).
    Gif,
}

impl ImageFormat {
    /// The file extension, without its dot.
    pub fn ext(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "jpg",
            ImageFormat::Png => "png",
            ImageFormat::Webp => "webp",
            ImageFormat::Gif => "gif",
        }
    }

    /// The media type.
    pub fn content_type(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "image/jpeg",
            ImageFormat::Png => "image/png",
            ImageFormat::Webp => "image/webp",
            ImageFormat::Gif => "image/gif",
        }
    }

    fn from_ext(ext: &str) -> Option<ImageFormat> {
        [
            ImageFormat::Jpeg,
            ImageFormat::Png,
            ImageFormat::Webp,
            ImageFormat::Gif,
        ]
        .into_iter()
        .find(|f| f.ext() == ext)
    }
}

/// Which picture file a URL names (`/v/{id}/{file}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PictureFile {
    /// `thumbnail.{jpg,png,webp}`: one frame.
    Thumbnail(ImageFormat),
    /// `storyboard.vtt`: WebVTT cues naming each tile of the storyboard image (`#xywh=`).
    StoryboardVtt,
    /// `storyboard.json`: the same index in Mux's JSON form.
    StoryboardJson,
    /// `storyboard.{jpg,webp}`: the tile grid.
    StoryboardImage(ImageFormat),
    /// `animated.{gif,webp}`: a short silent loop.
    Animated(ImageFormat),
}

/// Who may ask for a picture with a signed playback token: the token's `aud` (Mux's
/// audiences: `t` thumbnails, `s` storyboards, `g` animated).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PictureKind {
    /// Thumbnails.
    Thumbnail,
    /// Storyboard image and index.
    Storyboard,
    /// Animated previews.
    Animated,
}

impl PictureFile {
    /// The picture file named `file`, if it is one.
    pub fn parse(file: &str) -> Option<PictureFile> {
        let (stem, ext) = file.split_once('.')?;
        let format = ImageFormat::from_ext(ext);
        match (stem, ext, format) {
            (
                THUMBNAIL,
                _,
                Some(f @ (ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::Webp)),
            ) => Some(PictureFile::Thumbnail(f)),
            (STORYBOARD, "vtt", _) => Some(PictureFile::StoryboardVtt),
            (STORYBOARD, "json", _) => Some(PictureFile::StoryboardJson),
            (STORYBOARD, _, Some(f @ (ImageFormat::Jpeg | ImageFormat::Webp))) => {
                Some(PictureFile::StoryboardImage(f))
            }
            (ANIMATED, _, Some(f @ (ImageFormat::Gif | ImageFormat::Webp))) => {
                Some(PictureFile::Animated(f))
            }
            _ => None,
        }
    }

    /// The file name ([`PictureFile::parse`]'s inverse).
    pub fn file_name(self) -> String {
        match self {
            PictureFile::Thumbnail(f) => format!("{THUMBNAIL}.{}", f.ext()),
            PictureFile::StoryboardVtt => format!("{STORYBOARD}.vtt"),
            PictureFile::StoryboardJson => format!("{STORYBOARD}.json"),
            PictureFile::StoryboardImage(f) => format!("{STORYBOARD}.{}", f.ext()),
            PictureFile::Animated(f) => format!("{ANIMATED}.{}", f.ext()),
        }
    }

    /// Which audience a signed token needs for it.
    pub fn kind(self) -> PictureKind {
        match self {
            PictureFile::Thumbnail(_) => PictureKind::Thumbnail,
            PictureFile::StoryboardVtt
            | PictureFile::StoryboardJson
            | PictureFile::StoryboardImage(_) => PictureKind::Storyboard,
            PictureFile::Animated(_) => PictureKind::Animated,
        }
    }

    /// The media type of the response.
    pub fn content_type(self) -> &'static str {
        match self {
            PictureFile::Thumbnail(f)
            | PictureFile::StoryboardImage(f)
            | PictureFile::Animated(f) => f.content_type(),
            PictureFile::StoryboardVtt => "text/vtt; charset=utf-8",
            PictureFile::StoryboardJson => "application/json",
        }
    }

    /// Whether the file is an image the picture service makes (the index files are written
    /// by the edge from the track index alone).
    pub fn is_image(self) -> bool {
        !matches!(
            self,
            PictureFile::StoryboardVtt | PictureFile::StoryboardJson
        )
    }
}

/// Why a picture query is refused (400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PictureError {
    /// A parameter this file does not take.
    #[error("unknown query parameter {0:?}")]
    Unknown(String),
    /// A value out of bounds or not a number.
    #[error("bad {name}: {reason}")]
    Invalid {
        /// The parameter.
        name: &'static str,
        /// Why.
        reason: String,
    },
    /// The video has nothing to draw from (no video rendition).
    #[error("the video has no pictures")]
    NoVideo,
}

/// How a picture fills the asked width × height (Mux's `fit_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum FitMode {
    /// The whole frame, scaled to fit inside; the picture takes the frame's aspect.
    #[default]
    Preserve,
    /// Scaled to cover, the middle kept.
    Crop,
    /// Scaled to fit inside, black bars to the asked size.
    Pad,
    /// Scaled to cover, the part with the most detail kept.
    Smartcrop,
}

impl FitMode {
    fn as_str(self) -> &'static str {
        match self {
            FitMode::Preserve => "preserve",
            FitMode::Crop => "crop",
            FitMode::Pad => "pad",
            FitMode::Smartcrop => "smartcrop",
        }
    }

    fn parse(value: &str) -> Result<FitMode, PictureError> {
        [
            FitMode::Preserve,
            FitMode::Crop,
            FitMode::Pad,
            FitMode::Smartcrop,
        ]
        .into_iter()
        .find(|m| m.as_str() == value)
        .ok_or_else(|| PictureError::Invalid {
            name: "fit_mode",
            reason: format!(
                "{:?} is not preserve, crop, pad or smartcrop",
                truncate(value)
            ),
        })
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(32).collect()
}

/// A thumbnail or animated query as asked, each number within its bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PictureQuery {
    /// `time` (thumbnail), milliseconds.
    pub time_ms: Option<u64>,
    /// `start` (animated), milliseconds.
    pub start_ms: Option<u64>,
    /// `end` (animated), milliseconds.
    pub end_ms: Option<u64>,
    /// `width`.
    pub width: Option<u32>,
    /// `height`.
    pub height: Option<u32>,
    /// `fit_mode` (thumbnail).
    pub fit: FitMode,
    /// `fps` (animated).
    pub fps: Option<u32>,
    /// `format` (storyboard index files: the image they name, `jpg` or `webp`).
    pub tiles: Option<ImageFormat>,
}

fn seconds_ms(name: &'static str, value: &str) -> Result<u64, PictureError> {
    let bad = |reason: &str| PictureError::Invalid {
        name,
        reason: format!("{:?} {reason}", truncate(value)),
    };
    let (whole, frac) = value.split_once('.').unwrap_or((value, ""));
    if whole.is_empty()
        || whole.len() > 6
        || frac.len() > 3
        || !whole
            .bytes()
            .chain(frac.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return Err(bad("is not a number of seconds (up to 999999.999)"));
    }
    let whole: u64 = whole.parse().map_err(|_| bad("is not a number"))?;
    let frac: u64 = format!("{frac:0<3}").parse().unwrap_or(0);
    Ok(whole * 1000 + frac)
}

fn bounded(name: &'static str, value: &str, min: u32, max: u32) -> Result<u32, PictureError> {
    value
        .parse::<u32>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| PictureError::Invalid {
            name,
            reason: format!(
                "{:?} is not a whole number from {min} to {max}",
                truncate(value)
            ),
        })
}

impl PictureQuery {
    /// Parses the query of a request for `file`: each file takes its own parameters
    /// (thumbnails `time width height fit_mode`, animated `start end width height fps`, the
    /// storyboard's index `format`), plus the signed playback `token`.
    pub fn parse(file: PictureFile, query: &str) -> Result<PictureQuery, PictureError> {
        let mut q = PictureQuery::default();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let max_side = match file {
                PictureFile::Animated(_) => MAX_ANIMATED_WIDTH,
                _ => MAX_SIDE,
            };
            match (file, name) {
                (_, "token") => {}
                (PictureFile::Thumbnail(_), "time") => q.time_ms = Some(seconds_ms("time", value)?),
                (PictureFile::Thumbnail(_), "fit_mode") => q.fit = FitMode::parse(value)?,
                (PictureFile::Thumbnail(_) | PictureFile::Animated(_), "width") => {
                    q.width = Some(bounded("width", value, MIN_SIDE, max_side)?)
                }
                (PictureFile::Thumbnail(_) | PictureFile::Animated(_), "height") => {
                    q.height = Some(bounded("height", value, MIN_SIDE, max_side)?)
                }
                (PictureFile::Animated(_), "start") => {
                    q.start_ms = Some(seconds_ms("start", value)?)
                }
                (PictureFile::Animated(_), "end") => q.end_ms = Some(seconds_ms("end", value)?),
                (PictureFile::Animated(_), "fps") => {
                    q.fps = Some(bounded("fps", value, 1, MAX_FPS)?)
                }
                (PictureFile::StoryboardVtt | PictureFile::StoryboardJson, "format") => {
                    q.tiles = Some(match value {
                        "jpg" => ImageFormat::Jpeg,
                        "webp" => ImageFormat::Webp,
                        _ => {
                            return Err(PictureError::Invalid {
                                name: "format",
                                reason: format!("{:?} is not jpg or webp", truncate(value)),
                            })
                        }
                    })
                }
                (_, other) => return Err(PictureError::Unknown(truncate(other))),
            }
        }
        Ok(q)
    }
}

/// Where a scaled frame lands on the picture: the frame is scaled to `scaled_w` × `scaled_h`
/// and its top-left corner put at (`x`, `y`) of a black `width` × `height` picture (negative:
/// cropped away; positive: padded).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Geometry {
    /// Width of the scaled frame.
    pub scaled_w: u32,
    /// Height of the scaled frame.
    pub scaled_h: u32,
    /// The picture's width.
    pub width: u32,
    /// The picture's height.
    pub height: u32,
    /// Horizontal position of the scaled frame on the picture.
    pub x: i32,
    /// Vertical position of the scaled frame on the picture.
    pub y: i32,
}

fn scaled(n: u32, scale: f64) -> u32 {
    ((f64::from(n) * scale).round() as u32).max(1)
}

/// The geometry of a `source_w` × `source_h` frame asked as `width` × `height` (either may
/// be left to the frame's aspect) with `fit`; `default_width` when neither is given.
pub fn geometry(
    source: (u32, u32),
    width: Option<u32>,
    height: Option<u32>,
    fit: FitMode,
    default_width: u32,
) -> Result<Geometry, PictureError> {
    let (sw, sh) = (source.0.max(1), source.1.max(1));
    let (fw, fh) = (f64::from(sw), f64::from(sh));
    let g = match (width, height) {
        (Some(w), Some(h)) => {
            let fit_inside = (f64::from(w) / fw).min(f64::from(h) / fh);
            let cover = (f64::from(w) / fw).max(f64::from(h) / fh);
            let scale = match fit {
                FitMode::Preserve | FitMode::Pad => fit_inside,
                FitMode::Crop | FitMode::Smartcrop => cover,
            };
            let (scaled_w, scaled_h) = (scaled(sw, scale), scaled(sh, scale));
            match fit {
                FitMode::Preserve => Geometry {
                    scaled_w,
                    scaled_h,
                    width: scaled_w,
                    height: scaled_h,
                    x: 0,
                    y: 0,
                },
                _ => Geometry {
                    scaled_w,
                    scaled_h,
                    width: w,
                    height: h,
                    x: ((i64::from(w) - i64::from(scaled_w)) / 2) as i32,
                    y: ((i64::from(h) - i64::from(scaled_h)) / 2) as i32,
                },
            }
        }
        (Some(w), None) => {
            let h = scaled(sh, f64::from(w) / fw);
            Geometry {
                scaled_w: w,
                scaled_h: h,
                width: w,
                height: h,
                x: 0,
                y: 0,
            }
        }
        (None, Some(h)) => {
            let w = scaled(sw, f64::from(h) / fh);
            Geometry {
                scaled_w: w,
                scaled_h: h,
                width: w,
                height: h,
                x: 0,
                y: 0,
            }
        }
        (None, None) => return geometry(source, Some(sw.min(default_width)), None, fit, 0),
    };
    if g.scaled_w > MAX_SCALED_SIDE
        || g.scaled_h > MAX_SCALED_SIDE
        || g.width > MAX_SCALED_SIDE
        || g.height > MAX_SCALED_SIDE
    {
        return Err(PictureError::Invalid {
            name: "width",
            reason: format!(
                "the frame would be scaled to {}×{}, more than {MAX_SCALED_SIDE} a side",
                g.scaled_w, g.scaled_h
            ),
        });
    }
    Ok(g)
}

/// The track to draw a `width` × `height` picture from: of the renditions and the picture
/// track, the smallest at least that large (less to decode, no upscaling), else the largest
/// rendition. `None` for a video without one.
pub fn source_rendition<'a>(
    renditions: &'a [Rendition],
    picture_track: Option<&'a Rendition>,
    width: u32,
    height: u32,
) -> Option<&'a Rendition> {
    let largest = renditions.iter().max_by_key(|r| (r.height, r.width))?;
    renditions
        .iter()
        .chain(picture_track)
        .filter(|r| r.width >= width && r.height >= height)
        .min_by_key(|r| (r.height, r.width))
        .or(Some(largest))
}

/// A picture as the picture service is asked for it: every value concrete, so equal
/// pictures have equal [`PictureSpec::to_query`] (the cache key) however they were asked.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PictureSpec {
    /// What to make.
    pub file: PictureFile,
    /// The rendition decoded.
    pub rendition: String,
    /// Thumbnail: the frame's time. Animated: the first frame's.
    pub time_ms: u64,
    /// Animated: the end (exclusive). Thumbnail: equal to `time_ms`.
    pub end_ms: u64,
    /// Animated: frames per second (0 otherwise).
    pub fps: u32,
    /// Fit mode (thumbnails).
    pub fit: FitMode,
    /// Where the frame goes (storyboards: one tile).
    pub geometry: Geometry,
}

impl PictureSpec {
    /// The spec as a query string, in a fixed order.
    pub fn to_query(&self) -> String {
        let g = &self.geometry;
        format!(
            "rendition={}&time={}&end={}&fps={}&fit_mode={}&scaled={}x{}&size={}x{}&at={},{}",
            self.rendition,
            self.time_ms,
            self.end_ms,
            self.fps,
            self.fit.as_str(),
            g.scaled_w,
            g.scaled_h,
            g.width,
            g.height,
            g.x,
            g.y
        )
    }

    /// Parses what [`PictureSpec::to_query`] wrote (the picture service's side), with the
    /// same bounds a player's query has.
    pub fn from_query(file: PictureFile, query: &str) -> Result<PictureSpec, PictureError> {
        let mut spec = PictureSpec {
            file,
            rendition: String::new(),
            time_ms: 0,
            end_ms: 0,
            fps: 0,
            fit: FitMode::Preserve,
            geometry: Geometry {
                scaled_w: 0,
                scaled_h: 0,
                width: 0,
                height: 0,
                x: 0,
                y: 0,
            },
        };
        let bad = |name: &'static str| PictureError::Invalid {
            name,
            reason: "malformed".into(),
        };
        let pair = |v: &str, sep: char| -> Option<(String, String)> {
            let (a, b) = v.split_once(sep)?;
            Some((a.to_string(), b.to_string()))
        };
        let mut seen = 0u8;
        for kv in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = kv.split_once('=').unwrap_or((kv, ""));
            match name {
                "rendition" if crate::names::is_valid_rendition(value) => {
                    spec.rendition = value.to_string()
                }
                "time" => spec.time_ms = value.parse().map_err(|_| bad("time"))?,
                "end" => spec.end_ms = value.parse().map_err(|_| bad("end"))?,
                "fps" => spec.fps = value.parse().map_err(|_| bad("fps"))?,
                "fit_mode" => spec.fit = FitMode::parse(value)?,
                "scaled" | "size" => {
                    let (w, h) = pair(value, 'x').ok_or_else(|| bad("size"))?;
                    let w = bounded("width", &w, 1, MAX_SCALED_SIDE)?;
                    let h = bounded("height", &h, 1, MAX_SCALED_SIDE)?;
                    if name == "scaled" {
                        (spec.geometry.scaled_w, spec.geometry.scaled_h) = (w, h);
                    } else {
                        (spec.geometry.width, spec.geometry.height) = (w, h);
                    }
                }
                "at" => {
                    let (x, y) = pair(value, ',').ok_or_else(|| bad("at"))?;
                    spec.geometry.x = x.parse().map_err(|_| bad("at"))?;
                    spec.geometry.y = y.parse().map_err(|_| bad("at"))?;
                }
                other => return Err(PictureError::Unknown(truncate(other))),
            }
            seen += 1;
        }
        if spec.rendition.is_empty() || seen < 8 {
            return Err(bad("spec"));
        }
        if spec.end_ms < spec.time_ms
            || spec.end_ms - spec.time_ms > MAX_ANIMATED_MS
            || spec.fps > MAX_FPS
        {
            return Err(bad("end"));
        }
        let g = &spec.geometry;
        let inside =
            |pos: i32, scaled: u32, size: u32| i64::from(pos).abs() <= i64::from(scaled.max(size));
        if !inside(g.x, g.scaled_w, g.width) || !inside(g.y, g.scaled_h, g.height) {
            return Err(bad("at"));
        }
        Ok(spec)
    }

    /// Frame times (ms) of an animated preview: from `time_ms` every `1000/fps` ms, before
    /// `end_ms`; the thumbnail's one time otherwise.
    pub fn frame_times(&self) -> Vec<u64> {
        if self.fps == 0 || self.end_ms <= self.time_ms {
            return vec![self.time_ms];
        }
        let span = self.end_ms - self.time_ms;
        let count = (span * u64::from(self.fps)).div_ceil(1000).max(1);
        (0..count)
            .map(|k| self.time_ms + k * 1000 / u64::from(self.fps))
            .collect()
    }
}

/// Resolves a player's query for `file` against the video: its renditions and picture track
/// ([`crate::manifest::Manifest::picture_track`]), duration and representative frame time
/// (`poster_ms`). Storyboard images and index files resolve to
/// the storyboard's tile geometry.
pub fn resolve(
    file: PictureFile,
    query: &PictureQuery,
    renditions: &[Rendition],
    picture_track: Option<&Rendition>,
    duration_ms: u64,
    poster_ms: u64,
) -> Result<PictureSpec, PictureError> {
    let largest = renditions
        .iter()
        .max_by_key(|r| (r.height, r.width))
        .ok_or(PictureError::NoVideo)?;
    let source = (largest.width, largest.height);
    let last_ms = duration_ms.saturating_sub(1);
    let past_end = |name: &'static str, ms: u64| PictureError::Invalid {
        name,
        reason: format!(
            "{}.{:03} s is past the video's end ({}.{:03} s)",
            ms / 1000,
            ms % 1000,
            duration_ms / 1000,
            duration_ms % 1000
        ),
    };
    let (time_ms, end_ms, fps, geometry) = match file {
        PictureFile::Thumbnail(_) => {
            let time = query.time_ms.unwrap_or(poster_ms.min(last_ms));
            if time > duration_ms {
                return Err(past_end("time", time));
            }
            let g = geometry(source, query.width, query.height, query.fit, DEFAULT_WIDTH)?;
            (time.min(last_ms), time.min(last_ms), 0, g)
        }
        PictureFile::Animated(_) => {
            let start = query.start_ms.unwrap_or(0);
            if start >= duration_ms {
                return Err(past_end("start", start));
            }
            let end = query
                .end_ms
                .unwrap_or(start + DEFAULT_ANIMATED_MS)
                .min(duration_ms);
            if end <= start {
                return Err(PictureError::Invalid {
                    name: "end",
                    reason: "must be after start".into(),
                });
            }
            if end - start > MAX_ANIMATED_MS {
                return Err(PictureError::Invalid {
                    name: "end",
                    reason: format!("an animation lasts at most {} s", MAX_ANIMATED_MS / 1000),
                });
            }
            let width = match (query.width, query.height) {
                (None, None) => Some(DEFAULT_ANIMATED_WIDTH),
                (w, _) => w,
            };
            let g = geometry(source, width, query.height, FitMode::Preserve, 0)?;
            if g.width > MAX_ANIMATED_WIDTH || g.height > MAX_ANIMATED_WIDTH {
                return Err(PictureError::Invalid {
                    name: "height",
                    reason: format!("an animation is at most {MAX_ANIMATED_WIDTH} pixels a side"),
                });
            }
            (start, end, query.fps.unwrap_or(DEFAULT_FPS), g)
        }
        PictureFile::StoryboardVtt
        | PictureFile::StoryboardJson
        | PictureFile::StoryboardImage(_) => {
            let g = geometry(source, Some(TILE_WIDTH), None, FitMode::Preserve, 0)?;
            (0, 0, 0, g)
        }
    };
    let rendition = source_rendition(
        renditions,
        picture_track,
        geometry.scaled_w,
        geometry.scaled_h,
    )
    .ok_or(PictureError::NoVideo)?;
    Ok(PictureSpec {
        file,
        rendition: rendition.name.clone(),
        time_ms,
        end_ms,
        fps,
        fit: query.fit,
        geometry,
    })
}

/// One tile of a storyboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tile {
    /// The fragment whose key frame it shows.
    pub fragment: usize,
    /// When the tile's span starts (the key frame's presentation time), ms.
    pub start_ms: u64,
    /// When it ends (the next tile's start, or the video's end), ms.
    pub end_ms: u64,
    /// Column, from 0.
    pub column: u32,
    /// Row, from 0.
    pub row: u32,
}

/// A storyboard: tiles of `tile_w` × `tile_h` in rows of [`STORYBOARD_COLUMNS`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Storyboard {
    /// Tile width.
    pub tile_w: u32,
    /// Tile height.
    pub tile_h: u32,
    /// Tiles per row.
    pub columns: u32,
    /// Rows.
    pub rows: u32,
    /// The tiles, in time order.
    pub tiles: Vec<Tile>,
    /// The video's duration, ms.
    pub duration_ms: u64,
}

/// The storyboard of a rendition whose fragments start at `fragment_starts_ms` (each with a
/// key frame; presentation times from 0), at most [`MAX_TILES`] tiles at least
/// `duration / MAX_TILES` apart: each fragment's key frame is decoded alone, so a storyboard
/// costs one picture per tile and no more.
pub fn storyboard(fragment_starts_ms: &[u64], duration_ms: u64, tile: (u32, u32)) -> Storyboard {
    let spacing = duration_ms / MAX_TILES as u64;
    let mut picked: Vec<(usize, u64)> = Vec::new();
    for (i, &start) in fragment_starts_ms.iter().enumerate() {
        if start >= duration_ms && !picked.is_empty() {
            break;
        }
        match picked.last() {
            Some(&(_, last)) if start < last + spacing.max(1) => {}
            _ => picked.push((i, start)),
        }
        if picked.len() == MAX_TILES {
            break;
        }
    }
    let columns = STORYBOARD_COLUMNS.min(picked.len().max(1) as u32);
    let count = picked.len() as u32;
    let tiles = picked
        .iter()
        .enumerate()
        .map(|(n, &(fragment, start_ms))| Tile {
            fragment,
            start_ms,
            end_ms: picked
                .get(n + 1)
                .map_or(duration_ms.max(start_ms + 1), |next| next.1),
            column: n as u32 % columns,
            row: n as u32 / columns,
        })
        .collect();
    Storyboard {
        tile_w: tile.0,
        tile_h: tile.1,
        columns,
        rows: count.div_ceil(columns).max(1),
        tiles,
        duration_ms,
    }
}

/// When each fragment's key frame is shown, in milliseconds from the presentation's start:
/// the fragment's presentation time less the track's `presentation_offset` (its edit).
pub fn key_frame_times_ms(index: &TrackIndex, presentation_offset: u64) -> Vec<u64> {
    let scale = u64::from(index.timescale.max(1));
    index
        .fragments
        .iter()
        .map(|f| f.time.saturating_sub(presentation_offset) * 1000 / scale)
        .collect()
}

/// The storyboard `spec` (a storyboard file's) plans over the rendition whose init segment
/// and index these are: the one plan the edge writes the index from and the picture
/// service draws the image from.
pub fn track_storyboard(
    init: &[u8],
    index: &TrackIndex,
    duration_ms: u64,
    spec: &PictureSpec,
) -> crate::Result<Storyboard> {
    let offset = crate::edit::presentation_offset(init)?;
    Ok(storyboard(
        &key_frame_times_ms(index, offset),
        duration_ms,
        (spec.geometry.width, spec.geometry.height),
    ))
}

impl Storyboard {
    /// The tile's pixel rectangle `(x, y, w, h)` in the image.
    pub fn rect(&self, tile: &Tile) -> (u32, u32, u32, u32) {
        (
            tile.column * self.tile_w,
            tile.row * self.tile_h,
            self.tile_w,
            self.tile_h,
        )
    }

    /// The image's size.
    pub fn size(&self) -> (u32, u32) {
        (self.columns * self.tile_w, self.rows * self.tile_h)
    }

    /// The WebVTT index: one cue per tile naming `image_url#xywh=x,y,w,h` (the Media
    /// Fragments form seek-preview plugins read).
    pub fn to_vtt(&self, image_url: &str) -> String {
        let mut out = String::from("WEBVTT\n");
        for t in &self.tiles {
            let (x, y, w, h) = self.rect(t);
            let _ = write!(
                out,
                "\n{} --> {}\n{image_url}#xywh={x},{y},{w},{h}\n",
                crate::vtt::format_timestamp(t.start_ms),
                crate::vtt::format_timestamp(t.end_ms)
            );
        }
        out
    }

    /// The JSON index, in Mux's shape: `url`, `tile_width`, `tile_height`, `duration`, and
    /// each tile's `start` (seconds) and `x`, `y`.
    pub fn to_json(&self, image_url: &str) -> String {
        let tiles: Vec<serde_json::Value> = self
            .tiles
            .iter()
            .map(|t| {
                let (x, y, _, _) = self.rect(t);
                serde_json::json!({"start": t.start_ms as f64 / 1000.0, "x": x, "y": y})
            })
            .collect();
        serde_json::json!({
            "url": image_url,
            "tile_width": self.tile_w,
            "tile_height": self.tile_h,
            "duration": self.duration_ms as f64 / 1000.0,
            "tiles": tiles,
        })
        .to_string()
    }
}

/// Where a smart crop of `crop_w` × `crop_h` goes in a `width` × `height` luma plane (rows
/// `stride` bytes apart): the window with the most detail (sum of absolute differences
/// between neighbouring pixels), searched along the axis the crop shortens. Returns the
/// window's top-left corner.
pub fn smart_crop(
    luma: &[u8],
    stride: usize,
    width: u32,
    height: u32,
    crop_w: u32,
    crop_h: u32,
) -> (u32, u32) {
    let (w, h) = (width as usize, height as usize);
    if luma.len() < stride.saturating_mul(h.saturating_sub(1)) + w || stride < w {
        return (
            (width.saturating_sub(crop_w)) / 2,
            (height.saturating_sub(crop_h)) / 2,
        );
    }
    // Detail per column and per row.
    let mut columns = vec![0u64; w];
    let mut rows = vec![0u64; h];
    for y in 0..h.saturating_sub(1) {
        let row = &luma[y * stride..y * stride + w];
        let below = &luma[(y + 1) * stride..(y + 1) * stride + w];
        for x in 0..w.saturating_sub(1) {
            let d = u64::from(row[x].abs_diff(row[x + 1])) + u64::from(row[x].abs_diff(below[x]));
            columns[x] += d;
            rows[y] += d;
        }
    }
    let best = |energy: &[u64], window: usize| -> usize {
        if window >= energy.len() {
            return 0;
        }
        let mut sum: u64 = energy[..window].iter().sum();
        let (mut best, mut best_at) = (sum, 0);
        for start in 1..=energy.len() - window {
            sum = sum + energy[start + window - 1] - energy[start - 1];
            // Ties keep the earlier, so a flat frame crops from its start.
            if sum > best {
                (best, best_at) = (sum, start);
            }
        }
        best_at
    };
    let x = best(&columns, crop_w as usize) as u32;
    let y = best(&rows, crop_h as usize) as u32;
    (x, y)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendition(name: &str, width: u32, height: u32) -> Rendition {
        Rendition {
            name: name.into(),
            width,
            height,
            ..crate::manifest::tests::sample().renditions.remove(0)
        }
    }

    fn ladder() -> Vec<Rendition> {
        vec![
            rendition("720p", 1280, 720),
            rendition("480p", 854, 480),
            rendition("360p", 640, 360),
        ]
    }

    #[test]
    fn file_names_round_trip_and_others_are_not_pictures() {
        for name in [
            "thumbnail.jpg",
            "thumbnail.png",
            "thumbnail.webp",
            "storyboard.vtt",
            "storyboard.json",
            "storyboard.jpg",
            "storyboard.webp",
            "animated.gif",
            "animated.webp",
        ] {
            let file = PictureFile::parse(name).unwrap();
            assert_eq!(file.file_name(), name);
        }
        for name in [
            "thumbnail.gif",
            "storyboard.png",
            "animated.jpg",
            "thumbnail",
            "poster.jpg",
            "thumbnail.jpg.jpg",
        ] {
            assert_eq!(PictureFile::parse(name), None, "{name}");
        }
        assert_eq!(
            PictureFile::parse("animated.gif").unwrap().kind(),
            PictureKind::Animated
        );
        assert!(!PictureFile::StoryboardVtt.is_image());
    }

    #[test]
    fn queries_are_bounded_and_each_file_takes_its_own() {
        let thumb = PictureFile::Thumbnail(ImageFormat::Jpeg);
        let q = PictureQuery::parse(thumb, "time=12.5&width=320&fit_mode=crop&token=x").unwrap();
        assert_eq!(q.time_ms, Some(12_500));
        assert_eq!(q.width, Some(320));
        assert_eq!(q.fit, FitMode::Crop);
        for bad in [
            "time=-1",
            "time=1e3",
            "time=1.2345",
            "width=0",
            "width=99999",
            "height=15",
            "fit_mode=stretch",
            "fps=10",
            "start=1",
            "nonsense=1",
        ] {
            assert!(PictureQuery::parse(thumb, bad).is_err(), "{bad}");
        }
        let anim = PictureFile::Animated(ImageFormat::Gif);
        assert!(PictureQuery::parse(anim, "width=641").is_err());
        assert!(PictureQuery::parse(anim, "fps=31").is_err());
        assert!(PictureQuery::parse(anim, "time=1").is_err());
        let q = PictureQuery::parse(anim, "start=1&end=3.5&fps=10").unwrap();
        assert_eq!(
            (q.start_ms, q.end_ms, q.fps),
            (Some(1000), Some(3500), Some(10))
        );
        let q = PictureQuery::parse(PictureFile::StoryboardVtt, "format=webp").unwrap();
        assert_eq!(q.tiles, Some(ImageFormat::Webp));
        assert!(PictureQuery::parse(PictureFile::StoryboardVtt, "format=gif").is_err());
        assert!(
            PictureQuery::parse(PictureFile::StoryboardImage(ImageFormat::Jpeg), "width=3")
                .is_err()
        );
    }

    #[test]
    fn fit_modes_place_the_scaled_frame() {
        let src = (1280, 720);
        let g = geometry(src, Some(320), Some(320), FitMode::Preserve, 0).unwrap();
        assert_eq!((g.width, g.height, g.x, g.y), (320, 180, 0, 0));
        let g = geometry(src, Some(320), Some(320), FitMode::Crop, 0).unwrap();
        assert_eq!((g.scaled_w, g.scaled_h), (569, 320));
        assert_eq!((g.width, g.height, g.x, g.y), (320, 320, -124, 0));
        let g = geometry(src, Some(320), Some(320), FitMode::Pad, 0).unwrap();
        assert_eq!((g.scaled_w, g.scaled_h), (320, 180));
        assert_eq!((g.width, g.height, g.x, g.y), (320, 320, 0, 70));
        let g = geometry(src, None, Some(360), FitMode::Crop, 0).unwrap();
        assert_eq!((g.width, g.height), (640, 360));
        let g = geometry(src, None, None, FitMode::Preserve, 640).unwrap();
        assert_eq!((g.width, g.height), (640, 360));
        let g = geometry((640, 360), None, None, FitMode::Preserve, 1280).unwrap();
        assert_eq!((g.width, g.height), (640, 360));
        // A crop of an extreme aspect would scale the frame past any bound.
        assert!(geometry((1280, 200), Some(16), Some(1920), FitMode::Crop, 0).is_err());
        assert!(geometry(src, Some(16), Some(1920), FitMode::Crop, 0).is_ok());
    }

    #[test]
    fn the_smallest_rendition_large_enough_is_decoded() {
        let l = ladder();
        assert_eq!(source_rendition(&l, None, 320, 180).unwrap().name, "360p");
        assert_eq!(source_rendition(&l, None, 641, 360).unwrap().name, "480p");
        assert_eq!(source_rendition(&l, None, 1920, 1080).unwrap().name, "720p");
        assert_eq!(source_rendition(&[], None, 1, 1), None);
        // The picture track serves what it is large enough for, and nothing larger.
        let track = rendition("180p", 320, 180);
        let p = Some(&track);
        assert_eq!(source_rendition(&l, p, 320, 180).unwrap().name, "180p");
        assert_eq!(source_rendition(&l, p, 256, 144).unwrap().name, "180p");
        assert_eq!(source_rendition(&l, p, 321, 180).unwrap().name, "360p");
        assert_eq!(source_rendition(&l, p, 1920, 1080).unwrap().name, "720p");
        assert_eq!(source_rendition(&[], p, 1, 1), None);
    }

    #[test]
    fn resolving_makes_equal_pictures_equal_specs() {
        let l = ladder();
        let thumb = PictureFile::Thumbnail(ImageFormat::Jpeg);
        let a = PictureQuery::parse(thumb, "width=320&time=4").unwrap();
        let b = PictureQuery::parse(thumb, "time=4.000&height=180&width=320").unwrap();
        let sa = resolve(thumb, &a, &l, None, 20_000, 2_000).unwrap();
        let sb = resolve(thumb, &b, &l, None, 20_000, 2_000).unwrap();
        assert_eq!(sa.to_query(), sb.to_query());
        assert_eq!(sa.rendition, "360p");
        // With a picture track, small pictures and storyboards are drawn from it.
        let track = rendition("180p", 320, 180);
        let small = resolve(thumb, &a, &l, Some(&track), 20_000, 2_000).unwrap();
        assert_eq!((small.rendition.as_str(), small.time_ms), ("180p", 4_000));
        let big = PictureQuery::parse(thumb, "width=640").unwrap();
        let big = resolve(thumb, &big, &l, Some(&track), 20_000, 2_000).unwrap();
        assert_eq!(big.rendition, "360p");
        let board = PictureFile::StoryboardVtt;
        let board = resolve(board, &PictureQuery::default(), &l, Some(&track), 20_000, 0);
        assert_eq!(board.unwrap().rendition, "180p");
        assert_eq!(PictureSpec::from_query(thumb, &sa.to_query()).unwrap(), sa);
        // No time: the representative frame; past the end: refused.
        let none = resolve(thumb, &PictureQuery::default(), &l, None, 20_000, 2_000).unwrap();
        assert_eq!(
            (none.time_ms, none.geometry.width, none.rendition.as_str()),
            (2_000, 1280, "720p")
        );
        let late = PictureQuery::parse(thumb, "time=21").unwrap();
        assert!(resolve(thumb, &late, &l, None, 20_000, 2_000).is_err());
        // The end itself shows the last frame.
        let end = PictureQuery::parse(thumb, "time=20").unwrap();
        assert_eq!(
            resolve(thumb, &end, &l, None, 20_000, 2_000)
                .unwrap()
                .time_ms,
            19_999
        );

        let anim = PictureFile::Animated(ImageFormat::Gif);
        let s = resolve(anim, &PictureQuery::default(), &l, None, 20_000, 0).unwrap();
        assert_eq!(
            (s.time_ms, s.end_ms, s.fps, s.geometry.width),
            (0, 5_000, 15, 320)
        );
        assert_eq!(s.frame_times().len(), 75);
        assert_eq!(s.frame_times()[1], 66);
        let long = PictureQuery::parse(anim, "start=1&end=12").unwrap();
        assert!(resolve(anim, &long, &l, None, 20_000, 0).is_err());
        let clipped = PictureQuery::parse(anim, "start=18").unwrap();
        assert_eq!(
            resolve(anim, &clipped, &l, None, 20_000, 0).unwrap().end_ms,
            20_000
        );
        assert_eq!(
            resolve(thumb, &a, &[], None, 20_000, 0),
            Err(PictureError::NoVideo)
        );
        // The service refuses a spec out of bounds.
        let mut wide = sa.clone();
        wide.end_ms = wide.time_ms + MAX_ANIMATED_MS + 1;
        assert!(PictureSpec::from_query(thumb, &wide.to_query()).is_err());
        assert!(PictureSpec::from_query(thumb, "rendition=360p").is_err());
        assert!(PictureSpec::from_query(thumb, &sa.to_query().replace("360p", "../x")).is_err());
    }

    #[test]
    fn a_storyboard_has_at_most_max_tiles_on_key_frames_and_indexes_them() {
        let starts: Vec<u64> = (0..10).map(|i| i * 2_000).collect();
        let sb = storyboard(&starts, 20_000, (256, 144));
        assert_eq!(sb.tiles.len(), 10);
        assert_eq!((sb.columns, sb.rows, sb.size()), (10, 1, (2560, 144)));
        assert_eq!(sb.tiles[3].start_ms, 6_000);
        assert_eq!(sb.tiles[9].end_ms, 20_000);
        let vtt = sb.to_vtt("storyboard.jpg");
        assert!(vtt.starts_with(
            "WEBVTT\n\n00:00:00.000 --> 00:00:02.000\nstoryboard.jpg#xywh=0,0,256,144\n"
        ));
        assert!(vtt.contains("00:00:18.000 --> 00:00:20.000\nstoryboard.jpg#xywh=2304,0,256,144\n"));
        let json: serde_json::Value = serde_json::from_str(&sb.to_json("storyboard.jpg")).unwrap();
        assert_eq!(json["tiles"][3]["x"], 768);
        assert_eq!(json["duration"], 20.0);

        // Two hours of 2 s fragments: 100 tiles, 72 s apart, 10 rows.
        let starts: Vec<u64> = (0..3600).map(|i| i * 2_000).collect();
        let sb = storyboard(&starts, 7_200_000, (256, 144));
        assert_eq!(sb.tiles.len(), MAX_TILES);
        assert_eq!((sb.columns, sb.rows), (10, 10));
        assert!(sb
            .tiles
            .windows(2)
            .all(|w| w[1].start_ms - w[0].start_ms == 72_000));
        assert_eq!(sb.rect(&sb.tiles[99]), (2304, 1296, 256, 144));
        // Nothing to show: still a valid (empty) storyboard.
        assert!(storyboard(&[], 0, (256, 144)).tiles.is_empty());
    }

    #[test]
    fn a_smart_crop_finds_the_detail() {
        // A flat 100×10 plane with a checkerboard at x 70..90.
        let (w, h) = (100usize, 10usize);
        let mut luma = vec![16u8; w * h];
        for y in 0..h {
            for x in 70..90 {
                luma[y * w + x] = if (x + y) % 2 == 0 { 235 } else { 16 };
            }
        }
        let (x, y) = smart_crop(&luma, w, 100, 10, 30, 10);
        assert!((60..=70).contains(&x), "{x}");
        assert_eq!(y, 0);
        // A flat plane crops from its start; a short buffer from the middle.
        assert_eq!(smart_crop(&[16u8; 1000], 100, 100, 10, 30, 10), (0, 0));
        assert_eq!(smart_crop(&[0u8; 10], 100, 100, 10, 30, 10), (35, 0));
    }
}
