//! Direct uploads to an `s3://` store: the browser sends the file's parts straight to the
//! bucket with pre-signed `UploadPart` URLs (S3 multipart), then asks control to complete
//! the upload; control completes it with its own credentials and the pipeline goes on as for
//! a tus upload. The bytes never pass through control.

use std::time::Duration;

use object_store::multipart::{MultipartStore, PartId};
use object_store::signer::{Method, SignedUrlOptions, Signer};
use object_store::ObjectStoreExt;
use serde::{Deserialize, Serialize};
use sunomi_origin::layout;
use utoipa::ToSchema;

use crate::app::AppError;
use crate::domain::ids::AssetId;
use crate::domain::upload::Direct;
use sunomi_origin::Store;

/// S3's smallest part (all but the last).
pub const MIN_PART: u64 = 5 << 20;
/// S3's largest part count.
pub const MAX_PARTS: u64 = 10_000;

/// One part the browser sends.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SignedPart {
    /// Part number, from 1.
    pub number: u32,
    /// Offset of its first byte in the file.
    pub offset: u64,
    /// Its length.
    pub length: u64,
    /// `PUT` the bytes here; keep the response's `ETag` for completion.
    pub url: String,
}

/// A part the browser stored, as it reports it for completion.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompletedPart {
    /// Part number, from 1.
    #[serde(deserialize_with = "crate::json_int::u32")]
    #[schema(minimum = 1, maximum = 10000)]
    pub number: u32,
    /// The `ETag` S3 answered for it.
    pub etag: String,
}

/// Why a direct upload cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum DirectError {
    /// The store is not S3.
    #[error("direct uploads need an s3:// store")]
    Unsupported,
    /// The request does not fit (size, parts).
    #[error("{0}")]
    Invalid(String),
    /// S3 refused (for completion: a part missing or its ETag wrong).
    #[error("S3 refused: {0}")]
    Refused(String),
    /// The parts S3 assembled do not add up to the size the upload declared (which
    /// `uploads.max_size` bounded): the object was deleted and the upload ended.
    #[error("the parts hold {stored} bytes; the upload declared {declared}")]
    SizeMismatch {
        /// Bytes declared when the upload was created.
        declared: u64,
        /// Bytes S3 assembled.
        stored: u64,
    },
    /// Our side failed.
    #[error(transparent)]
    App(#[from] AppError),
}

/// Part size and count for a file of `size` bytes: parts of at least 8 MiB, at most 10,000.
pub fn plan(size: u64) -> Result<(u64, u32), DirectError> {
    if size == 0 {
        return Err(DirectError::Invalid(
            "a direct upload needs a size above 0".into(),
        ));
    }
    let at_least = size.div_ceil(MAX_PARTS).max(8 << 20);
    let part_size = at_least.div_ceil(1 << 20) << 20;
    let parts = size.div_ceil(part_size);
    Ok((part_size, parts as u32))
}

/// Starts the multipart upload of asset `asset`'s source.
pub async fn start(store: &Store, asset: &AssetId, size: u64) -> Result<Direct, DirectError> {
    let s3 = store.s3().ok_or(DirectError::Unsupported)?;
    let (part_size, parts) = plan(size)?;
    let path = store.path(&layout::video_key(asset.as_str(), layout::SOURCE));
    let multipart_id = s3
        .create_multipart(&path)
        .await
        .map_err(|e| AppError::Store(e.to_string()))?;
    Ok(Direct {
        multipart_id,
        part_size,
        parts,
    })
}

/// Pre-signed `UploadPart` URLs for every part, valid for `ttl`.
pub async fn sign(
    store: &Store,
    asset: &AssetId,
    direct: &Direct,
    size: u64,
    ttl: Duration,
) -> Result<Vec<SignedPart>, DirectError> {
    let s3 = store.s3().ok_or(DirectError::Unsupported)?;
    let path = store.path(&layout::video_key(asset.as_str(), layout::SOURCE));
    let mut out = Vec::with_capacity(direct.parts as usize);
    for i in 0..direct.parts {
        let number = i + 1;
        let offset = u64::from(i) * direct.part_size;
        let options = SignedUrlOptions::default().with_query([
            ("partNumber", number.to_string()),
            ("uploadId", direct.multipart_id.clone()),
        ]);
        let url = s3
            .signed_url_opts(Method::PUT, &path, ttl, &options)
            .await
            .map_err(|e| AppError::Store(e.to_string()))?;
        out.push(SignedPart {
            number,
            offset,
            length: direct.part_size.min(size - offset),
            url: url.to_string(),
        });
    }
    Ok(out)
}

/// Completes the multipart upload with the parts the browser reports (every part, in order).
pub async fn complete(
    store: &Store,
    asset: &AssetId,
    direct: &Direct,
    declared: u64,
    parts: &[CompletedPart],
) -> Result<(), DirectError> {
    let s3 = store.s3().ok_or(DirectError::Unsupported)?;
    let in_order = parts
        .iter()
        .enumerate()
        .all(|(i, p)| p.number as usize == i + 1 && !p.etag.is_empty() && p.etag.len() < 200);
    if parts.len() != direct.parts as usize || !in_order {
        return Err(DirectError::Invalid(format!(
            "send all {} parts, numbered from 1 in order, each with its ETag",
            direct.parts
        )));
    }
    let path = store.path(&layout::video_key(asset.as_str(), layout::SOURCE));
    let ids = parts
        .iter()
        .map(|p| PartId {
            content_id: p.etag.clone(),
        })
        .collect();
    s3.complete_multipart(&path, &direct.multipart_id, ids)
        .await
        .map_err(|e| DirectError::Refused(e.to_string()))?;
    // Pre-signed part URLs cannot bind a length: what S3 assembled is measured, and a source
    // of another size than declared (bigger than `uploads.max_size` allowed, say) is not kept.
    let stored = store
        .object_store()
        .head(&path)
        .await
        .map_err(|e| DirectError::App(AppError::Store(format!("reading the source back: {e}"))))?
        .size;
    if stored != declared {
        if let Err(e) = store.object_store().delete(&path).await {
            tracing::warn!(%asset, error = %e, "could not delete a source of the wrong size");
        }
        return Err(DirectError::SizeMismatch { declared, stored });
    }
    Ok(())
}

/// Abandons the multipart upload (cancelled or expired): S3 drops the parts.
pub async fn abort(store: &Store, asset: &AssetId, direct: &Direct) {
    let Some(s3) = store.s3() else { return };
    let path = store.path(&layout::video_key(asset.as_str(), layout::SOURCE));
    if let Err(e) = s3.abort_multipart(&path, &direct.multipart_id).await {
        tracing::warn!(%asset, error = %e, "could not abort a direct upload");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_at_least_8_mib_and_at_most_10000() {
        assert_eq!(plan(1).unwrap(), (8 << 20, 1));
        assert_eq!(plan(8 << 20).unwrap(), (8 << 20, 1));
        assert_eq!(plan((8 << 20) + 1).unwrap(), (8 << 20, 2));
        let (size, parts) = plan(200 << 30).unwrap();
        assert!(u64::from(parts) <= MAX_PARTS && size >= MIN_PART && size % (1 << 20) == 0);
        assert!(size * u64::from(parts) >= 200 << 30);
        assert!(plan(0).is_err());
    }
}
