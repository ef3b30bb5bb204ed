//! What keeps password checks from being a way to exhaust a process
//! (SPEC section 10, "Password hashing").
//!
//! An argon2id check costs tens of milliseconds of CPU and 19 MiB of
//! memory, on purpose. Unbounded, 300 clients sending wrong passwords took
//! a replica to 6 to 18 GB. So every check goes through a [`PasswordGuard`]:
//!
//! - **Turns:** at most `AUTH_HASH_CONCURRENCY` checks run at once; a
//!   check waits at most `AUTH_HASH_WAIT_MS` for its turn, then the
//!   request is answered 503 with `Retry-After`. Waiting costs no memory
//!   to speak of, so the process stays at a few checks' worth of memory
//!   whatever the load.
//! - **Threads of their own:** the checks run on `AUTH_HASH_CONCURRENCY`
//!   threads kept for them, not on the blocking pool, each reusing one
//!   argon2 buffer (`password_matches`). The allocator keeps freed 19 MiB
//!   blocks in the arena of the thread that used them: with only the
//!   turns, checks spread over the pool's threads and a flood still
//!   reached 351 MB; on two threads with one buffer each, 80 MB (45 MB of
//!   it the idle process).
//! - **Throttle:** a client address that failed `AUTH_MAX_FAILURES`
//!   checks within a minute gets 429 with `Retry-After` on every password
//!   check until that minute is out, before any hashing. Successes do not
//!   count. IPv6 clients are counted per /64, the block one host usually
//!   has. The counts are this process's own: behind a balancer, each
//!   replica throttles on its own.
//! - **Remembered credentials:** a Basic credential that verified is
//!   remembered for `AUTH_CACHE_TTL_SECS`, under a BLAKE3 hash keyed with
//!   a random per-process key (the password itself is never kept), so a
//!   Basic client pays argon2 once a minute instead of on every request.
//!   A remembered credential goes through even while its address is
//!   throttled: it proves the password, which is what the throttle guards.
//!
//! Both maps are bounded; when one is full, entries past their time go
//! first, and if that is not enough the map starts afresh.
//!
//! The throttle is a small map of our own rather than `governor`: governor
//! counts every request against a rate, while this counts only failures,
//! and must tell whether an address is over its limit without spending
//! a unit of it. The remembered credentials are a map too rather than
//! `moka`: one `HashMap` under a mutex, with a size cap, is all it needs.
//!
//! Length: over 400 lines only with its unit tests, which stay beside the
//! code they test.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderName;
use axum::http::request::Parts;
use platform::metrics::{self, IntCounterVec, Metrics, Registry, Series};
use platform::settings::TrustedProxies;
use platform::{Error, Settings};
use tokio::sync::{Semaphore, SemaphorePermit, oneshot};

use super::model::Caller;
use crate::AppState;

/// The period `AUTH_MAX_FAILURES` counts over.
pub const FAILURE_PERIOD: Duration = Duration::from_secs(60);

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The most client addresses the throttle tracks at once.
const MAX_TRACKED_ADDRESSES: usize = 100_000;

/// The most credentials remembered at once.
const MAX_REMEMBERED: usize = 10_000;

/// See the module documentation.
pub struct PasswordGuard {
    turns: Semaphore,
    turns_taken: AtomicU64,
    /// Where the checks run: the threads take work from this queue.
    hashers: mpsc::Sender<Work>,
    wait: Duration,
    max_failures: u32,
    failures: Mutex<HashMap<IpAddr, Failures>>,
    remember_for: Duration,
    key: [u8; 32],
    remembered: Mutex<HashMap<[u8; 32], Remembered>>,
    series: Arc<PasswordSeries>,
}

/// `auth_password_checks_total{outcome}`: `verified`, `wrong`,
/// `remembered` (a Basic credential verified lately, no argon2),
/// `throttled` (429), `busy` (503).
pub struct PasswordSeries {
    checks: IntCounterVec,
}

impl Series for PasswordSeries {
    fn register(registry: &Registry) -> Self {
        Self {
            checks: metrics::counter(
                registry,
                "auth_password_checks_total",
                "Password checks, by outcome",
                &["outcome"],
            ),
        }
    }
}

/// Failed checks of one address in the minute that began with the first.
struct Failures {
    since: Instant,
    count: u32,
}

struct Remembered {
    caller: Caller,
    until: Instant,
}

