//! How the public API layer reaches the listing and user services, and
//! what a failed call becomes.
//!
//! A service at a URL of its own is called over HTTP, through one pooled
//! `reqwest::Client` (keep-alive connections are reused across requests)
//! with a connect timeout and an overall timeout of `SERVICE_TIMEOUT_MS`.
//! A service of this same process is called in-process by default
//! (`SERVICES_IN_PROCESS`): the same request goes to the internal
//! listener's router, through the same layers, and its answer is read the
//! same way, minus the socket, the HTTP encoding and two thread hand-offs.
//! The microservice boundary stays where it was: the public layer still
//! sees only the services' REST contracts, never their tables, and any of
//! them can move to a process of its own by setting its URL.
//!
//! A failure becomes a [`CallError`] that the public API layer answers
//! with: a service that cannot be reached is a 503, one that does not
//! answer in time a 504, one that answers nonsense a 502, so a client
//! never waits on a hung connection nor sees a bare 500.

use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::header::CONTENT_TYPE;
use axum::http::{Method, Request, StatusCode};
use platform::ErrorCode;
use serde::de::DeserializeOwned;
use tower::ServiceExt as _;
use url::Url;

use crate::marketplace::envelope::{EnvelopeError, Errors, Failure};

/// Why a call to the listing or user service failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The connection was refused or dropped: 503.
    #[error("{service} unavailable: {detail}")]
    Unavailable {
        service: &'static str,
        detail: String,
    },
    /// No answer within `SERVICE_TIMEOUT_MS`: 504.
    #[error("{service} timed out")]
    Timeout { service: &'static str },
    /// An answer outside the service's contract (a 5xx, a body that does
    /// not decode): 502.
    #[error("{service} failed: {detail}")]
    BadAnswer {
        service: &'static str,
        detail: String,
    },
    /// The service refused the request with a 4xx in its own envelope: the
    /// public API layer passes it on as it is.
    #[error("{service} refused the request ({status})")]
    Refused {
        service: &'static str,
        status: StatusCode,
        errors: Errors,
    },
}

impl CallError {
    pub fn status_and_code(&self) -> (StatusCode, ErrorCode) {
        match self {
            Self::Unavailable { .. } => (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Unavailable),
            Self::Timeout { .. } => (StatusCode::GATEWAY_TIMEOUT, ErrorCode::UpstreamTimeout),
            Self::BadAnswer { .. } => (StatusCode::BAD_GATEWAY, ErrorCode::UpstreamError),
            Self::Refused { status, .. } => (*status, ErrorCode::BadRequest),
        }
    }

    /// What the caller is shown: the service's own errors for a refusal,
    /// else one message naming the service and what went wrong, without
    /// the internal detail (which is logged).
    pub fn into_errors(self) -> Errors {
        match self {
            Self::Refused { errors, .. } => errors,
            Self::Unavailable { service, .. } => {
                Errors::Many(vec![format!("{service} unavailable")])
            }
            Self::Timeout { service } => Errors::Many(vec![format!("{service} timed out")]),
            Self::BadAnswer { service, .. } => Errors::Many(vec![format!("{service} failed")]),
        }
    }
}

/// How the public API layer answers for a failed call.
impl From<CallError> for EnvelopeError {
    fn from(e: CallError) -> Self {
        let (status, code) = e.status_and_code();
        let detail = e.to_string();
        Self::Downstream {
            status,
            code,
            errors: e.into_errors(),
            detail,
        }
    }
}

/// How a client reaches its service.
#[derive(Clone)]
pub enum Transport {
    /// Over HTTP, at the service's base URL: another process, or this
    /// one's internal listener.
    Http { http: reqwest::Client, base: Url },
    /// Through the router of this process's internal listener, without a
    /// socket: the same requests, the same layers and the same answers,
    /// read the same way, in at most `timeout`.
    InProcess {
        services: LocalServices,
        timeout: Duration,
    },
}

/// The internal listener's router, for clients in the same process. They
/// hold it weakly, since the router holds the state that holds them: it is
/// there while [`LocalServices::serve`]'s handle is kept, and a call
/// without it finds the service unavailable.
#[derive(Debug, Clone, Default)]
pub struct LocalServices(Arc<OnceLock<Weak<Router>>>);

impl LocalServices {
    /// Makes `router` the services' router for as long as the returned
    /// handle is kept.
    pub fn serve(&self, router: Router) -> Arc<Router> {
        let router = Arc::new(router);
        self.0.set(Arc::downgrade(&router)).ok();
        router
    }

    fn router(&self) -> Option<Router> {
        self.0.get()?.upgrade().map(|router| Router::clone(&router))
    }
}

