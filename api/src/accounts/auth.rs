//! Who is calling, and what they may do (SPEC section 4).
//!
//! Every protected route takes a [`Caller`] (any account) or an [`Admin`];
//! both accept either credential:
//!
//! - `Authorization: Bearer <JWT>`: a token from `POST /login`, HS256
//!   only (the algorithm is pinned, so `alg: none` and every other one is
//!   refused), with a required `exp`. Checking one costs a signature, not
//!   a database query nor a password hash: the token carries the account's
//!   id, name and role.
//! - `Authorization: Basic <base64(username:password)>`: the account is
//!   read from the database and the password checked against its argon2
//!   hash, off the async runtime. That costs tens of milliseconds of CPU
//!   by design, so every check goes through the [`PasswordGuard`](super::guard::PasswordGuard) (turns,
//!   a per-address failure throttle, and verified credentials remembered
//!   for a minute so a Basic client does not pay argon2 on every request).
//!
//! A missing or bad credential is a 401 with `WWW-Authenticate`, a role
//! that is not enough a 403. Credentials with control characters, or a
//! password over [`NewPassword::MAX_BYTES`], are a 401 before any hashing.
//!
//! Length: over 400 lines only with its unit tests, which stay beside the
//! code they test.

use std::cell::RefCell;
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use argon2::password_hash::PasswordHasher;
use argon2::password_hash::phc::{self, PasswordHash};
use argon2::{Argon2, Block, Params, Version};
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use platform::settings::ExposeSecret as _;
use platform::{Error, Timestamp};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde::{Deserialize, Serialize};

use super::entity as account;
use super::model::{Caller, NewPassword, Role, Username};
use crate::AppState;

/// How long a token from `POST /login` is valid.
pub const TOKEN_TTL: Duration = Duration::from_secs(300);

/// Tolerated clock difference between the replica that issued a token and
/// the one that checks it.
const LEEWAY_SECS: u64 = 5;

/// The keys tokens are signed and checked with.
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

/// What a token says about its bearer.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    /// The username.
    sub: String,
    /// The account id.
    uid: i64,
    role: Role,
    iat: u64,
    exp: u64,
}

impl TokenKeys {
    pub fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        // The expiry is checked in `check`, against the app's clock, so
        // that a test's frozen time reaches tokens too.
        validation.validate_exp = false;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    /// A token for `account`, valid for [`TOKEN_TTL`] from `now`.
    pub fn issue(&self, account: &Caller, now: Timestamp) -> anyhow::Result<String> {
        let now = seconds(now);
        let claims = Claims {
            sub: account.username.clone(),
            uid: account.id,
            role: account.role,
            iat: now,
            exp: now + TOKEN_TTL.as_secs(),
        };
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.encoding,
        )?)
    }

    /// The caller `token` names, if it is ours and has not expired at `now`.
    fn check(&self, token: &str, now: Timestamp) -> Result<Caller, Error> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| Error::Unauthorized(format!("invalid token: {e}")))?;
        if data.claims.exp.saturating_add(LEEWAY_SECS) < seconds(now) {
            return Err(Error::Unauthorized("invalid token: expired".into()));
        }
        Ok(Caller {
            id: data.claims.uid,
            username: data.claims.sub,
            role: data.claims.role,
        })
    }
}

/// Whole seconds since the Unix epoch, as JWT claims count time.
fn seconds(at: Timestamp) -> u64 {
    u64::try_from(at.as_micros() / 1_000_000).unwrap_or(0)
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or_else(|| Error::Unauthorized("credentials required: Basic or Bearer".into()))?
            .to_str()
            .map_err(|_| Error::Unauthorized("malformed Authorization header".into()))?;
        let (scheme, credentials) = header
            .split_once(' ')
            .ok_or_else(|| Error::Unauthorized("malformed Authorization header".into()))?;
        if scheme.eq_ignore_ascii_case("bearer") {
            state.tokens.check(credentials.trim(), state.clock.now())
        } else if scheme.eq_ignore_ascii_case("basic") {
            let (username, password) = basic_credentials(credentials.trim())?;
            let guard = &state.passwords;
            if let Some(caller) = guard.remembered(&username, &password) {
                state.passwords.count("remembered");
                return Ok(caller);
            }
            let client = super::guard::client_address(parts, &state.settings.http.trusted_proxies);
            let caller = authenticate(state, client, &username, password.clone()).await?;
            guard.remember(&username, &password, &caller);
            Ok(caller)
        } else {
            Err(Error::Unauthorized(format!(
                "unsupported scheme `{scheme}`: use Basic or Bearer"
            )))
        }
    }
}