type Work = Box<dyn FnOnce() + Send>;

/// Starts `count` threads running the work sent on the returned queue;
/// they end when the queue's sender is dropped.
fn start_hashers(count: usize) -> mpsc::Sender<Work> {
    let (sender, receiver) = mpsc::channel::<Work>();
    let receiver = Arc::new(Mutex::new(receiver));
    for n in 0..count {
        let receiver = receiver.clone();
        let started = std::thread::Builder::new()
            .name(format!("argon2-{n}"))
            .spawn(move || {
                loop {
                    let next = receiver
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .recv();
                    match next {
                        Ok(work) => work(),
                        Err(_) => return,
                    }
                }
            });
        if let Err(e) = started {
            tracing::error!(error = %e, "cannot start a password-check thread");
        }
    }
    sender
}

impl PasswordGuard {
    pub fn new(settings: &Settings, metrics: &Metrics) -> Self {
        let mut key = [0u8; 32];
        key[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        key[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        Self {
            turns: Semaphore::new(settings.auth.hash_concurrency),
            turns_taken: AtomicU64::new(0),
            hashers: start_hashers(settings.auth.hash_concurrency),
            wait: settings.auth.hash_wait,
            max_failures: settings.auth.max_failures,
            failures: Mutex::new(HashMap::new()),
            remember_for: settings.auth.cache_ttl,
            key,
            remembered: Mutex::new(HashMap::new()),
            series: metrics.series(),
        }
    }

    /// Counts a check by its outcome.
    pub fn count(&self, outcome: &str) {
        self.series.checks.with_label_values(&[outcome]).inc();
    }

    /// 429 if `client` is throttled.
    pub fn check_throttle(&self, client: Option<IpAddr>) -> Result<(), Error> {
        if self.max_failures == 0 {
            return Ok(());
        }
        let key = throttle_key(client);
        let failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        match failures.get(&key) {
            Some(entry) if entry.count >= self.max_failures => {
                let ends = entry.since + FAILURE_PERIOD;
                match ends.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => Err(Error::TooManyRequests {
                        msg: format!(
                            "too many failed password checks from this address; retry in {} s or use a token",
                            left.as_secs().max(1)
                        ),
                        retry_after: left,
                    }),
                    _ => Ok(()),
                }
            }
            _ => Ok(()),
        }
    }

    /// Counts a failed check against `client`.
    pub fn failed(&self, client: Option<IpAddr>) {
        if self.max_failures == 0 {
            return;
        }
        let now = Instant::now();
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        if failures.len() >= MAX_TRACKED_ADDRESSES {
            failures.retain(|_, entry| now.duration_since(entry.since) < FAILURE_PERIOD);
            if failures.len() >= MAX_TRACKED_ADDRESSES {
                failures.clear();
            }
        }
        let entry = failures.entry(throttle_key(client)).or_insert(Failures {
            since: now,
            count: 0,
        });
        if now.duration_since(entry.since) >= FAILURE_PERIOD {
            *entry = Failures {
                since: now,
                count: 0,
            };
        }
        entry.count = entry.count.saturating_add(1);
    }

    /// How many turns were given so far: for tests that a request did, or
    /// did not, come to hashing.
    pub fn turns_taken(&self) -> u64 {
        self.turns_taken.load(Ordering::Relaxed)
    }

    /// Waits for a turn to run one argon2 check, at most `AUTH_HASH_WAIT_MS`;
    /// 503 with `Retry-After` if none comes. The check runs while the
    /// permit is held.
    pub async fn turn(&self) -> Result<SemaphorePermit<'_>, Error> {
        match tokio::time::timeout(self.wait, self.turns.acquire()).await {
            Ok(Ok(permit)) => {
                self.turns_taken.fetch_add(1, Ordering::Relaxed);
                Ok(permit)
            }
            _ => Err(Error::Busy {
                msg: "too many password checks at once; retry shortly, or log in once and use the token".into(),
                retry_after: Duration::from_secs(1),
            }),
        }
    }

