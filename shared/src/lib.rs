//! What every Mercato process shares: configuration, telemetry, the API
//! error type, the database connection, the message broker and the dedupe
//! window.
//!
//! The broker and the dedupe window each have two implementations, one for
//! the embedded mode (everything in one process) and one for a cluster
//! (RabbitMQ, Redis). [`Settings`] chooses; the code that uses them only ever
//! sees the traits.
//!
//! # Layout
//!
//! - [`settings`]: the environment variables of the README, parsed once.
//! - [`clock`]: "now" in microseconds, frozen and moved by hand in tests.
//! - [`telemetry`]: tracing set-up (`LOG_FORMAT=pretty|json`).
//! - [`trace`]: the request id and trace context, carried across processes.
//! - [`error`]: the API error enum, its stable codes and its JSON body.
//! - [`text`]: the control-character check every text input goes through.
//! - [`db`]: SQLite or PostgreSQL through sea-orm.
//! - [`http`]: the HTTP client for calling other services, with its timeouts.
//! - [`entities`]: the catalog tables `api` and `offer-poller` share.
//! - [`broker`]: RPC over RabbitMQ or in-process, behind [`broker::Broker`].
//! - [`rpc`]: typed requests and replies on top of the byte-level broker.
//! - [`messages`]: the request enums of each queue.
//! - [`metrics`]: the process's Prometheus series, and the workers' `/metrics` listener.
//! - [`dedupe`]: the ingestion dedupe window, Redis or in-memory.
//! - [`shutdown`]: SIGTERM and Ctrl-C as a cancellation token.

pub mod broker;
pub mod clock;
pub mod db;
pub mod dedupe;
pub mod entities;
pub mod error;
pub mod http;
pub mod messages;
pub mod metrics;
pub mod rpc;
pub mod settings;
pub mod shutdown;
pub mod telemetry;
pub mod text;
pub mod trace;

pub mod backoff;

pub use clock::Clock;
pub use error::{Error, ErrorCode, Result};
pub use settings::{Services, Settings};
