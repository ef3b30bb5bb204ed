//! Applying accepted feeds to the catalog, in the background.
//!
//! Every `api` process that serves the public listener runs [`run`]. It
//! claims the oldest unfinished job ([`jobs::claim`]).
//!
//! - A **spooled** body is read on a blocking thread with the extracting
//!   [`Scanner`], which hands over [`BATCH`] items at a time through a
//!   small channel. Each batch is one transaction: the items are upserted
//!   into `products` by `sku` (the item's `id`), and the job's counts move
//!   forward, but only if no other process has moved them meanwhile. So a
//!   batch is applied exactly once, and a process that dies mid-feed
//!   leaves the job at its last committed batch; it resumes there when a
//!   process with the same spool directory starts again.
//! - A **small** body (kept in the job's row) is applied whole, together
//!   with up to [`GROUP`] - 1 other small jobs, in one transaction that
//!   also marks them done: a flood of small feeds costs a few statements
//!   per group, not per feed. Any process may apply them; one that dies
//!   leaves them to be claimed again when their lease lapses.
//!
//! New products are stored due for registration, so `offer-poller`'s
//! retry pass registers them with the Offers service as in SPEC section 5.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use feed::{Field, RawItem, Scanner};
use sea_orm::sea_query::{Expr, Func, OnConflict};
use sea_orm::{
    ActiveValue, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, ExprTrait, QueryFilter,
    QuerySelect, TransactionTrait,
};
use shared::Clock;
use shared::entities::product;
use shared::metrics::Metrics;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::Ingestion;
use super::jobs::{self, Claimable, Status, micros};
use crate::domain::{Description, ProductName, Sku};
use crate::entities::ingest_job;

/// Items per transaction when a spooled feed is applied, and rows per statement.
pub const BATCH: usize = 1000;

/// Small jobs (bodies in their rows) applied in one transaction.
pub const GROUP: u64 = 256;

/// How long a claim on a job lasts without a committed batch.
const LEASE: Duration = Duration::from_secs(60);

/// How often jobs are looked for when nothing wakes the task: jobs other
/// replicas recorded, and leases that lapsed.
const POLL_EVERY: Duration = Duration::from_secs(1);

/// A spool file with no unfinished job is deleted once it is this old
/// (an upload cut off by a crash); younger ones may be uploads in flight.
const ORPHAN_AGE: Duration = Duration::from_secs(600);

/// How much of a spooled body is read at a time.
const READ_CHUNK: usize = 256 * 1024;

/// What the apply task needs.
#[derive(Clone)]
pub struct Applier {
    pub db: DatabaseConnection,
    pub clock: Clock,
    pub ingestion: Arc<Ingestion>,
    /// Finished jobs and applied items are counted here.
    pub metrics: Arc<Metrics>,
}

/// Applies jobs until `shutdown`: between batches it gives the job in
/// hand back, for the next start to resume.
pub async fn run(applier: Applier, shutdown: CancellationToken) -> anyhow::Result<()> {
    let spool = applier.ingestion.spool.id().to_owned();
    let released = jobs::release_spool(&applier.db, &spool)
        .await
        .context("resuming the feeds of this spool directory")?;
    if released > 0 {
        tracing::info!(jobs = released, "resuming unfinished feeds");
    }
    let mut tick = tokio::time::interval(POLL_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_sweep: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            () = applier.ingestion.wake.notified() => {}
            _ = tick.tick() => {}
        }
        while !shutdown.is_cancelled() {
            match apply_next(&applier, &shutdown).await {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => {
                    tracing::warn!(
                        error = format!("{e:#}"),
                        "applying a feed failed; it is retried"
                    );
                    break;
                }
            }
        }
        if last_sweep.is_none_or(|at| at.elapsed() >= ORPHAN_AGE) {
            last_sweep = Some(tokio::time::Instant::now());
            if let Err(e) = sweep_orphans(&applier).await {
                tracing::warn!(
                    error = format!("{e:#}"),
                    "cleaning the spool directory failed"
                );
            }
        }
    }
}

