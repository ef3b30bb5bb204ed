//! The public API layer (seed 004): `/public-api/...`, answered by calling
//! the listing and user services.
//!
//! - [`router`]: the endpoints.
//! - [`clients`]: typed clients of the two services, and the user cache.
//! - [`transport`]: how the clients reach the services (in-process or
//!   HTTP), and what a failed call becomes.

pub mod clients;
pub mod router;
pub mod transport;
