//! The life of one job: claimed by a lane, applied as far as it goes,
//! narrowed down when the database refuses data, failed, or put back for
//! later.
//!
//! Length: the life of a job (claimed, applied, narrowed down, failed,
//! retried, given back) is one story, read top to bottom here; reading,
//! planning, writing and upkeep have files of their own.

use std::sync::Arc;
use std::time::Duration;

use crate::ingest::metrics::IngestSeries;
use platform::Clock;
use sea_orm::DbErr;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::plan::Part;
use super::read::{read_all_items, read_items};
use super::write::write_parts;
use crate::ingest::dedupe::DedupeWindow;
use crate::ingest::entity as ingest_job;
use crate::ingest::jobs::{self, Claimable};
use crate::ingest::spool::remove_file;
use crate::ingest::{Ingestion, Lane, accept};

/// Small jobs (bodies in their rows) applied in one transaction.
pub const GROUP: u64 = 256;

/// The pause after a group smaller than [`GROUP`], so that under a flood
/// of small feeds the next group gathers more of them: each group costs
/// two claims and a transaction whatever its size, and holds SQLite's one
/// write lock, which the job recorder (every accepted feed's 200) waits
/// for. A full group is followed at once, so the pause never caps the
/// rate; a feed alone is applied this much later at most.
const GATHER: Duration = Duration::from_millis(10);

/// Failures that may pass after which a job fails for good.
pub const MAX_ATTEMPTS: i64 = 8;

/// The wait after a job's first such failure; it doubles with each one.
const RETRY_FIRST: Duration = Duration::from_secs(1);

/// The longest wait between two attempts at a job.
const RETRY_MAX: Duration = Duration::from_secs(300);

/// How often jobs are looked for when nothing wakes a lane: jobs other
/// replicas recorded, leases that lapsed, retries that came due.
pub(super) const POLL_EVERY: Duration = Duration::from_secs(1);

/// What the apply task needs.
#[derive(Clone)]
pub struct Applier {
    pub clock: Clock,
    /// The spool, and the writers' pool (`db`) the jobs are claimed,
    /// applied and ended through.
    pub ingestion: Arc<Ingestion>,
    /// Failed jobs give their claims back here.
    pub dedupe: Arc<dyn DedupeWindow>,
    /// Finished jobs and applied items are counted here.
    pub metrics: Arc<IngestSeries>,
    /// `INGEST_LEASE_SECS`.
    pub lease: Duration,
}

pub(super) async fn lane(applier: &Applier, lane: Lane, shutdown: &CancellationToken) {
    let mut tick = tokio::time::interval(POLL_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = applier.ingestion.woken(lane).notified() => {}
            _ = tick.tick() => {}
        }
        while !shutdown.is_cancelled() {
            match apply_next(applier, lane, shutdown).await {
                Ok(Applied::Nothing) => break,
                Ok(Applied::Group(jobs)) if jobs < GROUP => {
                    // Let the next group gather before claiming it.
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(GATHER) => {}
                    }
                }
                Ok(Applied::Group(_) | Applied::Spooled) => {}
                Err(e) => {
                    tracing::warn!(
                        error = format!("{e:#}"),
                        "applying feeds failed; they are retried"
                    );
                    break;
                }
            }
        }
    }
}

/// What [`apply_next`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// There was no job to claim.
    Nothing,
    /// A group of this many small jobs, bodies in their rows.
    Group(u64),
    /// One spooled job.
    Spooled,
}

/// Claims the oldest job of `lane` and applies it as far as it goes; a
/// job whose body is in its row is applied together with up to [`GROUP`]
/// - 1 more such jobs.
pub async fn apply_next(
    applier: &Applier,
    lane: Lane,
    shutdown: &CancellationToken,
) -> anyhow::Result<Applied> {
    let spool = applier.ingestion.spool.id();
    let now = applier.clock.now();
    let which = match lane {
        Lane::Small => Claimable::Small,
        Lane::Large => Claimable::Large,
    };
    let lease = applier.lease;
    let mut claimed = jobs::claim(&applier.ingestion.db, which, spool, 1, now, lease).await?;
    let Some(first) = claimed.pop() else {
        return Ok(Applied::Nothing);
    };
    let applied = if first.spool.is_none() {
        let mut group = vec![first];
        group.extend(
            jobs::claim(
                &applier.ingestion.db,
                Claimable::Inline,
                spool,
                GROUP - 1,
                now,
                lease,
            )
            .await?,
        );
        let jobs = group.len() as u64;
        apply_group(applier, group).await?;
        Applied::Group(jobs)
    } else {
        apply_spooled(applier, first, shutdown).await?;
        Applied::Spooled
    };
    Ok(applied)
}

