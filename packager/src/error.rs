//! The packager's one error type.

use thiserror::Error;

/// Why the packager could not understand or package its input.
///
/// Every variant names what was wrong so the caller can log it as is; the edge maps the whole
/// enum to "the stored media is unusable" (a server-side fault), never to a client error.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum PackagerError {
    /// A box is shorter than its header or its fields need, or runs past its parent.
    #[error("malformed `{kind}` box: {reason}")]
    MalformedBox {
        /// The four-character box type.
        kind: String,
        /// What was wrong with it.
        reason: String,
    },
    /// A box the format requires was not found.
    #[error("missing `{0}` box")]
    MissingBox(&'static str),
    /// The file uses a feature this packager does not handle.
    #[error("unsupported media: {0}")]
    Unsupported(String),
    /// A count in the file is larger than any sane file has; refused to bound memory.
    #[error("`{kind}` declares {count} entries, more than the limit of {limit}")]
    TooMany {
        /// The box holding the count.
        kind: &'static str,
        /// The declared count.
        count: u64,
        /// The limit applied.
        limit: u64,
    },
    /// A segment or fragment number outside the track.
    #[error("segment {index} is out of range (the track has {count})")]
    SegmentOutOfRange {
        /// The requested index.
        index: u64,
        /// How many exist.
        count: u64,
    },
    /// The manifest is not valid JSON of the expected schema.
    #[error("invalid manifest: {0}")]
    Manifest(String),
}

/// Result alias for the packager.
pub type Result<T, E = PackagerError> = std::result::Result<T, E>;
