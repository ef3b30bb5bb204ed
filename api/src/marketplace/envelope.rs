//! Seed 004's envelope, kept exactly for the listing service, the user
//! service and the public API layer (SPEC section 7), instead of the
//! `{"code","msg"}` body of the rest of the API:
//!
//! - success: `{"result": true, "<name>": ...}` (the public API layer's
//!   creations answer `{"<name>": ...}` alone, as the seed shows);
//! - failure: `{"result": false, "errors": ...}`, where `errors` is a string
//!   for a query or path value that does not parse (as the original listing
//!   service answered) and a list of messages otherwise.
//!
//! Inputs are read the way the original Tornado service read them: [`Args`]
//! holds the query's arguments, then a form-encoded body's (never on a
//! `GET` or `HEAD`, which read no body), and a repeated name takes its last
//! value. Both run the control-character check ([`crate::web::text`]) first. The public API layer's JSON bodies are read
//! into the same shape by [`JsonArgs`], so one set of parsers checks both.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use platform::ErrorCode;
use platform::error::LoggedError;
use serde::{Deserialize, Serialize};
use url::form_urlencoded;
use utoipa::ToSchema;

/// Every failure of seed 004's routes.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    /// 400, `errors` a string: a query or path value that does not parse.
    #[error("{0}")]
    BadParameter(String),
    /// 400, `errors` a list: every failed check of a form or body, in order.
    #[error("{}", .0.join("; "))]
    Invalid(Vec<String>),
    /// 404, `errors` a list of one.
    #[error("{0}")]
    NotFound(String),
    /// 413, `errors` a list of one: a body over the buffering limit.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// 502, 503 or 504 (or the service's own 4xx, passed on): the listing
    /// or user service failed the public API layer. `errors` is what the
    /// caller is shown; `detail`, logged, says what went wrong.
    #[error("{detail}")]
    Downstream {
        status: StatusCode,
        code: ErrorCode,
        errors: Errors,
        detail: String,
    },
    /// 500: the database or anything else unexpected. The cause is logged,
    /// never shown.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sea_orm::DbErr> for EnvelopeError {
    fn from(e: sea_orm::DbErr) -> Self {
        Self::Internal(anyhow::Error::new(e).context("database error"))
    }
}

/// `errors`: one message, or every message in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum Errors {
    One(String),
    Many(Vec<String>),
}

/// The body of every failure of seed 004's routes.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Failure {
    /// Always `false`.
    pub result: bool,
    pub errors: Errors,
}

impl IntoResponse for EnvelopeError {
    fn into_response(self) -> Response {
        let detail = format!("{self:#}");
        let (status, code, errors) = match self {
            Self::BadParameter(msg) => (
                StatusCode::BAD_REQUEST,
                ErrorCode::BadRequest,
                Errors::One(msg),
            ),
            Self::Invalid(msgs) => (
                StatusCode::BAD_REQUEST,
                ErrorCode::BadRequest,
                Errors::Many(msgs),
            ),
            Self::NotFound(msg) => (
                StatusCode::NOT_FOUND,
                ErrorCode::NotFound,
                Errors::Many(vec![msg]),
            ),
            Self::PayloadTooLarge(msg) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::PayloadTooLarge,
                Errors::Many(vec![msg]),
            ),
            Self::Downstream {
                status,
                code,
                errors,
                ..
            } => (status, code, errors),
            Self::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorCode::Internal,
                Errors::Many(vec!["internal error".to_owned()]),
            ),
        };
        let body = Failure {
            result: false,
            errors,
        };
        let mut response = (status, axum::Json(body)).into_response();
        response
            .extensions_mut()
            .insert(LoggedError { code, detail });
        response
    }
}

/// Arguments of a request, read as Tornado's `get_argument` reads them:
/// the query string, then a form-encoded body; the last value of a name wins.
#[derive(Debug, Clone, Default)]
pub struct Args(Vec<(String, String)>);

impl Args {
    /// The last value given for `name`, if any.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

impl<S: Send + Sync> FromRequest<S> for Args {
    type Rejection = EnvelopeError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let query = request.uri().query().unwrap_or_default().as_bytes();
        crate::web::text::check_form(query)
            .map_err(|e| EnvelopeError::BadParameter(e.to_string()))?;
        let mut args: Vec<(String, String)> = form_urlencoded::parse(query).into_owned().collect();
        let reads_body = !matches!(*request.method(), Method::GET | Method::HEAD);
        let is_form = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.starts_with("application/x-www-form-urlencoded"));
        if reads_body && is_form {
            let body = Bytes::from_request(request, state)
                .await
                .map_err(body_rejected)?;
            crate::web::text::check_form(&body)
                .map_err(|e| EnvelopeError::Invalid(vec![e.to_string()]))?;
            args.extend(form_urlencoded::parse(&body).into_owned());
        }
        Ok(Self(args))
    }
}

/// A JSON object body, its string and number members read as arguments.
/// Numbers are kept in their JSON spelling, so `6000` and `"6000"` are
/// both a valid price and `6000.5` is not; any other type counts as absent.
#[derive(Debug, Clone, Default)]
pub struct JsonArgs(serde_json::Map<String, serde_json::Value>);

impl JsonArgs {
    pub fn get(&self, name: &str) -> Option<String> {
        match self.0.get(name)? {
            serde_json::Value::String(value) => Some(value.clone()),
            serde_json::Value::Number(value) => Some(value.to_string()),
            _ => None,
        }
    }
}

impl<S: Send + Sync> FromRequest<S> for JsonArgs {
    type Rejection = EnvelopeError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let body = Bytes::from_request(request, state)
            .await
            .map_err(body_rejected)?;
        crate::web::text::check_json(&body)
            .map_err(|e| EnvelopeError::Invalid(vec![e.to_string()]))?;
        match serde_json::from_slice(&body) {
            Ok(serde_json::Value::Object(members)) => Ok(Self(members)),
            Ok(_) => Err(EnvelopeError::Invalid(vec![
                "invalid body. Must be a JSON object".to_owned(),
            ])),
            Err(e) => Err(EnvelopeError::Invalid(vec![format!(
                "invalid body. Not JSON: {e}"
            )])),
        }
    }
}

fn body_rejected(rejection: BytesRejection) -> EnvelopeError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        EnvelopeError::PayloadTooLarge(rejection.body_text())
    } else {
        EnvelopeError::Invalid(vec![rejection.body_text()])
    }
}
