//! HTTP/1.x on the player listener (plain TCP, and TLS without `h2` in ALPN), written for
//! what the edge serves: requests without bodies (but a ClearKey licence request's), answered
//! from memory.
//!
//! Why not Pingora's HTTP/1 session: measured side by side on a warm media playlist
//! (`deploy/local/bench-playlists.sh`, docs/PERFORMANCE.md "Fifth session"), a connection
//! loop over the same Pingora listener, stream and [`Media`](crate::media::Media) lookup spent
//! 1.64 µs of user time per request where Pingora's session path spent 3.93 µs: the session
//! builds a request header map, its case map and a parsed URI, then serialises a response
//! header map, about 16 allocations per request. Here a request is parsed with `httparse`
//! into offsets in the connection's buffer, read through [`Request`] without copying, and the
//! response head is written into one buffer the connection keeps.
//!
//! The rules (each enforced here, each answered and counted, never a panic):
//! - a head of at most [`MAX_HEAD_BYTES`] and [`MAX_HEADERS`] fields (431 beyond, then close);
//! - a malformed head is 400, then close;
//! - no request body but a `POST`'s of at most [`MAX_BODY_BYTES`] with a `Content-Length`
//!   (read whole before the request is answered): any other `Content-Length` than 0, or any
//!   `Transfer-Encoding`, is 413 and the connection is closed, the body never parsed (so never
//!   mistaken for a request); what the client still sends is dropped for up to 2 s, so it
//!   reads the refusal, not a reset; conflicting or malformed lengths and repeated `Host` are
//!   400;
//! - keep-alive as RFC 9112 §9.3 says (HTTP/1.1 unless `Connection: close`, HTTP/1.0 only
//!   with `Connection: keep-alive`); pipelined requests are answered in order;
//! - at shutdown a connection waiting for its next request is closed at once; a request
//!   already received is answered, with `Connection: close`.
//!
//! HTTP/2 (ALPN `h2`) stays on Pingora's session ([`crate::net::service`]).

use std::mem::MaybeUninit;
use std::sync::Arc;

use async_trait::async_trait;
use pingora::apps::ServerApp;
use pingora::protocols::{Shutdown, Stream, ALPN};
use pingora::server::ShutdownWatch;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::error::EdgeError;
use crate::net::head::put_title_case;
use crate::net::request::{Method, Request, MAX_BODY_BYTES};
use crate::net::service::{itoa_status, Answer, Body, EdgeService, RequestCtx, CLIENT_CLOSED};

/// The largest request head read, in bytes (request line and fields); a longer one is 431.
/// Signed URLs and tokens fit many times over.
pub const MAX_HEAD_BYTES: usize = 128 * 1024;

/// The most header fields a request may have; more is 431.
pub const MAX_HEADERS: usize = 100;

/// The connection's read buffer to start with; it grows (to [`MAX_HEAD_BYTES`]) only for a
/// head that does not fit.
const INITIAL_BUFFER: usize = 4096;

/// Bodies up to this size are copied behind the head and sent in one write; larger ones
/// (segments) are written from where they are held, which lets the connection send cached
/// segments without a copy (`crate::net::connections`).
const COPY_BODY_BELOW: usize = 16 * 1024;

/// The player listener's application: HTTP/2 connections go to Pingora's session, the rest
/// to this module's HTTP/1.x.
pub struct PlayerApp {
    service: Arc<EdgeService>,
}

impl PlayerApp {
    /// The player listener answering with `service`.
    pub fn new(service: EdgeService) -> PlayerApp {
        PlayerApp {
            service: Arc::new(service),
        }
    }
}

#[async_trait]
impl ServerApp for PlayerApp {
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        if matches!(stream.selected_alpn_proto(), Some(ALPN::H2)) {
            return ServerApp::process_new(&self.service, stream, shutdown).await;
        }
        Connection::new(stream).serve(&self.service, shutdown).await;
        None
    }
}

/// Where one field of a request head lies in the connection's buffer.
#[derive(Debug, Clone, Copy)]
struct Field {
    name: (u32, u32),
    value: (u32, u32),
}

