//! Response heads of the player-facing service, built from header names known at compile
//! time.
//!
//! A [`Head`] is the status and a short list of ready-made [`HeaderName`]s and values:
//! nothing is parsed or hashed per response. HTTP/1.1 (`crate::net::h1`) writes the list in the
//! conventional Title-Case ([`put_title_case`]); HTTP/2 gets a header map from
//! [`Head::finish`] and writes every name in lower case, as it must. Names are
//! case-insensitive either way (RFC 9110 §5.1).

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
const CORS_EXPOSE: &str = "Content-Length, Content-Range, Cache-Status, ETag, Sunomi-View-Receipt";

/// A response head being built: the status and its fields in the order set. A short list,
/// not a header map: a response sets about ten fields, each name at most once, and HTTP/1.1
/// writes them straight from the list (`crate::net::h1`); only HTTP/2 gets a map, from
/// [`Head::finish`].
pub struct Head {
    status: ::http::StatusCode,
    fields: Vec<(HeaderName, HeaderValue)>,
}

impl Head {
    /// A head with `status` and room for `headers` headers; a status outside 100–999 is an
    /// internal error.
    pub fn new(status: u16, headers: usize) -> Result<Head> {
        let status = ::http::StatusCode::from_u16(status)
            .or_err(ErrorType::InternalError, "invalid response status")?;
        Ok(Head {
            status,
            fields: Vec::with_capacity(headers),
        })
    }

    /// An empty `500`: the answer when the service could not build its own.
    pub fn internal_error() -> Head {
        let mut head = Head {
            status: ::http::StatusCode::INTERNAL_SERVER_ERROR,
            fields: Vec::with_capacity(2),
        };
        head.set_static(header::CACHE_CONTROL, "no-store")
            .content_length(0);
        head
    }

    /// Sets `name` to `value` (replacing any earlier value).
    pub fn set(&mut self, name: HeaderName, value: HeaderValue) -> &mut Head {
        match self.fields.iter_mut().find(|(n, _)| *n == name) {
            Some((_, v)) => *v = value,
            None => self.fields.push((name, value)),
        }
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

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status.as_u16()
    }

    /// The fields, in the order they were first set.
    pub fn fields(&self) -> &[(HeaderName, HeaderValue)] {
        &self.fields
    }

    /// The finished head, for Pingora's HTTP/2 session.
    pub fn finish(self) -> ResponseHeader {
        let (mut parts, ()) = ::http::Response::new(()).into_parts();
        parts.status = self.status;
        parts.headers.reserve(self.fields.len());
        parts.headers.extend(self.fields);
        ResponseHeader::from(parts)
    }
}

/// How HTTP/1.1 spells `name` by convention (`Content-Type`, `ETag`, `Cache-Status`): the
/// names this edge sends, spelled out; any other is Title-Cased into `out`.
pub fn put_title_case(out: &mut Vec<u8>, name: &HeaderName) {
    let known: &str = match name.as_str() {
        "content-type" => "Content-Type",
        "content-length" => "Content-Length",
        "cache-control" => "Cache-Control",
        "cache-status" => "Cache-Status",
        "etag" => "ETag",
        "access-control-allow-origin" => "Access-Control-Allow-Origin",
        "access-control-expose-headers" => "Access-Control-Expose-Headers",
        "accept-ranges" => "Accept-Ranges",
        "vary" => "Vary",
        "content-encoding" => "Content-Encoding",
        "content-range" => "Content-Range",
        "retry-after" => "Retry-After",
        other => {
            let mut upper = true;
            for &b in other.as_bytes() {
                out.push(if upper { b.to_ascii_uppercase() } else { b });
                upper = b == b'-';
            }
            return;
        }
    };
    out.extend_from_slice(known.as_bytes());
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
        assert_eq!(head.fields().len(), 5);
        head.content_length(43);
        assert_eq!(head.fields().len(), 5, "set replaces");
        let resp = head.finish();
        assert_eq!(resp.status.as_u16(), 206);
        assert_eq!(resp.headers["content-type"], "video/mp4");
        assert_eq!(resp.headers["Content-Length"], "43");
        assert_eq!(resp.headers["etag"], "\"abc\"");
        assert_eq!(resp.headers["access-control-allow-origin"], "*");
        let mut head = Head::new(200, 1).unwrap();
        assert!(head.set_text(header::ETAG, "line\nbreak").is_err());
        assert!(Head::new(1000, 0).is_err());
        assert!(Head::new(99, 0).is_err());
    }

    #[test]
    fn names_are_spelled_title_case() {
        let spelled = |name: HeaderName| {
            let mut out = Vec::new();
            put_title_case(&mut out, &name);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(spelled(header::ETAG), "ETag");
        assert_eq!(spelled(CACHE_STATUS), "Cache-Status");
        assert_eq!(
            spelled(header::ACCESS_CONTROL_MAX_AGE),
            "Access-Control-Max-Age"
        );
        assert_eq!(spelled(header::ALLOW), "Allow");
    }

    #[test]
    fn lengths_are_written_in_decimal() {
        for n in [0, 7, 10, 1233, 1_883_535, usize::MAX] {
            assert_eq!(decimal(n).to_str().unwrap(), n.to_string());
        }
    }
}
