//! Refreshing every registered product's offers once per
//! `OFFERS_POLL_INTERVAL_SECS`, however many pollers run.
//!
//! [`poll_once`] claims the products that are due by moving their
//! `next_poll_at` one period ahead in a single `UPDATE … RETURNING`: on
//! PostgreSQL its subquery locks the rows `FOR UPDATE SKIP LOCKED`, so two
//! pollers take different products; SQLite runs the whole statement under
//! its one write lock (and has no lock clause). A product is thus polled
//! once per period by exactly one poller, and none is skipped: a claimed
//! product is due again one period later whatever happened to the call.
//!
//! For each claimed product, up to `OFFERS_CONCURRENCY` at once:
//!
//! - its listed offers are upserted by the Offers service's id, the ones
//!   no longer listed are removed, and **every** listed price is appended
//!   to `price_history` (one row per offer per poll, so a trend over any
//!   period has a point for every poll);
//! - a 404 (the service forgot the product) sends it back to registration;
//! - a 401 is logged as an error: the deployment's token was refused, and
//!   minting another would orphan every product registered with it.

use std::time::Duration;

use catalog_entities::{offer, price_history, product};
use futures_util::StreamExt as _;
use platform::Timestamp;
use sea_orm::ExprTrait as _;
use sea_orm::sea_query::{Expr, LockBehavior, LockType, OnConflict, Query};
use sea_orm::{
    ActiveValue, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect,
    StatementBuilder, TransactionTrait,
};
use uuid::Uuid;

use crate::context::Context;
use crate::offers::{Listing, OffersError};

/// How many due products one pass claims at most. A full batch is
/// followed by another pass at once, so a backlog is worked off without
/// waiting for the next tick.
pub const BATCH: u64 = 1000;

/// What a pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PollOutcome {
    pub claimed: usize,
    pub polled: usize,
    pub failed: usize,
    pub reregistering: usize,
}

/// How overdue the most overdue registered product's poll is; zero when
/// none is due.
pub async fn lag(context: &Context) -> Result<Duration, sea_orm::DbErr> {
    let now = context.clock.now();
    let oldest: Option<Option<Timestamp>> = product::Entity::find()
        .select_only()
        .column_as(product::Column::NextPollAt.min(), "oldest")
        .filter(product::Column::Registered.eq(true))
        .filter(product::Column::NextPollAt.lte(now))
        .into_tuple()
        .one(&context.db)
        .await?;
    Ok(oldest
        .flatten()
        .map_or(Duration::ZERO, |oldest| now.since(oldest)))
}

/// Claims the due products and refreshes their offers.
pub async fn poll_once(
    context: &Context,
    period: Duration,
    concurrency: usize,
) -> anyhow::Result<PollOutcome> {
    let ids = claim_due(context, period).await?;
    if ids.is_empty() {
        return Ok(PollOutcome::default());
    }
    let claimed = ids.len();
    let token = match context.token().await {
        Ok(token) => token,
        Err(e) => {
            // Without a token nothing was polled: the products are due
            // again now, not a period later.
            release(context, &ids).await?;
            return Err(e);
        }
    };
    let results: Vec<Result<Refresh, anyhow::Error>> = futures_util::stream::iter(ids)
        .map(|id| refresh(context, &token, id))
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let mut outcome = PollOutcome {
        claimed,
        ..PollOutcome::default()
    };
    if results
        .iter()
        .any(|result| matches!(result, Ok(Refresh::Updated)))
    {
        crate::token::mark_accepted(&context.db).await?;
    }
    for result in results {
        match result {
            Ok(Refresh::Updated) => outcome.polled += 1,
            Ok(Refresh::Unknown) => outcome.reregistering += 1,
            Err(e) => {
                outcome.failed += 1;
                tracing::warn!(error = format!("{e:#}"), "refreshing offers failed");
            }
        }
    }
    Ok(outcome)
}

