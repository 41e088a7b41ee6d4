//! What the player service reads of a request, whichever HTTP implementation parsed it: the
//! edge's own HTTP/1.1 ([`crate::net::h1`]) or Pingora's HTTP/2 session. The service answers
//! through this trait only, so both carry the same semantics.

use pingora::http::RequestHeader;

/// The methods the player service tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `GET`.
    Get,
    /// `HEAD`.
    Head,
    /// `OPTIONS` (CORS preflight).
    Options,
    /// `POST`: only a ClearKey licence request, with a small body.
    Post,
    /// `CONNECT`: its framing is not HTTP's; refused and the connection closed.
    Connect,
    /// Anything else (refused with 405).
    Other,
}

impl Method {
    /// The method named by `token` (methods are case-sensitive, RFC 9110 §9.1).
    pub fn parse(token: &str) -> Method {
        match token {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "OPTIONS" => Method::Options,
            "POST" => Method::Post,
            "CONNECT" => Method::Connect,
            _ => Method::Other,
        }
    }

    /// The method's token; `Other` is never signed or logged by it.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Options => "OPTIONS",
            Method::Post => "POST",
            Method::Connect => "CONNECT",
            Method::Other => "OTHER",
        }
    }
}

/// A request as the player service reads it.
pub trait Request: Sync {
    /// The method.
    fn method(&self) -> Method;
    /// Whether the request is HTTP/1.1 without a `Host` header (answered 400, RFC 9112 §3.2).
    fn lacks_host(&self) -> bool;
    /// The path, as sent (percent-encoding kept).
    fn path(&self) -> &str;
    /// The query string without its `?`, if the target has one.
    fn query(&self) -> Option<&str>;
    /// The path and query as sent: what a peer's signature covers.
    fn path_and_query(&self) -> &str;
    /// The first value of the header `name` (any case), if it is visible ASCII text.
    fn header(&self, name: &str) -> Option<&str>;
    /// The request body: empty but for a `POST`, whose body the connection read whole (at
    /// most [`MAX_BODY_BYTES`]).
    fn body(&self) -> &[u8] {
        &[]
    }
}

/// The largest request body read: a ClearKey licence request names a few key ids.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// A request head with the body its connection read (HTTP/2 reads the body apart).
pub struct WithBody<'a, R> {
    /// The head.
    pub head: &'a R,
    /// The whole body.
    pub body: &'a [u8],
}

impl<R: Request> Request for WithBody<'_, R> {
    fn method(&self) -> Method {
        self.head.method()
    }

    fn lacks_host(&self) -> bool {
        self.head.lacks_host()
    }

    fn path(&self) -> &str {
        self.head.path()
    }

    fn query(&self) -> Option<&str> {
        self.head.query()
    }

    fn path_and_query(&self) -> &str {
        self.head.path_and_query()
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.head.header(name)
    }

    fn body(&self) -> &[u8] {
        self.body
    }
}

impl Request for RequestHeader {
    fn method(&self) -> Method {
        Method::parse(self.method.as_str())
    }

    fn lacks_host(&self) -> bool {
        self.version == ::http::Version::HTTP_11 && !self.headers.contains_key(::http::header::HOST)
    }

    fn path(&self) -> &str {
        self.uri.path()
    }

    fn query(&self) -> Option<&str> {
        self.uri.query()
    }

    fn path_and_query(&self) -> &str {
        self.uri.path_and_query().map_or("/", |p| p.as_str())
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_are_told_apart_case_sensitively() {
        for m in [Method::Get, Method::Head, Method::Options, Method::Connect] {
            assert_eq!(Method::parse(m.as_str()), m);
        }
        assert_eq!(Method::parse("get"), Method::Other);
        assert_eq!(Method::parse("POST"), Method::Post);
        assert_eq!(Method::parse("post"), Method::Other);
    }

    #[test]
    fn pingora_requests_read_the_same() {
        let mut req = RequestHeader::build("GET", b"/v/a/master.m3u8?x=1", None).unwrap();
        assert!(req.lacks_host());
        req.insert_header("host", "edge").unwrap();
        req.insert_header("Range", "bytes=0-1").unwrap();
        assert!(!req.lacks_host());
        assert_eq!(req.method(), Method::Get);
        assert_eq!(req.path(), "/v/a/master.m3u8");
        assert_eq!(req.query(), Some("x=1"));
        assert_eq!(req.path_and_query(), "/v/a/master.m3u8?x=1");
        assert_eq!(req.header("range"), Some("bytes=0-1"));
        assert_eq!(req.header("If-None-Match"), None);
    }
}
