//! Tests that need the real servers: they stop and restart a broker or a
//! Redis (their own private ones), or run the standalone workers.

mod balancer;
mod broker_restart;
mod catalog;
mod ingest;
mod metrics;
mod migrations;
mod quotes;
mod redis_outage;
mod workers;
