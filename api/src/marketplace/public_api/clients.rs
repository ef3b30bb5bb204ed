//! The public API layer's view of the listing and user services: typed
//! calls over their REST APIs, never their tables, through a
//! [`Transport`] (in-process or HTTP).
//!
//! Users never change through seed 004's API (there is no update or
//! delete), so [`UserService`] keeps the users it has looked up for
//! `USER_CACHE_TTL_SECS`: a page of listings by users seen recently needs
//! no user-service request at all, and a page with unseen users one batch
//! request for those only.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use platform::{Clock, Timestamp};

use super::transport::{Call, CallError, Transport};
use crate::marketplace::listings::{Listing, NewListing};
use crate::marketplace::users::{User, UserId, UserName};
use crate::marketplace::wire::{ListingCreated, ListingsPage, UserFound, UsersPage};
use crate::web::paging::PageRequest;

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

#[cfg(test)]
mod tests {
    use axum::Router;

    use super::*;
    use crate::marketplace::public_api::transport::LocalServices;

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
}
