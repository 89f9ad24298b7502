//! The API's errors and how they answer: `{"error": {"code": "...", "message": "..."}}` with the
//! right status. A 422 also names the bad field (`"field": "..."`).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Everything an endpoint can refuse with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is not what this endpoint takes (malformed JSON, unknown field, …).
    #[error("{0}")]
    BadRequest(String),
    /// 422: well-formed, but a field's value is not acceptable.
    #[error("{field}: {message}")]
    Invalid {
        /// The field, as named in the request.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// 401: no valid credentials.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// 403: signed in, but not allowed.
    #[error("{0}")]
    Forbidden(&'static str),
    /// 404: nothing there (or nothing this caller may see).
    #[error("{0}")]
    NotFound(&'static str),
    /// 409: conflicts with the current state (a taken name, a wrong upload offset).
    #[error("{0}")]
    Conflict(String),
    /// 413: the body is over the limit.
    #[error("{0}")]
    TooLarge(String),
    /// 429: slow down; try again after this many seconds.
    #[error("too many attempts; try again in {retry_after} s")]
    TooMany {
        /// Seconds until the next attempt may succeed.
        retry_after: u64,
    },
    /// Any other status (tus's 412, 415, 423, 460, …), with its code and message.
    #[error("{2}")]
    Status(StatusCode, &'static str, String),
    /// 500: our fault; the details go to the log, not the client.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// A 422 for `field`.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.to_string(),
            message: message.into(),
        }
    }

    /// The status and machine-readable code.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            Self::Invalid { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
            Self::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Self::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            Self::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            Self::TooMany { .. } => (StatusCode::TOO_MANY_REQUESTS, "too_many_requests"),
            Self::Status(status, code, _) => (*status, code),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl ApiError {
    /// A copy of an error shared between coalesced callers.
    pub fn from_shared(shared: &ApiError) -> Self {
        match shared {
            Self::BadRequest(m) => Self::BadRequest(m.clone()),
            Self::Invalid { field, message } => Self::Invalid {
                field: field.clone(),
                message: message.clone(),
            },
            Self::Unauthorized(m) => Self::Unauthorized(m),
            Self::Forbidden(m) => Self::Forbidden(m),
            Self::NotFound(m) => Self::NotFound(m),
            Self::Conflict(m) => Self::Conflict(m.clone()),
            Self::TooLarge(m) => Self::TooLarge(m.clone()),
            Self::TooMany { retry_after } => Self::TooMany {
                retry_after: *retry_after,
            },
            Self::Status(s, c, m) => Self::Status(*s, c, m.clone()),
            Self::Internal(m) => Self::Internal(m.clone()),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        Self::Internal(format!("database: {e}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = match &self {
            Self::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                "internal error".to_string()
            }
            Self::Invalid { message, .. } => message.clone(),
            other => other.to_string(),
        };
        let mut error = serde_json::json!({ "code": code, "message": message });
        if let Self::Invalid { field, .. } = &self {
            error["field"] = serde_json::Value::String(field.clone());
        }
        let mut response =
            (status, axum::Json(serde_json::json!({ "error": error }))).into_response();
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Self::TooLarge(_) = self {
            // The body may be left unread, so the connection cannot carry another request:
            // say so, or a client reusing it would find it closed under its next request.
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        if let Self::TooMany { retry_after } = self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
        }
        response
    }
}

/// The shape of every error body (for the OpenAPI document).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// `error` of an error body.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Machine-readable code (`invalid`, `not_found`, `unauthorized`, …).
    pub code: String,
    /// For people.
    pub message: String,
    /// The bad field, on 422.
    pub field: Option<String>,
}

/// What every handler returns.
pub type ApiResult<T> = Result<T, ApiError>;
