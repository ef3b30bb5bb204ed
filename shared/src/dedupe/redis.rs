//! The cluster-mode dedupe window, in Redis.
//!
//! A claim is one `SET mercato:feed:<hash> 1 NX PX <window>`: Redis decides
//! atomically who was first, whichever replica asks. Only a duplicate costs
//! a second command, `PTTL`, to say how long is left.
//!
//! The connection manager is tuned to fail within about a second while
//! Redis is down (its defaults block each call for 7–9 s), so the API can
//! answer 503 promptly; it reconnects by itself when Redis returns.

use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, ExistenceCheck, SetExpiry, SetOptions};
use url::Url;

use super::{Claim, DedupeError, DedupeWindow};

const KEY_PREFIX: &str = "mercato:feed:";

/// See the module documentation.
pub struct RedisWindow {
    connection: ConnectionManager,
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
        Ok(Self { connection })
    }
}

#[async_trait]
impl DedupeWindow for RedisWindow {
    async fn claim(&self, hash: &str, window: Duration) -> Result<Claim, DedupeError> {
        let key = format!("{KEY_PREFIX}{hash}");
        let millis = u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut connection = self.connection.clone();
        // The key may expire between a refused SET and the PTTL; then the
        // hash is free again and the claim is retried.
        loop {
            let options = SetOptions::default()
                .conditional_set(ExistenceCheck::NX)
                .with_expiration(SetExpiry::PX(millis));
            let set: Option<String> = connection
                .set_options(&key, 1, options)
                .await
                .map_err(unavailable)?;
            if set.is_some() {
                return Ok(Claim::Claimed);
            }
            let left: i64 = redis::cmd("PTTL")
                .arg(&key)
                .query_async(&mut connection)
                .await
                .map_err(unavailable)?;
            match left {
                // No expiry at all: written by something else; treat as a full window.
                -1 => {
                    return Ok(Claim::Duplicate {
                        retry_after: window,
                    });
                }
                left if left >= 0 => {
                    return Ok(Claim::Duplicate {
                        retry_after: Duration::from_millis(left.unsigned_abs()),
                    });
                }
                _ => continue,
            }
        }
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
