//! tus 1.0 (core, creation, creation-with-upload, expiration, checksum, termination) at
//! `/api/v1/tus`. Requests carry `Authorization: Bearer` with an API key, or with the
//! delegated upload token of the one upload they touch.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use futures::StreamExt;

use super::auth::{client_addr, ClientAddr, UploadCaller};
use super::problem::{errors, ApiError, ErrorCode};
use super::uploads::{base_url, check_asset_fields};
use crate::apikeys;
use crate::app::{now_unix, AppError};
use crate::config::Config;
use crate::domain::ids::UploadId;
use crate::domain::upload::{parse_metadata, PatchRefused, Upload, UploadStatus};
use crate::ingest::Uploads;
use crate::ingest::{self, ChecksumAlgorithm, NewUpload, PatchError};
use crate::services::api_keys::ApiKeys;

/// The protocol version spoken.
pub const VERSION: &str = "1.0.0";
/// Extensions supported.
pub const EXTENSIONS: &str = "creation,creation-with-upload,expiration,checksum,termination";
/// Checksum algorithms supported.
pub const CHECKSUMS: &str = "sha1,sha256";

const TUS_RESUMABLE: HeaderName = HeaderName::from_static("tus-resumable");
const TUS_VERSION: HeaderName = HeaderName::from_static("tus-version");
const UPLOAD_OFFSET: HeaderName = HeaderName::from_static("upload-offset");
const UPLOAD_LENGTH: HeaderName = HeaderName::from_static("upload-length");
const UPLOAD_EXPIRES: HeaderName = HeaderName::from_static("upload-expires");
const UPLOAD_METADATA: HeaderName = HeaderName::from_static("upload-metadata");
const OFFSET_STREAM: &str = "application/offset+octet-stream";
/// Longest `Upload-Metadata` header kept on an upload's record.
const MAX_METADATA: usize = 4096;

/// Adds `Tus-Resumable` to every answer and refuses requests of another protocol version
/// (412 with `Tus-Version`), except `OPTIONS`.
pub async fn protocol(req: Request, next: Next) -> Response {
    if req.method() != Method::OPTIONS {
        let version = req
            .headers()
            .get(&TUS_RESUMABLE)
            .and_then(|v| v.to_str().ok());
        if version != Some(VERSION) {
            let mut resp = ApiError::new(ErrorCode::TusVersion, "send Tus-Resumable: 1.0.0")
                .with_header(TUS_VERSION, VERSION)
                .into_response();
            resp.headers_mut()
                .insert(TUS_RESUMABLE, HeaderValue::from_static(VERSION));
            return resp;
        }
    }
    let mut resp = next.run(req).await;
    resp.headers_mut()
        .insert(TUS_RESUMABLE, HeaderValue::from_static(VERSION));
    resp
}

fn header_u64(headers: &HeaderMap, name: &HeaderName) -> Result<Option<u64>, ApiError> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => {
            let text = v.to_str().unwrap_or("");
            if text.is_empty() || text.len() > 20 || !text.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ApiError::bad_request(format!(
                    "{name} is not a non-negative integer"
                )));
            }
            text.parse()
                .map(Some)
                .map_err(|_| ApiError::bad_request(format!("{name} is too large")))
        }
    }
}

fn http_date(unix: u64) -> HeaderValue {
    let text = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(unix));
    HeaderValue::from_str(&text).unwrap_or(HeaderValue::from_static(""))
}

fn offset_headers(upload: &Upload) -> Vec<(HeaderName, HeaderValue)> {
    let mut h = vec![(UPLOAD_OFFSET, HeaderValue::from(upload.offset))];
    if upload.status == UploadStatus::Waiting {
        h.push((UPLOAD_EXPIRES, http_date(upload.expires_at)));
    }
    h
}

/// Loads upload `id` for `caller` (a token must be this upload's and unexpired).
async fn authorised_upload(
    keys: &ApiKeys,
    uploads: &Uploads,
    headers: &HeaderMap,
    client: Option<std::net::IpAddr>,
    id: &str,
) -> Result<Upload, ApiError> {
    let who = UploadCaller::of(keys, headers, client).await?;
    let upload = who.load(keys, uploads, client, id).await?;
    if !upload.tus_created {
        return Err(ApiError::not_found("upload"));
    }
    Ok(upload)
}