/// A complete request head, as offsets into the buffer it was parsed from.
#[derive(Debug)]
struct Head {
    /// Bytes the head takes at the start of the buffer.
    len: usize,
    /// Bytes of body after it (a `POST`'s `Content-Length`).
    body_len: usize,
    method: Method,
    http11: bool,
    /// Whether the head has a `Host` field (more than one is refused).
    has_host: bool,
    /// The request target (origin form), unless `absolute` holds it.
    target: (u32, u32),
    /// The path and query of an absolute-form target (`GET http://host/path`), rewritten.
    absolute: Option<String>,
    /// Where the query's `?` is in the target, if it has one.
    query_at: Option<usize>,
    keep_alive: bool,
}

/// Why a head is refused before it reaches the service; the connection closes after.
#[derive(Debug, PartialEq, Eq)]
enum Refusal {
    Malformed(&'static str),
    TooLarge,
    Body,
}

impl Refusal {
    fn error(self) -> EdgeError {
        match self {
            Refusal::Malformed(why) => EdgeError::BadRequest(why.into()),
            Refusal::TooLarge => EdgeError::HeadTooLarge,
            Refusal::Body => EdgeError::BodyNotAccepted,
        }
    }
}

/// The offsets of `part` (a slice of `buf`) in `buf`.
fn span(buf: &[u8], part: &[u8]) -> (u32, u32) {
    let start = part.as_ptr() as usize - buf.as_ptr() as usize;
    (start as u32, (start + part.len()) as u32)
}

fn slice(buf: &[u8], (start, end): (u32, u32)) -> &[u8] {
    &buf[start as usize..end as usize]
}

/// Whether a comma-separated header value lists `token` (any case).
fn lists(value: &[u8], token: &str) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

/// Parses the head at the start of `buf` into `fields`: `Ok(None)` while it is incomplete.
fn parse(buf: &[u8], fields: &mut Vec<Field>) -> Result<Option<Head>, Refusal> {
    let mut headers = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    let len = match req.parse_with_uninit_headers(buf, &mut headers) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD_BYTES => {
            return Err(Refusal::TooLarge)
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(Refusal::TooLarge),
        Err(_) => return Err(Refusal::Malformed("malformed request head")),
    };
    if len > MAX_HEAD_BYTES {
        return Err(Refusal::TooLarge);
    }
    let (Some(method), Some(target), Some(version)) = (req.method, req.path, req.version) else {
        return Err(Refusal::Malformed("malformed request head"));
    };
    let http11 = version == 1;
    fields.clear();
    let mut length: Option<&[u8]> = None;
    let mut hosts = 0;
    let mut close = false;
    let mut keep_alive = false;
    for h in req.headers.iter() {
        let name = h.name.as_bytes();
        if name.eq_ignore_ascii_case(b"content-length") {
            let value = h.value.trim_ascii();
            if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
                return Err(Refusal::Malformed("malformed Content-Length"));
            }
            // The same decimal value, however many zeros lead it.
            let value = match value.iter().position(|&d| d != b'0') {
                Some(first) => &value[first..],
                None => b"0".as_slice(),
            };
            match length {
                Some(earlier) if earlier != value => {
                    return Err(Refusal::Malformed("conflicting Content-Length"))
                }
                _ => length = Some(value),
            }
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            return Err(Refusal::Body);
        } else if name.eq_ignore_ascii_case(b"host") {
            hosts += 1;
        } else if name.eq_ignore_ascii_case(b"connection") {
            close |= lists(h.value, "close");
            keep_alive |= lists(h.value, "keep-alive");
        }
        fields.push(Field {
            name: span(buf, name),
            value: span(buf, h.value),
        });
    }
    if hosts > 1 {
        return Err(Refusal::Malformed("more than one Host"));
    }
    let method_parsed = Method::parse(method);
    let body_len = match length {
        None | Some(b"0") => 0,
        // At most five digits: the value is small enough to read as a number.
        Some(v) if method_parsed == Method::Post && v.len() <= 5 => std::str::from_utf8(v)
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|&n| n <= MAX_BODY_BYTES)
            .ok_or(Refusal::Body)?,
        Some(_) => return Err(Refusal::Body),
    };
    let absolute = if target.starts_with('/') || target == "*" {
        None
    } else {
        // Absolute form (RFC 9112 §3.2.2): the path and query are what is served.
        let uri: ::http::Uri = target
            .parse()
            .map_err(|_| Refusal::Malformed("malformed request target"))?;
        if uri.scheme().is_none() {
            return Err(Refusal::Malformed("malformed request target"));
        }
        Some(uri.path_and_query().map_or("/", |p| p.as_str()).to_owned())
    };
    let query_at = absolute.as_deref().unwrap_or(target).find('?');
    Ok(Some(Head {
        len,
        body_len,
        method: method_parsed,
        http11,
        has_host: hosts == 1,
        target: span(buf, target.as_bytes()),
        absolute,
        query_at,
        keep_alive: if http11 { !close } else { keep_alive && !close },
    }))
}

