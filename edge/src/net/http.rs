//! HTTP details that do not depend on the server: content types, Range, conditional requests,
//! content negotiation. Pure functions, tested on strings.

use std::ops::Range;

use sunomi_packager::route::{self, Download, Route, TrackRef};

/// Content type of a playlist.
pub const PLAYLIST_TYPE: &str = "application/vnd.apple.mpegurl";

/// The content type of what a route returns.
pub fn content_type(route: &Route) -> &'static str {
    match route {
        Route::Mpd { .. } => sunomi_packager::dash::CONTENT_TYPE,
        r if r.is_playlist() => PLAYLIST_TYPE,
        Route::Init {
            track: TrackRef::Audio(_),
            ..
        }
        | Route::TrackFile {
            track: TrackRef::Audio(_),
            ..
        } => "audio/mp4",
        Route::Init { .. } | Route::TrackFile { .. } => "video/mp4",
        Route::Segment { .. } => "video/iso.segment",
        Route::IFrame {
            format: sunomi_packager::route::Format::Ts,
            ..
        } => "video/mp2t",
        Route::IFrame { .. } => "video/iso.segment",
        Route::TsSegment { .. } => "video/mp2t",
        Route::SubtitleSegment { .. } | Route::SubtitleFile { .. } => "text/vtt; charset=utf-8",
        Route::Key { .. } => "application/octet-stream",
        Route::Licence { .. } => "application/json",
        Route::Download {
            file: Download::Audio,
            ..
        } => "audio/mp4",
        Route::Download { .. } => "video/mp4",
        Route::Picture { file, .. } => file.content_type(),
        _ => "application/octet-stream",
    }
}

/// The `Content-Disposition` of a download: saved as a file named after the video and
/// rendition (`{id}-720p.mp4`, `{id}-audio.m4a`); `None` for everything else (played inline).
/// Ids and rendition names are URL-safe, so the name needs no quoting beyond its quotes.
pub fn content_disposition(route: &Route) -> Option<String> {
    let Route::Download { id, file } = route else {
        return None;
    };
    let name = match file {
        Download::Video(rendition) => format!("{id}-{rendition}{}", route::MP4_EXT),
        Download::Audio => format!("{id}-{}", route::AUDIO_DOWNLOAD),
    };
    Some(format!("attachment; filename=\"{name}\""))
}

/// What a `Range` header asks of a resource of a known length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeRequest {
    /// No usable range: send everything with 200 (no header, another unit, or several ranges,
    /// which this server answers in full as RFC 9110 allows).
    Full,
    /// One satisfiable range: send it with 206.
    Partial(Range<u64>),
    /// A byte range that cannot be satisfied or makes no sense: 416.
    Unsatisfiable,
}

/// Interprets a `Range` header value for a resource of `length` bytes.
pub fn parse_range(header: Option<&str>, length: u64) -> RangeRequest {
    let Some(value) = header else {
        return RangeRequest::Full;
    };
    let value = value.trim();
    let Some(spec) = value
        .get(..6)
        .filter(|unit| unit.eq_ignore_ascii_case("bytes="))
        .map(|_| value[6..].trim())
    else {
        return RangeRequest::Full;
    };
    if spec.contains(',') {
        return RangeRequest::Full;
    }
    let Some((first, last)) = spec.split_once('-') else {
        return RangeRequest::Unsatisfiable;
    };
    let (first, last) = (first.trim(), last.trim());
    let number = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            None
        } else {
            // More digits than u64 holds still means "past the end".
            Some(s.parse::<u64>().unwrap_or(u64::MAX))
        }
    };
    match (first.is_empty(), number(first), number(last)) {
        // bytes=-N: the last N bytes.
        (true, _, Some(n)) if n > 0 && length > 0 => {
            RangeRequest::Partial(length.saturating_sub(n)..length)
        }
        (false, Some(a), None) if last.is_empty() && a < length => RangeRequest::Partial(a..length),
        (false, Some(a), Some(b)) if a <= b && a < length => {
            RangeRequest::Partial(a..b.saturating_add(1).min(length))
        }
        _ => RangeRequest::Unsatisfiable,
    }
}

