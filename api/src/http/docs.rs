//! The OpenAPI document (`/openapi.json`) and Swagger UI (`/docs`), served
//! from assets compiled into the binary.

use axum::Router;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use crate::http::health;
use crate::metrics;
use crate::state::AppState;

/// Every route of the public API. Each feature adds its handlers here.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Mercato",
        description = "Product catalog with offers and price history, stock quotes, listings, and product-feed ingestion."
    ),
    paths(health::healthz, health::readyz, metrics::render),
    tags((name = "operations", description = "Liveness, readiness and metrics"))
)]
pub struct ApiDoc;

pub fn router() -> Router<AppState> {
    SwaggerUi::new("/docs")
        .url("/openapi.json", ApiDoc::openapi())
        .into()
}
