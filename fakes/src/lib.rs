//! Fakes of the two third-party services Mercato calls, faithful to their
//! documented behaviour, errors included:
//!
//! - [`offers`]: the Offers service (seed 000), which is no longer online;
//! - [`stooq`]: stooq's CSV quote endpoint.
//!
//! They serve the system tests, `api demo` (both inside the `api`
//! process, so everything works offline) and local runs as the
//! `offers-fake` and `stooq-fake` binaries.
//!
//! # Layout
//!
//! - [`offers`]: [`OffersFake`], its failure modes and counters.
//! - [`stooq`]: [`StooqFake`] and its behaviours.
//! - `src/bin/`: the two binaries (clap, `--help`), thin mains around them.

pub mod offers;
pub mod stooq;

pub use offers::OffersFake;
pub use stooq::StooqFake;

use std::net::SocketAddr;

use url::Url;

/// Serves `app` on `addr` (port 0 picks one) until the returned task is
/// aborted, and returns its base URL.
async fn serve(
    addr: SocketAddr,
    app: axum::Router,
) -> std::io::Result<(Url, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let url = Url::parse(&format!("http://{}", listener.local_addr()?))
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.ok();
    });
    Ok((url, task))
}