fn gone(upload: &Upload) -> Option<ApiError> {
    match upload.status {
        UploadStatus::Waiting if upload.expired(now_unix()) => Some(ApiError::new(
            ErrorCode::UploadExpired,
            "the upload expired",
        )),
        UploadStatus::Cancelled | UploadStatus::TimedOut | UploadStatus::Errored => Some(
            ApiError::new(ErrorCode::UploadEnded, "the upload has ended"),
        ),
        _ => None,
    }
}

errors!(CreateErrors: TUS, API_KEY, InvalidRequest, Conflict, TooLarge, TooLong, UnsupportedMediaType, OffsetMismatch, UploadBusy, UploadEnded, UploadExpired, ChecksumMismatch);

errors!(head HeadErrors: TUS, API_KEY, NotFound, UploadEnded, UploadExpired);

errors!(PatchErrors: TUS, API_KEY, InvalidRequest, NotFound, OffsetMismatch, UploadComplete, UploadBusy, UploadEnded, UploadExpired, TooLong, UnsupportedMediaType, ChecksumMismatch);

errors!(TerminateErrors: TUS, API_KEY, NotFound, UploadEnded);

/// tus discovery.
#[utoipa::path(options, path = "/api/v1/tus", tag = "tus",
    responses((status = 204, description = "The tus versions, extensions, limits and checksum algorithms supported")))]
pub async fn options(State(config): State<Arc<Config>>) -> Response {
    let mut resp = StatusCode::NO_CONTENT.into_response();
    let h = resp.headers_mut();
    h.insert(TUS_VERSION, HeaderValue::from_static(VERSION));
    h.insert(
        HeaderName::from_static("tus-extension"),
        HeaderValue::from_static(EXTENSIONS),
    );
    h.insert(
        HeaderName::from_static("tus-max-size"),
        HeaderValue::from(config.uploads.max_size),
    );
    h.insert(
        HeaderName::from_static("tus-checksum-algorithm"),
        HeaderValue::from_static(CHECKSUMS),
    );
    resp
}

/// tus creation (and creation-with-upload): a new upload, or the tus resource of a
/// delegated upload when called with its token.
#[utoipa::path(post, path = "/api/v1/tus", tag = "tus",
    params(
        ("Tus-Resumable" = String, Header, description = "The tus version: 1.0.0", pattern = r"^1\.0\.0$"),
        ("Upload-Length" = u64, Header, description = "The file's size in bytes"),
        ("Upload-Metadata" = Option<String>, Header, description = "tus metadata: `key base64(UTF-8 value)` pairs separated by commas; kept: `passthrough`, `title`, `filename`, `creator_id`, `external_id`", nullable = false, max_length = 4096, pattern = r"^[!-+\--~]+( ([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?)?(,[!-+\--~]+( ([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?)?)*$"),
    ),
    request_body(content = Vec<u8>, content_type = "application/offset+octet-stream", description = "Optional first chunk (creation-with-upload)"),
    responses(
        (status = 201, description = "Created; `Location` is the upload URL, `Upload-Offset` the bytes taken"),
        CreateErrors,
    ),
    security(("api_key" = []), ("upload_token" = [])))]
