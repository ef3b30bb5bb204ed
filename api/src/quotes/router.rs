//! Stock quotes (SPEC section 6), for any account:
//!
//! - `GET /stock?q=aapl.us`: asks `quote-worker` over the broker, saves a
//!   found quote for the caller, answers `{"symbol","company_name","quote"}`.
//! - `GET /history?page=&page_size=`: the caller's quotes, newest first.
//! - `GET /stats` (admins): the 5 most requested stocks, counted by the database.

use axum::Json;
use axum::extract::State;
use platform::Error;
use platform::error::ErrorBody;
use rpc::messages::{QuoteRequest, Symbol};
use sea_orm::ExprTrait as _;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue, ColumnTrait, EntityTrait, FromQueryResult, QueryFilter, QueryOrder, QuerySelect,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::entity as quote;
use crate::AppState;
use crate::accounts::{Admin, Caller};
use crate::web::extract::Query;
use crate::web::paging::PageQuery;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(stock))
        .routes(routes!(history))
        .routes(routes!(stats))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StockQuery {
    /// A stooq symbol, e.g. `aapl.us`.
    q: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StockQuote {
    #[schema(example = "AAPL.US")]
    pub symbol: String,
    #[schema(example = "APPLE")]
    pub company_name: String,
    /// The close price.
    #[schema(example = 123.45)]
    pub quote: f64,
}

/// The latest quote of a stock, saved to the caller's history.
#[utoipa::path(
    get,
    path = "/stock",
    tag = "quotes",
    params(StockQuery),
    security(("basic" = []), ("bearer" = [])),
    responses(
        (status = 200, body = StockQuote),
        (status = 400, body = ErrorBody, description = "Missing, empty or impossible `q`"),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "stooq does not know the symbol (nothing saved)"),
        (status = 502, body = ErrorBody, description = "stooq unreachable, over its limit, or answering nonsense"),
        (status = 503, body = ErrorBody, description = "The broker is down"),
        (status = 504, body = ErrorBody, description = "No reply within RPC_TIMEOUT_MS"),
    )
)]
pub async fn stock(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<StockQuery>,
) -> platform::Result<Json<StockQuote>> {
    let symbol =
        Symbol::parse(query.q.as_deref().unwrap_or_default()).map_err(Error::BadRequest)?;
    let request = QuoteRequest::Get {
        symbol: symbol.clone(),
    };
    let found = rpc::call(&*state.broker, &request, state.settings.broker.rpc_timeout).await?;
    let row = quote::ActiveModel {
        id: ActiveValue::NotSet,
        account_id: ActiveValue::Set(caller.id),
        stock: ActiveValue::Set(symbol.to_string()),
        symbol: ActiveValue::Set(found.symbol.clone()),
        name: ActiveValue::Set(found.name.clone()),
        open: ActiveValue::Set(found.open),
        high: ActiveValue::Set(found.high),
        low: ActiveValue::Set(found.low),
        close: ActiveValue::Set(found.close),
        requested_at: ActiveValue::Set(state.clock.now()),
    };
    quote::Entity::insert(row)
        .exec_without_returning(&state.db)
        .await?;
    Ok(Json(StockQuote {
        symbol: found.symbol,
        company_name: found.name,
        quote: found.close,
    }))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct HistoryEntry {
    /// When it was asked for, RFC 3339 UTC.
    #[schema(example = "2021-04-01T19:20:30Z")]
    pub date: String,
    pub name: String,
    pub symbol: String,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
}

/// The caller's quotes, newest first.
#[utoipa::path(
    get,
    path = "/history",
    tag = "quotes",
    params(PageQuery),
    security(("basic" = []), ("bearer" = [])),
    responses(
        (status = 200, body = [HistoryEntry]),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
    )
)]
pub async fn history(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<PageQuery>,
) -> platform::Result<Json<Vec<HistoryEntry>>> {
    let page = query.page()?;
    let rows = quote::Entity::find()
        .filter(quote::Column::AccountId.eq(caller.id))
        .order_by_desc(quote::Column::RequestedAt)
        .order_by_desc(quote::Column::Id)
        .limit(u64::from(page.size()))
        .offset(page.offset())
        .all(&state.db)
        .await?;
    Ok(Json(rows.into_iter().map(HistoryEntry::from).collect()))
}

impl From<quote::Model> for HistoryEntry {
    fn from(row: quote::Model) -> Self {
        Self {
            date: row.requested_at.to_rfc3339_seconds(),
            name: row.name,
            symbol: row.symbol,
            open: row.open,
            high: row.high,
            low: row.low,
            close: row.close,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema, FromQueryResult)]
pub struct StockStat {
    #[schema(example = "aapl.us")]
    pub stock: String,
    #[schema(example = 5)]
    pub times_requested: i64,
}

/// The 5 most requested stocks across all accounts, most first (ties in
/// the order of their codes).
#[utoipa::path(
    get,
    path = "/stats",
    tag = "quotes",
    security(("basic" = []), ("bearer" = [])),
    responses(
        (status = 200, body = [StockStat]),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "Not an admin"),
    )
)]
pub async fn stats(
    State(state): State<AppState>,
    _admin: Admin,
) -> platform::Result<Json<Vec<StockStat>>> {
    let times_requested = Expr::col(quote::Column::Id).count();
    let top = quote::Entity::find()
        .select_only()
        .column(quote::Column::Stock)
        .column_as(times_requested.clone(), "times_requested")
        .group_by(quote::Column::Stock)
        .order_by_desc(times_requested)
        .order_by_asc(quote::Column::Stock)
        .limit(5)
        .into_model::<StockStat>()
        .all(&state.db)
        .await?;
    Ok(Json(top))
}