/// One request to a service: a path under its base, query parameters,
/// and a form body for a `POST`.
pub(super) struct Call {
    method: Method,
    path: Vec<String>,
    query: Vec<(&'static str, String)>,
    form: Option<Vec<(&'static str, String)>>,
}

impl Call {
    pub(super) fn get(path: &[&str], query: Vec<(&'static str, String)>) -> Self {
        Self {
            method: Method::GET,
            path: path.iter().map(|segment| (*segment).to_owned()).collect(),
            query,
            form: None,
        }
    }

    pub(super) fn post(path: &[&str], form: Vec<(&'static str, String)>) -> Self {
        Self {
            method: Method::POST,
            path: path.iter().map(|segment| (*segment).to_owned()).collect(),
            query: Vec::new(),
            form: Some(form),
        }
    }
}

impl Transport {
    /// Sends `call` and decodes a 2xx answer as `T`; a 4xx in the
    /// service's envelope is a [`CallError::Refused`], anything else a
    /// [`CallError`] by its cause.
    pub(super) async fn call<T: DeserializeOwned>(
        &self,
        service: &'static str,
        call: Call,
    ) -> Result<T, CallError> {
        let (status, body) = match self {
            Self::Http { http, base } => over_http(http, base, service, call).await?,
            Self::InProcess { services, timeout } => {
                let router = services.router().ok_or_else(|| CallError::Unavailable {
                    service,
                    detail: "this process does not serve it (yet, or any more)".to_owned(),
                })?;
                tokio::time::timeout(*timeout, in_process(router, service, call))
                    .await
                    .map_err(|_| CallError::Timeout { service })??
            }
        };
        decode(service, status, &body)
    }
}

async fn over_http(
    http: &reqwest::Client,
    base: &Url,
    service: &'static str,
    call: Call,
) -> Result<(StatusCode, Bytes), CallError> {
    let url = call
        .path
        .iter()
        .fold(base.clone(), |url, segment| endpoint(&url, segment));
    let mut request = http.request(call.method, url);
    if !call.query.is_empty() {
        request = request.query(&call.query);
    }
    if let Some(form) = &call.form {
        request = request.form(form);
    }
    let response = request.send().await.map_err(|e| transport(service, &e))?;
    let status = response.status();
    let body = response.bytes().await.map_err(|e| transport(service, &e))?;
    Ok((status, body))
}

async fn in_process(
    router: Router,
    service: &'static str,
    call: Call,
) -> Result<(StatusCode, Bytes), CallError> {
    let mut uri = format!("/{}", call.path.join("/"));
    if !call.query.is_empty() {
        uri.push('?');
        uri.push_str(&urlencoded(&call.query));
    }
    let mut request = Request::builder().method(call.method).uri(uri);
    let body = match &call.form {
        Some(form) => {
            request = request.header(CONTENT_TYPE, "application/x-www-form-urlencoded");
            Body::from(urlencoded(form))
        }
        None => Body::empty(),
    };
    let bad_answer = |detail: String| CallError::BadAnswer { service, detail };
    let request = request
        .body(body)
        .map_err(|e| bad_answer(format!("cannot build the request: {e}")))?;
    let response = router
        .oneshot(request)
        .await
        .unwrap_or_else(|never| match never {});
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), platform::http::MAX_ANSWER_BYTES)
        .await
        .map_err(|e| bad_answer(format!("unreadable answer: {e}")))?;
    Ok((status, body))
}

fn urlencoded(pairs: &[(&'static str, String)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// `base` with one more path segment, whether or not `base` ends in `/`.
fn endpoint(base: &Url, segment: &str) -> Url {
    let mut url = base.clone();
    url.path_segments_mut()
        .map(|mut segments| {
            segments.pop_if_empty().push(segment);
        })
        .ok();
    url
}

/// A 2xx answer decoded as `T`; a 4xx in the service's envelope is a
/// [`CallError::Refused`], anything else a [`CallError::BadAnswer`].
fn decode<T: DeserializeOwned>(
    service: &'static str,
    status: StatusCode,
    body: &[u8],
) -> Result<T, CallError> {
    if status.is_success() {
        return serde_json::from_slice(body).map_err(|e| CallError::BadAnswer {
            service,
            detail: format!("undecodable answer: {e}"),
        });
    }
    if status.is_client_error()
        && let Ok(failure) = serde_json::from_slice::<Failure>(body)
    {
        return Err(CallError::Refused {
            service,
            status,
            errors: failure.errors,
        });
    }
    Err(CallError::BadAnswer {
        service,
        detail: format!("answered {status}"),
    })
}

fn transport(service: &'static str, e: &reqwest::Error) -> CallError {
    if e.is_timeout() {
        CallError::Timeout { service }
    } else if e.is_connect() {
        CallError::Unavailable {
            service,
            detail: format!("{e:#}"),
        }
    } else {
        CallError::BadAnswer {
            service,
            detail: format!("{e:#}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_extend_the_base_path() {
        let cases = [
            ("http://127.0.0.1:8081", "http://127.0.0.1:8081/users"),
            ("http://127.0.0.1:8081/", "http://127.0.0.1:8081/users"),
            ("http://svc/user-service", "http://svc/user-service/users"),
            ("http://svc/user-service/", "http://svc/user-service/users"),
        ];
        for (base, expected) in cases {
            let base = Url::parse(base).expect("a URL");
            assert_eq!(endpoint(&base, "users").as_str(), expected);
        }
    }
}
