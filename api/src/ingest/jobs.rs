//! Ingest jobs in the database: recording accepted feeds, and claiming
//! them for the apply task.

use std::time::Duration;

use platform::Timestamp;

use feed::Inspected;
use sea_orm::sea_query::{Expr, Func, LockBehavior, LockType, Query, UpdateStatement};
use sea_orm::{
    ActiveValue, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, ExprTrait,
    FromQueryResult, QueryFilter, QuerySelect, StatementBuilder, UpdateMany,
};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::entity as ingest_job;
use super::receive::{Content, Received};

pub use super::entity::Status;

/// The row of an accepted feed, queued.
pub fn queued_row(
    id: Uuid,
    received: &Received,
    spool: &str,
    sender: Option<i64>,
    now: Timestamp,
) -> ingest_job::ActiveModel {
    let Inspected { hash, size, items } = received.inspected;
    let (spool, body) = match &received.content {
        Content::Inline(body) => (None, Some(body.clone())),
        Content::Spooled(_) => (Some(spool.to_owned()), None),
    };
    ingest_job::ActiveModel {
        id: ActiveValue::Set(id),
        hash: ActiveValue::Set(hash.to_string()),
        size: ActiveValue::Set(i64::try_from(size).unwrap_or(i64::MAX)),
        items: ActiveValue::Set(i64::try_from(items).unwrap_or(i64::MAX)),
        status: ActiveValue::Set(Status::Queued),
        spool: ActiveValue::Set(spool),
        body: ActiveValue::Set(body),
        processed: ActiveValue::Set(0),
        created: ActiveValue::Set(0),
        updated: ActiveValue::Set(0),
        skipped: ActiveValue::Set(0),
        unchanged: ActiveValue::Set(0),
        problem: ActiveValue::Set(None),
        lease_until: ActiveValue::Set(None),
        received_at: ActiveValue::Set(now),
        sender: ActiveValue::Set(sender),
        started_at: ActiveValue::Set(None),
        finished_at: ActiveValue::Set(None),
        attempts: ActiveValue::Set(0),
        applied_bytes: ActiveValue::Set(0),
    }
}

/// Records accepted feeds, many rows per `INSERT`.
///
/// Every accepted feed must be in the database before its 200, and one
/// insert (and commit) per request would make the database the limit for
/// small feeds. So handlers queue their rows here, and one task inserts
/// whatever has queued while the previous insert ran, up to
/// [`Recorder::MAX_ROWS`] at a time. Under load that is many rows per
/// commit; alone, a request waits for its own insert only.
#[derive(Clone)]
pub struct Recorder {
    queue: mpsc::Sender<Pending>,
}

struct Pending {
    row: ingest_job::ActiveModel,
    /// Past this, the row is not inserted: its feed's claim may be taken
    /// over (see `accept`).
    deadline: tokio::time::Instant,
    recorded: oneshot::Sender<Result<(), String>>,
}

impl Recorder {
    /// Rows per `INSERT`: bounded by SQLite's 32,766 bound parameters (20 columns each).
    pub const MAX_ROWS: usize = 500;

    /// Starts the inserting task; it ends when the last `Recorder` clone is dropped.
    pub fn start(db: DatabaseConnection) -> Self {
        let (queue, mut inbox) = mpsc::channel::<Pending>(4 * Self::MAX_ROWS);
        tokio::spawn(async move {
            // Whatever has queued, up to a batch, once there is something.
            let mut queued = Vec::with_capacity(Self::MAX_ROWS);
            while inbox.recv_many(&mut queued, Self::MAX_ROWS).await > 0 {
                let pending = std::mem::take(&mut queued);
                let now = tokio::time::Instant::now();
                let (late, pending): (Vec<_>, Vec<_>) = pending
                    .into_iter()
                    .partition(|pending| pending.deadline <= now);
                for pending in late {
                    let _ = pending
                        .recorded
                        .send(Err("the job could not be recorded in time".to_owned()));
                }
                if pending.is_empty() {
                    continue;
                }
                let (rows, waiting): (Vec<_>, Vec<_>) = pending
                    .into_iter()
                    .map(|pending| (pending.row, pending.recorded))
                    .unzip();
                let outcome = ingest_job::Entity::insert_many(rows)
                    .exec_without_returning(&db)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string());
                for recorded in waiting {
                    let _ = recorded.send(outcome.clone());
                }
            }
        });
        Self { queue }
    }

    /// Stores `row` and returns once it is committed; fails without
    /// storing it if its insert has not started by `deadline`.
    pub async fn record(
        &self,
        row: ingest_job::ActiveModel,
        deadline: tokio::time::Instant,
    ) -> anyhow::Result<()> {
        let (recorded, outcome) = oneshot::channel();
        self.queue
            .send(Pending {
                row,
                deadline,
                recorded,
            })
            .await
            .map_err(|_| anyhow::anyhow!("the job recorder has stopped"))?;
        outcome
            .await
            .map_err(|_| anyhow::anyhow!("the job recorder has stopped"))?
            .map_err(|e| anyhow::anyhow!("recording the ingest job: {e}"))
    }
}