pub async fn create(
    State(api_keys): State<Arc<ApiKeys>>,
    State(uploads): State<Arc<Uploads>>,
    State(config): State<Arc<Config>>,
    req: Request,
) -> Result<Response, ApiError> {
    let (parts, body) = req.into_parts();
    let headers = &parts.headers;
    let who = UploadCaller::of(&api_keys, headers, client_addr(&parts)).await?;
    let length = header_u64(headers, &UPLOAD_LENGTH)?.ok_or_else(|| {
        ApiError::bad_request("Upload-Length is required (Upload-Defer-Length is not supported)")
    })?;
    if length > config.uploads.max_size {
        return Err(ApiError::new(
            ErrorCode::TooLarge,
            format!("the largest upload is {} bytes", config.uploads.max_size),
        ));
    }
    let metadata = match headers.get(&UPLOAD_METADATA) {
        None => BTreeMap::new(),
        Some(v) if v.len() > MAX_METADATA => {
            return Err(ApiError::bad_request(format!(
                "Upload-Metadata is at most {MAX_METADATA} bytes"
            )))
        }
        Some(v) => parse_metadata(v.to_str().unwrap_or("\u{0}")).map_err(ApiError::bad_request)?,
    };
    let passthrough = metadata.get("passthrough").cloned();
    let meta: BTreeMap<String, String> = metadata
        .iter()
        .filter(|(k, _)| ["title", "filename", "creator_id", "external_id"].contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    check_asset_fields(&passthrough, &meta)?;
    let upload = match &who {
        UploadCaller::Key => {
            ingest::create(
                &uploads,
                NewUpload {
                    length: Some(length),
                    metadata,
                    passthrough,
                    meta,
                    tus_created: true,
                    video: None,
                    intake: None,
                    with_token: false,
                },
            )
            .await?
            .0
        }
        UploadCaller::Token(token) => {
            let id = apikeys::upload_token_scope(token)
                .ok_or_else(|| ApiError::unauthorized("malformed upload token"))?;
            let upload = who
                .load(&api_keys, &uploads, client_addr(&parts), id.as_str())
                .await
                .map_err(|e| match e.code {
                    ErrorCode::NotFound => ApiError::unauthorized("the upload token is not valid"),
                    _ => e,
                })?;
            ingest::bind(&uploads, &upload.id, Some(length), metadata).await?
        }
    };
    let location = format!("{}/api/v1/tus/{}", base_url(&config, headers), upload.id);
    let is_chunk = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        == Some(OFFSET_STREAM);
    let upload = if is_chunk && length > 0 {
        match patch_body(&uploads, &upload, 0, headers, body).await {
            Ok(u) => u,
            Err(e) => {
                // The upload exists; the client resumes from its offset.
                tracing::info!(id = %upload.id, error = ?e.detail, "creation-with-upload chunk not taken");
                ingest::get(&uploads, &upload.id).await?
            }
        }
    } else {
        upload
    };
    let mut resp = StatusCode::CREATED.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::LOCATION,
        HeaderValue::from_str(&location).map_err(|_| ApiError::bad_request("bad Host header"))?,
    );
    for (k, v) in offset_headers(&upload) {
        h.insert(k, v);
    }
    Ok(resp)
}

/// tus offset query.
#[utoipa::path(head, path = "/api/v1/tus/{upload_id}", tag = "tus",
    params(
        ("upload_id" = String, Path, description = "Upload id"),
        ("Tus-Resumable" = String, Header, description = "The tus version: 1.0.0", pattern = r"^1\.0\.0$"),
    ),
    responses(
        (status = 200, description = "`Upload-Offset`, `Upload-Length`, `Upload-Expires`"),
        HeadErrors,
    ),
    security(("api_key" = []), ("upload_token" = [])))]
pub async fn head(
    State(uploads): State<Arc<Uploads>>,
    State(api_keys): State<Arc<ApiKeys>>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let upload = authorised_upload(&api_keys, &uploads, &headers, client, &id).await?;
    if let Some(e) = gone(&upload) {
        return Err(e);
    }
    let mut resp = StatusCode::OK.into_response();
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    for (k, v) in offset_headers(&upload) {
        h.insert(k, v);
    }
    if let Some(l) = upload.length {
        h.insert(UPLOAD_LENGTH, HeaderValue::from(l));
    }
    if !upload.metadata.is_empty() {
        let text = upload
            .metadata
            .iter()
            .map(|(k, v)| {
                format!(
                    "{k} {}",
                    base64::engine::general_purpose::STANDARD.encode(v)
                )
            })
            .collect::<Vec<_>>()
            .join(",");
        if let Ok(v) = HeaderValue::from_str(&text) {
            h.insert(UPLOAD_METADATA, v);
        }
    }
    Ok(resp)
}

