//! Segments held in memory-backed files, so a plain-HTTP response sends them with
//! `sendfile(2)` instead of copying their bytes into socket buffers.
//!
//! Copying a warm segment from the edge's memory into the kernel is most of what serving it
//! costs at high concurrency (profiled: 38 % of the edge's CPU under 1,000 connections),
//! where nginx hands page-cache pages to the socket. Here a segment kept in the segment cache
//! (at least `min_bytes` long) is written once into a sealed `memfd`, and the cached `Bytes`
//! is a read-only mapping of that file: the same memory, no second copy. Every part of the
//! edge reads it as ordinary `Bytes` (TLS, HTTP/2, peers, ranges); only the connection
//! wrapper of a plain TCP listener ([`crate::connections`]) asks [`find`] whether the buffer
//! it is given to write lies in such a file and, if so, sends it from the file. The bytes on
//! the wire are the same either way; Pingora's HTTP state is untouched, because the wrapper
//! still reports the write as written.
//!
//! Each file is a file descriptor, so their number is capped (`max_files`, taken from the
//! open-file limit at startup like the connection cap); past it, or when making a file fails,
//! a segment stays an ordinary heap `Bytes`. The files' memory is the segment cache's own
//! (a file is freed with the last `Bytes` that maps it and any send still in flight).
//!
//! Invariants: a registered file is never written after it is sealed, so the kernel may
//! send its pages at any time; an address range is registered exactly while its mapping
//! exists (removed before `munmap`), so [`find`] on a borrowed slice always names the file
//! that slice was read from.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;

use crate::metrics::metrics;

/// Which segments are held in files, set once at startup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZeroCopySettings {
    /// Segments shorter than this stay on the heap (their copy is cheap); 0 turns files off.
    pub min_bytes: usize,
    /// Files open at most (each is a file descriptor).
    pub max_files: usize,
}

static SETTINGS: OnceLock<ZeroCopySettings> = OnceLock::new();
static FILES: AtomicUsize = AtomicUsize::new(0);

/// Live mappings by start address: (length, file).
type Registry = Mutex<BTreeMap<usize, (usize, Arc<OwnedFd>)>>;

/// The address ranges of live mappings.
fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| Mutex::new(BTreeMap::new()))
}

/// Sets which segments [`keep`] puts in files. The first call wins (startup); without one,
/// no segment is put in a file.
pub fn configure(settings: ZeroCopySettings) {
    let _ = SETTINGS.set(settings);
}

/// The smallest write worth looking up (no lookup at all while files are off).
pub(crate) fn min_bytes() -> usize {
    SETTINGS.get().map_or(usize::MAX, |s| {
        if s.min_bytes == 0 {
            usize::MAX
        } else {
            s.min_bytes
        }
    })
}

/// `body`, held in a memory-backed file when it is long enough and the file budget allows;
/// otherwise (or when the kernel refuses) `body` itself. Either way the same bytes.
pub fn keep(body: Bytes) -> Bytes {
    let Some(settings) = SETTINGS.get() else {
        return body;
    };
    if settings.min_bytes == 0 || body.len() < settings.min_bytes {
        return body;
    }
    if !reserve(&FILES, settings.max_files) {
        metrics()
            .zero_copy_refused
            .with_label_values(&["budget"])
            .inc();
        return body;
    }
    match Mapping::of(&body) {
        Ok(mapping) => {
            metrics().zero_copy_files.inc();
            Bytes::from_owner(mapping)
        }
        Err(e) => {
            FILES.fetch_sub(1, Ordering::AcqRel);
            metrics()
                .zero_copy_refused
                .with_label_values(&["error"])
                .inc();
            tracing::debug!(error = %e, "segment kept on the heap: no memory-backed file");
            body
        }
    }
}

/// Takes one of `max` places counted by `open`: false when all are taken.
fn reserve(open: &AtomicUsize, max: usize) -> bool {
    open.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
        (n < max).then_some(n + 1)
    })
    .is_ok()
}

/// Settings for tests of this binary (settings are set once per process, so every test
/// that needs files sets these).
#[cfg(test)]
pub(crate) fn configure_for_tests() {
    configure(ZeroCopySettings {
        min_bytes: 4096,
        max_files: 1024,
    });
}

/// The file `buf` was read from and its offset there, if `buf` lies in a memory-backed
/// segment file.
pub(crate) fn find(buf: &[u8]) -> Option<(Arc<OwnedFd>, u64)> {
    locate(buf.as_ptr() as usize, buf.len())
}

/// The file holding the `len` bytes at address `start`, and their offset in it.
fn locate(start: usize, len: usize) -> Option<(Arc<OwnedFd>, u64)> {
    let map = registry().lock().unwrap_or_else(|e| e.into_inner());
    let (&base, (mapped, file)) = map.range(..=start).next_back()?;
    (start.checked_add(len)? <= base + mapped).then(|| (file.clone(), (start - base) as u64))
}