/// What the database did with a write.
enum Written {
    /// Committed.
    Done,
    /// Another process moved the job on: it is applying it now.
    Lost,
}

/// Why a write did not happen.
enum WriteError {
    /// May pass if tried again later.
    Transient(DbErr),
    /// The database refuses the job's own row: the job fails.
    Refused(String),
}

/// Applies small jobs (bodies in their rows) in one transaction; if the
/// database refuses the group's data, each job alone.
async fn apply_group(applier: &Applier, group: Vec<ingest_job::Model>) -> anyhow::Result<()> {
    let read = tokio::task::spawn_blocking(move || {
        group
            .into_iter()
            .map(|mut job| {
                let body = job.body.take().unwrap_or_default();
                let skip = u64::try_from(job.processed).unwrap_or(0);
                let items = read_all_items(&body, skip);
                (job, items)
            })
            .collect::<Vec<_>>()
    })
    .await?;
    let mut jobs_in_hand = Vec::with_capacity(read.len());
    let mut parts = Vec::with_capacity(read.len());
    for (job, items) in read {
        match items {
            Ok(items) => {
                parts.push(Part {
                    job: job.id,
                    processed: job.processed,
                    items,
                    last: true,
                    refused: None,
                    spooled: false,
                });
                jobs_in_hand.push(job);
            }
            Err(problem) => fail(applier, &job, problem).await?,
        }
    }
    if parts.is_empty() {
        return Ok(());
    }
    let items: u64 = parts.iter().map(|part| part.items.len() as u64).sum();
    let now = applier.clock.now();
    match write_parts(applier, &parts, now).await {
        Ok(true) => {
            count_done(applier, parts.len() as u64);
            applier.metrics.items_applied.inc_by(items);
        }
        Ok(false) => tracing::warn!(
            jobs = parts.len(),
            "another process is applying these feeds"
        ),
        Err(e) if platform::db::is_data_error(&e) => {
            tracing::warn!(error = %e, jobs = parts.len(), "the database refused a group of feeds; applying them one by one");
            for (job, part) in jobs_in_hand.iter().zip(parts) {
                let count = part.items.len() as u64;
                match write_narrowing(applier, part).await {
                    Ok(Written::Done) => {
                        count_done(applier, 1);
                        applier.metrics.items_applied.inc_by(count);
                    }
                    Ok(Written::Lost) => {}
                    Err(WriteError::Refused(problem)) => fail(applier, job, problem).await?,
                    Err(WriteError::Transient(e)) => retry_later(applier, job, &e).await?,
                }
            }
        }
        Err(e) => {
            for job in &jobs_in_hand {
                retry_later(applier, job, &e).await?;
            }
        }
    }
    Ok(())
}

/// Applies a spooled job batch by batch, until it is done, fails, is put
/// back for later, or shutdown comes.
async fn apply_spooled(
    applier: &Applier,
    job: ingest_job::Model,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let path = applier.ingestion.spool.path_of(job.id);
    let body = match std::fs::File::open(&path) {
        Ok(body) => body,
        Err(e) => {
            tracing::error!(ingest = %job.id, error = %e, "cannot open a spooled body");
            return fail(applier, &job, "the spooled body cannot be read".to_owned()).await;
        }
    };
    let skip = u64::try_from(job.processed).unwrap_or(0);
    let (batches, mut inbox) = mpsc::channel(1);
    let reader = tokio::task::spawn_blocking(move || read_items(body, skip, &batches));
    let mut processed = job.processed;
    let outcome = loop {
        let Some(batch) = inbox.recv().await else {
            break Ok(Outcome::Finished);
        };
        let items = match batch {
            Ok(items) => items,
            Err(problem) => break Ok(Outcome::Failed(problem)),
        };
        if shutdown.is_cancelled() {
            break Ok(Outcome::Stopped);
        }
        let count = items.len() as i64;
        let part = Part {
            job: job.id,
            processed,
            items,
            last: false,
            refused: None,
            spooled: true,
        };
        match write_narrowing(applier, part).await {
            Ok(Written::Done) => {}
            Ok(Written::Lost) => break Ok(Outcome::Lost),
            Err(WriteError::Refused(problem)) => break Ok(Outcome::Failed(problem)),
            Err(WriteError::Transient(e)) => break Err(e),
        }
        applier.metrics.items_applied.inc_by(count.unsigned_abs());
        processed += count;
    };
    // Dropping the receiver stops a reader that is still going.
    drop(inbox);
    reader.await.ok();
    match outcome {
        Ok(Outcome::Finished) => {
            if jobs::finish(&applier.ingestion.db, job.id, None, applier.clock.now()).await? {
                count_done(applier, 1);
                tracing::info!(ingest = %job.id, "feed applied");
                remove_file(&path);
            }
        }
        Ok(Outcome::Failed(problem)) => fail(applier, &job, problem).await?,
        Ok(Outcome::Stopped) => jobs::release(&applier.ingestion.db, &[job.id]).await?,
        Ok(Outcome::Lost) => {
            tracing::warn!(ingest = %job.id, "another process is applying this feed");
        }
        Err(e) => retry_later(applier, &job, &e).await?,
    }
    Ok(())
}

