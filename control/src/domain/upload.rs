//! The upload: a transient record (`uploads/{id}/upload.json`) of a tus upload in progress —
//! its declared length, the offset reached and the stored parts that hold the bytes so far.
//! Pure: the HTTP side (`http::tus`) streams bytes and calls these.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::ids::{AssetId, UploadId};

/// An upload's status (Mux's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UploadStatus {
    /// Waiting for (more) bytes.
    Waiting,
    /// Complete: the asset took the source.
    AssetCreated,
    /// Failed (see the asset's error).
    Errored,
    /// Terminated by its owner.
    Cancelled,
    /// Expired before it completed.
    TimedOut,
}

/// One stored chunk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Part {
    /// Storage key of the chunk.
    pub key: String,
    /// Offset of its first byte in the upload.
    pub offset: u64,
    /// Its length.
    pub len: u64,
}

/// An upload's record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Upload {
    /// The upload id.
    pub id: UploadId,
    /// Status.
    pub status: UploadStatus,
    /// The asset the upload feeds.
    pub asset_id: AssetId,
    /// Total length once declared (tus `Upload-Length`).
    pub length: Option<u64>,
    /// Bytes received and stored.
    pub offset: u64,
    /// Stored chunks, in offset order, contiguous from 0.
    pub parts: Vec<Part>,
    /// tus `Upload-Metadata`, decoded.
    pub metadata: BTreeMap<String, String>,
    /// SHA-256 of the delegated upload token (hex), when one was issued.
    pub token_hash: Option<String>,
    /// When the delegated token stops working (Unix seconds).
    #[serde(default)]
    pub token_expires_at: Option<u64>,
    /// A direct upload's S3 multipart state (the browser sends parts to the bucket).
    #[serde(default)]
    pub direct: Option<Direct>,
    /// An intake upload's source: an object put straight into the bucket (S3 event intake),
    /// copied into the store when the upload finishes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intake: Option<IntakeSource>,
    /// Whether the tus resource was created (a delegated upload is created later by its
    /// browser through tus creation).
    pub tus_created: bool,
    /// Created (Unix seconds).
    pub created_at: u64,
    /// Expires (Unix seconds) unless complete.
    pub expires_at: u64,
}

/// A PATCH that does not fit the upload's state.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PatchRefused {
    /// The upload is no longer waiting for bytes.
    #[error("upload is {0:?}")]
    NotWaiting(UploadStatus),
    /// The upload expired.
    #[error("upload expired")]
    Expired,
    /// `Upload-Offset` is not where the upload is.
    #[error("offset {given} does not match the upload's offset {expected}")]
    OffsetMismatch {
        /// Offset the client sent.
        given: u64,
        /// The upload's offset.
        expected: u64,
    },
    /// The bytes would pass the declared length.
    #[error("upload would pass its declared length {0}")]
    TooLong(u64),
}

impl Upload {
    /// Whether `now` (Unix seconds) is past the expiry of an unfinished upload.
    pub fn expired(&self, now: u64) -> bool {
        self.status == UploadStatus::Waiting && now >= self.expires_at
    }

    /// Whether every declared byte arrived.
    pub fn is_complete(&self) -> bool {
        self.length == Some(self.offset)
    }

    /// Checks that a PATCH at `offset` may start now; returns how many bytes it may carry.
    pub fn may_patch(&self, offset: u64, now: u64) -> Result<u64, PatchRefused> {
        if self.status != UploadStatus::Waiting {
            return Err(PatchRefused::NotWaiting(self.status));
        }
        if self.expired(now) {
            return Err(PatchRefused::Expired);
        }
        if offset != self.offset {
            return Err(PatchRefused::OffsetMismatch {
                given: offset,
                expected: self.offset,
            });
        }
        Ok(self.length.map_or(u64::MAX, |l| l - self.offset))
    }

