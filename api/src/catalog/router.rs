//! The product catalog (SPEC section 5): public reads, admin writes.
//!
//! - `POST /products` (admin) → 201; `GET /products?page=&page_size=`;
//!   `GET /products/{id}` with its current offers; `PUT`/`PATCH
//!   /products/{id}` (admin); `DELETE /products/{id}` (admin) → 204, its
//!   offers and price history with it.
//! - `GET /products/{id}/offers`.
//!
//! A new product is stored with its registration pending, then
//! `offers.register` asks `offer-poller` to register it with the Offers
//! service: the answer says `registered: true` if that was confirmed
//! within `RPC_TIMEOUT_MS`. If not (the Offers service or the broker down
//! or slow), the product stays, and `offer-poller` retries until the
//! service accepts it.
//!
//! Length: seven routes, each with its OpenAPI annotation (about a third of
//! the lines); the writes are in `store`, the trends in `trends`.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use catalog_entities::{offer, product};
use platform::error::ErrorBody;
use platform::{Error, Result};
use rpc::messages::OfferRequest;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::{Description, ProductName, Sku, store};
use crate::AppState;
use crate::accounts::auth::Admin;
use crate::web::extract::{Json as JsonBody, Path, Query};
use crate::web::paging::PageQuery;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_products, create_product))
        .routes(routes!(
            get_product,
            replace_product,
            update_product,
            delete_product
        ))
        .routes(routes!(product_offers))
}

/// A product as the API shows it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Product {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub sku: Option<String>,
    /// Whether the Offers service has it yet.
    pub registered: bool,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// RFC 3339 UTC.
    pub updated_at: String,
}

/// A product with its current offers.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ProductWithOffers {
    #[serde(flatten)]
    pub product: Product,
    pub offers: Vec<Offer>,
}

/// An offer as the Offers service last listed it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Offer {
    /// The Offers service's own id.
    pub id: String,
    pub price: i64,
    pub items_in_stock: i64,
    /// When it was last seen, RFC 3339 UTC.
    pub updated_at: String,
}

impl From<product::Model> for Product {
    fn from(row: product::Model) -> Self {
        Self {
            id: row.id,
            name: row.name,
            description: row.description,
            sku: row.sku,
            registered: row.registered,
            created_at: row.created_at.to_rfc3339(),
            updated_at: row.updated_at.to_rfc3339(),
        }
    }
}

impl From<offer::Model> for Offer {
    fn from(row: offer::Model) -> Self {
        Self {
            id: row.id,
            price: row.price,
            items_in_stock: row.items_in_stock,
            updated_at: row.updated_at.to_rfc3339(),
        }
    }
}

/// `POST /products` and `PUT /products/{id}` bodies.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewProduct {
    name: String,
    /// Empty when left out.
    #[serde(default)]
    description: String,
    sku: Option<String>,
}

/// `PATCH /products/{id}` body: only the fields given change; `"sku": null`
/// removes the sku.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ProductChanges {
    name: Option<String>,
    description: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    sku: Option<Option<String>>,
}

/// Tells a field given as `null` (`Some(None)`) from one left out (`None`).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// A product's checked fields.
struct Fields {
    name: ProductName,
    description: Description,
    sku: Option<Sku>,
}

impl Fields {
    fn parse(new: NewProduct) -> Result<Self> {
        Ok(Self {
            name: ProductName::parse(&new.name).map_err(Error::BadRequest)?,
            description: Description::parse(&new.description).map_err(Error::BadRequest)?,
            sku: new
                .sku
                .as_deref()
                .map(Sku::parse)
                .transpose()
                .map_err(Error::BadRequest)?,
        })
    }
}

/// Creates a product and registers it with the Offers service.
#[utoipa::path(
    post,
    path = "/products",
    tag = "products",
    request_body = NewProduct,
    security(("basic" = []), ("bearer" = [])),
    responses(
        (status = 201, body = Product),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "The sku is taken"),
    )
)]
pub async fn create_product(
    State(state): State<AppState>,
    _admin: Admin,
    JsonBody(new): JsonBody<NewProduct>,
) -> Result<(StatusCode, Json<Product>)> {
    let fields = Fields::parse(new)?;
    let now = state.clock.now();
    // offer-poller's retry pass leaves the product to the RPC below until
    // a little after its deadline.
    let hold = state.settings.broker.rpc_timeout + REGISTRATION_MARGIN;
    let stored = store::create(
        &state.db,
        fields.name,
        fields.description,
        fields.sku,
        now + hold,
        now,
    )
    .await?;
    let id = stored.id;
    let request = OfferRequest::Register { product_id: id };
    let registered = match rpc::call(&*state.broker, &request, state.settings.broker.rpc_timeout)
        .await
    {
        Ok(_) => true,
        // The poller answered why not (the Offers service is not
        // configured, or refused it): nothing to warn about per product.
        Err(rpc::CallError::Failed(failure)) => {
            tracing::debug!(product = %id, reason = %failure.msg, "product stored unregistered");
            false
        }
        Err(e) => {
            tracing::warn!(product = %id, error = %e, "registration not confirmed in time; offer-poller retries it");
            false
        }
    };
    let mut product = Product::from(stored);
    product.registered = registered;
    Ok((StatusCode::CREATED, Json(product)))
}

