//! The API error type, its stable codes, and the JSON body every failure
//! is answered with: `{"code": "NOT_FOUND", "msg": "product 0190… not found"}`.
//!
//! The codes are shared by HTTP and RPC: a worker replies with an
//! [`ErrorCode`], and the API answers with that code's status, so a stooq
//! outage is a 502 at the edge without any string matching.
//!
//! Length: over 400 lines only with its unit tests, which stay beside the
//! code they test.

use std::time::Duration;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The machine-readable half of every error body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    Conflict,
    Duplicate,
    PayloadTooLarge,
    UnsupportedMediaType,
    PreconditionFailed,
    Locked,
    UpstreamError,
    UpstreamTimeout,
    Unavailable,
    Internal,
    MethodNotAllowed,
    TooManyRequests,
    InsufficientStorage,
}

impl ErrorCode {
    pub fn status(self) -> StatusCode {
        match self {
            Self::BadRequest => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden | Self::Duplicate => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Conflict => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            Self::Locked => StatusCode::LOCKED,
            Self::UpstreamError => StatusCode::BAD_GATEWAY,
            Self::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            Self::InsufficientStorage => StatusCode::INSUFFICIENT_STORAGE,
        }
    }
}

/// The JSON body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub msg: String,
    /// With `DUPLICATE` only: the accepted ingest that holds the window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingest_id: Option<uuid::Uuid>,
}

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 400 `BAD_REQUEST`: the request is malformed; the message says how.
    #[error("{0}")]
    BadRequest(String),
    /// 401 `UNAUTHORIZED`: missing or bad credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// 403 `FORBIDDEN`: the account's role is not enough.
    #[error("{0}")]
    Forbidden(String),
    /// 404 `NOT_FOUND`.
    #[error("{0}")]
    NotFound(String),
    /// 409 `CONFLICT`: a unique key is taken.
    #[error("{0}")]
    Conflict(String),
    /// 403 `DUPLICATE` with `Retry-After`: the same body was accepted
    /// within the window, as the ingest `holder` (shown as `ingest_id`).
    #[error("{msg}")]
    Duplicate {
        msg: String,
        retry_after: Duration,
        holder: Option<uuid::Uuid>,
    },
    /// 507 `INSUFFICIENT_STORAGE`: the body would leave too little free
    /// disk where it is spooled.
    #[error("{0}")]
    InsufficientStorage(String),
    /// 413 `PAYLOAD_TOO_LARGE`.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// 415 `UNSUPPORTED_MEDIA_TYPE`: the body is sent in an encoding (or
    /// a type) this endpoint cannot read; the message names what it can.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 412 `PRECONDITION_FAILED`: the request speaks a protocol version
    /// this endpoint does not (a tus client's `Tus-Resumable`).
    #[error("{0}")]
    PreconditionFailed(String),
    /// 423 `LOCKED`: another request is writing the resource; retry.
    #[error("{0}")]
    Locked(String),
    /// 405 `METHOD_NOT_ALLOWED`: the path exists, the method does not. The
    /// layer that makes it adds the route's `Allow` header.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// 429 `TOO_MANY_REQUESTS` with `Retry-After`: this client failed too
    /// many password checks lately.
    #[error("{msg}")]
    TooManyRequests { msg: String, retry_after: Duration },
    /// 503 `UNAVAILABLE` with `Retry-After`: this process is at one of its
    /// limits (password checks, feed uploads) and refuses more work for now.
    /// The message is shown: it names the limit, nothing internal.
    #[error("{msg}")]
    Busy { msg: String, retry_after: Duration },
    /// 502 `UPSTREAM_ERROR`: a third-party service failed or answered
    /// nonsense. The text is logged; the body says only what failed.
    #[error("{0}")]
    UpstreamError(String),
    /// 504 `UPSTREAM_TIMEOUT`: a worker or upstream did not answer in time.
    /// The text is logged, not shown.
    #[error("{0}")]
    UpstreamTimeout(String),
    /// 503 `UNAVAILABLE` with `Retry-After`: a backend (broker, Redis)
    /// cannot be reached. The text is logged, not shown.
    #[error("{0}")]
    Unavailable(String),
    /// 500 `INTERNAL`: a database failure. The cause is logged, never shown.
    #[error("database error")]
    Database(#[from] sea_orm::DbErr),
    /// 500 `INTERNAL`: anything else unexpected. The cause is logged, never shown.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl Error {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::BadRequest(_) => ErrorCode::BadRequest,
            Self::Unauthorized(_) => ErrorCode::Unauthorized,
            Self::Forbidden(_) => ErrorCode::Forbidden,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::Conflict(_) => ErrorCode::Conflict,
            Self::Duplicate { .. } => ErrorCode::Duplicate,
            Self::PayloadTooLarge(_) => ErrorCode::PayloadTooLarge,
            Self::UnsupportedMediaType(_) => ErrorCode::UnsupportedMediaType,
            Self::PreconditionFailed(_) => ErrorCode::PreconditionFailed,
            Self::Locked(_) => ErrorCode::Locked,
            Self::InsufficientStorage(_) => ErrorCode::InsufficientStorage,
            Self::MethodNotAllowed(_) => ErrorCode::MethodNotAllowed,
            Self::TooManyRequests { .. } => ErrorCode::TooManyRequests,
            Self::UpstreamError(_) => ErrorCode::UpstreamError,
            Self::UpstreamTimeout(_) => ErrorCode::UpstreamTimeout,
            Self::Unavailable(_) | Self::Busy { .. } => ErrorCode::Unavailable,
            Self::Database(_) | Self::Internal(_) => ErrorCode::Internal,
        }
    }

    /// The error a worker's coded failure stands for at the edge.
    pub fn from_code(code: ErrorCode, msg: String) -> Self {
        match code {
            ErrorCode::BadRequest => Self::BadRequest(msg),
            ErrorCode::Unauthorized => Self::Unauthorized(msg),
            ErrorCode::Forbidden => Self::Forbidden(msg),
            ErrorCode::NotFound => Self::NotFound(msg),
            ErrorCode::Conflict => Self::Conflict(msg),
            ErrorCode::Duplicate => Self::Duplicate {
                msg,
                retry_after: Duration::ZERO,
                holder: None,
            },
            ErrorCode::InsufficientStorage => Self::InsufficientStorage(msg),
            ErrorCode::PayloadTooLarge => Self::PayloadTooLarge(msg),
            ErrorCode::UnsupportedMediaType => Self::UnsupportedMediaType(msg),
            ErrorCode::PreconditionFailed => Self::PreconditionFailed(msg),
            ErrorCode::Locked => Self::Locked(msg),
            ErrorCode::UpstreamError => Self::UpstreamError(msg),
            ErrorCode::UpstreamTimeout => Self::UpstreamTimeout(msg),
            ErrorCode::Unavailable => Self::Unavailable(msg),
            ErrorCode::Internal => Self::Internal(anyhow::anyhow!(msg)),
            ErrorCode::MethodNotAllowed => Self::MethodNotAllowed(msg),
            ErrorCode::TooManyRequests => Self::TooManyRequests {
                msg,
                retry_after: Duration::ZERO,
            },
        }
    }
}