/// Sends up to `len` bytes of `file` from `offset` on `socket` (non-blocking): how many went.
pub(crate) fn send(
    socket: RawFd,
    file: &OwnedFd,
    offset: u64,
    len: usize,
) -> std::io::Result<usize> {
    let mut off = libc::off_t::try_from(offset)
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    // SAFETY: both descriptors are open for the call (the socket is owned by the caller's
    // stream, the file by the `Arc` borrowed here); `off` is a valid pointer.
    let sent = unsafe { libc::sendfile(socket, file.as_raw_fd(), &mut off, len) };
    if sent < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let sent = sent as usize;
    metrics().zero_copy_sent_bytes.inc_by(sent as u64);
    Ok(sent)
}

/// A sealed memory-backed file mapped read-only: the owner of a file-backed `Bytes`.
struct Mapping {
    ptr: *const u8,
    len: usize,
}

// SAFETY: the mapping is read-only and its file sealed against writes: shared access from
// any thread reads bytes that never change, and unmapping happens once, in `drop`.
unsafe impl Send for Mapping {}
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Copies `bytes` into a new sealed file and maps it.
    fn of(bytes: &[u8]) -> std::io::Result<Mapping> {
        // SAFETY: a valid NUL-terminated name; flags are constants.
        let fd = unsafe {
            libc::memfd_create(
                c"sunomi-segment".as_ptr(),
                libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING,
            )
        };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `fd` was just opened and is owned by nothing else.
        let file = unsafe { OwnedFd::from_raw_fd(fd) };
        let mut writer = std::fs::File::from(file);
        writer.write_all(bytes)?;
        let file = OwnedFd::from(writer);
        let seals =
            libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
        // SAFETY: an open descriptor and a constant argument.
        if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_ADD_SEALS, seals) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: a new read-only shared mapping of a file of exactly `bytes.len()` bytes
        // (sealed: it cannot shrink under the mapping).
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes.len(),
                libc::PROT_READ,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        let mapping = Mapping {
            ptr: ptr as *const u8,
            len: bytes.len(),
        };
        registry()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(ptr as usize, (bytes.len(), Arc::new(file)));
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
        // Out of the registry first: from here on no write is sent from this file (a send
        // already under way holds its own reference to the file).
        registry()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&(self.ptr as usize));
        // SAFETY: the mapping made in `of`, unmapped once; no `Bytes` refers to it anymore.
        unsafe { libc::munmap(self.ptr as *mut libc::c_void, self.len) };
        FILES.fetch_sub(1, Ordering::AcqRel);
        metrics().zero_copy_files.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_segment_is_the_same_bytes_found_at_any_offset_and_forgotten_when_dropped() {
        configure_for_tests();
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let small = keep(Bytes::from(data[..100].to_vec()));
        assert!(find(&small).is_none(), "short bodies stay on the heap");

        let kept = keep(Bytes::from(data.clone()));
        assert_eq!(&kept[..], &data[..]);
        let (file, offset) = find(&kept[1000..5000]).expect("a kept segment is in a file");
        assert_eq!(offset, 1000);
        // The file holds the bytes at that offset, and cannot be written any more.
        let mut read = vec![0u8; 4000];
        // SAFETY: an open descriptor and a buffer of the length given.
        let n =
            unsafe { libc::pread(file.as_raw_fd(), read.as_mut_ptr().cast(), read.len(), 1000) };
        assert_eq!(n, 4000);
        assert_eq!(read, &data[1000..5000]);
        // SAFETY: as above.
        let w = unsafe { libc::pwrite(file.as_raw_fd(), read.as_ptr().cast(), 1, 0) };
        assert_eq!(w, -1, "sealed against writes");
        // A range running past the end of the mapping is not in it.
        assert!(locate(kept.as_ptr() as usize, kept.len() + 1).is_none());

        let addr = kept.as_ptr() as usize;
        let slice = kept.slice(10..20);
        drop(kept);
        assert!(find(&slice).is_some(), "a slice keeps the file alive");
        drop(slice);
        assert!(
            locate(addr + 10, 10).is_none(),
            "the range is forgotten with its mapping"
        );
    }

    #[test]
    fn the_file_budget_is_never_exceeded_and_frees_places() {
        let open = AtomicUsize::new(0);
        let taken = (0..10).filter(|_| reserve(&open, 7)).count();
        assert_eq!(taken, 7);
        open.fetch_sub(1, Ordering::AcqRel);
        assert!(reserve(&open, 7));
        assert!(!reserve(&open, 7));
        assert!(!reserve(&AtomicUsize::new(0), 0), "0 files: none");
    }
}
