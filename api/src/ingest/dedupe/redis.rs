//! The cluster-mode dedupe window, in Redis.
//!
//! A claim is one round trip: a small Lua script runs `SET
//! mercato:feed:<hash> <holder> NX PX <window>` and, only if the key was
//! there already, reads its `PTTL` and holder. Redis runs a script
//! atomically, so it decides who was first whichever replica asks, and the
//! time left is never read from a key that expired in between.
//!
//! The connection manager is tuned to fail within about a second while
//! Redis is down (its defaults block each call for 7–9 s), so the API can
//! answer 503 promptly; it reconnects by itself when Redis returns.

use std::time::Duration;

use async_trait::async_trait;
use feed::BodyHash;
use redis::Script;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use url::Url;
use uuid::Uuid;

use super::window::{Claim, DedupeError, DedupeWindow};

const KEY_PREFIX: &str = "mercato:feed:";

/// Returns `{1, 0, ""}` when the claim is taken, `{0, PTTL, holder}` when
/// someone holds it.
const CLAIM: &str = r"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {1, 0, ''}
end
return {0, redis.call('PTTL', KEYS[1]), redis.call('GET', KEYS[1])}
";

/// Deletes the key only if `holder` still holds it.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// Moves the key from holder `ARGV[1]` to `ARGV[2]` for `ARGV[3]` ms,
/// only if `ARGV[1]` still holds it.
const TAKE_OVER: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
";

/// See the module documentation.
pub struct RedisWindow {
    connection: ConnectionManager,
    claim: Script,
    release: Script,
    take_over: Script,
}

impl RedisWindow {
    /// Prepares a connection to `url`; it is opened on first use, so a
    /// Redis that is down at start-up is reported by `/readyz` and by the
    /// requests that need it, not by a crash.
    pub fn new(url: &Url) -> Result<Self, DedupeError> {
        let client = redis::Client::open(url.as_str()).map_err(unavailable)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_millis(500)))
            .set_response_timeout(Some(Duration::from_millis(500)))
            .set_number_of_retries(2)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(500));
        let connection =
            ConnectionManager::new_lazy_with_config(client, config).map_err(unavailable)?;
        Ok(Self {
            connection,
            claim: Script::new(CLAIM),
            release: Script::new(RELEASE),
            take_over: Script::new(TAKE_OVER),
        })
    }
}

#[async_trait]
impl DedupeWindow for RedisWindow {
    async fn claim(
        &self,
        hash: &BodyHash,
        holder: Uuid,
        window: Duration,
    ) -> Result<Claim, DedupeError> {
        let millis = u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1);
        let (claimed, left, current): (i64, i64, String) = self
            .claim
            .key(format!("{KEY_PREFIX}{hash}"))
            .arg(holder.to_string())
            .arg(millis)
            .invoke_async(&mut self.connection.clone())
            .await
            .map_err(unavailable)?;
        if claimed == 1 {
            return Ok(Claim::Claimed);
        }
        // A key without expiry was written by something else: a full window.
        let retry_after = u64::try_from(left).map_or(window, Duration::from_millis);
        Ok(Claim::Duplicate {
            retry_after,
            holder: Uuid::parse_str(&current).ok(),
        })
    }

    async fn release(&self, hash: &BodyHash, holder: Uuid) -> Result<(), DedupeError> {
        let _: i64 = self
            .release
            .key(format!("{KEY_PREFIX}{hash}"))
            .arg(holder.to_string())
            .invoke_async(&mut self.connection.clone())
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn take_over(
        &self,
        hash: &BodyHash,
        from: Uuid,
        to: Uuid,
        window: Duration,
    ) -> Result<bool, DedupeError> {
        let millis = u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1);
        let moved: i64 = self
            .take_over
            .key(format!("{KEY_PREFIX}{hash}"))
            .arg(from.to_string())
            .arg(to.to_string())
            .arg(millis)
            .invoke_async(&mut self.connection.clone())
            .await
            .map_err(unavailable)?;
        Ok(moved == 1)
    }

    async fn check(&self) -> Result<(), DedupeError> {
        let mut connection = self.connection.clone();
        let _: String = redis::cmd("PING")
            .query_async(&mut connection)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "redis"
    }
}

fn unavailable(e: redis::RedisError) -> DedupeError {
    DedupeError(e.to_string())
}
