//! The API's one error table. Every failure answers `application/problem+json` (RFC 9457)
//! with a stable machine `code`; [`ErrorCode`] owns each code's status and meaning, and the
//! OpenAPI document's error responses are generated from the same table ([`errors!`]), so
//! what a route documents and what it answers cannot be written apart. The listener checks
//! the pairing at run time ([`documented`]): an answer whose code the route does not
//! document counts in `sunomi_api_undocumented_errors_total`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::OnceLock;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::openapi::extensions::ExtensionsBuilder;
use utoipa::openapi::header::{Header, HeaderBuilder};
use utoipa::openapi::response::{Response as DocResponse, ResponseBuilder};
use utoipa::openapi::schema::{AllOfBuilder, ObjectBuilder, Type};
use utoipa::openapi::{Content, Ref, RefOr};
use utoipa::ToSchema;

use crate::app::AppError;
use crate::domain::asset::TransitionError;

/// An RFC 9457 problem.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the problem type (`about:blank` or a Sunomi error page).
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the problem type.
    pub title: String,
    /// HTTP status.
    pub status: u16,
    /// What happened, for people.
    pub detail: String,
    /// Stable machine code (`not_found`, `invalid_request`, …).
    pub code: String,
}

macro_rules! error_codes {
    ($($(#[doc = $doc:literal])* $variant:ident = ($status:literal, $code:literal);)+) => {
        /// Every error the API answers: its status and stable code, in one table.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ErrorCode {
            $($(#[doc = $doc])* $variant,)+
        }

        impl ErrorCode {
            /// Every code, in table order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),+];

            /// The HTTP status the code answers with.
            pub fn status(self) -> StatusCode {
                let n = match self { $(ErrorCode::$variant => $status,)+ };
                StatusCode::from_u16(n).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            }

            /// The machine code in the problem's `code` member.
            pub fn code(self) -> &'static str {
                match self { $(ErrorCode::$variant => $code,)+ }
            }

            /// What the code means, for the document.
            pub fn meaning(self) -> &'static str {
                match self { $(ErrorCode::$variant => concat!($($doc),+).trim_ascii(),)+ }
            }
        }
    };
}

error_codes! {
    /// The request is malformed: a parameter, header, id or body does not parse or is out of range.
    InvalidRequest = (400, "invalid_request");
    /// The request body could not be read.
    InvalidBody = (400, "invalid_body");
    /// The view receipt is malformed, forged, expired or for another video (or this instance counts no views).
    InvalidReceipt = (400, "invalid_receipt");
    /// No valid credential: the API key or upload token is missing, unknown or revoked.
    Unauthorized = (401, "unauthorized");
    /// The email or password is not right (which of them is never said).
    InvalidCredentials = (401, "invalid_credentials");
    /// The password is right; the account also needs its two-factor code (`code`).
    TwoFactorRequired = (401, "two_factor_required");
    /// The two-factor code is wrong, expired or used already.
    InvalidCode = (401, "invalid_code");
    /// The caller is signed in but its role does not allow this.
    Forbidden = (403, "forbidden");
    /// An unsafe request with a session did not carry the session's `X-CSRF-Token`, or came from another origin.
    CsrfFailed = (403, "csrf_failed");
    /// Registration is closed on this instance.
    RegistrationClosed = (403, "registration_closed");
    /// The account waits for an administrator's approval.
    AccountPending = (403, "account_pending");
    /// The account is disabled.
    AccountDisabled = (403, "account_disabled");
    /// No such resource.
    NotFound = (404, "not_found");
    /// The route does not take that method.
    MethodNotAllowed = (405, "method_not_allowed");
    /// The change conflicts with the resource's current state.
    Conflict = (409, "conflict");
    /// The email address has an account already.
    EmailTaken = (409, "email_taken");
    /// The asset's status does not allow the change.
    InvalidState = (409, "invalid_state");
    /// Set up two-factor sign-in (`POST /api/v1/me/two-factor`) before turning it on.
    NoTwoFactorSetup = (409, "no_two_factor_setup");
    /// Two-factor sign-in is on: turn it off (with a code) before setting up a new secret.
    TwoFactorOn = (409, "two_factor_on");
    /// The caller already has an open report on this video.
    AlreadyReported = (409, "already_reported");
    /// A per-resource limit is reached (playback ids, signing keys, webhook endpoints).
    LimitReached = (409, "limit_reached");
    /// Direct uploads need an `s3://` store; this one takes bytes through tus only.
    DirectUploadUnsupported = (409, "direct_upload_unsupported");
    /// The S3-compatible store refused the multipart completion.
    S3Refused = (409, "s3_refused");
    /// The upload's bytes go through tus, not direct to storage.
    NotDirect = (409, "not_direct");
    /// Only failed messages can be redelivered.
    NotFailed = (409, "not_failed");
    /// The endpoint comes from the config file and changes only there.
    ConfiguredEndpoint = (409, "configured_endpoint");
    /// `Upload-Offset` is not where the upload is.
    OffsetMismatch = (409, "offset_mismatch");
    /// The upload has all its bytes.
    UploadComplete = (409, "upload_complete");
    /// The upload ended (finished, cancelled or terminated).
    UploadEnded = (410, "upload_ended");
    /// The upload expired before it was complete.
    UploadExpired = (410, "upload_expired");
    /// The resume point is older than the events kept.
    EventsExpired = (410, "events_expired");
    /// The tus protocol version is not 1.0.0.
    TusVersion = (412, "tus_version");
    /// Larger than the largest upload or body this route takes.
    TooLarge = (413, "too_large");
    /// The chunk runs past the upload's declared length.
    TooLong = (413, "too_long");
    /// The body's content type is not one this route takes.
    UnsupportedMediaType = (415, "unsupported_media_type");
    /// The assembled upload's size is not the declared size.
    SizeMismatch = (422, "size_mismatch");
    /// The webhook URL is malformed, or points into a network outbound requests may not reach.
    WebhookUrlRefused = (422, "webhook_url_refused");
    /// Another PATCH of this upload is in flight.
    UploadBusy = (423, "upload_busy");
    /// Too many failed sign-ins of this account; retry after `Retry-After`.
    AccountLocked = (423, "account_locked");
    /// The view's media cannot have been watched yet; send the receipt again after `Retry-After`.
    TooEarly = (425, "too_early");
    /// Too many unknown credentials from this address; retry after `Retry-After`.
    RateLimited = (429, "rate_limited");
    /// The key holds as many event streams as `api.max_streams_per_key`.
    TooManyStreams = (429, "too_many_streams");
    /// The chunk's `Upload-Checksum` does not match its bytes (tus checksum extension).
    ChecksumMismatch = (460, "checksum_mismatch");
    /// Storage, the database, the queue or the key store did not answer; retry after `Retry-After`.
    Unavailable = (503, "unavailable");
    /// The change is recorded but not yet applied everywhere; repeat the request after `Retry-After`.
    PropagationPending = (503, "propagation_pending");
}

/// The codes every route that takes an API key can answer before its handler runs (and
/// that storage or the database failing answers).
pub const API_KEY: &[ErrorCode] = &[
    ErrorCode::Unauthorized,
    ErrorCode::RateLimited,
    ErrorCode::Unavailable,
    // An administrator's session opens these routes too: anyone else's is refused, and an
    // unsafe request without its CSRF token.
    ErrorCode::Forbidden,
    ErrorCode::CsrfFailed,
];

/// The codes a JSON request body can be refused with.
pub const JSON_BODY: &[ErrorCode] = &[ErrorCode::InvalidRequest, ErrorCode::UnsupportedMediaType];

/// The codes a change to an asset that waits until the edges apply it can answer.
pub const SETTLED: &[ErrorCode] = &[ErrorCode::InvalidState, ErrorCode::PropagationPending];

/// The codes the tus protocol layer adds to every tus route but `OPTIONS`.
pub const TUS: &[ErrorCode] = &[ErrorCode::TusVersion];

/// Declares a route's error responses as a type for `#[utoipa::path(responses(…))]`:
/// `errors!(GetAssetErrors: API_KEY, NotFound)` lists code sets and single codes; statuses,
/// descriptions and the problem schema come from [`ErrorCode`]. `errors!(head X: …)` is for
/// `HEAD`, whose answers have no body.
macro_rules! errors {
    (head $name:ident: $($part:ident),+ $(,)?) => {
        $crate::http::problem::errors!(@make $name, false, $($part),+);
    };
    ($name:ident: $($part:ident),+ $(,)?) => {
        $crate::http::problem::errors!(@make $name, true, $($part),+);
    };
    (@make $name:ident, $body:expr, $($part:ident),+) => {
        #[doc = concat!("The error responses of one operation: ", $(stringify!($part), " "),+)]
        pub struct $name;

        impl utoipa::IntoResponses for $name {
            fn responses() -> std::collections::BTreeMap<
                String,
                utoipa::openapi::RefOr<utoipa::openapi::response::Response>,
            > {
                #[allow(unused_imports)]
                use $crate::http::problem::{ErrorCode::*, *};
                let mut codes: Vec<$crate::http::problem::ErrorCode> = Vec::new();
                $( $crate::http::problem::Codes::extend_into(&$part, &mut codes); )+
                $crate::http::problem::responses(&codes, $body)
            }
        }
    };
}
pub(crate) use errors;

/// One code or a set of codes, as [`errors!`] takes them.
pub trait Codes {
    /// Appends the codes to `into`.
    fn extend_into(&self, into: &mut Vec<ErrorCode>);
}

impl Codes for ErrorCode {
    fn extend_into(&self, into: &mut Vec<ErrorCode>) {
        into.push(*self);
    }
}

impl Codes for &[ErrorCode] {
    fn extend_into(&self, into: &mut Vec<ErrorCode>) {
        into.extend_from_slice(self);
    }
}

/// The document's error responses for `codes`: one response per status, whose description
/// lists each code with its meaning, whose `x-problem-codes` names them, and (when the
/// answer has a `body`) whose schema pins `code` to them.
pub fn responses(codes: &[ErrorCode], body: bool) -> BTreeMap<String, RefOr<DocResponse>> {
    let mut by_status: BTreeMap<u16, Vec<ErrorCode>> = BTreeMap::new();
    for &c in codes {
        let list = by_status.entry(c.status().as_u16()).or_default();
        if !list.contains(&c) {
            list.push(c);
        }
    }
    by_status
        .into_iter()
        .map(|(status, codes)| {
            let description = codes
                .iter()
                .map(|c| format!("`{}`: {}", c.code(), c.meaning()))
                .collect::<Vec<_>>()
                .join(" ");
            let names: Vec<&str> = codes.iter().map(|c| c.code()).collect();
            let mut response = ResponseBuilder::new()
                .description(description)
                .extensions(Some(
                    ExtensionsBuilder::new()
                        .add("x-problem-codes", names.clone())
                        .build(),
                ));
            if codes.contains(&ErrorCode::Unauthorized) {
                response = response.header(
                    "WWW-Authenticate",
                    header_doc(Type::String, "The Bearer challenge"),
                );
            }
            if status == 429 || status == 503 || codes.contains(&ErrorCode::AccountLocked) {
                response = response.header(
                    "Retry-After",
                    header_doc(Type::Integer, "Seconds to wait before retrying"),
                );
            }
            if body {
                let pinned = ObjectBuilder::new()
                    .property(
                        "status",
                        ObjectBuilder::new()
                            .schema_type(Type::Integer)
                            .enum_values(Some([status])),
                    )
                    .property(
                        "code",
                        ObjectBuilder::new()
                            .schema_type(Type::String)
                            .enum_values(Some(names)),
                    );
                let schema = AllOfBuilder::new()
                    .item(Ref::from_schema_name("Problem"))
                    .item(pinned);
                response = response.content("application/problem+json", Content::new(Some(schema)));
            }
            (status.to_string(), RefOr::T(response.build()))
        })
        .collect()
}

fn header_doc(kind: Type, description: &str) -> Header {
    HeaderBuilder::new()
        .schema(Some(ObjectBuilder::new().schema_type(kind)))
        .description(Some(description))
        .build()
}

/// Which codes each operation documents, read from the document itself: `(method, path
/// template) → codes`. Built once.
pub fn documented() -> &'static HashMap<(String, String), HashSet<String>> {
    static TABLE: OnceLock<HashMap<(String, String), HashSet<String>>> = OnceLock::new();
    TABLE.get_or_init(|| {
        use utoipa::OpenApi;
        let doc = serde_json::to_value(super::ApiDoc::openapi()).unwrap_or_default();
        let mut table = HashMap::new();
        let Some(paths) = doc["paths"].as_object() else {
            return table;
        };
        for (path, ops) in paths {
            let Some(ops) = ops.as_object() else { continue };
            for (method, op) in ops {
                let mut codes = HashSet::new();
                if let Some(responses) = op["responses"].as_object() {
                    let names = responses
                        .values()
                        .filter_map(|r| r["x-problem-codes"].as_array())
                        .flatten()
                        .filter_map(|n| n.as_str());
                    codes.extend(names.map(str::to_string));
                }
                table.insert((method.to_ascii_uppercase(), path.clone()), codes);
            }
        }
        table
    })
}

