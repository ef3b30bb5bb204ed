//! Mercato's HTTP API, and in embedded mode the whole system in one process.
//!
//! [`Application::build`] opens the database, the broker and the dedupe
//! window chosen by the [`Settings`](shared::Settings) and binds both
//! listeners; [`Application::run_until_stopped`] serves them (and, when
//! `RUN_WORKERS` is on, runs `quote-worker` and `offer-poller` as tasks on
//! the same broker) until the shutdown token is cancelled.
//!
//! # Layout
//!
//! - [`startup`]: `Application`, build then run, and the task supervisor.
//! - [`state`]: `AppState`, what every handler can reach.
//! - [`http`]: one router per resource, merged into the public and internal apps.
//! - [`metrics`]: Prometheus request counts and latency histograms.

pub mod http;
pub mod metrics;
pub mod startup;
pub mod state;

pub use startup::Application;
pub use state::AppState;
