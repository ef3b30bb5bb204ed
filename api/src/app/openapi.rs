//! The OpenAPI document (`/openapi.json`) and Swagger UI (`/docs`), served
//! from assets compiled into the binary.

use axum::Router;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use super::health;
use crate::web::metrics;
use crate::{AppState, accounts, catalog, ingest, marketplace, quotes};

/// The document's frame (title, tags, security schemes) and the
/// operations routes; each feature's routes come from its own `ApiDoc`
/// ([`document`]).
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Mercato",
        description = "Product catalog with offers and price history, stock quotes, listings, and product-feed ingestion."
    ),
    paths(health::healthz, health::readyz, metrics::render),
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

/// The whole document: the frame, with every feature's routes merged in.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
        .merge_from(accounts::ApiDoc::openapi())
        .merge_from(catalog::ApiDoc::openapi())
        .merge_from(quotes::ApiDoc::openapi())
        .merge_from(ingest::ApiDoc::openapi())
        .merge_from(marketplace::ApiDoc::openapi())
}

pub fn router() -> Router<AppState> {
    SwaggerUi::new("/docs")
        .url("/openapi.json", document())
        .into()
}
