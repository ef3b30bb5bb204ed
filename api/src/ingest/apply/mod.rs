//! Applying accepted feeds to the catalog, in the background.
//!
//! Every `api` process that serves the public listener runs [`run`]: two
//! lanes side by side, each claiming the oldest unfinished job of its kind
//! ([`jobs::claim`]). The small lane takes feeds up to
//! [`jobs::SMALL_FEED_BYTES`], the large lane the rest, so one huge feed
//! never holds up the small ones behind it.
//!
//! - A **spooled** body is read on a blocking thread with the extracting
//!   [`Scanner`], which keeps each field only up to the catalog's bound
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

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::ingest::dedupe::DedupeWindow;
use catalog_entities::product;
use feed::{Field, FieldLimits, RawItem, Scanner};
use platform::metrics::Metrics;
use platform::{Clock, Timestamp};
use sea_orm::sea_query::{Expr, Func, OnConflict};
use sea_orm::{
    ActiveValue, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, ExprTrait, QueryFilter,
    QuerySelect, TransactionTrait,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::entity as ingest_job;
use super::jobs::{self, Claimable, Status};
use super::{Ingestion, Lane, Spool, accept};
use crate::catalog::{Description, ProductName, Sku};

/// Items per transaction when a spooled feed is applied, and rows per statement.
pub const BATCH: usize = 1000;

/// Captured field bytes after which a batch is handed over even if it has
/// fewer than [`BATCH`] items.
pub const BATCH_BYTES: usize = 4 * 1024 * 1024;

/// Small jobs (bodies in their rows) applied in one transaction.
pub const GROUP: u64 = 256;

/// Failures that may pass after which a job fails for good.
pub const MAX_ATTEMPTS: i64 = 8;

/// The wait after a job's first such failure; it doubles with each one.
const RETRY_FIRST: Duration = Duration::from_secs(1);

/// The longest wait between two attempts at a job.
const RETRY_MAX: Duration = Duration::from_secs(300);

/// How often jobs are looked for when nothing wakes a lane: jobs other
/// replicas recorded, leases that lapsed, retries that came due.
const POLL_EVERY: Duration = Duration::from_secs(1);

/// A spool file no unfinished job needs is deleted once nothing has
/// written to it for this long: an accepted name a crash left without its
/// job, or an upload a crash cut off. A live upload writes at least every
/// `HTTP_BODY_IDLE_TIMEOUT_SECS`, or is cut off.
const ORPHAN_AGE: Duration = Duration::from_secs(600);

/// How much of a spooled body is read at a time.
const READ_CHUNK: usize = 256 * 1024;

/// What the apply task needs.
#[derive(Clone)]
pub struct Applier {
    pub db: DatabaseConnection,
    pub clock: Clock,
    pub ingestion: Arc<Ingestion>,
    /// Failed jobs give their claims back here.
    pub dedupe: Arc<dyn DedupeWindow>,
    /// Finished jobs and applied items are counted here.
    pub metrics: Arc<Metrics>,
    /// `INGEST_LEASE_SECS`.
    pub lease: Duration,
}

/// How much of each item field the applier keeps: the catalog's bounds.
fn field_limits() -> FieldLimits {
    FieldLimits {
        id: FieldLimits::for_chars(Sku::MAX_CHARS),
        name: FieldLimits::for_chars(ProductName::MAX_CHARS),
        description: FieldLimits::for_chars(Description::MAX_CHARS),
    }
}

/// Applies jobs until `shutdown`, in both lanes, and keeps the spool
/// directory and the stuck-job gauge up to date. Between batches, a
/// stopping lane gives the job in hand back for the next process.
pub async fn run(applier: Applier, shutdown: CancellationToken) -> anyhow::Result<()> {
    tokio::join!(
        lane(&applier, Lane::Small, &shutdown),
        lane(&applier, Lane::Large, &shutdown),
        upkeep(&applier, &shutdown),
    );
    Ok(())
}

async fn lane(applier: &Applier, lane: Lane, shutdown: &CancellationToken) {
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
                Ok(true) => {}
                Ok(false) => break,
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

/// Every [`POLL_EVERY`]: the stuck-job gauge; every [`ORPHAN_AGE`]: the
/// spool sweep.
async fn upkeep(applier: &Applier, shutdown: &CancellationToken) {
    let mut tick = tokio::time::interval(POLL_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_sweep: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        match jobs::oldest_pending(&applier.db).await {
            Ok(oldest) => {
                let age = oldest.map_or(Duration::ZERO, |at| applier.clock.now().since(at));
                applier
                    .metrics
                    .ingest_oldest_pending_seconds
                    .set(age.as_secs_f64());
            }
            Err(e) => tracing::debug!(error = %e, "cannot read the oldest pending feed"),
        }
        if last_sweep.is_none_or(|at| at.elapsed() >= ORPHAN_AGE) {
            last_sweep = Some(tokio::time::Instant::now());
            if let Err(e) = sweep_orphans(applier).await {
                tracing::warn!(
                    error = format!("{e:#}"),
                    "cleaning the spool directory failed"
                );
            }
        }
    }
}

/// Claims the oldest job of `lane` and applies it as far as it goes; a
/// job whose body is in its row is applied together with up to [`GROUP`]
/// - 1 more such jobs. `false` when there was none to claim.
pub async fn apply_next(
    applier: &Applier,
    lane: Lane,
    shutdown: &CancellationToken,
) -> anyhow::Result<bool> {
    let spool = applier.ingestion.spool.id();
    let now = applier.clock.now();
    let which = match lane {
        Lane::Small => Claimable::Small,
        Lane::Large => Claimable::Large,
    };
    let lease = applier.lease;
    let mut claimed = jobs::claim(&applier.db, which, spool, 1, now, lease).await?;
    let Some(first) = claimed.pop() else {
        return Ok(false);
    };
    if first.spool.is_none() {
        let mut group = vec![first];
        group.extend(
            jobs::claim(&applier.db, Claimable::Inline, spool, GROUP - 1, now, lease).await?,
        );
        apply_group(applier, group).await?;
    } else {
        apply_spooled(applier, first, shutdown).await?;
    }
    Ok(true)
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
    match write_parts(&applier.db, &parts, now, applier.lease).await {
        Ok(true) => {
            count_done(applier, parts.len() as u64);
            applier.metrics.ingest_items_applied.inc_by(items);
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
                        applier.metrics.ingest_items_applied.inc_by(count);
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
        };
        match write_narrowing(applier, part).await {
            Ok(Written::Done) => {}
            Ok(Written::Lost) => break Ok(Outcome::Lost),
            Err(WriteError::Refused(problem)) => break Ok(Outcome::Failed(problem)),
            Err(WriteError::Transient(e)) => break Err(e),
        }
        applier
            .metrics
            .ingest_items_applied
            .inc_by(count.unsigned_abs());
        processed += count;
    };
    // Dropping the receiver stops a reader that is still going.
    drop(inbox);
    reader.await.ok();
    match outcome {
        Ok(Outcome::Finished) => {
            if jobs::finish(&applier.db, job.id, None, applier.clock.now()).await? {
                count_done(applier, 1);
                tracing::info!(ingest = %job.id, "feed applied");
                remove_spool_file(&path);
            }
        }
        Ok(Outcome::Failed(problem)) => fail(applier, &job, problem).await?,
        Ok(Outcome::Stopped) => jobs::release(&applier.db, &[job.id]).await?,
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
    let error =
        match write_parts(&applier.db, std::slice::from_ref(&part), now, applier.lease).await {
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
        .ingest_jobs
        .with_label_values(&["done"])
        .inc_by(jobs);
}

/// Ends `job` as failed with `problem`, deletes its spooled body and
/// gives its dedupe claim back.
async fn fail(applier: &Applier, job: &ingest_job::Model, problem: String) -> anyhow::Result<()> {
    let now = applier.clock.now();
    if !jobs::finish(&applier.db, job.id, Some(problem.clone()), now).await? {
        // Another process ended it meanwhile; its outcome stands.
        return Ok(());
    }
    tracing::error!(ingest = %job.id, problem, "feed failed");
    applier
        .metrics
        .ingest_jobs
        .with_label_values(&["failed"])
        .inc();
    if job.spool.is_some() {
        remove_spool_file(&applier.ingestion.spool.path_of(job.id));
    }
    applier.ingestion.holders.forget(job.id);
    accept::give_back(&applier.dedupe, job.hash.clone(), job.id.to_string());
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
    applier.metrics.ingest_job_retries.inc();
    jobs::retry_later(&applier.db, job.id, attempts, applier.clock.now(), wait).await?;
    Ok(())
}

/// All the items of a small body from index `skip` on, or its problem.
fn read_all_items(body: &[u8], skip: u64) -> Result<Vec<RawItem>, String> {
    let mut scanner = Scanner::extracting_within(field_limits());
    let mut items = Vec::new();
    scanner
        .feed(body, &mut |item| {
            if item.index >= skip {
                items.push(item.clone());
            }
        })
        .map_err(|e| format!("malformed feed: {e}"))?;
    scanner
        .finish()
        .map_err(|e| format!("malformed feed: {e}"))?;
    Ok(items)
}

/// The bytes an item's captured fields hold.
fn captured_bytes(item: &RawItem) -> usize {
    [&item.id, &item.name, &item.description]
        .into_iter()
        .map(|field| match field {
            Some(Field::String(text) | Field::Number(text)) => text.len(),
            _ => 0,
        })
        .sum()
}

/// Reads the body's items from index `skip` on, sending them in batches
/// of at most [`BATCH`] items and [`BATCH_BYTES`]; a problem with the body
/// is sent as its message.
fn read_items(
    mut body: impl Read,
    skip: u64,
    batches: &mpsc::Sender<Result<Vec<RawItem>, String>>,
) {
    let mut scanner = Scanner::extracting_within(field_limits());
    let mut full: Vec<Vec<RawItem>> = Vec::new();
    let mut batch = Vec::with_capacity(BATCH);
    let mut batch_bytes = 0;
    let mut buffer = vec![0; READ_CHUNK];
    loop {
        let read = match body.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => read,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                tracing::error!(error = %e, "cannot read a spooled body");
                let _ = batches.blocking_send(Err("the spooled body cannot be read".to_owned()));
                return;
            }
        };
        let fed = scanner.feed(&buffer[..read], &mut |item| {
            if item.index >= skip {
                batch_bytes += captured_bytes(item);
                batch.push(item.clone());
                if batch.len() >= BATCH || batch_bytes >= BATCH_BYTES {
                    full.push(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)));
                    batch_bytes = 0;
                }
            }
        });
        if let Err(e) = fed {
            let _ = batches.blocking_send(Err(format!("malformed feed: {e}")));
            return;
        }
        for ready in full.drain(..) {
            if batches.blocking_send(Ok(ready)).is_err() {
                return;
            }
        }
    }
    match scanner.finish() {
        Ok(_) if batch.is_empty() => {}
        Ok(_) => {
            let _ = batches.blocking_send(Ok(batch));
        }
        Err(e) => {
            let _ = batches.blocking_send(Err(format!("malformed feed: {e}")));
        }
    }
}

