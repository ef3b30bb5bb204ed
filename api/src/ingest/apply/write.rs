//! Carrying a [`Plan`] out: one transaction that reads what the catalog
//! has of the items' skus, upserts the new and changed ones (through
//! [`store`], its one writer) and moves each job's counts on, only if no
//! other process moved them meanwhile.

use platform::Timestamp;
use sea_orm::sea_query::{Expr, Func};
use sea_orm::{ColumnTrait, DbErr, EntityTrait, ExprTrait, QueryFilter, TransactionTrait};

use super::Applier;
use super::plan::{self, Move, Part, Plan};
use crate::catalog::store;
use crate::ingest::entity as ingest_job;
use crate::ingest::jobs::{self, Status};

/// Applies the parts' items, in order, in one transaction, and moves each
/// job's counts on (and the lease of each by `INGEST_LEASE_SECS`). `false`
/// when some job's count has moved without us: another process is
/// applying it, and nothing was written.
pub async fn write_parts(applier: &Applier, parts: &[Part], now: Timestamp) -> Result<bool, DbErr> {
    let lease = applier.lease;
    let mut plan = plan::plan(parts);
    let txn = applier.ingestion.db.begin().await?;
    // Write first: SQLite then takes its write lock now, waiting for it if
    // need be. A transaction that read first could not take it later once
    // another connection had written (SQLITE_BUSY, no waiting).
    ingest_job::Entity::update_many()
        .col_expr(ingest_job::Column::LeaseUntil, Expr::value(now + lease))
        .filter(ingest_job::Column::Id.is_in(parts.iter().map(|part| part.job)))
        .exec(&txn)
        .await?;
    let to_write = store::to_write(&txn, &plan.upserts).await?;
    plan.settle(&to_write);
    let Plan {
        upserts, tallies, ..
    } = plan;
    store::upsert_by_sku(&txn, upserts, now).await?;
    for (
        Move {
            processed,
            count,
            last,
            tally,
            applied_bytes,
        },
        ids,
    ) in plan::moves(parts, tallies)
    {
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
                ingest_job::Column::Unchanged,
                Expr::col(ingest_job::Column::Unchanged).add(tally.unchanged),
            )
            .col_expr(
                ingest_job::Column::Problem,
                Func::coalesce([
                    Expr::col(ingest_job::Column::Problem),
                    Expr::value(tally.problem),
                ])
                .into(),
            );
        if let Some(bytes) = applied_bytes {
            update = update.col_expr(ingest_job::Column::AppliedBytes, Expr::value(bytes));
        }
        update = if last {
            jobs::ended(update, Status::Done, now)
        } else {
            update.col_expr(ingest_job::Column::LeaseUntil, Expr::value(now + lease))
        };
        let moved = update
            .filter(ingest_job::Column::Id.is_in(ids.iter().copied()))
            .filter(ingest_job::Column::Processed.eq(processed))
            .filter(ingest_job::Column::Status.eq(Status::Processing))
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
