//! Bounds on the connections a listener holds, so idle or slow clients cannot exhaust file
//! descriptors or memory:
//!
//! - at most `max` open connections; one more is answered `503` with `Retry-After` and
//!   closed at once (so a flood of idle connections leaves room for nothing but refusals,
//!   never a hang, and monitoring on the admin port keeps working);
//! - a request's header must arrive whole within `header_timeout` of the connection opening
//!   and, on a kept-alive connection, within one to two `idle_timeout`s of the previous
//!   response (a total deadline: a client dripping one byte at a time gains nothing, unlike a
//!   per-read timeout);
//! - a write that makes no progress for `write_timeout` (a client that stopped reading) ends
//!   the connection.
//!
//! All of it costs the request path no timer work and no clock read: the one timer per
//! connection is re-armed only when it fires or a write stalls (a per-request
//! `tokio::time::timeout`, which Pingora's own keep-alive and write timeouts use, measured at
//! about 15 % of the CPU of a cached playlist).
//!
//! Every refusal and timeout is counted (`sunomi_connections_*`).

use std::future::Future;
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use pingora::apps::ServerApp;
use pingora::protocols::{
    GetProxyDigest, GetSocketDigest, GetTimingDigest, Peek, Shutdown, Ssl, Stream, UniqueID,
    UniqueIDType,
};
use pingora::server::ShutdownWatch;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::time::{Instant, Sleep};

use crate::net::zero_copy;
use crate::ops::metrics::metrics;

/// The bounds of one listener.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Open connections at most.
    pub max: usize,
    /// Time from accepting a connection to having read its first request header.
    pub header_timeout: Duration,
    /// Time from a response to having read the next request header on the same connection.
    pub idle_timeout: Duration,
    /// Time a write may wait for the client to read before the connection is dropped.
    pub write_timeout: Duration,
}

/// Whether a connection may open while `open` are: the cap, as one pure rule.
pub fn admits(open: usize, max: usize) -> bool {
    open < max
}

/// A listener's application behind [`ConnectionLimits`].
pub struct Bounded<A> {
    inner: Arc<A>,
    limits: ConnectionLimits,
    open: AtomicUsize,
    /// The listener's name in metrics (`player`, `admin`).
    listener: &'static str,
}

impl<A> Bounded<A> {
    /// `inner` behind `limits`, counted in metrics as `listener`.
    pub fn new(inner: A, limits: ConnectionLimits, listener: &'static str) -> Bounded<A> {
        Bounded {
            inner: Arc::new(inner),
            limits,
            open: AtomicUsize::new(0),
            listener,
        }
    }
}

/// Decrements the open count when the connection ends, however it ends.
struct Slot<'a> {
    open: &'a AtomicUsize,
    listener: &'static str,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::AcqRel);
        metrics()
            .connections_open
            .with_label_values(&[self.listener])
            .dec();
    }
}

/// The body of the answer to a connection beyond the cap.
const BUSY_BODY: &str = "too many open connections\n";

#[async_trait]
impl<A> ServerApp for Bounded<A>
where
    A: ServerApp + Send + Sync + 'static,
{
    async fn process_new(
        self: &Arc<Self>,
        mut stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        let admitted = self
            .open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                admits(open, self.limits.max).then_some(open + 1)
            })
            .is_ok();
        if !admitted {
            metrics()
                .connections_refused
                .with_label_values(&[self.listener])
                .inc();
            // Best effort: the client learns why; nothing is read from it.
            let busy = format!(
                "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nConnection: close\r\n\
                 Content-Type: text/plain\r\nContent-Length: {}\r\n\r\n{BUSY_BODY}",
                BUSY_BODY.len()
            );
            let write = stream.write_all(busy.as_bytes());
            let _ = tokio::time::timeout(Duration::from_secs(1), write).await;
            Shutdown::shutdown(&mut *stream).await;
            return None;
        }
        metrics()
            .connections_open
            .with_label_values(&[self.listener])
            .inc();
        let _slot = Slot {
            open: &self.open,
            listener: self.listener,
        };
        if stream.get_ssl().is_some() {
            // The listener finished the handshake before handing the connection over.
            metrics()
                .tls_handshakes
                .with_label_values(&["completed"])
                .inc();
        }
        let stream: Stream = Box::new(Deadlined::new(stream, self.limits, self.listener));
        self.inner.process_new(stream, shutdown).await
    }

    async fn cleanup(&self) {
        self.inner.cleanup().await;
    }
}

