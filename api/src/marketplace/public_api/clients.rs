//! The public API layer's view of the listing and user services: typed
//! calls over their REST APIs, never their tables.
//!
//! Each client has a [`Transport`]. A service at a URL of its own is
//! called over HTTP, through one pooled `reqwest::Client` (keep-alive
//! connections are reused across requests) with a connect timeout and an
//! overall timeout of `SERVICE_TIMEOUT_MS`. A service of this same process
//! is called in-process by default (`SERVICES_IN_PROCESS`): the same
//! request goes to the internal listener's router, through the same
//! layers, and its answer is read the same way, minus the socket, the
//! HTTP encoding and two thread hand-offs. The microservice boundary stays
//! where it was: the public layer still sees only the services' REST
//! contracts, never their tables, and any of them can move to a process
//! of its own by setting its URL.
//!
//! A failure becomes a [`CallError`] that the public API layer answers
//! with: a service that cannot be reached is a 503, one that does not
//! answer in time a 504, one that answers nonsense a 502, so a client
//! never waits on a hung connection nor sees a bare 500.
//!
//! Users never change through seed 004's API (there is no update or
//! delete), so [`UserService`] keeps the users it has looked up for
//! `USER_CACHE_TTL_SECS`: a page of listings by users seen recently needs
//! no user-service request at all, and a page with unseen users one batch
//! request for those only.
//!
//! Length: over 400 lines only with its unit tests (the cache, and each
//! answer of the in-process transport), which stay beside the code they
//! test.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::header::CONTENT_TYPE;
use axum::http::{Method, Request, StatusCode};
use platform::{Clock, ErrorCode, Timestamp};
use serde::de::DeserializeOwned;
use tower::ServiceExt as _;
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
struct Call {
    method: Method,
    path: Vec<String>,
    query: Vec<(&'static str, String)>,
    form: Option<Vec<(&'static str, String)>>,
}

impl Call {
    fn get(path: &[&str], query: Vec<(&'static str, String)>) -> Self {
        Self {
            method: Method::GET,
            path: path.iter().map(|segment| (*segment).to_owned()).collect(),
            query,
            form: None,
        }
    }

    fn post(path: &[&str], form: Vec<(&'static str, String)>) -> Self {
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
    async fn call<T: DeserializeOwned>(
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

/// The listing service, at `LISTING_SERVICE_URL` or in this process.
#[derive(Clone)]
pub struct ListingService {
    transport: Transport,
}

impl ListingService {
    const NAME: &str = "listing service";

    pub fn new(transport: Transport) -> Self {
        Self { transport }
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
        let answer: ListingsPage = self
            .transport
            .call(Self::NAME, Call::get(&["listings"], query))
            .await?;
        Ok(answer.listings)
    }

    pub async fn create(&self, listing: NewListing) -> Result<Listing, CallError> {
        let form = vec![
            ("user_id", listing.user_id.get().to_string()),
            ("listing_type", listing.listing_type.as_str().to_owned()),
            ("price", listing.price.get().to_string()),
        ];
        let answer: ListingCreated = self
            .transport
            .call(Self::NAME, Call::post(&["listings"], form))
            .await?;
        Ok(answer.listing)
    }
}

/// The user service, at `USER_SERVICE_URL` or in this process.
#[derive(Clone)]
pub struct UserService {
    transport: Transport,
    cache: Arc<UserCache>,
}

impl UserService {
    const NAME: &str = "user service";

    /// `cache_ttl` of zero turns the cache off.
    pub fn new(transport: Transport, cache_ttl: Duration, clock: Clock) -> Self {
        Self {
            transport,
            cache: Arc::new(UserCache::new(cache_ttl, clock)),
        }
    }

    /// The user with this id, `None` if the service does not know it.
    pub async fn find(&self, id: UserId) -> Result<Option<User>, CallError> {
        if let Some(user) = self.cache.get(id) {
            return Ok(Some(user));
        }
        let id = id.get().to_string();
        let call = Call::get(&["users", &id], Vec::new());
        match self.transport.call::<UserFound>(Self::NAME, call).await {
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
        let call = Call::get(&["users"], vec![("ids", missing)]);
        let answer: UsersPage = self.transport.call(Self::NAME, call).await?;
        self.cache.put(&answer.users);
        users.extend(answer.users);
        Ok(users)
    }

    pub async fn create(&self, name: UserName) -> Result<User, CallError> {
        let call = Call::post(&["users"], vec![("name", name.into_inner())]);
        let answer: UserFound = self.transport.call(Self::NAME, call).await?;
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

    /// A user service of one route, answering `answer` to any user's id.
    fn user_service_answering(answer: (StatusCode, &'static str)) -> Router {
        Router::new().route(
            "/users/{id}",
            axum::routing::get(move || async move { answer }),
        )
    }

    fn in_process(services: &LocalServices, timeout: Duration) -> UserService {
        let transport = Transport::InProcess {
            services: services.clone(),
            timeout,
        };
        UserService::new(transport, Duration::ZERO, Clock::system())
    }

    #[tokio::test]
    async fn an_in_process_call_reads_the_services_answers_without_a_socket() {
        let found = r#"{"result": true, "user": {"id": 7, "name": "Ana", "created_at": 1, "updated_at": 2}}"#;
        let services = LocalServices::default();
        let _serving = services.serve(user_service_answering((StatusCode::OK, found)));

        let user = in_process(&services, Duration::from_secs(5))
            .find(ids(&[7])[0])
            .await
            .expect("an answer");

        assert_eq!(user.map(|user| user.name), Some("Ana".to_owned()));
    }

    #[tokio::test]
    async fn an_in_process_refusal_and_a_5xx_are_read_as_over_http() {
        let missing = r#"{"result": false, "errors": "user not found"}"#;
        let services = LocalServices::default();
        let _serving = services.serve(user_service_answering((StatusCode::NOT_FOUND, missing)));
        let users = in_process(&services, Duration::from_secs(5));
        assert_eq!(users.find(ids(&[7])[0]).await.expect("an answer"), None);

        let broken = LocalServices::default();
        let _serving = broken.serve(user_service_answering((
            StatusCode::INTERNAL_SERVER_ERROR,
            "",
        )));
        let e = in_process(&broken, Duration::from_secs(5))
            .find(ids(&[7])[0])
            .await
            .expect_err("a 500");
        assert_eq!(e.status_and_code().0, StatusCode::BAD_GATEWAY);
    }

    #[tokio::test]
    async fn an_in_process_service_no_longer_served_is_unavailable() {
        let services = LocalServices::default();
        let users = in_process(&services, Duration::from_secs(5));
        let e = users.find(ids(&[7])[0]).await.expect_err("not served yet");
        assert_eq!(e.status_and_code().0, StatusCode::SERVICE_UNAVAILABLE);

        drop(services.serve(user_service_answering((StatusCode::OK, "{}"))));
        let e = users.find(ids(&[7])[0]).await.expect_err("served no more");
        assert_eq!(e.status_and_code().0, StatusCode::SERVICE_UNAVAILABLE);
    }

    #[tokio::test(start_paused = true)]
    async fn an_in_process_service_slower_than_the_timeout_is_a_504() {
        let services = LocalServices::default();
        let _serving = services.serve(Router::new().route(
            "/users/{id}",
            axum::routing::get(|| async {
                tokio::time::sleep(Duration::from_secs(60)).await;
                "{}"
            }),
        ));

        let e = in_process(&services, Duration::from_secs(5))
            .find(ids(&[7])[0])
            .await
            .expect_err("too slow");

        assert!(matches!(e, CallError::Timeout { .. }), "{e}");
        assert_eq!(e.status_and_code().0, StatusCode::GATEWAY_TIMEOUT);
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