/// One item as the catalog takes it.
struct Upsert {
    sku: String,
    name: Option<String>,
    description: Option<String>,
}

impl Upsert {
    /// The item's fields, or why the catalog cannot take them.
    fn from_item(item: &RawItem) -> Result<Self, String> {
        let at = format!("items[{}]", item.index);
        let sku = match &item.id {
            Some(Field::String(id) | Field::Number(id)) => {
                Sku::parse(id).map_err(|e| format!("{at}.id: {e}"))?
            }
            Some(Field::TooLong) => return Err(format!("{at}.id is too long for a sku")),
            Some(Field::Other) | None => return Err(format!("{at} has no usable id")),
        };
        let text = |field: &Option<Field>, name: &str| match field {
            None => Ok(None),
            Some(Field::String(text)) => Ok(Some(text.clone())),
            Some(Field::TooLong) => Err(format!("{at}.{name} is too long")),
            Some(Field::Number(_) | Field::Other) => Err(format!("{at}.{name} must be a string")),
        };
        let name = text(&item.name, "name")?
            .map(|name| ProductName::parse(&name).map_err(|e| format!("{at}: {e}")))
            .transpose()?;
        let description = text(&item.description, "description")?
            .map(|text| Description::parse(&text).map_err(|e| format!("{at}: {e}")))
            .transpose()?;
        Ok(Self {
            sku: sku.into_inner(),
            name: name.map(ProductName::into_inner),
            description: description.map(Description::into_inner),
        })
    }
}