/// A connection whose reads fail once the current header deadline has passed. The deadline
/// starts at `header_timeout`; after a response it is `idle_timeout` from when the timer
/// next fires (see `poll_read`).
#[derive(Debug)]
struct Deadlined {
    inner: Stream,
    idle_timeout: Duration,
    write_timeout: Duration,
    deadline: Instant,
    /// Since when a write has been waiting for the client to read, as a deadline.
    write_deadline: Option<Instant>,
    /// A response was written since the deadline was set: the next wait starts a new one.
    responded: bool,
    timer: Pin<Box<Sleep>>,
    listener: &'static str,
    /// The TCP socket, when the connection is plain TCP (no TLS layer): writes of bytes held
    /// in a sendable segment mapping are sent without a copy (see [`crate::net::zero_copy`]).
    socket: Option<RawFd>,
    /// Bytes to hand the socket per send without a copy: what it last took when it took
    /// less (at least 64 KiB), doubled back when it takes all. Pages it does not take are put
    /// in the pipe for nothing (a slow client's socket takes a little at a time).
    splice_hint: usize,
}

impl Deadlined {
    fn new(inner: Stream, limits: ConnectionLimits, listener: &'static str) -> Deadlined {
        let deadline = Instant::now() + limits.header_timeout;
        let socket = inner
            .as_any()
            .downcast_ref::<pingora::protocols::l4::stream::Stream>()
            .map(|tcp| tcp.as_raw_fd());
        Deadlined {
            socket,
            splice_hint: zero_copy::MAX_SEND,
            inner,
            idle_timeout: limits.idle_timeout,
            write_timeout: limits.write_timeout,
            deadline,
            write_deadline: None,
            responded: false,
            timer: Box::pin(tokio::time::sleep_until(deadline)),
            listener,
        }
    }

    fn timed_out(&self) -> std::io::Error {
        metrics()
            .connection_timeouts
            .with_label_values(&[self.listener])
            .inc();
        std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "no complete request within the connection's deadline",
        )
    }
}

impl Deadlined {
    /// Notes a write's progress: a response is going out (the next request's deadline
    /// starts when the connection next waits), or the write is stalled (the client has
    /// `write_timeout` to read, then the connection is dropped).
    fn after_write(
        &mut self,
        cx: &mut Context<'_>,
        written: Poll<std::io::Result<usize>>,
    ) -> Poll<std::io::Result<usize>> {
        match written {
            Poll::Ready(Ok(n)) if n > 0 => {
                self.responded = true;
                self.write_deadline = None;
                Poll::Ready(Ok(n))
            }
            Poll::Pending => {
                let deadline = *self
                    .write_deadline
                    .get_or_insert_with(|| Instant::now() + self.write_timeout);
                if self.timer.deadline() > deadline {
                    self.timer.as_mut().reset(deadline);
                }
                loop {
                    match self.timer.as_mut().poll(cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(()) if Instant::now() >= deadline => {
                            return Poll::Ready(Err(self.timed_out()))
                        }
                        Poll::Ready(()) => self.timer.as_mut().reset(deadline),
                    }
                }
            }
            other => other,
        }
    }
}

impl AsyncRead for Deadlined {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            // No clock is read and no timer touched per request: the timer trails the
            // deadline and is re-armed only when it fires. If a response went out since it was
            // armed, the next request gets `idle_timeout` from then — so a kept-alive
            // connection is closed between one and two `idle_timeout`s after its last response,
            // and a client dripping bytes reaches a Pending read between bytes, where the
            // deadline is enforced.
            Poll::Pending => loop {
                match self.timer.as_mut().poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(()) => {
                        let now = Instant::now();
                        if self.responded {
                            self.responded = false;
                            self.deadline = now + self.idle_timeout;
                        } else if now >= self.deadline {
                            return Poll::Ready(Err(self.timed_out()));
                        }
                        let deadline = self.deadline;
                        self.timer.as_mut().reset(deadline);
                    }
                }
            },
            ready => ready,
        }
    }
}

