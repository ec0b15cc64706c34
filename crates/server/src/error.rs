//! The server's errors and how each one looks to an HTTP client: `{"error":{"code","message"}}`
//! with the matching status. Internal details are logged, never sent.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Store(#[from] rapport_store::Error),
    #[error(transparent)]
    Embed(#[from] rapport_embed::Error),
    #[error(transparent)]
    Port(#[from] rapport_core::Error),
    #[error(transparent)]
    Knowledge(#[from] rapport_knowledge::Error),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    /// Slow down: the caller may try again after `retry_after`.
    #[error("{message}")]
    TooManyRequests {
        message: String,
        retry_after: std::time::Duration,
    },
    /// A provider we called on the caller's behalf failed.
    #[error("{0}")]
    BadGateway(String),
    #[error(transparent)]
    Internal(#[from] Error),
}

impl From<rapport_channels::Error> for ApiError {
    fn from(e: rapport_channels::Error) -> Self {
        use rapport_channels::Error as C;
        match e {
            C::Store(store) => store.into(),
            C::UnknownSession | C::Signature(_) => ApiError::Unauthorized(e.to_string()),
            C::Malformed(m) => ApiError::BadRequest(m),
            C::Config(m) => ApiError::Internal(Error::Config(m)),
        }
    }
}

impl From<rapport_store::Error> for ApiError {
    fn from(e: rapport_store::Error) -> Self {
        match e {
            rapport_store::Error::NotFound { what, id } => {
                ApiError::NotFound(format!("{what} {id} not found"))
            }
            rapport_store::Error::Conflict(m) => ApiError::Conflict(m),
            // A webhook provider told 503 with Retry-After sends the message again; a 500
            // would look like our bug (and Mailgun treats both alike, retrying).
            other if other.is_unavailable() => {
                tracing::warn!(error = %other, "the database is unavailable");
                ApiError::Unavailable("the database is unavailable; try again shortly".into())
            }
            other => ApiError::Internal(other.into()),
        }
    }
}

impl From<rapport_agent::Error> for ApiError {
    fn from(e: rapport_agent::Error) -> Self {
        use rapport_agent::Error as A;
        match e {
            A::Store(store) => store.into(),
            A::Knowledge(k) => k.into(),
            A::Invalid(m) => ApiError::BadRequest(m),
            A::BadSignature => ApiError::BadRequest(e.to_string()),
            A::Model(m) => ApiError::Unavailable(format!("language model: {m}")),
            other => ApiError::Internal(Error::Config(other.to_string())),
        }
    }
}

impl From<rapport_desk::Error> for ApiError {
    fn from(e: rapport_desk::Error) -> Self {
        use rapport_desk::Error as D;
        match e {
            D::Store(store) => store.into(),
            D::Invalid(problems) => ApiError::BadRequest(problems.join("; ")),
            D::Forbidden(m) => ApiError::Forbidden(m),
        }
    }
}

impl From<rapport_knowledge::Error> for ApiError {
    fn from(e: rapport_knowledge::Error) -> Self {
        use rapport_knowledge::Error as K;
        match e {
            K::Store(store) => store.into(),
            K::NotFound { what, id } => ApiError::NotFound(format!("{what} {id} not found")),
            K::Component(component) => ApiError::Internal(component.into()),
            // Everything else is about what the admin sent: a bad file, URL or configuration.
            other => ApiError::BadRequest(other.to_string()),
        }
    }
}

/// What a multipart body that could not be read is. A body over the limit is a 413 however it
/// was sent: axum calls a chunked body cut at the limit a parse error (400), so the cause is
/// looked for.
pub fn multipart_error(e: axum::extract::multipart::MultipartError) -> ApiError {
    let mut cause: Option<&dyn std::error::Error> = Some(&e);
    let mut too_large = e.status() == StatusCode::PAYLOAD_TOO_LARGE;
    while let Some(err) = cause {
        too_large |= err.to_string().contains("length limit exceeded");
        cause = err.source();
    }
    if too_large {
        ApiError::TooLarge(e.body_text())
    } else {
        ApiError::BadRequest(e.body_text())
    }
}

/// The JSON error envelope every endpoint uses.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable, snake_case.
    pub code: String,
    /// For people; may change between versions.
    pub message: String,
}

pub fn error_response(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    let body = ErrorBody {
        error: ErrorDetail {
            code: code.to_owned(),
            message: message.into(),
        },
    };
    (status, Json(body)).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::NotFound(m) => error_response(StatusCode::NOT_FOUND, "not_found", m),
            ApiError::BadRequest(m) => error_response(StatusCode::BAD_REQUEST, "bad_request", m),
            ApiError::Conflict(m) => error_response(StatusCode::CONFLICT, "conflict", m),
            ApiError::Unauthorized(m) => {
                error_response(StatusCode::UNAUTHORIZED, "unauthorized", m)
            }
            ApiError::Forbidden(m) => error_response(StatusCode::FORBIDDEN, "forbidden", m),
            ApiError::BadGateway(m) => error_response(StatusCode::BAD_GATEWAY, "bad_gateway", m),
            ApiError::TooManyRequests {
                message,
                retry_after,
            } => {
                let mut response =
                    error_response(StatusCode::TOO_MANY_REQUESTS, "too_many_requests", message);
                if let Ok(v) =
                    axum::http::HeaderValue::from_str(&retry_after.as_secs().max(1).to_string())
                {
                    response
                        .headers_mut()
                        .insert(axum::http::header::RETRY_AFTER, v);
                }
                response
            }
            ApiError::TooLarge(m) => {
                error_response(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", m)
            }
            ApiError::Unavailable(m) => {
                let mut response =
                    error_response(StatusCode::SERVICE_UNAVAILABLE, "unavailable", m);
                response.headers_mut().insert(
                    axum::http::header::RETRY_AFTER,
                    axum::http::HeaderValue::from_static("5"),
                );
                response
            }
            ApiError::Internal(e) => {
                tracing::error!(error = %e, "request failed");
                error_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error; see the server log",
                )
            }
        }
    }
}
