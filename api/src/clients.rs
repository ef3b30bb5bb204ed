//! The public API layer's view of the listing and user services: typed
//! calls over their REST APIs, never their tables.
//!
//! Both share one pooled `reqwest::Client` (keep-alive connections are
//! reused across requests) with a connect timeout and an overall timeout
//! of `SERVICE_TIMEOUT_MS`. A failure becomes a [`CallError`] that the
//! public API layer answers with: a service that cannot be reached is a
//! 503, one that does not answer in time a 504, one that answers nonsense
//! a 502, so a client never waits on a hung connection nor sees a bare 500.

use std::time::Duration;

use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use shared::ErrorCode;
use url::Url;

use crate::domain::{Listing, NewListing, PageRequest, User, UserId, UserName};
use crate::http::envelope::{Errors, Failure};
use crate::http::listings::{ListingCreated, ListingsPage};
use crate::http::users::{UserFound, UsersPage};

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

/// Builds the client both services are called through.
pub fn http_client(timeout: Duration) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .connect_timeout(timeout.min(Duration::from_secs(2)))
        .timeout(timeout)
        .tcp_nodelay(true)
        .pool_idle_timeout(Duration::from_secs(60))
        .build()?)
}

/// The listing service, at `LISTING_SERVICE_URL`.
#[derive(Debug, Clone)]
pub struct ListingService {
    http: reqwest::Client,
    listings: Url,
}

impl ListingService {
    const NAME: &str = "listing service";

    pub fn new(http: reqwest::Client, base: &Url) -> Self {
        Self {
            http,
            listings: endpoint(base, "listings"),
        }
    }

    /// One page of listings, newest first, optionally of one user only.
    pub async fn page(
        &self,
        page: PageRequest,
        user_id: Option<UserId>,
    ) -> Result<Vec<Listing>, CallError> {
        let mut query = vec![
            ("page_num", page.num().to_string()),
            ("page_size", page.size().to_string()),
        ];
        if let Some(user_id) = user_id {
            query.push(("user_id", user_id.get().to_string()));
        }
        let request = self.http.get(self.listings.clone()).query(&query);
        let answer: ListingsPage = call(Self::NAME, request).await?;
        Ok(answer.listings)
    }

    pub async fn create(&self, listing: NewListing) -> Result<Listing, CallError> {
        let form = [
            ("user_id", listing.user_id.get().to_string()),
            ("listing_type", listing.listing_type.as_str().to_owned()),
            ("price", listing.price.get().to_string()),
        ];
        let request = self.http.post(self.listings.clone()).form(&form);
        let answer: ListingCreated = call(Self::NAME, request).await?;
        Ok(answer.listing)
    }
}

/// The user service, at `USER_SERVICE_URL`.
#[derive(Debug, Clone)]
pub struct UserService {
    http: reqwest::Client,
    users: Url,
}

impl UserService {
    const NAME: &str = "user service";

    pub fn new(http: reqwest::Client, base: &Url) -> Self {
        Self {
            http,
            users: endpoint(base, "users"),
        }
    }

    /// The user with this id, `None` if the service does not know it.
    pub async fn find(&self, id: UserId) -> Result<Option<User>, CallError> {
        let url = endpoint(&self.users, &id.get().to_string());
        match call::<UserFound>(Self::NAME, self.http.get(url)).await {
            Ok(answer) => Ok(Some(answer.user)),
            Err(CallError::Refused {
                status: StatusCode::NOT_FOUND,
                ..
            }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The users with these ids, in one request (`GET /users?ids=1,2,3`);
    /// ids the service does not know are left out. At most
    /// [`PageRequest::MAX_SIZE`] ids, one page's worth.
    pub async fn find_many(&self, ids: &[UserId]) -> Result<Vec<User>, CallError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = ids
            .iter()
            .map(|id| id.get().to_string())
            .collect::<Vec<_>>()
            .join(",");
        let request = self.http.get(self.users.clone()).query(&[("ids", ids)]);
        let answer: UsersPage = call(Self::NAME, request).await?;
        Ok(answer.users)
    }

    pub async fn create(&self, name: UserName) -> Result<User, CallError> {
        let request = self
            .http
            .post(self.users.clone())
            .form(&[("name", name.into_inner())]);
        let answer: UserFound = call(Self::NAME, request).await?;
        Ok(answer.user)
    }
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

/// Sends `request` and decodes a 2xx answer as `T`; a 4xx in the
/// service's envelope is a [`CallError::Refused`], anything else a
/// [`CallError`] by its cause.
async fn call<T: DeserializeOwned>(
    service: &'static str,
    request: reqwest::RequestBuilder,
) -> Result<T, CallError> {
    let response = request.send().await.map_err(|e| transport(service, &e))?;
    let status = response.status();
    let body = response.bytes().await.map_err(|e| transport(service, &e))?;
    if status.is_success() {
        return serde_json::from_slice(&body).map_err(|e| CallError::BadAnswer {
            service,
            detail: format!("undecodable answer: {e}"),
        });
    }
    if status.is_client_error()
        && let Ok(failure) = serde_json::from_slice::<Failure>(&body)
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