/// Whether a `Cache-Control` request value holds `only-if-cached` (RFC 9111 §5.2.1.7).
pub fn only_if_cached(cache_control: Option<&str>) -> bool {
    cache_control.is_some_and(|v| {
        v.split(',').any(|d| {
            d.trim()
                .eq_ignore_ascii_case(crate::fleet::peer::ONLY_IF_CACHED)
        })
    })
}

/// Whether an `Accept-Encoding` value accepts gzip (and does not refuse it with `q=0`).
pub fn accepts_gzip(accept_encoding: Option<&str>) -> bool {
    accept_encoding.is_some_and(|v| {
        v.split(',').any(|item| {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim();
            if !(coding.eq_ignore_ascii_case("gzip") || coding == "*") {
                return false;
            }
            !parts.any(|p| {
                let p = p.trim();
                p.strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            })
        })
    })
}

/// An entity tag as sent, quotes included (`"0123456789abcdef"`). It holds the header value
/// itself: a cached object's tag is cloned (a reference count) and written without a copy
/// on every response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityTag(::http::HeaderValue);

impl EntityTag {
    /// The tag as a header value.
    pub fn header_value(&self) -> ::http::HeaderValue {
        self.0.clone()
    }
}

impl From<String> for EntityTag {
    /// A tag from its text; text that cannot be a header value (never made here: tags are
    /// quoted hex) becomes the empty tag `""`.
    fn from(text: String) -> EntityTag {
        let value = ::http::HeaderValue::from_maybe_shared(bytes::Bytes::from(text))
            .unwrap_or_else(|_| ::http::HeaderValue::from_static("\"\""));
        EntityTag(value)
    }
}

impl std::ops::Deref for EntityTag {
    type Target = str;

    fn deref(&self) -> &str {
        self.0.to_str().unwrap_or("\"\"")
    }
}

impl std::fmt::Display for EntityTag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self)
    }
}

/// The tag of the gzip form of a body tagged `etag`: `-gz` inside the quotes (a different
/// representation needs a different strong tag, RFC 9110 §8.8.3).
pub fn gzip_etag(etag: &EntityTag) -> EntityTag {
    EntityTag::from(format!("{}-gz\"", etag.trim_end_matches('"')))
}

/// A strong entity tag over `parts` (a content version and a range, or a body's bytes).
///
/// The hash is FNV-1a 64 over the length-prefixed parts: fixed by this code, so every edge,
/// whatever toolchain built it, gives the same object the same tag (a `Hasher` from std may
/// change between Rust releases).
pub fn etag(parts: &[&[u8]]) -> EntityTag {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = OFFSET;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(PRIME);
        }
    };
    for part in parts {
        eat(&(part.len() as u64).to_be_bytes());
        eat(part);
    }
    EntityTag::from(format!("\"{h:016x}\""))
}

/// Whether an `If-None-Match` value matches `etag` (weak comparison, as RFC 9110 requires).
pub fn none_match(if_none_match: Option<&str>, etag: &str) -> bool {
    let strip = |t: &str| t.trim().trim_start_matches("W/").to_string();
    if_none_match.is_some_and(|v| v.trim() == "*" || v.split(',').any(|t| strip(t) == strip(etag)))
}

/// Whether a `Range` applies under an `If-Range` value (RFC 9110 §13.1.5): always without
/// one; with an entity tag, only when it is strong and equal to `etag`; with a date, never
/// (this server sends no `Last-Modified`, so no date can be known to match).
pub fn range_applies(if_range: Option<&str>, etag: &str) -> bool {
    match if_range.map(str::trim) {
        None => true,
        Some(v) => v.starts_with('"') && v == etag,
    }
}

