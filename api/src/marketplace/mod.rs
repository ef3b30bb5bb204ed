//! Seed 004: a listing service and a user service on the internal
//! listener, and the public API layer that calls them through their REST
//! APIs: in-process when they are in the same process, else over HTTP.
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
