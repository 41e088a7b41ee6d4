//! The API's one error table: every failure answers `application/problem+json` (RFC 9457)
//! with a stable machine `code`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
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

/// An API error: a status, a code and a sentence.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Machine code.
    pub code: &'static str,
    /// For people.
    pub detail: String,
    /// Extra headers (`WWW-Authenticate`, `Retry-After`, tus headers).
    pub headers: Vec<(header::HeaderName, HeaderValue)>,
}

impl ApiError {
    /// An error with `status`, `code` and `detail`.
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            detail: detail.into(),
            headers: Vec::new(),
        }
    }

    /// 400.
    pub fn bad_request(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", detail)
    }

    /// 404.
    pub fn not_found(what: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no such {what}"),
        )
    }

    /// 401 with a `WWW-Authenticate` challenge.
    pub fn unauthorized(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
            .with_header(header::WWW_AUTHENTICATE, "Bearer realm=\"sunomi\"")
    }

    /// 503 with `Retry-After`.
    pub fn unavailable(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", detail)
            .with_header(header::RETRY_AFTER, "2")
    }

    /// Adds a header.
    pub fn with_header(mut self, name: header::HeaderName, value: &'static str) -> ApiError {
        self.headers.push((name, HeaderValue::from_static(value)));
        self
    }

    /// Adds a header with a computed value.
    pub fn with_header_value(mut self, name: header::HeaderName, value: HeaderValue) -> ApiError {
        self.headers.push((name, value));
        self
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::NotFound => ApiError::not_found("object"),
            AppError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            AppError::Transition(t @ TransitionError::Status { .. }) => {
                ApiError::new(StatusCode::CONFLICT, "invalid_state", t.to_string())
            }
            AppError::Transition(t @ TransitionError::TooManyPlaybackIds) => {
                ApiError::new(StatusCode::CONFLICT, "limit_reached", t.to_string())
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
                StatusCode::SERVICE_UNAVAILABLE,
                "propagation_pending",
                format!(
                    "{m}; the change is recorded and will be applied: repeat the request to learn when"
                ),
            )
            .with_header(header::RETRY_AFTER, "1"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = Problem {
            kind: "about:blank".into(),
            title: self
                .status
                .canonical_reason()
                .unwrap_or("Error")
                .to_string(),
            status: self.status.as_u16(),
            detail: self.detail,
            code: self.code.to_string(),
        };
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut resp = (self.status, body).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        for (k, v) in self.headers {
            resp.headers_mut().insert(k, v);
        }
        resp
    }
}
