//! Cached segments held in memory the kernel may send from directly, so a plain-HTTP
//! response hands the socket references to the segment's pages (`vmsplice` into a pipe, then
//! `splice` to the socket) instead of copying its bytes into socket buffers.
//!
//! Copying a warm segment into the kernel was most of what serving it cost at high
//! concurrency (profiled: 38 % of the edge's CPU under 1,000 connections), where nginx hands
//! page-cache pages to the socket with `sendfile`. Here a segment kept in the segment cache (at
//! least `min_bytes` long) is copied once into its own anonymous mapping, made read-only, and
//! the cached `Bytes` is a view of that mapping (`Bytes::from_owner`): the same memory, held
//! once. Segments near a multiple of 2 MiB get a mapping of whole 2 MiB pages (transparent huge
//! pages, asked for with `madvise`): the kernel then walks one page table entry per 2 MiB.
//! Every part of the edge reads them as ordinary `Bytes` (TLS, HTTP/2, peers, ranges); only
//! the connection wrapper of a plain TCP listener ([`crate::net::connections`]) asks [`holds`]
//! whether the buffer it is to write lies in such a mapping, and if so sends it with
//! [`send`]. The bytes on the wire are the same either way.
//!
//! Why a mapping of its own, never the allocator's memory: pages handed to a socket are
//! referenced by it until the peer has acknowledged them, after the write returned. They must
//! not change meanwhile. A mapping of ours is never written after it is filled (it is
//! read-only), and unmapping it only drops our reference: the kernel frees the pages when
//! the socket lets go of them. Memory from `malloc` could be reused and rewritten under a
//! send still in flight.
//!
//! Invariants: a registered mapping is read-only from its registration to its `munmap`; an
//! address range is registered exactly while its mapping exists (removed before `munmap`), so
//! [`holds`] on a borrowed slice is true only for memory that stays unchanged. [`send`] leaves
//! its pipe empty whatever happens, so one pipe per thread serves every connection.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Mutex, OnceLock};

use bytes::Bytes;

use crate::ops::metrics::metrics;

/// Which segments are held in sendable mappings, set once at startup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZeroCopySettings {
    /// Segments shorter than this stay on the heap (their copy is cheap); 0 turns it off.
    pub min_bytes: usize,
    /// Whether mappings near a multiple of 2 MiB ask for transparent huge pages. Off, every
    /// mapping is made of 4 KiB pages: for hosts where the kernel's synchronous compaction
    /// (`transparent_hugepage/defrag`) stalls the thread filling a segment.
    pub huge_pages: bool,
}

static SETTINGS: OnceLock<ZeroCopySettings> = OnceLock::new();

const PAGE: usize = 4096;
const HUGE_PAGE: usize = 2 << 20;
/// Bytes the pipe of a send holds at most (the kernel's default limit for a pipe's size).
const PIPE_BYTES: usize = 1 << 20;
/// The most one [`send`] moves (what the pipe holds).
pub(crate) const MAX_SEND: usize = PIPE_BYTES;

/// Live mappings by start address: their length.
type Registry = Mutex<BTreeMap<usize, usize>>;

/// The address ranges of live mappings.
fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| Mutex::new(BTreeMap::new()))
}

/// Sets which segments [`keep`] puts in sendable mappings. The first call wins (startup);
/// without one, none is.
pub fn configure(settings: ZeroCopySettings) {
    let _ = SETTINGS.set(settings);
}

/// Settings for tests of this binary (settings are set once per process).
#[cfg(test)]
pub(crate) fn configure_for_tests() {
    configure(ZeroCopySettings {
        min_bytes: 4096,
        huge_pages: true,
    });
}

/// The smallest write worth looking up (no lookup at all while this is off).
pub(crate) fn min_bytes() -> usize {
    SETTINGS.get().map_or(usize::MAX, |s| {
        if s.min_bytes == 0 {
            usize::MAX
        } else {
            s.min_bytes
        }
    })
}

/// Whether mappings may be made of 2 MiB pages.
fn huge_pages() -> bool {
    SETTINGS.get().is_some_and(|s| s.huge_pages)
}

/// `body`, held in a sendable mapping when it is long enough; otherwise (or when the kernel
/// refuses a mapping) `body` itself. Either way the same bytes.
pub fn keep(body: Bytes) -> Bytes {
    if body.is_empty() || body.len() < min_bytes() {
        return body;
    }
    match Mapping::of(&body, huge_pages()) {
        Ok(mapping) => {
            metrics().zero_copy_segments.inc();
            Bytes::from_owner(mapping)
        }
        Err(e) => {
            metrics().zero_copy_refused.inc();
            tracing::debug!(error = %e, "segment kept on the heap: no mapping");
            body
        }
    }
}

