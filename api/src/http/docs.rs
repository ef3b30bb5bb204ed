//! The OpenAPI document (`/openapi.json`) and Swagger UI (`/docs`), served
//! from assets compiled into the binary.

use axum::Router;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use crate::http::{health, listings, public_api, users};
use crate::metrics;
use crate::state::AppState;

/// Every route of the public API. Each feature adds its handlers here.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Mercato",
        description = "Product catalog with offers and price history, stock quotes, listings, and product-feed ingestion."
    ),
    paths(
        health::healthz, health::readyz, metrics::render,
        public_api::list_listings, public_api::create_listing, public_api::create_user,
        listings::list_listings, listings::create_listing, listings::ping,
        users::list_users, users::get_user, users::create_user,
    ),
    tags(
        (name = "operations", description = "Liveness, readiness and metrics"),
        (name = "public API", description = "Seed 004's public API layer: listings with their users. Its envelope is seed 004's `{\"result\", ...}`, not `{\"code\",\"msg\"}`"),
        (name = "listing service (internal)", description = "Served on INTERNAL_ADDR only; form-encoded inputs"),
        (name = "user service (internal)", description = "Served on INTERNAL_ADDR only; form-encoded inputs"),
    )
)]
pub struct ApiDoc;

pub fn router() -> Router<AppState> {
    SwaggerUi::new("/docs")
        .url("/openapi.json", ApiDoc::openapi())
        .into()
}
