//! Product-feed ingestion (SPEC section 8, seed 003), apart from its HTTP
//! handlers.
//!
//! A feed goes through three steps:
//! 1. [`receive`]: the body is streamed once through the BLAKE3 hash and
//!    the feed checker, and (past [`receive::INLINE_MAX`] bytes) into a
//!    spool file, off the async runtime and in bounded memory.
//! 2. The handler claims the body's hash in the dedupe window, and
//!    [`jobs::Recorder`] stores the accepted feed as an ingest job (many
//!    concurrent feeds in one `INSERT`).
//! 3. [`apply::run`], a task of every `api` process, applies queued jobs
//!    to the catalog in batches, resuming after a crash from the last
//!    committed batch.
//!
//! A spooled body is a file only one host has, so only a process using
//! the same spool directory ([`Spool`]) applies it. Small bodies live in
//! the job's row, and any process may apply them.

pub mod apply;
pub mod jobs;
pub mod receive;
mod spool;

use std::sync::Arc;

use sea_orm::DatabaseConnection;
use tokio::sync::{Notify, Semaphore};

use self::jobs::Recorder;
pub use self::spool::{Spool, SpoolFile};

/// What the handlers and the apply task share.
pub struct Ingestion {
    pub spool: Spool,
    /// Stores the jobs of accepted feeds.
    pub recorder: Recorder,
    /// Wakes the apply task when a job is recorded here.
    pub wake: Notify,
    /// One permit per feed being received (`INGEST_MAX_CONCURRENT`).
    pub uploads: Semaphore,
}

impl Ingestion {
    /// Starts the job recorder on `db` (so it needs a runtime); at most
    /// `max_uploads` feeds are received at once.
    pub fn new(spool: Spool, db: DatabaseConnection, max_uploads: usize) -> Arc<Self> {
        Arc::new(Self {
            spool,
            recorder: Recorder::start(db),
            wake: Notify::new(),
            uploads: Semaphore::new(max_uploads),
        })
    }
}
