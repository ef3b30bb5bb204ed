//! Product-feed ingestion (SPEC section 8, seed 003).
//!
//! A feed goes through three steps:
//! 1. [`receive`]: the body is streamed once through the BLAKE3 hash and
//!    the feed checker, and (past [`receive::INLINE_MAX`] bytes) into a
//!    spool file, off the async runtime and in bounded memory.
//! 2. [`accept`]: the body's hash claims the dedupe window and
//!    [`jobs::Recorder`] stores the accepted feed as an ingest job (many
//!    concurrent feeds in one `INSERT`), all or nothing, in a task the
//!    client cannot cut short.
//! 3. [`apply::run`], a task of every `api` process, applies queued jobs
//!    to the catalog in batches, resuming after a crash from the last
//!    committed batch.
//!
//! Beside the steps: [`router`], the thin HTTP handlers of feeds, and
//! [`report`], of the jobs they became, both behind [`sender`]'s
//! extractor; [`encoding`],
//! decoding a compressed body as it streams in; [`dedupe`], the
//! window a body claims (Redis or in memory); [`jobs`], recording,
//! claiming and ending the rows of `ingest_jobs` ([`entity`]); `spool`, where large
//! bodies are kept; [`metrics`], the ingestion series; [`uploads`],
//! resumable uploads (tus) whose last byte ends in the same acceptance.
//!
//! A spooled body is applied by any process using the same spool
//! directory ([`Spool`]; one volume shared by every replica). Small bodies
//! live in the job's row, and any process may apply them.

pub mod accept;
pub mod apply;
pub mod dedupe;
pub mod encoding;
pub mod entity;
pub mod jobs;
pub mod metrics;
pub mod receive;
pub mod report;
pub mod router;
pub mod sender;
mod spool;
pub mod uploads;

use std::sync::Arc;
use std::time::Duration;

use platform::Error;
use platform::metrics::Metrics;
use sea_orm::DatabaseConnection;
use tokio::sync::{Notify, Semaphore, SemaphorePermit};

use self::jobs::Recorder;
use self::metrics::IngestSeries;
pub use self::spool::{Spool, SpoolFile};

/// What the handlers and the apply task share.
pub struct Ingestion {
    pub spool: Spool,
    /// Stores the jobs of accepted feeds.
    pub recorder: Recorder,
    /// The pool the recorder and the apply task write through
    /// ([`platform::db::writer`]).
    pub db: DatabaseConnection,
    /// Wake the apply lanes when a job is recorded here.
    small_recorded: Notify,
    large_recorded: Notify,
    /// One permit per feed being received (`INGEST_MAX_CONCURRENT`): see
    /// [`Ingestion::receiving`].
    uploads: Semaphore,
    max_uploads: usize,
    /// Holders of the dedupe window lately found accepted.
    pub holders: accept::Holders,
    /// Where each resumable upload's checker and hash stand between requests.
    pub intakes: uploads::Intakes,
    pub metrics: Arc<IngestSeries>,
}

impl Ingestion {
    /// Starts the job recorder on `db`, the writers' pool (so it needs a
    /// runtime); at most `max_uploads` feeds are received at once; counted
    /// in `metrics`.
    pub fn new(
        spool: Spool,
        db: DatabaseConnection,
        max_uploads: usize,
        metrics: &Metrics,
    ) -> Arc<Self> {
        Arc::new(Self {
            spool,
            recorder: Recorder::start(db.clone()),
            db,
            small_recorded: Notify::new(),
            large_recorded: Notify::new(),
            uploads: Semaphore::new(max_uploads),
            max_uploads,
            holders: accept::Holders::default(),
            intakes: uploads::Intakes::default(),
            metrics: metrics.series(),
        })
    }

    /// A permit to receive one body (a feed, or a resumable upload's
    /// bytes), held while it is received: 503 with `Retry-After` while
    /// `INGEST_MAX_CONCURRENT` are being received already, before any of
    /// the body is read.
    pub fn receiving(&self) -> Result<SemaphorePermit<'_>, Error> {
        self.uploads.try_acquire().map_err(|_| Error::Busy {
            msg: format!(
                "{} feeds are being received already; retry shortly",
                self.max_uploads
            ),
            retry_after: Duration::from_secs(1),
        })
    }

    /// Wakes the lane that applies a feed of `size` bytes just recorded.
    pub fn recorded(&self, size: u64) {
        let lane = if size <= jobs::SMALL_FEED_BYTES.unsigned_abs() {
            Lane::Small
        } else {
            Lane::Large
        };
        self.woken(lane).notify_one();
    }

    /// What wakes `lane`.
    pub fn woken(&self, lane: Lane) -> &Notify {
        match lane {
            Lane::Small => &self.small_recorded,
            Lane::Large => &self.large_recorded,
        }
    }
}

/// The two queues jobs are applied from, side by side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// Feeds up to [`jobs::SMALL_FEED_BYTES`].
    Small,
    /// Larger feeds.
    Large,
}