/// Items of one job to apply, in a transaction with others.
#[derive(Clone)]
struct Part {
    job: Uuid,
    /// The job's count as this process last committed it.
    processed: i64,
    items: Vec<RawItem>,
    /// Whether these are the job's last items: the job is then done.
    last: bool,
    /// Set when the database refused these items: they are only counted
    /// as skipped, with this problem.
    refused: Option<String>,
}

impl Part {
    /// The first half of the items and the rest, as two parts in a row.
    fn halves(mut self) -> (Self, Self) {
        let second_items = self.items.split_off(self.items.len() / 2);
        let first_count = self.items.len() as i64;
        let second = Self {
            job: self.job,
            processed: self.processed + first_count,
            items: second_items,
            last: self.last,
            refused: None,
        };
        let first = Self {
            last: false,
            ..self
        };
        (first, second)
    }
}

/// What a part's items come to.
#[derive(Default, PartialEq, Eq, Hash)]
struct Tally {
    created: i64,
    updated: i64,
    skipped: i64,
    problem: Option<String>,
}

/// Applies the parts' items, in order, in one transaction, and moves each
/// job's counts on (and the lease of each by `lease`). `false` when some
/// job's count has moved without us: another process is applying it, and
/// nothing was written.
async fn write_parts(
    db: &DatabaseConnection,
    parts: &[Part],
    now: Timestamp,
    lease: Duration,
) -> Result<bool, DbErr> {
    // Skus in order of first appearance, each with its merged fields.
    let mut upserts: Vec<Upsert> = Vec::new();
    let mut position: HashMap<String, usize> = HashMap::new();
    let mut tallies = Vec::with_capacity(parts.len());
    // Per part: the positions of the skus it brought in first.
    let mut introduced: Vec<Vec<usize>> = Vec::with_capacity(parts.len());
    for part in parts {
        let mut tally = Tally::default();
        let mut first_seen = Vec::new();
        if let Some(reason) = &part.refused {
            tally.skipped = part.items.len() as i64;
            tally.problem = Some(reason.clone());
            tallies.push(tally);
            introduced.push(first_seen);
            continue;
        }
        for item in &part.items {
            match Upsert::from_item(item) {
                // The same sku again: as if applied in order, the later
                // item's fields win and the ones it leaves out stay.
                Ok(upsert) => match position.get(&upsert.sku) {
                    Some(&at) => {
                        let earlier = &mut upserts[at];
                        earlier.name = upsert.name.or(earlier.name.take());
                        earlier.description = upsert.description.or(earlier.description.take());
                        tally.updated += 1;
                    }
                    None => {
                        position.insert(upsert.sku.clone(), upserts.len());
                        first_seen.push(upserts.len());
                        upserts.push(upsert);
                    }
                },
                Err(reason) => {
                    tally.skipped += 1;
                    tally.problem.get_or_insert(reason);
                }
            }
        }
        tallies.push(tally);
        introduced.push(first_seen);
    }

    let txn = db.begin().await?;
    // Write first: SQLite then takes its write lock now, waiting for it if
    // need be. A transaction that read first could not take it later once
    // another connection had written (SQLITE_BUSY, no waiting).
    ingest_job::Entity::update_many()
        .col_expr(ingest_job::Column::LeaseUntil, Expr::value(now + lease))
        .filter(ingest_job::Column::Id.is_in(parts.iter().map(|part| part.job)))
        .exec(&txn)
        .await?;
    let mut existing: HashSet<String> = HashSet::new();
    for chunk in upserts.chunks(BATCH) {
        let found = product::Entity::find()
            .select_only()
            .column(product::Column::Sku)
            .filter(product::Column::Sku.is_in(chunk.iter().map(|u| u.sku.clone())))
            .into_tuple::<Option<String>>()
            .all(&txn)
            .await?;
        existing.extend(found.into_iter().flatten());
    }
    for (tally, first_seen) in tallies.iter_mut().zip(&introduced) {
        let new = first_seen
            .iter()
            .filter(|&&at| !existing.contains(&upserts[at].sku))
            .count() as i64;
        tally.created += new;
        tally.updated += first_seen.len() as i64 - new;
    }
    upsert_products(&txn, upserts, now).await?;

    // Jobs whose counts move alike share one UPDATE: a group of one-item
    // feeds needs two or three statements, not one per feed.
    let mut alike: HashMap<(i64, i64, bool, Tally), Vec<Uuid>> = HashMap::new();
    for (part, tally) in parts.iter().zip(tallies) {
        alike
            .entry((part.processed, part.items.len() as i64, part.last, tally))
            .or_default()
            .push(part.job);
    }
    for ((processed, count, last, tally), ids) in alike {
        let mut update = ingest_job::Entity::update_many()
            .col_expr(
                ingest_job::Column::Processed,
                Expr::col(ingest_job::Column::Processed).add(count),
            )
            .col_expr(
                ingest_job::Column::Created,
                Expr::col(ingest_job::Column::Created).add(tally.created),
            )
            .col_expr(
                ingest_job::Column::Updated,
                Expr::col(ingest_job::Column::Updated).add(tally.updated),
            )
            .col_expr(
                ingest_job::Column::Skipped,
                Expr::col(ingest_job::Column::Skipped).add(tally.skipped),
            )
            .col_expr(
                ingest_job::Column::Problem,
                Func::coalesce([
                    Expr::col(ingest_job::Column::Problem),
                    Expr::value(tally.problem),
                ])
                .into(),
            );
        update = if last {
            jobs::ended(update, Status::Done, now)
        } else {
            update.col_expr(ingest_job::Column::LeaseUntil, Expr::value(now + lease))
        };
        let moved = update
            .filter(ingest_job::Column::Id.is_in(ids.iter().copied()))
            .filter(ingest_job::Column::Processed.eq(processed))
            .filter(ingest_job::Column::Status.eq(Status::Processing.as_str()))
            .exec(&txn)
            .await?;
        if moved.rows_affected != ids.len() as u64 {
            txn.rollback().await?;
            return Ok(false);
        }
    }
    txn.commit().await?;
    Ok(true)
}