/// A parsed request, read by the service.
struct H1Request<'a> {
    buf: &'a [u8],
    /// The body the head announced (empty but for a `POST`).
    body: &'a [u8],
    head: &'a Head,
    fields: &'a [Field],
}

impl H1Request<'_> {
    fn target(&self) -> &str {
        match &self.head.absolute {
            Some(t) => t,
            // httparse accepts only visible ASCII in the target.
            None => std::str::from_utf8(slice(self.buf, self.head.target)).unwrap_or("/"),
        }
    }
}

/// `value` as text if it is visible ASCII (and tabs), as `http::HeaderValue::to_str` reads.
fn visible_text(value: &[u8]) -> Option<&str> {
    value
        .iter()
        .all(|&b| b == b'\t' || (0x20..0x7f).contains(&b))
        .then(|| std::str::from_utf8(value).ok())
        .flatten()
}

impl Request for H1Request<'_> {
    fn method(&self) -> Method {
        self.head.method
    }

    fn lacks_host(&self) -> bool {
        self.head.http11 && !self.head.has_host
    }

    fn path(&self) -> &str {
        let target = self.target();
        &target[..self.head.query_at.unwrap_or(target.len())]
    }

    fn query(&self) -> Option<&str> {
        let target = self.target();
        self.head.query_at.map(|at| &target[at + 1..])
    }

    fn path_and_query(&self) -> &str {
        self.target()
    }

    fn header(&self, name: &str) -> Option<&str> {
        let field = self
            .fields
            .iter()
            .find(|f| slice(self.buf, f.name).eq_ignore_ascii_case(name.as_bytes()))?;
        visible_text(slice(self.buf, field.value))
    }

    fn body(&self) -> &[u8] {
        self.body
    }
}

/// Writes the status line and fields of `answer` into `out`, with `Date` and, where the
/// connection's fate is not the version's default, `Connection`.
fn put_head(out: &mut Vec<u8>, answer: &Answer, http11: bool, keep_alive: bool) {
    let status = answer.head.status();
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(itoa_status(status).as_str().as_bytes());
    out.push(b' ');
    let reason = ::http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    out.extend_from_slice(reason.as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in answer.head.fields() {
        put_title_case(out, name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"Date: ");
    put_date(out);
    out.extend_from_slice(b"\r\n");
    match (keep_alive, http11) {
        (false, _) => out.extend_from_slice(b"Connection: close\r\n"),
        (true, false) => out.extend_from_slice(b"Connection: keep-alive\r\n"),
        (true, true) => {}
    }
    out.extend_from_slice(b"\r\n");
}

/// Writes the `Date` field's value for now (RFC 9110 §6.6.1), formatted once per second per
/// thread. The second comes from `CLOCK_REALTIME_COARSE`, a memory read in the vDSO without
/// the time-stamp counter, which ticks every few milliseconds: ample for a field in seconds.
fn put_date(out: &mut Vec<u8>) {
    thread_local! {
        static DATE: std::cell::RefCell<(i64, String)> =
            const { std::cell::RefCell::new((i64::MIN, String::new())) };
    }
    let now = coarse_unix_seconds();
    DATE.with_borrow_mut(|(second, text)| {
        if *second != now {
            *second = now;
            let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(now.max(0) as u64);
            *text = httpdate::fmt_http_date(at);
        }
        out.extend_from_slice(text.as_bytes());
    });
}

/// The Unix time in whole seconds from the coarse real-time clock.
fn coarse_unix_seconds() -> i64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid pointer to a timespec the call fills.
    if unsafe { libc::clock_gettime(libc::CLOCK_REALTIME_COARSE, &mut now) } == 0 {
        now.tv_sec
    } else {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)
    }
}