/// Claims the oldest job and applies it as far as it goes; a job whose
/// body is in its row is applied together with up to [`GROUP`] - 1 more
/// such jobs. `false` when there was none to claim.
pub async fn apply_next(applier: &Applier, shutdown: &CancellationToken) -> anyhow::Result<bool> {
    let spool = applier.ingestion.spool.id();
    let now = applier.clock.now_micros();
    let mut claimed = jobs::claim(&applier.db, Claimable::Any, spool, 1, now, LEASE).await?;
    let Some(first) = claimed.pop() else {
        return Ok(false);
    };
    if first.spool.is_none() {
        let mut group = vec![first];
        group.extend(
            jobs::claim(&applier.db, Claimable::Inline, spool, GROUP - 1, now, LEASE).await?,
        );
        let ids: Vec<Uuid> = group.iter().map(|job| job.id).collect();
        if let Err(e) = apply_inline(applier, group).await {
            // Claimable again at the next pass, not after the lease: feeds
            // stay in the order they were accepted.
            jobs::release(&applier.db, &ids).await.ok();
            return Err(e);
        }
        return Ok(true);
    }
    let id = first.id;
    match apply_spooled(applier, first, shutdown).await {
        Ok(Applied::Finished) => {
            jobs::finish(&applier.db, id, None, applier.clock.now_micros()).await?;
            applier
                .metrics
                .ingest_jobs
                .with_label_values(&["done"])
                .inc();
            tracing::info!(ingest = %id, "feed applied");
        }
        Ok(Applied::Stopped) => {
            jobs::release(&applier.db, &[id]).await?;
            return Ok(true);
        }
        Ok(Applied::Lost) => {
            tracing::warn!(ingest = %id, "another process is applying this feed");
            return Ok(true);
        }
        Err(ApplyError::Feed(problem)) => {
            tracing::error!(ingest = %id, problem, "feed failed");
            jobs::finish(&applier.db, id, Some(problem), applier.clock.now_micros()).await?;
            applier
                .metrics
                .ingest_jobs
                .with_label_values(&["failed"])
                .inc();
        }
        Err(ApplyError::Database(e)) => {
            jobs::release(&applier.db, &[id]).await.ok();
            return Err(e.into());
        }
    }
    remove_spool_file(&applier.ingestion.spool.path_of(id));
    Ok(true)
}

/// Applies small jobs (bodies in their rows) in one transaction.
async fn apply_inline(applier: &Applier, group: Vec<ingest_job::Model>) -> anyhow::Result<()> {
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
    let mut parts = Vec::with_capacity(read.len());
    for (job, items) in read {
        match items {
            Ok(items) => parts.push(Part {
                job: job.id,
                processed: job.processed,
                items,
                last: true,
            }),
            Err(problem) => {
                tracing::error!(ingest = %job.id, problem, "feed failed");
                jobs::finish(
                    &applier.db,
                    job.id,
                    Some(problem),
                    applier.clock.now_micros(),
                )
                .await?;
                applier
                    .metrics
                    .ingest_jobs
                    .with_label_values(&["failed"])
                    .inc();
            }
        }
    }
    if parts.is_empty() {
        return Ok(());
    }
    let (jobs, items) = (
        parts.len() as u64,
        parts.iter().map(|part| part.items.len() as u64).sum(),
    );
    if write_parts(&applier.db, parts, applier.clock.now_micros()).await? {
        applier
            .metrics
            .ingest_jobs
            .with_label_values(&["done"])
            .inc_by(jobs);
        applier.metrics.ingest_items_applied.inc_by(items);
    } else {
        tracing::warn!(jobs, "another process is applying these feeds");
    }
    Ok(())
}

enum Applied {
    Finished,
    /// Shutdown came between two batches.
    Stopped,
    /// Another process moved the job on: it is applying it now.
    Lost,
}

enum ApplyError {
    /// The body cannot be applied, ever: the job fails.
    Feed(String),
    /// Worth trying again later: the lease lapses and the job is claimed again.
    Database(DbErr),
}

impl From<DbErr> for ApplyError {
    fn from(e: DbErr) -> Self {
        Self::Database(e)
    }
}