/// Compresses a playlist with gzip.
pub fn gzip(body: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(body);
    enc.finish().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_if_cached_is_one_directive_among_others() {
        assert!(only_if_cached(Some("only-if-cached")));
        assert!(only_if_cached(Some("max-age=0, Only-If-Cached")));
        assert!(!only_if_cached(Some("no-cache")));
        assert!(!only_if_cached(Some("only-if-cached-not")));
        assert!(!only_if_cached(None));
    }

    #[test]
    fn ranges() {
        use RangeRequest::*;
        let check =
            |h: Option<&str>, want: RangeRequest| assert_eq!(parse_range(h, 1000), want, "{h:?}");
        check(None, Full);
        check(Some("bytes=0-99"), Partial(0..100));
        check(Some("bytes=900-"), Partial(900..1000));
        check(Some("bytes=-100"), Partial(900..1000));
        check(Some("bytes=-5000"), Partial(0..1000));
        check(Some("bytes=990-5000"), Partial(990..1000));
        check(Some("BYTES=0-0"), Partial(0..1));
        check(Some("bytes=1000-"), Unsatisfiable);
        check(Some("bytes=99999999999999999999999-"), Unsatisfiable);
        check(Some("bytes=5-2"), Unsatisfiable);
        check(Some("bytes=-0"), Unsatisfiable);
        check(Some("bytes=abc"), Unsatisfiable);
        check(Some("bytes=a-b"), Unsatisfiable);
        check(Some("bytes=0-1,5-6"), Full);
        check(Some("items=0-1"), Full);
        assert_eq!(parse_range(Some("bytes=0-"), 0), Unsatisfiable);
    }

    #[test]
    fn gzip_negotiation() {
        assert!(accepts_gzip(Some("gzip, deflate, br")));
        assert!(accepts_gzip(Some("br;q=1.0, gzip;q=0.8")));
        assert!(accepts_gzip(Some("*")));
        assert!(!accepts_gzip(Some("gzip;q=0")));
        assert!(!accepts_gzip(Some("br")));
        assert!(!accepts_gzip(None));
    }

    #[test]
    fn conditional_requests() {
        let tag = etag(&[b"v1", &0u64.to_be_bytes(), &10u64.to_be_bytes()]);
        assert!(none_match(Some(&tag), &tag));
        assert!(none_match(Some(&format!("W/{tag}, \"x\"")), &tag));
        assert!(none_match(Some("*"), &tag));
        assert!(!none_match(Some("\"other\""), &tag));
        assert!(!none_match(None, &tag));
        assert_ne!(
            tag,
            etag(&[b"v2", &0u64.to_be_bytes(), &10u64.to_be_bytes()])
        );
        // Parts are length-prefixed: moving a byte between parts changes the tag.
        assert_ne!(etag(&[b"ab", b"c"]), etag(&[b"a", b"bc"]));
    }

    #[test]
    fn etags_are_fixed_across_builds() {
        // Pinned values: any change to the hash would make edges built by different
        // toolchains disagree about the same object.
        assert_eq!(&*etag(&[]), "\"cbf29ce484222325\"");
        assert_eq!(etag(&[b"v1"]), etag(&[b"v1"]));
        assert_eq!(&*etag(&[b"#EXTM3U\n"]), "\"6b1a5803de78501e\"");
    }

    #[test]
    fn entity_tags_are_header_values_and_the_gzip_form_has_its_own() {
        let tag = etag(&[]);
        assert_eq!(tag.header_value(), "\"cbf29ce484222325\"");
        assert_eq!(&*gzip_etag(&tag), "\"cbf29ce484222325-gz\"");
        assert_eq!(tag.to_string(), "\"cbf29ce484222325\"");
        // Text that cannot be a header value is never sent as one.
        assert_eq!(&*EntityTag::from("\"a\nb\"".to_string()), "\"\"");
    }

    #[test]
    fn if_range() {
        let tag = "\"abc\"";
        assert!(range_applies(None, tag));
        assert!(range_applies(Some("\"abc\""), tag));
        assert!(!range_applies(Some("\"other\""), tag));
        assert!(!range_applies(Some("W/\"abc\""), tag));
        assert!(!range_applies(Some("Sat, 28 Nov 2026 08:00:00 GMT"), tag));
    }

    #[test]
    fn gzip_round_trips() {
        use std::io::Read;
        let body = b"#EXTM3U\n".repeat(50);
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&gzip(&body)[..])
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, body);
    }
}