/// Inserts the products new to the catalog and changes the fields the
/// feed gives of those already there, [`BATCH`] rows per statement.
async fn upsert_products(
    txn: &sea_orm::DatabaseTransaction,
    upserts: Vec<Upsert>,
    now: Timestamp,
) -> Result<(), DbErr> {
    let mut groups: HashMap<(bool, bool), Vec<product::ActiveModel>> = HashMap::new();
    for upsert in upserts {
        let fields = (upsert.name.is_some(), upsert.description.is_some());
        groups
            .entry(fields)
            .or_default()
            .push(product::ActiveModel {
                id: ActiveValue::Set(Uuid::now_v7()),
                name: ActiveValue::Set(upsert.name.unwrap_or_else(|| upsert.sku.clone())),
                description: ActiveValue::Set(upsert.description.unwrap_or_default()),
                sku: ActiveValue::Set(Some(upsert.sku)),
                registered: ActiveValue::Set(false),
                registration_due_at: ActiveValue::Set(Some(now)),
                next_poll_at: ActiveValue::Set(None),
                registration_failures: ActiveValue::Set(0),
                created_at: ActiveValue::Set(now),
                updated_at: ActiveValue::Set(now),
            });
    }
    for ((name, description), rows) in groups {
        // A field the item leaves out keeps the product's current value.
        let mut changed = vec![product::Column::UpdatedAt];
        if name {
            changed.push(product::Column::Name);
        }
        if description {
            changed.push(product::Column::Description);
        }
        let mut rows = rows.into_iter().peekable();
        while rows.peek().is_some() {
            let chunk: Vec<_> = rows.by_ref().take(BATCH).collect();
            product::Entity::insert_many(chunk)
                .on_conflict(
                    OnConflict::column(product::Column::Sku)
                        .update_columns(changed.clone())
                        .to_owned(),
                )
                .exec_without_returning(txn)
                .await?;
        }
    }
    Ok(())
}

