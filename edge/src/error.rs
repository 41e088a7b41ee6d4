//! The one table from failures to HTTP statuses.

use sunomi_origin::ReadError;
use sunomi_packager::route::RouteError;
use sunomi_packager::PackagerError;

/// Why a request could not be answered with media.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EdgeError {
    /// The path or query is malformed (400).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// No such video, track or segment (404).
    #[error("not found: {0}")]
    NotFound(String),
    /// Only GET, HEAD and OPTIONS are served, and POST for a licence (405).
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The video is blocked by moderation (451).
    #[error("unavailable for legal reasons")]
    Blocked,
    /// The Range header cannot be satisfied (416).
    #[error("range not satisfiable")]
    RangeNotSatisfiable {
        /// The full length of the resource.
        length: u64,
    },
    /// Storage is unreachable or failing (503 with Retry-After).
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// A stored object changed since the plan was made from its index (503 with
    /// Retry-After once re-planning did not help).
    #[error("stored object changed: {0}")]
    Changed(String),
    /// Stored media is not what the layout promises (500).
    #[error("internal error: {0}")]
    Internal(String),
    /// A peer asked for an object only if this edge holds it (`Cache-Control:
    /// only-if-cached`), and it does not (504, RFC 9111 §5.2.1.7).
    #[error("not held in this edge's cache")]
    NotCached,
    /// The request is not allowed (403): a key without a valid token, a clear request for a
    /// video that is only served encrypted.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The request's head is larger than the edge reads (431): too many bytes or headers.
    #[error("request header fields too large")]
    HeadTooLarge,
    /// The request carries a body (413) that is not a licence request's of at most 16 KiB
    /// with a `Content-Length`; it is not read (the connection is closed after the answer).
    #[error("request body not accepted (only a licence request of at most 16 KiB takes one)")]
    BodyNotAccepted,
}

impl EdgeError {
    /// The HTTP status for this error.
    pub fn status(&self) -> u16 {
        match self {
            EdgeError::BadRequest(_) => 400,
            EdgeError::NotFound(_) => 404,
            EdgeError::MethodNotAllowed => 405,
            EdgeError::Blocked => 451,
            EdgeError::RangeNotSatisfiable { .. } => 416,
            EdgeError::Unavailable(_) | EdgeError::Changed(_) => 503,
            EdgeError::Internal(_) => 500,
            EdgeError::Forbidden(_) => 403,
            EdgeError::NotCached => 504,
            EdgeError::HeadTooLarge => 431,
            EdgeError::BodyNotAccepted => 413,
        }
    }
}

impl EdgeError {
    /// The message a client gets: what it can act on, never storage keys, file paths or
    /// internal detail (those go to the log).
    pub fn public_message(&self) -> String {
        match self {
            EdgeError::Unavailable(_) => "storage unavailable; retry later".into(),
            EdgeError::Changed(_) => "the video's media is being replaced; retry".into(),
            EdgeError::Internal(_) => "internal error".into(),
            other => other.to_string(),
        }
    }
}

impl From<RouteError> for EdgeError {
    fn from(e: RouteError) -> Self {
        match e {
            RouteError::Malformed(why) => EdgeError::BadRequest(why.into()),
            RouteError::NotFound(why) => EdgeError::NotFound(why.into()),
        }
    }
}

impl From<ReadError> for EdgeError {
    fn from(e: ReadError) -> Self {
        match e {
            // The key stays in the log; the client learns only that nothing is there.
            ReadError::NotFound(key) => {
                tracing::debug!(key, "not in storage");
                EdgeError::NotFound("no such object".into())
            }
            e @ ReadError::Unavailable { .. } => EdgeError::Unavailable(e.to_string()),
            e @ ReadError::Corrupt { .. } => EdgeError::Internal(e.to_string()),
            ReadError::Changed { key } => EdgeError::Changed(key),
        }
    }
}

impl From<PackagerError> for EdgeError {
    fn from(e: PackagerError) -> Self {
        match e {
            PackagerError::SegmentOutOfRange { .. } => EdgeError::NotFound(e.to_string()),
            other => EdgeError::Internal(other.to_string()),
        }
    }
}