/// Feeds up to this many bytes are applied in the small lane, larger ones
/// in the large lane: one huge feed never holds up the small ones.
pub const SMALL_FEED_BYTES: i64 = 8 * 1024 * 1024;

/// Queued or being applied: the condition of the partial index
/// `ingest_jobs_unfinished` on `id`, written out as the index has it. A
/// database matches a partial index only to a condition it can read, not
/// to bound parameters, and without the index, claiming the oldest jobs
/// reads and sorts every unfinished one.
fn unfinished() -> Expr {
    Expr::cust("status IN ('queued', 'processing')")
}

/// Which jobs [`claim`] takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claimable {
    /// Feeds up to [`SMALL_FEED_BYTES`]: bodies in their rows, and
    /// spooled ones in `spool`.
    Small,
    /// Larger feeds, all spooled in `spool`.
    Large,
    /// Only jobs whose body is in the row.
    Inline,
}

/// Claims up to `limit` of the oldest unfinished jobs of `which` kind
/// whose lease has lapsed (or whose retry is due), for `lease`, and
/// returns them. PostgreSQL skips rows another claimer holds; SQLite's
/// single writer serialises claims.
pub async fn claim(
    db: &DatabaseConnection,
    which: Claimable,
    spool: &str,
    limit: u64,
    now: Timestamp,
    lease: Duration,
) -> Result<Vec<ingest_job::Model>, DbErr> {
    let claim = claim_statement(which, spool, limit, now, lease);
    let backend = db.get_database_backend();
    let rows = db
        .query_all_raw(StatementBuilder::build(&claim, &backend))
        .await?;
    let mut claimed = rows
        .iter()
        .map(|row| ingest_job::Model::from_query_result(row, ""))
        .collect::<Result<Vec<_>, _>>()?;
    claimed.sort_by_key(|job| job.id);
    Ok(claimed)
}

/// The `UPDATE … RETURNING` of [`claim`]: its subquery finds the jobs
/// through the partial index `ingest_jobs_unfinished`, in id order.
fn claim_statement(
    which: Claimable,
    spool: &str,
    limit: u64,
    now: Timestamp,
    lease: Duration,
) -> UpdateStatement {
    let in_row = ingest_job::Column::Spool.is_null();
    let in_spool = ingest_job::Column::Spool.eq(spool);
    let small = ingest_job::Column::Size.lte(SMALL_FEED_BYTES);
    let whose_body = match which {
        Claimable::Small => small.and(in_row.or(in_spool)),
        Claimable::Large => small.not().and(in_spool),
        Claimable::Inline => in_row,
    };
    let pending = Query::select()
        .column(ingest_job::Column::Id)
        .from(ingest_job::Entity)
        .and_where(unfinished())
        .and_where(whose_body)
        .and_where(
            ingest_job::Column::LeaseUntil
                .is_null()
                .or(ingest_job::Column::LeaseUntil.lt(now)),
        )
        .order_by(ingest_job::Column::Id, sea_orm::Order::Asc)
        .limit(limit)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .to_owned();
    Query::update()
        .table(ingest_job::Entity)
        .value(ingest_job::Column::Status, Status::Processing)
        .value(ingest_job::Column::LeaseUntil, now + lease)
        .value(
            ingest_job::Column::StartedAt,
            Func::coalesce([Expr::col(ingest_job::Column::StartedAt), Expr::value(now)]),
        )
        .and_where(Expr::col(ingest_job::Column::Id).in_subquery(pending))
        .returning_all()
        .to_owned()
}

/// Gives claimed jobs back, so whoever comes next resumes them at once.
pub async fn release(db: &DatabaseConnection, ids: &[Uuid]) -> Result<(), DbErr> {
    ingest_job::Entity::update_many()
        .col_expr(
            ingest_job::Column::LeaseUntil,
            Expr::value(Option::<Timestamp>::None),
        )
        .filter(ingest_job::Column::Id.is_in(ids.iter().copied()))
        .exec(db)
        .await?;
    Ok(())
}

