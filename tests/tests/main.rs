//! Mercato's system tests, one binary (linking is the slow part on two cores).
//!
//! Modules run on this run's backends (see the `tests` crate docs), except
//! `cluster`, which needs the real servers and is skipped by the embedded
//! pass of `scripts/test`.

mod accounts;
mod api;
mod broker;
mod cluster;
mod dedupe;
mod first_run;
mod ingest;
mod ingest_faults;
mod limits;
mod listings;
mod metrics;
mod offers_service;
mod polling;
mod products;
mod public_api;
mod quotes;
mod settings;
mod trends;
mod uploads;