/// A caller whose role is `admin`.
#[derive(Debug, Clone)]
pub struct Admin(pub Caller);

impl FromRequestParts<AppState> for Admin {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let caller = Caller::from_request_parts(parts, state).await?;
        match caller.role {
            Role::Admin => Ok(Self(caller)),
            Role::User | Role::Feeder => Err(Error::Forbidden(format!(
                "account {} is not an admin",
                caller.username
            ))),
        }
    }
}

/// The `Basic` credential's username and password. Either holding a
/// control character is a 401 like any other malformed credential.
fn basic_credentials(encoded: &str) -> Result<(String, String), Error> {
    let malformed = || Error::Unauthorized("malformed Basic credentials".into());
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|_| malformed())?;
    let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (username, password) = decoded.split_once(':').ok_or_else(malformed)?;
    if !decoded.chars().all(crate::web::text::is_allowed) {
        return Err(Error::Unauthorized(
            "malformed Basic credentials: control character".into(),
        ));
    }
    Ok((username.to_owned(), password.to_owned()))
}

/// The account with this username and password, or a 401 that does not
/// say which of the two was wrong. An unknown username costs a hash check
/// too, so timing does not tell which usernames exist.
///
/// The check is guarded (see [`guard`](super::guard)): 429 while `client` is throttled,
/// 503 when no turn to hash comes in time. A password over
/// [`NewPassword::MAX_BYTES`], a username no account can have, or a
/// password with a control character, are a 401 without any hashing.
pub async fn authenticate(
    state: &AppState,
    client: Option<IpAddr>,
    username: &str,
    password: String,
) -> Result<Caller, Error> {
    let wrong = || {
        state.passwords.count("wrong");
        Error::Unauthorized("wrong username or password".into())
    };
    let guard = &state.passwords;
    guard
        .check_throttle(client)
        .inspect_err(|_| state.passwords.count("throttled"))?;
    // No account has such credentials (usernames were always parsed), so
    // refusing them without a lookup or a hash tells an attacker nothing.
    let impossible = password.len() > NewPassword::MAX_BYTES
        || Username::parse(username).is_err()
        || !password.chars().all(crate::web::text::is_allowed);
    if impossible {
        guard.failed(client);
        return Err(wrong());
    }
    let turn = guard
        .turn()
        .await
        .inspect_err(|_| state.passwords.count("busy"))?;
    let account = account::Entity::find()
        .filter(account::Column::Username.eq(username))
        .one(&state.db)
        .await?;
    let hash = account.as_ref().map_or_else(
        || unknown_account_hash().to_owned(),
        |a| a.password_hash.clone(),
    );
    let matches = guard
        .run(move || password_matches(&hash, &password))
        .await?;
    drop(turn);
    match account {
        // A disabled account's password still matches; it is refused like
        // a wrong one, so its state is not told to whoever holds it.
        Some(account) if matches && account.disabled_at.is_none() => {
            state.passwords.count("verified");
            Ok(account.into())
        }
        _ => {
            guard.failed(client);
            Err(wrong())
        }
    }
}

/// Hashes a password with argon2id (default parameters, random salt) on
/// the blocking pool: it takes tens of milliseconds of CPU on purpose.
pub async fn hash_password(password: String) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|hash| hash.to_string())
            .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
    })
    .await?
}

