//! Ingest jobs in the database: recording accepted feeds, and claiming
//! them for the apply task.

use std::time::Duration;

use feed::Inspected;
use sea_orm::sea_query::{Expr, Func, LockBehavior, LockType, Query};
use sea_orm::{
    ActiveValue, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, ExprTrait,
    QueryFilter, StatementBuilder,
};
use uuid::Uuid;

use super::receive::{Content, Received};
use crate::entities::ingest_job;

/// Where a job is, as `GET /v1/products/ingests/{id}` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Accepted, not started.
    Queued,
    /// Being applied, or waiting to be resumed.
    Processing,
    /// Every item applied (or skipped).
    Done,
    /// Stopped for good; `problem` says why.
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Processing => "processing",
            Self::Done => "done",
            Self::Failed => "failed",
        }
    }
}

pub fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

/// Stores an accepted feed as a queued job.
pub async fn record(
    db: &DatabaseConnection,
    id: Uuid,
    received: &Received,
    spool: &str,
    now: i64,
) -> Result<(), DbErr> {
    let Inspected { hash, size, items } = received.inspected;
    let (spool, body) = match &received.content {
        Content::Inline(body) => (None, Some(body.clone())),
        Content::Spooled(_) => (Some(spool.to_owned()), None),
    };
    let row = ingest_job::ActiveModel {
        id: ActiveValue::Set(id),
        hash: ActiveValue::Set(hash.to_string()),
        size: ActiveValue::Set(i64::try_from(size).unwrap_or(i64::MAX)),
        items: ActiveValue::Set(i64::try_from(items).unwrap_or(i64::MAX)),
        status: ActiveValue::Set(Status::Queued.as_str().to_owned()),
        spool: ActiveValue::Set(spool),
        body: ActiveValue::Set(body),
        processed: ActiveValue::Set(0),
        created: ActiveValue::Set(0),
        updated: ActiveValue::Set(0),
        skipped: ActiveValue::Set(0),
        problem: ActiveValue::Set(None),
        lease_until: ActiveValue::Set(None),
        received_at: ActiveValue::Set(now),
        started_at: ActiveValue::Set(None),
        finished_at: ActiveValue::Set(None),
    };
    ingest_job::Entity::insert(row)
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Claims the oldest unfinished job this process may apply (its body in
/// the row, or in `spool`) whose lease has lapsed, for `lease`; `None`
/// when there is none. PostgreSQL skips rows another claimer holds;
/// SQLite's single writer serialises claims.
pub async fn claim_next(
    db: &DatabaseConnection,
    spool: &str,
    now: i64,
    lease: Duration,
) -> Result<Option<Uuid>, DbErr> {
    let pending = Query::select()
        .column(ingest_job::Column::Id)
        .from(ingest_job::Entity)
        .and_where(
            ingest_job::Column::Status
                .is_in([Status::Queued.as_str(), Status::Processing.as_str()]),
        )
        .and_where(
            ingest_job::Column::Spool
                .is_null()
                .or(ingest_job::Column::Spool.eq(spool)),
        )
        .and_where(
            ingest_job::Column::LeaseUntil
                .is_null()
                .or(ingest_job::Column::LeaseUntil.lt(now)),
        )
        .order_by(ingest_job::Column::Id, sea_orm::Order::Asc)
        .limit(1)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .to_owned();
    let claim = Query::update()
        .table(ingest_job::Entity)
        .value(ingest_job::Column::Status, Status::Processing.as_str())
        .value(
            ingest_job::Column::LeaseUntil,
            now.saturating_add(micros(lease)),
        )
        .value(
            ingest_job::Column::StartedAt,
            Func::coalesce([
                Expr::col(ingest_job::Column::StartedAt).into(),
                Expr::value(now),
            ]),
        )
        .and_where(Expr::col(ingest_job::Column::Id).in_subquery(pending))
        .returning_col(ingest_job::Column::Id)
        .to_owned();
    let backend = db.get_database_backend();
    let row = db
        .query_one_raw(StatementBuilder::build(&claim, &backend))
        .await?;
    row.map(|row| row.try_get::<Uuid>("", "id")).transpose()
}

/// Lets the jobs of `spool` be claimed at once: called at start-up, when
/// any lease on them was held by this process's predecessor.
pub async fn release_spool(db: &DatabaseConnection, spool: &str) -> Result<u64, DbErr> {
    let released = ingest_job::Entity::update_many()
        .col_expr(
            ingest_job::Column::LeaseUntil,
            Expr::value(Option::<i64>::None),
        )
        .filter(ingest_job::Column::Spool.eq(spool))
        .filter(ingest_job::Column::Status.eq(Status::Processing.as_str()))
        .exec(db)
        .await?;
    Ok(released.rows_affected)
}

/// Gives a claimed job back, so whoever comes next resumes it at once.
pub async fn release(db: &DatabaseConnection, id: Uuid) -> Result<(), DbErr> {
    ingest_job::Entity::update_many()
        .col_expr(
            ingest_job::Column::LeaseUntil,
            Expr::value(Option::<i64>::None),
        )
        .filter(ingest_job::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Ends a job for good: `problem` set means failed.
pub async fn finish(
    db: &DatabaseConnection,
    id: Uuid,
    problem: Option<String>,
    now: i64,
) -> Result<(), DbErr> {
    let status = match problem {
        Some(_) => Status::Failed,
        None => Status::Done,
    };
    let mut update = ingest_job::Entity::update_many()
        .col_expr(ingest_job::Column::Status, Expr::value(status.as_str()))
        .col_expr(ingest_job::Column::FinishedAt, Expr::value(now))
        .col_expr(
            ingest_job::Column::LeaseUntil,
            Expr::value(Option::<i64>::None),
        )
        .col_expr(
            ingest_job::Column::Body,
            Expr::value(Option::<Vec<u8>>::None),
        );
    if let Some(problem) = problem {
        update = update.col_expr(ingest_job::Column::Problem, Expr::value(problem));
    }
    update
        .filter(ingest_job::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Which of `ids` still have a job waiting to be applied.
pub async fn pending_among(db: &DatabaseConnection, ids: Vec<Uuid>) -> Result<Vec<Uuid>, DbErr> {
    use sea_orm::QuerySelect;
    ingest_job::Entity::find()
        .select_only()
        .column(ingest_job::Column::Id)
        .filter(ingest_job::Column::Id.is_in(ids))
        .filter(
            ingest_job::Column::Status
                .is_in([Status::Queued.as_str(), Status::Processing.as_str()]),
        )
        .into_tuple()
        .all(db)
        .await
}
