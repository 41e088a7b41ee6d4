//! Response heads of the player-facing service, built from header names known at compile
//! time.
//!
//! Pingora's `ResponseHeader::insert_header` parses every name and records its spelling in a
//! second map (to write it back with the same case); on a warm playlist that was measured at
//! a few per cent of the edge's CPU (`deploy/local/bench-playlists.sh` with `PROFILE=1`,
//! docs/PERFORMANCE.md). A [`Head`] inserts ready-made [`HeaderName`]s into one map. Without
//! the case map Pingora writes the names it knows (Content-Type, Cache-Control, …) in
//! Title-Case on HTTP/1.1 and the others (`etag`, `cache-status`, `access-control-*`) in lower
//! case, as HTTP/2 and HTTP/3 write every name; names are case-insensitive (RFC 9110 §5.1).

use ::http::header::{self, HeaderName, HeaderValue};
use pingora::http::ResponseHeader;
use pingora::prelude::*;

/// `Cache-Status` (RFC 9211), which the `http` crate has no constant for.
pub const CACHE_STATUS: HeaderName = HeaderName::from_static("cache-status");

/// The `Cache-Status` of a 503 this edge answers because something *it depends on* failed
/// (storage unreachable or changing, the key service down): the edge itself is well. A peer
/// edge that asked reads it and keeps this edge on the ring (`fleet::peer`); a 503 without
/// it (the connection cap, a proxy in between) says nothing of the kind.
pub const CACHE_STATUS_UNAVAILABLE: &str = "sunomi; fwd=miss; detail=unavailable";

/// The headers every media response exposes to cross-origin players.
const CORS_EXPOSE: &str = "Content-Length, Content-Range, Cache-Status, ETag";

/// A response head being built.
pub struct Head(::http::response::Parts);

impl Head {
    /// A head with `status` and room for `headers` headers; a status outside 100–999 is an
    /// internal error.
    pub fn new(status: u16, headers: usize) -> Result<Head> {
        let (mut parts, ()) = ::http::Response::new(()).into_parts();
        parts.status = ::http::StatusCode::from_u16(status)
            .or_err(ErrorType::InternalError, "invalid response status")?;
        parts.headers.reserve(headers);
        Ok(Head(parts))
    }

    /// Sets `name` to `value` (replacing any earlier value).
    pub fn set(&mut self, name: HeaderName, value: HeaderValue) -> &mut Head {
        self.0.headers.insert(name, value);
        self
    }

    /// Sets `name` to a value known at compile time (no allocation).
    pub fn set_static(&mut self, name: HeaderName, value: &'static str) -> &mut Head {
        self.set(name, HeaderValue::from_static(value))
    }

    /// Sets `name` to text made at run time; text that is not a valid header value (it
    /// never comes from a request) is an internal error.
    pub fn set_text(&mut self, name: HeaderName, value: &str) -> Result<&mut Head> {
        let value = HeaderValue::from_str(value)
            .or_err(ErrorType::InternalError, "invalid response header value")?;
        Ok(self.set(name, value))
    }

    /// Sets `Content-Length`.
    pub fn content_length(&mut self, length: usize) -> &mut Head {
        self.set(header::CONTENT_LENGTH, decimal(length))
    }

    /// Lets any origin read the response and the headers a player looks at (media responses
    /// are public; access is decided by tokens in the URL, never by cookies).
    pub fn cors(&mut self) -> &mut Head {
        self.set_static(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")
            .set_static(header::ACCESS_CONTROL_EXPOSE_HEADERS, CORS_EXPOSE)
    }

    /// The finished head, for Pingora.
    pub fn finish(self) -> ResponseHeader {
        ResponseHeader::from(self.0)
    }
}

/// `n` in decimal as a header value, in one allocation (the `http` crate's `From<usize>`
/// takes two: a growable buffer, then the shared handle it is frozen into).
fn decimal(mut n: usize) -> HeaderValue {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    HeaderValue::from_bytes(&digits[start..]).unwrap_or_else(|_| HeaderValue::from_static("0"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_holds_what_was_set_and_refuses_what_cannot_be_sent() {
        let mut head = Head::new(206, 4).unwrap();
        head.set_static(header::CONTENT_TYPE, "video/mp4")
            .content_length(42)
            .cors();
        head.set_text(header::ETAG, "\"abc\"").unwrap();
        let resp = head.finish();
        assert_eq!(resp.status.as_u16(), 206);
        assert_eq!(resp.headers["content-type"], "video/mp4");
        assert_eq!(resp.headers["Content-Length"], "42");
        assert_eq!(resp.headers["etag"], "\"abc\"");
        assert_eq!(resp.headers["access-control-allow-origin"], "*");
        let mut head = Head::new(200, 1).unwrap();
        assert!(head.set_text(header::ETAG, "line\nbreak").is_err());
        assert!(Head::new(1000, 0).is_err());
        assert!(Head::new(99, 0).is_err());
    }

    #[test]
    fn lengths_are_written_in_decimal() {
        for n in [0, 7, 10, 1233, 1_883_535, usize::MAX] {
            assert_eq!(decimal(n).to_str().unwrap(), n.to_string());
        }
    }
}
