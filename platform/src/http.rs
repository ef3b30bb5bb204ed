//! The HTTP client every process calls another service with (the listing
//! and user services, stooq, the Offers service).

use std::time::Duration;

/// A pooled client that gives up connecting after at most 2 s and on the
/// whole call after `timeout`, so a service that is down or stuck costs its
/// caller a clear error, never a hang. Redirects are not followed: they
/// are answers like any other (and would carry the Offers token's header
/// to wherever they point).
pub fn client(timeout: Duration) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .connect_timeout(timeout.min(Duration::from_secs(2)))
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .tcp_nodelay(true)
        .build()?)
}

/// The most of a third party's answer that is read (SPEC section 10,
/// "Third parties"): a longer one is refused, never held.
pub const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// Why an answer's body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("the answer is larger than {0} bytes")]
    TooLarge(usize),
    #[error(transparent)]
    Http(#[from] reqwest::Error),
}

/// Reads `response`'s body, refusing it past `max` bytes (whether
/// declared up front or found while reading).
pub async fn read_capped(
    mut response: reqwest::Response,
    max: usize,
) -> Result<Vec<u8>, ReadError> {
    if response
        .content_length()
        .is_some_and(|length| length > max as u64)
    {
        return Err(ReadError::TooLarge(max));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > max {
            return Err(ReadError::TooLarge(max));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
