//! sea-orm entities of the tables the `api` crate's services own. Each table
//! is read and written only by its service's handlers.

pub mod account;
pub mod ingest_job;
pub mod listing;
pub mod quote;
pub mod user;