/// How long after the RPC deadline a new product's registration is left
/// to that RPC, before offer-poller's retry pass may take it.
const REGISTRATION_MARGIN: Duration = Duration::from_secs(2);

/// Which products to list, besides the page.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProductFilter {
    /// Only the product with this sku (a feed item's `id`): a list of
    /// one, or empty.
    sku: Option<String>,
}

/// A page of products, newest first; with `sku`, the product a feed item
/// became.
#[utoipa::path(
    get,
    path = "/products",
    tag = "products",
    params(PageQuery, ProductFilter),
    responses((status = 200, body = [Product]), (status = 400, body = ErrorBody))
)]
pub async fn list_products(
    State(state): State<AppState>,
    Query(query): Query<PageQuery>,
    Query(filter): Query<ProductFilter>,
) -> Result<Json<Vec<Product>>> {
    let page = query.page()?;
    let mut select = product::Entity::find();
    if let Some(sku) = filter.sku {
        let sku = Sku::parse(&sku).map_err(Error::BadRequest)?;
        select = select.filter(product::Column::Sku.eq(sku.into_inner()));
    }
    let rows = select
        .order_by_desc(product::Column::Id)
        .limit(u64::from(page.size()))
        .offset(page.offset())
        .all(&state.db)
        .await?;
    Ok(Json(rows.into_iter().map(Product::from).collect()))
}

async fn find_product(state: &AppState, id: Uuid) -> Result<product::Model> {
    product::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .ok_or_else(|| Error::NotFound(format!("product {id} not found")))
}

async fn offers_of(state: &AppState, id: Uuid) -> Result<Vec<Offer>> {
    Ok(offer::Entity::find()
        .filter(offer::Column::ProductId.eq(id))
        .order_by_asc(offer::Column::Price)
        .order_by_asc(offer::Column::Id)
        .all(&state.db)
        .await?
        .into_iter()
        .map(Offer::from)
        .collect())
}

/// One product with its current offers (cheapest first).
#[utoipa::path(
    get,
    path = "/products/{id}",
    tag = "products",
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = ProductWithOffers),
        (status = 400, body = ErrorBody, description = "Not a UUID"),
        (status = 404, body = ErrorBody),
    )
)]
pub async fn get_product(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> Result<Json<ProductWithOffers>> {
    let product = find_product(&state, id).await?;
    let offers = offers_of(&state, id).await?;
    Ok(Json(ProductWithOffers {
        product: product.into(),
        offers,
    }))
}

/// A product's current offers (cheapest first).
#[utoipa::path(
    get,
    path = "/products/{id}/offers",
    tag = "products",
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = [Offer]),
        (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
pub async fn product_offers(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> Result<Json<Vec<Offer>>> {
    find_product(&state, id).await?;
    Ok(Json(offers_of(&state, id).await?))
}

/// Replaces a product's name, description and sku.
#[utoipa::path(
    put,
    path = "/products/{id}",
    tag = "products",
    params(("id" = Uuid, Path)),
    request_body = NewProduct,
    security(("basic" = []), ("bearer" = [])),
    responses(
        (status = 200, body = Product),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody),
    )
)]
pub async fn replace_product(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<Uuid>,
    JsonBody(new): JsonBody<NewProduct>,
) -> Result<Json<Product>> {
    let fields = Fields::parse(new)?;
    let changes = store::Changes {
        name: Some(fields.name),
        description: Some(fields.description),
        sku: Some(fields.sku),
    };
    let stored = store::change(&state.db, id, changes, state.clock.now()).await?;
    Ok(Json(stored.into()))
}

/// Changes some of a product's fields.
#[utoipa::path(
    patch,
    path = "/products/{id}",
    tag = "products",
    params(("id" = Uuid, Path)),
    request_body = ProductChanges,
    security(("basic" = []), ("bearer" = [])),
    responses(
        (status = 200, body = Product),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody),
    )
)]
pub async fn update_product(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<Uuid>,
    JsonBody(changes): JsonBody<ProductChanges>,
) -> Result<Json<Product>> {
    let name = changes
        .name
        .as_deref()
        .map(ProductName::parse)
        .transpose()
        .map_err(Error::BadRequest)?;
    let description = changes
        .description
        .as_deref()
        .map(Description::parse)
        .transpose()
        .map_err(Error::BadRequest)?;
    let sku = match &changes.sku {
        Some(Some(sku)) => Some(Some(Sku::parse(sku).map_err(Error::BadRequest)?)),
        Some(None) => Some(None),
        None => None,
    };
    let changes = store::Changes {
        name,
        description,
        sku,
    };
    let stored = store::change(&state.db, id, changes, state.clock.now()).await?;
    Ok(Json(stored.into()))
}

/// Deletes a product with its offers and price history; it is never
/// registered nor polled afterwards.
#[utoipa::path(
    delete,
    path = "/products/{id}",
    tag = "products",
    params(("id" = Uuid, Path)),
    security(("basic" = []), ("bearer" = [])),
    responses(
        (status = 204),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
pub async fn delete_product(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<Uuid>,
) -> Result<StatusCode> {
    store::delete(&state.db, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