    /// The record after storing `part` at the current offset; `None` when someone else moved
    /// the upload meanwhile (the part is then discarded and the client gets 409).
    pub fn with_part(&self, part: Part, now: u64) -> Result<Upload, PatchRefused> {
        let room = self.may_patch(part.offset, now)?;
        if part.len > room {
            return Err(PatchRefused::TooLong(self.length.unwrap_or(0)));
        }
        let mut next = self.clone();
        next.offset += part.len;
        if part.len > 0 {
            next.parts.push(part);
        }
        Ok(next)
    }
}

/// Parses tus `Upload-Metadata`: comma-separated `key base64value` pairs (value optional).
/// Keys must be unique and printable ASCII without spaces or commas.
pub fn parse_metadata(header: &str) -> Result<BTreeMap<String, String>, String> {
    use base64::Engine;
    let mut out = BTreeMap::new();
    for pair in header.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let mut it = pair.splitn(2, ' ');
        let key = it.next().unwrap_or_default();
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_graphic() && b != b',') {
            return Err(format!("bad metadata key {key:?}"));
        }
        let value = match it.next() {
            Some(v) => {
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(v.trim())
                    .map_err(|_| format!("metadata {key}: value is not base64"))?;
                String::from_utf8(raw).map_err(|_| format!("metadata {key}: value is not UTF-8"))?
            }
            None => String::new(),
        };
        if out.insert(key.to_string(), value).is_some() {
            return Err(format!("metadata key {key} given twice"));
        }
    }
    Ok(out)
}

/// Where an intake upload's bytes are: an object in the store's bucket, outside the store's
/// prefix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntakeSource {
    /// The object's key in the bucket.
    pub key: String,
    /// Its ETag when it was announced.
    pub etag: String,
}

/// A direct upload's S3 side, kept on the upload's record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Direct {
    /// S3's multipart upload id.
    pub multipart_id: String,
    /// Bytes per part (the last may be shorter).
    pub part_size: u64,
    /// Number of parts.
    pub parts: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upload(length: Option<u64>) -> Upload {
        Upload {
            id: UploadId::parse("u").unwrap(),
            status: UploadStatus::Waiting,
            asset_id: AssetId::parse("a").unwrap(),
            length,
            offset: 0,
            parts: vec![],
            metadata: BTreeMap::new(),
            token_hash: None,
            token_expires_at: None,
            direct: None,
            intake: None,
            tus_created: true,
            created_at: 0,
            expires_at: 100,
        }
    }

    fn part(offset: u64, len: u64) -> Part {
        Part {
            key: format!("p{offset}"),
            offset,
            len,
        }
    }

    #[test]
    fn parts_advance_the_offset_until_complete() {
        let u = upload(Some(10));
        let u = u.with_part(part(0, 4), 1).unwrap();
        assert_eq!((u.offset, u.is_complete()), (4, false));
        let u = u.with_part(part(4, 6), 1).unwrap();
        assert!(u.is_complete());
        assert_eq!(u.parts.len(), 2);
    }

    #[test]
    fn wrong_offsets_overlong_parts_and_expiry_are_refused() {
        let u = upload(Some(10)).with_part(part(0, 4), 1).unwrap();
        assert_eq!(
            u.with_part(part(0, 4), 1),
            Err(PatchRefused::OffsetMismatch {
                given: 0,
                expected: 4
            })
        );
        assert_eq!(u.with_part(part(4, 7), 1), Err(PatchRefused::TooLong(10)));
        assert_eq!(u.may_patch(4, 100), Err(PatchRefused::Expired));
        let mut done = u.clone();
        done.status = UploadStatus::Cancelled;
        assert_eq!(
            done.may_patch(4, 1),
            Err(PatchRefused::NotWaiting(UploadStatus::Cancelled))
        );
    }

    #[test]
    fn metadata_is_decoded_and_checked() {
        let m = parse_metadata("filename d29ybGRfZG9taW5hdGlvbl9wbGFuLnBkZg==,is_confidential")
            .unwrap();
        assert_eq!(m["filename"], "world_domination_plan.pdf");
        assert_eq!(m["is_confidential"], "");
        assert!(parse_metadata("a !!!").is_err());
        assert!(parse_metadata("a YQ==,a YQ==").is_err());
    }
}