/// The memory `body` takes: the whole pages of its mapping when it is held in one, its
/// length otherwise.
pub fn footprint(body: &Bytes) -> usize {
    if body.len() >= min_bytes() && holds(body) {
        mapping_size(body.len(), huge_pages()).0
    } else {
        body.len()
    }
}

/// Whether `buf` lies wholly in a sendable mapping.
pub(crate) fn holds(buf: &[u8]) -> bool {
    holds_range(buf.as_ptr() as usize, buf.len())
}

fn holds_range(start: usize, len: usize) -> bool {
    let map = registry().lock().unwrap_or_else(|e| e.into_inner());
    match map.range(..=start).next_back() {
        Some((&base, &mapped)) => start
            .checked_add(len)
            .is_some_and(|end| end <= base + mapped),
        None => false,
    }
}

/// How big a mapping for `len` bytes is, and whether it is made of 2 MiB pages: those when
/// they are allowed and rounding up to them wastes at most an eighth, 4 KiB pages otherwise.
fn mapping_size(len: usize, huge_pages: bool) -> (usize, bool) {
    let huge = len.div_ceil(HUGE_PAGE) * HUGE_PAGE;
    if huge_pages && len >= HUGE_PAGE / 2 && huge - len <= len / 8 {
        (huge, true)
    } else {
        (len.div_ceil(PAGE) * PAGE, false)
    }
}

/// Sends up to `buf.len()` bytes of `buf` (which [`holds`]) on the non-blocking `socket`
/// without copying them: how many went; `WouldBlock` when the socket took none.
pub(crate) fn send(socket: RawFd, buf: &[u8]) -> std::io::Result<usize> {
    thread_local! {
        static PIPE: RefCell<Option<Pipe>> = const { RefCell::new(None) };
    }
    PIPE.with(|cell| {
        let mut cell = cell.borrow_mut();
        let pipe = match cell.as_ref() {
            Some(pipe) => pipe,
            None => cell.insert(Pipe::new()?),
        };
        let sent = pipe.send(socket, buf);
        // A pipe left holding pages would send them ahead of the next connection's bytes:
        // never reuse it then.
        let reusable = sent.is_ok() || pipe.is_empty();
        if let Ok(n) = sent {
            metrics().zero_copy_sent_bytes.inc_by(n as u64);
        }
        if !reusable {
            *cell = None;
        }
        sent
    })
}

/// The result of a system call returning a count: the count, or the thread's error.
fn counted(n: isize) -> std::io::Result<usize> {
    usize::try_from(n).map_err(|_| std::io::Error::last_os_error())
}

/// A non-blocking pipe the pages of a send pass through.
struct Pipe {
    read: OwnedFd,
    write: OwnedFd,
    /// Where bytes a socket would not take are thrown away without reading them.
    null: OwnedFd,
    capacity: usize,
}

impl Pipe {
    fn new() -> std::io::Result<Pipe> {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors pipe2 writes.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: both were just opened and are owned by nothing else.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // Best effort: a smaller pipe only means more calls per segment.
        // SAFETY: an open pipe and an int argument.
        let size = unsafe {
            libc::fcntl(
                write.as_raw_fd(),
                libc::F_SETPIPE_SZ,
                PIPE_BYTES as libc::c_int,
            )
        };
        // SAFETY: as above.
        let size = if size > 0 {
            size
        } else {
            unsafe { libc::fcntl(write.as_raw_fd(), libc::F_GETPIPE_SZ) }
        };
        let null = std::fs::OpenOptions::new().write(true).open("/dev/null")?;
        Ok(Pipe {
            read,
            write,
            null: OwnedFd::from(null),
            capacity: usize::try_from(size).unwrap_or(PAGE).max(PAGE),
        })
    }

    /// Puts (references to) the first bytes of `buf` in the pipe and moves them on to
    /// `socket`. What the socket does not take is thrown away: the pipe is empty again.
    fn send(&self, socket: RawFd, buf: &[u8]) -> std::io::Result<usize> {
        let chunk = libc::iovec {
            iov_base: buf.as_ptr() as *mut libc::c_void,
            iov_len: buf.len().min(self.capacity),
        };
        // SAFETY: the iovec describes `chunk.iov_len` readable bytes of `buf`, which lie in a
        // read-only mapping of ours (the caller checked [`holds`]); the pages stay referenced
        // by the pipe and then the socket, never rewritten.
        let queued = counted(unsafe {
            libc::vmsplice(self.write.as_raw_fd(), &chunk, 1, libc::SPLICE_F_NONBLOCK)
        })?;
        // SAFETY: open descriptors, no offsets (a pipe and a socket).
        let sent = counted(unsafe {
            libc::splice(
                self.read.as_raw_fd(),
                std::ptr::null_mut(),
                socket,
                std::ptr::null_mut(),
                queued,
                libc::SPLICE_F_NONBLOCK | libc::SPLICE_F_MORE,
            )
        });
        let left = queued - *sent.as_ref().unwrap_or(&0);
        if left > 0 {
            self.discard(left)?;
        }
        sent
    }