/// tus chunk upload.
#[utoipa::path(patch, path = "/api/v1/tus/{upload_id}", tag = "tus",
    params(
        ("upload_id" = String, Path, description = "Upload id"),
        ("Tus-Resumable" = String, Header, description = "The tus version: 1.0.0", pattern = r"^1\.0\.0$"),
        ("Upload-Offset" = u64, Header, description = "Where this chunk starts; must equal the upload's offset", minimum = 0),
        ("Upload-Checksum" = Option<String>, Header, description = "`sha1 <base64>` or `sha256 <base64>` of this chunk", nullable = false, pattern = r"^(sha1|sha256) (([A-Za-z0-9+/]{4})+([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?|[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)$"),
    ),
    request_body(content = Vec<u8>, content_type = "application/offset+octet-stream"),
    responses(
        (status = 204, description = "Stored; `Upload-Offset` is the new offset"),
        PatchErrors,
    ),
    security(("api_key" = []), ("upload_token" = [])))]
pub async fn patch(
    State(uploads): State<Arc<Uploads>>,
    State(api_keys): State<Arc<ApiKeys>>,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response, ApiError> {
    let (parts, body) = req.into_parts();
    let headers = &parts.headers;
    let upload = authorised_upload(&api_keys, &uploads, headers, client_addr(&parts), &id).await?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    if content_type != Some(OFFSET_STREAM) {
        return Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "send Content-Type: application/offset+octet-stream",
        ));
    }
    let offset = header_u64(headers, &UPLOAD_OFFSET)?
        .ok_or_else(|| ApiError::bad_request("Upload-Offset is required"))?;
    let upload = patch_body(&uploads, &upload, offset, headers, body).await?;
    let mut resp = StatusCode::NO_CONTENT.into_response();
    for (k, v) in offset_headers(&upload) {
        resp.headers_mut().insert(k, v);
    }
    Ok(resp)
}

/// Upload `id`'s one PATCH in flight in this process (released when dropped).
struct OnePatch<'a> {
    uploads: &'a Uploads,
    id: UploadId,
}

impl<'a> OnePatch<'a> {
    fn claim(uploads: &'a Uploads, id: &UploadId) -> Option<OnePatch<'a>> {
        let mut set = uploads.patching.lock().unwrap_or_else(|p| p.into_inner());
        set.insert(id.clone()).then(|| OnePatch {
            uploads,
            id: id.clone(),
        })
    }
}

impl Drop for OnePatch<'_> {
    fn drop(&mut self) {
        self.uploads
            .patching
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.id);
    }
}

fn parse_checksum(headers: &HeaderMap) -> Result<Option<(ChecksumAlgorithm, Vec<u8>)>, ApiError> {
    let Some(v) = headers.get(HeaderName::from_static("upload-checksum")) else {
        return Ok(None);
    };
    let text = v.to_str().unwrap_or("");
    let (alg, b64) = text
        .split_once(' ')
        .ok_or_else(|| ApiError::bad_request("Upload-Checksum is `<algorithm> <base64>`"))?;
    let alg = ChecksumAlgorithm::parse(alg)
        .ok_or_else(|| ApiError::bad_request("unsupported checksum algorithm (sha1, sha256)"))?;
    // Lenient about the unused bits of the last character (`00==`): RFC 4648 lets decoders
    // ignore them, and clients differ.
    const LENIENT: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
    );
    let digest = LENIENT
        .decode(b64.trim())
        .map_err(|_| ApiError::bad_request("Upload-Checksum's digest is not base64"))?;
    Ok(Some((alg, digest)))
}