/// An API error: a code from the table, a sentence, and any headers the answer needs.
#[derive(Debug)]
pub struct ApiError {
    /// The code; it fixes the status.
    pub code: ErrorCode,
    /// For people.
    pub detail: String,
    /// Extra headers (`WWW-Authenticate`, `Retry-After`, tus headers).
    pub headers: Vec<(header::HeaderName, HeaderValue)>,
}

impl ApiError {
    /// An error with `code` and `detail`.
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> ApiError {
        let mut e = ApiError {
            code,
            detail: detail.into(),
            headers: Vec::new(),
        };
        match code {
            ErrorCode::Unauthorized => {
                e = e.with_header(header::WWW_AUTHENTICATE, "Bearer realm=\"sunomi\"")
            }
            ErrorCode::Unavailable => e = e.with_header(header::RETRY_AFTER, "2"),
            ErrorCode::PropagationPending => e = e.with_header(header::RETRY_AFTER, "1"),
            _ => {}
        }
        e
    }

    /// The status the code answers with.
    pub fn status(&self) -> StatusCode {
        self.code.status()
    }

    /// 400 `invalid_request`.
    pub fn bad_request(detail: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::InvalidRequest, detail)
    }

    /// 404 `not_found`.
    pub fn not_found(what: &str) -> ApiError {
        ApiError::new(ErrorCode::NotFound, format!("no such {what}"))
    }

    /// 401 with a `WWW-Authenticate` challenge.
    pub fn unauthorized(detail: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::Unauthorized, detail)
    }

    /// 503 with `Retry-After`.
    pub fn unavailable(detail: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::Unavailable, detail)
    }

    /// Adds a header (replacing one of the same name).
    pub fn with_header(self, name: header::HeaderName, value: &'static str) -> ApiError {
        self.with_header_value(name, HeaderValue::from_static(value))
    }

    /// Adds a header with a computed value (replacing one of the same name).
    pub fn with_header_value(mut self, name: header::HeaderName, value: HeaderValue) -> ApiError {
        self.headers.retain(|(n, _)| *n != name);
        self.headers.push((name, value));
        self
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::NotFound => ApiError::not_found("object"),
            AppError::Conflict(m) => ApiError::new(ErrorCode::Conflict, m),
            AppError::Transition(t @ TransitionError::Status { .. }) => {
                ApiError::new(ErrorCode::InvalidState, t.to_string())
            }
            AppError::Transition(t @ TransitionError::TooManyPlaybackIds) => {
                ApiError::new(ErrorCode::LimitReached, t.to_string())
            }
            AppError::Store(m) => {
                tracing::error!(error = %m, "storage failed");
                ApiError::unavailable("storage is unavailable; try again")
            }
            AppError::Queue(q) => {
                tracing::error!(error = %q, "queue failed");
                ApiError::unavailable("the job queue is unavailable; try again")
            }
            AppError::Db(d) => {
                tracing::error!(error = %d, "database failed");
                ApiError::unavailable("the database is unavailable; try again")
            }
            AppError::Propagating(m) => ApiError::new(
                ErrorCode::PropagationPending,
                format!(
                    "{m}; the change is recorded and will be applied: repeat the request to learn when"
                ),
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let problem = Problem {
            kind: "about:blank".into(),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail: self.detail,
            code: self.code.code().to_string(),
        };
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut resp = (status, body).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        for (k, v) in self.headers {
            resp.headers_mut().insert(k, v);
        }
        resp.extensions_mut().insert(self.code);
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_every_one_is_an_error_status() {
        let mut seen = HashSet::new();
        for c in ErrorCode::ALL {
            assert!(seen.insert(c.code()), "{} twice", c.code());
            assert!(c.status().as_u16() >= 400, "{c:?}");
            assert!(!c.meaning().is_empty(), "{c:?}");
        }
    }

    #[test]
    fn one_response_per_status_lists_its_codes() {
        let r = responses(
            &[
                ErrorCode::NotFound,
                ErrorCode::Conflict,
                ErrorCode::LimitReached,
                ErrorCode::NotFound,
            ],
            true,
        );
        assert_eq!(r.keys().collect::<Vec<_>>(), ["404", "409"]);
        let v = serde_json::to_value(&r["409"]).unwrap();
        let codes = v
            .pointer("/content/application~1problem+json/schema/allOf/1/properties/code/enum")
            .unwrap();
        assert_eq!(codes, &serde_json::json!(["conflict", "limit_reached"]));
        assert_eq!(
            v["x-problem-codes"],
            serde_json::json!(["conflict", "limit_reached"])
        );
        let head = serde_json::to_value(&responses(&[ErrorCode::NotFound], false)["404"]).unwrap();
        assert!(head.get("content").is_none());
        assert_eq!(head["x-problem-codes"], serde_json::json!(["not_found"]));
    }
}