/// Database results whose unique-key violation is the client's mistake.
pub trait ResultExt<T> {
    /// A unique-key violation becomes a 409 `CONFLICT` saying `msg`; any
    /// other database error stays an opaque 500.
    fn on_unique_violation(self, msg: impl FnOnce() -> String) -> Result<T>;
}

impl<T> ResultExt<T> for std::result::Result<T, sea_orm::DbErr> {
    fn on_unique_violation(self, msg: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| match e.sql_err() {
            Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => Error::Conflict(msg()),
            _ => Error::Database(e),
        })
    }
}

/// Left in a response's extensions by [`Error::into_response`] so that
/// [`log_errors`], which runs inside the request span, can log the cause.
#[derive(Debug, Clone)]
pub struct LoggedError {
    pub code: ErrorCode,
    /// The whole cause chain, for the log only.
    pub detail: String,
}

/// How long a client is told to wait after a backend was unreachable.
const UNAVAILABLE_RETRY_AFTER: Duration = Duration::from_secs(5);

/// The `WWW-Authenticate` challenges of every 401: either scheme works.
const CHALLENGES: [&str; 2] = [
    r#"Basic realm="mercato", charset="UTF-8""#,
    r#"Bearer realm="mercato""#,
];

impl Error {
    /// What the body says. Server-side failures whose text may name
    /// internal addresses, URLs or a backend's own error (a database, the
    /// broker, a third party) get a fixed sentence instead: the text goes
    /// to the log with the request id.
    fn public_message(&self) -> String {
        match self {
            Self::Database(_) | Self::Internal(_) => "internal error".to_owned(),
            Self::UpstreamError(_) => {
                "a service Mercato depends on failed or answered nonsense".to_owned()
            }
            Self::UpstreamTimeout(_) => {
                "a service Mercato depends on did not answer in time".to_owned()
            }
            Self::Unavailable(_) => {
                "a backend Mercato depends on is unavailable; try again shortly".to_owned()
            }
            other => other.to_string(),
        }
    }

    /// The `Retry-After` of the answer, if waiting helps.
    fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Duplicate { retry_after, .. }
            | Self::TooManyRequests { retry_after, .. }
            | Self::Busy { retry_after, .. } => Some(*retry_after),
            Self::Unavailable(_) => Some(UNAVAILABLE_RETRY_AFTER),
            _ => None,
        }
    }
}