/// Streams `body` into a chunk of `upload` at `offset` (the work runs in a task of its own,
/// so a client that goes away mid-chunk still gets what arrived stored).
async fn patch_body(
    uploads: &Arc<Uploads>,
    upload: &Upload,
    offset: u64,
    headers: &HeaderMap,
    body: Body,
) -> Result<Upload, ApiError> {
    if let Some(e) = gone(upload) {
        return Err(e);
    }
    let checksum = parse_checksum(headers)?;
    // One PATCH at a time per upload: a second one for the same upload (a retry racing the
    // first, or a client holding slots with trickles) is refused before it takes a slot.
    let _one = OnePatch::claim(uploads, &upload.id).ok_or_else(|| {
        ApiError::new(
            ErrorCode::UploadBusy,
            "another PATCH of this upload is in flight; retry when it ends",
        )
        .with_header(header::RETRY_AFTER, "1")
    })?;
    let permit = uploads
        .patches
        .try_acquire()
        .map_err(|_| ApiError::unavailable("too many uploads in flight; retry"))?;
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let task = tokio::spawn(ingest::receive(
        uploads.clone(),
        upload.id.clone(),
        offset,
        checksum,
        rx,
    ));
    let mut stream = body.into_data_stream();
    let idle = Duration::from_secs(uploads.config.idle_timeout_secs);
    let min_rate = uploads.config.min_bytes_per_sec;
    let started = tokio::time::Instant::now();
    let mut received: u64 = 0;
    loop {
        // A client that stops sending for `idle`, or sends slower than `min_rate` once the
        // first `idle` has passed, ends its chunk: what arrived is kept (as for a dropped
        // connection) and the slot goes to someone else.
        let elapsed = started.elapsed();
        if min_rate > 0 && elapsed > idle && received < min_rate * elapsed.as_secs() {
            let _ = tx
                .send(Err(format!("slower than {min_rate} bytes a second")))
                .await;
            break;
        }
        let item = match tokio::time::timeout(idle, stream.next()).await {
            Ok(Some(chunk)) => chunk.map_err(|e| e.to_string()),
            Ok(None) => break,
            Err(_) => Err("no data for the idle timeout".to_string()),
        };
        if let Ok(c) = &item {
            received += c.len() as u64;
        }
        let failed = item.is_err();
        if tx.send(item).await.is_err() || failed {
            break;
        }
    }
    drop(tx);
    let result = task
        .await
        .map_err(|e| ApiError::unavailable(format!("upload task failed: {e}")))?;
    drop(permit);
    result.map_err(|e| match e {
        PatchError::Refused(PatchRefused::OffsetMismatch { given, expected }) => ApiError::new(
            ErrorCode::OffsetMismatch,
            format!("Upload-Offset is {given}; the upload is at {expected}"),
        )
        .with_header_value(UPLOAD_OFFSET, HeaderValue::from(expected)),
        PatchError::Refused(PatchRefused::TooLong(l)) => ApiError::new(
            ErrorCode::TooLong,
            format!("the upload's length is {l}; nothing past it is taken"),
        ),
        PatchError::Refused(PatchRefused::Expired) => {
            ApiError::new(ErrorCode::UploadExpired, "the upload expired")
        }
        PatchError::Refused(PatchRefused::NotWaiting(UploadStatus::AssetCreated)) => {
            ApiError::new(ErrorCode::UploadComplete, "the upload is complete")
        }
        PatchError::Refused(PatchRefused::NotWaiting(_)) => {
            ApiError::new(ErrorCode::UploadEnded, "the upload has ended")
        }
        PatchError::Checksum => ApiError::new(
            ErrorCode::ChecksumMismatch,
            "the chunk's checksum does not match; it was discarded",
        ),
        PatchError::Incomplete => {
            ApiError::bad_request("the request body was cut off; nothing was kept")
        }
        PatchError::App(AppError::NotFound) => ApiError::not_found("upload"),
        PatchError::App(a) => a.into(),
    })
}

/// tus termination.
#[utoipa::path(delete, path = "/api/v1/tus/{upload_id}", tag = "tus",
    params(
        ("upload_id" = String, Path, description = "Upload id"),
        ("Tus-Resumable" = String, Header, description = "The tus version: 1.0.0", pattern = r"^1\.0\.0$"),
    ),
    responses(
        (status = 204, description = "Terminated: parts removed, the asset ends `errored` (`ERR_UPLOAD_CANCELLED`)"),
        TerminateErrors,
    ),
    security(("api_key" = []), ("upload_token" = [])))]
pub async fn terminate(
    State(uploads): State<Arc<Uploads>>,
    State(api_keys): State<Arc<ApiKeys>>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let upload = authorised_upload(&api_keys, &uploads, &headers, client, &id).await?;
    if upload.status != UploadStatus::Waiting {
        return Err(ApiError::new(
            ErrorCode::UploadEnded,
            "the upload has ended",
        ));
    }
    ingest::end(&uploads, &upload.id, UploadStatus::Cancelled).await?;
    Ok(StatusCode::NO_CONTENT)
}