    /// Whether the pipe holds nothing (a failure to ask counts as holding something).
    fn is_empty(&self) -> bool {
        let mut queued: libc::c_int = 0;
        // SAFETY: an open pipe and an int for FIONREAD to fill.
        let r = unsafe { libc::ioctl(self.read.as_raw_fd(), libc::FIONREAD, &mut queued) };
        r == 0 && queued == 0
    }

    /// Empties the pipe of `left` bytes (to `/dev/null`, which takes pages without copying).
    fn discard(&self, mut left: usize) -> std::io::Result<()> {
        while left > 0 {
            // SAFETY: open descriptors, no offsets.
            let n = counted(unsafe {
                libc::splice(
                    self.read.as_raw_fd(),
                    std::ptr::null_mut(),
                    self.null.as_raw_fd(),
                    std::ptr::null_mut(),
                    left,
                    libc::SPLICE_F_NONBLOCK,
                )
            })?;
            if n == 0 {
                return Err(std::io::Error::other(
                    "pipe empty before its bytes were discarded",
                ));
            }
            left -= n;
        }
        Ok(())
    }
}

/// A read-only anonymous mapping of a segment: the owner of a sendable `Bytes`.
struct Mapping {
    /// Where the segment starts (the start of the mapping).
    ptr: *const u8,
    /// The segment's length.
    len: usize,
    /// The mapping's length (`len` rounded up to whole pages).
    mapped: usize,
}

// SAFETY: the mapping is read-only: shared access from any thread reads bytes that never
// change, and unmapping happens once, in `drop`.
unsafe impl Send for Mapping {}
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Copies `bytes` into a new mapping of its own (of 2 MiB pages where `huge_pages`
    /// allows and [`mapping_size`] says) and makes it read-only.
    fn of(bytes: &[u8], huge_pages: bool) -> std::io::Result<Mapping> {
        let (mapped, huge) = mapping_size(bytes.len(), huge_pages);
        // Huge pages need a 2 MiB-aligned start: map one page more, then trim both ends.
        let reserve = if huge { mapped + HUGE_PAGE } else { mapped };
        // SAFETY: a new private anonymous mapping; nothing else refers to it.
        let raw = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                reserve,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if raw == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        let raw = raw as usize;
        let start = if huge {
            raw.div_ceil(HUGE_PAGE) * HUGE_PAGE
        } else {
            raw
        };
        // SAFETY: the parts of the reservation before `start` and after `start + mapped`,
        // page-aligned, unused.
        unsafe {
            if start > raw {
                libc::munmap(raw as *mut libc::c_void, start - raw);
            }
            let end = start + mapped;
            if raw + reserve > end {
                libc::munmap(end as *mut libc::c_void, raw + reserve - end);
            }
        }
        let mapping = Mapping {
            ptr: start as *const u8,
            len: bytes.len(),
            mapped,
        };
        let addr = start as *mut libc::c_void;
        // SAFETY: `mapped` writable bytes at `start`, ours alone; advice only (a refusal costs
        // huge pages or a child's copy of the page tables, nothing else).
        unsafe {
            if huge {
                libc::madvise(addr, mapped, libc::MADV_HUGEPAGE);
            }
            // An upgrade forks the edge to start the new binary: the child needs none of it.
            libc::madvise(addr, mapped, libc::MADV_DONTFORK);
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), addr.cast::<u8>(), bytes.len());
            if libc::mprotect(addr, mapped, libc::PROT_READ) != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        registry()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(start, bytes.len());
        Ok(mapping)
    }
}