    /// Runs `check` (an argon2 hash or verification) on the guard's own
    /// threads. Call it with a [`PasswordGuard::turn`] in hand, so no more
    /// checks wait in the queue than there are threads.
    pub async fn run<T: Send + 'static>(
        &self,
        check: impl FnOnce() -> T + Send + 'static,
    ) -> anyhow::Result<T> {
        let (answer, answered) = oneshot::channel();
        let work: Work = Box::new(move || {
            let _ = answer.send(check());
        });
        self.hashers
            .send(work)
            .map_err(|_| anyhow::anyhow!("the password-check threads have stopped"))?;
        answered
            .await
            .map_err(|_| anyhow::anyhow!("a password check panicked"))
    }

    /// The account a Basic credential verified as lately, if it did.
    pub fn remembered(&self, username: &str, password: &str) -> Option<Caller> {
        if self.remember_for.is_zero() {
            return None;
        }
        let key = self.credential_key(username, password);
        let remembered = self
            .remembered
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        remembered
            .get(&key)
            .filter(|entry| entry.until > Instant::now())
            .map(|entry| entry.caller.clone())
    }

    /// Remembers that this Basic credential verified as `caller`.
    pub fn remember(&self, username: &str, password: &str, caller: &Caller) {
        if self.remember_for.is_zero() {
            return;
        }
        let key = self.credential_key(username, password);
        let now = Instant::now();
        let mut remembered = self
            .remembered
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if remembered.len() >= MAX_REMEMBERED {
            remembered.retain(|_, entry| entry.until > now);
            if remembered.len() >= MAX_REMEMBERED {
                remembered.clear();
            }
        }
        remembered.insert(
            key,
            Remembered {
                caller: caller.clone(),
                until: now + self.remember_for,
            },
        );
    }

    /// A keyed hash of the credential: the username's length first, so
    /// `ab` + `c` and `a` + `bc` differ.
    fn credential_key(&self, username: &str, password: &str) -> [u8; 32] {
        let mut hasher = blake3::Hasher::new_keyed(&self.key);
        hasher.update(&(username.len() as u64).to_le_bytes());
        hasher.update(username.as_bytes());
        hasher.update(password.as_bytes());
        *hasher.finalize().as_bytes()
    }
}

/// The address password checks are counted against: the peer, or, when
/// the peer is one of `TRUSTED_PROXIES`, the address it appended to
/// `X-Forwarded-For` (and so on leftwards through a chain of trusted
/// proxies). `None` when the connection's address is unknown (a request
/// handed to the router without a socket, as in unit tests).
pub fn client_address(parts: &Parts, trusted: &TrustedProxies) -> Option<IpAddr> {
    let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>()?.0.ip();
    if trusted.is_empty() || !trusted.contains(peer) {
        return Some(peer);
    }
    let forwarded: Vec<&str> = parts
        .headers
        .get_all(X_FORWARDED_FOR)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for hop in forwarded.iter().rev() {
        if !trusted.contains(client) {
            break;
        }
        match hop.parse::<IpAddr>() {
            Ok(ip) => client = ip,
            Err(_) => break,
        }
    }
    Some(client)
}

/// The [`client_address`] of a request, for handlers that check passwords.
pub struct ClientAddress(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(client_address(
            parts,
            &state.settings.http.trusted_proxies,
        )))
    }
}

