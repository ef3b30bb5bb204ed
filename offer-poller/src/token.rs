//! The Offers access token: asked for exactly once per deployment, however
//! many `offer-poller` processes start at the same moment, and kept in the
//! database (`offers_token`).
//!
//! The first process to insert the row (with an empty token) is the one
//! that calls `/auth`; the others wait for the token to appear. If `/auth`
//! fails, the claim is given back at once. If the process dies between the
//! two, its claim expires after [`CLAIM`] and one other process takes it
//! over: the only case where `/auth` could be called twice.

use std::time::Duration;

use catalog_entities::offers_token;
use platform::{Clock, Timestamp};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ActiveValue, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};

use crate::offers::OffersClient;

const NAME: &str = "offers";

/// How long a claim to fetch the token lasts.
pub const CLAIM: Duration = Duration::from_secs(30);

/// The deployment's token: from the database, or fetched once and stored.
pub async fn access_token(
    db: &DatabaseConnection,
    clock: &Clock,
    offers: &OffersClient,
) -> anyhow::Result<String> {
    loop {
        let row = offers_token::Entity::find_by_id(NAME).one(db).await?;
        let now = clock.now();
        let ours = match row {
            Some(row) if !row.token.is_empty() => return Ok(row.token),
            None => {
                let placeholder = offers_token::ActiveModel {
                    name: ActiveValue::Set(NAME.to_owned()),
                    token: ActiveValue::Set(String::new()),
                    created_at: ActiveValue::Set(now),
                    refused_at: ActiveValue::Set(None),
                };
                let inserted = offers_token::Entity::insert(placeholder)
                    .on_conflict(
                        OnConflict::column(offers_token::Column::Name)
                            .do_nothing()
                            .to_owned(),
                    )
                    .exec_without_returning(db)
                    .await?;
                inserted == 1
            }
            Some(row) if now.since(row.created_at) > CLAIM => {
                let taken = offers_token::Entity::update_many()
                    .col_expr(offers_token::Column::CreatedAt, Expr::value(now))
                    .filter(offers_token::Column::Name.eq(NAME))
                    .filter(offers_token::Column::Token.eq(""))
                    .filter(offers_token::Column::CreatedAt.eq(row.created_at))
                    .exec(db)
                    .await?;
                taken.rows_affected == 1
            }
            Some(_) => false,
        };
        if ours {
            let token = match offers.auth().await {
                Ok(token) => token,
                Err(e) => {
                    // Give the claim back, so the next attempt (here or in
                    // another process) asks again at once.
                    offers_token::Entity::delete_many()
                        .filter(offers_token::Column::Name.eq(NAME))
                        .filter(offers_token::Column::Token.eq(""))
                        .filter(offers_token::Column::CreatedAt.eq(now))
                        .exec(db)
                        .await?;
                    return Err(e.into());
                }
            };
            // Stored only while the claim is still ours: a process that
            // stalled past CLAIM may have been overtaken, and then the
            // token the other one stores is the deployment's.
            let stored = offers_token::Entity::update_many()
                .col_expr(offers_token::Column::Token, Expr::value(token.clone()))
                .filter(offers_token::Column::Name.eq(NAME))
                .filter(offers_token::Column::Token.eq(""))
                .filter(offers_token::Column::CreatedAt.eq(now))
                .exec(db)
                .await?;
            if stored.rows_affected == 1 {
                tracing::info!("Offers service access token obtained and stored");
                return Ok(token);
            }
            tracing::warn!("another process took over the token request; using its token");
            continue;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Records that the Offers service refused the token (a 401), for
/// `/readyz`. The token is kept: a new one would not know the products
/// registered with this one.
pub async fn mark_refused(db: &DatabaseConnection, now: Timestamp) -> Result<(), sea_orm::DbErr> {
    offers_token::Entity::update_many()
        .col_expr(offers_token::Column::RefusedAt, Expr::value(now))
        .filter(offers_token::Column::Name.eq(NAME))
        .exec(db)
        .await?;
    Ok(())
}

/// Clears a refusal once the service accepts the token again.
pub async fn mark_accepted(db: &DatabaseConnection) -> Result<(), sea_orm::DbErr> {
    offers_token::Entity::update_many()
        .col_expr(
            offers_token::Column::RefusedAt,
            Expr::value(Option::<Timestamp>::None),
        )
        .filter(offers_token::Column::Name.eq(NAME))
        .filter(offers_token::Column::RefusedAt.is_not_null())
        .exec(db)
        .await?;
    Ok(())
}