/// The last resort when the service could not build its answer (an internal error).
fn internal_error() -> Answer {
    Answer {
        head: crate::net::head::Head::internal_error(),
        body: None,
    }
}

/// One HTTP/1.x connection: its stream and the buffers it keeps between requests.
struct Connection {
    stream: Stream,
    buf: Vec<u8>,
    filled: usize,
    fields: Vec<Field>,
    out: Vec<u8>,
}

/// How reading the next head ended.
enum Next {
    Head(Head),
    Refused(Refusal),
    /// No request: the client closed, the read failed or timed out, or shutdown began.
    Closed,
}

impl Connection {
    fn new(stream: Stream) -> Connection {
        Connection {
            stream,
            buf: vec![0; INITIAL_BUFFER],
            filled: 0,
            fields: Vec::with_capacity(16),
            out: Vec::with_capacity(1024),
        }
    }

    /// Answers requests until the connection is done with, then closes it.
    async fn serve(mut self, service: &EdgeService, shutdown: &ShutdownWatch) {
        loop {
            let head = match self.next_head(shutdown).await {
                Next::Head(head) => head,
                Next::Refused(refusal) => {
                    tracing::debug!(?refusal, "request head refused");
                    let answer = service
                        .error_answer(refusal.error(), false)
                        .unwrap_or_else(|_| internal_error());
                    // Counted before it is written: the connection ends here whatever the
                    // write does, and whoever reads the refusal can already see it counted.
                    EdgeService::count(&RequestCtx {
                        route: "invalid",
                        status: answer.head.status(),
                        bytes: answer.body_len(),
                        seconds: 0.0,
                    });
                    let written = self
                        .write(&mut RequestCtx::default(), answer, false, false)
                        .await;
                    if written.is_ok() {
                        self.linger().await;
                        return;
                    }
                    break;
                }
                Next::Closed => break,
            };
            let mut keep_alive =
                head.keep_alive && head.method != Method::Connect && !*shutdown.borrow();
            let mut ctx = RequestCtx::default();
            let taken = head.len + head.body_len;
            let request = H1Request {
                buf: &self.buf[..head.len],
                body: &self.buf[head.len..taken],
                head: &head,
                fields: &self.fields,
            };
            let answer = match service.answer(&request, &mut ctx).await {
                Ok(answer) => answer,
                Err(e) => {
                    tracing::error!(error = %e, path = %request.path(), "answering a request failed");
                    keep_alive = false;
                    internal_error()
                }
            };
            let written = self.write(&mut ctx, answer, head.http11, keep_alive).await;
            EdgeService::count(&ctx);
            if let Err(e) = written {
                tracing::debug!(error = %e, "client closed the connection");
                break;
            }
            if !keep_alive {
                break;
            }
            self.buf.copy_within(taken..self.filled, 0);
            self.filled -= taken;
            if self.buf.len() > INITIAL_BUFFER && self.filled <= INITIAL_BUFFER {
                // A long head's room is not kept by an idle connection.
                self.buf.truncate(INITIAL_BUFFER);
                self.buf.shrink_to_fit();
            }
        }
        Shutdown::shutdown(&mut *self.stream).await;
    }

