//! The public API layer (seed 004): `/public-api/...`, answered by calling
//! the listing and user services.
//!
//! - [`router`]: the endpoints.
//! - [`clients`]: HTTP clients of the two services.

pub mod clients;
pub mod router;