async fn apply_spooled(
    applier: &Applier,
    job: ingest_job::Model,
    shutdown: &CancellationToken,
) -> Result<Applied, ApplyError> {
    let path = applier.ingestion.spool.path_of(job.id);
    let body = std::fs::File::open(&path)
        .map_err(|e| ApplyError::Feed(format!("the spooled body cannot be read: {e}")))?;
    let skip = u64::try_from(job.processed).unwrap_or(0);
    let (batches, mut inbox) = mpsc::channel(2);
    let reader = tokio::task::spawn_blocking(move || read_items(body, skip, &batches));
    let mut processed = job.processed;
    let outcome = loop {
        let Some(batch) = inbox.recv().await else {
            break Ok(Applied::Finished);
        };
        let items = match batch {
            Ok(items) => items,
            Err(problem) => break Err(ApplyError::Feed(problem)),
        };
        if shutdown.is_cancelled() {
            break Ok(Applied::Stopped);
        }
        let count = items.len() as i64;
        let part = Part {
            job: job.id,
            processed,
            items,
            last: false,
        };
        if !write_parts(&applier.db, vec![part], applier.clock.now_micros()).await? {
            break Ok(Applied::Lost);
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
    outcome
}

/// All the items of a small body from index `skip` on, or its problem.
fn read_all_items(body: &[u8], skip: u64) -> Result<Vec<RawItem>, String> {
    let mut scanner = Scanner::extracting();
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

/// Reads the body's items from index `skip` on, sending them in batches;
/// a problem with the body is sent as its message.
fn read_items(
    mut body: impl Read,
    skip: u64,
    batches: &mpsc::Sender<Result<Vec<RawItem>, String>>,
) {
    let mut scanner = Scanner::extracting();
    let mut batch = Vec::with_capacity(BATCH);
    let mut buffer = vec![0; READ_CHUNK];
    loop {
        let read = match body.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => read,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let _ = batches.blocking_send(Err(format!("reading the body: {e}")));
                return;
            }
        };
        let fed = scanner.feed(&buffer[..read], &mut |item| {
            if item.index >= skip {
                batch.push(item.clone());
            }
        });
        if let Err(e) = fed {
            let _ = batches.blocking_send(Err(format!("malformed feed: {e}")));
            return;
        }
        while batch.len() >= BATCH {
            let rest = batch.split_off(BATCH);
            let full = std::mem::replace(&mut batch, rest);
            if batches.blocking_send(Ok(full)).is_err() {
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
struct Part {
    job: Uuid,
    /// The job's count as this process last committed it.
    processed: i64,
    items: Vec<RawItem>,
    /// Whether these are the job's last items: the job is then done.
    last: bool,
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
/// job's counts on. `false` when some job's count has moved without us:
/// another process is applying it, and nothing was written.
async fn write_parts(db: &DatabaseConnection, parts: Vec<Part>, now: i64) -> Result<bool, DbErr> {
    // Skus in order of first appearance, each with its merged fields.
    let mut upserts: Vec<Upsert> = Vec::new();
    let mut position: HashMap<String, usize> = HashMap::new();
    let mut tallies = Vec::with_capacity(parts.len());
    // Per part: the positions of the skus it brought in first.
    let mut introduced: Vec<Vec<usize>> = Vec::with_capacity(parts.len());
    for part in &parts {
        let mut tally = Tally::default();
        let mut first_seen = Vec::new();
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
        .col_expr(
            ingest_job::Column::LeaseUntil,
            Expr::value(now.saturating_add(micros(LEASE))),
        )
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
            update.col_expr(
                ingest_job::Column::LeaseUntil,
                Expr::value(now.saturating_add(micros(LEASE))),
            )
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
    now: i64,
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

/// Deletes spool files that no unfinished job needs and that nothing has
/// written to for [`ORPHAN_AGE`]: bodies of uploads a crash cut off.
async fn sweep_orphans(applier: &Applier) -> anyhow::Result<()> {
    let dir = applier.ingestion.spool.dir().to_owned();
    let candidates = tokio::task::spawn_blocking(
        move || -> std::io::Result<Vec<(Uuid, std::path::PathBuf)>> {
            let mut old = Vec::new();
            for entry in std::fs::read_dir(&dir)? {
                let path = entry?.path();
                let Some(job) = super::Spool::job_of(&path) else {
                    continue;
                };
                let age = std::fs::metadata(&path)
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|modified| SystemTime::now().duration_since(modified).ok());
                if age.is_some_and(|age| age >= ORPHAN_AGE) {
                    old.push((job, path));
                }
            }
            Ok(old)
        },
    )
    .await??;
    for chunk in candidates.chunks(BATCH) {
        let ids = chunk.iter().map(|(job, _)| *job).collect();
        let pending: HashSet<Uuid> = jobs::pending_among(&applier.db, ids)
            .await?
            .into_iter()
            .collect();
        for (job, path) in chunk {
            if !pending.contains(job) {
                tracing::info!(path = %path.display(), "deleting an abandoned spool file");
                remove_spool_file(path);
            }
        }
    }
    Ok(())
}
