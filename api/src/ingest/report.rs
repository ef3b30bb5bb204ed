//! What `GET /v1/products/ingests` and `GET /v1/products/ingests/{id}`
//! report of accepted feeds: each job's status, counts, progress through
//! its body and timings.
//!
//! An ingest is shown to the account that sent it and to admins; an
//! anonymous one also to anonymous callers when anonymous feeds are on.
//! Anyone else gets 404, as if it did not exist, so ids cannot be probed.

use std::collections::{HashMap, HashSet};

use axum::Json;
use axum::extract::State;
use platform::error::ErrorBody;
use platform::{Error, Result, Timestamp};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, Iterable, QueryFilter, QueryOrder, QuerySelect,
    Select,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::entity as ingest_job;
use super::jobs::Status;
use super::sender::FeedSender;
use crate::AppState;
use crate::accounts::Role;
use crate::accounts::entity as account;
use crate::web::extract::{Path, Query};
use crate::web::paging::PageRequest;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_ingests))
        .routes(routes!(ingest_status))
}

/// An ingest job: where an accepted feed is.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct IngestJob {
    pub id: Uuid,
    pub status: Status,
    /// The account that sent the feed; `null` for an anonymous one.
    pub sender: Option<String>,
    /// Products in the feed.
    pub items: i64,
    /// Items applied so far (created + updated + unchanged + skipped).
    pub processed: i64,
    /// Products the feed added to the catalog.
    pub created: i64,
    /// Items that changed a product already in the catalog.
    pub updated: i64,
    /// Items that brought a product the same fields the last feed applied
    /// to it: not written again (its `updated_at` stays).
    pub unchanged: i64,
    /// Items the catalog cannot take (a sku, name or description out of bounds).
    pub skipped: i64,
    /// Why the first item was skipped, or why the job failed.
    pub problem: Option<String>,
    /// Bytes in the body (decoded, if it was sent compressed).
    pub size: i64,
    /// Bytes of the body its applied items reach: moves batch by batch
    /// through a spooled body; a body kept whole is applied at once.
    pub applied_bytes: i64,
    /// The body's BLAKE3 hash, in hex.
    pub hash: String,
    /// When the feed was accepted. RFC 3339 UTC.
    pub received_at: String,
    /// When applying it started.
    pub started_at: Option<String>,
    /// When it was done or failed.
    pub finished_at: Option<String>,
}

impl IngestJob {
    /// `row` as shown, sent by the account named `sender`.
    fn of(row: ingest_job::Model, sender: Option<String>) -> Self {
        let applied_bytes = if row.status == Status::Done {
            row.size
        } else {
            row.applied_bytes
        };
        Self {
            id: row.id,
            status: row.status,
            sender,
            items: row.items,
            processed: row.processed,
            created: row.created,
            updated: row.updated,
            unchanged: row.unchanged,
            skipped: row.skipped,
            problem: row.problem,
            size: row.size,
            applied_bytes,
            hash: row.hash,
            received_at: row.received_at.to_rfc3339(),
            started_at: row.started_at.map(Timestamp::to_rfc3339),
            finished_at: row.finished_at.map(Timestamp::to_rfc3339),
        }
    }

    /// `rows` as shown, with their senders' usernames (one read).
    async fn all_of(db: &DatabaseConnection, rows: Vec<ingest_job::Model>) -> Result<Vec<Self>> {
        let ids: HashSet<i64> = rows.iter().filter_map(|row| row.sender).collect();
        let names: HashMap<i64, String> = if ids.is_empty() {
            HashMap::new()
        } else {
            account::Entity::find()
                .select_only()
                .column(account::Column::Id)
                .column(account::Column::Username)
                .filter(account::Column::Id.is_in(ids))
                .into_tuple::<(i64, String)>()
                .all(db)
                .await?
                .into_iter()
                .collect()
        };
        Ok(rows
            .into_iter()
            .map(|row| {
                let sender = row.sender.and_then(|id| names.get(&id).cloned());
                Self::of(row, sender)
            })
            .collect())
    }
}