/// How applying a spooled job ended.
enum Outcome {
    Finished,
    /// The job cannot be applied, ever.
    Failed(String),
    /// Shutdown came between two batches.
    Stopped,
    /// Another process moved the job on.
    Lost,
}

/// Writes `part`; if the database refuses its data, halves it until the
/// refused items are found and skips those, counted with their problem.
async fn write_narrowing(applier: &Applier, part: Part) -> Result<Written, WriteError> {
    let now = applier.clock.now();
    let error = match write_parts(applier, std::slice::from_ref(&part), now).await {
        Ok(true) => return Ok(Written::Done),
        Ok(false) => return Ok(Written::Lost),
        Err(e) if platform::db::is_data_error(&e) => e,
        Err(e) => return Err(WriteError::Transient(e)),
    };
    if part.refused.is_some() || part.items.is_empty() {
        // Nothing of the items is written: the job's own row is refused.
        tracing::error!(ingest = %part.job, error = %error, "the database refused a feed's job");
        return Err(WriteError::Refused(
            "the database refused the feed's data".to_owned(),
        ));
    }
    if part.items.len() == 1 {
        let index = part.items[0].index;
        tracing::warn!(ingest = %part.job, item = index, error = %error, "the database refused a feed item; it is skipped");
        let refused = Part {
            refused: Some(format!("items[{index}]: the database refused it")),
            ..part
        };
        return Box::pin(write_narrowing(applier, refused)).await;
    }
    let (first, second) = part.halves();
    match Box::pin(write_narrowing(applier, first)).await? {
        Written::Done => Box::pin(write_narrowing(applier, second)).await,
        Written::Lost => Ok(Written::Lost),
    }
}

fn count_done(applier: &Applier, jobs: u64) {
    applier
        .metrics
        .jobs
        .with_label_values(&["done"])
        .inc_by(jobs);
}

/// Ends `job` as failed with `problem`, deletes its spooled body and
/// gives its dedupe claim back.
async fn fail(applier: &Applier, job: &ingest_job::Model, problem: String) -> anyhow::Result<()> {
    let now = applier.clock.now();
    if !jobs::finish(&applier.ingestion.db, job.id, Some(problem.clone()), now).await? {
        // Another process ended it meanwhile; its outcome stands.
        return Ok(());
    }
    tracing::error!(ingest = %job.id, problem, "feed failed");
    applier.metrics.jobs.with_label_values(&["failed"]).inc();
    if job.spool.is_some() {
        remove_file(&applier.ingestion.spool.path_of(job.id));
    }
    applier.ingestion.holders.forget(job.id);
    match feed::BodyHash::from_hex(&job.hash) {
        Some(hash) => accept::give_back(&applier.dedupe, hash, job.id),
        None => {
            tracing::error!(ingest = %job.id, hash = job.hash, "a job's hash does not parse; its claim runs out instead")
        }
    }
    Ok(())
}

/// Puts `job` back after `error`, a failure that may pass, to be tried
/// again after a backoff; after [`MAX_ATTEMPTS`] it fails for good.
async fn retry_later(
    applier: &Applier,
    job: &ingest_job::Model,
    error: &DbErr,
) -> anyhow::Result<()> {
    let attempts = job.attempts + 1;
    if attempts >= MAX_ATTEMPTS {
        tracing::error!(ingest = %job.id, attempts, error = %error, "applying a feed failed too often");
        return fail(
            applier,
            job,
            format!("applying the feed failed {attempts} times (a database error)"),
        )
        .await;
    }
    let failures = u32::try_from(attempts).unwrap_or(u32::MAX);
    let wait = platform::backoff::after_failures(failures, RETRY_FIRST, RETRY_MAX);
    tracing::warn!(ingest = %job.id, attempts, error = %error, retry_in = ?wait, "applying a feed failed; it is retried");
    applier.metrics.job_retries.inc();
    jobs::retry_later(
        &applier.ingestion.db,
        job.id,
        attempts,
        applier.clock.now(),
        wait,
    )
    .await?;
    Ok(())
}
