//! Seed 004: a listing service and a user service on the internal
//! listener, and the public API layer that calls them over HTTP.
//!
//! - [`envelope`]: seed 004's `{result, errors}` envelope.
//! - [`listings`]: the listing service.
//! - [`users`]: the user service.
//! - [`public_api`]: the public layer and its clients of the two services.
//! - [`wire`]: the services' answers, which their clients read.

pub mod envelope;
pub mod listings;
pub mod public_api;
pub mod users;
pub mod wire;

/// The marketplace routes of the OpenAPI document, merged into the whole by
/// [`crate::app::openapi`].
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    public_api::router::list_listings,
    public_api::router::create_listing,
    public_api::router::create_user,
    listings::router::list_listings,
    listings::router::create_listing,
    listings::router::ping,
    users::router::list_users,
    users::router::get_user,
    users::router::create_user,
))]
pub struct ApiDoc;
