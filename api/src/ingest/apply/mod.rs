//! Applying accepted feeds to the catalog, in the background.
//!
//! Every `api` process that serves the public listener runs [`run`]: two
//! lanes side by side, each claiming the oldest unfinished job of its kind
//! ([`jobs::claim`](super::jobs::claim)). The small lane takes feeds up to
//! [`jobs::SMALL_FEED_BYTES`](super::jobs::SMALL_FEED_BYTES), the large lane the rest, so one huge feed
//! never holds up the small ones behind it.
//!
//! - A **spooled** body is read on a blocking thread with the extracting
//!   [`Scanner`](feed::Scanner), which keeps each field only up to the catalog's bound
//!   and hands over batches of at most [`BATCH`] items and [`BATCH_BYTES`]
//!   through a small channel: applying holds little memory whatever the
//!   items look like. Each batch is one transaction: the items are upserted
//!   into `products` by `sku` (the item's `id`), and the job's counts move
//!   forward, but only if no other process has moved them meanwhile. So a
//!   batch is applied exactly once, and a process that dies mid-feed
//!   leaves the job at its last committed batch; any process sharing the
//!   spool directory resumes it there once the lease lapses.
//! - A **small** body (kept in the job's row) is applied whole, together
//!   with up to [`GROUP`] - 1 other small jobs, in one transaction that
//!   also marks them done: a flood of small feeds costs a few statements
//!   per group, not per feed.
//!
//! # Layout
//!
//! - this file: [`run`], both lanes and the upkeep side by side;
//! - `job`: the lanes, claiming, and what happens to a job (done,
//!   failed, retried later, narrowed down);
//! - `read`: reading a body's items, in batches;
//! - `plan`: what a write comes to (pure, unit-tested);
//! - `write`: the transaction that carries a plan out;
//! - `upkeep`: the stuck-job gauge and the spool sweep.
//!
//! Errors are sorted (SPEC section 10, "Poison"):
//! - an item the catalog refuses is skipped and counted, its problem kept;
//! - data the database refuses ([`platform::db::is_data_error`]) is narrowed
//!   down by halving the batch until the refused items are found, and those
//!   are skipped the same way; a group of small jobs is first split into
//!   its jobs. A refusal no item explains fails that job alone;
//! - anything else may pass: the job goes back to the queue with one more
//!   attempt counted, claimable again after a backoff, and fails for good
//!   after [`MAX_ATTEMPTS`];
//! - a body that cannot be read or is malformed fails its job.
//!
//! A failed job gives its dedupe claim back: the same body may be sent
//! again at once.
//!
//! New products are stored due for registration, so `offer-poller`'s
//! retry pass registers them with the Offers service as in SPEC section 5.

mod job;
mod plan;
mod read;
mod upkeep;
mod write;

use tokio_util::sync::CancellationToken;

pub use self::job::{Applied, Applier, GROUP, MAX_ATTEMPTS, apply_next};
pub use self::read::{BATCH, BATCH_BYTES};
pub use self::upkeep::sweep_orphans;
use super::Lane;

/// Applies jobs until `shutdown`, in both lanes, and keeps the spool
/// directory and the stuck-job gauge up to date. Between batches, a
/// stopping lane gives the job in hand back for the next process.
pub async fn run(applier: Applier, shutdown: CancellationToken) -> anyhow::Result<()> {
    tokio::join!(
        job::lane(&applier, Lane::Small, &shutdown),
        job::lane(&applier, Lane::Large, &shutdown),
        upkeep::upkeep(&applier, &shutdown),
    );
    Ok(())
}
