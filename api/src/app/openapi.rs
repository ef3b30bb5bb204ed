//! The OpenAPI document (`/openapi.json`) and Swagger UI (`/docs`), served
//! from assets compiled into the binary.

use axum::Router;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use super::health;
use crate::AppState;
use crate::accounts::router as accounts;
use crate::catalog::router as products;
use crate::catalog::trends;
use crate::ingest::router as ingest;
use crate::marketplace::listings::router as listings;
use crate::marketplace::public_api::router as public_api;
use crate::marketplace::users::router as users;
use crate::quotes::router as quotes;
use crate::web::metrics;

/// Every route of the public API. Each feature adds its handlers here.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Mercato",
        description = "Product catalog with offers and price history, stock quotes, listings, and product-feed ingestion."
    ),
    paths(
        health::healthz, health::readyz, metrics::render,
        accounts::login, accounts::create_account, accounts::me,
        quotes::stock, quotes::history, quotes::stats,
        products::create_product, products::list_products, products::get_product,
        products::product_offers, products::replace_product, products::update_product,
        products::delete_product, trends::offer_trend, trends::product_trend,
        ingest::ingest_feed, ingest::ingest_status,
        public_api::list_listings, public_api::create_listing, public_api::create_user,
        listings::list_listings, listings::create_listing, listings::ping,
        users::list_users, users::get_user, users::create_user,
    ),
    modifiers(&SecuritySchemes),
    tags(
        (name = "operations", description = "Liveness, readiness and metrics"),
        (name = "products", description = "The product catalog and the offers polled from the Offers service. Reads are public, writes need an admin"),
        (name = "ingestion", description = "Product feeds of any size, each body accepted once per dedupe window (DEDUPE_WINDOW_SECS) across every replica, then applied to the catalog by sku in the background"),
        (name = "quotes", description = "Stock quotes from stooq, through quote-worker over the broker"),
        (name = "accounts", description = "Logging in and creating accounts. Protected routes take HTTP Basic credentials or a Bearer token from /login"),
        (name = "public API", description = "Seed 004's public API layer: listings with their users. Its envelope is seed 004's `{\"result\", ...}`, not `{\"code\",\"msg\"}`"),
        (name = "listing service (internal)", description = "Served on INTERNAL_ADDR only; form-encoded inputs"),
        (name = "user service (internal)", description = "Served on INTERNAL_ADDR only; form-encoded inputs"),
    )
)]
pub struct ApiDoc;

/// The two credentials every protected route accepts.
struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build()),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

pub fn router() -> Router<AppState> {
    SwaggerUi::new("/docs")
        .url("/openapi.json", ApiDoc::openapi())
        .into()
}