/// Reads jobs without their small bodies (up to 64 KiB each, kept in
/// the row until applied): a report never shows them.
fn without_bodies(select: Select<ingest_job::Entity>) -> Select<ingest_job::Entity> {
    select
        .select_only()
        .columns(
            ingest_job::Column::iter().filter(|column| !matches!(column, ingest_job::Column::Body)),
        )
        .expr_as(Expr::cust("NULL"), "body")
}

/// Which ingests to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IngestsQuery {
    /// Only ingests in this status.
    status: Option<Status>,
    /// Only the ingests of the account with this username (admins only;
    /// others see their own ingests anyway).
    sender: Option<String>,
    /// From 1; default 1.
    page: Option<i64>,
    /// 1 to 100; default 10.
    page_size: Option<i64>,
}

/// The caller's ingests (an admin's: everyone's), newest first.
#[utoipa::path(
    get,
    path = "/v1/products/ingests",
    tag = "ingestion",
    params(IngestsQuery),
    security((), ("basic" = []), ("bearer" = [])),
    responses(
        (status = 200, body = [IngestJob]),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "The account may not send feeds, or asked for another sender's ingests without being an admin"),
    )
)]
pub async fn list_ingests(
    State(state): State<AppState>,
    sender: FeedSender,
    Query(query): Query<IngestsQuery>,
) -> Result<Json<Vec<IngestJob>>> {
    let page = PageRequest::checked(query.page.unwrap_or(1), query.page_size.unwrap_or(10))
        .map_err(Error::BadRequest)?;
    let mut select = without_bodies(ingest_job::Entity::find());
    match (&sender.0, &query.sender) {
        (Some(caller), Some(name)) if caller.role == Role::Admin => {
            let id = account::Entity::find()
                .select_only()
                .column(account::Column::Id)
                .filter(account::Column::Username.eq(name.as_str()))
                .into_tuple::<i64>()
                .one(&state.db)
                .await?;
            // No such account: no ingests.
            select = select.filter(ingest_job::Column::Sender.eq(id.unwrap_or(-1)));
        }
        (Some(caller), Some(name)) if *name != caller.username => {
            return Err(Error::Forbidden(
                "only admins may list other accounts' ingests".to_owned(),
            ));
        }
        (Some(caller), _) if caller.role == Role::Admin => {}
        (Some(caller), _) => select = select.filter(ingest_job::Column::Sender.eq(caller.id)),
        (None, _) => select = select.filter(ingest_job::Column::Sender.is_null()),
    }
    if let Some(status) = query.status {
        select = select.filter(ingest_job::Column::Status.eq(status));
    }
    let rows = select
        .order_by_desc(ingest_job::Column::Id)
        .limit(u64::from(page.size()))
        .offset(page.offset())
        .all(&state.db)
        .await?;
    Ok(Json(IngestJob::all_of(&state.db, rows).await?))
}

/// How far an accepted feed has been applied.
#[utoipa::path(
    get,
    path = "/v1/products/ingests/{id}",
    tag = "ingestion",
    params(("id" = Uuid, Path, description = "The id `POST /v1/products` answered")),
    security((), ("basic" = []), ("bearer" = [])),
    responses(
        (status = 200, body = IngestJob),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "The account may not send feeds"),
        (status = 404, body = ErrorBody, description = "No such ingest, or not one this caller sent"),
    )
)]
pub async fn ingest_status(
    State(state): State<AppState>,
    sender: FeedSender,
    Path(id): Path<Uuid>,
) -> Result<Json<IngestJob>> {
    let job = without_bodies(ingest_job::Entity::find_by_id(id))
        .one(&state.db)
        .await?
        .filter(|job| sender.may_see(job.sender))
        .ok_or_else(|| Error::NotFound(format!("ingest {id} not found")))?;
    let mut shown = IngestJob::all_of(&state.db, vec![job]).await?;
    Ok(Json(shown.remove(0)))
}
