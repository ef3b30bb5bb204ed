//! Serving an app on a listener, with the limits of SPEC section 10 that
//! belong to the connection rather than to a route.
//!
//! `axum::serve` gives hyper no timer, so hyper's header read timeout
//! never fires there: 1,000 connections that never finished their headers
//! were held open for good. Here every connection is served by hyper's
//! HTTP/1 builder with a timer:
//!
//! - headers must arrive within `HTTP_HEADER_TIMEOUT_SECS`, or the
//!   connection is closed (this also bounds an idle keep-alive connection);
//! - each request knows its peer's address ([`ConnectInfo`]), which the
//!   password throttle counts by;
//! - on shutdown the listener closes, connections finish the request in
//!   hand, and whatever is still running after `SHUTDOWN_TIMEOUT_SECS` is
//!   dropped, so a stuck client cannot keep a stopping process alive.
//!
//! The body idle timeout is a layer of the app ([`crate::app::routes`]), since it
//! is about the body a handler reads.

use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

/// The connection limits of one listener.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// `HTTP_HEADER_TIMEOUT_SECS`.
    pub header_timeout: Duration,
    /// `SHUTDOWN_TIMEOUT_SECS`.
    pub shutdown_timeout: Duration,
}

/// How long to wait before accepting again after `accept` failed (out of
/// file descriptors, most likely): long enough for some to be freed.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Serves `app` on `listener` until `shutdown` is cancelled, then drains
/// as the module documentation says.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let connections = GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        stream.set_nodelay(true).ok();
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            app.clone().oneshot(request)
        });
        let connection = http.serve_connection(TokioIo::new(stream), service);
        let connection = connections.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.shutdown_timeout, connections.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            timeout = ?limits.shutdown_timeout,
            "requests still in flight at the shutdown timeout are dropped"
        );
    }
    Ok(())
}
