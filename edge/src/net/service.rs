//! The player-facing service: validates a request, asks [`Media`] for the object and answers
//! with the right HTTP semantics (Range, HEAD, ETag, gzip, CORS, errors).
//!
//! [`EdgeService::answer`] reads a [`Request`] and returns an [`Answer`], whichever HTTP
//! implementation carries them: the edge's own HTTP/1.x (`crate::net::h1`) or Pingora's HTTP/2
//! session, for which [`EdgeService`] is a plain [`HttpServerApp`] (not a `ProxyHttp`: the
//! edge answers every request itself, so no proxy phases, modules or cache state are built).

use std::sync::Arc;

use ::http::header;
use ::http::HeaderValue;

use async_trait::async_trait;
use bytes::Bytes;
use pingora::apps::{HttpPersistentSettings, HttpServerApp, ReusedHttpStream};
use pingora::prelude::*;
use pingora::protocols::http::ServerSession as Session;
use pingora::server::ShutdownWatch;
use sunomi_packager::filter::Filter;
use sunomi_packager::route::{parse_request, Protection, Route};

use crate::access::auth;
use crate::error::EdgeError;
use crate::fleet::peer::{PEER_HEADER, PREFETCH_HEADER};
use crate::fleet::peer_auth::unix_seconds;
use crate::media::{Media, Object, RequestFlags, Streamed};
use crate::net::cmcd;
use crate::net::head::{Head, CACHE_STATUS, CACHE_STATUS_UNAVAILABLE};
use crate::net::http::{self, RangeRequest};
use crate::net::request::{Method, Request, WithBody, MAX_BODY_BYTES};
use crate::ops::metrics::metrics;
use crate::views::{ViewTally, VIEW_RECEIPT};
use prometheus::{Histogram, IntCounter};

/// What the request's metrics need to know about it once it is answered.
#[derive(Debug, Default)]
pub struct RequestCtx {
    /// The route's kind (`invalid` when none was recognised).
    pub route: &'static str,
    /// The status answered (499: the client left first).
    pub status: u16,
    /// Body bytes written.
    pub bytes: u64,
    /// Seconds from the request's head to its answer being ready (0 when none was made).
    pub seconds: f64,
}

/// The player-facing service.
pub struct EdgeService {
    media: Arc<Media>,
    retry_after: u64,
    views: Option<ViewTally>,
}

impl EdgeService {
    /// A service answering from `media`, tallying view tickets when `views` is set.
    pub fn new(media: Arc<Media>, retry_after: u64, views: Option<ViewTally>) -> Self {
        EdgeService {
            media,
            retry_after,
            views,
        }
    }
}

/// Status recorded in metrics when the client closed the connection before the response was
/// written (nginx's convention).
pub(crate) const CLIENT_CLOSED: u16 = 499;

/// A response ready to be written by whichever HTTP implementation carries the request.
pub struct Answer {
    /// Status and headers.
    pub head: Head,
    /// The body; `None` for none at all (HEAD, 304, 204), whatever `Content-Length` says.
    pub body: Option<Body>,
}

/// A response body.
pub enum Body {
    /// Bytes at hand.
    Bytes(Bytes),
    /// Read a piece at a time while it is written (a download), never held whole.
    Streamed(Streamed),
}

impl Body {
    /// Its length in bytes.
    pub fn len(&self) -> u64 {
        match self {
            Body::Bytes(b) => b.len() as u64,
            Body::Streamed(s) => s.len(),
        }
    }

    /// Whether it has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Answer {
    fn new(head: Head, body: Option<Bytes>) -> Answer {
        Answer {
            head,
            body: body.filter(|b| !b.is_empty()).map(Body::Bytes),
        }
    }

    fn streamed(head: Head, body: Option<Streamed>) -> Answer {
        Answer {
            head,
            body: body.filter(|b| !b.is_empty()).map(Body::Streamed),
        }
    }

    /// Bytes of body it sends.
    pub fn body_len(&self) -> u64 {
        self.body.as_ref().map_or(0, Body::len)
    }
}