async fn claim_due(context: &Context, period: Duration) -> Result<Vec<Uuid>, sea_orm::DbErr> {
    let now = context.clock.now();
    let next = now + period;
    let due = Query::select()
        .column(product::Column::Id)
        .from(product::Entity)
        .and_where(Expr::col(product::Column::Registered).eq(true))
        .and_where(Expr::col(product::Column::NextPollAt).lte(now))
        .order_by(product::Column::NextPollAt, sea_orm::Order::Asc)
        .limit(BATCH)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .to_owned();
    let claim = Query::update()
        .table(product::Entity)
        .value(product::Column::NextPollAt, next)
        .and_where(Expr::col(product::Column::Id).in_subquery(due))
        .returning_col(product::Column::Id)
        .to_owned();
    let backend = context.db.get_database_backend();
    let rows = context
        .db
        .query_all_raw(StatementBuilder::build(&claim, &backend))
        .await?;
    rows.iter()
        .map(|row| row.try_get::<Uuid>("", "id"))
        .collect()
}

/// Makes claimed products due again at once.
async fn release(context: &Context, ids: &[Uuid]) -> Result<(), sea_orm::DbErr> {
    product::Entity::update_many()
        .col_expr(
            product::Column::NextPollAt,
            Expr::value(context.clock.now()),
        )
        .filter(product::Column::Id.is_in(ids.iter().copied()))
        .exec(&context.db)
        .await?;
    Ok(())
}

enum Refresh {
    Updated,
    /// The service does not know the product: it is registered again.
    Unknown,
}

async fn refresh(context: &Context, token: &str, id: Uuid) -> anyhow::Result<Refresh> {
    match context.offers.offers(token, id).await {
        Ok(Some(listings)) => {
            store(context, id, &listings).await?;
            Ok(Refresh::Updated)
        }
        Ok(None) => {
            product::Entity::update_many()
                .col_expr(product::Column::Registered, Expr::value(false))
                .col_expr(
                    product::Column::RegistrationDueAt,
                    Expr::value(context.clock.now()),
                )
                .col_expr(
                    product::Column::NextPollAt,
                    Expr::value(Option::<Timestamp>::None),
                )
                .filter(product::Column::Id.eq(id))
                .exec(&context.db)
                .await?;
            tracing::warn!(product = %id, "the Offers service does not know the product; registering it again");
            Ok(Refresh::Unknown)
        }
        Err(e @ OffersError::Unauthorized(_)) => {
            tracing::error!(product = %id, error = %e, "the Offers service refused the deployment's access token");
            crate::token::mark_refused(&context.db, context.clock.now()).await?;
            Err(e.into())
        }
        Err(e) => Err(e.into()),
    }
}

/// Replaces `id`'s current offers with `listings` and appends their prices
/// to the history, in one transaction. A product deleted meanwhile makes
/// the inserts fail on its foreign key, and the transaction is dropped.
async fn store(context: &Context, id: Uuid, listings: &[Listing]) -> anyhow::Result<()> {
    let now = context.clock.now();
    let txn = context.db.begin().await?;
    offer::Entity::delete_many()
        .filter(offer::Column::ProductId.eq(id))
        .filter(offer::Column::Id.is_not_in(listings.iter().map(|l| l.id.clone())))
        .exec(&txn)
        .await?;
    if !listings.is_empty() {
        let current = listings.iter().map(|listing| offer::ActiveModel {
            id: ActiveValue::Set(listing.id.clone()),
            product_id: ActiveValue::Set(id),
            price: ActiveValue::Set(listing.price),
            items_in_stock: ActiveValue::Set(listing.items_in_stock),
            updated_at: ActiveValue::Set(now),
        });
        offer::Entity::insert_many(current)
            .on_conflict(
                OnConflict::column(offer::Column::Id)
                    .update_columns([
                        offer::Column::Price,
                        offer::Column::ItemsInStock,
                        offer::Column::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(&txn)
            .await?;
        let observed = listings.iter().map(|listing| price_history::ActiveModel {
            id: ActiveValue::NotSet,
            product_id: ActiveValue::Set(id),
            offer_id: ActiveValue::Set(listing.id.clone()),
            price: ActiveValue::Set(listing.price),
            observed_at: ActiveValue::Set(now),
        });
        price_history::Entity::insert_many(observed)
            .exec_without_returning(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(())
}
