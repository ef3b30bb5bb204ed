//! Mercato's HTTP API, and in embedded mode the whole system in one process.
//!
//! [`Application::build`] opens the database, the broker and the dedupe
//! window chosen by the [`Settings`](platform::Settings) and binds both
//! listeners; [`Application::run_until_stopped`] serves them (and, when
//! `RUN_WORKERS` is on, runs `quote-worker` and `offer-poller` as tasks on
//! the same broker) until the shutdown token is cancelled.
//!
//! # Layout
//!
//! One folder per feature, each with its router, model, store and entity
//! side by side, and two folders every feature uses:
//!
//! - [`app`]: `Application` (build, then run), `AppState`, the public and
//!   internal apps with their layers, their two OpenAPI documents, health.
//! - [`web`]: what every router uses: extractors, paging, HTTP metrics.
//! - [`accounts`]: accounts, passwords, tokens, the `Caller` / `Admin`
//!   extractors and the guard every password check goes through.
//! - [`catalog`]: products, their offers and price trends.
//! - [`quotes`]: stock quotes, fetched by `quote-worker` over the broker.
//! - [`ingest`]: product feeds: receiving, accepting (claim, publish,
//!   record: all or nothing), applying, and the dedupe window.
//! - [`marketplace`]: seed 004: the listing and user services and the
//!   public API layer in front of them.
//! - [`cli`]: the binary's commands: serve, demo (with the third-party
//!   fakes inside), accounts, migrate, healthcheck; and the start banner.

pub mod accounts;
pub mod app;
pub mod catalog;
pub mod cli;
pub mod ingest;
pub mod marketplace;
pub mod quotes;
pub mod web;

pub use app::{AppState, Application};