    /// Closes a connection whose client may still be sending (a refused body or head):
    /// the edge's side first, then what arrives is read and dropped for a while, so the
    /// client reads the refusal rather than a reset caused by bytes left unread (nginx's
    /// lingering close). Bounded in time and bytes.
    async fn linger(&mut self) {
        const LINGER: std::time::Duration = std::time::Duration::from_secs(2);
        const LINGER_BYTES: usize = 1 << 20;
        Shutdown::shutdown(&mut *self.stream).await;
        let drain = async {
            let mut dropped = 0;
            while dropped < LINGER_BYTES {
                match self.stream.read(&mut self.buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => dropped += n,
                }
            }
        };
        let _ = tokio::time::timeout(LINGER, drain).await;
    }

    /// Reads until the buffer holds a whole head (pipelined requests may already be there).
    async fn next_head(&mut self, shutdown: &ShutdownWatch) -> Next {
        loop {
            let mut wanted = MAX_HEAD_BYTES;
            if self.filled > 0 {
                match parse(&self.buf[..self.filled], &mut self.fields) {
                    Ok(Some(head)) if self.filled >= head.len + head.body_len => {
                        return Next::Head(head)
                    }
                    // The head is in; its body is still arriving.
                    Ok(Some(head)) => wanted = head.len + head.body_len,
                    Ok(None) => {}
                    Err(refusal) => return Next::Refused(refusal),
                }
            }
            if self.filled == self.buf.len() {
                let grown = (self.buf.len() * 2).min(wanted.max(MAX_HEAD_BYTES));
                self.buf.resize(grown.max(wanted), 0);
            }
            let read = if self.filled == 0 {
                // Waiting for a next request: shutdown closes the connection. Biased: a
                // request already arriving is read and answered.
                let mut shutting_down = shutdown.clone();
                tokio::select! {
                    biased;
                    read = self.stream.read(&mut self.buf) => read,
                    () = async {
                        if !*shutting_down.borrow_and_update() {
                            // An error means the server is gone: close as well.
                            let _ = shutting_down.changed().await;
                        }
                    } => return Next::Closed,
                }
            } else {
                self.stream.read(&mut self.buf[self.filled..]).await
            };
            match read {
                Ok(0) => return Next::Closed,
                Ok(n) => self.filled += n,
                Err(e) => {
                    // A broken connection, or a head that did not arrive in time
                    // (`connections`): nothing can be answered.
                    tracing::debug!(error = %e, "reading a request failed");
                    return Next::Closed;
                }
            }
        }
    }

    /// Writes `answer`, recording its status and body bytes in `ctx` (499 when the client
    /// left before it was written).
    async fn write(
        &mut self,
        ctx: &mut RequestCtx,
        answer: Answer,
        http11: bool,
        keep_alive: bool,
    ) -> std::io::Result<()> {
        ctx.status = answer.head.status();
        self.out.clear();
        put_head(&mut self.out, &answer, http11, keep_alive);
        let mut sent = 0u64;
        let result = async {
            match answer.body {
                Some(Body::Bytes(b)) if b.len() < COPY_BODY_BELOW => {
                    self.out.extend_from_slice(&b);
                    self.stream.write_all(&self.out).await?;
                    sent = b.len() as u64;
                }
                Some(Body::Bytes(b)) => {
                    self.stream.write_all(&self.out).await?;
                    self.stream.write_all(&b).await?;
                    sent = b.len() as u64;
                }
                Some(Body::Streamed(body)) => {
                    self.stream.write_all(&self.out).await?;
                    let mut pieces = body.reader();
                    while let Some(piece) = pieces.next().await {
                        // The head is sent: the connection closes short of its length.
                        let piece = piece.map_err(StreamFailed)?;
                        self.stream.write_all(&piece).await?;
                        sent += piece.len() as u64;
                    }
                }
                None => self.stream.write_all(&self.out).await?,
            }
            self.stream.flush().await
        }
        .await;
        ctx.bytes = sent;
        match result {
            Ok(()) => Ok(()),
            Err(e) => {
                ctx.status = if StreamFailed::is(&e) {
                    500
                } else {
                    CLIENT_CLOSED
                };
                Err(e)
            }
        }
    }
}

/// A streamed body that failed part way (storage, not the client): the connection is closed,
/// and the request counted as a server error.
#[derive(Debug)]
struct StreamFailed(EdgeError);

