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
//! - [`serve`]: serving an app on a listener, with header and shutdown timeouts.
//! - [`state`]: `AppState`, what every handler can reach.
//! - [`http`]: one router per resource, merged into the public and internal apps.
//! - [`domain`]: typed values (`ListingType`, `Price`, `PageRequest`…), parsed once.
//! - [`entities`]: sea-orm entities of the tables this crate's services own.
//! - [`ingest`]: product feeds: receiving, accepting (claim, publish,
//!   record: all or nothing) and applying them.
//! - [`cli`]: the binary's commands: serve, check health, or add an account from the shell.
//! - [`auth`]: accounts, passwords, tokens, the `Caller` / `Admin` extractors,
//!   and the guard every password check goes through.
//! - [`clients`]: the public API layer's HTTP clients of the listing and user services.
//! - [`metrics`]: Prometheus request counts and latency histograms, served
//!   with the process's other series (`shared::metrics`).

pub mod auth;
pub mod cli;
pub mod clients;
pub mod domain;
pub mod entities;
pub mod http;
pub mod ingest;
pub mod metrics;
pub mod serve;
pub mod startup;
pub mod state;

pub use startup::Application;
pub use state::AppState;
