//! Direct reads of a local-directory store, the way an edge can trust them.
//!
//! `object_store`'s local reads zero every buffer before filling it (a third of the CPU of
//! serving an uncached segment), and a memory map, the other way around that copy, turns a
//! file truncated under the reader into `SIGBUS`. These reads use `pread(2)` into a fresh,
//! non-zeroed buffer (glibc keeps freed segment-sized buffers, see the edge's allocator
//! tuning), so nothing a writer does to a file can crash the reader:
//!
//! - the file is opened non-blocking and must be a regular file (a FIFO or device in the
//!   store is a bad object, not a hang);
//! - its version (inode, modification time, size) is taken from the open descriptor and
//!   compared with the version the caller planned against: a replaced file is
//!   [`LocalError::Changed`], never old offsets applied to new bytes;
//! - a read that comes back short is re-checked: a file truncated in place is `Changed` too.
//! - a missing file is "not found" only while the store's root directory exists; a missing
//!   root is the store being unavailable.

use std::fs::{File, Metadata};
use std::ops::Range;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::Path;

use bytes::Bytes;

/// Why a local read gave no bytes.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// The file does not exist (the store's root does).
    #[error("no such file")]
    NotFound,
    /// The store's root directory is gone: nothing can be read.
    #[error("the store directory {0} is missing")]
    StoreMissing(String),
    /// The path is not a regular file (a directory, FIFO, device, socket).
    #[error("not a regular file")]
    NotRegular,
    /// The file is larger than the caller accepts whole.
    #[error("object of {size} bytes is larger than {max}")]
    TooLarge {
        /// The file's size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// The file is not the version the read was planned against (replaced or truncated).
    #[error("object changed: planned against {expected}, found {found}")]
    Changed {
        /// The version the caller expected.
        expected: String,
        /// The version found.
        found: String,
    },
    /// The file ended before the range did (and was not replaced): the index is wrong.
    #[error("short read: {got} of {wanted} bytes")]
    Short {
        /// Bytes read.
        got: u64,
        /// Bytes asked for.
        wanted: u64,
    },
    /// Any other I/O failure.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Whether the store's root directory is there: a missing root is the store being
/// unavailable, not every object missing.
pub fn root_present(root: &Path) -> Result<(), LocalError> {
    if root.is_dir() {
        Ok(())
    } else {
        Err(LocalError::StoreMissing(root.display().to_string()))
    }
}

/// A local file's version: inode, modification time (µs) and size, in hex. It changes when a
/// file is renamed over (new inode), rewritten or truncated in place (time, size).
pub fn version_of(meta: &Metadata) -> String {
    let micros = meta.mtime() as i128 * 1_000_000 + i128::from(meta.mtime_nsec() / 1_000);
    format!("{:x}-{:x}-{:x}", meta.ino(), micros, meta.size())
}

/// What to read of a file.
#[derive(Debug, Clone)]
pub enum Extent {
    /// The whole file, refused when larger than this many bytes.
    Whole {
        /// Largest accepted size.
        max: u64,
    },
    /// At most the first this-many bytes (fewer when the file is shorter).
    Prefix(u64),
    /// Exactly these bytes.
    Range(Range<u64>),
}

/// Reads `extent` of the file at `file` under the store root `root`. With `expect`, the file
/// must still be that version. Returns the bytes and the version they are of. Blocking: run
/// it off the async threads.
pub fn read(
    root: &Path,
    file: &Path,
    extent: Extent,
    expect: Option<&str>,
) -> Result<(Bytes, String), LocalError> {
    let opened = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(file);
    let handle = match opened {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            root_present(root)?;
            return Err(LocalError::NotFound);
        }
        // A path component that is a file, not a directory: no such object.
        Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => return Err(LocalError::NotFound),
        Err(e) => return Err(LocalError::Io(e)),
    };
    let meta = handle.metadata()?;
    if !meta.is_file() {
        return Err(LocalError::NotRegular);
    }
    let version = version_of(&meta);
    if let Some(expected) = expect {
        if expected != version {
            return Err(LocalError::Changed {
                expected: expected.to_owned(),
                found: version,
            });
        }
    }
    let size = meta.size();
    let range = match extent {
        Extent::Whole { max } if size > max => return Err(LocalError::TooLarge { size, max }),
        Extent::Whole { .. } => 0..size,
        Extent::Prefix(len) => 0..len.min(size),
        Extent::Range(r) => r,
    };
    let wanted = range.end.saturating_sub(range.start);
    let bytes = pread_exact(&handle, range.start, wanted)?;
    if (bytes.len() as u64) < wanted {
        // Truncated (or replaced in place) since it was planned, or the plan was wrong.
        let now = version_of(&handle.metadata()?);
        if now != version {
            return Err(LocalError::Changed {
                expected: version,
                found: now,
            });
        }
        return Err(LocalError::Short {
            got: bytes.len() as u64,
            wanted,
        });
    }
    Ok((bytes, version))
}