/// Seconds, rounded up, so a client never comes back too early; at least
/// 1, since a refusal that says "retry in 0 s" invites a busy loop (Redis
/// reports 0 ms left in the window's last millisecond).
pub fn retry_after_header(wait: Duration) -> HeaderValue {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    HeaderValue::from(seconds.max(1))
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let code = self.code();
        let msg = self.public_message();
        let detail = match &self {
            Self::Database(e) => format!("database error: {e}"),
            Self::Internal(e) => format!("{e:#}"),
            other => other.to_string(),
        };
        let ingest_id = match &self {
            Self::Duplicate { holder, .. } => *holder,
            _ => None,
        };
        let body = ErrorBody {
            code,
            msg,
            ingest_id,
        };
        let mut response = (code.status(), Json(body)).into_response();
        let headers = response.headers_mut();
        if let Some(wait) = self.retry_after() {
            headers.insert(header::RETRY_AFTER, retry_after_header(wait));
        }
        if code == ErrorCode::Unauthorized {
            for challenge in CHALLENGES {
                headers.append(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(challenge),
                );
            }
        }
        response
            .extensions_mut()
            .insert(LoggedError { code, detail });
        response
    }
}

/// Logs an error response with its cause: 5xx at `error`, 4xx at
/// `debug`. A `map_response` layer inside the trace layer, so the line
/// carries the request id.
pub fn log_errors(response: Response) -> Response {
    if let Some(error) = response.extensions().get::<LoggedError>() {
        if response.status().is_server_error() {
            tracing::error!(code = ?error.code, error = %error.detail, "request failed");
        } else {
            tracing::debug!(code = ?error.code, error = %error.detail, "request rejected");
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_of(error: Error) -> (StatusCode, Option<HeaderValue>, serde_json::Value) {
        let response = error.into_response();
        let status = response.status();
        let retry_after = response.headers().get(header::RETRY_AFTER).cloned();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .expect("body");
        (
            status,
            retry_after,
            serde_json::from_slice(&bytes).expect("json body"),
        )
    }

    #[tokio::test]
    async fn client_errors_show_their_message() {
        let (status, _, body) = body_of(Error::NotFound("product 42 not found".into())).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(
            body,
            serde_json::json!({"code": "NOT_FOUND", "msg": "product 42 not found"})
        );
    }

    #[tokio::test]
    async fn internal_errors_hide_their_cause() {
        let cause = anyhow::anyhow!("password=hunter2 in connection string");
        let (status, _, body) = body_of(Error::Internal(cause)).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            body,
            serde_json::json!({"code": "INTERNAL", "msg": "internal error"})
        );
    }

    #[tokio::test]
    async fn server_side_failures_show_no_internal_text() {
        let leaky = "stooq unreachable: error sending request for url (http://10.1.2.3:9100/q/l/?s=aapl.us)";
        for error in [
            Error::UpstreamError(leaky.into()),
            Error::UpstreamTimeout(leaky.into()),
            Error::Unavailable(leaky.into()),
        ] {
            let (status, _, body) = body_of(error).await;
            let msg = body["msg"].as_str().unwrap_or_default();
            assert!(status.is_server_error());
            assert!(!msg.contains("10.1.2.3") && !msg.contains("http"), "{msg}");
        }
    }

    #[tokio::test]
    async fn a_401_names_both_schemes_and_limits_say_when_to_retry() {
        let response = Error::Unauthorized("no".into()).into_response();
        let challenges: Vec<_> = response
            .headers()
            .get_all(header::WWW_AUTHENTICATE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .collect();
        assert_eq!(challenges.len(), 2, "{challenges:?}");
        let busy = Error::Busy {
            msg: "too many".into(),
            retry_after: Duration::from_secs(1),
        };
        let (status, retry_after, body) = body_of(busy).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(retry_after, Some(HeaderValue::from(1u64)));
        assert_eq!(
            body,
            serde_json::json!({"code": "UNAVAILABLE", "msg": "too many"})
        );
        let throttled = Error::TooManyRequests {
            msg: "slow down".into(),
            retry_after: Duration::from_millis(41_200),
        };
        let (status, retry_after, _) = body_of(throttled).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(retry_after, Some(HeaderValue::from(42u64)));
        let at_the_edge = Error::Duplicate {
            msg: "already accepted".into(),
            retry_after: Duration::ZERO,
            holder: None,
        };
        let (_, retry_after, _) = body_of(at_the_edge).await;
        assert_eq!(retry_after, Some(HeaderValue::from(1u64)), "never 0");
    }

    #[tokio::test]
    async fn duplicates_say_when_to_retry_rounded_up() {
        let error = Error::Duplicate {
            msg: "already accepted".into(),
            retry_after: Duration::from_millis(1_500),
            holder: Some(uuid::Uuid::nil()),
        };
        let (status, retry_after, body) = body_of(error).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(retry_after, Some(HeaderValue::from(2u64)));
        assert_eq!(body["code"], "DUPLICATE");
        assert_eq!(body["ingest_id"], uuid::Uuid::nil().to_string());
    }
}