impl Deadlined {
    /// Sends `buf` without copying it, when it lies in a sendable segment mapping and the
    /// connection is plain TCP: `None` to write it the ordinary way. What is already buffered
    /// on the connection (the response head) goes out first, so bytes keep their order. A
    /// full socket falls back to the ordinary write, which registers for writability (or,
    /// if room opened meanwhile, copies a part).
    fn poll_send_from_mapping(
        &mut self,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Option<Poll<std::io::Result<usize>>> {
        let socket = self.socket?;
        if buf.len() < zero_copy::min_bytes() || !zero_copy::holds(buf) {
            return None;
        }
        // Corked, the head and the first pages leave in one segment: sent apart (the head
        // alone, then the pages), the receiver's cost per byte measured more than twice as
        // high on loopback (wrk: half the throughput, twice the median latency).
        let _cork = Cork::on(socket);
        match Pin::new(&mut self.inner).poll_flush(cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(e)) => return Some(Poll::Ready(Err(e))),
            Poll::Pending => return Some(Poll::Pending),
        }
        let offered = buf.len().min(self.splice_hint);
        match zero_copy::send(socket, &buf[..offered]) {
            Ok(0) => None,
            Ok(sent) => {
                self.splice_hint = next_splice_hint(self.splice_hint, offered, sent);
                Some(Poll::Ready(Ok(sent)))
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {
                cx.waker().wake_by_ref();
                Some(Poll::Pending)
            }
            // A full socket, or a kernel that cannot splice here: the ordinary write.
            Err(e) if !is_connection_error(&e) => None,
            Err(e) => Some(Poll::Ready(Err(e))),
        }
    }
}

/// `TCP_CORK` on a socket for as long as it lives: partial segments wait to be filled,
/// and are sent when it is dropped.
struct Cork(RawFd);

impl Cork {
    fn on(socket: RawFd) -> Cork {
        set_cork(socket, 1);
        Cork(socket)
    }
}

impl Drop for Cork {
    fn drop(&mut self) {
        set_cork(self.0, 0);
    }
}

/// Sets `TCP_CORK`; a failure only costs the coalescing.
fn set_cork(socket: RawFd, on: libc::c_int) {
    let _ = set_int_option(socket, libc::IPPROTO_TCP, libc::TCP_CORK, on);
}

/// Sets an integer socket option.
fn set_int_option(
    socket: RawFd,
    level: libc::c_int,
    option: libc::c_int,
    value: libc::c_int,
) -> std::io::Result<()> {
    // SAFETY: a socket descriptor (a closed one only makes the call fail) and a pointer to an
    // int of the size given.
    let r = unsafe {
        libc::setsockopt(
            socket,
            level,
            option,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// The next [`Deadlined::splice_hint`] after a send that offered `offered` bytes and got
/// `sent` in: back up to the most a send takes once the socket took everything, down to what
/// it took (never below 64 KiB) when it took less.
fn next_splice_hint(hint: usize, offered: usize, sent: usize) -> usize {
    const MIN: usize = 64 * 1024;
    if sent >= offered {
        hint.saturating_mul(2).min(zero_copy::MAX_SEND)
    } else {
        sent.clamp(MIN, zero_copy::MAX_SEND)
    }
}

/// Whether a send failed because the connection is gone (not worth a second try).
fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset, NotConnected};
    matches!(
        e.kind(),
        BrokenPipe | ConnectionReset | ConnectionAborted | NotConnected
    )
}

impl AsyncWrite for Deadlined {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let written = match self.poll_send_from_mapping(cx, buf) {
            Some(sent) => sent,
            None => Pin::new(&mut self.inner).poll_write(cx, buf),
        };
        self.after_write(cx, written)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.after_write(cx, written)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[async_trait]
impl Shutdown for Deadlined {
    async fn shutdown(&mut self) {
        Shutdown::shutdown(&mut *self.inner).await;
    }
}

impl UniqueID for Deadlined {
    fn id(&self) -> UniqueIDType {
        self.inner.id()
    }
}

impl Ssl for Deadlined {
    fn get_ssl(&self) -> Option<&pingora::protocols::tls::TlsRef> {
        self.inner.get_ssl()
    }

    fn get_ssl_digest(&self) -> Option<Arc<pingora::protocols::tls::SslDigest>> {
        self.inner.get_ssl_digest()
    }

    fn selected_alpn_proto(&self) -> Option<pingora::protocols::ALPN> {
        self.inner.selected_alpn_proto()
    }
}

impl GetTimingDigest for Deadlined {
    fn get_timing_digest(&self) -> Vec<Option<pingora::protocols::TimingDigest>> {
        self.inner.get_timing_digest()
    }

    fn get_read_pending_time(&self) -> Duration {
        self.inner.get_read_pending_time()
    }

    fn get_write_pending_time(&self) -> Duration {
        self.inner.get_write_pending_time()
    }
}

impl GetProxyDigest for Deadlined {
    fn get_proxy_digest(&self) -> Option<Arc<pingora::protocols::raw_connect::ProxyDigest>> {
        self.inner.get_proxy_digest()
    }

    fn set_proxy_digest(&mut self, digest: pingora::protocols::raw_connect::ProxyDigest) {
        self.inner.set_proxy_digest(digest);
    }
}

impl GetSocketDigest for Deadlined {
    fn get_socket_digest(&self) -> Option<Arc<pingora::protocols::SocketDigest>> {
        self.inner.get_socket_digest()
    }

    fn set_socket_digest(&mut self, digest: pingora::protocols::SocketDigest) {
        self.inner.set_socket_digest(digest);
    }
}

#[async_trait]
impl Peek for Deadlined {
    async fn try_peek(&mut self, buf: &mut [u8]) -> std::io::Result<bool> {
        self.inner.try_peek(buf).await
    }
}

/// Raises this process's open-file limit to its hard limit and returns it: the connection
/// cap must fit under it with room for storage, Redis and peer connections.
pub fn raise_fd_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return None;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    Some(limit.rlim_cur)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sets a socket buffer size of `fd` (test setup).
    fn set_buffer(fd: RawFd, option: libc::c_int, bytes: libc::c_int) {
        set_int_option(fd, libc::SOL_SOCKET, option, bytes).unwrap();
    }

    /// What a response looks like on the way out: a head, then a body held in a sendable
    /// mapping. Sent to a client that does not read at first, through socket buffers far
    /// smaller than the body, so the send meets a full socket again and again (pages put in
    /// the pipe but not taken are thrown away and the ordinary write registers for
    /// writability): every byte arrives, in order, and most went without a copy.
    #[tokio::test]
    async fn a_mapped_body_reaches_a_slow_reader_whole_and_after_its_head() {
        zero_copy::configure_for_tests();
        let data: Vec<u8> = (0..(4u32 << 20)).map(|i| (i % 253) as u8).collect();
        let body = zero_copy::keep(bytes::Bytes::from(data.clone()));
        assert!(zero_copy::holds(&body), "the body is in a sendable mapping");

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let reading = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let client = {
            let reading = reading.clone();
            std::thread::spawn(move || {
                use std::io::Read;
                let mut conn = std::net::TcpStream::connect(addr).unwrap();
                set_buffer(conn.as_raw_fd(), libc::SO_RCVBUF, 16 * 1024);
                std::thread::sleep(Duration::from_millis(300));
                reading.store(true, Ordering::SeqCst);
                let mut got = Vec::new();
                let mut chunk = [0u8; 7_000];
                loop {
                    match conn.read(&mut chunk).unwrap() {
                        0 => return got,
                        n => got.extend_from_slice(&chunk[..n]),
                    }
                }
            })
        };
        let (tcp, _) = listener.accept().await.unwrap();
        set_buffer(tcp.as_raw_fd(), libc::SO_SNDBUF, 16 * 1024);
        let limits = ConnectionLimits {
            max: 1,
            header_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(30),
        };
        let mut conn = Deadlined::new(
            Box::new(pingora::protocols::l4::stream::Stream::from(tcp)),
            limits,
            "test",
        );
        assert!(conn.socket.is_some(), "plain TCP is eligible");
        let sent_before = metrics().zero_copy_sent_bytes.get();
        conn.write_all(b"HEAD\r\n").await.unwrap();
        conn.write_all(&body).await.unwrap();
        conn.flush().await.unwrap();
        assert!(
            reading.load(Ordering::SeqCst),
            "the send waited for the reader"
        );
        tokio::io::AsyncWriteExt::shutdown(&mut conn).await.unwrap();
        drop(conn);
        let got = client.join().unwrap();
        assert_eq!(got.len(), data.len() + 6);
        assert_eq!(&got[..6], b"HEAD\r\n");
        assert!(got[6..] == data[..], "the body arrived as it is in memory");
        assert!(
            metrics().zero_copy_sent_bytes.get() > sent_before,
            "sent without a copy"
        );
    }

    #[test]
    fn the_splice_hint_follows_what_the_socket_takes() {
        let max = zero_copy::MAX_SEND;
        assert_eq!(
            next_splice_hint(max, max, max),
            max,
            "a socket taking all keeps it"
        );
        assert_eq!(next_splice_hint(max, max, 100_000), 100_000);
        assert_eq!(
            next_splice_hint(max, max, 10),
            64 * 1024,
            "never below 64 KiB"
        );
        assert_eq!(next_splice_hint(100_000, 100_000, 100_000), 200_000);
        assert_eq!(next_splice_hint(max / 2 + 1, 1000, 1000), max);
    }

    #[test]
    fn the_cap_admits_below_max_only() {
        assert!(admits(0, 1));
        assert!(admits(9_999, 10_000));
        assert!(!admits(10_000, 10_000));
        assert!(!admits(0, 0));
    }
}