impl AsRef<[u8]> for Mapping {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: `ptr` maps `len` readable bytes until `drop`.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // Out of the registry first: from here on nothing is sent from this memory. Pages a
        // socket still holds stay alive with its reference after the unmap.
        let registered = registry()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&(self.ptr as usize))
            .is_some();
        // SAFETY: the mapping made in `of`, unmapped once; no `Bytes` refers to it anymore.
        unsafe { libc::munmap(self.ptr as *mut libc::c_void, self.mapped) };
        if registered {
            metrics().zero_copy_segments.dec();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_segment_is_the_same_bytes_held_at_any_offset_and_forgotten_when_dropped() {
        configure_for_tests();
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let small = keep(Bytes::from(data[..100].to_vec()));
        assert!(!holds(&small), "short bodies stay on the heap");
        assert_eq!(footprint(&small), 100);

        for len in [100_000, 1_900_000, 3_000_000] {
            let kept = keep(Bytes::from(data[..len].to_vec()));
            assert_eq!(&kept[..], &data[..len]);
            assert_eq!(footprint(&kept), mapping_size(len, true).0);
            assert!(holds(&kept[1000..5000]));
            assert!(holds(&kept));
            // A range running past the end of the segment is not held.
            assert!(!holds_range(kept.as_ptr() as usize, kept.len() + 1));
            let addr = kept.as_ptr() as usize;
            let slice = kept.slice(10..20);
            drop(kept);
            assert!(holds(&slice), "a slice keeps the mapping alive");
            drop(slice);
            assert!(
                !holds_range(addr + 10, 10),
                "the range is forgotten with its mapping"
            );
        }
    }

    /// A socket that takes part, then nothing, then is gone: the pipe is empty after every
    /// send (a page left in it would go out ahead of another connection's bytes), and what
    /// the reader gets is the segment's first bytes, in order.
    #[test]
    fn a_send_always_leaves_the_pipe_empty() {
        use std::io::Read;
        configure_for_tests();
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 249) as u8).collect();
        let kept = keep(Bytes::from(data.clone()));
        assert!(holds(&kept));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut reader = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (writer, _) = listener.accept().unwrap();
        writer.set_nonblocking(true).unwrap();
        let pipe = Pipe::new().unwrap();

        let mut sent = 0;
        loop {
            // The segment again and again, until the socket is full.
            match pipe.send(writer.as_raw_fd(), &kept[sent % kept.len()..]) {
                Ok(n) => sent += n,
                Err(e) => {
                    assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock, "{e}");
                    break;
                }
            }
            assert!(pipe.is_empty());
        }
        assert!(
            pipe.is_empty(),
            "a full socket's refusal leaves nothing behind"
        );
        assert!(sent > 0, "the socket took some");
        let mut got = vec![0u8; sent];
        reader.read_exact(&mut got).unwrap();
        let expected: Vec<u8> = (0..sent).map(|i| data[i % data.len()]).collect();
        assert!(got == expected, "the pages arrive as they are in memory");

        drop(reader);
        // The reader's close resets the connection; wait for a send to see it (a guard
        // against hanging, not a timing assertion).
        let gone = (0..500).find_map(|_| match pipe.send(writer.as_raw_fd(), &kept) {
            Err(e) if e.kind() != std::io::ErrorKind::WouldBlock => Some(e),
            _ => {
                assert!(pipe.is_empty());
                std::thread::sleep(std::time::Duration::from_millis(10));
                None
            }
        });
        assert!(gone.is_some(), "a send to a closed connection fails");
        assert!(pipe.is_empty(), "nor does a connection gone");
    }

    #[test]
    fn two_mib_pages_only_where_rounding_up_to_them_wastes_little() {
        assert_eq!(mapping_size(1, true), (PAGE, false));
        assert_eq!(
            mapping_size(300_000, true),
            (300_000usize.div_ceil(PAGE) * PAGE, false)
        );
        // A 720p segment of 1.88 MB: one 2 MiB page (11 % more).
        assert_eq!(mapping_size(1_883_535, true), (HUGE_PAGE, true));
        // Just past 2 MiB: a second huge page would nearly double it.
        assert_eq!(
            mapping_size(HUGE_PAGE + 1, true),
            ((HUGE_PAGE + 1).div_ceil(PAGE) * PAGE, false)
        );
        assert_eq!(
            mapping_size(2 * HUGE_PAGE - 100, true),
            (2 * HUGE_PAGE, true)
        );
        assert_eq!(mapping_size(HUGE_PAGE, true), (HUGE_PAGE, true));
        // Huge pages off: 4 KiB pages whatever the length.
        assert_eq!(
            mapping_size(1_883_535, false),
            (1_883_535usize.div_ceil(PAGE) * PAGE, false)
        );
        assert_eq!(mapping_size(HUGE_PAGE, false), (HUGE_PAGE, false));
    }

    #[test]
    fn a_mapping_without_huge_pages_holds_the_same_bytes_in_4_kib_pages() {
        let body: Vec<u8> = (0..1_883_535u32).map(|i| (i % 251) as u8).collect();
        let mapping = Mapping::of(&body, false).unwrap();
        assert_eq!(mapping.mapped, body.len().div_ceil(PAGE) * PAGE);
        let kept = Bytes::from_owner(mapping);
        assert_eq!(&kept[..], &body[..]);
        assert!(holds(&kept));
    }
}