/// Adds to `update` what ending a job with `status` sets: finished now,
/// no lease, and no body kept.
pub fn ended(
    update: UpdateMany<ingest_job::Entity>,
    status: Status,
    now: Timestamp,
) -> UpdateMany<ingest_job::Entity> {
    update
        .col_expr(ingest_job::Column::Status, Expr::value(status))
        .col_expr(ingest_job::Column::FinishedAt, Expr::value(now))
        .col_expr(
            ingest_job::Column::LeaseUntil,
            Expr::value(Option::<Timestamp>::None),
        )
        .col_expr(
            ingest_job::Column::Body,
            Expr::value(Option::<Vec<u8>>::None),
        )
}

/// Ends a job for good: `problem` set means failed. Only a job still
/// being applied is ended: `false` when it had ended already (another
/// process, whose lease this one outlived, finished it).
pub async fn finish(
    db: &DatabaseConnection,
    id: Uuid,
    problem: Option<String>,
    now: Timestamp,
) -> Result<bool, DbErr> {
    let status = match problem {
        Some(_) => Status::Failed,
        None => Status::Done,
    };
    let mut update = ended(ingest_job::Entity::update_many(), status, now);
    if let Some(problem) = problem {
        update = update.col_expr(ingest_job::Column::Problem, Expr::value(problem));
    }
    let ended = update
        .filter(ingest_job::Column::Id.eq(id))
        .filter(ingest_job::Column::Status.eq(Status::Processing))
        .exec(db)
        .await?;
    Ok(ended.rows_affected == 1)
}

/// Puts a job that failed for a reason that may pass back in the queue,
/// claimable again after `wait`, with one more attempt counted.
pub async fn retry_later(
    db: &DatabaseConnection,
    id: Uuid,
    attempts: i64,
    now: Timestamp,
    wait: Duration,
) -> Result<(), DbErr> {
    ingest_job::Entity::update_many()
        .col_expr(ingest_job::Column::Attempts, Expr::value(attempts))
        .col_expr(ingest_job::Column::LeaseUntil, Expr::value(now + wait))
        .filter(ingest_job::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// When the oldest job still waiting to be applied was received.
pub async fn oldest_pending(db: &DatabaseConnection) -> Result<Option<Timestamp>, DbErr> {
    let oldest: Option<Option<Timestamp>> = ingest_job::Entity::find()
        .select_only()
        .column_as(ingest_job::Column::ReceivedAt.min(), "oldest")
        .filter(unfinished())
        .into_tuple()
        .one(db)
        .await?;
    Ok(oldest.flatten())
}

/// Which of `ids` still have a job waiting to be applied.
pub async fn pending_among(db: &DatabaseConnection, ids: Vec<Uuid>) -> Result<Vec<Uuid>, DbErr> {
    ingest_job::Entity::find()
        .select_only()
        .column(ingest_job::Column::Id)
        .filter(ingest_job::Column::Id.is_in(ids))
        .filter(unfinished())
        .into_tuple()
        .all(db)
        .await
}

#[cfg(test)]
mod tests {
    use sea_orm::Database;

    use super::*;

    /// SQLite's plan for each kind of claim on the migrated schema: the
    /// partial index of unfinished jobs, walked in id order (no sort).
    /// Written with bound statuses, the claim would read every unfinished
    /// job and sort them, and answer the same.
    #[tokio::test]
    async fn claims_walk_the_index_of_unfinished_jobs_in_order() {
        let db = Database::connect("sqlite::memory:").await.expect("connect");
        migrations::up(&db, &[migrations::Schema::Core])
            .await
            .expect("migrate");
        let now = platform::Clock::frozen_at_micros(0).now();
        for which in [Claimable::Small, Claimable::Large, Claimable::Inline] {
            let claim = claim_statement(which, "spool", 256, now, Duration::from_secs(30));
            let mut explain = StatementBuilder::build(&claim, &db.get_database_backend());
            explain.sql = format!("EXPLAIN QUERY PLAN {}", explain.sql);
            let plan = db
                .query_all_raw(explain)
                .await
                .expect("a plan")
                .iter()
                .map(|row| row.try_get::<String>("", "detail").expect("a step"))
                .collect::<Vec<_>>()
                .join("\n");
            assert!(
                plan.contains("ingest_jobs_unfinished"),
                "{which:?}:\n{plan}"
            );
            assert!(!plan.contains("TEMP B-TREE"), "{which:?}:\n{plan}");
        }
    }
}
