//! Registering products with the Offers service: at once when `api` asks
//! (`offers.register`), and again from [`retry_due`] for every product
//! whose registration failed, until the service accepts it. Each product
//! backs off on its own (`registration_failures`: from [`RETRY_FIRST`],
//! doubling with jitter up to [`RETRY_MAX`]), and a product is logged once
//! when it starts failing and once when it is registered after all, never
//! per attempt: an Offers service that is down costs each product a
//! handful of calls, not one every few seconds.
//!
//! Each attempt first claims the product in the database by moving its
//! `registration_due_at` forward ([`LEASE`]), with one conditional `UPDATE`
//! that only one process can win, on PostgreSQL and SQLite alike. So two
//! pollers never register a product at once, and a deleted product (its row
//! gone) is never claimed again. `api` stores a new product due a little
//! after its RPC deadline, so the retry pass leaves it to the RPC first.

use std::time::Duration;

use catalog_entities::product;
use futures_util::StreamExt;
use platform::{ErrorCode, Timestamp};
use rpc::RpcFailure;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use crate::context::Context;
use crate::offers::Registration;

/// How long a claimed registration is left alone by other pollers.
pub const LEASE: Duration = Duration::from_secs(30);

/// How soon a product's first failed registration is tried again.
pub const RETRY_FIRST: Duration = Duration::from_secs(1);

/// The longest wait between two attempts at a product's registration.
pub const RETRY_MAX: Duration = Duration::from_secs(60);

/// How many due registrations one pass takes.
pub const BATCH: u64 = 256;

/// Where a claim attempt stands.
enum Claim {
    Ours(product::Model),
    AlreadyRegistered,
    Gone,
    /// Another attempt holds it, or it is not due.
    Busy,
}

/// Claims `id` for a registration attempt. `only_if_due` is the retry
/// pass's condition; the RPC from `api` claims a product still waiting for it.
async fn claim(context: &Context, id: Uuid, only_if_due: bool) -> Result<Claim, sea_orm::DbErr> {
    let now = context.clock.now();
    let due = if only_if_due {
        product::Column::RegistrationDueAt.lte(now)
    } else {
        product::Column::RegistrationDueAt.gt(now)
    };
    let claimed = product::Entity::update_many()
        .col_expr(product::Column::RegistrationDueAt, Expr::value(now + LEASE))
        .filter(product::Column::Id.eq(id))
        .filter(product::Column::Registered.eq(false))
        .filter(due)
        .exec(&context.db)
        .await?;
    let row = product::Entity::find_by_id(id).one(&context.db).await?;
    Ok(match row {
        None => Claim::Gone,
        Some(row) if row.registered => Claim::AlreadyRegistered,
        Some(row) if claimed.rows_affected == 1 => Claim::Ours(row),
        Some(_) => Claim::Busy,
    })
}

/// Registers a claimed product and records the outcome.
async fn register(context: &Context, row: product::Model) -> Result<(), RpcFailure> {
    let attempt = async {
        let token = context.token().await.map_err(|e| {
            RpcFailure::new(
                ErrorCode::UpstreamError,
                format!("no Offers access token: {e:#}"),
            )
        })?;
        let registration = Registration {
            id: row.id,
            name: row.name.clone(),
            description: row.description.clone(),
        };
        match context.offers.register(&token, &registration).await {
            Err(e @ crate::offers::OffersError::Unauthorized(_)) => {
                tracing::error!(product = %row.id, error = %e, "the Offers service refused the deployment's access token");
                crate::token::mark_refused(&context.db, context.clock.now())
                    .await
                    .ok();
                Err(RpcFailure::from(e))
            }
            other => other.map_err(RpcFailure::from),
        }
    };
    let now = context.clock.now();
    let outcome = attempt.await;
    let update = product::Entity::update_many().filter(product::Column::Id.eq(row.id));
    let recorded = match &outcome {
        Ok(()) => {
            if row.registration_failures > 0 {
                tracing::info!(
                    product = %row.id,
                    failures = row.registration_failures,
                    "product registered after failed attempts"
                );
            }
            update
                .col_expr(product::Column::Registered, Expr::value(true))
                .col_expr(product::Column::RegistrationFailures, Expr::value(0))
                .col_expr(
                    product::Column::RegistrationDueAt,
                    Expr::value(Option::<Timestamp>::None),
                )
                .col_expr(product::Column::NextPollAt, Expr::value(now))
                .exec(&context.db)
                .await
        }
        Err(failure) => {
            let failures = row.registration_failures.saturating_add(1);
            let wait =
                platform::backoff::after_failures(failures.unsigned_abs(), RETRY_FIRST, RETRY_MAX);
            if failures == 1 {
                tracing::warn!(product = %row.id, error = %failure.msg, "registration failed; retried with backoff until it passes");
            } else {
                tracing::debug!(product = %row.id, failures, error = %failure.msg, "registration failed again");
            }
            update
                .col_expr(product::Column::RegistrationDueAt, Expr::value(now + wait))
                .col_expr(product::Column::RegistrationFailures, Expr::value(failures))
                .exec(&context.db)
                .await
        }
    };
    recorded.map_err(|e| {
        RpcFailure::new(
            ErrorCode::Internal,
            format!("recording a registration: {e}"),
        )
    })?;
    outcome
}