impl std::fmt::Display for StreamFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "streamed body failed: {}", self.0)
    }
}

impl std::error::Error for StreamFailed {}

impl From<StreamFailed> for std::io::Error {
    fn from(e: StreamFailed) -> std::io::Error {
        tracing::warn!(error = %e.0, "a streamed body failed part way");
        std::io::Error::other(e)
    }
}

impl StreamFailed {
    fn is(e: &std::io::Error) -> bool {
        e.get_ref().is_some_and(|inner| inner.is::<StreamFailed>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn parsed(head: &str) -> Result<Option<(Head, Vec<Field>)>, Refusal> {
        let mut fields = Vec::new();
        parse(head.as_bytes(), &mut fields).map(|h| h.map(|h| (h, fields)))
    }

    fn with<T>(head: &str, f: impl FnOnce(&H1Request<'_>) -> T) -> T {
        let (h, fields) = parsed(head).unwrap().unwrap();
        f(&H1Request {
            buf: head.as_bytes(),
            body: &[],
            head: &h,
            fields: &fields,
        })
    }

    #[test]
    fn a_request_reads_as_sent() {
        let raw = "GET /v/a/720p/media.m3u8?token=x&y HTTP/1.1\r\nHost: e\r\n\
                   range: bytes=0-9\r\nX-Bin: caf\u{e9}\r\n\r\nGET /next";
        with(raw, |r| {
            assert_eq!(r.head.len, raw.find("GET /next").unwrap());
            assert_eq!(r.method(), Method::Get);
            assert!(!r.lacks_host());
            assert_eq!(r.path(), "/v/a/720p/media.m3u8");
            assert_eq!(r.query(), Some("token=x&y"));
            assert_eq!(r.path_and_query(), "/v/a/720p/media.m3u8?token=x&y");
            assert_eq!(r.header("Range"), Some("bytes=0-9"));
            assert_eq!(r.header("host"), Some("e"));
            // Not visible ASCII: not text, as `http::HeaderValue::to_str` reads it.
            assert_eq!(r.header("x-bin"), None);
            assert_eq!(r.header("If-None-Match"), None);
            assert!(r.head.keep_alive);
        });
        with("HEAD /x HTTP/1.0\r\n\r\n", |r| {
            assert_eq!(r.method(), Method::Head);
            assert!(!r.lacks_host(), "HTTP/1.0 needs no Host");
            assert_eq!(r.query(), None);
            assert!(!r.head.keep_alive);
        });
        with("GET /x HTTP/1.1\r\n\r\n", |r| assert!(r.lacks_host()));
        with(
            "GET http://edge.example/v/a/master.m3u8?q HTTP/1.1\r\nHost: edge.example\r\n\r\n",
            |r| {
                assert_eq!(r.path(), "/v/a/master.m3u8");
                assert_eq!(r.query(), Some("q"));
            },
        );
        with("OPTIONS * HTTP/1.1\r\nHost: e\r\n\r\n", |r| {
            assert_eq!(r.method(), Method::Options);
            assert_eq!(r.path(), "*");
        });
    }

    #[test]
    fn keep_alive_follows_the_version_and_connection_header() {
        let alive = |head: &str| parsed(head).unwrap().unwrap().0.keep_alive;
        assert!(alive("GET / HTTP/1.1\r\nHost: e\r\n\r\n"));
        assert!(!alive(
            "GET / HTTP/1.1\r\nHost: e\r\nConnection: Close\r\n\r\n"
        ));
        assert!(!alive(
            "GET / HTTP/1.1\r\nHost: e\r\nConnection: te, close\r\n\r\n"
        ));
        assert!(!alive("GET / HTTP/1.0\r\n\r\n"));
        assert!(alive("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
    }

    #[test]
    fn incomplete_heads_wait_and_bad_ones_are_refused() {
        assert!(parsed("GET /v/a/master.m3u8 HTTP/1.1\r\nHost: e\r\n")
            .unwrap()
            .is_none());
        assert!(parsed("").unwrap().is_none());
        let refused = |head: &str| parsed(head).err();
        for bad in [
            "GET /x HTTP/1.1\r\nHost e\r\n\r\n",
            "\x16\x03\x01\x02\x00\x01\x00\x01\x7f\x03\x03\r\n\r\n",
            "GET /x HTTP/1.1\r\nHost: e\r\nHost: f\r\n\r\n",
            "GET /x HTTP/1.1\r\nHost: e\r\nContent-Length: 1x\r\n\r\n",
            "GET /x HTTP/1.1\r\nHost: e\r\nContent-Length: 0\r\nContent-Length: 1\r\n\r\n",
            "GET x HTTP/1.1\r\nHost: e\r\n\r\n",
            "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        ] {
            assert!(
                matches!(refused(bad), Some(Refusal::Malformed(_))),
                "{bad:?}: {:?}",
                refused(bad)
            );
        }
        for body in [
            "GET /x HTTP/1.1\r\nHost: e\r\nContent-Length: 5\r\n\r\nhello",
            "POST /x HTTP/1.1\r\nHost: e\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "POST /x HTTP/1.1\r\nHost: e\r\nContent-Length: 16385\r\n\r\n",
            "POST /x HTTP/1.1\r\nHost: e\r\nContent-Length: 9999999999\r\n\r\n",
        ] {
            assert_eq!(refused(body), Some(Refusal::Body));
        }
        // A POST may carry a small body: the head says how long, and it is not the head's.
        let (post, _) = parsed("POST /x HTTP/1.1\r\nHost: e\r\nContent-Length: 5\r\n\r\nhel")
            .unwrap()
            .unwrap();
        assert_eq!((post.method, post.body_len), (Method::Post, 5));
        // A zero length, repeated the same, is no body.
        assert!(parsed(
            "GET /x HTTP/1.1\r\nHost: e\r\nContent-Length: 0\r\ncontent-length: 00\r\n\r\n"
        )
        .unwrap()
        .is_some());
        let many = format!(
            "GET /x HTTP/1.1\r\n{}\r\n",
            "A: b\r\n".repeat(MAX_HEADERS + 1)
        );
        assert_eq!(refused(&many), Some(Refusal::TooLarge));
        let long = format!("GET /{} HTTP/1.1\r\n", "a".repeat(MAX_HEAD_BYTES));
        assert_eq!(refused(&long), Some(Refusal::TooLarge));
    }

    #[test]
    fn heads_are_written_title_case_with_date_and_connection() {
        let mut head = crate::net::head::Head::new(200, 4).unwrap();
        head.set_static(::http::header::CONTENT_TYPE, "video/mp4")
            .set_static(::http::header::ETAG, "\"e\"")
            .set_static(crate::net::head::CACHE_STATUS, "sunomi; hit")
            .content_length(3);
        let answer = Answer {
            head,
            body: Some(Body::Bytes(Bytes::from_static(b"abc"))),
        };
        let mut out = Vec::new();
        put_head(&mut out, &answer, true, true);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        for line in [
            "Content-Type: video/mp4\r\n",
            "ETag: \"e\"\r\n",
            "Cache-Status: sunomi; hit\r\n",
            "Content-Length: 3\r\n",
            "Date: ",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
        assert!(!text.contains("Connection"), "{text}");
        let date = text.lines().find_map(|l| l.strip_prefix("Date: ")).unwrap();
        let sent = httpdate::parse_http_date(date).unwrap();
        let age = std::time::SystemTime::now()
            .duration_since(sent)
            .unwrap_or_default();
        assert!(age.as_secs() < 60, "{date} is now");
        assert!(text.ends_with("\r\n\r\n"));
        let mut out = Vec::new();
        put_head(&mut out, &answer, true, false);
        assert!(String::from_utf8(out)
            .unwrap()
            .contains("Connection: close\r\n"));
        let mut out = Vec::new();
        put_head(&mut out, &answer, false, true);
        assert!(String::from_utf8(out)
            .unwrap()
            .contains("Connection: keep-alive\r\n"));
    }
}