impl EdgeService {
    /// Writes `answer` on a Pingora session (HTTP/2; HTTP/1.1 is [`crate::net::h1`]'s).
    async fn write(session: &mut Session, ctx: &mut RequestCtx, answer: Answer) -> Result<()> {
        let resp = answer.head.finish();
        ctx.status = resp.status.as_u16();
        let body = answer.body;
        let h2 = matches!(session, Session::H2(_));
        match &mut *session {
            // HTTP/2 ends a body-less stream on its HEADERS frame, not with an empty DATA frame.
            Session::H2(s) => s.write_response_header(Box::new(resp), body.is_none())?,
            other => other.write_response_header(Box::new(resp)).await?,
        }
        match body {
            None if h2 => {}
            None => session.finish_body().await.map(|_| ())?,
            Some(Body::Bytes(b)) => {
                ctx.bytes = b.len() as u64;
                session.write_response_body(b, true).await?;
            }
            Some(Body::Streamed(s)) => {
                let mut pieces = s.reader();
                while let Some(piece) = pieces.next().await {
                    let piece = piece.map_err(|e| {
                        // The head is sent: the response ends short of its length.
                        tracing::warn!(error = %e, "a streamed body failed part way");
                        ctx.status = 500;
                        Error::explain(ErrorType::InternalError, "streamed body failed")
                    })?;
                    ctx.bytes += piece.len() as u64;
                    session.write_response_body(piece, false).await?;
                }
                session.write_response_body(Bytes::new(), true).await?;
            }
        }
        Ok(())
    }

    fn error<R: Request>(&self, req: &R, e: EdgeError) -> Result<Answer> {
        // A peer's memory-only lookup that finds nothing is routine, not a failure.
        if e.status() >= 500 && !matches!(e, EdgeError::NotCached) {
            tracing::warn!(path = %req.path(), error = %e, "request failed");
        }
        self.error_answer(e, req.method() == Method::Head)
    }