/// IPv4 addresses as they are (IPv4-mapped IPv6 ones too), IPv6 ones by
/// their /64; requests whose address is unknown share one key.
fn throttle_key(client: Option<IpAddr>) -> IpAddr {
    match client {
        None => IpAddr::from([0u8; 4]),
        Some(IpAddr::V4(ip)) => IpAddr::V4(ip),
        Some(IpAddr::V6(ip)) => match ip.to_ipv4_mapped() {
            Some(ip) => IpAddr::V4(ip),
            None => IpAddr::V6((u128::from(ip) & !(u128::from(u64::MAX))).into()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::super::model::Role;
    use super::*;

    fn guard(vars: &[(&str, &str)]) -> PasswordGuard {
        let vars = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        PasswordGuard::new(
            &Settings::from_vars(vars).expect("valid settings"),
            &Metrics::new(),
        )
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().expect("an address"))
    }

    #[test]
    fn an_address_is_throttled_after_its_failures_and_others_are_not() {
        let guard = guard(&[("AUTH_MAX_FAILURES", "3")]);
        for _ in 0..3 {
            assert!(guard.check_throttle(ip("10.0.0.1")).is_ok());
            guard.failed(ip("10.0.0.1"));
        }
        match guard.check_throttle(ip("10.0.0.1")) {
            Err(Error::TooManyRequests { retry_after, .. }) => {
                assert!(retry_after <= FAILURE_PERIOD && !retry_after.is_zero());
            }
            other => panic!("expected a 429, got {other:?}"),
        }
        assert!(guard.check_throttle(ip("10.0.0.2")).is_ok());
    }

    #[test]
    fn ipv6_clients_are_counted_per_64() {
        let guard = guard(&[("AUTH_MAX_FAILURES", "2")]);
        guard.failed(ip("2001:db8:1:2::1"));
        guard.failed(ip("2001:db8:1:2:ffff::9"));
        assert!(guard.check_throttle(ip("2001:db8:1:2::77")).is_err());
        assert!(guard.check_throttle(ip("2001:db8:1:3::1")).is_ok());
    }

    #[test]
    fn zero_failures_turns_the_throttle_off() {
        let guard = guard(&[("AUTH_MAX_FAILURES", "0")]);
        for _ in 0..100 {
            guard.failed(ip("10.0.0.1"));
        }
        assert!(guard.check_throttle(ip("10.0.0.1")).is_ok());
    }

    #[test]
    fn a_credential_is_remembered_exactly() {
        let guard = guard(&[]);
        let caller = Caller {
            id: 1,
            username: "ana".into(),
            role: Role::User,
        };
        guard.remember("ana", "secret-1", &caller);
        assert_eq!(guard.remembered("ana", "secret-1"), Some(caller));
        assert_eq!(guard.remembered("ana", "secret-2"), None);
        assert_eq!(guard.remembered("an", "asecret-1"), None);
        let off = super::tests::guard(&[("AUTH_CACHE_TTL_SECS", "0")]);
        off.remember(
            "ana",
            "secret-1",
            &guard.remembered("ana", "secret-1").expect("kept"),
        );
        assert_eq!(off.remembered("ana", "secret-1"), None);
    }

    fn parts(peer: &str, forwarded: &[&str]) -> Parts {
        let mut request = axum::http::Request::get("/me");
        for value in forwarded {
            request = request.header("x-forwarded-for", *value);
        }
        let (mut parts, ()) = request.body(()).expect("a request").into_parts();
        let peer: SocketAddr = peer.parse().expect("a socket address");
        parts.extensions.insert(ConnectInfo(peer));
        parts
    }

    #[test]
    fn the_client_is_the_peer_unless_the_peer_is_a_trusted_proxy() {
        let none = TrustedProxies::default();
        let proxies: TrustedProxies = "10.0.0.0/8".parse().expect("valid");
        let spoofed = parts("203.0.113.9:4000", &["198.51.100.1"]);
        assert_eq!(client_address(&spoofed, &proxies), ip("203.0.113.9"));
        assert_eq!(client_address(&spoofed, &none), ip("203.0.113.9"));
        let proxied = parts("10.0.0.5:4000", &["198.51.100.1, 203.0.113.9"]);
        assert_eq!(client_address(&proxied, &proxies), ip("203.0.113.9"));
        assert_eq!(client_address(&proxied, &none), ip("10.0.0.5"));
        let chain = parts("10.0.0.5:4000", &["203.0.113.9", "10.0.0.6"]);
        assert_eq!(client_address(&chain, &proxies), ip("203.0.113.9"));
        let garbage = parts("10.0.0.5:4000", &["not-an-address"]);
        assert_eq!(client_address(&garbage, &proxies), ip("10.0.0.5"));
    }

    #[tokio::test]
    async fn checks_run_on_the_guards_own_threads() {
        let guard = guard(&[("AUTH_HASH_CONCURRENCY", "2")]);
        let names = futures_util::future::join_all(
            (0..6).map(|_| guard.run(|| std::thread::current().name().map(str::to_owned))),
        )
        .await;
        for name in names {
            let name = name.expect("ran").expect("a named thread");
            assert!(["argon2-0", "argon2-1"].contains(&name.as_str()), "{name}");
        }
    }

    #[tokio::test]
    async fn a_turn_is_refused_after_the_wait() {
        let guard = guard(&[("AUTH_HASH_CONCURRENCY", "1"), ("AUTH_HASH_WAIT_MS", "20")]);
        let held = guard.turn().await.expect("the first turn");
        assert!(matches!(guard.turn().await, Err(Error::Busy { .. })));
        drop(held);
        assert!(guard.turn().await.is_ok());
    }
}
