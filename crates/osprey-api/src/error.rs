//! The API's error type and the one place where failures become HTTP responses.
//!
//! Two families, as the Python server had:
//! * **header-level** problems (bad Content-Length, Content-Type, boundary): 400 with the
//!   Python body `{"class", "message", "traceback"}`, plus `error`, `code` and `success: false`;
//! * **everything after the headers** on a detection route (no image part, undecodable image,
//!   inference failure, timeout): HTTP 200 with `{"success": false, "predictions": []}` — Frigate
//!   never checks the status code and must never see a non-JSON or prediction-less body — with
//!   `error` and the status a strict server would use in `code`.
//!
//! Other errors (auth, unknown model/route, full queue) use their real status with a DeepStack
//! body `{"success": false, "error", "code"}`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use osprey_base::{ErrorKind, Kinded};
use serde_json::json;

/// An API failure.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A problem with the request headers (Python server: 400 with class/message/traceback).
    #[error("{message}")]
    Header {
        /// Python exception class the old server reported.
        class: &'static str,
        /// The sentence.
        message: String,
    },
    /// A problem found after the headers on a detection route (Python server: 200, success false).
    #[error("{message}")]
    Detection {
        /// The status a strict server would have used.
        code: StatusCode,
        /// The sentence.
        message: String,
    },
    /// A bad parameter (DeepStack: 400).
    #[error("{0}")]
    BadRequest(String),
    /// Missing or wrong API key.
    #[error("{0}")]
    Unauthorized(String),
    /// Signed in, but the role (or the address) does not allow this.
    #[error("{0}")]
    Forbidden(String),
    /// Locked out, or a key's rate exceeded.
    #[error("{message}")]
    TooManyRequests {
        /// The sentence.
        message: String,
        /// Seconds until a retry can work.
        retry_after_s: u64,
    },
    /// A bug or a failing database.
    #[error("{0}")]
    Internal(String),
    /// Unknown model, camera or route.
    #[error("{0}")]
    NotFound(String),
    /// The resource exists already.
    #[error("{0}")]
    Conflict(String),
    /// Nothing to return yet (Metropolis: no configuration for this sensor); clients treat
    /// 422 as "empty".
    #[error("{0}")]
    Unprocessable(String),
    /// Wrong method.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// The inference queue is full.
    #[error("{0}")]
    Busy(String),
    /// The server is not ready (warming up).
    #[error("{0}")]
    Unavailable(String),
}

impl From<osprey_pipeline::CameraError> for ApiError {
    fn from(e: osprey_pipeline::CameraError) -> Self {
        use osprey_pipeline::CameraError as C;
        match e {
            C::Invalid(_) => ApiError::BadRequest(e.to_string()),
            C::Exists(_) => ApiError::Conflict(e.to_string()),
            C::NotFound(_) => ApiError::NotFound(e.to_string()),
            C::Thread(_) => ApiError::Unavailable(e.to_string()),
        }
    }
}

impl ApiError {
    /// 429 with `Retry-After`: `what` happened, try again after `wait` (at least 1 s).
    pub fn retry_after(wait: std::time::Duration, what: &str) -> Self {
        let s = wait.as_secs().max(1);
        ApiError::TooManyRequests {
            message: format!("{what}; try again in {s} s"),
            retry_after_s: s,
        }
    }

    /// A failure after the headers, classified by the library error's kind.
    pub fn detection<E: Kinded + std::fmt::Display>(e: &E) -> Self {
        ApiError::Detection {
            code: status_of(e.kind()),
            message: e.to_string(),
        }
    }

    /// The HTTP status sent.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Header { .. } | ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Detection { .. } => StatusCode::OK,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Busy(_) | ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

/// The message of an error response, for the audit log.
#[derive(Debug, Clone)]
pub struct ErrorMessage(pub String);

impl From<osprey_auth::AuthError> for ApiError {
    fn from(e: osprey_auth::AuthError) -> Self {
        use osprey_auth::AuthError as A;
        match e {
            A::Invalid(_) => ApiError::BadRequest(e.to_string()),
            A::NotFound(_) => ApiError::NotFound(e.to_string()),
            A::Exists(_) => ApiError::Conflict(e.to_string()),
            A::Db { .. } | A::NewerSchema { .. } | A::Crypto(_) => {
                tracing::error!(error = %e, "auth store failure");
                ApiError::Internal("the auth database failed (see the server log)".into())
            }
        }
    }
}

/// Library error kinds → HTTP status (the `code` field for after-header failures).
pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::InvalidArgument => StatusCode::BAD_REQUEST,
        ErrorKind::ResourceExhausted => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::FailedPrecondition | ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = self.to_string();
        let body = match &self {
            ApiError::Header { class, message } => json!({
                "class": class,
                "message": message,
                "traceback": [],
                "success": false,
                "error": message,
                "code": 400,
                "predictions": [],
            }),
            ApiError::Detection { code, message } => json!({
                "success": false,
                "predictions": [],
                "error": message,
                "code": code.as_u16(),
            }),
            ApiError::TooManyRequests { retry_after_s, .. } => json!({
                "success": false, "error": message, "code": 429, "predictions": [],
                "retry_after_s": retry_after_s,
            }),
            ApiError::Unauthorized(_) => json!({
                "success": false, "error": message, "code": 401, "predictions": [], "auth": true,
            }),
            _ => {
                json!({ "success": false, "error": message, "code": status.as_u16(), "predictions": [] })
            }
        };
        match &self {
            ApiError::Detection { code, .. } => {
                tracing::warn!(code = code.as_u16(), error = %message, "detection failed")
            }
            ApiError::Header { .. } | ApiError::BadRequest(_) => {
                tracing::info!(status = status.as_u16(), error = %message, "bad request")
            }
            _ => tracing::debug!(status = status.as_u16(), error = %message, "request refused"),
        }
        let mut resp = (status, axum::Json(body)).into_response();
        if matches!(self, ApiError::Busy(_) | ApiError::Unavailable(_)) {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if let ApiError::TooManyRequests { retry_after_s, .. } = &self {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_s));
        }
        resp.extensions_mut().insert(ErrorMessage(message));
        resp
    }
}