    /// The answer to a request refused with `e` (a body only when `head_only` is false).
    pub(crate) fn error_answer(&self, e: EdgeError, head_only: bool) -> Result<Answer> {
        let status = e.status();
        let mut resp = Head::new(status, 8)?;
        // What the client may know: never storage keys, paths or internal detail.
        let text = format!("{status} {}\n", e.public_message());
        resp.set_static(header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .set_static(header::CACHE_CONTROL, "no-store")
            .set_static(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")
            .content_length(text.len());
        match &e {
            EdgeError::Unavailable(_) | EdgeError::Changed(_) => {
                resp.set(header::RETRY_AFTER, HeaderValue::from(self.retry_after))
                    .set_static(CACHE_STATUS, CACHE_STATUS_UNAVAILABLE);
            }
            EdgeError::RangeNotSatisfiable { length } => {
                resp.set_text(header::CONTENT_RANGE, &format!("bytes */{length}"))?;
            }
            EdgeError::MethodNotAllowed => {
                resp.set_static(header::ALLOW, ALLOWED_METHODS);
            }
            _ => {}
        }
        Ok(Answer::new(resp, (!head_only).then(|| Bytes::from(text))))
    }

    fn preflight() -> Result<Answer> {
        let mut resp = Head::new(204, 6)?;
        resp.set_static(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")
            .set_static(header::ACCESS_CONTROL_ALLOW_METHODS, ALLOWED_METHODS)
            .set_static(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                "Range, If-None-Match, If-Modified-Since, Content-Type",
            )
            .set_static(header::ACCESS_CONTROL_MAX_AGE, "86400")
            .content_length(0);
        Ok(Answer::new(resp, None))
    }

    /// The answer to `req`, with its route recorded in `ctx` for the metrics. An error is the
    /// edge's own (a response head that cannot be built): the caller answers 500.
    pub async fn answer<R: Request>(&self, req: &R, ctx: &mut RequestCtx) -> Result<Answer> {
        let started = std::time::Instant::now();
        let answer = self.answer_now(req, ctx).await;
        ctx.seconds = started.elapsed().as_secs_f64();
        answer
    }

    async fn answer_now<R: Request>(&self, req: &R, ctx: &mut RequestCtx) -> Result<Answer> {
        match req.method() {
            Method::Options => {
                ctx.route = "preflight";
                return Self::preflight();
            }
            Method::Get | Method::Head | Method::Post => {}
            Method::Connect | Method::Other => {
                ctx.route = "invalid";
                return self.error(req, EdgeError::MethodNotAllowed);
            }
        }
        // RFC 9112 §3.2: an HTTP/1.1 request without Host is answered 400.
        if req.lacks_host() {
            ctx.route = "invalid";
            let e = EdgeError::BadRequest("HTTP/1.1 requests need a Host header".into());
            return self.error(req, e);
        }
        let (protection, route) = match parse_request(req.path()) {
            Ok(r) => r,
            Err(e) => {
                ctx.route = "invalid";
                return self.error(req, e.into());
            }
        };
        ctx.route = route.kind();
        // A licence is asked for by POST (EME's licence request in the body), and nothing
        // else is.
        if (req.method() == Method::Post) != matches!(route, Route::Licence { .. }) {
            return self.error(req, EdgeError::MethodNotAllowed);
        }
        let flags = match self.flags(req, &route, protection) {
            Ok(f) => f,
            Err(e) => return self.error(req, e),
        };
        match self.media.get(&route, &flags).await {
            Ok(obj) => {
                let receipt = self.view_receipt(req, &route, &flags, &obj).await;
                let mut answer = self.respond(req, &route, obj)?;
                if let Some(receipt) = receipt {
                    // Personal: no cache may keep it or hand it to another player.
                    answer
                        .head
                        .set(VIEW_RECEIPT, receipt)
                        .set_static(header::CACHE_CONTROL, "private, no-store");
                }
                Ok(answer)
            }
            Err(e) => self.error(req, e),
        }
    }

    /// The view receipt a player's media segment request earns (`crate::views`): only for a
    /// player's own request (not a peer's or a prefetch) carrying a CMCD session id.
    async fn view_receipt<R: Request>(
        &self,
        req: &R,
        route: &Route,
        flags: &RequestFlags,
        obj: &Object,
    ) -> Option<HeaderValue> {
        let views = self.views.as_ref()?;
        let Route::Segment { id, number, .. } = route else {
            return None;
        };
        if flags.from_peer || req.method() != Method::Get {
            return None;
        }
        let sid = cmcd::session_id(req.query(), req.header("CMCD-Session"))?;
        views
            .served(&sid, id, *number, obj.media_ms, unix_seconds())
            .await
    }

    /// Whether the request is from a peer edge (its marker signed by the fleet; a marker
    /// that is not is refused with 403, so a client cannot bypass owner routing or pose as a
    /// prefetch), and whether it is a prefetch.
    fn peer_marker<R: Request>(&self, req: &R) -> Result<(bool, bool), EdgeError> {
        let Some(marker) = req.header(PEER_HEADER) else {
            return Ok((false, false));
        };
        let prefetch = req.header(PREFETCH_HEADER).is_some();
        let auth = self.media.fleet().peer_auth();
        let method = req.method().as_str();
        match auth.verify(
            method,
            req.path_and_query(),
            marker,
            prefetch,
            unix_seconds(),
        ) {
            Ok(_) => Ok((true, prefetch)),
            Err(e) => {
                metrics().refused.with_label_values(&["peer"]).inc();
                Err(EdgeError::Forbidden(format!("{PEER_HEADER}: {e}")))
            }
        }
    }

    /// Who asks (player, peer edge, prefetch), the player's CMCD next-object hint, the
    /// playlist filter from the query (a bad one is a 400) and, for track files, the range.
    fn flags<R: Request>(
        &self,
        req: &R,
        route: &Route,
        protection: Protection,
    ) -> Result<RequestFlags, EdgeError> {
        let (from_peer, prefetch) = self.peer_marker(req)?;
        let query = req.query();
        let next = match route {
            Route::Segment { .. } if !from_peer => {
                cmcd::next_object(req.path(), query, req.header("CMCD-Request"))
                    .and_then(|p| Route::parse(&p).ok())
            }
            _ => None,
        };
        let filter = if route.is_playlist() {
            Filter::parse(query.unwrap_or("")).map_err(|e| EdgeError::BadRequest(e.to_string()))?
        } else {
            Filter::default()
        };
        let range = match route {
            Route::TrackFile { .. } => req.header("Range").map(str::to_owned),
            _ => None,
        };
        let playback_token = playback_token(query)?;
        let token = auth::token_query(query).map_err(|e| {
            metrics().refused.with_label_values(&["token"]).inc();
            EdgeError::Forbidden(e.to_string())
        })?;
        Ok(RequestFlags {
            body: match route {
                Route::Licence { .. } => Bytes::copy_from_slice(req.body()),
                _ => Bytes::new(),
            },
            from_peer,
            prefetch,
            // Only a peer may ask not to fill: the fleet's sibling lookup (media::segments).
            only_if_cached: from_peer && http::only_if_cached(req.header("Cache-Control")),
            // Only track files are cut by Media; other ranges are applied in `respond`.
            if_range: match route {
                Route::TrackFile { .. } => req.header("If-Range").map(str::to_owned),
                _ => None,
            },
            next,
            filter,
            range,
            protection,
            token,
            query: query.map(str::to_owned),
            playback_token,
        })
    }

    fn respond<R: Request>(&self, req: &R, route: &Route, obj: Object) -> Result<Answer> {
        let head = req.method() == Method::Head;
        let range_header = req.header("Range");
        let gzip = obj.gzip.as_ref().filter(|_| {
            range_header.is_none() && http::accepts_gzip(req.header("Accept-Encoding"))
        });
        let (body, etag) = match gzip {
            Some((z, tag)) => (z.clone(), tag),
            None => (obj.body.clone(), &obj.etag),
        };
        let cache_control = if obj.private {
            HeaderValue::from_static("private, no-store")
        } else if obj.immutable {
            HeaderValue::from_static("public, max-age=31536000, immutable")
        } else {
            self.media.playlist_cache_control()
        };
        let resp_headers = |status: u16| -> Result<Head> {
            let mut resp = Head::new(status, 12)?;
            resp.set_static(header::CONTENT_TYPE, http::content_type(route))
                .set(header::CACHE_CONTROL, cache_control.clone())
                .set_static(CACHE_STATUS, obj.cache.header())
                .cors()
                .set(header::ETAG, etag.header_value());
            if obj.gzip.is_some() {
                resp.set_static(header::VARY, "Accept-Encoding");
            } else {
                resp.set_static(header::ACCEPT_RANGES, "bytes");
            }
            if gzip.is_some() {
                resp.set_static(header::CONTENT_ENCODING, "gzip");
            }
            if let Some(disposition) = http::content_disposition(route) {
                resp.set_text(header::CONTENT_DISPOSITION, &disposition)?;
            }
            Ok(resp)
        };

        if http::none_match(req.header("If-None-Match"), etag) {
            return Ok(Answer::new(resp_headers(304)?, None));
        }
        if let Some(streamed) = &obj.streamed {
            let length = streamed.total();
            let range_header =
                range_header.filter(|_| http::range_applies(req.header("If-Range"), etag));
            let (status, range) = match http::parse_range(range_header, length) {
                RangeRequest::Full => (200, 0..length),
                RangeRequest::Partial(r) => (206, r),
                RangeRequest::Unsatisfiable => {
                    return self.error(req, EdgeError::RangeNotSatisfiable { length })
                }
            };
            let mut resp = resp_headers(status)?;
            if status == 206 {
                resp.set_text(
                    header::CONTENT_RANGE,
                    &format!("bytes {}-{}/{length}", range.start, range.end - 1),
                )?;
            }
            let body = streamed.slice(range);
            resp.content_length(body.len() as usize);
            return Ok(Answer::streamed(resp, (!head).then_some(body)));
        }
        if let Some((range, total)) = &obj.content_range {
            // Media already cut the part the request asked for (byte-range mode).
            let mut resp = resp_headers(206)?;
            resp.set_text(
                header::CONTENT_RANGE,
                &format!("bytes {}-{}/{total}", range.start, range.end - 1),
            )?
            .content_length(body.len());
            return Ok(Answer::new(resp, (!head).then_some(body)));
        }
        let length = body.len() as u64;
        // A Range under an If-Range that does not match is ignored: 200 with everything.
        let range_header = range_header
            .filter(|_| !matches!(route, Route::TrackFile { .. }))
            .filter(|_| http::range_applies(req.header("If-Range"), etag));
        let (status, slice) = match http::parse_range(range_header, length) {
            RangeRequest::Full => (200, None),
            RangeRequest::Partial(r) => (206, Some(r)),
            RangeRequest::Unsatisfiable => {
                return self.error(req, EdgeError::RangeNotSatisfiable { length })
            }
        };
        let mut resp = resp_headers(status)?;
        let body = match slice {
            Some(r) => {
                resp.set_text(
                    header::CONTENT_RANGE,
                    &format!("bytes {}-{}/{length}", r.start, r.end - 1),
                )?;
                body.slice(r.start as usize..r.end as usize)
            }
            None => body,
        };
        resp.content_length(body.len());
        Ok(Answer::new(resp, (!head).then_some(body)))
    }
}

/// A status code as text without allocating (metrics labels, HTTP/1.x status lines).
pub(crate) struct StatusText([u8; 3]);

impl StatusText {
    /// The three digits.
    pub(crate) fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("000")
    }
}

/// `status` (at most 999) as three digits.
pub(crate) fn itoa_status(status: u16) -> StatusText {
    let s = status.min(999);
    StatusText([
        b'0' + (s / 100) as u8,
        b'0' + (s / 10 % 10) as u8,
        b'0' + (s % 10) as u8,
    ])
}

/// Whether serving failed because the client went away mid-response: a write to a closed
/// connection, or an HTTP/2 stream the client reset (h2 then refuses capacity for it). Nothing
/// to answer and nothing wrong with the edge: not logged as an error.
fn client_went_away(e: &pingora::Error) -> bool {
    match e.etype {
        ErrorType::WriteError | ErrorType::ConnectionClosed => true,
        ErrorType::H2Error => e.esource == ErrorSource::Downstream,
        _ => false,
    }
}

impl EdgeService {
    /// The stream's request head. The edge hands this service HTTP/2 connections only
    /// (`crate::net::h1` owns HTTP/1.x, its malformed heads and its shutdown of idle connections),
    /// and Pingora's HTTP/2 session has read a stream's head before it calls; `None` when
    /// there is nothing to answer.
    async fn read_request(session: &mut Session) -> Option<()> {
        match session.read_request().await {
            Ok(true) => Some(()),
            Ok(false) => None,
            Err(e) => {
                tracing::debug!(error = %e, "reading a request failed");
                None
            }
        }
    }

    /// Counts an answered request in the metrics (by route and status, and its body bytes).
    pub(crate) fn count(ctx: &RequestCtx) {
        let route = if ctx.route.is_empty() {
            "invalid"
        } else {
            ctx.route
        };
        REQUEST_COUNTERS
            .with_borrow_mut(|counters| counters.count(route, ctx.status, ctx.bytes, ctx.seconds));
    }
}

/// The request and byte counters and the latency histogram of the (route, status) pairs one
/// thread has counted, so a request does not pay Prometheus' label lookup (hashing labels
/// under a lock) three times: routes are a handful of constants and statuses a few dozen, so
/// the list stays short.
#[derive(Default)]
struct RequestCounters(Vec<(&'static str, u16, IntCounter, IntCounter, Histogram)>);

/// Pairs kept per thread; beyond that (never in practice) the lookup is Prometheus' own.
const COUNTED_PAIRS: usize = 128;

impl RequestCounters {
    /// Counts one request of `route` answered `status` with `body_bytes`, its answer ready
    /// after `seconds`.
    fn count(&mut self, route: &'static str, status: u16, body_bytes: u64, seconds: f64) {
        let known = self.0.iter().find(|(r, s, ..)| *s == status && *r == route);
        if let Some((.., requests, bytes, latency)) = known {
            requests.inc();
            bytes.inc_by(body_bytes);
            latency.observe(seconds);
            return;
        }
        let m = metrics();
        let status_text = itoa_status(status);
        let requests = m.requests.with_label_values(&[route, status_text.as_str()]);
        let bytes = m.response_bytes.with_label_values(&[route]);
        let latency = m.request_seconds.with_label_values(&[route]);
        requests.inc();
        bytes.inc_by(body_bytes);
        latency.observe(seconds);
        if self.0.len() < COUNTED_PAIRS {
            self.0.push((route, status, requests, bytes, latency));
        }
    }
}

thread_local! {
    static REQUEST_COUNTERS: std::cell::RefCell<RequestCounters> =
        std::cell::RefCell::new(RequestCounters::default());
}

#[async_trait]
impl HttpServerApp for EdgeService {
    async fn process_new_http(
        self: &Arc<Self>,
        mut session: Session,
        shutdown: &ShutdownWatch,
    ) -> Option<ReusedHttpStream> {
        Self::read_request(&mut session).await?;
        let method = Request::method(session.req_header());
        // A POST's body (a licence request) is read whole, bounded, before it is answered.
        let body = if method == Method::Post {
            match read_body(&mut session).await {
                Ok(body) => Some(body),
                Err(e) => {
                    tracing::debug!(error = %e, "request body refused");
                    session.set_keepalive(None);
                    let mut ctx = RequestCtx {
                        route: "invalid",
                        ..RequestCtx::default()
                    };
                    if let Ok(answer) = self.error_answer(e, false) {
                        let _ = Self::write(&mut session, &mut ctx, answer).await;
                    }
                    Self::count(&ctx);
                    return None;
                }
            }
        } else {
            None
        };
        if *shutdown.borrow() || method == Method::Connect {
            // Shutting down: this answer is the connection's last. CONNECT's framing is not
            // HTTP's; it is refused (405) and the connection closed rather than reused.
            session.set_keepalive(None);
        }
        let mut ctx = RequestCtx::default();
        let answered = match &body {
            Some(body) => {
                let request = WithBody {
                    head: session.req_header(),
                    body,
                };
                self.answer(&request, &mut ctx).await
            }
            None => self.answer(session.req_header(), &mut ctx).await,
        };
        let served = match answered {
            Ok(answer) => Self::write(&mut session, &mut ctx, answer).await,
            Err(e) => Err(e),
        };
        let reusable = match served {
            Ok(()) => true,
            // The player went away mid-response (seeking, closing the tab, a load tester
            // stopping): nothing to answer and nothing wrong with the edge.
            Err(e) if client_went_away(&e) => {
                tracing::debug!(error = %e, "client closed the connection");
                ctx.status = CLIENT_CLOSED;
                false
            }
            Err(e) => {
                tracing::error!(
                    error = %e,
                    request = %session.request_summary(),
                    "answering a request failed"
                );
                if session.response_written().is_none() {
                    ctx.status = 500;
                    if let Err(e) = session.respond_error(500).await {
                        tracing::debug!(error = %e, "could not answer 500");
                    }
                }
                false
            }
        };
        Self::count(&ctx);
        if !reusable {
            return None;
        }
        let settings = HttpPersistentSettings::for_session(&session);
        match session.finish().await {
            Ok(stream) => stream.map(|s| ReusedHttpStream::from_reusable_stream(s, settings)),
            Err(e) => {
                tracing::debug!(error = %e, "finishing a response failed");
                None
            }
        }
    }
}

/// The methods the player listener answers (`POST` only for a licence).
const ALLOWED_METHODS: &str = "GET, HEAD, OPTIONS, POST";

/// The body of an HTTP/2 request, whole, if it is at most [`MAX_BODY_BYTES`].
async fn read_body(session: &mut Session) -> std::result::Result<Bytes, EdgeError> {
    let mut body = bytes::BytesMut::new();
    loop {
        match session.read_request_body().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_BODY_BYTES {
                    return Err(EdgeError::BodyNotAccepted);
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body.freeze()),
            Err(e) => return Err(EdgeError::BadRequest(format!("unreadable body: {e}"))),
        }
    }
}

/// The signed playback token of a query (`token=`, a JWT: base64url parts and dots, bounded
/// in length); a malformed one is a 403 before anything else is done.
fn playback_token(query: Option<&str>) -> Result<Option<String>, EdgeError> {
    let mut found = None;
    for pair in query.unwrap_or("").split('&') {
        if let Some(v) = pair.strip_prefix("token=") {
            let ok = found.is_none()
                && !v.is_empty()
                && v.len() <= crate::media::MAX_PLAYBACK_TOKEN
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
            if !ok {
                metrics().refused.with_label_values(&["token"]).inc();
                return Err(EdgeError::Forbidden("malformed playback token".into()));
            }
            found = Some(v.to_string());
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_leaving_is_told_apart_from_an_edge_failure() {
        let reset_stream =
            Error::explain(ErrorType::H2Error, "cannot reserve capacity").into_down();
        assert!(client_went_away(&reset_stream));
        assert!(client_went_away(&Error::new(ErrorType::WriteError)));
        assert!(client_went_away(&Error::new(ErrorType::ConnectionClosed)));
        // An HTTP/2 failure not caused by the client, and failures of the edge, stay errors.
        assert!(!client_went_away(&Error::new(ErrorType::H2Error)));
        assert!(!client_went_away(&Error::new(ErrorType::InternalError)));
        assert!(!client_went_away(
            &Error::new(ErrorType::ReadError).into_down()
        ));
    }
}
