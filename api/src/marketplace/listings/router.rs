//! The listing service (seed 004), served on the internal listener: the
//! only reader and writer of the `listings` table.
//!
//! - `GET /listings?page_num=&page_size=&user_id=`: newest first.
//! - `POST /listings` (form: `user_id`, `listing_type`, `price`).
//! - `GET /listings/ping`: `pong!`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use sea_orm::ExprTrait as _;
use sea_orm::sea_query::{Expr, Order, Query};
use sea_orm::{ActiveValue, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::entity as listing;
use super::pages::PageKey;
use super::{Listing, ListingType, NewListing};
use crate::AppState;
use crate::marketplace::envelope::{Args, EnvelopeError, Failure};
use crate::marketplace::users::UserId;
use crate::marketplace::wire::{ListingCreated, ListingsPage};
use crate::web::paging::PageRequest;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_listings, create_listing))
        .routes(routes!(ping))
}

/// The form `POST /listings` takes (documentation only: the handler reads
/// each field itself, to report every invalid one in order).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct ListingForm {
    user_id: i64,
    listing_type: ListingType,
    /// Greater than 0.
    price: i64,
}

/// A page of listings, newest first (ties: the higher id first).
#[utoipa::path(
    get,
    path = "/listings",
    tag = "listing service (internal)",
    params(
        ("page_num" = Option<u32>, Query, description = "From 1; default 1"),
        ("page_size" = Option<u32>, Query, description = "1 to 100; default 10"),
        ("user_id" = Option<i64>, Query, description = "Only this user's listings"),
    ),
    responses(
        (status = 200, body = ListingsPage),
        (status = 400, body = Failure, description = "`errors` is a string, e.g. `invalid page_num`"),
    )
)]
pub async fn list_listings(
    State(state): State<AppState>,
    args: Args,
) -> Result<Response, EnvelopeError> {
    let (page, user_id) = listings_query(&args)?;
    let key = PageKey { page, user_id };
    if let Some(body) = state.listing_pages.get(&key) {
        return Ok(json_body(body));
    }
    let generation = state.listing_pages.generation();
    // The page's ids come from the index alone (it holds created_at and id),
    // so a deep page skips index entries, not rows; only the page's own
    // rows are read.
    let page_ids = Query::select()
        .column(listing::Column::Id)
        .from(listing::Entity)
        .and_where_option(user_id.map(|id| Expr::col(listing::Column::UserId).eq(id.get())))
        .order_by(listing::Column::CreatedAt, Order::Desc)
        .order_by(listing::Column::Id, Order::Desc)
        .limit(u64::from(page.size()))
        .offset(page.offset())
        .to_owned();
    let listings = listing::Entity::find()
        .filter(listing::Column::Id.in_subquery(page_ids))
        .order_by_desc(listing::Column::CreatedAt)
        .order_by_desc(listing::Column::Id)
        .all(&state.db)
        .await?
        .into_iter()
        .map(Listing::from)
        .collect();
    let body = Bytes::from(
        serde_json::to_vec(&ListingsPage {
            result: true,
            listings,
        })
        .map_err(anyhow::Error::new)?,
    );
    state.listing_pages.put(key, generation, body.clone());
    Ok(json_body(body))
}

/// A JSON answer whose body is already written.
fn json_body(body: Bytes) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The `page_num`, `page_size` and `user_id` of a query for listings, a
/// value that does not parse refused with its message as a string.
pub fn listings_query(args: &Args) -> Result<(PageRequest, Option<UserId>), EnvelopeError> {
    let page = PageRequest::parse(args.get("page_num"), args.get("page_size"))
        .map_err(EnvelopeError::BadParameter)?;
    let user_id = args
        .get("user_id")
        .map(UserId::parse)
        .transpose()
        .map_err(EnvelopeError::BadParameter)?;
    Ok((page, user_id))
}

/// Creates a listing; `created_at` and `updated_at` are the same microsecond.
#[utoipa::path(
    post,
    path = "/listings",
    tag = "listing service (internal)",
    request_body(content = ListingForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, body = ListingCreated),
        (status = 400, body = Failure, description = "`errors` lists every invalid field, in order"),
    )
)]
pub async fn create_listing(
    State(state): State<AppState>,
    args: Args,
) -> Result<Json<ListingCreated>, EnvelopeError> {
    let new = NewListing::parse(
        args.get("user_id"),
        args.get("listing_type"),
        args.get("price"),
    )
    .map_err(EnvelopeError::Invalid)?;
    let now = state.clock.now();
    let row = listing::ActiveModel {
        id: ActiveValue::NotSet,
        user_id: ActiveValue::Set(new.user_id.get()),
        listing_type: ActiveValue::Set(new.listing_type),
        price: ActiveValue::Set(new.price.get()),
        created_at: ActiveValue::Set(now),
        updated_at: ActiveValue::Set(now),
    };
    // Its write empties the page cache before this answer (`startup`).
    let row = state.new_listings.insert(row).await?;
    Ok(Json(ListingCreated {
        result: true,
        listing: row.into(),
    }))
}

/// The service is up.
#[utoipa::path(
    get,
    path = "/listings/ping",
    tag = "listing service (internal)",
    responses((status = 200, body = String, content_type = "text/html", example = "pong!"))
)]
pub async fn ping() -> Html<&'static str> {
    Html("pong!")
}