/// The `offers.register` RPC: registers `id` now, unless it is registered
/// already (fine) or gone (`NOT_FOUND`).
pub async fn register_now(context: &Context, id: Uuid) -> Result<(), RpcFailure> {
    let claim = claim(context, id, false).await.map_err(|e| {
        RpcFailure::new(ErrorCode::Internal, format!("claiming a registration: {e}"))
    })?;
    match claim {
        Claim::Ours(row) => register(context, row).await,
        Claim::AlreadyRegistered => Ok(()),
        Claim::Gone => Err(RpcFailure::new(
            ErrorCode::NotFound,
            format!("product {id} not found"),
        )),
        Claim::Busy => Err(RpcFailure::new(
            ErrorCode::Unavailable,
            format!("product {id} is being registered by another attempt"),
        )),
    }
}

/// What one retry pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RetryOutcome {
    /// Products that were due (at most [`BATCH`]).
    pub due: usize,
    pub registered: usize,
}

impl RetryOutcome {
    /// Whether another pass should follow at once: the batch was full and
    /// the service is taking registrations (when all of them fail, the
    /// next tick is soon enough to try again).
    pub fn more_waiting(&self) -> bool {
        self.due == BATCH as usize && self.registered > 0
    }
}

/// One retry pass: registers up to [`BATCH`] products whose registration
/// is due, `concurrency` at a time.
pub async fn retry_due(context: &Context, concurrency: usize) -> anyhow::Result<RetryOutcome> {
    let now = context.clock.now();
    let due: Vec<Uuid> = product::Entity::find()
        .select_only()
        .column(product::Column::Id)
        .filter(product::Column::Registered.eq(false))
        .filter(product::Column::RegistrationDueAt.lte(now))
        .order_by_asc(product::Column::RegistrationDueAt)
        .limit(BATCH)
        .into_tuple()
        .all(&context.db)
        .await?;
    let attempts: Vec<Result<bool, sea_orm::DbErr>> = futures_util::stream::iter(due.clone())
        .map(|id| retry_one(context, id))
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let mut registered = 0;
    for attempt in attempts {
        registered += usize::from(attempt?);
    }
    Ok(RetryOutcome {
        due: due.len(),
        registered,
    })
}

/// Products not registered yet: due, failing, or waiting for their RPC.
/// Exactly those have a `registration_due_at`, which is indexed, so
/// counting them reads the index, not every product.
pub async fn waiting(context: &Context) -> Result<u64, sea_orm::DbErr> {
    product::Entity::find()
        .filter(product::Column::RegistrationDueAt.is_not_null())
        .count(&context.db)
        .await
}

/// Claims and registers one due product; `true` if the service took it.
async fn retry_one(context: &Context, id: Uuid) -> Result<bool, sea_orm::DbErr> {
    Ok(match claim(context, id, true).await? {
        Claim::Ours(row) => register(context, row).await.is_ok(),
        _ => false,
    })
}
