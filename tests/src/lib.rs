//! Helpers for Mercato's black-box system tests.
//!
//! `scripts/test` runs the suite twice and says which backends to use
//! through the environment:
//!
//! - `MERCATO_TEST_BACKEND=embedded` (also the default, so a plain
//!   `cargo nextest run` works): SQLite in a temp dir, the in-process
//!   broker, the in-memory dedupe window.
//! - `MERCATO_TEST_BACKEND=cluster`: the PostgreSQL, RabbitMQ and Redis
//!   servers it started, named by `MERCATO_TEST_POSTGRES_URL`,
//!   `MERCATO_TEST_AMQP_URL`, `MERCATO_TEST_RABBITMQ_MANAGEMENT_URL` and
//!   `MERCATO_TEST_REDIS_URL`.
//!
//! Every test gets its own database (a temp file, or a uuid-named
//! PostgreSQL database) and its own RabbitMQ virtual host, so tests run in
//! parallel without seeing each other. Tests that stop a server start a
//! private one ([`servers`]), so they never disturb the shared ones.
//!
//! # Layout
//!
//! - [`backend`](mod@backend): which backends this run uses, and fresh isolated ones.
//! - [`app`]: `spawn_app()` and `TestApp`.
//! - [`ingest`]: generated feeds (up to gigabytes, streamed) and raw uploads.
//! - [`servers`]: private Redis and RabbitMQ servers that tests may stop.
//! - [`process`]: running Mercato's own binaries as child processes.
//! - [`replicas`]: several `api` processes behind nginx.
//! - [`stooq`], [`offers`]: the third-party fakes, from the `fakes` crate.

pub mod app;
pub mod backend;
pub mod ingest;
pub mod process;
pub mod replicas;
pub mod servers;

/// The third-party fakes, where the tests have always found them.
pub use fakes::{offers, stooq};

pub use app::{TestApp, spawn_app, spawn_app_with, spawn_app_with_clock};
pub use backend::{Backend, backend};

/// A response's status and JSON body (which it must have).
pub async fn json_of(response: reqwest::Response) -> (reqwest::StatusCode, serde_json::Value) {
    let status = response.status();
    let body = response.json().await.expect("a JSON body");
    (status, body)
}

/// Asks `quote-worker` and `offer-poller` one question each through
/// `broker` and checks that both answered: the quote worker with a quote
/// from the stooq fake it was pointed at, the offer poller with a coded
/// `NOT_FOUND` for a product that is not in its database. An answer at
/// all proves the path from caller to worker and back.
pub async fn assert_both_workers_answer(broker: &dyn rpc::broker::Broker) {
    use rpc::CallError;
    use rpc::messages::{OfferRequest, QuoteRequest};

    let timeout = std::time::Duration::from_secs(5);
    let quote = QuoteRequest::Get {
        symbol: rpc::messages::Symbol::parse("aapl.us").expect("a symbol"),
    };
    let registration = OfferRequest::Register {
        product_id: uuid::Uuid::now_v7(),
    };
    let (quote, registration) = tokio::join!(
        rpc::call(broker, &quote, timeout),
        rpc::call(broker, &registration, timeout),
    );
    assert_eq!(quote.expect("a quote").symbol, "AAPL.US");
    match registration {
        Err(CallError::Failed(failure)) => {
            assert_eq!(
                failure.code,
                platform::ErrorCode::NotFound,
                "{}",
                failure.msg
            );
        }
        other => panic!("expected the offer poller's answer, got {other:?}"),
    }
}