/// Whether `password` matches the argon2 `hash` (a PHC string); a hash
/// that does not parse matches nothing. Tens of milliseconds of CPU: run
/// it through [`PasswordGuard::run`].
///
/// The algorithm's memory (19 MiB with the default parameters) is one
/// buffer per thread, reused from check to check: allocated afresh each
/// time, the allocator kept several such blocks per thread, and a flood of
/// checks left ~100 MB behind on each of the guard's threads.
fn password_matches(hash: &str, password: &str) -> bool {
    thread_local! {
        static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
    }
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let argon2 = (|| {
        let algorithm = argon2::Algorithm::try_from(parsed.algorithm.as_str()).ok()?;
        let version = match parsed.version {
            Some(version) => Version::try_from(version).ok()?,
            None => Version::default(),
        };
        let params = Params::try_from(&parsed).ok()?;
        Some(Argon2::new(algorithm, version, params))
    })();
    let Some(argon2) = argon2 else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    let hashed = MEMORY.with_borrow_mut(|memory| {
        memory.resize(argon2.params().block_count(), Block::default());
        argon2.hash_password_into_with_memory(
            password.as_bytes(),
            salt.as_ref(),
            &mut out,
            &mut memory[..],
        )
    });
    // `Output`'s equality takes constant time.
    hashed.is_ok() && phc::Output::new(&out).is_ok_and(|out| out == *expected)
}

/// A hash no password matches, checked for unknown usernames.
fn unknown_account_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| {
        Argon2::default()
            .hash_password(uuid::Uuid::new_v4().as_bytes())
            .map(|hash| hash.to_string())
            .unwrap_or_default()
    })
}

/// The key tokens are signed with: `JWT_SECRET`, or in embedded mode (one
/// process, so nobody else must check its tokens) a random one.
pub fn token_keys(settings: &platform::Settings) -> anyhow::Result<Arc<TokenKeys>> {
    let secret = match &settings.auth.jwt_secret {
        Some(secret) => secret.expose_secret().as_bytes().to_vec(),
        None => {
            settings.require_jwt_secret()?;
            [uuid::Uuid::new_v4(), uuid::Uuid::new_v4()]
                .iter()
                .flat_map(|id| id.into_bytes())
                .collect()
        }
    };
    Ok(Arc::new(TokenKeys::new(&secret)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller() -> Caller {
        Caller {
            id: 7,
            username: "ana".into(),
            role: Role::User,
        }
    }

    #[test]
    fn a_token_checks_with_its_own_key_only() {
        let keys = TokenKeys::new(&[7; 32]);
        let now = Timestamp::from_micros(1_475_820_997_000_000);
        let token = keys.issue(&caller(), now).expect("a token");
        assert_eq!(keys.check(&token, now).expect("valid"), caller());
        let other = TokenKeys::new(&[8; 32]);
        assert!(matches!(
            other.check(&token, now),
            Err(Error::Unauthorized(_))
        ));
    }

    #[test]
    fn a_token_expires_by_the_clock_it_is_checked_with() {
        let keys = TokenKeys::new(&[7; 32]);
        let issued = Timestamp::from_micros(1_475_820_997_000_000);
        let token = keys.issue(&caller(), issued).expect("a token");
        let last_valid = issued + TOKEN_TTL + Duration::from_secs(LEEWAY_SECS);
        assert!(keys.check(&token, last_valid).is_ok());
        let expired = keys.check(&token, last_valid + Duration::from_secs(1));
        assert!(
            matches!(&expired, Err(Error::Unauthorized(msg)) if msg.contains("expired")),
            "{expired:?}"
        );
    }

    #[test]
    fn basic_credentials_split_at_the_first_colon() {
        let encoded = base64::engine::general_purpose::STANDARD.encode("ana:pa:ss");
        assert_eq!(
            basic_credentials(&encoded).expect("valid"),
            ("ana".to_owned(), "pa:ss".to_owned())
        );
        assert!(basic_credentials("not base64!").is_err());
        let no_colon = base64::engine::general_purpose::STANDARD.encode("ana");
        assert!(basic_credentials(&no_colon).is_err());
        for bad in ["an\0a:pass", "ana:pa\u{7}ss"] {
            let encoded = base64::engine::general_purpose::STANDARD.encode(bad);
            assert!(
                matches!(basic_credentials(&encoded), Err(Error::Unauthorized(_))),
                "{bad:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let hash = hash_password("correct horse".into()).await.expect("hash");
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(password_matches(&hash, "correct horse"));
        assert!(!password_matches(&hash, "wrong horse"));
        assert!(!password_matches("garbage", "x"));
    }
}
