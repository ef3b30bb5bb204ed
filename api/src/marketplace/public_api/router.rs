//! The public API layer (seed 004), on the public listener. It owns no
//! table: it reaches listings and users only through the listing and user
//! services' REST APIs ([`crate::marketplace::public_api::clients`]).
//!
//! - `GET /public-api/listings?page_num=&page_size=&user_id=`: a page of
//!   listings, each with its user, the page's users fetched in one request.
//! - `POST /public-api/users` `{"name"}`.
//! - `POST /public-api/listings` `{"user_id","listing_type","price"}`: 400
//!   when the user service does not know the user.

use std::collections::{BTreeSet, HashMap};

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::marketplace::envelope::{Args, EnvelopeError, Failure, JsonArgs};
use crate::marketplace::listings::router as listings;
use crate::marketplace::listings::{Listing, ListingType, NewListing};
use crate::marketplace::users::{User, UserId, UserName};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_listings, create_listing))
        .routes(routes!(create_user))
}

/// A listing with its user in place of `user_id`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ListingWithUser {
    pub id: i64,
    pub listing_type: ListingType,
    pub price: i64,
    pub created_at: i64,
    pub updated_at: i64,
    /// `null` if the user service does not know the listing's user.
    pub user: Option<User>,
}

/// `{"result": true, "listings": [...]}`
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PublicListingsPage {
    pub result: bool,
    pub listings: Vec<ListingWithUser>,
}

/// `{"user": {...}}`
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PublicUser {
    pub user: User,
}

/// `{"listing": {...}}`
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PublicListing {
    pub listing: Listing,
}

/// `POST /public-api/users` body.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct NewUserBody {
    /// Not blank; at most 200 characters.
    name: String,
}

/// `POST /public-api/listings` body. `user_id` and `price` may also be
/// strings holding an integer.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct NewListingBody {
    user_id: i64,
    listing_type: ListingType,
    /// Greater than 0.
    price: i64,
}

/// A page of listings, newest first, each with its user. The page values
/// are checked here, with the listing service's messages, before any call.
#[utoipa::path(
    get,
    path = "/public-api/listings",
    tag = "public API",
    params(
        ("page_num" = Option<u32>, Query, description = "From 1; default 1"),
        ("page_size" = Option<u32>, Query, description = "1 to 100; default 10"),
        ("user_id" = Option<i64>, Query, description = "Only this user's listings"),
    ),
    responses(
        (status = 200, body = PublicListingsPage),
        (status = 400, body = Failure, description = "`errors` is a string, e.g. `invalid page_num`"),
        (status = 502, body = Failure), (status = 503, body = Failure), (status = 504, body = Failure),
    )
)]
pub async fn list_listings(
    State(state): State<AppState>,
    args: Args,
) -> Result<Json<PublicListingsPage>, EnvelopeError> {
    let (page, user_id) = listings::listings_query(&args)?;
    let listings = state.listing_service.page(page, user_id).await?;
    let user_ids: Vec<UserId> = listings
        .iter()
        .filter_map(|listing| UserId::try_from(listing.user_id).ok())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let users: HashMap<i64, User> = state
        .user_service
        .find_many(&user_ids)
        .await?
        .into_iter()
        .map(|user| (user.id, user))
        .collect();
    let listings = listings
        .into_iter()
        .map(|listing| ListingWithUser {
            id: listing.id,
            listing_type: listing.listing_type,
            price: listing.price,
            created_at: listing.created_at,
            updated_at: listing.updated_at,
            user: users.get(&listing.user_id).cloned(),
        })
        .collect();
    Ok(Json(PublicListingsPage {
        result: true,
        listings,
    }))
}

/// Creates a user through the user service.
#[utoipa::path(
    post,
    path = "/public-api/users",
    tag = "public API",
    request_body = NewUserBody,
    responses(
        (status = 200, body = PublicUser),
        (status = 400, body = Failure),
        (status = 502, body = Failure), (status = 503, body = Failure), (status = 504, body = Failure),
    )
)]
pub async fn create_user(
    State(state): State<AppState>,
    body: JsonArgs,
) -> Result<Json<PublicUser>, EnvelopeError> {
    let name = UserName::parse(&body.get("name").unwrap_or_default())
        .map_err(|e| EnvelopeError::Invalid(vec![e]))?;
    let user = state.user_service.create(name).await?;
    Ok(Json(PublicUser { user }))
}

/// Creates a listing through the listing service, once the user service
/// has confirmed the user exists.
#[utoipa::path(
    post,
    path = "/public-api/listings",
    tag = "public API",
    request_body = NewListingBody,
    responses(
        (status = 200, body = PublicListing),
        (status = 400, body = Failure, description = "Every invalid field in order, or an unknown user"),
        (status = 502, body = Failure), (status = 503, body = Failure), (status = 504, body = Failure),
    )
)]
pub async fn create_listing(
    State(state): State<AppState>,
    body: JsonArgs,
) -> Result<Json<PublicListing>, EnvelopeError> {
    let new = NewListing::parse(
        body.get("user_id").as_deref(),
        body.get("listing_type").as_deref(),
        body.get("price").as_deref(),
    )
    .map_err(EnvelopeError::Invalid)?;
    if state.user_service.find(new.user_id).await?.is_none() {
        return Err(EnvelopeError::Invalid(vec![format!(
            "invalid user_id. User {} does not exist",
            new.user_id.get()
        )]));
    }
    let listing = state.listing_service.create(new).await?;
    Ok(Json(PublicListing { listing }))
}
