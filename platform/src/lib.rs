//! What every Mercato process stands on: its configuration, logs and
//! trace context, shutdown, clock, database, HTTP client, the API error
//! type and the metrics registry. Nothing here knows a feature.
//!
//! # Layout
//!
//! - [`settings`]: the environment variables of the README, parsed once.
//! - [`cli`]: the flags every binary takes over those variables.
//! - [`clock`]: "now", frozen and moved by hand in tests.
//! - [`telemetry`]: tracing set-up (`LOG_FORMAT=pretty|json`).
//! - [`trace`]: the request id and trace context, carried across processes.
//! - [`shutdown`]: SIGTERM and Ctrl-C as a cancellation token.
//! - [`error`]: the API error enum, its stable codes and its JSON body.
//! - [`db`]: SQLite or PostgreSQL through sea-orm.
//! - [`http`]: the HTTP client for calling other services, with its limits.
//! - [`backoff`]: retry delays with jitter.
//! - [`metrics`]: the process's Prometheus series, and the workers' `/metrics` listener.

pub mod backoff;
pub mod cli;
pub mod clock;
pub mod db;
pub mod error;
pub mod http;
pub mod metrics;
pub mod settings;
pub mod shutdown;
pub mod telemetry;
pub mod trace;

pub use clock::{Clock, Timestamp};
pub use error::{Error, ErrorCode, Result};
pub use settings::{Services, Settings};