fn remove_spool_file(path: &std::path::Path) {
    if let Err(e) = std::fs::remove_file(path)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(path = %path.display(), error = %e, "cannot delete a spool file");
    }
}

/// Deletes spool files that nothing has written to for `ORPHAN_AGE` and
/// that no unfinished job needs: uploads a crash cut off, and accepted
/// names whose job a crash kept from being recorded.
pub async fn sweep_orphans(applier: &Applier) -> anyhow::Result<()> {
    let dir = applier.ingestion.spool.dir().to_owned();
    let candidates = tokio::task::spawn_blocking(
        move || -> std::io::Result<Vec<(Uuid, bool, std::path::PathBuf)>> {
            let mut old = Vec::new();
            for entry in std::fs::read_dir(&dir)? {
                let path = entry?.path();
                let Some((job, receiving)) = Spool::job_of(&path) else {
                    continue;
                };
                let age = std::fs::metadata(&path)
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|modified| SystemTime::now().duration_since(modified).ok());
                if age.is_some_and(|age| age >= ORPHAN_AGE) {
                    old.push((job, receiving, path));
                }
            }
            Ok(old)
        },
    )
    .await??;
    for chunk in candidates.chunks(BATCH) {
        let ids = chunk.iter().map(|(job, _, _)| *job).collect();
        let pending: HashSet<Uuid> = jobs::pending_among(&applier.db, ids)
            .await?
            .into_iter()
            .collect();
        for (job, receiving, path) in chunk {
            if *receiving || !pending.contains(job) {
                tracing::info!(path = %path.display(), "deleting an abandoned spool file");
                remove_spool_file(path);
            }
        }
    }
    Ok(())
}
