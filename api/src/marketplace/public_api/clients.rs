//! The public API layer's view of the listing and user services: typed
//! calls over their REST APIs, never their tables.
//!
//! Both share one pooled `reqwest::Client` (keep-alive connections are
//! reused across requests) with a connect timeout and an overall timeout
//! of `SERVICE_TIMEOUT_MS`. A failure becomes a [`CallError`] that the
//! public API layer answers with: a service that cannot be reached is a
//! 503, one that does not answer in time a 504, one that answers nonsense
//! a 502, so a client never waits on a hung connection nor sees a bare 500.
//!
//! Users never change through seed 004's API (there is no update or
//! delete), so [`UserService`] keeps the users it has looked up for
//! `USER_CACHE_TTL_SECS`: a page of listings by users seen recently needs
//! no user-service request at all, and a page with unseen users one batch
//! request for those only.
//!
//! Length: over 400 lines only with its unit tests, which stay beside the
//! code they test.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use platform::{Clock, ErrorCode, Timestamp};
use serde::de::DeserializeOwned;
use url::Url;

use crate::marketplace::envelope::{EnvelopeError, Errors, Failure};
use crate::marketplace::listings::{Listing, NewListing};
use crate::marketplace::users::{User, UserId, UserName};
use crate::marketplace::wire::{ListingCreated, ListingsPage, UserFound, UsersPage};
use crate::web::paging::PageRequest;

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
    cache: Arc<UserCache>,
}

impl UserService {
    const NAME: &str = "user service";

    /// `cache_ttl` of zero turns the cache off.
    pub fn new(http: reqwest::Client, base: &Url, cache_ttl: Duration, clock: Clock) -> Self {
        Self {
            http,
            users: endpoint(base, "users"),
            cache: Arc::new(UserCache::new(cache_ttl, clock)),
        }
    }

    /// The user with this id, `None` if the service does not know it.
    pub async fn find(&self, id: UserId) -> Result<Option<User>, CallError> {
        if let Some(user) = self.cache.get(id) {
            return Ok(Some(user));
        }
        let url = endpoint(&self.users, &id.get().to_string());
        match call::<UserFound>(Self::NAME, self.http.get(url)).await {
            Ok(answer) => {
                self.cache.put(std::slice::from_ref(&answer.user));
                Ok(Some(answer.user))
            }
            Err(CallError::Refused {
                status: StatusCode::NOT_FOUND,
                ..
            }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The users with these ids: those not in the cache in one request
    /// (`GET /users?ids=1,2,3`), or none if all are. Ids the service does
    /// not know are left out. At most [`PageRequest::MAX_SIZE`] ids, one
    /// page's worth.
    pub async fn find_many(&self, ids: &[UserId]) -> Result<Vec<User>, CallError> {
        let (mut users, missing) = self.cache.get_many(ids);
        if missing.is_empty() {
            return Ok(users);
        }
        let missing = missing
            .iter()
            .map(|id| id.get().to_string())
            .collect::<Vec<_>>()
            .join(",");
        let request = self.http.get(self.users.clone()).query(&[("ids", missing)]);
        let answer: UsersPage = call(Self::NAME, request).await?;
        self.cache.put(&answer.users);
        users.extend(answer.users);
        Ok(users)
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

/// Users already looked up, each kept for the cache's time to live. It
/// holds at most [`UserCache::CAPACITY`] users and starts over when full:
/// simple, bounded, and a full page's users come back in one request.
/// Unknown users are not remembered, so a user created later is found.
#[derive(Debug)]
struct UserCache {
    ttl: Duration,
    clock: Clock,
    /// User id → the user and when it was fetched.
    entries: Mutex<HashMap<i64, (User, Timestamp)>>,
}

impl UserCache {
    const CAPACITY: usize = 10_000;

    fn new(ttl: Duration, clock: Clock) -> Self {
        Self {
            ttl,
            clock,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn get(&self, id: UserId) -> Option<User> {
        let (mut found, _) = self.get_many(&[id]);
        found.pop()
    }

    /// The fresh cached users among `ids`, and the ids still to fetch.
    fn get_many(&self, ids: &[UserId]) -> (Vec<User>, Vec<UserId>) {
        if self.ttl.is_zero() {
            return (Vec::new(), ids.to_vec());
        }
        let now = self.clock.now();
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let mut found = Vec::with_capacity(ids.len());
        let mut missing = Vec::new();
        for &id in ids {
            match entries.get(&id.get()) {
                Some((user, fetched)) if now.since(*fetched) < self.ttl => {
                    found.push(user.clone());
                }
                _ => missing.push(id),
            }
        }
        (found, missing)
    }

    fn put(&self, users: &[User]) {
        if self.ttl.is_zero() || users.is_empty() {
            return;
        }
        let now = self.clock.now();
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() + users.len() > Self::CAPACITY {
            entries.clear();
        }
        for user in users {
            entries.insert(user.id, (user.clone(), now));
        }
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

    fn user(id: i64) -> User {
        User {
            id,
            name: format!("user {id}"),
            created_at: 1,
            updated_at: 1,
        }
    }

    fn ids(raw: &[i64]) -> Vec<UserId> {
        raw.iter()
            .map(|id| UserId::try_from(*id).expect("positive"))
            .collect()
    }

    #[test]
    fn cached_users_are_served_until_their_time_to_live_runs_out() {
        let clock = Clock::frozen_at_micros(1_000_000);
        let cache = UserCache::new(Duration::from_secs(60), clock.clone());
        cache.put(&[user(1), user(2)]);

        let (found, missing) = cache.get_many(&ids(&[1, 2, 3]));
        assert_eq!(found, [user(1), user(2)]);
        assert_eq!(missing, ids(&[3]));

        clock.set_micros(1_000_000 + 60_000_000);
        let (found, missing) = cache.get_many(&ids(&[1, 2]));
        assert!(found.is_empty());
        assert_eq!(missing, ids(&[1, 2]));
    }

    #[test]
    fn a_zero_time_to_live_caches_nothing() {
        let cache = UserCache::new(Duration::ZERO, Clock::system());
        cache.put(&[user(1)]);
        assert_eq!(cache.get(ids(&[1])[0]), None);
    }

    #[test]
    fn a_full_cache_starts_over() {
        let cache = UserCache::new(Duration::from_secs(60), Clock::system());
        let many: Vec<User> = (1..=UserCache::CAPACITY as i64).map(user).collect();
        cache.put(&many);
        cache.put(&[user(0)]);
        let (found, _) = cache.get_many(&ids(&[1]));
        assert!(found.is_empty());
        assert_eq!(cache.entries.lock().expect("lock").len(), 1);
    }

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
