//! The HTTP client every process calls another service with (the listing
//! and user services, stooq, the Offers service).

use std::time::Duration;

/// A pooled client that gives up connecting after at most 2 s and on the
/// whole call after `timeout`, so a service that is down or stuck costs its
/// caller a clear error, never a hang.
pub fn client(timeout: Duration) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .connect_timeout(timeout.min(Duration::from_secs(2)))
        .timeout(timeout)
        .tcp_nodelay(true)
        .build()?)
}