/// Reads up to `len` bytes at `offset`, stopping early only at the end of the file.
fn pread_exact(file: &File, offset: u64, len: u64) -> Result<Bytes, LocalError> {
    let len = usize::try_from(len).map_err(|_| LocalError::TooLarge {
        size: len,
        max: usize::MAX as u64,
    })?;
    let mut buf: Vec<u8> = Vec::with_capacity(len);
    let fd = file.as_raw_fd();
    let mut filled = 0usize;
    while filled < len {
        let at = offset.saturating_add(filled as u64);
        let Ok(at) = libc::off_t::try_from(at) else {
            break;
        };
        // SAFETY: the pointer and length describe the vector's spare capacity, which pread
        // writes into; `filled` only grows by what pread reports written.
        let n = unsafe {
            libc::pread(
                fd,
                buf.as_mut_ptr().add(filled).cast::<libc::c_void>(),
                len - filled,
                at,
            )
        };
        if n < 0 {
            let err = std::io::Error::last_os_error();
            if err.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(LocalError::Io(err));
        }
        if n == 0 {
            break;
        }
        filled += n as usize;
        // SAFETY: pread initialised bytes `..filled`.
        unsafe { buf.set_len(filled) };
    }
    Ok(Bytes::from(buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("track.mp4");
        let data: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
        std::fs::write(&file, data).unwrap();
        (dir, file)
    }

    #[test]
    fn ranges_prefixes_and_whole_files_are_exact() {
        let (dir, file) = setup();
        let root = dir.path();
        let (b, v) = read(root, &file, Extent::Range(100..4100), None).unwrap();
        assert_eq!(b.len(), 4000);
        assert_eq!(b[0], 100);
        let (b, _) = read(root, &file, Extent::Prefix(20_000), Some(&v)).unwrap();
        assert_eq!(b.len(), 10_000);
        assert!(matches!(
            read(root, &file, Extent::Whole { max: 9_999 }, None),
            Err(LocalError::TooLarge { .. })
        ));
        assert!(matches!(
            read(root, &file, Extent::Range(9_000..11_000), Some(&v)),
            Err(LocalError::Short { .. })
        ));
    }

    #[test]
    fn a_file_truncated_in_place_is_changed_not_a_crash() {
        let (dir, file) = setup();
        let (_, v) = read(dir.path(), &file, Extent::Prefix(10), None).unwrap();
        let f = std::fs::OpenOptions::new().write(true).open(&file).unwrap();
        f.set_len(1_000).unwrap();
        assert!(matches!(
            read(dir.path(), &file, Extent::Range(2_000..3_000), Some(&v)),
            Err(LocalError::Changed { .. })
        ));
    }

    #[test]
    fn a_file_renamed_over_is_changed() {
        let (dir, file) = setup();
        let (_, v) = read(dir.path(), &file, Extent::Prefix(10), None).unwrap();
        let other = dir.path().join("new.mp4");
        std::fs::write(&other, vec![7u8; 10_000]).unwrap();
        std::fs::rename(&other, &file).unwrap();
        assert!(matches!(
            read(dir.path(), &file, Extent::Range(0..10), Some(&v)),
            Err(LocalError::Changed { .. })
        ));
    }

    #[test]
    fn fifos_and_directories_are_bad_objects_not_hangs() {
        let (dir, _) = setup();
        let fifo = dir.path().join("manifest.json");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert!(matches!(
            read(dir.path(), &fifo, Extent::Whole { max: 1 << 20 }, None),
            Err(LocalError::NotRegular)
        ));
        assert!(matches!(
            read(dir.path(), dir.path(), Extent::Prefix(10), None),
            Err(LocalError::NotRegular)
        ));
    }

    #[test]
    fn a_missing_root_is_not_a_missing_file() {
        let (dir, file) = setup();
        let root = dir.path().join("store");
        assert!(matches!(
            read(
                dir.path(),
                &dir.path().join("nope"),
                Extent::Prefix(1),
                None
            ),
            Err(LocalError::NotFound)
        ));
        assert!(matches!(
            read(
                &root,
                &root.join("videos/x/manifest.json"),
                Extent::Prefix(1),
                None
            ),
            Err(LocalError::StoreMissing(_))
        ));
        drop(file);
    }
}
